-- KEYS[1] record key. ARGV: prefix, id. Returns 1 if a live session was deleted.
local p, id = ARGV[1], ARGV[2]
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
redis.call('DEL', KEYS[1])
local o = parse(cur)
if o then
  redis.call('ZREM', kuser(p, o.user), id)
  if o.conn then
    local ck = kconn(p, o.conn)
    if redis.call('GET', ck) == id then redis.call('DEL', ck) end
  end
end
redis.call('ZREM', kbucket(p, id), id)
return 1
