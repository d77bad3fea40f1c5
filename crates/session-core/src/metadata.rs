//! [`Metadata`]: a session's free-form string entries, stored compactly and shared on clone.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::error::CodecError;
use crate::limits;

/// Free-form string metadata: keys in ascending order, each once, within the limits in
/// [`limits`](crate::limits) (checked on every write by [`Session::validate`](crate::Session::validate)).
///
/// A sorted map with the API of a `BTreeMap<String, String>` that a session needs (`get`,
/// `insert`, `remove`, `iter`, `collect`, ...), stored as one shared string: every key and
/// value, then a table of where each ends. So:
///
/// - decoding a record builds it in one allocation however many entries there are;
/// - cloning it (and so cloning a [`Session`](crate::Session), as a caller does before
///   [`Store::update`](crate::Store::update)) copies a pointer, not the entries;
/// - a change (`insert`, `remove`) writes a new block: O(size of the metadata), which is at
///   most 16 KiB and 64 entries for a valid session.
///
/// ```
/// use session_core::Metadata;
///
/// let mut m: Metadata = [("theme".to_owned(), "dark".to_owned())].into();
/// m.insert("locale".to_owned(), "en-GB".to_owned());
/// assert_eq!(m.get("theme"), Some("dark"));
/// let copy = m.clone(); // shares the block
/// m.insert("theme".to_owned(), "light".to_owned());
/// assert_eq!(copy.get("theme"), Some("dark"));
/// assert_eq!(m.iter().collect::<Vec<_>>(), [("locale", "en-GB"), ("theme", "light")]);
/// ```
#[derive(Clone, Default)]
pub struct Metadata {
    /// `None` when empty (no allocation). Otherwise one block, all of it a `str` so that keys
    /// and values are handed out without checking their UTF-8 again:
    ///
    /// | part | bytes |
    /// |---|---|
    /// | text: per entry, in key order, a gap, the key, a gap, the value | 4 n + keys and values |
    /// | ends: per entry, where its key and then its value end in the text | 2 n numbers |
    /// | n, the number of entries | 1 number |
    /// | w, the width of a number in bytes | 1 |
    ///
    /// A gap is [`GAP`]: the text is laid out as the codec's metadata entries are, with gaps
    /// where the record has lengths, so that decoding copies the entries in one piece and
    /// then only overwrites their lengths. A number is w digits in base 128, least
    /// significant first, so every byte after the text is ASCII; w is [`WIDTH`], or as many
    /// more as a bigger block needs for its text's length and n. Entry i starts (with its
    /// first gap) where entry i - 1's value ends, or at 0; its value starts a gap after its
    /// key's end. Equal maps have equal blocks.
    block: Option<Arc<str>>,
}

/// What stands before every key and value in a block's text, where a record has its length.
const GAP: [u8; 2] = [0, 0];

/// The most digits a number in a block can need (`usize::MAX` in base 128).
const MAX_WIDTH: usize = usize::BITS.div_ceil(7) as usize;

/// A block at most this long is assembled on the stack and then copied into its one
/// allocation; a longer one costs a second, temporary allocation.
const STACK_BLOCK: usize = 512;

/// The width of the numbers in a block whose text length and entry count are at most `x`:
/// [`WIDTH`], or more digits for a block too big for it (possible only for metadata beyond
/// the limits, which a write refuses).
fn width(x: usize) -> usize {
    let bits = usize::BITS - x.leading_zeros();
    (bits.div_ceil(7) as usize).max(WIDTH)
}

/// The usual width of a number in a block: 3 base-128 digits, up to 2 MiB.
const WIDTH: usize = 3;

/// The number written as `digits`.
#[inline]
fn get_num(digits: &[u8]) -> usize {
    match *digits {
        [a, b] => usize::from(a) | usize::from(b) << 7,
        [a, b, c] => usize::from(a) | usize::from(b) << 7 | usize::from(c) << 14,
        [a] => usize::from(a),
        _ => digits
            .iter()
            .rev()
            .fold(0, |n, &d| (n << 7) | usize::from(d)),
    }
}

