//! The server's KMS calls: data keys issued and released under an encryption context, blobs
//! encrypted and decrypted pinned to a key, moved to another key (a re-key), and the audit checkpoints' P-384 signing key.

use std::collections::HashMap;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use zeroize::Zeroizing;

use super::{Aws, IssuedKey, bad_gateway, sdk_error, service_code};
use crate::error::ApiError;

/// The KMS error codes of a key that exists (or existed) but cannot be used now: disabled,
/// scheduled for deletion or pending the import of its material (`KMSInvalidStateException`),
/// or deleted (`NotFoundException` for a key named by ARN).
const UNUSABLE: &[&str] = &[
    "DisabledException",
    "KMSInvalidStateException",
    "NotFoundException",
];

/// A KMS refusal because of the key's state, said in words (`key_unusable`, 409): nothing under
/// the key opens until an administrator restores it. Any other failure as usual.
fn unusable_or<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>, what: &str) -> ApiError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match service_code(e) {
        Some(code) if UNUSABLE.contains(&code.as_str()) => {
            tracing::warn!(code, "KMS key unusable");
            ApiError::new(
                axum::http::StatusCode::CONFLICT,
                cipherdrop_api::ErrorCode::KeyUnusable,
                format!(
                    "The KMS key {what} cannot be used now: it is disabled, scheduled for \
                     deletion or deleted, or its imported key material was deleted or has \
                     expired. Nothing under it can be decrypted until an administrator restores \
                     the key (or imports the same key material again)."
                ),
            )
        }
        _ => sdk_error("KMS", e),
    }
}

