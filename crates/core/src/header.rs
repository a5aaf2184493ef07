//! The v2 message header: its fields, its encoder, and its panic-free incremental parser.

use crate::aead::TAG_LEN;
use crate::codec::{ReadError, ReadResult, Reader, put_u16_prefixed};
use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::keys::{COMMITMENT_LEN, MESSAGE_ID_LEN};
use crate::limits::DecryptLimits;
use crate::suite::Suite;
use crate::suite_id::AlgorithmSuiteId;

/// Message format version written and accepted.
pub const VERSION_2: u8 = 0x02;
/// Provider id of EDKs made by AWS KMS.
pub const AWS_KMS_PROVIDER_ID: &str = "aws-kms";

/// One encrypted data key as it travels in the header.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EncryptedDataKey {
    /// Who can decrypt it: `aws-kms`, or a raw keyring's namespace.
    pub provider_id: String,
    /// Provider-specific: the KMS key ARN, or a raw keyring's key name and IV.
    pub provider_info: Vec<u8>,
    /// The wrapped data key (for KMS, the opaque `CiphertextBlob`).
    pub ciphertext: Vec<u8>,
}

impl EncryptedDataKey {
    /// An EDK made by AWS KMS (`GenerateDataKey` or `Encrypt`): provider info is the key ARN.
    pub fn aws_kms(key_arn: &str, ciphertext_blob: Vec<u8>) -> Result<Self> {
        let parts: Vec<&str> = key_arn.splitn(6, ':').collect();
        let valid =
            matches!(parts.as_slice(), ["arn", _, "kms", _, _, res] if res.starts_with("key/"));
        if !valid {
            return Err(Error::InvalidArgument(
                "an aws-kms EDK needs a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)",
            ));
        }
        if ciphertext_blob.is_empty() {
            return Err(Error::InvalidArgument("empty KMS ciphertext blob"));
        }
        Ok(Self {
            provider_id: AWS_KMS_PROVIDER_ID.to_owned(),
            provider_info: key_arn.as_bytes().to_vec(),
            ciphertext: ciphertext_blob,
        })
    }

    /// The KMS key ARN, if this EDK was made by AWS KMS.
    pub fn kms_key_arn(&self) -> Option<&str> {
        (self.provider_id == AWS_KMS_PROVIDER_ID)
            .then(|| core::str::from_utf8(&self.provider_info).ok())
            .flatten()
    }
}

/// How the body is laid out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ContentType {
    /// Legacy single-block body (decrypt only).
    NonFramed,
    /// Framed body (what this crate writes).
    Framed,
}

/// A parsed v2 header.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Header {
    /// The algorithm suite.
    pub suite: Suite,
    /// Random message id: HKDF salt and prefix of every body AAD.
    pub message_id: [u8; MESSAGE_ID_LEN],
    /// The full encryption context (including `aws-crypto-public-key` for signed suites).
    pub encryption_context: EncryptionContext,
    /// At least one EDK.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// Framed or not.
    pub content_type: ContentType,
    /// Plaintext bytes per regular frame (0 for non-framed bodies).
    pub frame_length: u32,
    /// The key commitment ("algorithm suite data").
    pub commitment: [u8; COMMITMENT_LEN],
}

impl Header {
    /// Serializes the header body (everything the header tag authenticates).
    pub fn encode_body(&self) -> Result<Vec<u8>> {
        let ctx = self.encryption_context.serialize()?;
        let mut out = Vec::with_capacity(128 + ctx.len());
        out.push(VERSION_2);
        out.extend_from_slice(&self.suite.id().0.to_be_bytes());
        out.extend_from_slice(&self.message_id);
        put_u16_prefixed(&mut out, &ctx)?;
        let count = u16::try_from(self.encrypted_data_keys.len())
            .map_err(|_| Error::InvalidArgument("more than 65535 encrypted data keys"))?;
        if count == 0 {
            return Err(Error::InvalidArgument(
                "a message needs at least one encrypted data key",
            ));
        }
        out.extend_from_slice(&count.to_be_bytes());
        for edk in &self.encrypted_data_keys {
            put_u16_prefixed(&mut out, edk.provider_id.as_bytes())?;
            put_u16_prefixed(&mut out, &edk.provider_info)?;
            put_u16_prefixed(&mut out, &edk.ciphertext)?;
        }
        out.push(match self.content_type {
            ContentType::NonFramed => 0x01,
            ContentType::Framed => 0x02,
        });
        out.extend_from_slice(&self.frame_length.to_be_bytes());
        out.extend_from_slice(&self.commitment);
        Ok(out)
    }

