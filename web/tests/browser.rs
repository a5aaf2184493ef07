//! Runs in headless Chromium: core in wasm, and the page's WebCrypto pipeline against core's
//! pure-Rust path (byte for byte), streaming Blob round trips, decryption of streams cut into
//! chunks anywhere, tampering, and private metadata.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use cipherdrop_core::{
    DecryptLimits, EncryptionContext, EncryptionMaterials, FrameEncoder, RawAesKeyring, Suite,
    decrypt, encrypt,
};
use cipherdrop_web::crypt::{MemoryPlain, decrypt_source};
use cipherdrop_web::error::{Cancel, TransferError as CryptError};
use cipherdrop_web::metadata::{self, FileMeta};
use cipherdrop_web::transfer::parts::MemoryParts;
use cipherdrop_web::transfer::read::{Source, read_bytes};
use cipherdrop_web::transfer::seal::encrypt_blob;
use js_sys::{Array, Uint8Array};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use wasm_bindgen_test::*;
use web_sys::Blob;

wasm_bindgen_test_configure!(run_in_browser);

/// A stream that hands out exactly `chunks` (a byte stream if `bytes`, which BYOB reads cut
/// and join as they need, as they do a response body's; else one only a default reader reads).
fn stream_of(chunks: &Array, bytes: bool) -> web_sys::ReadableStream {
    use wasm_bindgen::JsCast as _;
    let make = js_sys::Function::new_with_args(
        "chunks, bytes",
        "return new ReadableStream({ type: bytes ? 'bytes' : undefined, start(c) { for (const x of chunks) if (!bytes || x.length) c.enqueue(x); c.close(); } });",
    );
    make.call2(&wasm_bindgen::JsValue::NULL, chunks, &bytes.into())
        .unwrap()
        .unchecked_into()
}

fn ring() -> RawAesKeyring {
    RawAesKeyring::new("ns", "k", &[1u8; 32]).unwrap()
}

fn materials(suite: Suite, rng: &mut StdRng) -> EncryptionMaterials {
    let ctx: EncryptionContext = [("purpose", "browser test")].into_iter().collect();
    EncryptionMaterials::with_raw_aes(suite, &ctx, &[&ring()], rng).unwrap()
}

fn plaintext(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

fn blob(bytes: &[u8]) -> Blob {
    let arr = Array::of1(&Uint8Array::from(bytes));
    Blob::new_with_u8_array_sequence(&arr).unwrap()
}

async fn bytes_of(b: &Blob) -> Vec<u8> {
    read_bytes(b, 0, b.size() as u64).await.unwrap()
}

/// Encrypts `pt` through WebCrypto into parts of `part_size`; returns the message and its parts.
async fn webcrypto_encrypt(
    suite: Suite,
    seed: u64,
    frame: u32,
    part_size: u64,
    pt: &[u8],
) -> (Vec<u8>, Vec<u64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let m = materials(suite, &mut rng);
    let enc = FrameEncoder::new(m, frame, &mut rng).unwrap();
    let mut parts = MemoryParts::default();
    let mut seen = 0;
    let sealed = encrypt_blob(
        &blob(pt),
        enc,
        part_size,
        &mut parts,
        &mut |n| seen = n,
        &Cancel::default(),
    )
    .await
    .unwrap();
    assert_eq!(seen, pt.len() as u64, "progress reaches the plaintext size");
    let sizes: Vec<u64> = parts.parts.iter().map(|p| u64::from(p.length())).collect();
    assert_eq!(sealed.parts as usize, sizes.len());
    let message = bytes_of(&parts.into_blob().unwrap()).await;
    assert_eq!(sealed.ciphertext_len, message.len() as u64);
    (message, sizes)
}

/// The data key of `message` (a raw-AES-keyring message from these tests).
fn data_key_of(message: &[u8]) -> cipherdrop_core::DataKey {
    let header = cipherdrop_core::Header::parse(message, &DecryptLimits::default())
        .unwrap()
        .0;
    cipherdrop_core::KeyProvider::data_key(&ring(), &header).unwrap()
}

/// Decrypts `message` through the page's streaming path, reading it from a Blob.
async fn page_decrypt(
    message: &[u8],
    data_key: &cipherdrop_core::DataKey,
) -> Result<Vec<u8>, CryptError> {
    decrypt_from(Source::Blob(blob(message), 0), data_key).await
}

/// Decrypts the message `source` holds through the page's streaming path, into memory.
async fn decrypt_from(
    source: Source,
    data_key: &cipherdrop_core::DataKey,
) -> Result<Vec<u8>, CryptError> {
    let mut sink = MemoryPlain::default();
    decrypt_source(
        source,
        data_key,
        DecryptLimits::default(),
        &mut sink,
        &mut |_| {},
        &Cancel::default(),
    )
    .await?;
    Ok(bytes_of(&sink.into_blob().unwrap()).await)
}

/// Decrypts `message` through the page's streaming path from a stream whose chunks have the
/// lengths `cuts` (in turn, over and over), with an empty chunk after each (a default stream),
/// or from a byte stream of those chunks (`bytes`: read exactly, element by element, by BYOB).
async fn stream_decrypt(
    message: &[u8],
    cuts: &[usize],
    bytes: bool,
    data_key: &cipherdrop_core::DataKey,
) -> Result<Vec<u8>, CryptError> {
    let chunks = Array::new();
    let mut rest = message;
    for cut in cuts.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, after) = rest.split_at((*cut).min(rest.len()));
        chunks.push(&Uint8Array::from(chunk));
        chunks.push(&Uint8Array::new_with_length(0));
        rest = after;
    }
    decrypt_from(Source::Stream(stream_of(&chunks, bytes)), data_key).await
}

