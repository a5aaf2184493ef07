//! Interop both ways with the official AWS Encryption SDK for Python (raw AES keyrings).
//!
//! Matrix: suites 0x0478 and 0x0578; frame lengths 128 B to 1 MiB; plaintexts from 0 B to several
//! MiB including exact multiples of the frame length; empty, ASCII and non-ASCII contexts;
//! messages with one and with two EDKs (the reader holding only the second key).
//!
//! And core's streaming ZIP writer against Python's `zipfile` (CRC checked, every byte compared),
//! with and without ZIP64 records, nested paths, empty and repeated entries, hostile names.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use cipherdrop_core::{
    DecryptLimits, EncryptionContext, EncryptionMaterials, RawAesKeyring, Suite, decrypt, encrypt,
};
use cipherdrop_testkit::{data, hex, run_python_batch};
use serde_json::{Value, json};

const KEY_A: [u8; 32] = [0xA1; 32];
const KEY_B: [u8; 24] = [0xB2; 24];

struct Case {
    suite: Suite,
    frame: u32,
    len: usize,
    context: EncryptionContext,
    two_keys: bool,
}

fn contexts() -> [EncryptionContext; 3] {
    [
        EncryptionContext::new(),
        [("purpose", "interop"), ("object", "o-123")]
            .into_iter()
            .collect(),
        [
            ("ключ", "значение"),
            ("emoji 🔐", "日本語"),
            ("\u{FF61}", "\u{10000}"),
        ]
        .into_iter()
        .collect(),
    ]
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let mut i = 0;
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        for frame in [128u32, 4096, 65536, 1 << 20] {
            let f = frame as usize;
            let mut lens = vec![0, 1, f - 1, f, 2 * f, 2 * f + 1];
            if frame >= 4096 {
                lens.push(3 * 1024 * 1024 + 7);
            }
            for len in lens {
                v.push(Case {
                    suite,
                    frame,
                    len,
                    context: contexts()[i % 3].clone(),
                    two_keys: i % 4 == 0,
                });
                i += 1;
            }
        }
    }
    v
}

fn key_json(ns: &str, name: &str, key: &[u8]) -> Value {
    json!({"namespace": ns, "name": name, "key_hex": hex(key)})
}

fn keys_json(two: bool) -> Vec<Value> {
    let b = key_json("interop-b", "key-b", &KEY_B);
    if two {
        vec![key_json("interop-a", "key-a", &KEY_A), b]
    } else {
        vec![b]
    }
}

fn suite_str(s: Suite) -> &'static str {
    match s {
        Suite::CommitKey => "0478",
        Suite::CommitKeyEcdsaP384 => "0578",
    }
}

fn ctx_json(c: &EncryptionContext) -> Value {
    Value::Object(
        c.iter()
            .map(|(k, v)| (k.to_owned(), Value::from(v)))
            .collect(),
    )
}

#[test]
fn rust_encrypts_python_decrypts() {
    let dir = tempfile::tempdir().unwrap();
    let ring_a = RawAesKeyring::new("interop-a", "key-a", &KEY_A).unwrap();
    let ring_b = RawAesKeyring::new("interop-b", "key-b", &KEY_B).unwrap();
    let mut rng = rand::rng();
    let mut jobs = Vec::new();
    let all = cases();
    for (i, c) in all.iter().enumerate() {
        let pt = data(c.len, i as u64);
        let rings: Vec<&RawAesKeyring> = if c.two_keys {
            vec![&ring_a, &ring_b]
        } else {
            vec![&ring_b]
        };
        let m = EncryptionMaterials::with_raw_aes(c.suite, &c.context, &rings, &mut rng).unwrap();
        let msg = encrypt(m, c.frame, &pt, &mut rng).unwrap();
        let (ct_path, out_path) = (
            dir.path().join(format!("{i}.esdk")),
            dir.path().join(format!("{i}.pt")),
        );
        std::fs::write(&ct_path, &msg).unwrap();
        // Python decrypts with key B only (for two-EDK messages that is the second EDK).
        let keys: Vec<Value> = vec![key_json("interop-b", "key-b", &KEY_B)];
        jobs.push(json!({"op": "decrypt", "in": ct_path, "out": out_path, "keys": keys, "context": ctx_json(&c.context)}));
    }
    let lines = run_python_batch(&Value::Array(jobs), dir.path());
    assert_eq!(lines.len(), all.len());
    for (i, c) in all.iter().enumerate() {
        let got = std::fs::read(dir.path().join(format!("{i}.pt"))).unwrap();
        assert_eq!(
            got,
            data(c.len, i as u64),
            "case {i}: suite {} frame {} len {}",
            c.suite,
            c.frame,
            c.len
        );
    }
}

