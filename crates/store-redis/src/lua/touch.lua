-- KEYS[1] record key. ARGV: prefix, id, new expiry, then either the id's 16 bytes (touch in
-- one round trip) or the expected and the new version, each as its 8 bytes LE (the
-- compare-and-set the client falls back to). Rewrites the record's version and expiry in
-- place, and the expiry of its index entries and connection key, if it is not over.
--
-- One round trip: the record is rewritten only if decodable() is sure the client's decode
-- accepts it (a record the client cannot decode is never rewritten); its version is bumped on
-- its bytes, and the new record is returned for the client to decode. If decodable() is not
-- sure, or the version is the last one, nothing is written and the answer is {'CHECK',
-- record}: the client decodes that record itself (which gives the exact error) and, if it is
-- a record, sends the compare-and-set with its version (two round trips in all, as before).
local p, id, exp = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local cur, o, vraw
if ARGV[5] then
  if exp <= now then return {'PAST'} end
  cur = redis.call('GET', KEYS[1])
  o = cur and head(cur)
  local refusal = cas_refusal(cur, o, now, ARGV[4])
  if refusal then return refusal end
  vraw = ARGV[5]
else
  -- The answers in the order the client's read and decode gave them before: a missing
  -- record, then an undecodable one or one at the last version, then a past expiry.
  cur = redis.call('GET', KEYS[1])
  if not cur then return {'NOT_FOUND'} end
  o = decodable(cur, ARGV[4])
  vraw = o and bumped(o.vraw)
  if not vraw then return {'CHECK', cur} end
  if exp <= now then return {'PAST'} end
  if over(o, now) then return {'NOT_FOUND'} end
end
local new = retimed(cur, vraw, exp)
if o.conn_raw then
  local ck = kconn(p, uuid_text(o.conn_raw))
  if redis.call('GET', ck) == id then redis.call('PEXPIREAT', ck, pxat(exp)) end
end
index_put(kuser(p, o.user), exp, id, now)
index_put(kbucket(p, id), exp, id, now)
redis.call('SET', KEYS[1], new, 'PXAT', pxat(exp))
if ARGV[5] then return 'OK' end
return {'OK', new}
