//! The service's own SigV4 key pair: generated on first start, stored as `credentials.json`.

use std::path::Path;

use zeroize::Zeroizing;

use crate::store::write_atomic;

/// The service's SigV4 credentials (generated on first start, stored with mode 0600).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl Credentials {
    /// Reads the credentials stored at `path`, or makes fresh random ones and stores them there
    /// (atomically, mode 0600).
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let c = Credentials {
                    access_key_id: format!(
                        "AKIA{}",
                        random_token(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
                    ),
                    secret_access_key: random_token(
                        40,
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                    ),
                };
                let bytes =
                    Zeroizing::new(serde_json::to_vec_pretty(&c).map_err(std::io::Error::other)?);
                write_atomic(path, &bytes)?;
                Ok(c)
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for Credentials {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_access_key);
    }
}

/// `len` random characters of `alphabet`, built in wiped buffers (the result is one allocation
/// of exactly `len` bytes, so no reallocation leaves a piece of a secret behind).
fn random_token(len: usize, alphabet: &[u8]) -> String {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes[..]);
    let mut out = String::with_capacity(len);
    for b in bytes.iter() {
        if let Some(c) = alphabet.get(usize::from(*b) % alphabet.len()) {
            out.push(char::from(*c));
        }
    }
    out
}