#[wasm_bindgen_test]
async fn decryption_reads_a_stream_however_its_chunks_are_cut() {
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        let pt = plaintext(3 * 4096 + 11, 21);
        let mut rng = StdRng::seed_from_u64(21);
        let msg = encrypt(materials(suite, &mut rng), 4096, &pt, &mut rng).unwrap();
        let key = data_key_of(&msg);
        // One byte at a time (every head and tag split), cuts inside frame heads (16 and 24
        // bytes) and tags, frames whole in one chunk, and the message in one chunk.
        for cuts in [
            &[1][..],
            &[7, 1, 30],
            &[4096 + 28],
            &[24, 4112, 3],
            &[5000, 16, 9],
            &[msg.len()],
        ] {
            for bytes in [false, true] {
                let got = stream_decrypt(&msg, cuts, bytes, &key).await;
                assert!(
                    got.as_ref().ok() == Some(&pt),
                    "{suite:?} cut {cuts:?} (byte stream: {bytes}): {got:?}"
                );
            }
        }
        // A byte after the end, a message cut after its second frame (at an element's
        // boundary), and one cut inside its final frame: refused, never a short file.
        let (_, body) = cipherdrop_core::Header::parse(&msg, &DecryptLimits::default()).unwrap();
        let frame_len = 4 + 12 + 4096 + 16; // sequence number, IV, ciphertext, tag
        let mut longer = msg.clone();
        longer.push(0);
        for (what, bad) in [
            ("a byte after the end", &longer[..]),
            ("cut after frame 2", &msg[..body + 16 + 2 * frame_len]),
            ("cut in the final frame", &msg[..msg.len() - 5]),
        ] {
            for (cuts, bytes) in [(&[1000][..], false), (&[bad.len()], false), (&[1000], true)] {
                let err = stream_decrypt(bad, cuts, bytes, &key).await.unwrap_err();
                assert!(
                    matches!(err, CryptError::Integrity(_)),
                    "{suite:?} {what} (byte stream: {bytes}): {err:?}"
                );
            }
        }
    }
}

#[wasm_bindgen_test]
fn core_round_trips_in_the_browser() {
    let mut rng = rand::rng();
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        let pt: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let ctx: EncryptionContext = [("a", "b")].into_iter().collect();
        let m = EncryptionMaterials::with_raw_aes(suite, &ctx, &[&ring()], &mut rng).unwrap();
        let msg = encrypt(m, 4096, &pt, &mut rng).unwrap();
        let (out, header) = decrypt(ring(), &msg, DecryptLimits::default()).unwrap();
        assert_eq!(out, pt);
        assert_eq!(header.suite, suite);
        let mut bad = msg.clone();
        bad[500] ^= 1;
        assert!(decrypt(ring(), &bad, DecryptLimits::default()).is_err());
    }
}

#[wasm_bindgen_test]
async fn webcrypto_output_is_byte_identical_to_the_pure_rust_path() {
    let frame = 4096u32;
    let f = frame as usize;
    // Sizes around frame boundaries, and one that spans two 4 MiB reads.
    let sizes = [0, 1, f - 1, f, f + 1, 3 * f, 5 * 1024 * 1024 + 3];
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        for (i, &len) in sizes.iter().enumerate() {
            let pt = plaintext(len, i as u64);
            let seed = 100 + i as u64;
            let mut rng = StdRng::seed_from_u64(seed);
            let m = materials(suite, &mut rng);
            let expected = encrypt(m, frame, &pt, &mut rng).unwrap();
            // Part size not a multiple of anything, to exercise cutting frames across parts.
            let (got, parts) = webcrypto_encrypt(suite, seed, frame, 10_007, &pt).await;
            assert_eq!(got.len(), expected.len(), "{suite:?} {len}");
            assert!(
                got == expected,
                "{suite:?} {len}: WebCrypto and pure Rust differ"
            );
            assert!(parts[..parts.len() - 1].iter().all(|&p| p == 10_007));
            assert!(*parts.last().unwrap() <= 10_007);
        }
    }
}