#[test]
fn python_encrypts_rust_decrypts() {
    let dir = tempfile::tempdir().unwrap();
    let all = cases();
    let mut jobs = Vec::new();
    for (i, c) in all.iter().enumerate() {
        let pt_path = dir.path().join(format!("{i}.pt"));
        std::fs::write(&pt_path, data(c.len, 1000 + i as u64)).unwrap();
        jobs.push(json!({
            "op": "encrypt", "in": pt_path, "out": dir.path().join(format!("{i}.esdk")),
            "keys": keys_json(c.two_keys), "suite": suite_str(c.suite),
            "frame_length": c.frame, "context": ctx_json(&c.context),
        }));
    }
    run_python_batch(&Value::Array(jobs), dir.path());
    let ring_b = RawAesKeyring::new("interop-b", "key-b", &KEY_B).unwrap();
    for (i, c) in all.iter().enumerate() {
        let msg = std::fs::read(dir.path().join(format!("{i}.esdk"))).unwrap();
        let (pt, header) = decrypt(&ring_b, &msg, DecryptLimits::default()).unwrap_or_else(|e| {
            panic!(
                "case {i} (suite {} frame {} len {}): {e}",
                c.suite, c.frame, c.len
            )
        });
        assert_eq!(pt, data(c.len, 1000 + i as u64), "case {i}");
        assert_eq!(header.suite, c.suite);
        assert_eq!(header.frame_length, c.frame);
        assert_eq!(
            header.encrypted_data_keys.len(),
            if c.two_keys { 2 } else { 1 }
        );
        for (k, v) in c.context.iter() {
            assert_eq!(header.encryption_context.get(k), Some(v), "case {i}");
        }
        // Streaming in odd chunk sizes gives the same plaintext.
        let mut dec = cipherdrop_core::Decryptor::<_>::new(&ring_b, DecryptLimits::default());
        let mut out = Vec::new();
        for chunk in msg.chunks(7919) {
            dec.push(chunk, &mut out).unwrap();
        }
        dec.finish().unwrap();
        assert_eq!(out, pt);
    }
}

#[test]
fn python_refuses_what_we_refuse() {
    // A tampered message of ours must be refused by the official SDK too.
    let dir = tempfile::tempdir().unwrap();
    let ring_b = RawAesKeyring::new("interop-b", "key-b", &KEY_B).unwrap();
    let mut rng = rand::rng();
    let m = EncryptionMaterials::with_raw_aes(
        Suite::CommitKeyEcdsaP384,
        &contexts()[1],
        &[&ring_b],
        &mut rng,
    )
    .unwrap();
    let mut msg = encrypt(m, 4096, &data(10_000, 9), &mut rng).unwrap();
    let last = msg.len() - 60;
    msg[last] ^= 1;
    assert!(decrypt(&ring_b, &msg, DecryptLimits::default()).is_err());
    let p = dir.path().join("bad.esdk");
    std::fs::write(&p, &msg).unwrap();
    let job = json!([{"op": "decrypt", "in": p, "out": dir.path().join("bad.pt"),
                      "keys": [key_json("interop-b", "key-b", &KEY_B)], "expect_error": true}]);
    let lines = run_python_batch(&job, dir.path());
    // Refused for the right reason: an SDK or signature error, not a harness bug.
    let kind = lines[0].split_whitespace().nth(2).unwrap_or("");
    assert!(lines[0].starts_with("error"), "{lines:?}");
    assert!(
        kind.starts_with("aws_encryption_sdk.") || kind.starts_with("cryptography."),
        "{lines:?}"
    );
}

