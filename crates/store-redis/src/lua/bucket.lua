-- KEYS: buckets of the all-sessions index (all 16 standalone, one per call in a Cluster).
-- ARGV: op ('count' | 'ids' | 'reclaim'). Returns one result per key.
local now = now_ms()
local op = ARGV[1]
local out = {}
for i, key in ipairs(KEYS) do
  if op == 'count' then
    out[i] = redis.call('ZCOUNT', key, '(' .. num(now), '+inf')
  elseif op == 'ids' then
    out[i] = redis.call('ZRANGE', key, '(' .. num(now), '+inf', 'BYSCORE')
  elseif op == 'reclaim' then
    out[i] = redis.call('ZREMRANGEBYSCORE', key, '-inf', num(now))
  else
    return redis.error_reply('ERR session-store: unknown bucket op')
  end
end
return out