#[wasm_bindgen_test]
async fn the_pure_rust_fallback_gives_the_same_bytes_and_detects_tampering() {
    cipherdrop_web::subtle::force_rust_cipher(true);
    let mut r = StdRng::seed_from_u64(1);
    let probe = FrameEncoder::new(materials(Suite::CommitKey, &mut r), 4096, &mut r).unwrap();
    let key = probe.frame_key();
    assert!(
        !cipherdrop_web::subtle::GcmKey::import(key, 4096)
            .await
            .unwrap()
            .is_webcrypto()
    );
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        let pt = plaintext(3 * 4096 + 11, 9);
        let mut rng = StdRng::seed_from_u64(77);
        let m = materials(suite, &mut rng);
        let expected = encrypt(m, 4096, &pt, &mut rng).unwrap();
        let (got, _) = webcrypto_encrypt(suite, 77, 4096, 10_007, &pt).await;
        assert!(got == expected, "{suite:?}: fallback differs from core");
        let data_key = data_key_of(&got);
        assert!(page_decrypt(&got, &data_key).await.unwrap() == pt);
        let mut bad = got.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 4;
        let err = page_decrypt(&bad, &data_key).await.unwrap_err();
        assert!(matches!(err, CryptError::Integrity(_)), "{err:?}");
    }
    cipherdrop_web::subtle::force_rust_cipher(false);
    assert!(
        cipherdrop_web::subtle::GcmKey::import(key, 4096)
            .await
            .unwrap()
            .is_webcrypto()
    );
}

#[wasm_bindgen_test]
async fn streaming_encryption_of_a_blob_round_trips_and_detects_tampering() {
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        let pt = plaintext(3 * 1024 * 1024 + 17, 7);
        let (msg, _) = webcrypto_encrypt(suite, 42, 65_536, 5 * 1024 * 1024, &pt).await;
        // The official-format reader in core agrees.
        let (plain, _) = decrypt(ring(), &msg, DecryptLimits::default()).unwrap();
        assert!(plain == pt);
        // And the page's streaming WebCrypto decryption from a Blob.
        let data_key = data_key_of(&msg);
        assert!(page_decrypt(&msg, &data_key).await.unwrap() == pt);
        // One flipped bit anywhere: header, a frame in the middle, the last byte.
        for pos in [40, msg.len() / 2, msg.len() - 1] {
            let mut bad = msg.clone();
            bad[pos] ^= 0x10;
            let err = page_decrypt(&bad, &data_key).await.unwrap_err();
            assert!(
                matches!(err, CryptError::Integrity(_)),
                "{suite:?} at {pos}: {err:?}"
            );
        }
        // Truncated: an error, never a short file.
        let err = page_decrypt(&msg[..msg.len() - 100], &data_key)
            .await
            .unwrap_err();
        assert!(matches!(err, CryptError::Integrity(_)), "{err:?}");
    }
}

#[wasm_bindgen_test]
async fn cancelling_stops_encryption() {
    let pt = plaintext(9 * 1024 * 1024, 3);
    let mut rng = StdRng::seed_from_u64(5);
    let enc = FrameEncoder::new(materials(Suite::CommitKey, &mut rng), 65_536, &mut rng).unwrap();
    let cancel = Cancel::default();
    let c = cancel.clone();
    let mut parts = MemoryParts::default();
    let err = encrypt_blob(
        &blob(&pt),
        enc,
        5 << 20,
        &mut parts,
        &mut |_| c.cancel(),
        &cancel,
    )
    .await
    .unwrap_err();
    assert_eq!(err, CryptError::Cancelled);
}

#[wasm_bindgen_test]
fn private_metadata_round_trips_and_is_bound_to_key_and_object() {
    let meta = FileMeta {
        name: "Steuererklärung 2026 — final.pdf".into(),
        media_type: "application/pdf".into(),
        sender: None,
    };
    let key = [3u8; 32];
    let sealed = metadata::seal(&meta, &key, "obj-1");
    assert!(!sealed.contains("Steuer"));
    assert_eq!(metadata::open(&sealed, &key, "obj-1").unwrap(), meta);
    assert_eq!(
        metadata::open(&sealed, &[4u8; 32], "obj-1"),
        Err(metadata::MetaError::Authentication)
    );
    assert_eq!(
        metadata::open(&sealed, &key, "obj-2"),
        Err(metadata::MetaError::Authentication)
    );
    assert_eq!(
        metadata::open("not base64!", &key, "obj-1"),
        Err(metadata::MetaError::Malformed)
    );
    // Two seals of the same name differ (fresh nonce).
    assert_ne!(sealed, metadata::seal(&meta, &key, "obj-1"));
}
