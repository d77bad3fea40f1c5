-- KEYS: record, user index, bucket[, connection key]. ARGV: prefix, id, record, expiry ms
-- [, connection id]. Atomic create with id and connection checks. A record or connection
-- holder whose expires_at is at or before now is over: its id and connection are free.
local p, id, rec, exp = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()
if exp <= now then return {'PAST'} end
local cur = redis.call('GET', KEYS[1])
if cur then
  local o = head(cur)
  if not over(o, now) then return {'EXISTS_ID'} end
end
if KEYS[4] then
  local holder = redis.call('GET', KEYS[4])
  if holder and holder ~= id and holds(p, holder, ARGV[5], now) then return {'EXISTS_CONN'} end
  redis.call('SET', KEYS[4], id, 'PXAT', pxat(exp))
end
redis.call('SET', KEYS[1], rec, 'PXAT', pxat(exp))
index_put(KEYS[2], exp, id, now)
index_put(KEYS[3], exp, id, now)
return 'OK'
