//! The encryption context: UTF-8 key-value pairs, serialized in UTF-8 byte order and authenticated.

use std::collections::BTreeMap;

use crate::codec::{ReadError, ReadResult, Reader, put_u16_prefixed};
use crate::error::{Error, Result};

/// Keys starting with this prefix are reserved for the SDK itself; callers may not set them.
pub const RESERVED_PREFIX: &str = "aws-crypto-";
/// The context key under which signed suites carry the base64 SEC1-compressed verification key.
pub const PUBLIC_KEY_FIELD: &str = "aws-crypto-public-key";
/// Largest serialized context (its length travels in a `u16`).
pub const MAX_SERIALIZED_CONTEXT_LEN: usize = u16::MAX as usize;

/// An encryption context. `String`'s ordering is byte-wise, so iteration is UTF-8 byte order.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a pair.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// The value for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Removes a pair, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// Pairs in UTF-8 byte order of their keys.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Refuses keys in the reserved `aws-crypto-` namespace (callers may not set them on encrypt).
    pub fn check_no_reserved_keys(&self) -> Result<()> {
        if self.0.keys().any(|k| k.starts_with(RESERVED_PREFIX)) {
            return Err(Error::InvalidContext(
                "keys starting with \"aws-crypto-\" are reserved for the SDK",
            ));
        }
        Ok(())
    }

    /// The specification's serialization: empty for an empty context, else a `u16` pair count and
    /// `u16`-length-prefixed keys and values, sorted by the UTF-8 bytes of the keys.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        if self.0.is_empty() {
            return Ok(out);
        }
        let count = u16::try_from(self.0.len())
            .map_err(|_| Error::InvalidContext("more than 65535 pairs"))?;
        out.extend_from_slice(&count.to_be_bytes());
        for (k, v) in &self.0 {
            put_u16_prefixed(&mut out, k.as_bytes())
                .map_err(|_| Error::InvalidContext("a key is longer than 65535 bytes"))?;
            put_u16_prefixed(&mut out, v.as_bytes())
                .map_err(|_| Error::InvalidContext("a value is longer than 65535 bytes"))?;
            if out.len() > MAX_SERIALIZED_CONTEXT_LEN {
                return Err(Error::InvalidContext(
                    "serialized context is longer than 65535 bytes",
                ));
            }
        }
        Ok(out)
    }

    /// Parses a serialized context (the header's AAD field). Duplicate keys are refused.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        match Self::read(bytes) {
            Ok(ctx) => Ok(ctx),
            Err(ReadError::Invalid(e)) => Err(e),
            Err(ReadError::Short(_)) => Err(Error::Malformed("encryption context is cut short")),
        }
    }

    fn read(bytes: &[u8]) -> ReadResult<Self> {
        let mut map = BTreeMap::new();
        if bytes.is_empty() {
            return Ok(Self(map));
        }
        let mut r = Reader::new(bytes);
        let count = r.u16()?;
        if count == 0 {
            return Err(Error::Malformed("encryption context with a pair count of 0").into());
        }
        for _ in 0..count {
            let k = utf8(r.u16_prefixed()?)?;
            let v = utf8(r.u16_prefixed()?)?;
            if map.insert(k, v).is_some() {
                return Err(Error::Malformed("duplicate key in the encryption context").into());
            }
        }
        if r.remaining() != 0 {
            return Err(Error::Malformed("bytes after the encryption context pairs").into());
        }
        Ok(Self(map))
    }
}

fn utf8(bytes: &[u8]) -> ReadResult<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ReadError::Invalid(Error::Malformed("encryption context is not UTF-8")))
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn empty_context_serializes_to_nothing() {
        assert_eq!(EncryptionContext::new().serialize(), Ok(vec![]));
        assert_eq!(EncryptionContext::parse(&[]), Ok(EncryptionContext::new()));
    }

    #[test]
    fn pairs_are_sorted_by_utf8_bytes_not_utf16() {
        // U+FF61 (EF BD A1 in UTF-8) sorts after U+10000 (F0 90 80 80) in UTF-16 order but
        // before it in UTF-8 byte order.
        let ctx: EncryptionContext = [("\u{10000}", "b"), ("\u{FF61}", "a"), ("z", "c")]
            .into_iter()
            .collect();
        let ser = ctx.serialize().expect("serializes");
        let keys: Vec<_> = ctx.iter().map(|(k, _)| k.to_owned()).collect();
        assert_eq!(keys, ["z", "\u{FF61}", "\u{10000}"]);
        assert_eq!(&ser[..2], &[0, 3]);
        assert_eq!(&ser[2..5], &[0, 1, b'z']);
        assert_eq!(EncryptionContext::parse(&ser), Ok(ctx));
    }

    #[test]
    fn reserved_prefix_is_refused() {
        let ctx: EncryptionContext = [("aws-crypto-public-key", "x")].into_iter().collect();
        assert!(matches!(
            ctx.check_no_reserved_keys(),
            Err(Error::InvalidContext(_))
        ));
    }

    #[test]
    fn oversized_context_is_an_error_not_a_panic() {
        let ctx: EncryptionContext = [("k", "v".repeat(70_000))].into_iter().collect();
        assert!(matches!(ctx.serialize(), Err(Error::InvalidContext(_))));
        let ctx: EncryptionContext = (0..20_000).map(|i| (format!("{i:06}"), "v")).collect();
        assert!(matches!(ctx.serialize(), Err(Error::InvalidContext(_))));
    }

    #[test]
    fn malformed_contexts_are_refused() {
        assert!(EncryptionContext::parse(&[0, 0]).is_err());
        assert!(EncryptionContext::parse(&[0, 1, 0, 1, b'a']).is_err());
        assert!(EncryptionContext::parse(&[0, 1, 0, 1, 0xff, 0, 0]).is_err());
        let dup = [0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a', 0, 0];
        assert!(EncryptionContext::parse(&dup).is_err());
        assert!(EncryptionContext::parse(&[0, 1, 0, 1, b'a', 0, 0, 9]).is_err());
    }
}