#[test]
fn python_decrypts_a_rekeyed_message_with_the_new_key_only() {
    // Written under key A, moved to key B by a new header (core's re-key, body untouched; a
    // signed message signed again with a fresh key): the official SDK opens it with B, and
    // refuses it with A.
    let dir = tempfile::tempdir().unwrap();
    let ring_a = RawAesKeyring::new("interop-a", "key-a", &KEY_A).unwrap();
    let ring_b = RawAesKeyring::new("interop-b", "key-b", &KEY_B).unwrap();
    let mut rng = rand::rng();
    let mut jobs = Vec::new();
    let mut want = Vec::new();
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        for len in [0usize, 1, 4096, 5 * 4096 + 3] {
            let i = want.len();
            let pt = data(len, 40 + i as u64);
            let ctx = &contexts()[i % 3];
            let m = EncryptionMaterials::with_raw_aes(suite, ctx, &[&ring_a], &mut rng).unwrap();
            let msg = encrypt(m, 4096, &pt, &mut rng).unwrap();
            let (header, _) =
                cipherdrop_core::Header::parse(&msg, &DecryptLimits::default()).unwrap();
            let key = cipherdrop_core::KeyProvider::data_key(&ring_a, &header).unwrap();
            let signing = suite
                .is_signed()
                .then(|| cipherdrop_core::SigningKey::generate(&mut rng));
            let moved = cipherdrop_core::rekey_message(
                &msg,
                &key,
                signing,
                DecryptLimits::default(),
                |c| Ok(vec![ring_b.wrap(&key, c, &mut rand::rng())?]),
            )
            .unwrap();
            let path = dir.path().join(format!("{i}.esdk"));
            std::fs::write(&path, &moved).unwrap();
            jobs.push(
                json!({"op": "decrypt", "in": path, "out": dir.path().join(format!("{i}.pt")),
                             "keys": [key_json("interop-b", "key-b", &KEY_B)]}),
            );
            jobs.push(json!({"op": "decrypt", "in": path, "out": dir.path().join(format!("{i}.old.pt")),
                             "keys": [key_json("interop-a", "key-a", &KEY_A)], "expect_error": true}));
            want.push((suite, len, pt));
        }
    }
    let lines = run_python_batch(&Value::Array(jobs), dir.path());
    assert_eq!(lines.len(), 2 * want.len(), "{lines:?}");
    for (i, (suite, len, pt)) in want.iter().enumerate() {
        let got = std::fs::read(dir.path().join(format!("{i}.pt"))).unwrap();
        assert!(
            got == *pt,
            "suite {suite} len {len}: the new key did not open it"
        );
        let old = &lines[2 * i + 1];
        assert!(old.starts_with("error"), "suite {suite} len {len}: {old}");
    }
}

#[test]
fn python_zipfile_reads_what_the_zip_writer_streams() {
    use cipherdrop_core::zip::ZipWriter;
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("report.pdf", data(70_000, 1)),
        ("empty.txt", Vec::new()),
        ("folder/sub/deep.bin", data(1_000_003, 2)),
        ("folder/sub/deep.bin", data(10, 3)),
        ("../../escape.sh", b"echo no".to_vec()),
        ("名前/ünïcødé.txt", "héllo".as_bytes().to_vec()),
    ];
    let dir = tempfile::tempdir().unwrap();
    // Ordinary records; ZIP64 records for every entry past 64 KiB and for the directory.
    for (label, mut w) in [
        ("plain", ZipWriter::new()),
        ("zip64", ZipWriter::with_zip64_from(65_536, 3)),
    ] {
        let mut zip = Vec::new();
        let mut expected = Vec::new();
        for (name, bytes) in &files {
            let (header, given) = w.start(name, bytes.len() as u64, 1_796_219_158).unwrap();
            zip.extend(header);
            for chunk in bytes.chunks(65_536) {
                w.data(chunk).unwrap();
                zip.extend_from_slice(chunk);
            }
            zip.extend(w.end().unwrap());
            expected.push(json!({"name": given, "hex": hex(bytes)}));
        }
        zip.extend(w.finish().unwrap());
        let path = dir.path().join(format!("{label}.zip"));
        std::fs::write(&path, &zip).unwrap();
        let script = r#"
import json, sys, zipfile
path, expected = sys.argv[1], json.load(open(sys.argv[2]))
with zipfile.ZipFile(path) as z:
    assert z.testzip() is None, "a CRC failed"
    infos = z.infolist()
    assert [i.filename for i in infos] == [e["name"] for e in expected], [i.filename for i in infos]
    for i, e in zip(infos, expected):
        assert i.compress_type == zipfile.ZIP_STORED
        assert z.read(i).hex() == e["hex"], i.filename
        assert i.date_time == (2026, 12, 2, 13, 45, 58), i.date_time
print("ok", len(infos))
"#;
        let expected_path = dir.path().join(format!("{label}.json"));
        std::fs::write(&expected_path, Value::Array(expected.clone()).to_string()).unwrap();
        let out = std::process::Command::new(cipherdrop_testkit::python())
            .args(["-c", script])
            .arg(&path)
            .arg(&expected_path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "ok 6",
            "{label}"
        );
        let names: Vec<&str> = expected
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "report.pdf",
                "empty.txt",
                "folder/sub/deep.bin",
                "folder/sub/deep (2).bin",
                "escape.sh",
                "名前/ünïcødé.txt"
            ]
        );
    }
}