/// Writes `x` as `out.len()` base-128 digits (which the caller made enough).
#[inline]
fn put_num(out: &mut [u8], x: usize) {
    // Masked to 7 bits, so the casts are exact.
    let digit = |shift: u32| (x >> shift & 0x7f) as u8;
    match out {
        [a, b] => [*a, *b] = [digit(0), digit(7)],
        [a, b, c] => [*a, *b, *c] = [digit(0), digit(7), digit(14)],
        _ => {
            let mut x = x;
            for d in out {
                *d = (x & 0x7f) as u8;
                x >>= 7;
            }
        }
    }
}

/// A block's parts, read from its end.
#[derive(Clone, Copy)]
struct View<'a> {
    text: &'a str,
    ends: &'a [u8],
    w: usize,
    n: usize,
}

impl<'a> View<'a> {
    #[inline]
    fn of(block: &'a str) -> Self {
        let b = block.as_bytes();
        let w = b.last().map_or(1, |&w| usize::from(w)).clamp(1, MAX_WIDTH);
        let n_at = b.len().saturating_sub(1 + w);
        let n = get_num(b.get(n_at..n_at + w).unwrap_or_default());
        let ends_at = n_at.saturating_sub(n.saturating_mul(2 * w));
        View {
            text: block.get(..ends_at).unwrap_or_default(),
            ends: b.get(ends_at..n_at).unwrap_or_default(),
            w,
            n,
        }
    }

    /// The `j`th end: entry `j / 2`'s key end if `j` is even, its value end if odd.
    #[inline]
    fn end(&self, j: usize) -> usize {
        let at = j * self.w;
        if self.w == WIDTH {
            let digits = self.ends.get(at..).and_then(|d| d.first_chunk::<WIDTH>());
            return digits.map_or(0, |d| get_num(d));
        }
        get_num(self.ends.get(at..at + self.w).unwrap_or_default())
    }

    /// Where entry `i` starts in the text (its first gap).
    #[inline]
    fn start(&self, i: usize) -> usize {
        if i == 0 { 0 } else { self.end(2 * i - 1) }
    }

    #[inline]
    fn entry(&self, i: usize) -> (&'a str, &'a str) {
        let [key_end, value_end] = [self.end(2 * i), self.end(2 * i + 1)];
        let key = self.text.get(self.start(i) + GAP.len()..key_end);
        let value = self.text.get(key_end + GAP.len()..value_end);
        (key.unwrap_or_default(), value.unwrap_or_default())
    }

    #[inline]
    fn key(&self, i: usize) -> &'a str {
        let key = self.text.get(self.start(i) + GAP.len()..self.end(2 * i));
        key.unwrap_or_default()
    }

    #[inline]
    fn value(&self, i: usize) -> &'a str {
        let value = self
            .text
            .get(self.end(2 * i) + GAP.len()..self.end(2 * i + 1));
        value.unwrap_or_default()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.key(mid).cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }
}

/// Fills a block of a size fixed up front: `n` entries and `text_len` bytes of text (4 bytes
/// of gaps per entry, and the keys and values), pushed in ascending key order (which the
/// caller keeps).
pub(crate) struct BlockWriter<'a> {
    text: &'a mut [u8],
    ends: &'a mut [u8],
    w: usize,
    /// Entries and text bytes written so far.
    pushed: usize,
    len: usize,
    /// A key or value starts inside a UTF-8 character (so is not UTF-8 on its own).
    split_char: bool,
}