impl Aws {
    /// The key id to give this server's KMS for `key_id`: the ARN of a multi-Region key
    /// (`key/mrk-…`) in another region becomes the ARN of its replica in this server's region,
    /// which has the same key id and key material (KMS answers for its own region only), as the
    /// AWS Encryption SDK's multi-Region-aware keyrings do. Any other key id is given as it is.
    pub fn local_key_id(&self, key_id: &str) -> String {
        match self.kms.config().region() {
            Some(region) => in_region(key_id, region.as_ref()).unwrap_or_else(|| key_id.to_owned()),
            None => key_id.to_owned(),
        }
    }

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
            .key_id(self.local_key_id(key_id))
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| unusable_or(&e, "new files are encrypted under"))?;
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
            .key_id(self.local_key_id(key_arn))
            .plaintext(Blob::new(plaintext))
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        out.ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| bad_gateway("KMS", "Encrypt answered without a ciphertext"))
    }

    /// `Encrypt` of a data key under `key_id` (an id, ARN or alias), bound to `context`; returns
    /// the ARN KMS names and the ciphertext blob (the new EDK).
    pub async fn wrap_data_key(
        &self,
        key_id: &str,
        data_key: &[u8],
        context: &HashMap<String, String>,
    ) -> Result<(String, Vec<u8>), ApiError> {
        let out = self
            .kms
            .encrypt()
            .key_id(self.local_key_id(key_id))
            .plaintext(Blob::new(data_key))
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        match (out.key_id, out.ciphertext_blob) {
            (Some(arn), Some(blob)) => Ok((arn, blob.into_inner())),
            _ => Err(bad_gateway("KMS", "Encrypt answered without a key")),
        }
    }

    /// `ReEncrypt` of a blob from `source_arn` to `destination` under the same context: the
    /// plaintext never leaves KMS. Returns the destination's ARN and the new blob.
    pub async fn re_encrypt(
        &self,
        source_arn: &str,
        blob: &[u8],
        context: &HashMap<String, String>,
        destination: &str,
    ) -> Result<(String, Vec<u8>), ApiError> {
        let out = self
            .kms
            .re_encrypt()
            .source_key_id(self.local_key_id(source_arn))
            .ciphertext_blob(Blob::new(blob))
            .set_source_encryption_context(Some(context.clone()))
            .destination_key_id(self.local_key_id(destination))
            .set_destination_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        match (out.key_id, out.ciphertext_blob) {
            (Some(arn), Some(blob)) => Ok((arn, blob.into_inner())),
            _ => Err(bad_gateway("KMS", "ReEncrypt answered without a key")),
        }
    }

    /// Whether the server may wrap data keys under `key_id`: its ARN if so, else what KMS said,
    /// in words (the key missing, disabled, pending deletion or import, not a symmetric
    /// encryption key, or the server not allowed to use it).
    pub async fn usable_key(&self, key_id: &str) -> Result<Result<String, String>, ApiError> {
        use aws_sdk_kms::types::{KeyState, KeyUsageType};
        let local = self.local_key_id(key_id);
        let meta = match self.kms.describe_key().key_id(local).send().await {
            Ok(out) => out.key_metadata,
            Err(e) => {
                return match service_code(&e) {
                    Some(code) => Ok(Err(format!("KMS refused to describe {key_id}: {code}"))),
                    None => Err(sdk_error("KMS", &e)),
                };
            }
        };
        let Some(meta) = meta else {
            return Ok(Err(format!("KMS did not describe {key_id}")));
        };
        let arn = meta.arn.clone().unwrap_or_else(|| key_id.to_owned());
        if meta.key_state != Some(KeyState::Enabled) {
            let state = meta.key_state.as_ref().map_or("unknown", |s| s.as_str());
            return Ok(Err(format!("{arn} is {state}, not Enabled")));
        }
        if meta.key_usage != Some(KeyUsageType::EncryptDecrypt)
            || meta.key_spec.as_ref().map(|s| s.as_str()) != Some("SYMMETRIC_DEFAULT")
        {
            return Ok(Err(format!(
                "{arn} is not a symmetric encryption key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)"
            )));
        }
        // Describing is not using: the key policy may still refuse this server's Encrypt.
        let probe = HashMap::from([("cipherdrop-probe".to_owned(), "rekey".to_owned())]);
        match self
            .kms
            .encrypt()
            .key_id(&arn)
            .plaintext(Blob::new([0u8; 32]))
            .set_encryption_context(Some(probe))
            .send()
            .await
        {
            Ok(_) => Ok(Ok(arn)),
            Err(e) => match service_code(&e) {
                Some(code) => Ok(Err(format!("KMS refused Encrypt under {arn}: {code}"))),
                None => Err(sdk_error("KMS", &e)),
            },
        }
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
            .key_id(self.local_key_id(key_arn))
            .ciphertext_blob(Blob::new(blob))
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| unusable_or(&e, "this is encrypted under"))?;
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

/// `arn` rewritten to `region` if it is the ARN of a multi-Region key in another region.
fn in_region(arn: &str, region: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, arn_region, account, resource] = parts.as_slice() else {
        return None;
    };
    (*prefix == "arn"
        && *service == "kms"
        && resource.starts_with("key/mrk-")
        && *arn_region != region
        && !region.is_empty())
    .then(|| format!("arn:{partition}:kms:{region}:{account}:{resource}"))
}

#[cfg(test)]
mod tests {
    use super::in_region;

    #[test]
    fn only_a_multi_region_keys_arn_of_another_region_is_rewritten() {
        let mrk = "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab";
        assert_eq!(
            in_region(mrk, "eu-west-1").as_deref(),
            Some("arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab")
        );
        assert_eq!(in_region(mrk, "us-east-1"), None, "already this region's");
        for other in [
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:alias/mrk-named-alias",
            "arn:aws:s3:us-east-1:111122223333:key/mrk-1234",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "alias/cipherdrop",
            "arn:aws:kms:us-east-1",
            "",
        ] {
            assert_eq!(in_region(other, "eu-west-1"), None, "{other}");
        }
        assert_eq!(
            in_region(
                "arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-00",
                "cn-northwest-1"
            )
            .as_deref(),
            Some("arn:aws-cn:kms:cn-northwest-1:111122223333:key/mrk-00"),
            "the partition is kept"
        );
    }
}
