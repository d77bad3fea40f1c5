-- KEYS[1] user index key. ARGV: prefix. The records of the live entries; drops dangling ones.
-- The records are read with one MGET; an entry it answers nil for is asked again with GET,
-- so that a key of another type still fails with WRONGTYPE.
local p = ARGV[1]
local now = now_ms()
local ids = redis.call('ZRANGE', KEYS[1], '(' .. num(now), '+inf', 'BYSCORE')
local out = {}
if #ids > 0 then
  local keys = {}
  for i, id in ipairs(ids) do keys[i] = krec(p, id) end
  local recs = redis.call('MGET', unpack(keys))
  for i, id in ipairs(ids) do
    local cur = recs[i] or redis.call('GET', keys[i])
    if cur then
      if not over(head(cur), now) then
        -- A record that is not this id's is returned empty: the client reports it as corrupt.
        if #cur >= 33 and uuid_text(string.sub(cur, 18, 33)) ~= id then cur = '' end
        out[#out + 1] = cur
      end
    else
      redis.call('ZREM', KEYS[1], id)
    end
  end
end
prune(KEYS[1], now)
return out
