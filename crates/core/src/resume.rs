//! What a client keeps to resume an interrupted upload byte for byte.
//!
//! A message's frames depend only on the data key, the message id and each frame's sequence
//! number, so a client that remembers the message id (not a secret) re-creates exactly the bytes
//! it sent before and sends only what the store lacks ([`crate::Encryptor::with_message_id`]). A
//! 0x0578 message also needs its signing key again, because its public half is already in the
//! issued encryption context: the client keeps it sealed under the file's data key (which only
//! the server's audited release gives back), for this upload id alone.

use crate::error::{Error, Result};
use crate::keys::DataKey;
use crate::sealed;
use crate::sign::SigningKey;

const SIGNING_LABEL: &[u8] = b"cipherdrop/resume-signing-key/v1";

/// Seals a message's signing key for the record of upload `upload_id`.
pub fn seal_signing_key<R: rand_core::CryptoRng + ?Sized>(
    key: &SigningKey,
    data_key: &DataKey,
    upload_id: &str,
    rng: &mut R,
) -> Vec<u8> {
    sealed::seal(
        SIGNING_LABEL,
        data_key.as_bytes(),
        upload_id,
        &key.to_bytes()[..],
        rng,
    )
}

/// Opens what [`seal_signing_key`] made for the same data key and upload.
pub fn open_signing_key(sealed: &[u8], data_key: &DataKey, upload_id: &str) -> Result<SigningKey> {
    let plain = sealed::open(SIGNING_LABEL, data_key.as_bytes(), upload_id, sealed).map_err(
        |e| match e {
            sealed::OpenError::Malformed => Error::Malformed("sealed signing key"),
            sealed::OpenError::Authentication => Error::Authentication,
        },
    )?;
    SigningKey::from_bytes(&plain)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::{EncryptionContext, EncryptionMaterials, Encryptor, Suite};

    #[test]
    fn a_sealed_signing_key_opens_only_for_its_key_and_upload() {
        let mut rng = rand::rng();
        let key = SigningKey::generate(&mut rng);
        let dk = DataKey::generate(&mut rng);
        let sealed = seal_signing_key(&key, &dk, "up-1", &mut rng);
        let opened = open_signing_key(&sealed, &dk, "up-1").unwrap();
        assert_eq!(opened.public_key_base64(), key.public_key_base64());
        let other = DataKey::generate(&mut rng);
        assert_eq!(
            open_signing_key(&sealed, &other, "up-1").unwrap_err(),
            Error::Authentication
        );
        assert_eq!(
            open_signing_key(&sealed, &dk, "up-2").unwrap_err(),
            Error::Authentication
        );
        for i in 0..sealed.len() * 8 {
            let mut bad = sealed.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(open_signing_key(&bad, &dk, "up-1").is_err(), "bit {i}");
        }
        assert!(matches!(
            open_signing_key(&sealed[..20], &dk, "up-1"),
            Err(Error::Malformed(_))
        ));
    }

    /// The point of the record: the same key, message id and signing key give the same bytes.
    #[test]
    fn a_message_is_recreated_byte_for_byte_from_its_id() {
        let mut rng = rand::rng();
        let dk = DataKey::generate(&mut rng);
        let plain = vec![7u8; 100_000];
        for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
            let signing = suite.is_signed().then(|| SigningKey::generate(&mut rng));
            let mut context = EncryptionContext::new();
            if let Some(k) = &signing {
                context.insert(crate::PUBLIC_KEY_FIELD, k.public_key_base64());
            }
            let materials = || {
                let edk = crate::EncryptedDataKey::aws_kms(
                    "arn:aws:kms:eu-west-1:111122223333:key/k",
                    vec![1; 60],
                )
                .unwrap();
                EncryptionMaterials::new(
                    suite,
                    context.clone(),
                    dk.clone(),
                    vec![edk],
                    signing.clone(),
                )
                .unwrap()
            };
            let mut first =
                Encryptor::<crate::AesGcmCipher>::new(materials(), 4096, &mut rng).unwrap();
            let id = first.message_id();
            let mut a = Vec::new();
            first.push(&plain, &mut a).unwrap();
            first.finish(&mut a).unwrap();
            let mut again =
                Encryptor::<crate::AesGcmCipher>::with_message_id(materials(), 4096, id).unwrap();
            let mut b = Vec::new();
            again.push(&plain, &mut b).unwrap();
            again.finish(&mut b).unwrap();
            assert_eq!(a, b, "{suite:?}");
        }
    }
}
