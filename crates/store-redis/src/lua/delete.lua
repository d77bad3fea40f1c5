-- KEYS[1] record key. ARGV: prefix, id. Returns 1 if a live session was deleted (a record
-- whose expires_at is at or before now is over: 0, and nothing is written).
local p, id = ARGV[1], ARGV[2]
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local now = now_ms()
local o = parse(cur)
if over(o, now) then return 0 end
redis.call('DEL', KEYS[1])
if o then
  index_remove_at(kuser(p, o.user), id, o.exp, now)
  if o.conn then
    local ck = kconn(p, o.conn)
    if redis.call('GET', ck) == id then redis.call('DEL', ck) end
  end
end
if o then index_remove_at(kbucket(p, id), id, o.exp, now) else index_remove(kbucket(p, id), id, now) end
return 1
