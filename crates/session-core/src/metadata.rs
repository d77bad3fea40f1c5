//! [`Metadata`]: a session's free-form string entries, stored compactly and shared on clone.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Free-form string metadata: keys in ascending order, each once, within the limits in
/// [`limits`](crate::limits) (checked on every write by [`Session::validate`](crate::Session::validate)).
///
/// A sorted map with the API of a `BTreeMap<String, String>` that a session needs (`get`,
/// `insert`, `remove`, `iter`, `collect`, ...), stored as one text buffer of every key and
/// value plus their end offsets, behind an `Arc`. So:
///
/// - decoding a record builds it in three allocations however many entries there are;
/// - cloning it (and so cloning a [`Session`](crate::Session), as a caller does before
///   [`Store::update`](crate::Store::update)) copies a pointer, not the entries;
/// - a change (`insert`, `remove`) writes a new buffer: O(size of the metadata), which is at
///   most 16 KiB and 64 entries for a valid session.
///
/// ```
/// use session_core::Metadata;
///
/// let mut m: Metadata = [("theme".to_owned(), "dark".to_owned())].into();
/// m.insert("locale".to_owned(), "en-GB".to_owned());
/// assert_eq!(m.get("theme"), Some("dark"));
/// let copy = m.clone(); // shares the buffer
/// m.insert("theme".to_owned(), "light".to_owned());
/// assert_eq!(copy.get("theme"), Some("dark"));
/// assert_eq!(m.iter().collect::<Vec<_>>(), [("locale", "en-GB"), ("theme", "light")]);
/// ```
#[derive(Clone, Default)]
pub struct Metadata {
    /// `None` when empty (no allocation).
    entries: Option<Arc<Entries>>,
}

struct Entries {
    /// Every key then its value, in key order: `k0 v0 k1 v1 ...`.
    text: Box<str>,
    /// Per entry, where its key and its value end in `text`; a key starts where the previous
    /// value ends (or at 0).
    ends: Box<[[usize; 2]]>,
}

impl Entries {
    fn key(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1][1] };
        self.text.get(start..self.ends[i][0]).unwrap_or_default()
    }

    fn value(&self, i: usize) -> &str {
        let [key_end, value_end] = self.ends[i];
        self.text.get(key_end..value_end).unwrap_or_default()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.ends.len());
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

/// Builds metadata as the codec decodes it: entries pushed in strictly ascending key order.
pub(crate) struct MetadataBuilder {
    text: String,
    ends: Vec<[usize; 2]>,
}

impl MetadataBuilder {
    /// Room for `entries` entries of `text_bytes` bytes of keys and values in all.
    pub(crate) fn with_capacity(entries: usize, text_bytes: usize) -> Self {
        MetadataBuilder {
            text: String::with_capacity(text_bytes),
            ends: Vec::with_capacity(entries),
        }
    }

    /// Appends an entry; the caller keeps keys ascending.
    pub(crate) fn push(&mut self, key: &str, value: &str) {
        self.text.push_str(key);
        let key_end = self.text.len();
        self.text.push_str(value);
        self.ends.push([key_end, self.text.len()]);
    }

    /// Metadata from a buffer of keys and values and their ends, as [`Entries`] holds them;
    /// the caller has checked that the keys ascend and every end is a character boundary.
    pub(crate) fn from_parts(text: String, ends: Vec<[usize; 2]>) -> Metadata {
        MetadataBuilder { text, ends }.build()
    }

    pub(crate) fn build(self) -> Metadata {
        if self.ends.is_empty() {
            return Metadata::new();
        }
        Metadata {
            entries: Some(Arc::new(Entries {
                text: self.text.into_boxed_str(),
                ends: self.ends.into_boxed_slice(),
            })),
        }
    }
}

impl Metadata {
    /// No entries.
    pub const fn new() -> Self {
        Metadata { entries: None }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| e.ends.len())
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries in ascending key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            entries: self.entries.as_deref(),
            front: 0,
            back: self.len(),
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
        let e = self.entries.as_deref()?;
        e.find(key).ok().map(|i| e.value(i))
    }

    /// True if `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.as_deref().is_some_and(|e| e.find(key).is_ok())
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
        let (at, old) = match self.entries.as_deref().map(|e| (e.find(&key), e)) {
            None => (0, None),
            Some((Err(at), _)) => (at, None),
            Some((Ok(at), e)) => (at, Some(e.value(at).to_owned())),
        };
        let skip = usize::from(old.is_some());
        self.rebuild(at, skip, Some((&key, &value)));
        old
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let e = self.entries.as_deref()?;
        let at = e.find(key).ok()?;
        let old = e.value(at).to_owned();
        self.rebuild(at, 1, None);
        Some(old)
    }

    /// Keeps only the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let kept: Vec<bool> = self.iter().map(|(k, v)| keep(k, v)).collect();
        if kept.iter().all(|&k| k) {
            return;
        }
        let mut b = MetadataBuilder::with_capacity(self.len(), 0);
        for ((k, v), _) in self.iter().zip(&kept).filter(|(_, k)| **k) {
            b.push(k, v);
        }
        *self = b.build();
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries = None;
    }

    /// The entries as a `BTreeMap`.
    pub fn to_btree_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Replaces `skip` entries at index `at` by `new` (if any), in a new buffer.
    fn rebuild(&mut self, at: usize, skip: usize, new: Option<(&str, &str)>) {
        let len = self.len();
        let text_len = self.entries.as_ref().map_or(0, |e| e.text.len())
            + new.map_or(0, |(k, v)| k.len() + v.len());
        let mut b = MetadataBuilder::with_capacity(len + 1, text_len);
        let mut it = self.iter();
        for (k, v) in it.by_ref().take(at) {
            b.push(k, v);
        }
        if let Some((k, v)) = new {
            b.push(k, v);
        }
        for (k, v) in it.skip(skip) {
            b.push(k, v);
        }
        *self = b.build();
    }
}

/// The entries of a [`Metadata`], in ascending key order.
#[derive(Clone)]
pub struct Iter<'a> {
    entries: Option<&'a Entries>,
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let e = self.entries?;
        if self.front >= self.back {
            return None;
        }
        let i = self.front;
        self.front += 1;
        Some((e.key(i), e.value(i)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back.saturating_sub(self.front);
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let e = self.entries?;
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        Some((e.key(self.back), e.value(self.back)))
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
        match (&self.entries, &other.entries) {
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) => true,
            // Keys are ascending and unique, so equal maps have equal buffers.
            (Some(a), Some(b)) => a.text == b.text && a.ends == b.ends,
            _ => self.is_empty() && other.is_empty(),
        }
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
        let text = map.iter().map(|(k, v)| k.len() + v.len()).sum();
        let mut b = MetadataBuilder::with_capacity(map.len(), text);
        for (k, v) in &map {
            b.push(k, v);
        }
        b.build()
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
            a.entries.as_ref().unwrap(),
            b.entries.as_ref().unwrap()
        ));
        a.insert("a".to_owned(), "2".to_owned());
        assert_eq!((a.get("a"), b.get("a")), (Some("2"), Some("1")));
        assert_ne!(a, b);
        assert_eq!(
            Metadata::new(),
            MetadataBuilder::with_capacity(0, 0).build()
        );
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
}
