//! The binary record format every serialising store shares.
//!
//! A hand-written, versioned layout: measured against serde-based formats (see the `codec`
//! bench in `benches/`), it encodes and decodes a typical session in well under a microsecond,
//! and it has a fixed header so that a server-side script can read a record's version, expiry
//! and id without decoding the rest.
//!
//! Format 1, all integers little-endian:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 1 | format byte, [`FORMAT_V1`] |
//! | 1 | 8 | version (u64) |
//! | 9 | 8 | expires_at, ms since the epoch (u64) |
//! | 17 | 16 | session id |
//! | 33 | 8 | created_at (u64) |
//! | 41 | 8 | last_active_at (u64) |
//! | 49 | 1 | state code |
//! | 50 | 1 | flags: bit 0 connection id present, bit 1 client IPv6, bit 2 server IPv6, bit 3 client IPv6 flowinfo and scope id present, bit 4 the same for the server |
//! | 51 | 0/16 | connection id |
//! | .. | 2+n | user id: length (u16), UTF-8 bytes |
//! | .. | 6/18/26 | client address: IPv4 (4) or IPv6 (16) octets, then port (u16), then for an IPv6 address with a non-zero flowinfo or scope id (flag bit 3) flowinfo (u32) and scope id (u32) |
//! | .. | 6/18/26 | server address, the same way (flag bit 4) |
//! | .. | 44 | stats: five u64 counters, then current_rtt_ms (u32) |
//! | .. | 2+.. | metadata: entry count (u16), then per entry key and value, each length (u16) + UTF-8 |
//!
//! Everything a server-side script needs to maintain indexes (version, expiry, id, connection
//! id, user id) sits at the front at offsets it can compute from the flags byte.
//!
//! Decoding checks every length and every invariant the model has (valid user id, metadata
//! within limits, keys strictly ascending, no trailing bytes) and returns
//! [`CodecError`] on any violation. It never panics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use crate::error::CodecError;
use crate::id::{ConnectionId, SessionId, UserId};
use crate::limits;
use crate::metadata::BlockWriter;
use crate::model::{Metadata, Session, SessionState, Stats, has_control};
use crate::time::Timestamp;

/// The format byte of the current layout.
pub const FORMAT_V1: u8 = 1;
/// Byte offset of the version (u64 LE) in a record.
pub const VERSION_OFFSET: usize = 1;
/// Byte offset of expires_at (u64 LE, ms) in a record.
pub const EXPIRES_AT_OFFSET: usize = 9;
/// Byte offset of the 16-byte session id in a record.
pub const ID_OFFSET: usize = 17;
/// Length of the fixed part that precedes the connection id.
pub const FIXED_LEN: usize = 51;

const FLAG_CONNECTION: u8 = 1;
const FLAG_CLIENT_V6: u8 = 2;
const FLAG_SERVER_V6: u8 = 4;
const FLAG_CLIENT_V6_SCOPE: u8 = 8;
const FLAG_SERVER_V6_SCOPE: u8 = 16;
const KNOWN_FLAGS: u8 =
    FLAG_CONNECTION | FLAG_CLIENT_V6 | FLAG_SERVER_V6 | FLAG_CLIENT_V6_SCOPE | FLAG_SERVER_V6_SCOPE;

/// True for an IPv6 address whose flowinfo or scope id is not zero (written after its port).
fn has_scope(addr: &SocketAddr) -> bool {
    matches!(addr, SocketAddr::V6(a) if a.flowinfo() != 0 || a.scope_id() != 0)
}

/// What a record's fixed header says, read without decoding the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The session's write version.
    pub version: u64,
    /// When the session expires.
    pub expires_at: Timestamp,
    /// The session's id.
    pub id: SessionId,
}

/// The encoded size of `session`, in bytes.
pub fn encoded_len(session: &Session) -> usize {
    let addr = |a: &SocketAddr| {
        if a.is_ipv4() {
            6
        } else if has_scope(a) {
            26
        } else {
            18
        }
    };
    FIXED_LEN
        + if session.connection_id.is_some() {
            16
        } else {
            0
        }
        + addr(&session.client_addr)
        + addr(&session.server_addr)
        + 44
        + 2
        + session.user_id.as_str().len()
        + 2
        + session.metadata.encoded_len()
}

