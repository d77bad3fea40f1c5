-- KEYS: record, new user index, bucket[, new connection key]. ARGV: prefix, id, new record,
-- expected version (its 8 bytes, LE), new expiry ms[, new connection id]. Compare-and-set
-- that moves the user and connection index entries when they change.
local p, id, rec, expected, exp = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local n = head(rec)
if not n or n.exp ~= exp then
  return redis.error_reply('ERR session-store: malformed record')
end
local now = now_ms()
if exp <= now then return {'PAST'} end
local cur = redis.call('GET', KEYS[1])
local o = cur and head(cur)
-- The new record carries the id (the client encoded it from the same session as the key).
local refusal = cas_refusal(cur, o, now, expected, string.sub(rec, 18, 33))
if refusal then return refusal end
local conn_moved = o.conn_raw ~= n.conn_raw
if KEYS[4] and conn_moved then
  local holder = redis.call('GET', KEYS[4])
  if holder and holder ~= id and holds(p, holder, ARGV[6], now) then return {'EXISTS_CONN'} end
end
if o.exp == exp and o.user == n.user and not conn_moved then
  -- The common update (state, counters, metadata): every index entry is already right.
  redis.call('SET', KEYS[1], rec, 'PXAT', pxat(exp))
  return 'OK'
end
if KEYS[4] then redis.call('SET', KEYS[4], id, 'PXAT', pxat(exp)) end
if o.conn_raw and conn_moved then
  local ck = kconn(p, uuid_text(o.conn_raw))
  if redis.call('GET', ck) == id then redis.call('DEL', ck) end
end
if o.user ~= n.user then index_remove_at(kuser(p, o.user), id, o.exp, now) end
index_put(KEYS[2], exp, id, now)
index_put(KEYS[3], exp, id, now)
redis.call('SET', KEYS[1], rec, 'PXAT', pxat(exp))
return 'OK'
