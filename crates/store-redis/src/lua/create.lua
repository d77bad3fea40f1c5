-- KEYS: record, user index, bucket[, connection key]. ARGV: prefix, id, record, expiry ms
-- [, connection id]. Atomic create with id and connection checks.
local p, id, rec, exp = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()
if exp <= now then return {'PAST'} end
-- Claim the id first; nothing else is written if that fails.
if not redis.call('SET', KEYS[1], rec, 'NX', 'PXAT', ARGV[4]) then return {'EXISTS_ID'} end
if KEYS[4] and not redis.call('SET', KEYS[4], id, 'NX', 'PXAT', ARGV[4]) then
  -- Someone holds the connection key: refuse if it is a live session holding this connection.
  local holder = redis.call('GET', KEYS[4])
  if holder ~= id and holds(p, holder, ARGV[5]) then
    redis.call('DEL', KEYS[1])
    return {'EXISTS_CONN'}
  end
  redis.call('SET', KEYS[4], id, 'PXAT', ARGV[4])
end
user_put(KEYS[2], exp, id, now)
bucket_put(KEYS[3], exp, id, now)
return {'OK'}