impl BlockWriter<'_> {
    /// Builds the block of `n` entries and `text_len` bytes of text that `fill` pushes, in one
    /// allocation when it is small. `fill`'s error is returned as it is; `Ok(None)` if `fill`
    /// left the block short, or its text is not UTF-8 with every key and value on character
    /// boundaries.
    #[inline]
    pub(crate) fn build<E>(
        n: usize,
        text_len: usize,
        fill: impl FnOnce(&mut BlockWriter<'_>) -> Result<(), E>,
    ) -> Result<Option<Metadata>, E> {
        let w = width(text_len.max(n));
        let total = n
            .checked_mul(2 * w)
            .and_then(|e| e.checked_add(text_len)?.checked_add(w + 1));
        match total {
            None => Ok(None),
            // A small block needs less of the stack zeroed.
            Some(total) if total <= STACK_BLOCK / 4 => {
                let mut buf = [0u8; STACK_BLOCK / 4];
                Self::build_in(&mut buf[..total], n, text_len, w, fill)
            }
            Some(total) if total <= STACK_BLOCK => {
                let mut buf = [0u8; STACK_BLOCK];
                Self::build_in(&mut buf[..total], n, text_len, w, fill)
            }
            Some(total) => Self::build_in(&mut vec![0; total], n, text_len, w, fill),
        }
    }

    #[inline]
    fn build_in<E>(
        buf: &mut [u8],
        n: usize,
        text_len: usize,
        w: usize,
        fill: impl FnOnce(&mut BlockWriter<'_>) -> Result<(), E>,
    ) -> Result<Option<Metadata>, E> {
        let (text, rest) = buf.split_at_mut(text_len);
        let (ends, tail) = rest.split_at_mut(rest.len() - (w + 1));
        let mut writer = BlockWriter {
            text,
            ends,
            w,
            pushed: 0,
            len: 0,
            split_char: false,
        };
        fill(&mut writer)?;
        if writer.pushed != n || writer.len != text_len || writer.split_char {
            return Ok(None);
        }
        if n == 0 {
            return Ok(Some(Metadata::new()));
        }
        let (count, width) = tail.split_at_mut(w);
        put_num(count, n);
        // w <= MAX_WIDTH, so the cast is exact.
        width[0] = w as u8;
        Ok(std::str::from_utf8(buf).ok().map(|block| Metadata {
            block: Some(Arc::from(block)),
        }))
    }

    /// Appends an entry; false (and nothing written) if it does not fit the size given.
    #[inline]
    pub(crate) fn push(&mut self, key: &[u8], value: &[u8]) -> bool {
        let key_end = self.len + GAP.len() + key.len();
        let value_end = key_end + GAP.len() + value.len();
        if value_end > self.text.len() || !self.put_ends(key_end, value_end) {
            return false;
        }
        let Some(text) = self.text.get_mut(self.len..value_end) else {
            return false;
        };
        let (k, v) = text.split_at_mut(GAP.len() + key.len());
        let (kg, k) = k.split_at_mut(GAP.len());
        let (vg, v) = v.split_at_mut(GAP.len());
        kg.copy_from_slice(&GAP);
        k.copy_from_slice(key);
        vg.copy_from_slice(&GAP);
        v.copy_from_slice(value);
        self.split_char |= starts_inside_char(key) || starts_inside_char(value);
        self.pushed += 1;
        self.len = value_end;
        true
    }

    /// Fills the block from a record's metadata entries: `entries` (what follows the entry
    /// count, which ends the record at `base + entries.len()`) holds `count` entries, each a
    /// key and a value, each a length (u16 LE) and its bytes. They are copied in one piece,
    /// then checked entry by entry as
    /// [`validate_metadata`](crate::validate_metadata) checks them and for ascending keys,
    /// their lengths overwritten with gaps as they are read. Returns whether every key is
    /// ASCII (if not, their characters are left to check once the block is known to be UTF-8).
    /// `beyond` is the error for metadata beyond the limits; the others are located at `base`
    /// plus where in `entries` they are found.
    pub(crate) fn fill_from_record(
        &mut self,
        entries: &[u8],
        count: usize,
        base: usize,
        beyond: CodecError,
    ) -> Result<bool, CodecError> {
        let err = |reason, at: usize| CodecError::new(reason, base + at);
        if self.len != 0 || entries.len() != self.text.len() {
            return Err(err("truncated", entries.len()));
        }
        self.text.copy_from_slice(entries);
        let len_at = |at: usize| {
            let len = entries.get(at..).and_then(|b| b.first_chunk::<2>());
            len.map(|l| at + GAP.len() + usize::from(u16::from_le_bytes(*l)))
        };
        let (mut at, mut prev, mut prev_prefix, mut ascii) = (0, &[][..], 0, true);
        for _ in 0..count {
            // An entry: a length at `at`, the key up to `key_end`, a length, the value.
            let entry = len_at(at).and_then(|key_end| {
                let value_end = len_at(key_end)?;
                let key = entries.get(at + GAP.len()..key_end)?;
                let value = entries.get(key_end + GAP.len()..value_end)?;
                Some((key_end, value_end, key, value))
            });
            let Some((key_end, value_end, key, value)) = entry else {
                return Err(err("truncated", at));
            };
            let (prefix, kind) = key_prefix(key);
            // Ascending: decided by the prefixes unless they are the same.
            if prefix < prev_prefix || (prefix == prev_prefix && prev >= key) {
                // Also refuses an empty key, which no key is above.
                return Err(if key.is_empty() {
                    beyond
                } else {
                    err("metadata keys not ascending", value_end)
                });
            }
            if key.len() > limits::METADATA_MAX_KEY_BYTES
                || value.len() > limits::METADATA_MAX_VALUE_BYTES
                || kind == KeyBytes::Control
            {
                return Err(beyond);
            }
            ascii &= kind == KeyBytes::Ascii;
            if !self.put_ends(key_end, value_end) {
                return Err(err("truncated", at));
            }
            for gap_at in [at, key_end] {
                if let Some(gap) = self
                    .text
                    .get_mut(gap_at..)
                    .and_then(|t| t.first_chunk_mut())
                {
                    *gap = GAP;
                }
            }
            self.split_char |= starts_inside_char(key) || starts_inside_char(value);
            self.pushed += 1;
            (at, prev, prev_prefix) = (value_end, key, prefix);
        }
        if at != entries.len() {
            return Err(err("trailing bytes", at));
        }
        self.len = at;
        Ok(ascii)
    }

    /// Records the next entry's ends; false if there is no room for them.
    #[inline(always)]
    fn put_ends(&mut self, key_end: usize, value_end: usize) -> bool {
        let at = 2 * self.pushed * self.w;
        if self.w == WIDTH {
            let Some(out) = self
                .ends
                .get_mut(at..)
                .and_then(|e| e.first_chunk_mut::<6>())
            else {
                return false;
            };
            // Masked to 7 bits, so the casts are exact.
            let d = |x: usize, shift: u32| (x >> shift & 0x7f) as u8;
            *out = [
                d(key_end, 0),
                d(key_end, 7),
                d(key_end, 14),
                d(value_end, 0),
                d(value_end, 7),
                d(value_end, 14),
            ];
            return true;
        }
        let Some(out) = self.ends.get_mut(at..at + 2 * self.w) else {
            return false;
        };
        let (k, v) = out.split_at_mut(self.w);
        put_num(k, key_end);
        put_num(v, value_end);
        true
    }

    /// Appends entries `range` of `from`, as they are.
    fn push_from(&mut self, from: &View<'_>, range: std::ops::Range<usize>) -> bool {
        if range.is_empty() {
            return true;
        }
        let (start, end) = (from.start(range.start), from.start(range.end));
        let Some(run) = from.text.as_bytes().get(start..end) else {
            return false;
        };
        let Some(text) = self.text.get_mut(self.len..self.len + run.len()) else {
            return false;
        };
        text.copy_from_slice(run);
        // The run moves by `self.len - start`, which is either sign.
        let to = self.len;
        if to == start && from.w == self.w {
            // Same place, same width: the ends are the same digits.
            let (w, at) = (self.w, 2 * self.pushed * self.w);
            let digits = from.ends.get(2 * range.start * w..2 * range.end * w);
            let out = self.ends.get_mut(at..at + 2 * range.len() * w);
            let (Some(digits), Some(out)) = (digits, out) else {
                return false;
            };
            out.copy_from_slice(digits);
            self.pushed += range.len();
            self.len += run.len();
            return true;
        }
        let moved = |end: usize| (end + to).wrapping_sub(start);
        for i in range {
            let (key_end, value_end) = (moved(from.end(2 * i)), moved(from.end(2 * i + 1)));
            if !self.put_ends(key_end, value_end) {
                return false;
            }
            self.pushed += 1;
        }
        self.len += run.len();
        true
    }
}

/// True if `s` starts with a UTF-8 continuation byte (0b10xx_xxxx), so is not UTF-8 on its
/// own even inside valid UTF-8.
#[inline]
fn starts_inside_char(s: &[u8]) -> bool {
    s.first().is_some_and(|&b| (b as i8) < -0x40)
}

/// What a metadata key's bytes are, as far as its limits go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyBytes {
    /// ASCII without control characters.
    Ascii,
    /// Not all ASCII (its characters need checking as UTF-8).
    NotAscii,
    /// Holds an ASCII control character.
    Control,
}

