-- Cluster steps on one record. KEYS[1] record key, KEYS[2] its write-lock key (same slot).
-- A writer takes the lock, raises the index entries, then writes the record and drops the
-- lock in one step; so only one writer at a time touches a session's index entries, and a
-- failed writer can undo its own raises without undoing anyone else's.
-- ARGV: op, token, ...
local op, token = ARGV[1], ARGV[2]
local now = now_ms()
if op == 'lock' then
  -- ARGV[3] mode ('create' | 'cas' | 'any'), ARGV[4] expected version (cas), ARGV[5] grace ms.
  local mode = ARGV[3]
  local cur = redis.call('GET', KEYS[1])
  if mode == 'create' then
    if cur then return {'EXISTS_ID'} end
  else
    if not cur then return {'NOT_FOUND'} end
    local o = head(cur)
    if mode == 'cas' then
      if not o or not whole(cur, key_id(KEYS[1])) then return {'CORRUPT'} end
      if o.version ~= tonumber(ARGV[4]) then return {'CONFLICT', num(o.version)} end
    end
  end
  if not redis.call('SET', KEYS[2], token, 'NX', 'PX', ARGV[5]) then
    if cur then
      local o = head(cur)
      return {'BUSY', o and num(o.version) or '0'}
    end
    return {'BUSY', '0'}
  end
  if cur then return {'OK', cur} end
  return {'OK'}
end
if redis.call('GET', KEYS[2]) ~= token then return {'LOST'} end
if op == 'unlock' then
  redis.call('DEL', KEYS[2])
  return {'OK'}
end
local cur = redis.call('GET', KEYS[1])
if op == 'create' then
  -- ARGV[3] record.
  local r = head(ARGV[3])
  if not r then return redis.error_reply('ERR session-store: malformed record') end
  if r.exp <= now then redis.call('DEL', KEYS[2]) return {'PAST'} end
  if cur then redis.call('DEL', KEYS[2]) return {'EXISTS_ID'} end
  redis.call('SET', KEYS[1], ARGV[3], 'PXAT', num(r.exp))
  redis.call('DEL', KEYS[2])
  return {'OK'}
elseif op == 'cas' then
  -- ARGV[3] new record, ARGV[4] expected version. Returns the old record.
  local n = head(ARGV[3])
  local expected = tonumber(ARGV[4])
  if not n or n.version ~= expected + 1 then return redis.error_reply('ERR session-store: malformed record') end
  redis.call('DEL', KEYS[2])
  if n.exp <= now then return {'PAST'} end
  if not cur then return {'NOT_FOUND'} end
  local o = head(cur)
  if not o or not whole(cur, key_id(KEYS[1])) then return {'CORRUPT'} end
  if o.version ~= expected then return {'CONFLICT', num(o.version)} end
  redis.call('SET', KEYS[1], ARGV[3], 'PXAT', num(n.exp))
  return {'OK', cur}
elseif op == 'touch' then
  -- ARGV[3] new expiry, ARGV[4] expected version. Returns the new record.
  local exp, expected = tonumber(ARGV[3]), tonumber(ARGV[4])
  redis.call('DEL', KEYS[2])
  if exp <= now then return {'PAST'} end
  if not cur then return {'NOT_FOUND'} end
  local o = head(cur)
  if not o or not whole(cur, key_id(KEYS[1])) then return {'CORRUPT'} end
  if o.version ~= expected then return {'CONFLICT', num(o.version)} end
  local new = string.sub(cur, 1, 1) .. le64(o.version + 1) .. le64(exp) .. string.sub(cur, 18)
  redis.call('SET', KEYS[1], new, 'PXAT', num(exp))
  return {'OK', new}
elseif op == 'delete' then
  -- ARGV[3] the user it must belong to, or ''. Returns the deleted record, or nil.
  redis.call('DEL', KEYS[2])
  if not cur then return false end
  local o = head(cur)
  if ARGV[3] ~= '' and o and o.user ~= ARGV[3] then return false end
  redis.call('DEL', KEYS[1])
  return cur
end
return redis.error_reply('ERR session-store: unknown op')
