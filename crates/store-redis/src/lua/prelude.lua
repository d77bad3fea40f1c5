-- Shared helpers, prepended to every script. Records are session-core codec format 1:
-- byte 0 format (1), 1..9 version u64 LE, 9..17 expires_at ms u64 LE, 17..33 id, 50 flags,
-- then the connection id (16 bytes, if flags bit 0) and the user id (u16 LE length + bytes).
local function num(n) return string.format('%.0f', n) end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function u64(s, off)
  local b1, b2, b3, b4, b5, b6, b7, b8 = string.byte(s, off + 1, off + 8)
  return ((((((b8 * 256 + b7) * 256 + b6) * 256 + b5) * 256 + b4) * 256 + b3) * 256 + b2) * 256 + b1
end

local function le64(n)
  local t = {}
  for i = 1, 8 do
    local b = n % 256
    t[i] = string.char(b)
    n = (n - b) / 256
  end
  return table.concat(t)
end

local UUID_FMT = '%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x'
local function uuid_text(raw) return string.format(UUID_FMT, string.byte(raw, 1, 16)) end

-- The index-relevant fields of a record, raw (no formatting), or nil if it is not a
-- well-formed record head: vraw (the version's 8 bytes: versions never pass through a Lua
-- number, which is a double), exp (expiries are below 2^53: validated on every write),
-- conn_raw (16 bytes or nil), user (its bytes).
local function head(rec)
  if not rec or #rec < 53 or string.byte(rec, 1) ~= 1 then return nil end
  local r = { vraw = string.sub(rec, 2, 9), exp = u64(rec, 9) }
  local pos = 51
  if string.byte(rec, 51) % 2 == 1 then
    if #rec < pos + 18 then return nil end
    r.conn_raw = string.sub(rec, pos + 1, pos + 16)
    pos = pos + 16
  end
  local lo, hi = string.byte(rec, pos + 1, pos + 2)
  local len = lo + 256 * hi
  if len == 0 or #rec < pos + 2 + len then return nil end
  r.user = string.sub(rec, pos + 3, pos + 2 + len)
  return r
end

-- The PXAT of a key that must be gone from the millisecond `exp` on: Redis keeps a key
-- through the millisecond of its PXAT and drops it strictly after.
local function pxat(exp) return num(exp - 1) end

-- Is a record over at `now` by its own expires_at? (An unreadable head is not "over": the
-- callers report it as corrupt.)
local function over(r, now) return r ~= nil and r.exp <= now end

-- Is `s` UTF-8 (lead and continuation bytes well placed)?
local function utf8_ok(s)
  local i, n = 1, #s
  while i <= n do
    local c = string.byte(s, i)
    local k
    if c < 0x80 then k = 0
    elseif c >= 0xc2 and c < 0xe0 then k = 1
    elseif c >= 0xe0 and c < 0xf0 then k = 2
    elseif c >= 0xf0 and c < 0xf5 then k = 3
    else return false end
    for j = i + 1, i + k do
      local d = string.byte(s, j)
      if not d or d < 0x80 or d > 0xbf then return false end
    end
    i = i + k + 1
  end
  return true
end

-- Is `rec` a whole format-1 record of session `id` (text)? Beyond head(): the id, the state
-- code, the flag bits, a valid user id, and every length up to exactly the last byte. (Not
-- checked here: UTF-8 and order of metadata; the client's decode checks those on reads.)
local function whole(rec, id)
  local r = head(rec)
  if not r or uuid_text(string.sub(rec, 18, 33)) ~= id then return false end
  if string.byte(rec, 50) > 4 then return false end
  local flags = string.byte(rec, 51)
  if flags > 31 then return false end
  if #r.user > 256 or string.find(r.user, '%c') or not utf8_ok(r.user) then return false end
  local function bit(b) return math.floor(flags / b) % 2 == 1 end
  local pos = 51 + (flags % 2) * 16 + 2 + #r.user
  -- Each address: 6 (IPv4), 18 (IPv6), 26 (IPv6 with flowinfo and scope id).
  pos = pos + (bit(2) and 18 or 6) + (bit(8) and 8 or 0)
  pos = pos + (bit(4) and 18 or 6) + (bit(16) and 8 or 0) + 44
  local function len16(at)
    local lo, hi = string.byte(rec, at + 1, at + 2)
    if not hi then return nil end
    return lo + 256 * hi
  end
  local count = len16(pos)
  if not count or count > 64 then return false end
  pos = pos + 2
  for _ = 1, 2 * count do
    local l = len16(pos)
    if not l then return false end
    pos = pos + 2 + l
  end
  return pos == #rec
end

-- The session id (text) in a record key.
local function key_id(key) return string.match(key, ':s:{([^{}]*)}$') end

-- head() plus the connection id as text (r.conn), for the paths that need key names.
local function parse(rec)
  local r = head(rec)
  if r and r.conn_raw then r.conn = uuid_text(r.conn_raw) end
  return r
end

-- Key names; must match keys.rs exactly.
local function esc(user)
  return (string.gsub(user, '[^%w%.%-_@]', function(c) return string.format('%%%02X', string.byte(c)) end))
end
local function krec(p, id) return p .. ':s:{' .. id .. '}' end
local function kuser(p, user) return p .. ':u:{' .. esc(user) .. '}' end
local function kconn(p, c) return p .. ':c:{' .. c .. '}' end
local function kbucket(p, id) return p .. ':a:{' .. string.sub(id, -1) .. '}' end

-- Every write that touches an index key (user index, bucket) settles it: members whose
-- expiry has passed are removed, and the key's PXAT is set to its latest member's expiry, so
-- that no index key outlives the last session it can name (reads through an index prune too).
local function prune(key, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', num(now))
end
local function settle(key, now)
  prune(key, now)
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('PEXPIREAT', key, num(tonumber(top[2]))) end
end

-- Adds or raises an index entry (Cluster, before the record is written). Returns 1 if the
-- member was new.
local function index_raise(key, exp, id, now)
  local existed = redis.call('ZSCORE', key, id)
  redis.call('ZADD', key, 'GT', exp, id)
  settle(key, now)
  if existed then return 0 else return 1 end
end

-- Sets an index entry to `exp` (standalone scripts, where nothing can interleave).
local function index_put(key, exp, id, now)
  redis.call('ZADD', key, exp, id)
  settle(key, now)
end

-- Removes an index entry.
local function index_remove(key, id, now)
  redis.call('ZREM', key, id)
  settle(key, now)
end

-- Sets an index entry to exactly `exp` (lowering it if need be) if it is there.
local function index_set(key, exp, id, now)
  redis.call('ZADD', key, 'XX', exp, id)
  settle(key, now)
end

-- Is the session `holder` alive at `now` and holding connection `conn`?
local function holds(p, holder, conn, now)
  local r = parse(redis.call('GET', krec(p, holder)))
  return r ~= nil and r.exp > now and r.conn == conn
end