/// A metadata key's first eight bytes as a big-endian number, zero-padded if it is shorter
/// (so keys whose prefixes differ compare as these numbers do), and what its bytes are.
/// Eight bytes at a time, with no call for a short key.
#[inline]
fn key_prefix(key: &[u8]) -> (u64, KeyBytes) {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES * 0x80;
    // Per 8 bytes: a high bit set where a byte is not ASCII, and a high bit set (somewhere)
    // if any byte is below 0x20 or is 0x7f, since a subtraction borrows only out of such a
    // byte.
    let flags = |x: u64| {
        let del = x ^ (ONES * 0x7f);
        (
            x & HIGH,
            (x.wrapping_sub(ONES * 0x20) | del.wrapping_sub(ONES)) & !x & HIGH,
        )
    };
    let be4 = |b: &[u8; 4]| u64::from(u32::from_be_bytes(*b));
    let byte = |i: usize| u64::from(key.get(i).copied().unwrap_or(0));
    let len = key.len();
    let (prefix, (high, ctl)) = if len <= 8 {
        // Overlapping loads: the bytes they share are the same bytes.
        let prefix = match (key.first_chunk::<4>(), key.last_chunk::<4>()) {
            (Some(first), Some(last)) => be4(first) << 32 | be4(last) << (64 - 8 * len),
            _ if len == 0 => 0,
            _ => {
                byte(0) << 56
                    | byte(len / 2) << (56 - 8 * (len / 2))
                    | byte(len - 1) << (64 - 8 * len)
            }
        };
        // Padding that is neither a control character nor beyond ASCII ('A').
        let pad = (ONES * 0x41).checked_shr(8 * len as u32).unwrap_or(0);
        (prefix, flags(prefix | pad))
    } else {
        let (mut high, mut ctl) = (0, 0);
        let words = key.chunks_exact(8).map(|w| w.first_chunk::<8>());
        for w in words.chain([key.last_chunk::<8>()]).flatten() {
            let (h, c) = flags(u64::from_be_bytes(*w));
            high |= h;
            ctl |= c;
        }
        let prefix = key.first_chunk::<8>().map_or(0, |w| u64::from_be_bytes(*w));
        (prefix, (high, ctl))
    };
    let kind = if high != 0 {
        // Whether a control character hides among other bytes is left to the check of the
        // key's characters.
        KeyBytes::NotAscii
    } else if ctl != 0 {
        KeyBytes::Control
    } else {
        KeyBytes::Ascii
    };
    (prefix, kind)
}