    /// Parses a complete header (body and tag) from the start of `bytes`, returning the header and
    /// the length of the header body; the 16-byte tag follows it. The tag is *not* checked here:
    /// that needs the data key (see [`crate::MessageDecoder`]).
    pub fn parse(bytes: &[u8], limits: &DecryptLimits) -> Result<(Header, usize)> {
        match parse(bytes, limits) {
            Ok(v) => Ok(v),
            Err(ReadError::Invalid(e)) => Err(e),
            Err(ReadError::Short(_)) => Err(Error::Truncated),
        }
    }
}

/// Incremental parse: `Short(n)` means at least `n` bytes are needed. A header longer than the
/// limit is refused as soon as a length field implies it, so a hostile length field can never
/// make the caller buffer more than `max_header_len`.
pub(crate) fn parse(bytes: &[u8], limits: &DecryptLimits) -> ReadResult<(Header, usize)> {
    let too_long = |n: usize| {
        ReadError::Invalid(Error::LimitExceeded {
            what: "header length",
            limit: limits.max_header_len as u64,
            actual: n as u64,
        })
    };
    match parse_unbounded(bytes, limits) {
        Err(ReadError::Short(n)) if n > limits.max_header_len => Err(too_long(n)),
        Ok((_, body_len)) if body_len + TAG_LEN > limits.max_header_len => {
            Err(too_long(body_len + TAG_LEN))
        }
        other => other,
    }
}

fn parse_unbounded(bytes: &[u8], limits: &DecryptLimits) -> ReadResult<(Header, usize)> {
    let mut r = Reader::new(bytes);
    let version = r.u8()?;
    if version != VERSION_2 {
        return Err(if version == 0x01 {
            Error::UnsupportedVersion(1)
        } else {
            Error::Malformed("not an AWS Encryption SDK message (bad version byte)")
        }
        .into());
    }
    let suite = Suite::from_id(AlgorithmSuiteId(r.u16()?))?;
    let message_id = r.array::<MESSAGE_ID_LEN>()?;
    let encryption_context = EncryptionContext::parse(r.u16_prefixed()?)?;
    let edk_count = r.u16()?;
    if edk_count == 0 {
        return Err(Error::Malformed("encrypted data key count is 0").into());
    }
    if edk_count > limits.max_encrypted_data_keys {
        return Err(Error::LimitExceeded {
            what: "encrypted data key count",
            limit: limits.max_encrypted_data_keys.into(),
            actual: edk_count.into(),
        }
        .into());
    }
    let mut encrypted_data_keys = Vec::with_capacity(usize::from(edk_count).min(16));
    for _ in 0..edk_count {
        let (pid, info, ct) = (r.u16_prefixed()?, r.u16_prefixed()?, r.u16_prefixed()?);
        let provider_id = String::from_utf8(pid.to_vec())
            .map_err(|_| Error::Malformed("EDK provider id is not UTF-8"))?;
        encrypted_data_keys.push(EncryptedDataKey {
            provider_id,
            provider_info: info.to_vec(),
            ciphertext: ct.to_vec(),
        });
    }
    let content_type = match r.u8()? {
        0x01 => ContentType::NonFramed,
        0x02 => ContentType::Framed,
        _ => return Err(Error::Malformed("unknown content type").into()),
    };
    let frame_length = r.u32()?;
    match content_type {
        ContentType::Framed if frame_length == 0 => {
            return Err(Error::Malformed("frame length 0 in a framed message").into());
        }
        ContentType::NonFramed if frame_length != 0 => {
            return Err(Error::Malformed("non-framed message with a frame length").into());
        }
        _ => {}
    }
    if u64::from(frame_length) > limits.max_frame_len {
        return Err(Error::LimitExceeded {
            what: "frame length",
            limit: limits.max_frame_len,
            actual: frame_length.into(),
        }
        .into());
    }
    let commitment = r.array::<COMMITMENT_LEN>()?;
    let body_len = r.position();
    r.take(TAG_LEN)?;
    Ok((
        Header {
            suite,
            message_id,
            encryption_context,
            encrypted_data_keys,
            content_type,
            frame_length,
            commitment,
        },
        body_len,
    ))
}
