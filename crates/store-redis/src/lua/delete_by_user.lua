-- KEYS[1] user index key. ARGV: prefix, user id, id to keep (or ''). Deletes every live
-- session of the user but the kept one; returns their ids.
local p, user, keep = ARGV[1], ARGV[2], ARGV[3]
local now = now_ms()
local ids = redis.call('ZRANGE', KEYS[1], '(' .. num(now), '+inf', 'BYSCORE')
local deleted = {}
for _, id in ipairs(ids) do
  if id ~= keep then
    local rk = krec(p, id)
    local cur = redis.call('GET', rk)
    local o = cur and parse(cur)
    if cur and not over(o, now) and (o == nil or o.user == user) then
      -- A record whose head cannot be read is deleted too: revocation must not miss it.
      redis.call('DEL', rk)
      if o and o.conn then
        local ck = kconn(p, o.conn)
        if redis.call('GET', ck) == id then redis.call('DEL', ck) end
      end
      if o then index_remove_at(kbucket(p, id), id, o.exp, now) else index_remove(kbucket(p, id), id, now) end
      deleted[#deleted + 1] = id
    end
    redis.call('ZREM', KEYS[1], id)
  end
end
settle(KEYS[1], now)
return deleted
