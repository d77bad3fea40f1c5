//! Identifiers: session ids (UUIDv7), connection ids (UUID) and validated user ids.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use uuid::Uuid;

use crate::error::Error;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(transparent))]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The 16 bytes of the UUID, big-endian as in its text form.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// Rebuilds an id from the 16 bytes returned by [`Self::as_bytes`].
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }

            /// Parses the one text form an id has, the one it prints as: hyphenated, lower
            /// case (`0190b0a0-0000-7000-8000-00000000000b`). Anything else, including the
            /// other spellings of the same UUID (upper case, braces, `urn:uuid:`, no
            /// hyphens), is [`Error::InvalidInput`] naming this field, so that an id from
            /// outside (a token, a path) names a session in one spelling only.
            pub fn parse(text: &str) -> Result<Self, Error> {
                let bad = || Error::invalid($field, "not a lower-case hyphenated UUID");
                if text.len() != uuid::fmt::Hyphenated::LENGTH {
                    return Err(bad());
                }
                let uuid = Uuid::try_parse(text).map_err(|_| bad())?;
                let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
                if uuid.hyphenated().encode_lower(&mut buf).as_bytes() != text.as_bytes() {
                    return Err(bad());
                }
                Ok(Self(uuid))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(text: &str) -> Result<Self, Error> {
                Self::parse(text)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// A session's id: a UUIDv7, so ids sort by creation time and [`SessionId::new`] never
    /// needs coordination between instances.
    SessionId,
    "session_id"
);

uuid_id!(
    /// The id of the transport connection a session rides on. At most one live session holds
    /// a given connection id.
    ConnectionId,
    "connection_id"
);

impl SessionId {
    /// A fresh UUIDv7 session id.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl ConnectionId {
    /// A fresh random (v7) connection id.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

/// A validated user id: 1 to [`UserId::MAX_BYTES`] bytes of UTF-8 with no control characters.
///
/// Cloning is cheap (a shared, immutable string), so stores can index by it without copying.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(Arc<str>);

impl UserId {
    /// The longest user id accepted, in bytes.
    pub const MAX_BYTES: usize = 256;

    /// Validates and wraps `id`.
    ///
    /// ```
    /// use session_core::UserId;
    /// assert!(UserId::new("alice@example.com").is_ok());
    /// assert!(UserId::new("").is_err());
    /// assert!(UserId::new("bad\nid").is_err());
    /// ```
    pub fn new(id: impl AsRef<str>) -> Result<Self, Error> {
        let id = id.as_ref();
        Self::check(id)?;
        Ok(Self(Arc::from(id)))
    }

    pub(crate) fn check(id: &str) -> Result<(), Error> {
        if id.is_empty() {
            return Err(Error::invalid("user_id", "empty"));
        }
        if id.len() > Self::MAX_BYTES {
            return Err(Error::invalid("user_id", "longer than 256 bytes"));
        }
        if crate::model::has_control(id) {
            return Err(Error::invalid("user_id", "contains a control character"));
        }
        Ok(())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({:?})", &*self.0)
    }
}

impl FromStr for UserId {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        Self::new(text)
    }
}

impl TryFrom<&str> for UserId {
    type Error = Error;
    fn try_from(text: &str) -> Result<Self, Error> {
        Self::new(text)
    }
}

impl TryFrom<String> for UserId {
    type Error = Error;
    fn try_from(text: String) -> Result<Self, Error> {
        Self::new(text)
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for UserId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for UserId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        UserId::new(&*text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_limits() {
        assert!(UserId::new("a".repeat(256)).is_ok());
        assert!(UserId::new("a".repeat(257)).is_err());
        assert!(UserId::new("\u{7f}").is_err());
        assert!(UserId::new("tab\there").is_err());
        assert!(UserId::new("{weird}:*ok").is_ok());
        assert!(UserId::new("üser").is_ok());
    }

    #[test]
    fn session_ids_are_v7_and_ordered() {
        let a = SessionId::new();
        let b = SessionId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b);
        assert_eq!(SessionId::parse(&a.to_string()).ok(), Some(a));
        assert!(SessionId::parse("not-a-uuid").is_err());
    }
}
