//! Runs `cipherdrop-core` inside headless Chromium: the wasm build encrypts and decrypts correctly.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use cipherdrop_core::{
    DecryptLimits, EncryptionContext, EncryptionMaterials, RawAesKeyring, Suite, decrypt, encrypt,
};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn core_round_trips_in_the_browser() {
    let mut rng = rand::rng();
    let ring = RawAesKeyring::new("ns", "k", &[1u8; 32]).unwrap();
    let ctx: EncryptionContext = [("a", "b")].into_iter().collect();
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        let pt: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let m = EncryptionMaterials::with_raw_aes(suite, &ctx, &[&ring], &mut rng).unwrap();
        let msg = encrypt(m, 4096, &pt, &mut rng).unwrap();
        let (out, header) = decrypt(&ring, &msg, DecryptLimits::default()).unwrap();
        assert_eq!(out, pt);
        assert_eq!(header.suite, suite);
        let mut bad = msg.clone();
        bad[500] ^= 1;
        assert!(decrypt(&ring, &bad, DecryptLimits::default()).is_err());
    }
}

#[wasm_bindgen_test]
fn demo_reports_the_header() {
    let r = cipherdrop_web::demo("hello", Suite::CommitKeyEcdsaP384).unwrap();
    assert!(r.round_trip_ok);
    assert_eq!(r.suite, "0x0578");
    assert_eq!(r.plaintext_len, 5);
    assert!(r.context.iter().any(|(k, _)| k == "aws-crypto-public-key"));
    assert!(r.head_hex.starts_with("020578"));
}
