//! The ciphertext blob: versioned, names the key and its backing-key version, AES-256-GCM with the
//! encryption context bound as AAD.
//!
//! Layout: `01 ‖ key id (16, UUID) ‖ material version (u32 BE) ‖ IV (12) ‖ ciphertext ‖ tag (16)`.
//! AAD: the first 21 bytes ‖ the context serialized as `u32 count ‖ (u32 len ‖ key ‖ u32 len ‖
//! value)*` in key byte order, so `{"ab":"c"}` and `{"a":"bc"}` differ.

use std::collections::BTreeMap;

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
use uuid::Uuid;

const VERSION: u8 = 1;
const PREFIX_LEN: usize = 1 + 16 + 4;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Largest plaintext KMS encrypts (`Encrypt`, and data keys).
pub const MAX_PLAINTEXT: usize = 4096;

/// What a blob says before it is decrypted.
pub struct BlobHeader {
    /// The key that made it.
    pub key_id: Uuid,
    /// Which backing key of that key.
    pub material_version: u32,
}

fn serialize_context(ctx: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(ctx.len() as u32).to_be_bytes());
    for (k, v) in ctx {
        for s in [k, v] {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

fn aad(prefix: &[u8], ctx: &BTreeMap<String, String>) -> Vec<u8> {
    [prefix, &serialize_context(ctx)].concat()
}

/// Encrypts `plaintext` under backing key `material`.
pub fn seal(
    key_id: Uuid,
    material_version: u32,
    material: &[u8; 32],
    plaintext: &[u8],
    ctx: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX_LEN + IV_LEN + plaintext.len() + TAG_LEN);
    out.push(VERSION);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&material_version.to_be_bytes());
    let mut iv = [0u8; IV_LEN];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut iv);
    let aad = aad(&out, ctx);
    out.extend_from_slice(&iv);
    let start = out.len();
    out.extend_from_slice(plaintext);
    let cipher = Aes256Gcm::new(material.into());
    let buf = InOutBuf::from(out.get_mut(start..).unwrap_or_default());
    match cipher.encrypt_inout_detached(&iv.into(), &aad, buf) {
        Ok(tag) => out.extend_from_slice(&tag),
        // Only reachable for plaintexts of gigabytes, which callers cap at 4096 bytes.
        Err(_) => out.clear(),
    }
    out
}

/// Reads the key id and material version of a blob, if it has the right shape.
pub fn header(blob: &[u8]) -> Option<BlobHeader> {
    if blob.len() < PREFIX_LEN + IV_LEN + TAG_LEN || blob.first() != Some(&VERSION) {
        return None;
    }
    let id: [u8; 16] = blob.get(1..17)?.try_into().ok()?;
    let ver: [u8; 4] = blob.get(17..21)?.try_into().ok()?;
    Some(BlobHeader {
        key_id: Uuid::from_bytes(id),
        material_version: u32::from_be_bytes(ver),
    })
}

/// Decrypts a blob; `None` if it is malformed, modified, or the context differs.
pub fn open(
    blob: &[u8],
    material: &[u8; 32],
    ctx: &BTreeMap<String, String>,
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    header(blob)?;
    let (prefix, rest) = blob.split_at_checked(PREFIX_LEN)?;
    let (iv, rest) = rest.split_at_checked(IV_LEN)?;
    let (ct, tag) = rest.split_at_checked(rest.len().checked_sub(TAG_LEN)?)?;
    let iv: [u8; IV_LEN] = iv.try_into().ok()?;
    let tag: [u8; TAG_LEN] = tag.try_into().ok()?;
    let mut pt = zeroize::Zeroizing::new(ct.to_vec());
    let cipher = Aes256Gcm::new(material.into());
    cipher
        .decrypt_inout_detached(
            &iv.into(),
            &aad(prefix, ctx),
            InOutBuf::from(&mut pt[..]),
            &tag.into(),
        )
        .ok()?;
    Some(pt)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn context_is_bound_unambiguously_and_every_byte_is_authenticated() {
        let id = Uuid::new_v4();
        let k = [5u8; 32];
        let c1: BTreeMap<String, String> = [("ab".into(), "c".into())].into();
        let c2: BTreeMap<String, String> = [("a".into(), "bc".into())].into();
        let blob = seal(id, 3, &k, b"secret", &c1);
        assert_eq!(open(&blob, &k, &c1).unwrap().as_slice(), b"secret");
        assert!(open(&blob, &k, &c2).is_none());
        assert!(open(&blob, &k, &BTreeMap::new()).is_none());
        let h = header(&blob).unwrap();
        assert_eq!((h.key_id, h.material_version), (id, 3));
        for i in 0..blob.len() {
            let mut b = blob.clone();
            b[i] ^= 1;
            assert!(open(&b, &k, &c1).is_none(), "byte {i}");
        }
        assert!(open(&blob[..blob.len() - 1], &k, &c1).is_none());
    }
}
