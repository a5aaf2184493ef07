//! What the API answered when it refused (`ApiFailure`, `status_of`, `code_of`, `message_of`),
//! a share link as its owner's page made it, and a message sealed for an issued upload.

use anyhow::{Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{CreateUploadResponse, ErrorBody, ShareCreated, ShareKeyResponse};
use cipherdrop_core::{
    DataKey, DecryptLimits, EncryptedDataKey, EncryptionContext, EncryptionMaterials, Encryptor,
    LinkSecret, SigningKey, Suite, open_from_link,
};

/// An API answer that was not a success.
#[derive(Debug)]
pub struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// The error body, when it had one.
    pub body: Option<ErrorBody>,
    /// S3's own answer, when S3 refused (a presigned request).
    pub s3: Option<String>,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {:?}", self.status, self.body)
    }
}
impl std::error::Error for ApiFailure {}

/// The status of a failed call (panics if the error is something else).
pub fn status_of(e: &anyhow::Error) -> u16 {
    e.downcast_ref::<ApiFailure>()
        .map(|f| f.status)
        .unwrap_or_else(|| panic!("not an API failure: {e:#}"))
}

/// The error code of a failed call, as the wire spells it (`s3` when S3 itself refused).
pub fn code_of(e: &anyhow::Error) -> String {
    let failure = e.downcast_ref::<ApiFailure>();
    if failure.is_some_and(|f| f.s3.is_some()) {
        return "s3".to_owned();
    }
    failure
        .and_then(|f| f.body.as_ref())
        .map(|b| b.error.as_str().to_owned())
        .unwrap_or_default()
}

/// The message of a failed call's error body (empty if it had none): the server's own words,
/// unlike the error's `Debug`, which may carry a backtrace.
pub fn message_of(e: &anyhow::Error) -> String {
    e.downcast_ref::<ApiFailure>()
        .and_then(|f| f.body.as_ref().map(|b| b.message.clone()).or(f.s3.clone()))
        .unwrap_or_default()
}

/// A share link as its owner's page made it: the server's answer and the link's secret.
pub struct Link {
    /// The server's answer (settings and token).
    pub created: ShareCreated,
    /// The token and the link key, as the fragment carries them.
    pub secret: LinkSecret,
}

impl Link {
    /// The token (what the recipient's page sends the server).
    pub fn token(&self) -> &str {
        &self.created.token
    }

    /// The link's id.
    pub fn id(&self) -> &str {
        &self.created.share.id
    }

    /// The whole link, as the owner's page shows it.
    pub fn url(&self, base: &str) -> String {
        format!("{base}/s/#{}", self.secret.fragment().as_str())
    }

    /// What the recipient's page does with a release: opens the sealed key with the link key.
    pub fn open(&self, release: &ShareKeyResponse) -> Result<DataKey> {
        let sealed = B64.decode(&release.sealed_key)?;
        Ok(open_from_link(&sealed, &self.secret.key, &release.id)?)
    }

    /// The name of one file of a link to several files, opened with the link key.
    pub fn item_name(&self, item: &cipherdrop_api::ShareItemInfo) -> Result<String> {
        let meta = cipherdrop_core::metadata::open(
            &item.metadata,
            self.secret.key.as_bytes(),
            &item.object_id,
        )
        .map_err(|e| anyhow!("{e}"))?;
        Ok(meta.name)
    }

    /// Downloads one file of a release of a link to several files and decrypts it.
    pub async fn fetch_item(
        &self,
        release: &ShareKeyResponse,
        item: &cipherdrop_api::ShareItemKey,
    ) -> Result<Vec<u8>> {
        let ciphertext = reqwest::get(&item.download_url)
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let key = open_from_link(
            &B64.decode(&item.sealed_key)?,
            &self.secret.key,
            &release.id,
        )?;
        let (plaintext, _) = cipherdrop_core::decrypt(key, &ciphertext, DecryptLimits::default())?;
        Ok(plaintext)
    }

    /// Downloads a release's ciphertext and decrypts it with the opened key.
    pub async fn fetch(&self, release: &ShareKeyResponse) -> Result<Vec<u8>> {
        let ciphertext = reqwest::get(&release.download_url)
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let (plaintext, _) =
            cipherdrop_core::decrypt(self.open(release)?, &ciphertext, DecryptLimits::default())?;
        Ok(plaintext)
    }
}

/// Encrypts with the materials an upload handed out (what the browser does).
pub fn encrypt_for(
    up: &CreateUploadResponse,
    signing: Option<SigningKey>,
    frame_length: u32,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let suite = if signing.is_some() {
        Suite::CommitKeyEcdsaP384
    } else {
        Suite::CommitKey
    };
    let context: EncryptionContext = up
        .encryption_context
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let data_key = DataKey::from_bytes(&B64.decode(&up.data_key)?)?;
    let edk = EncryptedDataKey::aws_kms(&up.key_arn, B64.decode(&up.edk)?)?;
    let materials = EncryptionMaterials::new(suite, context, data_key, vec![edk], signing)?;
    let mut rng = rand::rng();
    let mut enc =
        Encryptor::<cipherdrop_core::AesGcmCipher>::new(materials, frame_length, &mut rng)?;
    let mut out = Vec::with_capacity(usize::try_from(up.ciphertext_size)?);
    enc.push(plaintext, &mut out)?;
    enc.finish(&mut out)?;
    Ok(out)
}
