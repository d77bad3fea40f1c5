-- KEYS[1] record key. ARGV: prefix, id, new expiry, expected version, new version (each
-- version as its 8 bytes, LE). A compare-and-set on the version: the client has read and
-- decoded the record (so a record it cannot decode is refused before anything is written);
-- this rewrites its version and expiry in place if it is still that record and not over.
local p, id, exp = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = now_ms()
if exp <= now then return {'PAST'} end
local cur = redis.call('GET', KEYS[1])
local o = cur and head(cur)
local refusal = cas_refusal(cur, o, now, ARGV[4])
if refusal then return refusal end
local new = retimed(cur, ARGV[5], exp)
if o.conn_raw then
  local ck = kconn(p, uuid_text(o.conn_raw))
  if redis.call('GET', ck) == id then redis.call('PEXPIREAT', ck, pxat(exp)) end
end
index_put(kuser(p, o.user), exp, id, now)
index_put(kbucket(p, id), exp, id, now)
redis.call('SET', KEYS[1], new, 'PXAT', pxat(exp))
return {'OK'}
