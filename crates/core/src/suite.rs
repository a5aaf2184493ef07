//! The two key-committing algorithm suites this crate implements, and which wire ids they are.

use core::fmt;

use crate::error::{Error, Result};
use crate::suite_id::AlgorithmSuiteId;

/// Every non-committing suite the AWS Encryption SDK defines (message format v1).
const NON_COMMITTING: [u16; 9] = [
    0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378,
];

/// The algorithm suites this crate encrypts and decrypts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Suite {
    /// 0x0478: AES-256-GCM, HKDF-SHA512, key commitment, no signature.
    #[default]
    CommitKey,
    /// 0x0578: as 0x0478 plus an ECDSA P-384 signature over the whole message.
    CommitKeyEcdsaP384,
}

impl Suite {
    /// The wire id.
    pub const fn id(self) -> AlgorithmSuiteId {
        match self {
            Suite::CommitKey => AlgorithmSuiteId::COMMIT_KEY,
            Suite::CommitKeyEcdsaP384 => AlgorithmSuiteId::COMMIT_KEY_ECDSA_P384,
        }
    }

    /// Whether messages of this suite carry an ECDSA signature footer.
    pub const fn is_signed(self) -> bool {
        matches!(self, Suite::CommitKeyEcdsaP384)
    }

    /// Maps a wire id to a suite, refusing non-committing and unknown ones.
    pub fn from_id(id: AlgorithmSuiteId) -> Result<Self> {
        match id {
            AlgorithmSuiteId::COMMIT_KEY => Ok(Suite::CommitKey),
            AlgorithmSuiteId::COMMIT_KEY_ECDSA_P384 => Ok(Suite::CommitKeyEcdsaP384),
            AlgorithmSuiteId(raw) if NON_COMMITTING.contains(&raw) => {
                Err(Error::NonCommittingSuite(id))
            }
            _ => Err(Error::UnknownSuite(id)),
        }
    }
}

impl core::str::FromStr for Suite {
    type Err = Error;

    /// Accepts `0x0478`, `0478`, `478` (hex) and the same for 0x0578.
    fn from_str(s: &str) -> Result<Self> {
        let hex = s.trim().trim_start_matches("0x").trim_start_matches("0X");
        let raw = u16::from_str_radix(hex, 16)
            .map_err(|_| Error::InvalidArgument("algorithm suite must be hex, e.g. 0x0478"))?;
        Suite::from_id(AlgorithmSuiteId(raw))
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.id(), f)
    }
}
