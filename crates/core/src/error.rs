//! The crate's error type: one opaque authentication error, typed errors for everything else.
//!
//! Error policy: anything that could tell an attacker *which* cryptographic check failed (header tag,
//! key commitment, frame tag, signature, data-key unwrap) is reported as [`Error::Authentication`] and
//! nothing more. Structural problems with the input (bad lengths, unknown versions, truncation) and
//! limits are reported precisely, because they are visible in the bytes anyway and help users.

use core::fmt;

use crate::suite_id::AlgorithmSuiteId;

/// Everything that can go wrong while encrypting or decrypting a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The message failed authentication (wrong key, modified bytes, bad commitment or signature).
    Authentication,
    /// The bytes are not a well-formed AWS Encryption SDK v2 message.
    Malformed(&'static str),
    /// Message format version 1 (non-committing suites only); refused by the commitment policy.
    UnsupportedVersion(u8),
    /// A suite that does not commit to its key; refused by the commitment policy.
    NonCommittingSuite(AlgorithmSuiteId),
    /// An algorithm suite id that the AWS Encryption SDK does not define.
    UnknownSuite(AlgorithmSuiteId),
    /// A configured limit was exceeded.
    LimitExceeded {
        /// What was limited.
        what: &'static str,
        /// The limit in force.
        limit: u64,
        /// The value the input asked for.
        actual: u64,
    },
    /// The message ended before its final frame (and footer) was read.
    Truncated,
    /// Bytes follow the end of the message.
    TrailingData,
    /// The encryption context breaks a rule of the specification.
    InvalidContext(&'static str),
    /// No encrypted data key in the message is addressed to the keys we were given.
    NoMatchingKey,
    /// The caller passed an argument the API does not accept.
    InvalidArgument(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Authentication => {
                f.write_str("decryption failed: the message is not authentic for this key")
            }
            Error::Malformed(what) => write!(f, "malformed message: {what}"),
            Error::UnsupportedVersion(v) => write!(
                f,
                "message format version {v} is not supported: only key-committing version 2 \
                 messages are accepted (commitment policy REQUIRE_ENCRYPT_REQUIRE_DECRYPT)"
            ),
            Error::NonCommittingSuite(id) => write!(
                f,
                "algorithm suite {id} does not commit to its data key and is refused \
                 (commitment policy REQUIRE_ENCRYPT_REQUIRE_DECRYPT)"
            ),
            Error::UnknownSuite(id) => write!(f, "unknown algorithm suite {id}"),
            Error::LimitExceeded {
                what,
                limit,
                actual,
            } => write!(f, "{what} is {actual}, above the limit of {limit}"),
            Error::Truncated => f.write_str("message is truncated: its final frame is missing"),
            Error::TrailingData => f.write_str("unexpected bytes after the end of the message"),
            Error::InvalidContext(why) => write!(f, "invalid encryption context: {why}"),
            Error::NoMatchingKey => {
                f.write_str("no encrypted data key in the message matches the given key")
            }
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