/// Encodes `session` into a new buffer.
///
/// The session should have passed [`Session::validate`]: lengths beyond the model's limits are
/// not representable (a longer user id or metadata entry is truncated to fit, which decoding
/// then refuses), so stores validate before they encode.
pub fn encode(session: &Session) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(session));
    encode_into(session, &mut out);
    out
}

/// Appends the encoding of `session` to `out`.
pub fn encode_into(session: &Session, out: &mut Vec<u8>) {
    out.reserve(encoded_len(session));
    let mut flags = 0;
    if session.connection_id.is_some() {
        flags |= FLAG_CONNECTION;
    }
    if session.client_addr.is_ipv6() {
        flags |= FLAG_CLIENT_V6;
    }
    if session.server_addr.is_ipv6() {
        flags |= FLAG_SERVER_V6;
    }
    if has_scope(&session.client_addr) {
        flags |= FLAG_CLIENT_V6_SCOPE;
    }
    if has_scope(&session.server_addr) {
        flags |= FLAG_SERVER_V6_SCOPE;
    }
    out.push(FORMAT_V1);
    out.extend_from_slice(&session.version.to_le_bytes());
    out.extend_from_slice(&session.expires_at.as_millis().to_le_bytes());
    out.extend_from_slice(session.id.as_bytes());
    out.extend_from_slice(&session.created_at.as_millis().to_le_bytes());
    out.extend_from_slice(&session.last_active_at.as_millis().to_le_bytes());
    out.push(session.state.code());
    out.push(flags);
    if let Some(conn) = &session.connection_id {
        out.extend_from_slice(conn.as_bytes());
    }
    put_str(out, session.user_id.as_str());
    put_addr(out, &session.client_addr);
    put_addr(out, &session.server_addr);
    let s = &session.stats;
    for n in [
        s.packets_sent,
        s.packets_received,
        s.bytes_sent,
        s.bytes_received,
        s.retransmissions,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&s.current_rtt_ms.to_le_bytes());
    let count = u16::try_from(session.metadata.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&count.to_le_bytes());
    if !session.metadata.encode_entries(out) {
        for (k, v) in session.metadata.iter().take(usize::from(count)) {
            put_str(out, k);
            put_str(out, v);
        }
    }
}

fn put_addr(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&addr.port().to_le_bytes());
    if let SocketAddr::V6(a) = addr {
        if has_scope(addr) {
            out.extend_from_slice(&a.flowinfo().to_le_bytes());
            out.extend_from_slice(&a.scope_id().to_le_bytes());
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..usize::from(len)]);
}

/// Reads the fixed header of a record.
pub fn decode_header(bytes: &[u8]) -> Result<Header, CodecError> {
    let mut r = Reader { bytes, pos: 0 };
    r.format()?;
    let version = r.u64()?;
    let expires_at = Timestamp::from_millis(r.u64()?);
    let id = SessionId::from_bytes(r.array()?);
    Ok(Header {
        version,
        expires_at,
        id,
    })
}

