//! Every official decrypt vector: the JS-published v2 set, the Python raw-AES manifest, the KAT.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common::{Scripted, vectors_dir};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_core::{
    DataKey, DecryptLimits, EncryptionContext, EncryptionMaterials, Error, RawAesKeyring, Suite,
    decrypt, encrypt,
};
use serde_json::Value;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn esdk_js_v2_vectors() {
    let text = std::fs::read_to_string(vectors_dir().join("esdk-js-v2/vectors.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let tests = doc["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 46);
    let (mut ok, mut refused) = (0, 0);
    for (i, t) in tests.iter().enumerate() {
        let must_pass =
            matches!(&t["status"], Value::Bool(true)) || t["status"].as_str() == Some("true");
        let comment = t["comment"].as_str().unwrap_or("");
        let key = DataKey::from_bytes(&B64.decode(t["decrypted-dek"].as_str().unwrap()).unwrap())
            .unwrap();
        // Failing vectors carry no full ciphertext: assemble header, frames and footer.
        let message = match t["ciphertext"].as_str() {
            Some(ct) => B64.decode(ct).unwrap(),
            None => {
                let mut m = B64.decode(t["header"].as_str().unwrap()).unwrap();
                let frames: Vec<String> = match &t["frames"] {
                    Value::Array(a) => a.iter().map(|f| f.as_str().unwrap().to_owned()).collect(),
                    Value::String(s) => s
                        .trim_matches(['[', ']'])
                        .split(',')
                        .map(|f| f.trim().trim_matches('\'').to_owned())
                        .filter(|f| !f.is_empty())
                        .collect(),
                    _ => vec![],
                };
                for f in frames {
                    m.extend(B64.decode(f).unwrap());
                }
                if let Some(footer) = t["footer"].as_str() {
                    m.extend(B64.decode(footer).unwrap());
                }
                m
            }
        };
        let result = decrypt(key, &message, DecryptLimits::default());
        if must_pass {
            let (pt, header) = result.unwrap_or_else(|e| panic!("vector {i} ({comment}): {e}"));
            let expected: Vec<u8> = t["plaintext-frames"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|f| f.as_str().unwrap().as_bytes().to_vec())
                .collect();
            assert_eq!(pt, expected, "vector {i} ({comment})");
            let mid = B64.decode(t["message-id"].as_str().unwrap()).unwrap();
            assert_eq!(header.message_id.to_vec(), mid);
            let ec: EncryptionContext = t["encryption-context"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            assert_eq!(header.encryption_context, ec, "vector {i}");
            ok += 1;
        } else {
            assert!(result.is_err(), "vector {i} ({comment}) must be refused");
            refused += 1;
        }
    }
    assert_eq!((ok, refused), (41, 5));
}

#[test]
fn esdk_python_raw_manifest() {
    let dir = vectors_dir().join("esdk-python-raw");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let keys: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("keys.json")).unwrap()).unwrap();
    let file = |uri: &str| std::fs::read(dir.join(uri.strip_prefix("file://").unwrap())).unwrap();
    let (mut ok, mut refused) = (0, 0);
    for (id, t) in manifest["tests"].as_object().unwrap() {
        let mk = &t["master-keys"][0];
        let key = &keys["keys"][mk["key"].as_str().unwrap()];
        let material = B64.decode(key["material"].as_str().unwrap()).unwrap();
        let keyring = RawAesKeyring::new(
            mk["provider-id"].as_str().unwrap(),
            key["key-id"].as_str().unwrap(),
            &material,
        )
        .unwrap();
        let result = decrypt(
            &keyring,
            &file(t["ciphertext"].as_str().unwrap()),
            DecryptLimits::default(),
        );
        match t["result"]["output"]["plaintext"].as_str() {
            Some(pt) => {
                let (got, _) = result.unwrap_or_else(|e| panic!("{id}: {e}"));
                assert_eq!(got, file(pt), "{id}");
                ok += 1;
            }
            None => {
                assert!(result.is_err(), "{id} must be refused");
                refused += 1;
            }
        }
    }
    assert_eq!((ok, refused), (48, 5));
}

/// The annotated known-answer message: decrypts, and our encryptor reproduces it byte for byte.
#[test]
fn known_answer_message() {
    let kat = std::fs::read(vectors_dir().join("kat/kat_0478.esdk")).unwrap();
    let wrap_key = hex("404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f");
    let keyring = RawAesKeyring::new("ns", "kat-key", &wrap_key).unwrap();
    let plaintext = b"Hello, ESDK v2! ".repeat(300);
    let (pt, header) = decrypt(&keyring, &kat, DecryptLimits::default()).unwrap();
    assert_eq!(pt, plaintext);
    assert_eq!(
        header.commitment.to_vec(),
        hex("16bbdf5f77e52a6d45b8cad7f30e0bbf69b304b0d51de9d153b822934fd32d47")
    );

    let data_key = DataKey::from_bytes(&hex(
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    ))
    .unwrap();
    let ctx: EncryptionContext = [("purpose", "kat"), ("a", "b")].into_iter().collect();
    let mut script = Scripted(
        [
            hex("606162636465666768696a6b"),
            hex("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"),
        ]
        .concat(),
    );
    let edk = keyring.wrap(&data_key, &ctx, &mut script).unwrap();
    let materials =
        EncryptionMaterials::new(Suite::CommitKey, ctx, data_key, vec![edk], None).unwrap();
    let ours = encrypt(materials, 4096, &plaintext, &mut script).unwrap();
    assert_eq!(ours, kat);
}

#[test]
fn wrong_raw_key_is_an_authentication_error() {
    let kat = std::fs::read(vectors_dir().join("kat/kat_0478.esdk")).unwrap();
    let wrong = RawAesKeyring::new("ns", "kat-key", &[0u8; 32]).unwrap();
    assert_eq!(
        decrypt(&wrong, &kat, DecryptLimits::default()).unwrap_err(),
        Error::Authentication
    );
    let other_name = RawAesKeyring::new("ns", "other", &[0u8; 32]).unwrap();
    assert_eq!(
        decrypt(&other_name, &kat, DecryptLimits::default()).unwrap_err(),
        Error::NoMatchingKey
    );
}
