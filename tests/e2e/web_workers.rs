//! The page's sealing workers in headless Chromium, under the app's real CSP: the message the
//! page makes with its frames sealed in workers is byte for byte the one core makes natively
//! with the same materials and message id, and so is the one sealed by WebCrypto on the page,
//! by core's pure-Rust cipher in wasm, and by the fallback when the worker script cannot load;
//! both suites, frame sizes that do and do not divide the file and the 5 MiB parts, the frame
//! length from which the workers seal and the one below, small frames read many at a time, and
//! an empty file. A worker that fails mid-transfer fails it in words, and later transfers seal on the page.
//!
//! Needs `cargo build -p cipherdrop-cli` (same profile), `trunk build` (for `dist/`), chromedriver
//! with Chromium.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use cipherdrop_core::{
    AesGcmCipher, DataKey, EncryptedDataKey, EncryptionContext, EncryptionMaterials, Encryptor,
    SigningKey, Suite, message_context,
};
use cipherdrop_e2e::browser::{Browser, cipherdrop_bin, web_dist};
use cipherdrop_testkit::hex;
use cipherdrop_testkit::server::ServerProcess;
use serde_json::json;
use sha2::Digest as _;

const DATA_KEY: [u8; 32] = [7; 32];
const MESSAGE_ID: [u8; 32] = [9; 32];
const SIGNING_KEY: [u8; 48] = [5; 48];

