-- Cluster steps on one index key (user index or bucket). KEYS[1] key. ARGV: op, id, expiry.

-- Cluster-only helpers (here rather than in the prelude every script runs).

-- Adds or raises an index entry (Cluster, before the record is written). Returns 1 if the
-- member was new.
local function index_raise(key, exp, id, now)
  local existed = redis.call('ZSCORE', key, id)
  redis.call('ZADD', key, 'GT', exp, id)
  settle(key, now)
  if existed then return 0 else return 1 end
end

-- Sets an index entry to exactly `exp` (lowering it if need be) if it is there.
local function index_set(key, exp, id, now)
  redis.call('ZADD', key, 'XX', exp, id)
  settle(key, now)
end

local op, id = ARGV[1], ARGV[2]
if op == 'raise' then
  -- Returns the member's score before, or nil if it was not there.
  local before = redis.call('ZSCORE', KEYS[1], id)
  index_raise(KEYS[1], tonumber(ARGV[3]), id, now_ms())
  return before
elseif op == 'restore' then
  -- Undo a 'raise' of this call: ARGV[3] the raised score, ARGV[4] the score before or ''.
  -- Only if nobody moved the entry since.
  local cur = redis.call('ZSCORE', KEYS[1], id)
  if not cur or tonumber(cur) ~= tonumber(ARGV[3]) then return 0 end
  if ARGV[4] == '' then redis.call('ZREM', KEYS[1], id) else redis.call('ZADD', KEYS[1], 'XX', ARGV[4], id) end
  settle(KEYS[1], now_ms())
  return 1
elseif op == 'set' then
  index_set(KEYS[1], tonumber(ARGV[3]), id, now_ms())
  return 1
elseif op == 'remove' then
  local n = redis.call('ZREM', KEYS[1], id)
  settle(KEYS[1], now_ms())
  return n
elseif op == 'live' then
  -- The live ids, after pruning.
  local now = now_ms()
  prune(KEYS[1], now)
  return redis.call('ZRANGE', KEYS[1], '(' .. num(now), '+inf', 'BYSCORE')
end
return redis.error_reply('ERR session-store: unknown op')
