-- Cluster steps on one connection key. KEYS[1] connection key. ARGV: op, id, ...
-- In a Cluster the key holds '<session id>@<claim time ms>': a claim whose record is not
-- written yet is younger than the grace period and must not be taken over.
local op, id = ARGV[1], ARGV[2]
local value = redis.call('GET', KEYS[1])
local holder, since = nil, nil
if value then
  local at = string.find(value, '@', 1, true)
  if at then holder, since = string.sub(value, 1, at - 1), string.sub(value, at + 1) else holder, since = value, '0' end
end
if op == 'claim' then
  -- ARGV[3] expiry. Claims the connection unless another session's id is there.
  if holder and holder ~= id then return {'HELD', holder, since} end
  local exp = tonumber(ARGV[3])
  local t = redis.call('PEXPIRETIME', KEYS[1])
  if not holder or t < exp - 1 then redis.call('SET', KEYS[1], id .. '@' .. num(now_ms()), 'PXAT', pxat(exp)) end
  if holder then return {'MINE'} else return {'NEW'} end
elseif op == 'takeover' then
  -- ARGV[3] expiry, ARGV[4] the stale holder found by 'claim'.
  if holder ~= ARGV[4] then return 0 end
  redis.call('SET', KEYS[1], id .. '@' .. num(now_ms()), 'PXAT', pxat(tonumber(ARGV[3])))
  return 1
elseif op == 'release' then
  if holder == id then redis.call('DEL', KEYS[1]) return 1 end
  return 0
elseif op == 'expire' then
  -- ARGV[3] exact expiry.
  if holder == id then redis.call('PEXPIREAT', KEYS[1], pxat(tonumber(ARGV[3]))) return 1 end
  return 0
end
return redis.error_reply('ERR session-store: unknown op')
