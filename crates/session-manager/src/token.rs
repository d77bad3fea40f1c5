//! Client tokens: `<session id>.<secret>`, of which the session keeps only a hash.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use session_core::{Error, Result, SessionId};

/// The metadata key under which a managed session keeps the SHA-256 of its token's secret
/// (lowercase hex). [`SessionManager::update_session`](crate::SessionManager::update_session)
/// refuses to set, change or remove it.
pub const TOKEN_HASH_KEY: &str = "session_manager.token_sha256";

/// Bytes of randomness in a token's secret (256 bits).
pub(crate) const SECRET_BYTES: usize = 32;

/// The longest text [`SessionToken::parse`] looks at: a hyphenated UUID, a dot and the hex
/// secret. Anything longer is refused before it is parsed.
const MAX_TOKEN_LEN: usize = 36 + 1 + 2 * SECRET_BYTES;

/// The opaque credential a client presents: `<session id>.<secret>`, where the session id is
/// the hyphenated UUID and the secret 32 random bytes from the OS in lowercase hex (64
/// characters, 256 bits).
///
/// The store never sees the secret: the session keeps `SHA-256(session id bytes || secret)`
/// under [`TOKEN_HASH_KEY`], and a presented token is checked by hashing it again and
/// comparing in constant time. A leaked store dump therefore holds nothing that can be
/// replayed, and finding a session by token needs no extra index (the id is in the token).
///
/// `Debug` hides the secret; use [`SessionToken::as_str`] to hand the token to the client.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken {
    text: String,
    id: SessionId,
}

impl SessionToken {
    /// A fresh token for session `id`, and the hash the session stores.
    pub(crate) fn generate(id: SessionId) -> Result<(Self, String)> {
        let mut secret = [0u8; SECRET_BYTES];
        getrandom::fill(&mut secret).map_err(Error::backend)?;
        let hash = hex(&digest(&id, &secret));
        let text = format!("{id}.{}", hex(&secret));
        Ok((SessionToken { text, id }, hash))
    }

    /// Parses a token's text. Anything that is not `<hyphenated uuid>.<64 hex digits>` is
    /// [`Error::InvalidInput`] with field `"token"`; this never panics.
    pub fn parse(text: &str) -> Result<Self> {
        let (id, _) = split(text)?;
        Ok(SessionToken {
            text: text.to_owned(),
            id,
        })
    }

    /// The session the token names.
    pub fn session_id(&self) -> SessionId {
        self.id
    }

    /// The token's text, for the client.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The token's text, for the client.
    pub fn into_string(self) -> String {
        self.text
    }

    /// True if this token's secret hashes to `stored_hash` (the value under
    /// [`TOKEN_HASH_KEY`]), compared in constant time.
    pub(crate) fn matches(&self, stored_hash: &str) -> bool {
        let Ok((id, secret)) = split(&self.text) else {
            return false;
        };
        let Some(stored) = unhex::<32>(stored_hash) else {
            return false;
        };
        digest(&id, &secret).ct_eq(&stored).into()
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionToken({}.***)", self.id)
    }
}

fn split(text: &str) -> Result<(SessionId, [u8; SECRET_BYTES])> {
    let bad = || Error::invalid("token", "not <session id>.<64 hex digits>");
    if text.len() > MAX_TOKEN_LEN {
        return Err(bad());
    }
    let (id, secret) = text.split_once('.').ok_or_else(bad)?;
    if id.len() != 36 {
        return Err(bad());
    }
    let id = SessionId::parse(id).map_err(|_| bad())?;
    let secret = unhex::<SECRET_BYTES>(secret).ok_or_else(bad)?;
    Ok((id, secret))
}

fn digest(id: &SessionId, secret: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(id.as_bytes());
    h.update(secret);
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *slot = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_match_only_their_hash() {
        let id = SessionId::new();
        let (token, hash) = SessionToken::generate(id).unwrap();
        assert_eq!(token.as_str().len(), MAX_TOKEN_LEN);
        let parsed = SessionToken::parse(token.as_str()).unwrap();
        assert_eq!(parsed.session_id(), id);
        assert!(parsed.matches(&hash));
        let (other, other_hash) = SessionToken::generate(id).unwrap();
        assert_ne!(other, token);
        assert!(!parsed.matches(&other_hash));
        assert!(!parsed.matches("not hex"));
        assert!(!format!("{token:?}").contains(&token.as_str()[37..]));
    }

    #[test]
    fn malformed_tokens_are_invalid_input() {
        let id = SessionId::new();
        let good_secret = "ab".repeat(SECRET_BYTES);
        for text in [
            String::new(),
            ".".into(),
            format!("{id}"),
            format!("{id}."),
            format!("{id}.{}", "AB".repeat(SECRET_BYTES)),
            format!("{id}.{}", "zz".repeat(SECRET_BYTES)),
            format!("{id}.{}", "ab".repeat(SECRET_BYTES - 1)),
            format!("{}.{good_secret}", id.as_uuid().simple()),
            format!("not-a-uuid-not-a-uuid-not-a-uuid-xx.{good_secret}"),
            format!("{id}.{good_secret}.x"),
            "é".repeat(40),
            "x".repeat(1 << 20),
        ] {
            let e = SessionToken::parse(&text).unwrap_err();
            assert!(
                matches!(e, Error::InvalidInput { field: "token", .. }),
                "{text:.50}: {e:?}"
            );
        }
        assert!(SessionToken::parse(&format!("{id}.{good_secret}")).is_ok());
    }
}