/// The test's plaintext, made the same way in the page.
fn plaintext(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// The message core makes natively with the materials `bench_encrypt_exact` uses.
fn native(suite: Suite, frame: u32, len: usize) -> (String, usize) {
    let signing = suite
        .is_signed()
        .then(|| SigningKey::from_bytes(&SIGNING_KEY).unwrap());
    let caller: EncryptionContext = [("purpose", "test")].into_iter().collect();
    let context = message_context(suite, &caller, signing.as_ref()).unwrap();
    let edk = EncryptedDataKey {
        provider_id: "test".into(),
        provider_info: b"test".to_vec(),
        ciphertext: vec![0; 32],
    };
    let materials = EncryptionMaterials::new(
        suite,
        context,
        DataKey::from_bytes(&DATA_KEY).unwrap(),
        vec![edk],
        signing,
    )
    .unwrap();
    let mut enc = Encryptor::<AesGcmCipher>::with_message_id(materials, frame, MESSAGE_ID).unwrap();
    let mut out = Vec::new();
    enc.push(&plaintext(len), &mut out).unwrap();
    enc.finish(&mut out).unwrap();
    (hex(&sha2::Sha256::digest(&out)), out.len())
}

/// Encrypts the test plaintext in the page with the cipher chosen by `workers`, `script` and
/// `rust` (see `bench_cipher`); returns (engine, SHA-256 of the message, its length).
async fn in_page(
    b: &Browser,
    suite: Suite,
    frame: u32,
    len: usize,
    workers: i32,
    script: &str,
    rust: bool,
) -> (String, String, usize) {
    let got = b
        .client
        .execute(
            r"
            const [suite, frame, len, workers, script, rust, key, mid, sk] = arguments;
            const data = new Uint8Array(len);
            for (let i = 0; i < len; i++) data[i] = Math.imul(i, 2654435761) >>> 24;
            window.wasmBindings.bench_cipher(workers, script, rust);
            const [engine, msg] = await window.wasmBindings.bench_encrypt_exact(
              new Blob([data]), suite, frame, new Uint8Array(key), new Uint8Array(mid), new Uint8Array(sk));
            const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', msg));
            return [engine, Array.from(digest, (x) => x.toString(16).padStart(2, '0')).join(''), msg.length];
            ",
            vec![
                json!(suite.id().0),
                json!(frame),
                json!(len),
                json!(workers),
                json!(script),
                json!(rust),
                json!(DATA_KEY),
                json!(MESSAGE_ID),
                json!(SIGNING_KEY.to_vec()),
            ],
        )
        .await
        .unwrap();
    (
        got[0].as_str().unwrap().to_owned(),
        got[1].as_str().unwrap().to_owned(),
        usize::try_from(got[2].as_u64().unwrap()).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_page_and_rust_cipher_make_the_same_bytes_as_core() {
    let bin = cipherdrop_bin().unwrap();
    let web = web_dist().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with_web(&bin, data.path(), &web, &[], &[]).unwrap();
    let b = Browser::start().await.unwrap();
    b.client.goto(&server.url).await.unwrap();
    b.wait_until_js("window.wasmBindings", std::time::Duration::from_secs(60))
        .await
        .unwrap();

    // (suite, frame, length, workers, script, rust) → the engine that must have sealed.
    let unsigned = Suite::CommitKey;
    let signed = Suite::CommitKeyEcdsaP384;
    let odd = 12 * 1024 * 1024 + 12_345;
    let cases: &[(Suite, u32, usize, i32, &str, bool, &str)] = &[
        (unsigned, 1 << 20, odd, -1, "", false, "workers"),
        (unsigned, 1 << 20, odd, 4, "", false, "workers"),
        (unsigned, 1 << 20, odd, 0, "", false, "page"),
        (unsigned, 1 << 20, odd, -1, "", true, "rust"),
        // The worker script does not load: the page seals, and says so.
        (
            unsigned,
            1 << 20,
            odd,
            -1,
            "/no-such-worker.js",
            false,
            "page",
        ),
        (unsigned, 1 << 20, 10 << 20, 3, "", false, "workers"),
        // At and just under the frame length from which the workers seal.
        (unsigned, 512 * 1024, 3_000_001, -1, "", false, "workers"),
        (unsigned, 512 * 1024 - 1, 3_000_001, -1, "", false, "page"),
        (unsigned, 1 << 20, 0, -1, "", false, "workers"),
        (unsigned, 1 << 20, 1_000, -1, "", false, "workers"),
        // Small frames, read many at a time.
        (unsigned, 4_000, 3_000_001, -1, "", false, "page"),
        (unsigned, 65_536, odd, -1, "", true, "rust"),
        (
            signed,
            1 << 20,
            7 * 1024 * 1024 + 1,
            -1,
            "",
            false,
            "workers",
        ),
        (signed, 1 << 20, 7 * 1024 * 1024 + 1, 0, "", false, "page"),
        (signed, 4_096, 300_000, -1, "", false, "page"),
        (signed, 65_536, 300_000, -1, "", true, "rust"),
    ];

    for &(suite, frame, len, workers, script, rust, engine) in cases {
        eprintln!(
            "case: {:#06x} {frame} {len} {workers} {script:?} {rust}",
            suite.id().0
        );
        let (want_sha, want_len) = native(suite, frame, len);
        let (got_engine, got_sha, got_len) =
            in_page(&b, suite, frame, len, workers, script, rust).await;
        let case = format!(
            "suite {:#06x}, frame {frame}, {len} bytes, workers {workers}, script {script:?}, rust {rust}",
            suite.id().0
        );
        assert_eq!(got_engine, engine, "{case}: sealed by");
        assert_eq!(got_len, want_len, "{case}: length");
        assert_eq!(got_sha, want_sha, "{case}: bytes differ from core's");
    }
    // A worker fails in the middle of a transfer (its error event, raised here after the 20th
    // frame it was given): the transfer fails in words, not as tampering and without hanging,
    // and later transfers seal on the page, with the right bytes.
    let failed = b
        .client
        .execute(
            r"
            window.wasmBindings.bench_cipher(-1, '', false);
            const send = Worker.prototype.postMessage;
            let frames = 0;
            Worker.prototype.postMessage = function (m, t) {
              send.call(this, m, t);
              if (m && m.op === 'seal' && ++frames === 20) this.dispatchEvent(new ErrorEvent('error'));
            };
            try {
              await window.wasmBindings.bench_encrypt_exact(new Blob([new Uint8Array(64 << 20)]),
                0x0478, 1 << 20, new Uint8Array(32), new Uint8Array(32), new Uint8Array(48));
              return 'finished';
            } catch (e) { return String(e); } finally { Worker.prototype.postMessage = send; }
            ",
            vec![],
        )
        .await
        .unwrap();
    let failed = failed.as_str().unwrap();
    assert!(
        failed.contains("an encryption worker stopped") && !failed.contains("authentication"),
        "{failed}"
    );
    let (want_sha, want_len) = native(unsigned, 1 << 20, odd);
    let after = in_page(&b, unsigned, 1 << 20, odd, -2, "", false).await;
    assert_eq!(after, ("page".to_owned(), want_sha, want_len));

    // The workers ran under the app's CSP without a violation.
    let violations = b.csp_violations().await.unwrap();
    assert!(violations.is_empty(), "CSP violations: {violations:?}");
    b.close().await;
}
