//! The wire algorithm-suite id: any `u16` a header may carry (unknown ones are kept so an error
//! can name them), with the two this crate implements named. The crate's errors carry it, so it
//! sits below `error`; which ids are suites this crate accepts is `suite`'s business.

use core::fmt;

/// A wire algorithm-suite id. Keeps unknown values so they can be reported.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlgorithmSuiteId(pub u16);

impl AlgorithmSuiteId {
    /// `ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY`.
    pub const COMMIT_KEY: Self = Self(0x0478);
    /// `ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384`.
    pub const COMMIT_KEY_ECDSA_P384: Self = Self(0x0578);
}

impl fmt::Debug for AlgorithmSuiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlgorithmSuiteId({:#06x})", self.0)
    }
}

impl fmt::Display for AlgorithmSuiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}