/// Metadata from entries in strictly ascending key order, counted and measured by one pass
/// over `entries` and written by a second.
fn from_sorted<'e>(entries: impl Iterator<Item = (&'e str, &'e str)> + Clone) -> Metadata {
    let (n, text_len) = entries.clone().fold((0, 0), |(n, t), (k, v)| {
        (n + 1, t + 2 * GAP.len() + k.len() + v.len())
    });
    let built = BlockWriter::build(n, text_len, |b| {
        for (k, v) in entries {
            b.push(k.as_bytes(), v.as_bytes());
        }
        Ok::<_, std::convert::Infallible>(())
    });
    // Whole strs in a block sized for them: this cannot be refused.
    built.ok().flatten().unwrap_or_default()
}

impl Metadata {
    /// No entries.
    pub const fn new() -> Self {
        Metadata { block: None }
    }

    #[inline]
    fn view(&self) -> Option<View<'_>> {
        self.block.as_deref().map(View::of)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.view().map_or(0, |v| v.n)
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.block.is_none()
    }

    /// The bytes of every key and value, and 4 per entry: the entries' size in a record.
    pub(crate) fn encoded_len(&self) -> usize {
        self.view().map_or(0, |v| v.text.len())
    }

    /// Appends the entries as a record holds them, each key and value a length (u16 LE)
    /// and its bytes: the text in one piece, its gaps then overwritten with the lengths.
    /// False, and nothing written, if the text is too long for every length to fit.
    pub(crate) fn encode_entries(&self, out: &mut Vec<u8>) -> bool {
        let Some(v) = self.view() else {
            return true;
        };
        if v.text.len() > usize::from(u16::MAX) {
            return false;
        }
        let base = out.len();
        out.extend_from_slice(v.text.as_bytes());
        let Some(text) = out.get_mut(base..) else {
            return true;
        };
        let mut start = 0;
        for i in 0..v.n {
            let (key_end, value_end) = (v.end(2 * i), v.end(2 * i + 1));
            for (gap_at, end) in [(start, key_end), (key_end, value_end)] {
                // Under 64 KiB of text, so every length fits.
                let len = end.saturating_sub(gap_at + GAP.len()) as u16;
                if let Some(gap) = text.get_mut(gap_at..).and_then(|t| t.first_chunk_mut()) {
                    *gap = len.to_le_bytes();
                }
            }
            start = value_end;
        }
        true
    }

    /// The entries in ascending key order.
    pub fn iter(&self) -> Iter<'_> {
        let view = self.view();
        Iter {
            back: view.map_or(0, |v| v.n),
            view,
            front: 0,
        }
    }

    /// The keys in ascending order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.iter().map(|(k, _)| k)
    }

    /// The values, in the order of their keys.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.iter().map(|(_, v)| v)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        let v = self.view()?;
        v.find(key).ok().map(|i| v.value(i))
    }

    /// True if `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.view().is_some_and(|v| v.find(key).is_ok())
    }

    /// The entry with the smallest key.
    pub fn first_key_value(&self) -> Option<(&str, &str)> {
        self.iter().next()
    }

    /// The entry with the largest key.
    pub fn last_key_value(&self) -> Option<(&str, &str)> {
        self.iter().next_back()
    }

    /// Sets `key` to `value` and returns the value it had.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        let (at, old) = match self.view().map(|v| (v.find(&key), v)) {
            None => (0, None),
            Some((Err(at), _)) => (at, None),
            Some((Ok(at), v)) => (at, Some(v.value(at).to_owned())),
        };
        let skip = usize::from(old.is_some());
        self.splice(at, skip, Some((&key, &value)));
        old
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let v = self.view()?;
        let at = v.find(key).ok()?;
        let old = v.value(at).to_owned();
        self.splice(at, 1, None);
        Some(old)
    }

    /// Keeps only the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let kept: Vec<bool> = self.iter().map(|(k, v)| keep(k, v)).collect();
        if kept.iter().all(|&k| k) {
            return;
        }
        *self = from_sorted(
            self.iter()
                .zip(&kept)
                .filter(|(_, k)| **k)
                .map(|(entry, _)| entry),
        );
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.block = None;
    }

    /// The entries as a `BTreeMap`.
    pub fn to_btree_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Replaces `skip` entries at index `at` by `new` (if any), in a new block: the entries
    /// before and after are copied in one piece each.
    fn splice(&mut self, at: usize, skip: usize, new: Option<(&str, &str)>) {
        let Some(v) = self.view() else {
            *self = from_sorted(new.into_iter());
            return;
        };
        let after = at.saturating_add(skip).min(v.n);
        let new_len = new.map_or(0, |(k, v)| 2 * GAP.len() + k.len() + v.len());
        let n = v.n - (after - at) + usize::from(new.is_some());
        let text_len = v.text.len() - (v.start(after) - v.start(at)) + new_len;
        let built = BlockWriter::build(n, text_len, |b| {
            b.push_from(&v, 0..at);
            if let Some((key, value)) = new {
                b.push(key.as_bytes(), value.as_bytes());
            }
            b.push_from(&v, after..v.n);
            Ok::<_, std::convert::Infallible>(())
        });
        // Whole entries in a block sized for them: this cannot be refused.
        *self = built.ok().flatten().unwrap_or_default();
    }
}

