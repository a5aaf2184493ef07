//! Key material: the ESDK raw AES keyring, encryption materials, and where decrypt keys come from.

use aes_gcm::aead::consts::U12;
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, KeyInit};
use zeroize::Zeroizing;

use crate::aead::{IV_LEN, TAG_LEN, gcm_open, gcm_seal, inout};
use crate::context::{EncryptionContext, PUBLIC_KEY_FIELD, RESERVED_PREFIX};
use crate::error::{Error, Result};
use crate::header::{AWS_KMS_PROVIDER_ID, EncryptedDataKey, Header};
use crate::keys::{DataKey, KEY_LEN};
use crate::sign::SigningKey;
use crate::suite::Suite;

/// The ESDK raw AES keyring: wraps data keys with a local AES-GCM key (128, 192 or 256 bits).
///
/// EDK layout (raw-aes-keyring.md): provider id = namespace; provider info = key name ‖ u32 tag
/// length in bits (128) ‖ u32 IV length (12) ‖ IV; ciphertext = AES-GCM(data key) ‖ tag, with the
/// serialized encryption context as AAD.
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    key: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for RawAesKeyring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawAesKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("key", &format_args!("<{} bits>", self.key.len() * 8))
            .finish()
    }
}

impl RawAesKeyring {
    /// A keyring for `key` (16, 24 or 32 bytes) named `namespace`/`name`.
    pub fn new(namespace: &str, name: &str, key: &[u8]) -> Result<Self> {
        if !matches!(key.len(), 16 | 24 | 32) {
            return Err(Error::InvalidArgument(
                "a raw AES wrapping key is 16, 24 or 32 bytes",
            ));
        }
        if namespace.starts_with(AWS_KMS_PROVIDER_ID) {
            return Err(Error::InvalidArgument(
                "a raw keyring namespace may not start with aws-kms",
            ));
        }
        Ok(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: Zeroizing::new(key.to_vec()),
        })
    }

    /// Wraps `data_key` for `context` (the full message context).
    pub fn wrap<R: rand_core::CryptoRng + ?Sized>(
        &self,
        data_key: &DataKey,
        context: &EncryptionContext,
        rng: &mut R,
    ) -> Result<EncryptedDataKey> {
        let aad = context.serialize()?;
        let mut iv = [0u8; IV_LEN];
        rng.fill_bytes(&mut iv);
        let mut ct = vec![0u8; KEY_LEN + TAG_LEN];
        let (body, tag_out) = ct.split_at_mut(KEY_LEN);
        let tag = self.seal(&iv, &aad, data_key.as_bytes(), body)?;
        tag_out.copy_from_slice(&tag);
        let mut info = Vec::with_capacity(self.name.len() + 8 + IV_LEN);
        info.extend_from_slice(self.name.as_bytes());
        info.extend_from_slice(&((TAG_LEN * 8) as u32).to_be_bytes());
        info.extend_from_slice(&(IV_LEN as u32).to_be_bytes());
        info.extend_from_slice(&iv);
        Ok(EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info: info,
            ciphertext: ct,
        })
    }

    /// A fresh data key and its EDK.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(
        &self,
        context: &EncryptionContext,
        rng: &mut R,
    ) -> Result<(DataKey, EncryptedDataKey)> {
        let key = DataKey::generate(rng);
        let edk = self.wrap(&key, context, rng)?;
        Ok((key, edk))
    }

    /// Whether `edk` is addressed to this keyring, and if so its IV.
    fn iv_for(&self, edk: &EncryptedDataKey) -> Option<[u8; IV_LEN]> {
        if edk.provider_id != self.namespace {
            return None;
        }
        let rest = edk.provider_info.strip_prefix(self.name.as_bytes())?;
        let (lens, iv) = rest.split_at_checked(8)?;
        if lens != [0, 0, 0, 128, 0, 0, 0, 12] {
            return None;
        }
        iv.try_into().ok()
    }

    fn cipher(&self) -> Result<WrappingCipher> {
        let bad = |_| Error::InvalidArgument("a raw AES wrapping key is 16, 24 or 32 bytes");
        Ok(match self.key.len() {
            16 => WrappingCipher::Aes128(Aes128Gcm::new_from_slice(&self.key).map_err(bad)?),
            24 => WrappingCipher::Aes192(AesGcm::new_from_slice(&self.key).map_err(bad)?),
            _ => WrappingCipher::Aes256(Aes256Gcm::new_from_slice(&self.key).map_err(bad)?),
        })
    }

    fn seal(&self, iv: &[u8; 12], aad: &[u8], input: &[u8], out: &mut [u8]) -> Result<[u8; 16]> {
        let buf = inout(input, out)?;
        match self.cipher()? {
            WrappingCipher::Aes128(c) => gcm_seal(&c, iv, aad, buf),
            WrappingCipher::Aes192(c) => gcm_seal(&c, iv, aad, buf),
            WrappingCipher::Aes256(c) => gcm_seal(&c, iv, aad, buf),
        }
    }

    fn open(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
        out: &mut [u8],
        tag: &[u8; 16],
    ) -> bool {
        let (Ok(buf), Ok(cipher)) = (inout(input, out), self.cipher()) else {
            return false;
        };
        match cipher {
            WrappingCipher::Aes128(c) => gcm_open(&c, iv, aad, buf, tag),
            WrappingCipher::Aes192(c) => gcm_open(&c, iv, aad, buf, tag),
            WrappingCipher::Aes256(c) => gcm_open(&c, iv, aad, buf, tag),
        }
        .is_ok()
    }
}

/// AES-GCM with the raw keyring's key size.
enum WrappingCipher {
    Aes128(Aes128Gcm),
    Aes192(AesGcm<Aes192, U12>),
    Aes256(Aes256Gcm),
}

