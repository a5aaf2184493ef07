//! Share links, two of two: a file's data key sealed under the key in a link's fragment and bound
//! to the link's id, and the fragment that carries the link's secrets.
//!
//! A link is `{origin}/s/#t={token}&k={link key}`: browsers never send a fragment, so the server,
//! proxies and scanners only ever see `/s/`. The token (sent by the recipient's page in a request
//! body) lets the server count a download and hand back the sealed key; the link key opens it. The
//! server alone (it keeps the sealed key, itself encrypted by KMS) or the link alone (its key
//! opens nothing without the server's sealed key) decrypts nothing.
//!
//! Sealed key ([`SEALED_LINK_KEY_LEN`] bytes): `0x01 ‖ nonce (12) ‖ AES-256-GCM(data key) (32) ‖
//! tag (16)`. The AES key is HKDF-SHA256(link key, info = [`LINK_LABEL`]), so the fragment's key is
//! never used directly; the AAD is [`LINK_LABEL`] ‖ 0 ‖ share id, so a sealed key cannot be moved
//! to another link.

use core::fmt;

use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::aead::{IV_LEN, TAG_LEN, gcm_open, gcm_seal, inout};
use crate::error::{Error, Result};
use crate::keys::{DataKey, KEY_LEN};

/// The label of the sealing key's derivation and of the AAD.
pub const LINK_LABEL: &[u8] = b"cipherdrop/share-key/v1";
/// Length of a link key, in bytes.
pub const LINK_KEY_LEN: usize = 32;
/// Length of a sealed data key, in bytes.
pub const SEALED_LINK_KEY_LEN: usize = 1 + IV_LEN + KEY_LEN + TAG_LEN;
/// Longest token a fragment may carry, in characters (tokens are 43).
pub const MAX_TOKEN_LEN: usize = 128;
const VERSION: u8 = 1;

/// The key in a link's fragment. Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LinkKey([u8; LINK_KEY_LEN]);

impl LinkKey {
    /// A fresh random link key.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut k = [0u8; LINK_KEY_LEN];
        rng.fill_bytes(&mut k);
        Self(k)
    }

    /// Wraps 32 key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; LINK_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| Error::InvalidArgument("a link key must be 32 bytes"))?;
        Ok(Self(arr))
    }

    /// The key bytes (for sealing the link's own metadata).
    pub fn as_bytes(&self) -> &[u8; LINK_KEY_LEN] {
        &self.0
    }

    fn cipher(&self) -> Aes256Gcm {
        let mut okm = Zeroizing::new([0u8; KEY_LEN]);
        // 32 bytes is far below HKDF-SHA256's 255 * 32 byte maximum, so expand cannot fail.
        let _ = Hkdf::<Sha256>::new(None, &self.0).expand(LINK_LABEL, &mut okm[..]);
        Aes256Gcm::new((&*okm).into())
    }
}

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkKey(<redacted>)")
    }
}

fn aad(share_id: &str) -> Vec<u8> {
    let mut aad = LINK_LABEL.to_vec();
    aad.push(0);
    aad.extend_from_slice(share_id.as_bytes());
    aad
}

