//! The operations of asymmetric signing keys: Sign, Verify, GetPublicKey, with AWS KMS's checks
//! and errors (a symmetric key named for Sign or Verify is an InvalidKeyUsageException, for
//! GetPublicKey an UnsupportedOperationException; a signature that does not verify is a
//! KMSInvalidSignatureException, never `SignatureValid: false`).

use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::service::{AuditInfo, Kms, State};
use crate::signing::{DIGEST_LEN, ECDSA_SHA_384, MessageType, PrivateKey, digest_of};
use crate::wire::{
    GetPublicKeyRequest, GetPublicKeyResponse, SignRequest, SignResponse, VerifyRequest,
    VerifyResponse,
};

/// The `KeyUsage` these operations need.
const SIGN_VERIFY: &str = "SIGN_VERIFY";
/// Largest `Message`, as AWS KMS allows.
const MAX_MESSAGE: usize = 4096;
/// Largest `Signature`, as AWS KMS allows.
const MAX_SIGNATURE: usize = 6144;

/// Every `SigningAlgorithm` AWS KMS knows: one of them that the key does not use is an
/// InvalidKeyUsageException, anything else a ValidationException.
const AWS_SIGNING_ALGORITHMS: &[&str] = &[
    "ECDSA_SHA_256",
    "ECDSA_SHA_384",
    "ECDSA_SHA_512",
    "ED25519_PH_SHA_512",
    "ED25519_SHA_512",
    "ML_DSA_SHAKE_256",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "SM2DSA",
];

/// A request's `SigningAlgorithm`, once known to be one AWS KMS has.
enum Algorithm {
    /// The algorithm of `ECC_NIST_P384` keys.
    EcdsaSha384,
    /// Another AWS algorithm: refused once the key is known.
    Other(String),
}

fn validation(message: String) -> KmsError {
    KmsError::new(ErrorCode::Validation, message)
}

fn algorithm(name: String) -> KmsResult<Algorithm> {
    if name == ECDSA_SHA_384 {
        Ok(Algorithm::EcdsaSha384)
    } else if AWS_SIGNING_ALGORITHMS.contains(&name.as_str()) {
        Ok(Algorithm::Other(name))
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'signingAlgorithm' failed to satisfy \
             constraint: Member must satisfy enum value set: [{}]",
            AWS_SIGNING_ALGORITHMS.join(", ")
        )))
    }
}

/// `RAW` by default, or `DIGEST`; `EXTERNAL_MU` is for ML-DSA keys only.
fn message_type(name: Option<String>) -> KmsResult<MessageType> {
    match name.as_deref() {
        None | Some("RAW") => Ok(MessageType::Raw),
        Some("DIGEST") => Ok(MessageType::Digest),
        Some("EXTERNAL_MU") => Err(validation(
            "MessageType EXTERNAL_MU is only valid for ML_DSA key specs".into(),
        )),
        Some(other) => Err(validation(format!(
            "1 validation error detected: Value '{other}' at 'messageType' failed to satisfy \
             constraint: Member must satisfy enum value set: [RAW, DIGEST, EXTERNAL_MU]"
        ))),
    }
}

/// A blob field's length: 1 to `max` bytes.
fn check_len(field: &str, bytes: &[u8], max: usize) -> KmsResult<()> {
    if (1..=max).contains(&bytes.len()) {
        Ok(())
    } else {
        Err(validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: \
             Member must have length between 1 and {max}"
        )))
    }
}

/// The digest to sign or verify: SHA-384 of a `RAW` message, or a `DIGEST` of exactly 48 bytes.
fn digest(kind: MessageType, message: &[u8]) -> KmsResult<[u8; DIGEST_LEN]> {
    digest_of(kind, message).ok_or_else(|| {
        validation(format!(
            "Digest is invalid length for algorithm {ECDSA_SHA_384}: it must be {DIGEST_LEN} bytes"
        ))
    })
}

impl Kms {
    /// The private key of the signing key `key_id` names (aliases too), checked as AWS KMS does:
    /// its state, its usage, then the algorithm against its spec.
    fn signing_key<'s>(
        &self,
        st: &'s State,
        key_id: &str,
        alg: &Algorithm,
        info: &mut AuditInfo,
    ) -> KmsResult<(String, &'s PrivateKey)> {
        let id = self.resolve(st, key_id, true)?;
        let arn = self.key_arn(id);
        info.key_arn = Some(arn.clone());
        let rec = st
            .keys
            .get(&id)
            .ok_or_else(|| KmsError::internal("resolved key vanished"))?;
        self.usable(rec)?;
        self.require_usage(rec, SIGN_VERIFY)?;
        if let Algorithm::Other(name) = alg {
            return Err(KmsError::new(
                ErrorCode::InvalidKeyUsage,
                format!(
                    "Algorithm {name} is incompatible with key spec {}.",
                    rec.key_spec.as_str()
                ),
            ));
        }
        let key = rec
            .private_key
            .as_ref()
            .ok_or_else(|| KmsError::internal("signing key without a private key"))?;
        Ok((arn, key))
    }

    pub(super) fn sign(&self, req: SignRequest, info: &mut AuditInfo) -> KmsResult<SignResponse> {
        let key_id = req.key_id.get()?;
        let message = req.message.get()?;
        let kind = message_type(req.message_type.get()?)?;
        let alg = algorithm(req.signing_algorithm.get()?)?;
        check_len("message", &message, MAX_MESSAGE)?;
        let st = self.read()?;
        let (arn, key) = self.signing_key(&st, &key_id, &alg, info)?;
        let digest = digest(kind, &message)?;
        let signature = key
            .sign_digest(&digest)
            .ok_or_else(|| KmsError::internal("ECDSA signing failed"))?;
        Ok(SignResponse {
            key_id: arn,
            signature,
            signing_algorithm: ECDSA_SHA_384,
        })
    }

    pub(super) fn verify(
        &self,
        req: VerifyRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<VerifyResponse> {
        let key_id = req.key_id.get()?;
        let message = req.message.get()?;
        let kind = message_type(req.message_type.get()?)?;
        let signature = req.signature.get()?;
        let alg = algorithm(req.signing_algorithm.get()?)?;
        check_len("message", &message, MAX_MESSAGE)?;
        check_len("signature", &signature, MAX_SIGNATURE)?;
        let st = self.read()?;
        let (arn, key) = self.signing_key(&st, &key_id, &alg, info)?;
        let digest = digest(kind, &message)?;
        if !key.verify_digest(&digest, &signature) {
            return Err(KmsError::new(
                ErrorCode::KmsInvalidSignature,
                "The signature does not verify for this message, key and signing algorithm.",
            ));
        }
        Ok(VerifyResponse {
            key_id: arn,
            signature_valid: true,
            signing_algorithm: ECDSA_SHA_384,
        })
    }

    pub(super) fn get_public_key(
        &self,
        req: GetPublicKeyRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<GetPublicKeyResponse> {
        self.with_key(req.key_id, true, info, |rec| {
            self.usable(rec)?;
            let (Some(key), Some(algorithms)) =
                (rec.private_key.as_ref(), rec.key_spec.signing_algorithms())
            else {
                return Err(self.unsupported_for(rec));
            };
            Ok(GetPublicKeyResponse {
                customer_master_key_spec: rec.key_spec.as_str(),
                key_id: self.key_arn(rec.id),
                key_spec: rec.key_spec.as_str(),
                key_usage: rec.key_spec.key_usage(),
                public_key: key.public_key_der(),
                signing_algorithms: algorithms,
            })
        })
    }
}
