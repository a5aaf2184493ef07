//! Data keys and the HKDF-SHA512 derivation of the frame key and the key commitment.

use core::fmt;

use hkdf::Hkdf;
use sha2::Sha512;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};
use crate::suite::Suite;

/// Length of a data key and of the derived frame key, in bytes.
pub const KEY_LEN: usize = 32;
/// Length of the key commitment stored in the header.
pub const COMMITMENT_LEN: usize = 32;
/// Length of the v2 message id: the key derivation's salt, stored in the header.
pub const MESSAGE_ID_LEN: usize = 32;

/// A plaintext data key (the KDF input). Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; KEY_LEN]);

impl DataKey {
    /// Wraps 32 key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| Error::InvalidArgument("a data key must be 32 bytes"))?;
        Ok(Self(arr))
    }

    /// A fresh random data key.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut k = [0u8; KEY_LEN];
        rng.fill_bytes(&mut k);
        Self(k)
    }

    /// The key bytes (for wrapping it, or handing it to KMS-free callers).
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// The AES-256-GCM key that encrypts frames and the header tag. Zeroized on drop.
///
/// Exposed so that an outside bulk cipher (WebCrypto in the browser) can import it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct FrameKey([u8; KEY_LEN]);

impl FrameKey {
    /// The key bytes, for importing into an outside AEAD implementation.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for FrameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FrameKey(<redacted>)")
    }
}

/// Derives the frame key and the key commitment (transitive-requirements.md, "HKDF Encryption Key"
/// and "HKDF Commit Key").
pub(crate) fn derive(
    suite: Suite,
    message_id: &[u8; MESSAGE_ID_LEN],
    data_key: &DataKey,
) -> (FrameKey, [u8; COMMITMENT_LEN]) {
    let hk = Hkdf::<Sha512>::new(Some(message_id), data_key.as_bytes());
    let mut info = Zeroizing::new([0u8; 2 + 9]);
    let (id, label) = info.split_at_mut(2);
    id.copy_from_slice(&suite.id().0.to_be_bytes());
    label.copy_from_slice(b"DERIVEKEY");
    let mut enc = [0u8; KEY_LEN];
    let mut commit = [0u8; COMMITMENT_LEN];
    // Both lengths are far below HKDF-SHA512's 255 * 64 byte maximum, so expand cannot fail.
    let ok = hk.expand(&info[..], &mut enc).is_ok() && hk.expand(b"COMMITKEY", &mut commit).is_ok();
    debug_assert!(ok);
    (FrameKey(enc), commit)
}

/// Constant-time comparison of a recomputed commitment with the header's.
pub(crate) fn commitment_matches(a: &[u8; COMMITMENT_LEN], b: &[u8; COMMITMENT_LEN]) -> bool {
    a.ct_eq(b).into()
}

/// Constant-time comparison of two AES-GCM tags.
pub(crate) fn tag_matches(a: &[u8; 16], b: &[u8; 16]) -> bool {
    a.ct_eq(b).into()
}
