//! The JSON wire format of the operations: one request struct per operation, the response
//! structs, and the serde helpers behind them (base64 blobs, encryption contexts, secrets in
//! buffers wiped on drop).
//!
//! Deserializing a request never fails on a field: a field of the wrong JSON type, a blob that is
//! not base64 or a missing required field is kept as its error (with the message and AWS code the
//! service has always answered) and returned when the handler reads the field. Handlers read
//! fields in a fixed order, so a request with several faults gets the same error as ever, and the
//! audit record holds what was read before the fault. Unknown fields are ignored.

mod json;
mod response;
#[cfg(test)]
mod tests;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::{Zeroize as _, Zeroizing};

pub use json::{Context, Count, Opt, Req, Secret, Tag, field};
pub use response::*;

use crate::error::{ErrorCode, KmsError, KmsResult};
use json::{count_even_null, loose_str, loose_true, tags};

/// A JSON response body, wiped on drop (`Plaintext` fields carry key material).
pub type Body = Zeroizing<Vec<u8>>;

/// Room reserved for a response body: a response carrying a secret (at most 4096 bytes, 5464 in
/// base64) never outgrows it, so no reallocation leaves a copy of the secret behind.
const BODY_CAPACITY: usize = 8 * 1024;

/// Reads an operation's request out of the JSON object of the body.
pub fn parse<T: DeserializeOwned>(req: &Value) -> KmsResult<T> {
    T::deserialize(req).map_err(|e| KmsError::new(ErrorCode::Serialization, e.to_string()))
}

/// Serializes a response into a body buffer wiped on drop.
pub fn to_body<T: Serialize>(resp: &T) -> KmsResult<Body> {
    let mut body = Zeroizing::new(Vec::with_capacity(BODY_CAPACITY));
    serde_json::to_writer(&mut *body, resp).map_err(KmsError::internal)?;
    Ok(body)
}

/// Wipes every string of a parsed request once it has been served (it may hold a plaintext).
pub fn scrub(v: &mut Value) {
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(map) => map.values_mut().for_each(scrub),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// CreateKey.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreateKeyRequest {
    /// `ENCRYPT_DECRYPT` (the default) or, for `ECC_NIST_P384`, `SIGN_VERIFY` (a value that is
    /// not a string is not looked at).
    #[serde(deserialize_with = "loose_str")]
    pub key_usage: Option<String>,
    /// `SYMMETRIC_DEFAULT` (the default) or `ECC_NIST_P384` (a value that is not a string is not
    /// looked at).
    #[serde(deserialize_with = "loose_str")]
    pub key_spec: Option<String>,
    /// The deprecated name of `KeySpec`, read the same way (not both).
    #[serde(deserialize_with = "loose_str")]
    pub customer_master_key_spec: Option<String>,
    /// Free text, at most 8192 bytes.
    pub description: Opt<field::Description>,
    /// Tags; `None` for an entry without string `TagKey` and `TagValue`.
    #[serde(deserialize_with = "tags")]
    pub tags: Vec<Option<Tag>>,
    /// `AWS_KMS` (the default) or `EXTERNAL` (a value that is not a string is not looked at).
    #[serde(deserialize_with = "loose_str")]
    pub origin: Option<String>,
    /// A multi-Region primary key (`true`); a value that is not `true` reads as `false`.
    #[serde(deserialize_with = "loose_true")]
    pub multi_region: bool,
}

/// ReplicateKey.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ReplicateKeyRequest {
    /// The primary key (id or key ARN).
    pub key_id: Req<field::KeyId>,
    /// The region of the new replica.
    pub replica_region: Req<field::ReplicaRegion>,
    /// The replica's description (else the primary's).
    pub description: Opt<field::Description>,
    /// The replica's tags; `None` for an entry without string `TagKey` and `TagValue`.
    #[serde(deserialize_with = "tags")]
    pub tags: Vec<Option<Tag>>,
}

