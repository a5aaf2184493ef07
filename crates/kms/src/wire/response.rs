//! The response structs. Fields are declared in the byte order of their JSON names: the order the
//! service has always written them in (it built `serde_json` maps, which sort their keys).

use serde::Serialize;

use super::json::{Secret, blob_base64, optional_secret_base64, secret_base64};

/// An operation that answers `{}`.
#[derive(Serialize)]
pub struct Empty {}

/// A key's metadata.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    /// The account.
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    /// The key ARN.
    pub arn: String,
    /// Seconds since the epoch.
    pub creation_date: f64,
    /// The same as `KeySpec` (its deprecated name).
    pub customer_master_key_spec: &'static str,
    /// When a pending deletion takes effect (only then present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<f64>,
    /// Free text.
    pub description: String,
    /// Whether the state is `Enabled`.
    pub enabled: bool,
    /// `["SYMMETRIC_DEFAULT"]`, for a symmetric key only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<[&'static str; 1]>,
    /// `KEY_MATERIAL_EXPIRES` or `KEY_MATERIAL_DOES_NOT_EXPIRE`, for a key of imported material
    /// once material was imported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<String>,
    /// The key id.
    pub key_id: String,
    /// `CUSTOMER`.
    pub key_manager: &'static str,
    /// `SYMMETRIC_DEFAULT` or `ECC_NIST_P384`.
    pub key_spec: &'static str,
    /// `Enabled`, `Disabled` or `PendingDeletion`.
    pub key_state: String,
    /// `ENCRYPT_DECRYPT` or `SIGN_VERIFY`.
    pub key_usage: &'static str,
    /// Whether it is a multi-Region key.
    pub multi_region: bool,
    /// A multi-Region key's primary and replicas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
    /// `AWS_KMS` or `EXTERNAL`.
    pub origin: &'static str,
    /// Present (possibly `null`) exactly when `DeletionDate` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<Option<u32>>,
    /// `["ECDSA_SHA_384"]`, for a signing key only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithms: Option<[&'static str; 1]>,
    /// When imported material expires, for `KEY_MATERIAL_EXPIRES` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<f64>,
}

/// A multi-Region key's primary and replicas, as DescribeKey answers them.
#[derive(Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionConfiguration {
    /// `PRIMARY` or `REPLICA`: what the key is in the region answering.
    pub multi_region_key_type: &'static str,
    /// The primary key.
    pub primary_key: MultiRegionKey,
    /// The replicas.
    pub replica_keys: Vec<MultiRegionKey>,
}

/// One key of a multi-Region key's set.
#[derive(Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionKey {
    /// Its ARN (naming its region).
    pub arn: String,
    /// Its region.
    pub region: String,
}

/// ReplicateKey.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicateKeyResponse {
    /// The replica's metadata, as its region describes it.
    pub replica_key_metadata: KeyMetadata,
    /// The replica's key policy (the default one).
    pub replica_policy: String,
    /// The replica's tags.
    pub replica_tags: Vec<TagEntry>,
}

/// A tag as KMS answers it.
#[derive(Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagEntry {
    /// The tag's key.
    pub tag_key: String,
    /// The tag's value.
    pub tag_value: String,
}

/// GetParametersForImport.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportResponse {
    /// The key ARN.
    pub key_id: String,
    /// The token to give ImportKeyMaterial with material wrapped under `PublicKey`.
    #[serde(serialize_with = "blob_base64")]
    pub import_token: Vec<u8>,
    /// The wrapping public key, a DER `SubjectPublicKeyInfo`.
    #[serde(serialize_with = "blob_base64")]
    pub public_key: Vec<u8>,
    /// When the token and public key stop being accepted (24 hours on).
    pub parameters_valid_to: f64,
}

/// ImportKeyMaterial.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportKeyMaterialResponse {
    /// The key ARN.
    pub key_id: String,
    /// Which material (the same for every import of it).
    pub key_material_id: String,
}

/// CreateKey and DescribeKey.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadataResponse {
    /// The key.
    pub key_metadata: KeyMetadata,
}

/// One key of ListKeys.
#[derive(Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    /// The key ARN.
    pub key_arn: String,
    /// The key id.
    pub key_id: String,
}

/// ListKeys.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysResponse {
    /// The page.
    pub keys: Vec<KeyListEntry>,
    /// Where the next page starts, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether there is a next page.
    pub truncated: bool,
}

