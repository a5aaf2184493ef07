//! Asymmetric signing keys (`ECC_NIST_P384`, `SIGN_VERIFY`) as AWS KMS has them: a P-384 private
//! key made here and never exported, the public key as `GetPublicKey` returns it (DER
//! SubjectPublicKeyInfo), and `ECDSA_SHA_384` signatures in DER over the SHA-384 of a message
//! (`RAW`) or over a 48-byte digest the caller made (`DIGEST`).

use p384::ecdsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use p384::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha384};
use zeroize::Zeroizing;

/// The one signing algorithm of `ECC_NIST_P384` keys.
pub const ECDSA_SHA_384: &str = "ECDSA_SHA_384";

/// Length of a SHA-384 digest: what `MessageType: DIGEST` must be for `ECDSA_SHA_384`.
pub const DIGEST_LEN: usize = 48;

/// The DER `SubjectPublicKeyInfo` header of a P-384 key (RFC 5480): `SEQUENCE { SEQUENCE {
/// id-ecPublicKey, secp384r1 }, BIT STRING (0 unused bits) }`, followed by the 97-byte
/// uncompressed point.
const SPKI_P384_PREFIX: [u8; 23] = [
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];

/// A P-384 private key. `p384` wipes it on drop; it is never printed, and reaches a file only
/// sealed under the master key (`store`).
#[derive(Clone)]
pub struct PrivateKey(SigningKey);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(P-384)")
    }
}

impl PrivateKey {
    /// A fresh random key: a uniformly random scalar in `[1, n)` (random 48-byte strings outside
    /// that range are drawn again).
    pub fn generate() -> Self {
        let mut scalar = Zeroizing::new([0u8; 48]);
        loop {
            rand::Rng::fill_bytes(&mut rand::rng(), &mut scalar[..]);
            if let Some(key) = Self::from_scalar(&scalar) {
                return key;
            }
        }
    }

    /// The key of a 48-byte big-endian scalar; `None` if it is 0 or not below the group order.
    pub fn from_scalar(scalar: &[u8; 48]) -> Option<Self> {
        SigningKey::from_bytes(&(*scalar).into()).ok().map(Self)
    }

    /// The 48-byte big-endian scalar, in a buffer wiped on drop (to seal it).
    pub fn scalar(&self) -> Zeroizing<[u8; 48]> {
        let mut bytes = self.0.to_bytes();
        let mut out = Zeroizing::new([0u8; 48]);
        out.copy_from_slice(&bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        out
    }

    /// The public key as AWS KMS exports it: DER `SubjectPublicKeyInfo` (RFC 5280, 5480) with
    /// the uncompressed point.
    pub fn public_key_der(&self) -> Vec<u8> {
        let point = self.0.verifying_key().to_sec1_point(false);
        [&SPKI_P384_PREFIX[..], point.as_bytes()].concat()
    }

    /// A DER ECDSA signature of a SHA-384 digest (RFC 6979 nonces hedged with fresh randomness,
    /// so signing the same digest twice gives two signatures, as AWS KMS's do).
    pub fn sign_digest(&self, digest: &[u8; DIGEST_LEN]) -> Option<Vec<u8>> {
        let sig: DerSignature = self
            .0
            .sign_prehash_with_rng(&mut rand::rng(), digest)
            .ok()?;
        Some(sig.as_bytes().to_vec())
    }

    /// Whether `der` is a DER ECDSA signature of `digest` by this key.
    pub fn verify_digest(&self, digest: &[u8; DIGEST_LEN], der: &[u8]) -> bool {
        let key: &VerifyingKey = self.0.verifying_key();
        DerSignature::from_bytes(der).is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok())
    }
}

/// What a `Message` is, by `MessageType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    /// The message itself: KMS hashes it with SHA-384.
    Raw,
    /// A SHA-384 digest the caller made.
    Digest,
}

/// The digest a signature is over: SHA-384 of a `RAW` message, or a `DIGEST` as given (`None`
/// unless exactly 48 bytes).
pub fn digest_of(kind: MessageType, message: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    match kind {
        MessageType::Raw => Some(Sha384::digest(message).into()),
        MessageType::Digest => message.try_into().ok(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_digest_and_key() {
        let key = PrivateKey::generate();
        let other = PrivateKey::generate();
        let d = digest_of(MessageType::Raw, b"checkpoint 1").unwrap();
        let sig = key.sign_digest(&d).unwrap();
        assert!(key.verify_digest(&d, &sig));
        assert_ne!(sig, key.sign_digest(&d).unwrap(), "hedged: a fresh nonce");
        let d2 = digest_of(MessageType::Raw, b"checkpoint 2").unwrap();
        assert!(!key.verify_digest(&d2, &sig));
        assert!(!other.verify_digest(&d, &sig));
        for i in 0..sig.len() {
            let mut t = sig.clone();
            t[i] ^= 0x01;
            assert!(!key.verify_digest(&d, &t), "byte {i}");
        }
        assert!(!key.verify_digest(&d, &[]));
        // A DIGEST is the SHA-384 of the message, and only 48 bytes are one.
        assert_eq!(digest_of(MessageType::Digest, &d), Some(d));
        assert_eq!(digest_of(MessageType::Digest, &d[..32]), None);
        assert_eq!(digest_of(MessageType::Digest, &[0; 49]), None);
    }

    #[test]
    fn the_scalar_round_trips_and_the_public_key_is_spki_der() {
        let key = PrivateKey::generate();
        let again = PrivateKey::from_scalar(&key.scalar()).unwrap();
        assert_eq!(again.public_key_der(), key.public_key_der());
        let der = key.public_key_der();
        assert_eq!(der.len(), 120);
        assert_eq!(der[..23], SPKI_P384_PREFIX);
        assert_eq!(der[23], 0x04, "uncompressed point");
        VerifyingKey::from_sec1_bytes(&der[23..]).unwrap();
        assert!(PrivateKey::from_scalar(&[0u8; 48]).is_none());
        assert!(
            PrivateKey::from_scalar(&[0xff; 48]).is_none(),
            "not below the order"
        );
        assert!(!format!("{key:?}").contains(&hex::encode(&key.scalar()[..8])));
    }
}
