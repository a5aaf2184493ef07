//! Helpers shared by the core integration tests: vector paths, a scripted RNG, message builders.
#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::convert::Infallible;
use std::path::PathBuf;

use cipherdrop_core::{EncryptionContext, EncryptionMaterials, RawAesKeyring, Suite};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The vectors copied from the shared folder into the repository.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

/// An "RNG" that returns scripted bytes: for reproducing known-answer messages exactly.
pub struct Scripted(pub Vec<u8>);

impl rand_core::TryRng for Scripted {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        unreachable!("only fill_bytes is used")
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        unreachable!("only fill_bytes is used")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert!(self.0.len() >= dst.len(), "script exhausted");
        let rest = self.0.split_off(dst.len());
        dst.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Scripted {}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn keyring() -> RawAesKeyring {
    RawAesKeyring::new("cipherdrop-tests", "key-1", &[7u8; 32]).unwrap()
}

pub fn context() -> EncryptionContext {
    [("purpose", "test"), ("tenant", "ü-42")]
        .into_iter()
        .collect()
}

pub fn materials(suite: Suite, rng: &mut StdRng) -> EncryptionMaterials {
    EncryptionMaterials::with_raw_aes(suite, &context(), &[&keyring()], rng).unwrap()
}

pub fn plaintext(len: usize, seed: u64) -> Vec<u8> {
    use rand::Rng as _;
    let mut v = vec![0u8; len];
    rng(seed).fill_bytes(&mut v);
    v
}
