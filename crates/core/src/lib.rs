//! `cipherdrop-core`: the AWS Encryption SDK message format v2, streaming, with no I/O.
//!
//! Messages written here decrypt with the official AWS Encryption SDKs and `aws-encryption-cli`,
//! and messages they write with suites 0x0478 and 0x0578 decrypt here. The commitment policy is
//! always `REQUIRE_ENCRYPT_REQUIRE_DECRYPT`: v1 messages and non-committing suites are refused.
//!
//! # Layers
//! - [`Encryptor`] / [`Decryptor`]: push bytes in any chunking, get bytes out; built-in AES-GCM.
//! - [`FrameEncoder`] / [`MessageDecoder`]: the same without a cipher, for an outside (for example
//!   asynchronous WebCrypto) AES-256-GCM. Core keeps the header, key derivation, key commitment,
//!   header tag, IVs, AADs, framing and signature.
//! - Materials: [`RawAesKeyring`], KMS EDKs as data ([`EncryptedDataKey::aws_kms`]), and
//!   [`EncryptionMaterials`].
//!
//! # Security considerations
//! - Every input byte is attacker-controlled. Parsing is bounds-checked and never panics; lengths
//!   are checked against [`DecryptLimits`] before anything is buffered for them.
//! - No frame's plaintext is released before its tag verifies; for signed suites the final frame
//!   is released only after the signature verifies. Output is complete only when `finish` succeeds:
//!   a truncated message is an error, as are bytes after its end.
//! - The data key is checked against the header's key commitment (in constant time) and the header
//!   tag before any frame is decrypted.
//! - Every authentication failure is the one opaque [`Error::Authentication`].
//! - Data keys, frame keys and signing keys are zeroized on drop and never printed.

mod aead;
mod body;
mod codec;
mod context;
mod decrypt;
mod encrypt;
mod error;
mod header;
mod keyring;
mod keys;
mod limits;
mod link;
pub mod metadata;
mod rekey;
pub mod resume;
mod sealed;
pub mod share_set;
mod sign;
mod size;
mod suite;
mod suite_id;
pub mod zip;

pub use aead::{AesGcmCipher, FrameCipher, IV_LEN, TAG_LEN};
pub use body::{
    FINAL_FRAME_OVERHEAD, FrameAad, REGULAR_FRAME_OVERHEAD, canonical_iv, framed_body_len,
};
pub use context::{
    EncryptionContext, MAX_SERIALIZED_CONTEXT_LEN, PUBLIC_KEY_FIELD, RESERVED_PREFIX,
};
pub use decrypt::{Decryptor, Event, FramePos, MessageDecoder, SealedFrame, Step, decrypt};
pub use encrypt::{Encryptor, FrameEncoder, FrameSpec, encrypt};
pub use error::{Error, Result};
pub use header::{AWS_KMS_PROVIDER_ID, ContentType, EncryptedDataKey, Header, VERSION_2};
pub use keyring::{EncryptionMaterials, KeyFn, KeyProvider, RawAesKeyring, message_context};
pub use keys::{COMMITMENT_LEN, DataKey, FrameKey, KEY_LEN, MESSAGE_ID_LEN};
pub use limits::{
    DEFAULT_FRAME_LEN, DEFAULT_MAX_ENCRYPTED_DATA_KEYS, DEFAULT_MAX_FRAME_LEN,
    DEFAULT_MAX_HEADER_LEN, DecryptLimits, MAX_ENCRYPT_FRAME_LEN,
};
pub use link::{
    LINK_KEY_LEN, LINK_LABEL, LinkKey, LinkSecret, MAX_TOKEN_LEN, SEALED_LINK_KEY_LEN,
    open_from_link, seal_for_link,
};
pub use rekey::{Rekey, Resigner, rekey_message};
pub use sign::{MAX_SIGNATURE_LEN, SigningKey};
pub use size::{
    MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, MessageLen, PartLayout, SIGNATURE_LEN_SLACK,
};
pub use suite::Suite;
pub use suite_id::AlgorithmSuiteId;