/// Where a decryptor gets the plaintext data key once it has read the header.
pub trait KeyProvider {
    /// Returns the data key for this header, or an error.
    fn data_key(&self, header: &Header) -> Result<DataKey>;
}

impl KeyProvider for RawAesKeyring {
    /// Tries every EDK addressed to this keyring. [`Error::NoMatchingKey`] when none is;
    /// [`Error::Authentication`] when one is but does not unwrap (wrong key or modified).
    fn data_key(&self, header: &Header) -> Result<DataKey> {
        let aad = header.encryption_context.serialize()?;
        let mut matched = false;
        for edk in &header.encrypted_data_keys {
            let Some(iv) = self.iv_for(edk) else { continue };
            matched = true;
            let Some((ct, tag)) = edk.ciphertext.split_at_checked(KEY_LEN) else {
                continue;
            };
            let Ok(tag) = <[u8; TAG_LEN]>::try_from(tag) else {
                continue;
            };
            let mut key = Zeroizing::new([0u8; KEY_LEN]);
            if self.open(&iv, &aad, ct, &mut key[..], &tag) {
                return DataKey::from_bytes(&key[..]);
            }
        }
        Err(if matched {
            Error::Authentication
        } else {
            Error::NoMatchingKey
        })
    }
}

/// A data key that is already known (e.g. released by KMS through the backend).
impl KeyProvider for DataKey {
    fn data_key(&self, _header: &Header) -> Result<DataKey> {
        Ok(self.clone())
    }
}

impl<T: KeyProvider + ?Sized> KeyProvider for &T {
    fn data_key(&self, header: &Header) -> Result<DataKey> {
        (**self).data_key(header)
    }
}

/// Adapts a closure into a [`KeyProvider`].
pub struct KeyFn<F>(pub F);

impl<F: Fn(&Header) -> Result<DataKey>> KeyProvider for KeyFn<F> {
    fn data_key(&self, header: &Header) -> Result<DataKey> {
        (self.0)(header)
    }
}

/// The message context for `suite`: the caller's pairs (which may not use the reserved
/// `aws-crypto-` prefix) plus, for signed suites, the verification key of `signing_key`.
///
/// This is the exact context to send to KMS `GenerateDataKey` and to write in the header.
pub fn message_context(
    suite: Suite,
    caller_context: &EncryptionContext,
    signing_key: Option<&SigningKey>,
) -> Result<EncryptionContext> {
    caller_context.check_no_reserved_keys()?;
    let mut ctx = caller_context.clone();
    match (suite.is_signed(), signing_key) {
        (true, Some(key)) => ctx.insert(PUBLIC_KEY_FIELD, key.public_key_base64()),
        (true, None) => return Err(Error::InvalidArgument("suite 0x0578 needs a signing key")),
        (false, Some(_)) => {
            return Err(Error::InvalidArgument(
                "suite 0x0478 is unsigned: no signing key",
            ));
        }
        (false, None) => {}
    }
    ctx.serialize()?;
    Ok(ctx)
}

/// Everything needed to encrypt one message.
#[derive(Debug)]
pub struct EncryptionMaterials {
    pub(crate) suite: Suite,
    pub(crate) context: EncryptionContext,
    pub(crate) data_key: DataKey,
    pub(crate) edks: Vec<EncryptedDataKey>,
    pub(crate) signing_key: Option<SigningKey>,
}

impl EncryptionMaterials {
    /// Checks and bundles the materials. `context` is the full message context (see
    /// [`message_context`]); `edks` all wrap `data_key` for that context.
    pub fn new(
        suite: Suite,
        context: EncryptionContext,
        data_key: DataKey,
        edks: Vec<EncryptedDataKey>,
        signing_key: Option<SigningKey>,
    ) -> Result<Self> {
        if edks.is_empty() {
            return Err(Error::InvalidArgument(
                "at least one encrypted data key is needed",
            ));
        }
        if edks.len() > usize::from(u16::MAX) {
            return Err(Error::InvalidArgument(
                "more than 65535 encrypted data keys",
            ));
        }
        let mut caller = context.clone();
        let public = caller.remove(PUBLIC_KEY_FIELD);
        if caller.iter().any(|(k, _)| k.starts_with(RESERVED_PREFIX)) {
            return Err(Error::InvalidContext(
                "keys starting with \"aws-crypto-\" are reserved",
            ));
        }
        match (&signing_key, public) {
            (Some(key), Some(public)) if suite.is_signed() && key.public_key_base64() == public => {
            }
            (None, None) if !suite.is_signed() => {}
            _ => {
                return Err(Error::InvalidContext(
                    "the context must carry aws-crypto-public-key of the signing key for 0x0578, \
                     and no signing key for 0x0478",
                ));
            }
        }
        context.serialize()?;
        Ok(Self {
            suite,
            context,
            data_key,
            edks,
            signing_key,
        })
    }

    /// Materials wrapped by a raw AES keyring: a fresh data key, a fresh signing key for 0x0578.
    pub fn with_raw_aes<R: rand_core::CryptoRng + ?Sized>(
        suite: Suite,
        caller_context: &EncryptionContext,
        keyrings: &[&RawAesKeyring],
        rng: &mut R,
    ) -> Result<Self> {
        let signing_key = suite.is_signed().then(|| SigningKey::generate(rng));
        let context = message_context(suite, caller_context, signing_key.as_ref())?;
        let data_key = DataKey::generate(rng);
        let edks = keyrings
            .iter()
            .map(|k| k.wrap(&data_key, &context, rng))
            .collect::<Result<Vec<_>>>()?;
        Self::new(suite, context, data_key, edks, signing_key)
    }

    /// The full message context.
    pub fn context(&self) -> &EncryptionContext {
        &self.context
    }
}