/// One alias of ListAliases.
#[derive(Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    /// The alias ARN.
    pub alias_arn: String,
    /// `alias/...`.
    pub alias_name: String,
    /// Seconds since the epoch.
    pub creation_date: f64,
    /// Seconds since the epoch.
    pub last_updated_date: f64,
    /// The key id.
    pub target_key_id: String,
}

/// ListAliases.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    /// The page.
    pub aliases: Vec<AliasListEntry>,
    /// Where the next page starts, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether there is a next page.
    pub truncated: bool,
}

/// One rotation of ListKeyRotations.
#[derive(Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationListEntry {
    /// The key ARN.
    pub key_id: String,
    /// Seconds since the epoch.
    pub rotation_date: f64,
    /// `ON_DEMAND` or `AUTOMATIC`.
    pub rotation_type: String,
}

/// ListKeyRotations.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyRotationsResponse {
    /// Where the next page starts, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// The page.
    pub rotations: Vec<RotationListEntry>,
    /// Whether there is a next page.
    pub truncated: bool,
}

/// CancelKeyDeletion and RotateKeyOnDemand.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdResponse {
    /// The key ARN.
    pub key_id: String,
}

/// ScheduleKeyDeletion.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionResponse {
    /// Seconds since the epoch.
    pub deletion_date: f64,
    /// The key ARN.
    pub key_id: String,
    /// `PendingDeletion`.
    pub key_state: &'static str,
    /// The waiting period.
    pub pending_window_in_days: u32,
}

/// GetKeyRotationStatus.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyRotationStatusResponse {
    /// The key ARN.
    pub key_id: String,
    /// Whether automatic rotation is on.
    pub key_rotation_enabled: bool,
    /// Present (possibly `null`) only when rotation is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<Option<f64>>,
    /// Present only when rotation is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<u32>,
}

/// GenerateDataKey and GenerateDataKeyWithoutPlaintext.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    /// The data key, encrypted.
    #[serde(serialize_with = "blob_base64")]
    pub ciphertext_blob: Vec<u8>,
    /// The key ARN.
    pub key_id: String,
    /// The data key (GenerateDataKey only).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_secret_base64"
    )]
    pub plaintext: Option<Secret>,
}

/// Encrypt.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptResponse {
    /// The blob.
    #[serde(serialize_with = "blob_base64")]
    pub ciphertext_blob: Vec<u8>,
    /// `SYMMETRIC_DEFAULT`.
    pub encryption_algorithm: &'static str,
    /// The key ARN.
    pub key_id: String,
}

/// Decrypt.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    /// `SYMMETRIC_DEFAULT`.
    pub encryption_algorithm: &'static str,
    /// The key ARN.
    pub key_id: String,
    /// The plaintext.
    #[serde(serialize_with = "secret_base64")]
    pub plaintext: Secret,
}

/// ReEncrypt.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptResponse {
    /// The new blob.
    #[serde(serialize_with = "blob_base64")]
    pub ciphertext_blob: Vec<u8>,
    /// `SYMMETRIC_DEFAULT`.
    pub destination_encryption_algorithm: &'static str,
    /// The ARN of the key of the new blob.
    pub key_id: String,
    /// `SYMMETRIC_DEFAULT`.
    pub source_encryption_algorithm: &'static str,
    /// The ARN of the key of the old blob.
    pub source_key_id: String,
}

/// Sign.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignResponse {
    /// The key ARN.
    pub key_id: String,
    /// The DER ECDSA signature.
    #[serde(serialize_with = "blob_base64")]
    pub signature: Vec<u8>,
    /// The algorithm of the request.
    pub signing_algorithm: &'static str,
}

/// Verify (an invalid signature is a KMSInvalidSignatureException, never `false`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyResponse {
    /// The key ARN.
    pub key_id: String,
    /// `true`.
    pub signature_valid: bool,
    /// The algorithm of the request.
    pub signing_algorithm: &'static str,
}

/// GetPublicKey.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPublicKeyResponse {
    /// The same as `KeySpec` (its deprecated name).
    pub customer_master_key_spec: &'static str,
    /// The key ARN.
    pub key_id: String,
    /// `ECC_NIST_P384`.
    pub key_spec: &'static str,
    /// `SIGN_VERIFY`.
    pub key_usage: &'static str,
    /// DER `SubjectPublicKeyInfo`.
    #[serde(serialize_with = "blob_base64")]
    pub public_key: Vec<u8>,
    /// `["ECDSA_SHA_384"]`.
    pub signing_algorithms: [&'static str; 1],
}
