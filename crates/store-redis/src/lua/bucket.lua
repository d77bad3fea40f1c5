-- KEYS[1] one bucket of the all-sessions index. ARGV: op ('count' | 'ids' | 'reclaim').
local now = now_ms()
local op = ARGV[1]
if op == 'count' then
  return redis.call('ZCOUNT', KEYS[1], '(' .. num(now), '+inf')
elseif op == 'ids' then
  return redis.call('ZRANGE', KEYS[1], '(' .. num(now), '+inf', 'BYSCORE')
elseif op == 'reclaim' then
  return redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(now))
end
return redis.error_reply('ERR session-store: unknown bucket op')
