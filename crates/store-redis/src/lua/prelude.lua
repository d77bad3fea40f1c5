-- Shared helpers, prepended to every script. Records are session-core codec format 1:
-- byte 0 format (1), 1..9 version u64 LE, 9..17 expires_at ms u64 LE, 17..33 id, 50 flags,
-- then the connection id (16 bytes, if flags bit 0) and the user id (u16 LE length + bytes).
-- An integer (below 2^53: times in ms) as decimal text. '%d' (a C long) is exact for those and
-- costs a fraction of '%.0f', which goes through the floating-point printer.
local function num(n) return string.format('%d', n) end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function u64(s, off)
  local b1, b2, b3, b4, b5, b6, b7, b8 = string.byte(s, off + 1, off + 8)
  return ((((((b8 * 256 + b7) * 256 + b6) * 256 + b5) * 256 + b4) * 256 + b3) * 256 + b2) * 256 + b1
end

local function le64(n)
  local b1 = n % 256; n = (n - b1) / 256
  local b2 = n % 256; n = (n - b2) / 256
  local b3 = n % 256; n = (n - b3) / 256
  local b4 = n % 256; n = (n - b4) / 256
  local b5 = n % 256; n = (n - b5) / 256
  local b6 = n % 256; n = (n - b6) / 256
  local b7 = n % 256
  return string.char(b1, b2, b3, b4, b5, b6, b7, (n - b7) / 256)
end

-- The text form of a 16-byte id (lower-case hex, hyphenated), formatted as six numbers: a
-- third of the cost of formatting sixteen bytes.
local function uuid_text(raw)
  local b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15, b16 = string.byte(raw, 1, 16)
  return string.format('%08x-%04x-%04x-%04x-%04x%08x', ((b1 * 256 + b2) * 256 + b3) * 256 + b4,
    b5 * 256 + b6, b7 * 256 + b8, b9 * 256 + b10, b11 * 256 + b12,
    ((b13 * 256 + b14) * 256 + b15) * 256 + b16)
end

-- The index-relevant fields of a record, raw (no formatting), or nil if it is not a
-- well-formed record head: vraw (the version's 8 bytes: versions never pass through a Lua
-- number, which is a double), exp (expiries are below 2^53: validated on every write),
-- conn_raw (16 bytes or nil), user (its bytes).
local function head(rec)
  if not rec or #rec < 53 or string.byte(rec, 1) ~= 1 then return nil end
  local pos, conn_raw = 51, nil
  if string.byte(rec, 51) % 2 == 1 then
    if #rec < pos + 18 then return nil end
    conn_raw = string.sub(rec, pos + 1, pos + 16)
    pos = pos + 16
  end
  local lo, hi = string.byte(rec, pos + 1, pos + 2)
  local len = lo + 256 * hi
  if len == 0 or #rec < pos + 2 + len then return nil end
  -- Built whole, with room for parse()'s `conn`: a field added later makes Lua grow the
  -- table's hash part, which cost as much as the rest of head().
  return { vraw = string.sub(rec, 2, 9), exp = u64(rec, 9), conn_raw = conn_raw,
    user = string.sub(rec, pos + 3, pos + 2 + len), conn = nil }
end

-- The PXAT of a key that must be gone from the millisecond `exp` on: Redis keeps a key
-- through the millisecond of its PXAT and drops it strictly after.
local function pxat(exp) return num(exp - 1) end

-- Is a record over at `now` by its own expires_at? (An unreadable head is not "over": the
-- callers report it as corrupt.)
local function over(r, now) return r ~= nil and r.exp <= now end

-- over(head(rec), now), without building the head for a live record (the common case).
local function rec_over(rec, now)
  if #rec < 53 or string.byte(rec, 1) ~= 1 or u64(rec, 9) > now then return false end
  return head(rec) ~= nil
end

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

