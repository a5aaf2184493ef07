//! Keys for `cipherdrop encrypt` and `decrypt`: AWS KMS keys, as the official AWS KMS keyring
//! uses them (so `aws-encryption-cli` reads what we write and the reverse), mixed with raw AES
//! keys from files.
//!
//! Encrypt: the first KMS key generates the data key (`GenerateDataKey` with the message's whole
//! encryption context), every other KMS key wraps it (`Encrypt`), and raw keys wrap it too; the
//! EDKs name the key ARN KMS answered. Without a KMS key, the raw key generates. Decrypt: raw keys
//! are tried first; then, in strict mode, only EDKs whose key ARN is one of `--kms-key-id`, or, in
//! discovery mode, any `aws-kms` EDK whose ARN passes the account/partition filter. Each is sent to
//! KMS with the message's context; the answer must name the same key and hold 32 bytes. Why no EDK
//! opened is kept in words for the error message (the core only knows "no matching key").
//!
//! Credentials, region and endpoint come from the standard AWS chain (environment, profile, role);
//! `AWS_ENDPOINT_URL_KMS` points it at the embedded KMS or any other KMS-compatible service.

use std::cell::RefCell;
use std::collections::HashMap;

use anyhow::{Context as _, Result, anyhow, bail};
use aws_sdk_kms::primitives::Blob;
use cipherdrop_core::{
    AWS_KMS_PROVIDER_ID, DataKey, EncryptedDataKey, EncryptionContext, EncryptionMaterials,
    Error as CoreError, Header, KeyProvider, RawAesKeyring, SigningKey, Suite, message_context,
};
use tokio::runtime::Runtime;
use zeroize::Zeroizing;

/// The parts of a KMS ARN that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsArn {
    /// `aws`, `aws-cn`, `aws-us-gov`…
    pub partition: String,
    /// The key's region.
    pub region: String,
    /// The owning account.
    pub account: String,
    /// `key/…` or `alias/…`.
    pub resource: String,
}

impl KmsArn {
    /// Parses `arn:PARTITION:kms:REGION:ACCOUNT:key/ID` (or `alias/NAME`).
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.splitn(6, ':');
        let (arn, partition, service, region, account, resource) = (
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
        );
        let ok = arn == "arn"
            && service == "kms"
            && !partition.is_empty()
            && !region.is_empty()
            && !account.is_empty()
            && (resource.starts_with("key/") || resource.starts_with("alias/"));
        ok.then(|| Self {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource: resource.to_owned(),
        })
    }
}

/// Which KMS keys decryption may use.
#[derive(Debug, Clone, Default)]
pub enum KmsDecryptMode {
    /// None: raw keys only.
    #[default]
    Off,
    /// Only these key ARNs.
    Strict(Vec<String>),
    /// Any key the caller may use, within the filter.
    Discovery {
        /// Allowed partition, if any.
        partition: Option<String>,
        /// Allowed accounts (empty: any).
        accounts: Vec<String>,
    },
}

/// KMS clients, one per region, on one runtime.
pub struct Kms {
    rt: Runtime,
    clients: RefCell<HashMap<String, aws_sdk_kms::Client>>,
}

