//! Imported key material (bring your own key) as an operator does it: a KMS key made with
//! `Origin=EXTERNAL`, 256 bits of material made outside KMS, wrapped with RSAES_OAEP_SHA_256
//! under the public key of `GetParametersForImport` and imported. Works with any KMS speaking
//! the AWS protocol.

use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, OriginType, WrappingKeySpec};
use zeroize::Zeroizing;

/// Fresh 256-bit key material, as an operator's own key generator would make it.
pub fn new_material() -> Zeroizing<[u8; 32]> {
    let mut m = Zeroizing::new([0u8; 32]);
    rand::Rng::fill_bytes(&mut rand::rng(), &mut m[..]);
    m
}

/// Makes a key of origin `EXTERNAL` and imports `material` into it (not expiring); returns the
/// key's ARN.
pub async fn create_imported_key(kms: &Client, material: &[u8; 32]) -> anyhow::Result<String> {
    let meta = kms
        .create_key()
        .origin(OriginType::External)
        .description("imported key material")
        .send()
        .await?
        .key_metadata
        .ok_or_else(|| anyhow::anyhow!("CreateKey answered no metadata"))?;
    let arn = meta
        .arn
        .ok_or_else(|| anyhow::anyhow!("CreateKey answered no ARN"))?;
    import_material(kms, &arn, material).await?;
    Ok(arn)
}

/// Imports `material` into the key `key_id` (waiting for it: made so, or its material deleted)
/// with fresh import parameters.
pub async fn import_material(
    kms: &Client,
    key_id: &str,
    material: &[u8; 32],
) -> anyhow::Result<()> {
    let params = kms
        .get_parameters_for_import()
        .key_id(key_id)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await?;
    let (Some(token), Some(public)) = (params.import_token, params.public_key) else {
        anyhow::bail!("GetParametersForImport answered no token or public key");
    };
    let public = PublicEncryptingKey::from_der(public.as_ref())
        .map_err(|e| anyhow::anyhow!("the wrapping public key: {e:?}"))?;
    let public = OaepPublicEncryptingKey::new(public)
        .map_err(|e| anyhow::anyhow!("the wrapping public key: {e:?}"))?;
    let mut wrapped = vec![0u8; public.ciphertext_size()];
    let n = public
        .encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut wrapped, None)
        .map_err(|e| anyhow::anyhow!("wrapping the material: {e:?}"))?
        .len();
    wrapped.truncate(n);
    kms.import_key_material()
        .key_id(key_id)
        .import_token(token)
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await?;
    Ok(())
}