-- Is `rec` a whole format-1 record of the session whose id is `idraw` (16 bytes)? Beyond
-- head(): the id, the state code, the flag bits, a valid user id, and every length up to
-- exactly the last byte. (Not checked here: UTF-8 and order of metadata; the client's decode
-- checks those on reads.) Written without closures or tables: it runs on every update. `r`
-- is head(rec) if the caller has it.
local function whole(rec, idraw, r)
  r = r or head(rec)
  if not r or string.sub(rec, 18, 33) ~= idraw then return false end
  local state, flags = string.byte(rec, 50, 51)
  if state > 4 or flags > 31 then return false end
  local user = r.user
  if #user > 256 then return false end
  -- The byte-by-byte UTF-8 walk only for a user id with a control or non-ASCII byte.
  if string.find(user, '[%c\128-\255]') and (string.find(user, '%c') or not utf8_ok(user)) then
    return false
  end
  -- flags: bit 0 connection id, 1 client IPv6, 2 server IPv6, 3 client and 4 server IPv6
  -- flowinfo and scope id. Each address: 6 (IPv4), 18 (IPv6), 26 (IPv6 with flowinfo and
  -- scope id); then 44 bytes of stats.
  local f = (flags - flags % 2) / 2
  local cv6 = f % 2; f = (f - cv6) / 2
  local sv6 = f % 2; f = (f - sv6) / 2
  local cscope = f % 2
  local sscope = (f - cscope) / 2
  local pos = 51 + (flags % 2) * 16 + 2 + #user
    + 12 + 12 * (cv6 + sv6) + 8 * (cscope + sscope) + 44
  local lo, hi = string.byte(rec, pos + 1, pos + 2)
  if not hi then return false end
  local count = lo + 256 * hi
  if count > 64 then return false end
  pos = pos + 2
  for _ = 1, 2 * count do
    lo, hi = string.byte(rec, pos + 1, pos + 2)
    if not hi then return false end
    pos = pos + 2 + lo + 256 * hi
  end
  return pos == #rec
end

