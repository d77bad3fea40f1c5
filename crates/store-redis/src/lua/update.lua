-- KEYS[1] record key. ARGV: prefix, id, new record, expected version. Compare-and-set that
-- moves the user and connection index entries when they change.
local p, id, rec, expected = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local n = parse(rec)
if not n or n.version ~= expected + 1 then return redis.error_reply('ERR session-store: malformed record') end
local now = now_ms()
if n.exp <= now then return {'PAST'} end
local cur = redis.call('GET', KEYS[1])
if not cur then return {'NOT_FOUND'} end
local o = parse(cur)
if not o then return {'CORRUPT'} end
if o.version ~= expected then return {'CONFLICT', num(o.version)} end
if n.conn and n.conn ~= o.conn then
  local holder = redis.call('GET', kconn(p, n.conn))
  if holder and holder ~= id and holds(p, holder, n.conn) then return {'EXISTS_CONN'} end
end
if n.conn then redis.call('SET', kconn(p, n.conn), id, 'PXAT', num(n.exp)) end
if o.conn and o.conn ~= n.conn then
  local ck = kconn(p, o.conn)
  if redis.call('GET', ck) == id then redis.call('DEL', ck) end
end
if o.user ~= n.user then redis.call('ZREM', kuser(p, o.user), id) end
local uk, bk = kuser(p, n.user), kbucket(p, id)
index_put(uk, n.exp, id, now)
index_put(bk, n.exp, id, now)
redis.call('SET', KEYS[1], rec, 'PXAT', num(n.exp))
return {'OK'}
