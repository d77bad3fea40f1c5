-- KEYS[1] record key. ARGV: prefix, id, new expiry. Rewrites version and expiry in place.
local p, id, exp = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = now_ms()
if exp <= now then return {'PAST'} end
local cur = redis.call('GET', KEYS[1])
if not cur then return {'NOT_FOUND'} end
local o = head(cur)
if not o or not whole(cur, id) then return {'CORRUPT'} end
local new = string.sub(cur, 1, 1) .. le64(o.version + 1) .. le64(exp) .. string.sub(cur, 18)
if o.conn_raw then
  local ck = kconn(p, uuid_text(o.conn_raw))
  if redis.call('GET', ck) == id then redis.call('PEXPIREAT', ck, ARGV[3]) end
end
user_put(kuser(p, o.user), exp, id, now)
bucket_put(kbucket(p, id), exp, id, now)
redis.call('SET', KEYS[1], new, 'PXAT', ARGV[3])
return {'OK', new}
