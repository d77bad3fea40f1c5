-- KEYS[1] record key. ARGV: prefix, id, new expiry. Rewrites version and expiry in place.
local p, id, exp = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = now_ms()
if exp <= now then return {'PAST'} end
local cur = redis.call('GET', KEYS[1])
if not cur then return {'NOT_FOUND'} end
local o = parse(cur)
if not o then return {'CORRUPT'} end
local new = string.sub(cur, 1, 1) .. le64(o.version + 1) .. le64(exp) .. string.sub(cur, 18)
if o.conn then
  local ck = kconn(p, o.conn)
  if redis.call('GET', ck) == id then redis.call('PEXPIREAT', ck, num(exp)) end
end
local uk, bk = kuser(p, o.user), kbucket(p, id)
index_put(uk, exp, id, now)
index_put(bk, exp, id, now)
redis.call('SET', KEYS[1], new, 'PXAT', num(exp))
return {'OK', new}
