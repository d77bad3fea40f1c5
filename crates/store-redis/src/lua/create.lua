-- KEYS[1] record key. ARGV: prefix, id, record. Atomic create with id and connection checks.
local p, id, rec = ARGV[1], ARGV[2], ARGV[3]
local r = parse(rec)
if not r then return redis.error_reply('ERR session-store: malformed record') end
local now = now_ms()
if r.exp <= now then return {'PAST'} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'EXISTS_ID'} end
if r.conn then
  local ck = kconn(p, r.conn)
  local holder = redis.call('GET', ck)
  if holder and holder ~= id and holds(p, holder, r.conn) then return {'EXISTS_CONN'} end
  redis.call('SET', ck, id, 'PXAT', num(r.exp))
end
index_put(kuser(p, r.user), r.exp, id, now)
index_put(kbucket(p, id), r.exp, id, now)
redis.call('SET', KEYS[1], rec, 'PXAT', num(r.exp))
return {'OK'}
