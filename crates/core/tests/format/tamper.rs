//! Exhaustive tamper test: every single-bit flip and every truncation of a ~10 KB message fails.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common::{keyring, materials, plaintext, rng};
use cipherdrop_core::{DecryptLimits, Suite, decrypt, encrypt};

fn exhaustive(suite: Suite) {
    let mut r = rng(42);
    let pt = plaintext(10_000, 43);
    let msg = encrypt(materials(suite, &mut r), 4096, &pt, &mut r).unwrap();
    let kr = keyring();
    let limits = DecryptLimits::default();
    assert_eq!(decrypt(&kr, &msg, limits).unwrap().0, pt);
    let mut flipped = msg.clone();
    for i in 0..msg.len() {
        for bit in 0..8 {
            flipped[i] ^= 1 << bit;
            assert!(
                decrypt(&kr, &flipped, limits).is_err(),
                "flip of bit {bit} at byte {i} accepted"
            );
            flipped[i] ^= 1 << bit;
        }
    }
    for len in 0..msg.len() {
        assert!(
            decrypt(&kr, &msg[..len], limits).is_err(),
            "truncation to {len} bytes accepted"
        );
    }
}

#[test]
fn every_bit_flip_and_truncation_is_rejected_0478() {
    exhaustive(Suite::CommitKey);
}

#[test]
fn every_bit_flip_and_truncation_is_rejected_0578() {
    exhaustive(Suite::CommitKeyEcdsaP384);
}
