//! Named limits: what decryption accepts by default, and what the format allows at most.

/// Default cap on the number of EDKs in a header we decrypt.
pub const DEFAULT_MAX_ENCRYPTED_DATA_KEYS: u16 = 64;
/// Default cap on a frame's plaintext length (and on a non-framed body): bounds decrypt memory.
pub const DEFAULT_MAX_FRAME_LEN: u64 = 64 * 1024 * 1024;
/// Default cap on the header's length (body and tag).
pub const DEFAULT_MAX_HEADER_LEN: usize = 1024 * 1024;
/// Frame length written when the caller does not choose one (the ESDK default).
pub const DEFAULT_FRAME_LEN: u32 = 4096;
/// Largest frame length this crate encrypts with: the Python ESDK's maximum (2^31 - 1).
pub const MAX_ENCRYPT_FRAME_LEN: u32 = i32::MAX as u32;

/// Limits applied while decrypting untrusted messages. Exceeding one is [`crate::Error::LimitExceeded`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecryptLimits {
    /// Most EDKs accepted in one header.
    pub max_encrypted_data_keys: u16,
    /// Largest frame (or non-framed body) accepted, in plaintext bytes; decrypt memory is about this.
    pub max_frame_len: u64,
    /// Largest header accepted, in bytes.
    pub max_header_len: usize,
}

impl Default for DecryptLimits {
    fn default() -> Self {
        Self {
            max_encrypted_data_keys: DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_header_len: DEFAULT_MAX_HEADER_LEN,
        }
    }
}