/// Seals `data_key` for link `share_id` under `link_key`.
pub fn seal_for_link<R: rand_core::CryptoRng + ?Sized>(
    data_key: &DataKey,
    link_key: &LinkKey,
    share_id: &str,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let mut nonce = [0u8; IV_LEN];
    rng.fill_bytes(&mut nonce);
    let mut body = [0u8; KEY_LEN];
    let tag = gcm_seal(
        &link_key.cipher(),
        &nonce,
        &aad(share_id),
        inout(data_key.as_bytes(), &mut body)?,
    )?;
    let mut out = Vec::with_capacity(SEALED_LINK_KEY_LEN);
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens what [`seal_for_link`] sealed. A wrong key, another link's id or altered bytes are all
/// [`Error::Authentication`]; a wrong length or version is [`Error::Malformed`].
pub fn open_from_link(sealed: &[u8], link_key: &LinkKey, share_id: &str) -> Result<DataKey> {
    let malformed = Error::Malformed("a sealed link key is 61 bytes of version 1");
    let Some((&VERSION, rest)) = sealed.split_first() else {
        return Err(malformed);
    };
    if sealed.len() != SEALED_LINK_KEY_LEN {
        return Err(malformed);
    }
    let (nonce, rest) = rest.split_at(IV_LEN);
    let (body, tag) = rest.split_at(KEY_LEN);
    let nonce: [u8; IV_LEN] = nonce
        .try_into()
        .map_err(|_| Error::Malformed("sealed link key nonce"))?;
    let tag: [u8; TAG_LEN] = tag
        .try_into()
        .map_err(|_| Error::Malformed("sealed link key tag"))?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    gcm_open(
        &link_key.cipher(),
        &nonce,
        &aad(share_id),
        inout(body, &mut key[..])?,
        &tag,
    )?;
    DataKey::from_bytes(&key[..])
}

/// The secrets of a link: its token (for the server) and its key (for the recipient's page).
#[derive(Clone, Debug)]
pub struct LinkSecret {
    /// The token the server knows by its hash.
    pub token: Zeroizing<String>,
    /// The key that opens the sealed data key and the link's sealed name.
    pub key: LinkKey,
}

impl LinkSecret {
    /// The fragment, without `#`: `t={token}&k={key}`.
    pub fn fragment(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "t={}&k={}",
            self.token.as_str(),
            Zeroizing::new(B64URL.encode(self.key.as_bytes())).as_str()
        ))
    }

    /// Reads a fragment (with or without its `#`). `None` unless it holds exactly one
    /// URL-safe token and one 32-byte key.
    pub fn parse(fragment: &str) -> Option<Self> {
        let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        let (mut token, mut key) = (None, None);
        for pair in fragment.split('&') {
            match pair.split_once('=') {
                Some(("t", t)) if token.is_none() => token = Some(t),
                Some(("k", k)) if key.is_none() => key = Some(k),
                _ => return None,
            }
        }
        let token = token?;
        let token_ok = !token.is_empty()
            && token.len() <= MAX_TOKEN_LEN
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !token_ok {
            return None;
        }
        let key = Zeroizing::new(B64URL.decode(key?).ok()?);
        Some(Self {
            token: Zeroizing::new(token.to_owned()),
            key: LinkKey::from_bytes(&key).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn rng() -> rand::rngs::ThreadRng {
        rand::rng()
    }

    #[test]
    fn sealed_key_opens_only_with_its_key_and_link() {
        let data_key = DataKey::generate(&mut rng());
        let link = LinkKey::generate(&mut rng());
        let sealed = seal_for_link(&data_key, &link, "share-1", &mut rng()).unwrap();
        assert_eq!(sealed.len(), SEALED_LINK_KEY_LEN);
        assert!(
            !sealed
                .windows(KEY_LEN)
                .any(|w| w == data_key.as_bytes().as_slice()),
            "the data key is not in the sealed bytes"
        );
        let opened = open_from_link(&sealed, &link, "share-1").unwrap();
        assert_eq!(opened.as_bytes(), data_key.as_bytes());
        // Another link's id, another key, any flipped bit: the one opaque error.
        assert_eq!(
            open_from_link(&sealed, &link, "share-2").unwrap_err(),
            Error::Authentication
        );
        let other = LinkKey::generate(&mut rng());
        assert_eq!(
            open_from_link(&sealed, &other, "share-1").unwrap_err(),
            Error::Authentication
        );
        for i in 1..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(
                open_from_link(&bad, &link, "share-1").unwrap_err(),
                Error::Authentication,
                "byte {i}"
            );
        }
        // Wrong version or length: malformed, said as such.
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert!(matches!(
            open_from_link(&v2, &link, "share-1"),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            open_from_link(&sealed[..60], &link, "share-1"),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            open_from_link(&[], &link, "share-1"),
            Err(Error::Malformed(_))
        ));
        // Two seals of one key differ (fresh nonce).
        let again = seal_for_link(&data_key, &link, "share-1", &mut rng()).unwrap();
        assert_ne!(sealed, again);
    }

    #[test]
    fn fragments_round_trip_and_refuse_anything_else() {
        let secret = LinkSecret {
            token: Zeroizing::new("AbC-_09".repeat(6) + "x"),
            key: LinkKey::generate(&mut rng()),
        };
        let fragment = secret.fragment();
        for f in [fragment.to_string(), format!("#{}", fragment.as_str())] {
            let back = LinkSecret::parse(&f).unwrap();
            assert_eq!(back.token, secret.token);
            assert_eq!(back.key.as_bytes(), secret.key.as_bytes());
        }
        let k = B64URL.encode([7u8; 32]);
        for bad in [
            String::new(),
            "k=".to_owned() + &k,
            "t=abc".to_owned(),
            format!("t=abc&k={k}&t=def"),
            format!("t=abc&k={k}&x=1"),
            format!("t=a/c&k={k}"),
            format!("t=&k={k}"),
            format!("t={}&k={k}", "a".repeat(MAX_TOKEN_LEN + 1)),
            format!("t=abc&k={}", B64URL.encode([7u8; 31])),
            "t=abc&k=%%%".to_owned(),
            format!("k={k}"),
        ] {
            assert!(LinkSecret::parse(&bad).is_none(), "{bad}");
        }
        // Key first is fine.
        assert!(LinkSecret::parse(&format!("k={k}&t=abc")).is_some());
    }

    #[test]
    fn secrets_are_not_printed() {
        let secret = LinkSecret {
            token: Zeroizing::new("tok".into()),
            key: LinkKey::from_bytes(&[9u8; 32]).unwrap(),
        };
        let printed = format!("{:?}", secret.key);
        assert_eq!(printed, "LinkKey(<redacted>)");
    }
}