fn context_map(context: &EncryptionContext) -> HashMap<String, String> {
    context
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

impl Kms {
    /// A runtime for the KMS calls (clients are made on first use).
    pub fn new() -> Result<Self> {
        Ok(Self {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            clients: RefCell::new(HashMap::new()),
        })
    }

    /// The client for `region` (`None`: the region of the standard chain).
    fn client(&self, region: Option<&str>) -> Result<aws_sdk_kms::Client> {
        let name = region.unwrap_or("").to_owned();
        if let Some(c) = self.clients.borrow().get(&name) {
            return Ok(c.clone());
        }
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r.to_owned()));
        }
        let conf = self.rt.block_on(loader.load());
        if conf.region().is_none() {
            bail!(
                "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), a profile's region, or \
                 give the key as an ARN"
            );
        }
        let client = aws_sdk_kms::Client::new(&conf);
        self.clients.borrow_mut().insert(name, client.clone());
        Ok(client)
    }

    /// The client for a key identifier: an ARN's own region, else the chain's.
    fn client_for(&self, key_id: &str) -> Result<aws_sdk_kms::Client> {
        let arn = KmsArn::parse(key_id);
        self.client(arn.as_ref().map(|a| a.region.as_str()))
    }

    /// `GenerateDataKey` under `key_id`, bound to `context`.
    fn generate(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<(DataKey, EncryptedDataKey)> {
        let client = self.client_for(key_id)?;
        let out = self
            .rt
            .block_on(
                client
                    .generate_data_key()
                    .key_id(key_id)
                    .number_of_bytes(32)
                    .set_encryption_context(Some(context_map(context)))
                    .send(),
            )
            .map_err(|e| anyhow!("KMS GenerateDataKey with {key_id}: {}", describe(&e)))?;
        let plaintext = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        let (Some(blob), Some(arn)) = (out.ciphertext_blob, out.key_id) else {
            bail!("KMS GenerateDataKey with {key_id} answered without a key");
        };
        let key = DataKey::from_bytes(&plaintext)
            .map_err(|_| anyhow!("KMS GenerateDataKey with {key_id} answered a wrong-sized key"))?;
        Ok((key, EncryptedDataKey::aws_kms(&arn, blob.into_inner())?))
    }

    /// `Encrypt` of `data_key` under `key_id`, bound to `context`.
    fn wrap(
        &self,
        key_id: &str,
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> Result<EncryptedDataKey> {
        let client = self.client_for(key_id)?;
        let out = self
            .rt
            .block_on(
                client
                    .encrypt()
                    .key_id(key_id)
                    .plaintext(Blob::new(data_key.as_bytes().to_vec()))
                    .set_encryption_context(Some(context_map(context)))
                    .send(),
            )
            .map_err(|e| anyhow!("KMS Encrypt with {key_id}: {}", describe(&e)))?;
        let (Some(blob), Some(arn)) = (out.ciphertext_blob, out.key_id) else {
            bail!("KMS Encrypt with {key_id} answered without a ciphertext");
        };
        Ok(EncryptedDataKey::aws_kms(&arn, blob.into_inner())?)
    }

    /// `Decrypt` of one EDK under its key ARN; the answer must name the same key.
    fn unwrap(&self, arn: &str, edk: &EncryptedDataKey, header: &Header) -> Result<DataKey> {
        let client = self.client_for(arn)?;
        let out = self
            .rt
            .block_on(
                client
                    .decrypt()
                    .key_id(arn)
                    .ciphertext_blob(Blob::new(edk.ciphertext.clone()))
                    .set_encryption_context(Some(context_map(&header.encryption_context)))
                    .send(),
            )
            .map_err(|e| anyhow!("KMS Decrypt with {arn}: {}", describe(&e)))?;
        if out.key_id.as_deref() != Some(arn) {
            bail!("KMS Decrypt answered for another key than {arn}");
        }
        let plaintext = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        DataKey::from_bytes(&plaintext)
            .map_err(|_| anyhow!("KMS Decrypt with {arn} answered a wrong-sized key"))
    }
}

/// A KMS error in words: the service's code and message, or the connection failure.
fn describe<E, R>(e: &aws_sdk_kms::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match e {
        aws_sdk_kms::error::SdkError::ServiceError(s) => {
            let err = s.err();
            format!(
                "{}: {}",
                err.code().unwrap_or("error"),
                err.message().map_or_else(|| err.to_string(), str::to_owned)
            )
        }
        other => crate::exit::chain(other),
    }
}

/// Encryption materials for `suite` and the caller's context: the data key from the first KMS
/// key (or, without one, made here), wrapped under every KMS key and every raw key.
pub fn encryption_materials(
    kms: Option<&Kms>,
    kms_keys: &[String],
    raw: &[RawAesKeyring],
    suite: Suite,
    caller_context: &EncryptionContext,
) -> Result<EncryptionMaterials> {
    let mut rng = rand::rng();
    let signing = suite.is_signed().then(|| SigningKey::generate(&mut rng));
    let context = message_context(suite, caller_context, signing.as_ref())?;
    let mut edks = Vec::new();
    let data_key = match (kms_keys.split_first(), kms) {
        (Some((generator, others)), Some(kms)) => {
            let (key, edk) = kms.generate(generator, &context)?;
            edks.push(edk);
            for k in others {
                edks.push(kms.wrap(k, &key, &context)?);
            }
            key
        }
        (Some(_), None) => bail!("KMS keys given without a KMS client"),
        (None, _) if raw.is_empty() => {
            bail!("no key: give --kms-key-id (repeatable) and/or --key-file")
        }
        (None, _) => DataKey::generate(&mut rng),
    };
    for r in raw {
        edks.push(r.wrap(&data_key, &context, &mut rng)?);
    }
    Ok(EncryptionMaterials::new(
        suite, context, data_key, edks, signing,
    )?)
}

/// The decrypting side: raw keys first, then KMS as the mode allows. Why nothing opened is kept
/// in [`DecryptKeys::failure`].
pub struct DecryptKeys<'a> {
    /// Raw AES keys.
    pub raw: &'a [RawAesKeyring],
    /// KMS calls.
    pub kms: Option<&'a Kms>,
    /// Which KMS keys may be used.
    pub mode: KmsDecryptMode,
    /// Why no key opened, in words.
    pub failure: RefCell<Option<String>>,
}

