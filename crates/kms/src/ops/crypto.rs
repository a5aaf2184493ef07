//! The cryptographic operations of symmetric keys: GenerateDataKey (with and without the
//! plaintext), Encrypt, Decrypt, ReEncrypt; and sealing and opening ciphertext blobs under a key's
//! backing keys. A signing key named for any of them is an InvalidKeyUsageException.

use std::collections::BTreeMap;

use uuid::Uuid;
use zeroize::Zeroizing;

use crate::blob::{self, MAX_PLAINTEXT};
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::service::{AuditInfo, Kms, State};
use crate::wire::{
    Count, DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse,
    GenerateDataKeyRequest, GenerateDataKeyResponse, GenerateDataKeyWithoutPlaintextRequest,
    ReEncryptRequest, ReEncryptResponse, Secret,
};

/// The only encryption algorithm of symmetric keys.
const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";
/// The `KeyUsage` these operations need.
const ENCRYPT_DECRYPT: &str = "ENCRYPT_DECRYPT";

impl Kms {
    /// Encrypts `plaintext` with the current backing key of `key_id`, checking state.
    fn seal_with(
        &self,
        st: &State,
        key_id: &str,
        plaintext: &[u8],
        ctx: &BTreeMap<String, String>,
    ) -> KmsResult<(Uuid, Vec<u8>)> {
        let id = self.resolve(st, key_id, true)?;
        let rec = st
            .keys
            .get(&id)
            .ok_or_else(|| KmsError::internal("resolved key vanished"))?;
        self.usable(rec)?;
        self.require_usage(rec, ENCRYPT_DECRYPT)?;
        let m = rec
            .current()
            .ok_or_else(|| KmsError::internal("key without material"))?;
        Ok((id, blob::seal(id, m.version, &m.key, plaintext, ctx)))
    }

    /// Decrypts a blob, checking the optional KeyId, the key's state and the context.
    fn open_blob(
        &self,
        st: &State,
        blob_bytes: &[u8],
        key_id: Option<&str>,
        ctx: &BTreeMap<String, String>,
    ) -> KmsResult<(Uuid, Secret)> {
        let invalid = || {
            KmsError::new(
                ErrorCode::InvalidCiphertext,
                "The ciphertext is invalid, was modified, or its encryption context does not match.",
            )
        };
        let head = blob::header(blob_bytes).ok_or_else(invalid)?;
        if let Some(k) = key_id {
            let named = self.resolve(st, k, true)?;
            // A signing key named for decryption is refused for what it is (as AWS KMS does),
            // before the blob is compared with it.
            if let Some(rec) = st.keys.get(&named) {
                self.require_usage(rec, ENCRYPT_DECRYPT)?;
            }
            if named != head.key_id {
                return Err(KmsError::new(
                    ErrorCode::IncorrectKey,
                    "The key ID in the request does not identify the key that encrypted the ciphertext.",
                ));
            }
        }
        let rec = st.keys.get(&head.key_id).ok_or_else(invalid)?;
        self.usable(rec)?;
        self.require_usage(rec, ENCRYPT_DECRYPT)?;
        let m = rec.material(head.material_version).ok_or_else(invalid)?;
        let pt = blob::open(blob_bytes, &m.key, ctx).ok_or_else(invalid)?;
        Ok((head.key_id, pt))
    }

