//! The server's KMS calls: data keys issued and released under an encryption context, blobs
//! encrypted and decrypted pinned to a key, and the audit checkpoints' P-384 signing key.

use std::collections::HashMap;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use zeroize::Zeroizing;

use super::{Aws, IssuedKey, bad_gateway, sdk_error, service_code};
use crate::error::ApiError;

impl Aws {
    /// Makes sure `alias` names a KMS key, creating a key and the alias if it does not (used
    /// with the embedded KMS on first start); returns the key ARN.
    pub async fn ensure_key_alias(&self, alias: &str) -> Result<String, ApiError> {
        match self.kms.describe_key().key_id(alias).send().await {
            Ok(out) => {
                return out
                    .key_metadata
                    .and_then(|m| m.arn)
                    .ok_or_else(|| bad_gateway("KMS", "DescribeKey answered without an ARN"));
            }
            Err(e) if service_code(&e).as_deref() == Some("NotFoundException") => {}
            Err(e) => return Err(sdk_error("KMS", &e)),
        }
        let key = self
            .kms
            .create_key()
            .description("cipherdrop data keys")
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?
            .key_metadata
            .ok_or_else(|| bad_gateway("KMS", "CreateKey answered without metadata"))?;
        self.kms
            .create_alias()
            .alias_name(alias)
            .target_key_id(key.key_id())
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        key.arn
            .ok_or_else(|| bad_gateway("KMS", "CreateKey answered without an ARN"))
    }

    /// `GenerateDataKey` (AES-256) bound to `context`.
    pub async fn generate_data_key(
        &self,
        key_id: &str,
        context: &HashMap<String, String>,
    ) -> Result<IssuedKey, ApiError> {
        let out = self
            .kms
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        let plaintext = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        let (Some(edk), Some(key_arn)) = (out.ciphertext_blob, out.key_id) else {
            return Err(bad_gateway("KMS", "GenerateDataKey answered without a key"));
        };
        if plaintext.len() != 32 {
            return Err(bad_gateway(
                "KMS",
                "GenerateDataKey answered a key of the wrong size",
            ));
        }
        Ok(IssuedKey {
            plaintext,
            edk: edk.into_inner(),
            key_arn,
        })
    }

    /// `Decrypt` of a stored EDK with its stored context, pinned to the stored key ARN.
    pub async fn decrypt_data_key(
        &self,
        key_arn: &str,
        edk: &[u8],
        context: &HashMap<String, String>,
    ) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        self.decrypt_pinned(key_arn, edk, context, 32).await
    }

    /// `Encrypt` of a small secret under `key_arn`, bound to `context`; returns the ciphertext
    /// blob.
    pub async fn encrypt_blob(
        &self,
        key_arn: &str,
        plaintext: &[u8],
        context: &HashMap<String, String>,
    ) -> Result<Vec<u8>, ApiError> {
        let out = self
            .kms
            .encrypt()
            .key_id(key_arn)
            .plaintext(Blob::new(plaintext))
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        out.ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| bad_gateway("KMS", "Encrypt answered without a ciphertext"))
    }

    /// `Decrypt` of a blob with its context, pinned to `key_arn`; the plaintext must be `len`
    /// bytes.
    pub async fn decrypt_pinned(
        &self,
        key_arn: &str,
        blob: &[u8],
        context: &HashMap<String, String>,
        len: usize,
    ) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        let out = self
            .kms
            .decrypt()
            .key_id(key_arn)
            .ciphertext_blob(Blob::new(blob))
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        let plaintext = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        if plaintext.len() != len {
            return Err(bad_gateway(
                "KMS",
                "Decrypt answered a plaintext of the wrong size",
            ));
        }
        Ok(plaintext)
    }

    /// `CreateKey` of an ECC_NIST_P384 `SIGN_VERIFY` key (the embedded KMS's audit signing key,
    /// made on first start); returns its ARN.
    pub async fn create_signing_key(&self, description: &str) -> Result<String, ApiError> {
        self.kms
            .create_key()
            .description(description)
            .key_spec(KeySpec::EccNistP384)
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?
            .key_metadata
            .and_then(|m| m.arn)
            .ok_or_else(|| bad_gateway("KMS", "CreateKey answered without an ARN"))
    }

    /// `Sign` of `message` (`RAW`: KMS hashes it) with ECDSA_SHA_384; returns the ARN of the key
    /// that signed and the DER signature.
    pub async fn sign_p384(
        &self,
        key_id: &str,
        message: &[u8],
    ) -> Result<(String, Vec<u8>), ApiError> {
        let out = self
            .kms
            .sign()
            .key_id(key_id)
            .message(Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        match (out.key_id, out.signature) {
            (Some(arn), Some(sig)) => Ok((arn, sig.into_inner())),
            _ => Err(bad_gateway("KMS", "Sign answered without a signature")),
        }
    }

    /// `GetPublicKey`: the key's ARN and its public key (DER SubjectPublicKeyInfo).
    pub async fn public_key(&self, key_id: &str) -> Result<(String, Vec<u8>), ApiError> {
        let out = self
            .kms
            .get_public_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        match (out.key_id, out.public_key) {
            (Some(arn), Some(der)) => Ok((arn, der.into_inner())),
            _ => Err(bad_gateway("KMS", "GetPublicKey answered without a key")),
        }
    }
}
