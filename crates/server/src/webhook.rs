//! Signed webhook deliveries, per the Standard Webhooks specification: a secret `whsec_` + base64
//! of at least 24 random bytes; each delivery carries `webhook-id`, `webhook-timestamp` (Unix
//! seconds) and `webhook-signature: v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit as _, Mac as _};
use zeroize::Zeroizing;

/// The prefix of a secret's text.
pub const SECRET_PREFIX: &str = "whsec_";
/// Fewest key bytes accepted (the specification's generators make 24 to 64).
pub const MIN_KEY_BYTES: usize = 24;

/// A signing secret; never printed.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Why a secret's text was refused (never quoting it).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// Not `whsec_` + base64.
    #[error("a webhook secret is whsec_ followed by base64")]
    Format,
    /// Too short to be a key.
    #[error("a webhook secret holds at least {MIN_KEY_BYTES} bytes")]
    Short,
}

impl Secret {
    /// Parses `whsec_…`.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let b64 = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Format)?;
        let key = Zeroizing::new(B64.decode(b64).map_err(|_| SecretError::Format)?);
        if key.len() < MIN_KEY_BYTES {
            return Err(SecretError::Short);
        }
        Ok(Self(key))
    }

    /// A secret of `key` (for example a KMS data key).
    pub fn from_key(key: Zeroizing<Vec<u8>>) -> Self {
        Self(key)
    }

    /// Its text, `whsec_` + base64, to show once.
    pub fn text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{SECRET_PREFIX}{}", B64.encode(&*self.0)))
    }

    /// A new random secret (32 bytes) and its text, to show once.
    pub fn generate() -> (Self, Zeroizing<String>) {
        let secret = Self(Zeroizing::new(rand::random::<[u8; 32]>().to_vec()));
        let text = secret.text();
        (secret, text)
    }

    /// The `webhook-signature` value for a delivery.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The specification's example secret, id and timestamp; the signature as the reference
    /// library (`standardwebhooks` 1.3.0 on PyPI) computes it for this body.
    #[test]
    fn signs_as_the_reference_library_does() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52-5198-4599-803e-771906343485","type":"contact"}}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,2csYhO6DE+ON4sTEaWR5zxNH19RBXckt40TJtrQ0QgU="
        );
    }

    #[test]
    fn refuses_what_is_not_a_secret() {
        assert_eq!(
            Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SecretError::Format
        );
        assert_eq!(Secret::parse("whsec_!!!").unwrap_err(), SecretError::Format);
        assert_eq!(
            Secret::parse("whsec_c2hvcnQ=").unwrap_err(),
            SecretError::Short
        );
        let (s, text) = Secret::generate();
        assert!(text.starts_with(SECRET_PREFIX));
        assert_eq!(
            Secret::parse(&text).unwrap().sign("a", 1, b"b"),
            s.sign("a", 1, b"b")
        );
        assert!(!format!("{s:?}").contains(&text[6..12]));
    }
}