-- The opening every compare-and-set shares (update, touch, the Cluster lock and cas/touch
-- steps): the refusal to return for the stored record `cur` (head `o`) at `now`, or nil if it
-- is live and at version `expected` (8 bytes). With `idraw` (the id's 16 bytes) the record
-- must also be whole(); without, the client has decoded it first.
local function cas_refusal(cur, o, now, expected, idraw)
  if not cur then return {'NOT_FOUND'} end
  if not o then return {'CORRUPT'} end
  if over(o, now) then return {'NOT_FOUND'} end
  if idraw and not whole(cur, idraw, o) then return {'CORRUPT'} end
  if o.vraw ~= expected then return {'CONFLICT', o.vraw} end
  return nil
end

-- `cur` with its version (8 bytes) and expiry rewritten in place: a touch.
local function retimed(cur, vraw, exp)
  return string.sub(cur, 1, 1) .. vraw .. le64(exp) .. string.sub(cur, 18)
end

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

-- The PXAT of an index key that has just gained, or raised to, a member of expiry `exp` (no
-- member was lowered or removed): the later of its PXAT and `exp`; a new key (no PXAT) gets
-- `exp`. Cheaper than settle's read of the latest member.
local function raise_ttl(key, exp)
  local at = num(exp)
  if redis.call('PEXPIREAT', key, at, 'GT') == 0 then redis.call('PEXPIREAT', key, at, 'NX') end
end

-- Sets an index entry to `exp` (standalone scripts, where nothing can interleave). The common
-- case, a new entry or a later expiry, costs ZADD GT, the trim and raise_ttl; an entry that
-- stays or moves earlier is set exactly and the key settled.
local function index_put(key, exp, id, now)
  if redis.call('ZADD', key, 'GT', 'CH', exp, id) == 1 then
    prune(key, now)
    raise_ttl(key, exp)
  else
    redis.call('ZADD', key, exp, id)
    settle(key, now)
  end
end

-- Removes an index entry.
local function index_remove(key, id, now)
  redis.call('ZREM', key, id)
  settle(key, now)
end

-- Removes an index entry of expiry `exp` (its record's: the standalone scripts write a
-- record and its entries' scores together). The key's PXAT moves only if no member as late
-- is left (if the key is empty Redis has removed it).
local function index_remove_at(key, id, exp, now)
  redis.call('ZREM', key, id)
  prune(key, now)
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[2] and tonumber(top[2]) < exp then redis.call('PEXPIREAT', key, num(tonumber(top[2]))) end
end

-- Is the session `holder` alive at `now` and holding connection `conn`?
local function holds(p, holder, conn, now)
  local r = parse(redis.call('GET', krec(p, holder)))
  return r ~= nil and r.exp > now and r.conn == conn
end

-- touch (one round trip)

-- Is the byte at `a` in `rec` the first of `n` printable ASCII bytes (0x20 to 0x7e)? One
-- anchored match, no new string. By byte range, not %c: classes follow the C locale.
local function printable_at(rec, a, n)
  local _, e = string.find(rec, '^[ -~]*', a)
  return e >= a + n - 1
end

-- Do the `m` bytes at `a` in `rec` come strictly before the `n` bytes at `b`, in byte order
-- (as Rust compares them)? Not `<` on strings, which compares with strcoll, by the server's
-- locale.
local function bytes_before(rec, a, m, b, n)
  for i = 0, (m < n and m or n) - 1 do
    local x, y = string.byte(rec, a + i), string.byte(rec, b + i)
    if x ~= y then return x < y end
  end
  return m < n
end

-- The version after `vraw` (8 bytes LE), computed on the bytes (an increment with carry; never
-- a Lua number); nil for the last one (8 bytes 0xff), which has none.
local function bumped(vraw)
  for i = 1, 8 do
    local b = string.byte(vraw, i)
    if b < 255 then
      return string.rep('\0', i - 1) .. string.char(b + 1) .. string.sub(vraw, i + 1)
    end
  end
  return nil
end

-- head(rec) if the client's decode is sure to accept `rec` as the record of the session whose
-- id is `idraw` (16 bytes), else nil. Sufficient, not complete: nil also for some records that
-- decode, and the caller then leaves the answer to the client's decode. Beyond whole() (the
-- same walk: id, state, flags, lengths up to exactly the last byte), it checks what decode
-- checks besides: a scope id flag only on an IPv6 address, whose flowinfo and scope id are
-- not both zero; at most 64 metadata entries, each key 1 to 128 bytes and value at most
-- 1024, 16 KiB of keys and values in all, keys strictly ascending in byte order. UTF-8 and
-- control characters: the user id and the keys must be printable ASCII and the values ASCII
-- (any other byte: nil, even where the text is valid). Positions, not substrings: no string
-- is made for a key or a value.
local function decodable(rec, idraw)
  local r = head(rec)
  if not r or string.sub(rec, 18, 33) ~= idraw then return nil end
  local state, flags = string.byte(rec, 50, 51)
  if state > 4 or flags > 31 then return nil end
  local ulen = #r.user
  local pos = 51 + (flags % 2) * 16
  if ulen > 256 or not printable_at(rec, pos + 3, ulen) then return nil end
  local f = (flags - flags % 2) / 2
  local cv6 = f % 2; f = (f - cv6) / 2
  local sv6 = f % 2; f = (f - sv6) / 2
  local cscope = f % 2
  local sscope = (f - cscope) / 2
  if cscope > cv6 or sscope > sv6 then return nil end
  -- The client address, then the server address: 6 or 18 bytes, then 8 if scoped.
  pos = pos + 2 + ulen + 6 + 12 * cv6
  if cscope == 1 then
    if string.sub(rec, pos + 1, pos + 8) == '\0\0\0\0\0\0\0\0' then return nil end
    pos = pos + 8
  end
  pos = pos + 6 + 12 * sv6
  if sscope == 1 then
    if string.sub(rec, pos + 1, pos + 8) == '\0\0\0\0\0\0\0\0' then return nil end
    pos = pos + 8
  end
  pos = pos + 44
  local lo, hi = string.byte(rec, pos + 1, pos + 2)
  if not hi then return nil end
  local count = lo + 256 * hi
  if count > 64 then return nil end
  pos = pos + 2
  local n = #rec
  -- No byte from here on beyond ASCII (lengths included): then no value needs a look.
  local _, e = string.find(rec, '^[^\128-\255]*', pos + 1)
  local ascii = e == n
  local total, prev, plen, pc = 0, nil, 0, 0
  for _ = 1, count do
    -- The key's length and first byte (keys usually differ there: no further compare).
    local c
    lo, hi, c = string.byte(rec, pos + 1, pos + 3)
    if not c then return nil end
    local klen = lo + 256 * hi
    local at = pos + 3
    if klen == 0 or klen > 128 or at + klen - 1 > n or not printable_at(rec, at, klen)
      or c < pc or (c == pc and not bytes_before(rec, prev, plen, at, klen)) then
      return nil
    end
    pos = pos + 2 + klen
    lo, hi = string.byte(rec, pos + 1, pos + 2)
    if not hi then return nil end
    local vlen = lo + 256 * hi
    if vlen > 1024 or pos + 2 + vlen > n then return nil end
    if not ascii then
      _, e = string.find(rec, '^[^\128-\255]*', pos + 3)
      if e < pos + 2 + vlen then return nil end
    end
    pos = pos + 2 + vlen
    total = total + klen + vlen
    prev, plen, pc = at, klen, c
  end
  if total > 16384 or pos ~= n then return nil end
  return r
end
