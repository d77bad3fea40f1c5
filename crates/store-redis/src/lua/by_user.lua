-- KEYS[1] user index key. ARGV: prefix. The live entries as pairs: the entry's id, then its
-- record (the client checks that the record is that id's and reports it as corrupt if not:
-- formatting ids in Lua cost more than the rest of the script). Drops dangling entries. The
-- records are read with one MGET; an entry it answers nil for is asked again with GET, so
-- that a key of another type still fails with WRONGTYPE.
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
      if not rec_over(cur, now) then
        out[#out + 1] = id
        out[#out + 1] = cur
      end
    else
      redis.call('ZREM', KEYS[1], id)
    end
  end
end
prune(KEYS[1], now)
return out