/// UpdatePrimaryRegion.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct UpdatePrimaryRegionRequest {
    /// The primary key (id or key ARN), in its region.
    pub key_id: Req<field::KeyId>,
    /// The region of the replica that becomes the primary.
    pub primary_region: Req<field::PrimaryRegion>,
}

/// GetParametersForImport.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct GetParametersForImportRequest {
    /// The key (id or key ARN) of origin `EXTERNAL`.
    pub key_id: Req<field::KeyId>,
    /// `RSAES_OAEP_SHA_256`, `RSAES_OAEP_SHA_1`, `RSA_AES_KEY_WRAP_SHA_256` or
    /// `RSA_AES_KEY_WRAP_SHA_1`.
    pub wrapping_algorithm: Req<field::WrappingAlgorithm>,
    /// `RSA_2048`, `RSA_3072` or `RSA_4096`.
    pub wrapping_key_spec: Req<field::WrappingKeySpec>,
}

/// ImportKeyMaterial.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImportKeyMaterialRequest {
    /// The key (id or key ARN) the parameters were asked for.
    pub key_id: Req<field::KeyId>,
    /// The token of the same GetParametersForImport answer as the public key used.
    pub import_token: Req<field::ImportToken, Secret>,
    /// The material, wrapped under that public key with the algorithm asked for.
    pub encrypted_key_material: Req<field::EncryptedKeyMaterial, Secret>,
    /// When the material expires (seconds since the epoch), for `KEY_MATERIAL_EXPIRES`.
    pub valid_to: Opt<field::ValidTo, f64>,
    /// `KEY_MATERIAL_EXPIRES` (the default) or `KEY_MATERIAL_DOES_NOT_EXPIRE`.
    pub expiration_model: Opt<field::ExpirationModel>,
}

/// DeleteImportedKeyMaterial.
pub type DeleteImportedKeyMaterialRequest = KeyRequest;

/// Any request that names one key and nothing else.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct KeyRequest {
    /// The key.
    pub key_id: Req<field::KeyId>,
}

/// DescribeKey.
pub type DescribeKeyRequest = KeyRequest;
/// EnableKey.
pub type EnableKeyRequest = KeyRequest;
/// DisableKey.
pub type DisableKeyRequest = KeyRequest;
/// CancelKeyDeletion.
pub type CancelKeyDeletionRequest = KeyRequest;
/// DisableKeyRotation.
pub type DisableKeyRotationRequest = KeyRequest;
/// GetKeyRotationStatus.
pub type GetKeyRotationStatusRequest = KeyRequest;
/// GetPublicKey.
pub type GetPublicKeyRequest = KeyRequest;
/// RotateKeyOnDemand.
pub type RotateKeyOnDemandRequest = KeyRequest;

/// ListKeys.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ListKeysRequest {
    /// Page size, 1 to 1000, default 100.
    pub limit: Count,
    /// Where the page starts (a `NextMarker`).
    pub marker: Opt<field::Marker>,
}

/// ScheduleKeyDeletion.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionRequest {
    /// The key.
    pub key_id: Req<field::KeyId>,
    /// 7 to 30, default 30.
    pub pending_window_in_days: Count,
}

/// EnableKeyRotation.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct EnableKeyRotationRequest {
    /// The key.
    pub key_id: Req<field::KeyId>,
    /// 90 to 2560, default 365.
    pub rotation_period_in_days: Count,
}

/// ListKeyRotations.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ListKeyRotationsRequest {
    /// The key.
    pub key_id: Req<field::KeyId>,
    /// Page size, 1 to 1000, default 100.
    pub limit: Count,
    /// Where the page starts (a `NextMarker`).
    pub marker: Opt<field::Marker>,
}

/// CreateAlias.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreateAliasRequest {
    /// `alias/` and a name.
    pub alias_name: Req<field::AliasName>,
    /// The key (id or key ARN, not an alias).
    pub target_key_id: Req<field::TargetKeyId>,
}