/// Decodes a record. Any bytes that are not a well-formed format-1 record of a valid session
/// give a [`CodecError`].
pub fn decode(bytes: &[u8]) -> Result<Session, CodecError> {
    let mut r = Reader { bytes, pos: 0 };
    r.format()?;
    let version = r.u64()?;
    let expires_at = Timestamp::from_millis(r.u64()?);
    let id = SessionId::from_bytes(r.array()?);
    let created_at = Timestamp::from_millis(r.u64()?);
    let last_active_at = Timestamp::from_millis(r.u64()?);
    let state_at = r.pos;
    let state = SessionState::from_code(r.u8()?)
        .ok_or_else(|| CodecError::new("unknown state code", state_at))?;
    let flags_at = r.pos;
    let flags = r.u8()?;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(CodecError::new("unknown flag bits", flags_at));
    }
    let connection_id = if flags & FLAG_CONNECTION != 0 {
        Some(ConnectionId::from_bytes(r.array()?))
    } else {
        None
    };
    let user_at = r.pos;
    let user_id = UserId::new(r.str()?).map_err(|_| CodecError::new("invalid user id", user_at))?;
    for (v6, scope) in [
        (FLAG_CLIENT_V6, FLAG_CLIENT_V6_SCOPE),
        (FLAG_SERVER_V6, FLAG_SERVER_V6_SCOPE),
    ] {
        if flags & scope != 0 && flags & v6 == 0 {
            return Err(CodecError::new(
                "scope id flag on an IPv4 address",
                flags_at,
            ));
        }
    }
    let client_addr = r.addr(
        flags & FLAG_CLIENT_V6 != 0,
        flags & FLAG_CLIENT_V6_SCOPE != 0,
    )?;
    let server_addr = r.addr(
        flags & FLAG_SERVER_V6 != 0,
        flags & FLAG_SERVER_V6_SCOPE != 0,
    )?;
    let stats = Stats {
        packets_sent: r.u64()?,
        packets_received: r.u64()?,
        bytes_sent: r.u64()?,
        bytes_received: r.u64()?,
        retransmissions: r.u64()?,
        current_rtt_ms: u32::from_le_bytes(r.array()?),
    };
    let metadata = r.metadata()?;
    if r.pos != bytes.len() {
        return Err(CodecError::new("trailing bytes", r.pos));
    }
    Ok(Session {
        id,
        user_id,
        connection_id,
        client_addr,
        server_addr,
        state,
        created_at,
        last_active_at,
        expires_at,
        metadata,
        stats,
        version,
    })
}

