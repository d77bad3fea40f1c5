-- Cluster steps on one record key. KEYS[1] record key. ARGV: op, ...
local op = ARGV[1]
local now = now_ms()
if op == 'create' then
  -- ARGV[2] record.
  local r = parse(ARGV[2])
  if not r then return redis.error_reply('ERR session-store: malformed record') end
  if r.exp <= now then return {'PAST'} end
  if redis.call('EXISTS', KEYS[1]) == 1 then return {'EXISTS_ID'} end
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', num(r.exp))
  return {'OK'}
end
local cur = redis.call('GET', KEYS[1])
if op == 'cas' then
  -- ARGV[2] new record, ARGV[3] expected version. Returns the old record.
  local n = parse(ARGV[2])
  local expected = tonumber(ARGV[3])
  if not n or n.version ~= expected + 1 then return redis.error_reply('ERR session-store: malformed record') end
  if n.exp <= now then return {'PAST'} end
  if not cur then return {'NOT_FOUND'} end
  local o = parse(cur)
  if not o then return {'CORRUPT'} end
  if o.version ~= expected then return {'CONFLICT', num(o.version)} end
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', num(n.exp))
  return {'OK', cur}
elseif op == 'touch' then
  -- ARGV[2] new expiry, ARGV[3] expected version. Returns the new record.
  local exp, expected = tonumber(ARGV[2]), tonumber(ARGV[3])
  if exp <= now then return {'PAST'} end
  if not cur then return {'NOT_FOUND'} end
  local o = parse(cur)
  if not o then return {'CORRUPT'} end
  if o.version ~= expected then return {'CONFLICT', num(o.version)} end
  local new = string.sub(cur, 1, 1) .. le64(o.version + 1) .. le64(exp) .. string.sub(cur, 18)
  redis.call('SET', KEYS[1], new, 'PXAT', num(exp))
  return {'OK', new}
elseif op == 'delete' then
  -- ARGV[2] the user it must belong to, or ''. Returns the deleted record, or nil.
  if not cur then return false end
  local o = parse(cur)
  if ARGV[2] ~= '' and o and o.user ~= ARGV[2] then return false end
  redis.call('DEL', KEYS[1])
  return cur
end
return redis.error_reply('ERR session-store: unknown op')
