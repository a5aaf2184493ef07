//! Small secrets sealed under a file's data key for one purpose and one id: the format shared by
//! file metadata ([`crate::metadata`]) and resume records ([`crate::resume`]).
//!
//! `0x01 ‖ nonce (12) ‖ AES-256-GCM(plaintext) ‖ tag (16)`, under HKDF-SHA256(data key, info =
//! label ‖ id), with AAD label ‖ 0 ‖ id: a different key from the ESDK's frame key for each label
//! and id, so a sealed value opens only for the purpose and the object it was made for.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a sealed value did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// Too short or an unknown version.
    Malformed,
    /// The tag did not verify: wrong key, label or id, or altered.
    Authentication,
}

fn cipher(label: &[u8], data_key: &[u8; 32], id: &str) -> Aes256Gcm {
    let mut okm = Zeroizing::new([0u8; 32]);
    let mut info = label.to_vec();
    info.extend_from_slice(id.as_bytes());
    // 32 bytes is far below HKDF-SHA256's 255 * 32 byte maximum, so expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, data_key).expand(&info, &mut okm[..]);
    Aes256Gcm::new((&*okm).into())
}

fn aad(label: &[u8], id: &str) -> Vec<u8> {
    let mut aad = label.to_vec();
    aad.push(0);
    aad.extend_from_slice(id.as_bytes());
    aad
}

/// Seals `plain` for `label` and `id` under `data_key`.
pub(crate) fn seal<R: rand_core::CryptoRng + ?Sized>(
    label: &[u8],
    data_key: &[u8; 32],
    id: &str,
    plain: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plain.len() + TAG_LEN);
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    let start = out.len();
    out.extend_from_slice(plain);
    let tag = out
        .get_mut(start..)
        .and_then(|buf| {
            cipher(label, data_key, id)
                .encrypt_inout_detached((&nonce).into(), &aad(label, id), buf.into())
                .ok()
        })
        .map(|t| t.to_vec())
        .unwrap_or_default();
    out.extend_from_slice(&tag);
    out
}

/// Opens what [`seal`] made with the same label, key and id.
pub(crate) fn open(
    label: &[u8],
    data_key: &[u8; 32],
    id: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let (version, rest) = sealed.split_first().ok_or(OpenError::Malformed)?;
    if *version != VERSION || rest.len() < NONCE_LEN + TAG_LEN {
        return Err(OpenError::Malformed);
    }
    let (nonce, rest) = rest.split_at(NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError::Malformed)?;
    let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| OpenError::Malformed)?;
    let mut plain = Zeroizing::new(vec![0u8; ct.len()]);
    let buf = InOutBuf::new(ct, plain.as_mut_slice()).map_err(|_| OpenError::Malformed)?;
    cipher(label, data_key, id)
        .decrypt_inout_detached((&nonce).into(), &aad(label, id), buf, (&tag).into())
        .map_err(|_| OpenError::Authentication)?;
    Ok(plain)
}
