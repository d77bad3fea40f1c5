-- Cluster steps on one record. KEYS[1] record key, KEYS[2] its write-lock key (same slot).
-- A writer takes the lock, raises the index entries, then writes the record and drops the
-- lock in one step; so only one writer at a time touches a session's index entries, and a
-- failed writer can undo its own raises without undoing anyone else's. A record whose
-- expires_at is at or before now is over: not found for every step, free for a create.
-- Versions travel as their 8 bytes (LE), never as Lua numbers.

-- Cluster-only helpers (here rather than in the prelude every script runs).

-- The session id (text) in a record key.
local function key_id(key) return string.match(key, ':s:{([^{}]*)}$') end

-- whole(), for a session id given as text: a record stored under a key must carry its id.
local function whole_text(rec, id)
  return #rec >= 33 and uuid_text(string.sub(rec, 18, 33)) == id and whole(rec, string.sub(rec, 18, 33))
end

-- ARGV: op, token, ...
local op, token = ARGV[1], ARGV[2]
local now = now_ms()
local cur = redis.call('GET', KEYS[1])
local o = cur and head(cur)
if cur and over(o, now) then cur, o = nil, nil end
if op == 'lock' then
  -- ARGV[3] mode ('create' | 'cas' | 'any'), ARGV[4] expected version (cas), ARGV[5] grace ms.
  local mode = ARGV[3]
  if mode == 'create' then
    if cur then return {'EXISTS_ID'} end
  else
    if not cur then return {'NOT_FOUND'} end
    if mode == 'cas' then
      if not whole_text(cur, key_id(KEYS[1])) then return {'CORRUPT'} end
      local refusal = cas_refusal(cur, o, now, ARGV[4])
      if refusal then return refusal end
    end
  end
  if not redis.call('SET', KEYS[2], token, 'NX', 'PX', ARGV[5]) then
    return {'BUSY', o and o.vraw or ''}
  end
  if cur then return {'OK', cur} end
  return {'OK'}
end
if redis.call('GET', KEYS[2]) ~= token then return {'LOST'} end
if op == 'unlock' then
  redis.call('DEL', KEYS[2])
  return {'OK'}
end
if op == 'create' then
  -- ARGV[3] record.
  local r = head(ARGV[3])
  if not r then return redis.error_reply('ERR session-store: malformed record') end
  if r.exp <= now then redis.call('DEL', KEYS[2]) return {'PAST'} end
  if cur then redis.call('DEL', KEYS[2]) return {'EXISTS_ID'} end
  redis.call('SET', KEYS[1], ARGV[3], 'PXAT', pxat(r.exp))
  redis.call('DEL', KEYS[2])
  return {'OK'}
elseif op == 'cas' then
  -- ARGV[3] new record, ARGV[4] expected version. Returns the old record.
  local n = head(ARGV[3])
  if not n then return redis.error_reply('ERR session-store: malformed record') end
  redis.call('DEL', KEYS[2])
  if n.exp <= now then return {'PAST'} end
  -- The new record carries the id (the client encoded it from the same session as the key).
  local refusal = cas_refusal(cur, o, now, ARGV[4], string.sub(ARGV[3], 18, 33))
  if refusal then return refusal end
  redis.call('SET', KEYS[1], ARGV[3], 'PXAT', pxat(n.exp))
  return {'OK', cur}
elseif op == 'touch' then
  -- ARGV[3] new expiry, ARGV[4] expected version, ARGV[5] new version. Returns the new
  -- record. The client decoded the record it locked, so only the version is compared here.
  local exp = tonumber(ARGV[3])
  redis.call('DEL', KEYS[2])
  if exp <= now then return {'PAST'} end
  local refusal = cas_refusal(cur, o, now, ARGV[4])
  if refusal then return refusal end
  local new = retimed(cur, ARGV[5], exp)
  redis.call('SET', KEYS[1], new, 'PXAT', pxat(exp))
  return {'OK', new}
elseif op == 'delete' then
  -- ARGV[3] the user it must belong to, or ''. Returns the deleted record, or nil.
  redis.call('DEL', KEYS[2])
  if not cur then return false end
  if ARGV[3] ~= '' and o and o.user ~= ARGV[3] then return false end
  redis.call('DEL', KEYS[1])
  return cur
end
return redis.error_reply('ERR session-store: unknown op')