/// UpdateAlias.
pub type UpdateAliasRequest = CreateAliasRequest;

/// DeleteAlias.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeleteAliasRequest {
    /// The alias.
    pub alias_name: Req<field::AliasName>,
}

/// ListAliases.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ListAliasesRequest {
    /// Only the aliases of this key (id or key ARN).
    pub key_id: Opt<field::KeyId>,
    /// Page size, 1 to 1000, default 100.
    pub limit: Count,
    /// Where the page starts (a `NextMarker`).
    pub marker: Opt<field::Marker>,
}

/// GenerateDataKey.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct GenerateDataKeyRequest {
    /// Bound to the ciphertext.
    pub encryption_context: Opt<field::EncryptionContext, Context>,
    /// 1 to 1024 (a `null` counts as given); exactly one of this and `KeySpec`.
    #[serde(deserialize_with = "count_even_null")]
    pub number_of_bytes: Count,
    /// `AES_256` or `AES_128`.
    pub key_spec: Opt<field::KeySpec>,
    /// The key.
    pub key_id: Req<field::KeyId>,
}

/// GenerateDataKeyWithoutPlaintext.
pub type GenerateDataKeyWithoutPlaintextRequest = GenerateDataKeyRequest;

/// Encrypt.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct EncryptRequest {
    /// Bound to the ciphertext.
    pub encryption_context: Opt<field::EncryptionContext, Context>,
    /// 1 to 4096 bytes.
    pub plaintext: Req<field::Plaintext, Secret>,
    /// The key.
    pub key_id: Req<field::KeyId>,
}

/// Decrypt.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DecryptRequest {
    /// Must match the one bound to the ciphertext.
    pub encryption_context: Opt<field::EncryptionContext, Context>,
    /// Only `SYMMETRIC_DEFAULT`.
    pub encryption_algorithm: Opt<field::EncryptionAlgorithm>,
    /// The blob.
    pub ciphertext_blob: Req<field::CiphertextBlob, Secret>,
    /// If given, must name the key that made the blob.
    pub key_id: Opt<field::KeyId>,
}

/// Sign. `GrantTokens` (and any other field) is not looked at.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SignRequest {
    /// The signing key.
    pub key_id: Req<field::KeyId>,
    /// 1 to 4096 bytes: the message, or its digest.
    pub message: Req<field::Message, Secret>,
    /// `RAW` (the default) or `DIGEST`.
    pub message_type: Opt<field::MessageType>,
    /// `ECDSA_SHA_384` for an `ECC_NIST_P384` key.
    pub signing_algorithm: Req<field::SigningAlgorithm>,
}

/// Verify.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VerifyRequest {
    /// The signing key.
    pub key_id: Req<field::KeyId>,
    /// 1 to 4096 bytes: the message, or its digest.
    pub message: Req<field::Message, Secret>,
    /// `RAW` (the default) or `DIGEST`.
    pub message_type: Opt<field::MessageType>,
    /// The DER signature.
    pub signature: Req<field::Signature, Secret>,
    /// `ECDSA_SHA_384` for an `ECC_NIST_P384` key.
    pub signing_algorithm: Req<field::SigningAlgorithm>,
}

/// ReEncrypt.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ReEncryptRequest {
    /// Must match the one bound to the ciphertext.
    pub source_encryption_context: Opt<field::SourceEncryptionContext, Context>,
    /// Bound to the new ciphertext.
    pub destination_encryption_context: Opt<field::DestinationEncryptionContext, Context>,
    /// The blob.
    pub ciphertext_blob: Req<field::CiphertextBlob, Secret>,
    /// If given, must name the key that made the blob.
    pub source_key_id: Opt<field::SourceKeyId>,
    /// The key of the new blob.
    pub destination_key_id: Req<field::DestinationKeyId>,
}
