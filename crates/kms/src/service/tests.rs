//! The service's own tests: credentials kept from older data folders, and no file of the data
//! folder holding a backing key, data key or private key unencrypted.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::*;

/// Runs an operation as the HTTP front does (audit record included) and returns its answer.
fn call(kms: &Kms, op: &str, req: Value) -> Value {
    let mut info = AuditInfo::default();
    let body = kms.call(op, &req, &mut info).unwrap();
    kms.audit(Some("AKIATEST"), op, &info, Ok(()));
    serde_json::from_slice(&body).unwrap()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A DER TLV (lengths up to 255).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if content.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(u8::try_from(content.len()).unwrap());
    out.extend_from_slice(content);
    out
}

/// Every form a P-384 private key could be written in: the scalar raw, in hex and in base64
/// at each of the three alignments it can have inside a longer base64 text; and the DER an
/// export would use (SEC1 `ECPrivateKey` with and without its curve, PKCS#8), raw, base64
/// (PEM's body) and hex.
fn private_key_forms(scalar: &[u8], point: &[u8]) -> Vec<Vec<u8>> {
    let curve = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    let algorithm = tlv(
        0x30,
        &[
            &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01][..],
            &curve,
        ]
        .concat(),
    );
    let public = tlv(0xa1, &tlv(0x03, &[&[0u8][..], point].concat()));
    let version = [0x02, 0x01, 0x01];
    let octets = tlv(0x04, scalar);
    let sec1_bare = tlv(0x30, &[&version[..], &octets, &public].concat());
    let sec1 = tlv(
        0x30,
        &[&version[..], &octets, &tlv(0xa0, &curve), &public].concat(),
    );
    let pkcs8 = tlv(
        0x30,
        &[&[0x02, 0x01, 0x00][..], &algorithm, &tlv(0x04, &sec1_bare)].concat(),
    );
    let mut out = vec![scalar.to_vec(), hex::encode(scalar).into_bytes()];
    out.push(hex::encode_upper(scalar).into_bytes());
    for shift in 0..3 {
        // Base64 of the scalar behind `shift` other bytes, without the characters that
        // depend on those bytes or on what follows.
        let text = B64.encode([&vec![0u8; shift][..], scalar].concat());
        let skip = [0, 2, 3][shift];
        out.push(text.as_bytes()[skip..text.len() - 4].to_vec());
    }
    for der in [sec1_bare, sec1, pkcs8] {
        out.push(B64.encode(&der).into_bytes());
        out.push(hex::encode(&der).into_bytes());
        out.push(der);
    }
    out
}

/// A data folder made before the KMS shared its key pair file with the store keeps its key
/// pair: the file is read as it is and not rewritten.
#[test]
fn a_data_folder_of_before_keeps_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let old = "{\n  \"access_key_id\": \"AKIAQ7MZ4XNB2KTD5WEH\",\n  \"secret_access_key\": \"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\"\n}";
    std::fs::write(dir.path().join("credentials.json"), old).unwrap();
    let kms = Kms::open(dir.path(), "us-east-1", "111122223333").unwrap();
    assert_eq!(kms.credentials().access_key_id, "AKIAQ7MZ4XNB2KTD5WEH");
    assert_eq!(
        kms.secret_for("AKIAQ7MZ4XNB2KTD5WEH"),
        Some("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")
    );
    drop(kms);
    let reopened = Kms::open(dir.path(), "us-east-1", "111122223333").unwrap();
    assert_eq!(reopened.credentials().access_key_id, "AKIAQ7MZ4XNB2KTD5WEH");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("credentials.json")).unwrap(),
        old
    );
}