/// A length-prefixed string's bytes (not yet checked for UTF-8) and what follows them.
#[inline]
fn split_str(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<2>()?;
    rest.split_at_checked(usize::from(u16::from_le_bytes(*len)))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| CodecError::new("truncated", self.pos))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let at = self.pos;
        self.take(N)?
            .try_into()
            .map_err(|_| CodecError::new("truncated", at))
    }

    fn format(&mut self) -> Result<(), CodecError> {
        match self.u8()? {
            FORMAT_V1 => Ok(()),
            _ => Err(CodecError::new("unknown format byte", 0)),
        }
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn str(&mut self) -> Result<&'a str, CodecError> {
        let len = usize::from(self.u16()?);
        let at = self.pos;
        std::str::from_utf8(self.take(len)?).map_err(|_| CodecError::new("invalid UTF-8", at))
    }

    /// The metadata section: entry count, then the entries, checked as
    /// [`validate_metadata`](crate::validate_metadata) checks them and for ascending keys.
    /// Metadata ends the record, so what follows the count is the entries: they are copied
    /// in one piece into the block [`Metadata`] keeps (one allocation), and each entry's
    /// lengths then overwritten as they are read. UTF-8 is checked once over the whole block;
    /// with every key and value starting on a character boundary, each of them is then valid
    /// UTF-8 too.
    fn metadata(&mut self) -> Result<Metadata, CodecError> {
        let at = self.pos;
        let beyond = || CodecError::new("metadata beyond limits", at);
        let count = usize::from(self.u16()?);
        if count > limits::METADATA_MAX_ENTRIES {
            return Err(beyond());
        }
        let entries = self.bytes.get(self.pos..).unwrap_or_default();
        let Some(text) = entries.len().checked_sub(4 * count) else {
            return Err(CodecError::new("truncated", self.bytes.len()));
        };
        if text > limits::METADATA_MAX_TOTAL_BYTES {
            return Err(self.oversized_metadata(count, at));
        }
        let mut ascii_keys = true;
        let built = BlockWriter::build(count, entries.len(), |block| {
            ascii_keys = block.fill_from_record(entries, count, self.pos, beyond())?;
            Ok(())
        })?;
        let metadata = built.ok_or_else(|| CodecError::new("invalid UTF-8", at))?;
        if !ascii_keys && metadata.keys().any(has_control) {
            return Err(beyond());
        }
        self.pos = self.bytes.len();
        Ok(metadata)
    }

    /// The error for a metadata section of more than the most text metadata may hold: the
    /// entries themselves are beyond the limits, or they are cut short, or they are followed
    /// by trailing bytes.
    #[cold]
    fn oversized_metadata(&self, count: usize, at: usize) -> CodecError {
        let mut rest = self.bytes.get(self.pos..).unwrap_or_default();
        let mut total = 0usize;
        for _ in 0..count {
            let Some((key, (value, r))) =
                split_str(rest).and_then(|(k, r)| Some((k, split_str(r)?)))
            else {
                return CodecError::new("truncated", self.bytes.len() - rest.len());
            };
            total += key.len() + value.len();
            rest = r;
        }
        if total > limits::METADATA_MAX_TOTAL_BYTES {
            CodecError::new("metadata beyond limits", at)
        } else {
            CodecError::new("trailing bytes", self.bytes.len() - rest.len())
        }
    }

    fn addr(&mut self, v6: bool, scope: bool) -> Result<SocketAddr, CodecError> {
        if !v6 {
            let ip = Ipv4Addr::from(self.array::<4>()?);
            return Ok(SocketAddr::new(IpAddr::V4(ip), self.u16()?));
        }
        let ip = Ipv6Addr::from(self.array::<16>()?);
        let port = self.u16()?;
        if !scope {
            return Ok(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0)));
        }
        let at = self.pos;
        let flowinfo = u32::from_le_bytes(self.array()?);
        let scope_id = u32::from_le_bytes(self.array()?);
        if flowinfo == 0 && scope_id == 0 {
            // Not how the encoder writes it: one session, one encoding.
            return Err(CodecError::new("empty flowinfo and scope id", at));
        }
        Ok(SocketAddr::V6(SocketAddrV6::new(
            ip, port, flowinfo, scope_id,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample() -> Session {
        Session::builder(
            UserId::new("user-42").unwrap(),
            Timestamp::from_millis(1_700_000_000_000),
            Duration::from_secs(1800),
        )
        .connection_id(ConnectionId::new())
        .client_addr("192.168.1.100:54321".parse().unwrap())
        .server_addr("[2001:db8::1]:8443".parse().unwrap())
        .state(SessionState::Active)
        .metadata("device", "ios")
        .metadata("region", "eu-west")
        .stats(Stats {
            packets_sent: 1,
            packets_received: 2,
            bytes_sent: 3,
            bytes_received: 4,
            retransmissions: 5,
            current_rtt_ms: 6,
        })
        .build()
    }

    #[test]
    fn round_trip_and_header() {
        let mut s = sample();
        s.version = 7;
        let bytes = encode(&s);
        assert_eq!(bytes.len(), encoded_len(&s));
        assert_eq!(decode(&bytes), Ok(s.clone()));
        let h = decode_header(&bytes).unwrap();
        assert_eq!((h.version, h.expires_at, h.id), (7, s.expires_at, s.id));
        s.connection_id = None;
        s.metadata.clear();
        assert_eq!(decode(&encode(&s)), Ok(s.clone()));
        // IPv6 flowinfo and scope id survive, on either address.
        s.client_addr = "[fe80::1%7]:443".parse().unwrap();
        s.server_addr = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 0x12345, 0));
        let bytes = encode(&s);
        assert_eq!(bytes.len(), encoded_len(&s));
        assert_eq!(decode(&bytes), Ok(s));
    }

    #[test]
    fn every_truncation_and_every_byte_flip_is_an_error_or_a_valid_session() {
        let bytes = encode(&sample());
        for len in 0..bytes.len() {
            assert!(
                decode(&bytes[..len]).is_err(),
                "prefix of {len} bytes decoded"
            );
        }
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                // Must not panic; if it decodes, it must re-encode to the same bytes.
                if let Ok(s) = decode(&b) {
                    assert_eq!(encode(&s), b);
                }
            }
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(decode(&long).map_err(|e| e.reason()), Err("trailing bytes"));
        assert!(decode(&[]).is_err());
        assert!(decode(&[2; 200]).is_err());
    }

    #[test]
    fn a_character_split_between_a_key_and_its_value_is_invalid_utf8() {
        let mut s = sample();
        s.metadata = [("ab".to_owned(), "c".to_owned())].into();
        let mut bytes = encode(&s);
        let n = bytes.len();
        assert_eq!(&bytes[n - 9..], &[1, 0, 2, 0, b'a', b'b', 1, 0, b'c']);
        // Key "a\xC3", value "\xA9": together "aé", each alone not UTF-8.
        bytes[n - 4] = 0xc3;
        bytes[n - 1] = 0xa9;
        assert_eq!(decode(&bytes).map_err(|e| e.reason()), Err("invalid UTF-8"));
        // A control character in a non-ASCII key is still refused.
        s.metadata = [("é\u{85}".to_owned(), String::new())].into();
        assert_eq!(
            decode(&encode(&s)).map_err(|e| e.reason()),
            Err("metadata beyond limits")
        );
        s.metadata = [("é".to_owned(), "\u{85}".to_owned())].into();
        assert_eq!(decode(&encode(&s)), Ok(s));
    }

    #[test]
    fn invalid_user_id_and_unsorted_metadata_are_refused() {
        let s = sample();
        let mut bytes = encode(&s);
        // Poison the user id's first byte with a control character.
        let user_at = FIXED_LEN + 16 + 2;
        assert_eq!(&bytes[user_at..user_at + 7], b"user-42");
        bytes[user_at] = b'\n';
        assert_eq!(
            decode(&bytes).map_err(|e| e.reason()),
            Err("invalid user id")
        );
    }

    #[test]
    fn oversized_metadata_sections_get_the_right_error() {
        let mut s = sample();
        s.metadata = [("k".to_owned(), "v".to_owned())].into();
        let mut bytes = encode(&s);
        let end = bytes.len();
        // Valid metadata, then more trailing bytes than metadata may hold.
        bytes.resize(end + limits::METADATA_MAX_TOTAL_BYTES + 1, b'x');
        let e = decode(&bytes).unwrap_err();
        assert_eq!((e.reason(), e.offset()), ("trailing bytes", end));
        // Entries beyond the total limit.
        s.metadata = (0..17)
            .map(|i| (format!("k{i:02}"), "v".repeat(1000)))
            .collect();
        assert_eq!(
            decode(&encode(&s)).map_err(|e| e.reason()),
            Err("metadata beyond limits")
        );
        // Entries cut short, with plenty of bytes after the count.
        let mut bytes = encode(&s);
        bytes.truncate(bytes.len() - 1);
        assert_eq!(decode(&bytes).map_err(|e| e.reason()), Err("truncated"));
    }

    #[test]
    fn metadata_encodes_as_entry_by_entry() {
        let mut s = sample();
        let maps: [Vec<(String, String)>; 4] = [
            vec![],
            vec![("k".into(), String::new())],
            vec![
                ("a".into(), "é".repeat(300)),
                ("b\u{e9}".into(), "x".into()),
            ],
            (0..64)
                .map(|i| (format!("k{i:02}"), "v".repeat(i * 3)))
                .collect(),
        ];
        for entries in maps {
            s.metadata = entries.iter().cloned().collect();
            let mut want = encode(&Session {
                metadata: Metadata::new(),
                ..s.clone()
            });
            want.truncate(want.len() - 2);
            want.extend_from_slice(&(entries.len() as u16).to_le_bytes());
            for (k, v) in &entries {
                put_str(&mut want, k);
                put_str(&mut want, v);
            }
            assert_eq!(encode(&s), want);
            assert_eq!(decode(&want), Ok(s.clone()));
        }
        // Beyond what a record's lengths hold (so beyond the limits too): truncated entry by
        // entry, as before, and refused by decoding.
        s.metadata = [("k".to_owned(), "v".repeat(70_000))].into();
        let bytes = encode(&s);
        assert_eq!(
            &bytes[bytes.len() - 65_535 - 2..][..2],
            &u16::MAX.to_le_bytes()
        );
        assert!(decode(&bytes).is_err());
    }
}