    pub(super) fn generate_data_key(
        &self,
        req: GenerateDataKeyRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<GenerateDataKeyResponse> {
        self.data_key(req, info, true)
    }

    pub(super) fn generate_data_key_without_plaintext(
        &self,
        req: GenerateDataKeyWithoutPlaintextRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<GenerateDataKeyResponse> {
        self.data_key(req, info, false)
    }

    /// A fresh data key, encrypted under the request's key (and in the clear if `with_plaintext`).
    fn data_key(
        &self,
        req: GenerateDataKeyRequest,
        info: &mut AuditInfo,
        with_plaintext: bool,
    ) -> KmsResult<GenerateDataKeyResponse> {
        let ctx = req.encryption_context.get_or_default()?;
        info.context = Some(ctx.clone());
        let n = match (req.number_of_bytes, req.key_spec.get()?.as_deref()) {
            (Count::Given(_), Some(_)) => {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    "Specify NumberOfBytes or KeySpec, not both",
                ));
            }
            (n @ Count::Given(_), None) => n.within("NumberOfBytes", 1..=1024, 0)? as usize,
            (Count::Absent, Some("AES_256")) => 32,
            (Count::Absent, Some("AES_128")) => 16,
            (Count::Absent, Some(other)) => {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    format!("KeySpec {other} is not AES_256 or AES_128"),
                ));
            }
            (Count::Absent, None) => {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    "Specify NumberOfBytes or KeySpec",
                ));
            }
        };
        let mut data_key = Zeroizing::new(vec![0u8; n]);
        rand::Rng::fill_bytes(&mut rand::rng(), &mut data_key[..]);
        let st = self.read()?;
        let (id, blob) = self.seal_with(&st, &req.key_id.get()?, &data_key, &ctx)?;
        info.key_arn = Some(self.key_arn(id));
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: blob,
            key_id: self.key_arn(id),
            plaintext: with_plaintext.then_some(data_key),
        })
    }

    pub(super) fn encrypt(
        &self,
        req: EncryptRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<EncryptResponse> {
        let ctx = req.encryption_context.get_or_default()?;
        info.context = Some(ctx.clone());
        let plaintext = req.plaintext.get()?;
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
            return Err(KmsError::new(
                ErrorCode::Validation,
                "Plaintext must be 1 to 4096 bytes",
            ));
        }
        let st = self.read()?;
        let (id, blob) = self.seal_with(&st, &req.key_id.get()?, &plaintext, &ctx)?;
        info.key_arn = Some(self.key_arn(id));
        Ok(EncryptResponse {
            ciphertext_blob: blob,
            encryption_algorithm: SYMMETRIC_DEFAULT,
            key_id: self.key_arn(id),
        })
    }

    pub(super) fn decrypt(
        &self,
        req: DecryptRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<DecryptResponse> {
        let ctx = req.encryption_context.get_or_default()?;
        info.context = Some(ctx.clone());
        match req.encryption_algorithm.get()?.as_deref() {
            None | Some(SYMMETRIC_DEFAULT) => {}
            Some(other) => {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    format!("EncryptionAlgorithm {other} is not supported"),
                ));
            }
        }
        let blob = req.ciphertext_blob.get()?;
        let st = self.read()?;
        let (id, pt) = self.open_blob(&st, &blob, req.key_id.get()?.as_deref(), &ctx)?;
        info.key_arn = Some(self.key_arn(id));
        Ok(DecryptResponse {
            encryption_algorithm: SYMMETRIC_DEFAULT,
            key_id: self.key_arn(id),
            plaintext: pt,
        })
    }

    pub(super) fn re_encrypt(
        &self,
        req: ReEncryptRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<ReEncryptResponse> {
        let src_ctx = req.source_encryption_context.get_or_default()?;
        let dst_ctx = req.destination_encryption_context.get_or_default()?;
        info.context = Some(dst_ctx.clone());
        let blob = req.ciphertext_blob.get()?;
        let st = self.read()?;
        let (src, pt) =
            self.open_blob(&st, &blob, req.source_key_id.get()?.as_deref(), &src_ctx)?;
        let (dst, out) = self.seal_with(&st, &req.destination_key_id.get()?, &pt, &dst_ctx)?;
        info.key_arn = Some(self.key_arn(dst));
        Ok(ReEncryptResponse {
            ciphertext_blob: out,
            destination_encryption_algorithm: SYMMETRIC_DEFAULT,
            key_id: self.key_arn(dst),
            source_encryption_algorithm: SYMMETRIC_DEFAULT,
            source_key_id: self.key_arn(src),
        })
    }
}