/// The entries of a [`Metadata`], in ascending key order.
#[derive(Clone)]
pub struct Iter<'a> {
    view: Option<View<'a>>,
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let v = self.view?;
        if self.front >= self.back {
            return None;
        }
        let i = self.front;
        self.front += 1;
        Some(v.entry(i))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back.saturating_sub(self.front);
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let v = self.view?;
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        Some(v.entry(self.back))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Metadata {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl PartialEq for Metadata {
    fn eq(&self, other: &Self) -> bool {
        // Keys are ascending and unique, so equal maps have equal blocks.
        self.block == other.block
    }
}

impl Eq for Metadata {}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Later entries win, as in a `BTreeMap`.
impl FromIterator<(String, String)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Metadata::from(iter.into_iter().collect::<BTreeMap<_, _>>())
    }
}

impl<const N: usize> From<[(String, String); N]> for Metadata {
    fn from(entries: [(String, String); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl From<BTreeMap<String, String>> for Metadata {
    fn from(map: BTreeMap<String, String>) -> Self {
        from_sorted(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

impl From<Metadata> for BTreeMap<String, String> {
    fn from(m: Metadata) -> Self {
        m.to_btree_map()
    }
}

impl Extend<(String, String)> for Metadata {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, iter: I) {
        let mut map = self.to_btree_map();
        map.extend(iter);
        *self = Metadata::from(map);
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Metadata {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Metadata {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<String, String>::deserialize(d).map(Metadata::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(m: &Metadata) -> Vec<(String, String)> {
        m.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn behaves_as_a_btree_map_under_every_edit() {
        let mut m = Metadata::new();
        let mut want = BTreeMap::new();
        // A fixed pseudo-random walk of inserts, replacements and removals.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = format!("k{}", x % 23);
            let value = "ü".repeat((x >> 8) as usize % 4);
            match x % 5 {
                0 => assert_eq!(m.remove(&key), want.remove(&key)),
                1 => {
                    m.clear();
                    want.clear();
                }
                _ => assert_eq!(
                    m.insert(key.clone(), value.clone()),
                    want.insert(key, value)
                ),
            }
            let want_vec: Vec<_> = want.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            assert_eq!(map(&m), want_vec);
            assert_eq!(m.len(), want.len());
            assert_eq!(m, Metadata::from(want.clone()));
            assert_eq!(m.to_btree_map(), want);
            for k in 0..23 {
                let k = format!("k{k}");
                assert_eq!(m.get(&k), want.get(&k).map(String::as_str));
                assert_eq!(m.contains_key(&k), want.contains_key(&k));
            }
            assert_eq!(
                m.last_key_value(),
                want.last_key_value().map(|(k, v)| (k.as_str(), v.as_str()))
            );
            assert_eq!(m.iter().rev().count(), want.len());
        }
    }

    #[test]
    fn clones_share_until_one_changes() {
        let mut a: Metadata = [("a".to_owned(), "1".to_owned())].into();
        let b = a.clone();
        assert!(Arc::ptr_eq(
            a.block.as_ref().unwrap(),
            b.block.as_ref().unwrap()
        ));
        a.insert("a".to_owned(), "2".to_owned());
        assert_eq!((a.get("a"), b.get("a")), (Some("2"), Some("1")));
        assert_ne!(a, b);
        assert_eq!(Metadata::new(), from_sorted(std::iter::empty()));
    }

    #[test]
    fn retain_and_extend_and_collect_keep_btree_semantics() {
        let mut m: Metadata = (0..10).map(|i| (format!("k{i}"), i.to_string())).collect();
        let mut calls = 0;
        m.retain(|_, v| {
            calls += 1;
            v.parse::<u32>().unwrap() % 2 == 0
        });
        assert_eq!(calls, 10);
        assert_eq!(m.keys().collect::<Vec<_>>(), ["k0", "k2", "k4", "k6", "k8"]);
        m.extend([("k0".to_owned(), "x".to_owned())]);
        assert_eq!(m.get("k0"), Some("x"));
        let dup: Metadata = [
            ("k".to_owned(), "1".to_owned()),
            ("k".to_owned(), "2".to_owned()),
        ]
        .into();
        assert_eq!(map(&dup), [("k".to_owned(), "2".to_owned())]);
        assert_eq!(format!("{dup:?}"), r#"{"k": "2"}"#);
    }

    #[test]
    fn key_prefix_classifies_and_orders_as_the_bytes_do() {
        let alphabet = [0x00u8, 0x1f, 0x20, b'a', b'z', 0x7e, 0x7f, 0x80, 0xc3, 0xff];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut keys = Vec::new();
        for _ in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 20) as usize;
            let key: Vec<u8> = (0..len)
                .map(|i| alphabet[(x >> (3 * i % 60)) as usize % alphabet.len()])
                .collect();
            let want = if key.iter().any(|&b| b >= 0x80) {
                KeyBytes::NotAscii
            } else if key.iter().any(|&b| b < 0x20 || b == 0x7f) {
                KeyBytes::Control
            } else {
                KeyBytes::Ascii
            };
            assert_eq!(key_prefix(&key).1, want, "{key:?}");
            keys.push(key);
        }
        for pair in keys.windows(2) {
            let (a, b) = (key_prefix(&pair[0]).0, key_prefix(&pair[1]).0);
            if a != b {
                assert_eq!(a.cmp(&b), pair[0].cmp(&pair[1]), "{pair:?}");
            }
        }
    }

    #[test]
    fn blocks_wider_than_usual_and_empty_entries_work() {
        // Text beyond 2 MiB needs 4-digit numbers (such metadata is beyond the limits, but
        // must still behave as a map until a write refuses it).
        let big = "x".repeat(3 << 20);
        let mut m: Metadata = [("b".to_owned(), big.clone())].into();
        assert_eq!(View::of(m.block.as_deref().unwrap()).w, 4);
        m.insert("a".to_owned(), String::new());
        m.insert("c".to_owned(), "3".to_owned());
        assert_eq!(m.get("b").map(str::len), Some(big.len()));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(m.remove("b").map(|v| v.len()), Some(big.len()));
        assert_eq!(View::of(m.block.as_deref().unwrap()).w, WIDTH);
        assert_eq!(
            m,
            [("a", ""), ("c", "3")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into()
        );
        // An empty key and value: a block of gaps only.
        let e: Metadata = [(String::new(), String::new())].into();
        assert_eq!(e.len(), 1);
        assert_eq!(e.iter().collect::<Vec<_>>(), [("", "")]);
        assert_eq!(e.encoded_len(), 4);
    }
}