#[test]
fn no_file_of_the_data_folder_holds_a_backing_key_or_data_key_unencrypted() {
    let dir = tempfile::tempdir().unwrap();
    let kms = Kms::open(dir.path(), "us-east-1", "111122223333").unwrap();
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for i in 0..3 {
        let id = call(&kms, "CreateKey", json!({}))["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned();
        call(&kms, "RotateKeyOnDemand", json!({ "KeyId": id }));
        call(
            &kms,
            "CreateAlias",
            json!({ "AliasName": format!("alias/k{i}"), "TargetKeyId": id }),
        );
        let dk = call(
            &kms,
            "GenerateDataKey",
            json!({ "KeyId": id, "NumberOfBytes": 32, "EncryptionContext": { "o": "1" } }),
        );
        secrets.push(B64.decode(dk["Plaintext"].as_str().unwrap()).unwrap());
        let pt = format!("secret plaintext number {i}, 0123456789abcdef");
        let enc = call(
            &kms,
            "Encrypt",
            json!({ "KeyId": id, "Plaintext": B64.encode(&pt) }),
        );
        call(
            &kms,
            "Decrypt",
            json!({ "CiphertextBlob": enc["CiphertextBlob"] }),
        );
        secrets.push(pt.into_bytes());
    }
    for rec in kms.read().unwrap().keys.values() {
        assert_eq!(rec.materials.len(), 2);
        for m in &rec.materials {
            secrets.push(m.key.to_vec());
        }
    }
    assert_eq!(secrets.len(), 12);
    // A signing key, used: its private key, as the scalar and in the DER encodings a key
    // export would use (PKCS#8, SEC1), must not reach a file in any printed form.
    let ecc = call(
        &kms,
        "CreateKey",
        json!({ "KeySpec": "ECC_NIST_P384", "KeyUsage": "SIGN_VERIFY" }),
    )["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let sig = call(
        &kms,
        "Sign",
        json!({ "KeyId": ecc, "Message": B64.encode("checkpoint"), "SigningAlgorithm": "ECDSA_SHA_384" }),
    );
    call(
        &kms,
        "Verify",
        json!({ "KeyId": ecc, "Message": B64.encode("checkpoint"), "Signature": sig["Signature"], "SigningAlgorithm": "ECDSA_SHA_384" }),
    );
    let (scalar, spki) = {
        let st = kms.read().unwrap();
        let key = st.keys[&Uuid::parse_str(&ecc).unwrap()]
            .private_key
            .clone()
            .unwrap();
        (key.scalar(), key.public_key_der())
    };
    let point = &spki[23..];
    let private_forms = private_key_forms(&scalar[..], point);
    drop(kms);
    // Reopened from the files, the backing keys are the same.
    let kms = Kms::open(dir.path(), "us-east-1", "111122223333").unwrap();
    let reopened: Vec<Vec<u8>> = kms
        .read()
        .unwrap()
        .keys
        .values()
        .flat_map(|r| r.materials.iter().map(|m| m.key.to_vec()))
        .collect();
    assert_eq!(reopened, secrets[6..]);
    let st = kms.read().unwrap();
    let back = st.keys[&Uuid::parse_str(&ecc).unwrap()]
        .private_key
        .as_ref()
        .unwrap()
        .scalar();
    assert_eq!(*back, *scalar, "the same private key after a restart");
    drop(st);
    drop(kms);

    let master = std::fs::read(dir.path().join("master.key")).unwrap();
    let master = master.trim_ascii().to_vec();
    let all = files(dir.path());
    assert!(all.len() >= 7, "{all:?}");
    for path in &all {
        let bytes = std::fs::read(path).unwrap();
        for s in &secrets {
            for form in [
                s.clone(),
                B64.encode(s).into_bytes(),
                hex::encode(s).into_bytes(),
                hex::encode_upper(s).into_bytes(),
            ] {
                assert!(
                    !bytes.windows(form.len()).any(|w| w == form.as_slice()),
                    "{} holds a secret",
                    path.display()
                );
            }
        }
        for form in &private_forms {
            assert!(
                !bytes.windows(form.len()).any(|w| w == form.as_slice()),
                "{} holds the private key",
                path.display()
            );
        }
        if !path.ends_with("master.key") {
            assert!(
                !bytes.windows(master.len()).any(|w| w == master.as_slice()),
                "{} holds the master key",
                path.display()
            );
        }
    }
}
