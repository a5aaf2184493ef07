//! The RSA wrapping of imported key material: the wrapping algorithms AWS KMS names, the
//! parameters one GetParametersForImport answer hands out (kept in memory until used or 24 hours
//! pass), the unwrapping, and the digest that tells which material a key was made for.

use aws_lc_rs::key_wrap::{AES_256, KeyEncryptionKey, KeyWrapPadded as _};
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
};
use sha2::Digest as _;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::{ErrorCode, KmsError, KmsResult};

/// How the material is wrapped under the public key.
#[derive(Clone, Copy)]
pub(crate) enum Wrapping {
    /// RSA-OAEP of the material itself.
    Oaep(&'static OaepAlgorithm),
    /// RSA-OAEP of an AES-256 key, then AES key wrap with padding (RFC 5649) of the material
    /// under it: the two ciphertexts one after the other.
    RsaAesKeyWrap(&'static OaepAlgorithm),
}

/// One GetParametersForImport answer still to be used.
pub(crate) struct ImportParameters {
    /// The key the parameters are for.
    pub(crate) key: Uuid,
    /// The import token.
    pub(crate) token: [u8; 32],
    /// The wrapping algorithm asked for.
    pub(crate) wrapping: Wrapping,
    /// The private half of the wrapping key.
    pub(crate) private_key: OaepPrivateDecryptingKey,
    /// When the parameters stop being accepted (seconds since the epoch, lifecycle clock).
    pub(crate) valid_to: f64,
}

impl ImportParameters {
    /// The material `wrapped` holds, or `None` if it does not open with these parameters.
    pub(crate) fn unwrap(&self, wrapped: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let rsa = &self.private_key;
        let mut buf = Zeroizing::new(vec![0u8; rsa.min_output_size()]);
        match self.wrapping {
            Wrapping::Oaep(alg) => {
                let pt = rsa.decrypt(alg, wrapped, &mut buf, None).ok()?;
                Some(Zeroizing::new(pt.to_vec()))
            }
            Wrapping::RsaAesKeyWrap(alg) => {
                let (head, tail) = wrapped.split_at_checked(rsa.key_size_bytes())?;
                let aes = rsa.decrypt(alg, head, &mut buf, None).ok()?;
                if aes.len() != 32 {
                    return None;
                }
                let kek = KeyEncryptionKey::new(&AES_256, aes).ok()?;
                let mut out = Zeroizing::new(vec![0u8; tail.len()]);
                let n = kek.unwrap_with_padding(tail, &mut out).ok()?.len();
                out.truncate(n);
                Some(out)
            }
        }
    }
}

/// Which material a key was made for: SHA-256 over a label, the key id and the material (hex).
/// The material is a 256-bit secret, so the digest tells nothing of it.
pub(crate) fn material_digest(id: Uuid, material: &[u8; 32]) -> String {
    let mut h = sha2::Sha256::new();
    h.update(b"cipherdrop-kms imported key material\0");
    h.update(id.as_bytes());
    h.update(material);
    hex::encode(h.finalize())
}

/// The AWS wrapping algorithms: the two this service takes and the ones it refuses.
pub(crate) fn wrapping_of(name: &str) -> KmsResult<Wrapping> {
    match name {
        "RSAES_OAEP_SHA_256" => Ok(Wrapping::Oaep(&OAEP_SHA256_MGF1SHA256)),
        "RSAES_OAEP_SHA_1" => Ok(Wrapping::Oaep(&OAEP_SHA1_MGF1SHA1)),
        "RSA_AES_KEY_WRAP_SHA_256" => Ok(Wrapping::RsaAesKeyWrap(&OAEP_SHA256_MGF1SHA256)),
        "RSA_AES_KEY_WRAP_SHA_1" => Ok(Wrapping::RsaAesKeyWrap(&OAEP_SHA1_MGF1SHA1)),
        "RSAES_PKCS1_V1_5" | "SM2PKE" => Err(KmsError::new(
            ErrorCode::UnsupportedOperation,
            format!(
                "WrappingAlgorithm {name} is not supported by this KMS: use RSAES_OAEP_SHA_256 \
                 or RSA_AES_KEY_WRAP_SHA_256"
            ),
        )),
        other => Err(KmsError::new(
            ErrorCode::Validation,
            format!(
                "1 validation error detected: Value '{other}' at 'wrappingAlgorithm' failed to \
                 satisfy constraint: Member must satisfy enum value set: [RSAES_PKCS1_V1_5, \
                 RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1, \
                 RSA_AES_KEY_WRAP_SHA_256, SM2PKE]"
            ),
        )),
    }
}

/// The AWS wrapping key specs: RSA of 2048, 3072 or 4096 bits (SM2 is refused).
pub(crate) fn key_size_of(name: &str) -> KmsResult<KeySize> {
    match name {
        "RSA_2048" => Ok(KeySize::Rsa2048),
        "RSA_3072" => Ok(KeySize::Rsa3072),
        "RSA_4096" => Ok(KeySize::Rsa4096),
        "SM2" => Err(KmsError::new(
            ErrorCode::UnsupportedOperation,
            "WrappingKeySpec SM2 is not supported by this KMS: use RSA_2048, RSA_3072 or RSA_4096",
        )),
        other => Err(KmsError::new(
            ErrorCode::Validation,
            format!(
                "1 validation error detected: Value '{other}' at 'wrappingKeySpec' failed to \
                 satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, \
                 RSA_4096, SM2]"
            ),
        )),
    }
}