impl DecryptKeys<'_> {
    /// Whether the mode allows KMS key `arn`.
    fn allows(&self, arn: &str) -> bool {
        match &self.mode {
            KmsDecryptMode::Off => false,
            KmsDecryptMode::Strict(keys) => keys.iter().any(|k| k == arn),
            KmsDecryptMode::Discovery {
                partition,
                accounts,
            } => KmsArn::parse(arn).is_some_and(|a| {
                a.resource.starts_with("key/")
                    && partition.as_ref().is_none_or(|p| *p == a.partition)
                    && (accounts.is_empty() || accounts.contains(&a.account))
            }),
        }
    }

    fn fail(&self, why: String) -> CoreError {
        *self.failure.borrow_mut() = Some(why);
        CoreError::NoMatchingKey
    }
}

impl KeyProvider for DecryptKeys<'_> {
    fn data_key(&self, header: &Header) -> cipherdrop_core::Result<DataKey> {
        let mut raw_failed = false;
        for r in self.raw {
            match r.data_key(header) {
                Ok(k) => return Ok(k),
                Err(CoreError::NoMatchingKey) => {}
                Err(_) => raw_failed = true,
            }
        }
        let kms_arns: Vec<String> = header
            .encrypted_data_keys
            .iter()
            .filter(|e| e.provider_id == AWS_KMS_PROVIDER_ID)
            .map(|e| String::from_utf8_lossy(&e.provider_info).into_owned())
            .collect();
        let mut tried = Vec::new();
        if let Some(kms) = self.kms {
            for edk in &header.encrypted_data_keys {
                if edk.provider_id != AWS_KMS_PROVIDER_ID {
                    continue;
                }
                let Ok(arn) = std::str::from_utf8(&edk.provider_info) else {
                    continue;
                };
                if !self.allows(arn) {
                    continue;
                }
                match kms.unwrap(arn, edk, header) {
                    Ok(k) => return Ok(k),
                    Err(e) => tried.push(format!("{e:#}")),
                }
            }
        }
        let found = if kms_arns.is_empty() {
            "none".to_owned()
        } else {
            kms_arns.join(", ")
        };
        Err(if !tried.is_empty() {
            self.fail(format!(
                "KMS did not decrypt any of the message's data keys: {}",
                tried.join("; ")
            ))
        } else if raw_failed {
            self.fail("a raw key matched but did not open its data key (wrong key, or the message was altered)".into())
        } else {
            let given = match &self.mode {
                KmsDecryptMode::Strict(keys) => format!("the KMS keys given ({})", keys.join(", ")),
                KmsDecryptMode::Discovery { .. } => {
                    "the discovery filter (--discovery-account/--discovery-partition)".to_owned()
                }
                KmsDecryptMode::Off if self.raw.is_empty() => "no key given".to_owned(),
                KmsDecryptMode::Off => "the raw keys given".to_owned(),
            };
            self.fail(format!(
                "no encrypted data key of the message is under {given}; its KMS keys: {found}"
            ))
        })
    }
}

/// Checks the key identifiers given for decryption: strict mode needs key ARNs (an EDK names
/// the key ARN, never an alias or a bare id).
pub fn strict_keys(ids: &[String]) -> Result<Vec<String>> {
    ids.iter()
        .map(|id| {
            KmsArn::parse(id)
                .filter(|a| a.resource.starts_with("key/"))
                .map(|_| id.clone())
                .with_context(|| {
                    format!(
                        "--kms-key-id {id}: decryption needs key ARNs \
                         (arn:aws:kms:REGION:ACCOUNT:key/ID), as messages name them"
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn arns_parse_and_filter() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let a = KmsArn::parse(arn).unwrap();
        assert_eq!(
            (a.partition.as_str(), a.region.as_str(), a.account.as_str()),
            ("aws", "us-east-1", "111122223333")
        );
        assert!(KmsArn::parse("arn:aws:kms:us-east-1:111122223333:alias/x").is_some());
        for bad in [
            "alias/x",
            "1234abcd",
            "arn:aws:s3:us-east-1:111122223333:key/x",
            "arn:aws:kms::111122223333:key/x",
            "arn:aws:kms:us-east-1:111122223333:thing/x",
        ] {
            assert!(KmsArn::parse(bad).is_none(), "{bad}");
        }
        let keys = DecryptKeys {
            raw: &[],
            kms: None,
            mode: KmsDecryptMode::Discovery {
                partition: Some("aws".into()),
                accounts: vec!["111122223333".into()],
            },
            failure: RefCell::new(None),
        };
        assert!(keys.allows(arn));
        assert!(!keys.allows(&arn.replace("111122223333", "444455556666")));
        assert!(!keys.allows(&arn.replace("arn:aws:", "arn:aws-cn:")));
        assert!(!keys.allows("arn:aws:kms:us-east-1:111122223333:alias/x"));
        assert!(strict_keys(&["alias/x".into()]).is_err());
        assert!(strict_keys(&[arn.into()]).is_ok());
    }
}
