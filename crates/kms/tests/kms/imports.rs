//! Imported key material (BYOK) in the embedded KMS: boto3 walks AWS's documented procedure and
//! its error codes (`tests/py/kms_import.py`); the official Rust SDK checks what needs the
//! lifecycle clock (an import token's 24 hours, material whose `ValidTo` passes), a restart, and
//! that deleted material is gone from every file of the data folder.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use aws_sdk_kms::Client;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, KeyState, OriginType, WrappingKeySpec,
};
use serde_json::json;

use crate::sdk::{Server, boto3_script};

/// Material wrapped with RSAES_OAEP_SHA_256 under the DER public key of GetParametersForImport.
fn wrap(public_der: &[u8], material: &[u8]) -> Vec<u8> {
    let public =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_der).unwrap()).unwrap();
    let mut out = vec![0u8; public.ciphertext_size()];
    let n = public
        .encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None)
        .unwrap()
        .len();
    out.truncate(n);
    out
}

/// A key of origin EXTERNAL and one GetParametersForImport answer for it: (key id, token,
/// public key).
async fn external_key(c: &Client) -> (String, Blob, Vec<u8>) {
    let id = c
        .create_key()
        .origin(OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let (token, public) = parameters(c, &id).await;
    (id, token, public)
}

async fn parameters(c: &Client, id: &str) -> (Blob, Vec<u8>) {
    let p = c
        .get_parameters_for_import()
        .key_id(id)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap();
    (p.import_token.unwrap(), p.public_key.unwrap().into_inner())
}

async fn state(c: &Client, id: &str) -> KeyState {
    c.describe_key()
        .key_id(id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_state
        .unwrap()
}

fn code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(r: Result<T, E>) -> String {
    r.expect_err("the call should fail")
        .code()
        .unwrap_or("none")
        .to_owned()
}

/// boto3 (with `cryptography` wrapping the material) sees AWS KMS's procedure and error codes.
#[tokio::test]
async fn boto3_imports_deletes_and_reimports_key_material_as_aws_documents() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let creds = (
        s.kms.credentials().access_key_id.clone(),
        s.kms.credentials().secret_access_key.clone(),
    );
    let out = boto3_script("kms_import.py", format!("http://{}", s.addr), creds).await;
    s.stop().await;
    let invalid_state = json!("KMSInvalidStateException");
    let unsupported = json!("UnsupportedOperationException");
    assert_eq!(
        out["created"],
        json!({ "Enabled": false, "KeySpec": "SYMMETRIC_DEFAULT", "KeyState": "PendingImport", "Origin": "EXTERNAL" }),
        "{out}"
    );
    assert_eq!(out["encrypt_before_import"], invalid_state, "{out}");
    assert_eq!(out["enable_before_import"], invalid_state, "{out}");
    assert_eq!(out["rotation_of_imported"], unsupported, "{out}");
    let params = out["parameters"].as_object().unwrap();
    assert_eq!(params.len(), 4, "{out}");
    for (name, p) in params {
        let bits = name.rsplit('_').next().unwrap().parse::<u64>().unwrap();
        assert_eq!(
            *p,
            json!({ "bits": bits, "key_id_is_arn": true, "token_bytes": true, "valid_about_24h": true }),
            "{name}"
        );
    }
    for (field, want) in [
        ("valid_to_missing", "ValidationException"),
        ("valid_to_with_does_not_expire", "ValidationException"),
        (
            "wrapped_with_the_other_algorithm",
            "InvalidCiphertextException",
        ),
        ("forged_token", "InvalidImportTokenException"),
        ("token_of_another_key", "InvalidImportTokenException"),
        ("material_of_128_bits", "IncorrectKeyMaterialException"),
        ("state_after_wrong_uses", "PendingImport"),
        (
            "different_material_while_imported",
            "IncorrectKeyMaterialException",
        ),
        ("parameters_while_imported", "KMSInvalidStateException"),
        (
            "parameters_for_an_aws_kms_key",
            "UnsupportedOperationException",
        ),
        (
            "delete_material_of_an_aws_kms_key",
            "UnsupportedOperationException",
        ),
        ("wrapping_spec_unknown", "ValidationException"),
        ("wrapping_pkcs1", "UnsupportedOperationException"),
        ("decrypt_after_delete", "KMSInvalidStateException"),
        ("encrypt_after_delete", "KMSInvalidStateException"),
        (
            "different_material_after_delete",
            "IncorrectKeyMaterialException",
        ),
        ("state_after_different_material", "PendingImport"),
        ("cancelled_without_material", "PendingImport"),
    ] {
        assert_eq!(out[field], json!(want), "{field}: {out}");
    }
    assert_eq!(
        out["imported"],
        json!({ "Enabled": true, "ExpirationModel": "KEY_MATERIAL_EXPIRES", "KeyState": "Enabled", "ValidTo_is_the_one_given": true }),
        "{out}"
    );
    assert_eq!(out["round_trip"], json!(true), "{out}");
    assert_eq!(
        out["deleted"],
        json!({ "Enabled": false, "KeyState": "PendingImport", "ValidTo": null }),
        "{out}"
    );
    assert_eq!(
        out["reimported"],
        json!({ "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "KeyState": "Enabled", "ValidTo": null }),
        "{out}"
    );
    assert_eq!(out["old_ciphertext_after_reimport"], json!(true), "{out}");
}

/// An import token is refused once its 24 hours have passed; material whose ValidTo passes is
/// deleted (the key waits for it, every use refused) and comes back only as the same material;
/// all of it survives a restart; and once deleted, no file of the data folder holds the material
/// in any form.
#[tokio::test]
async fn tokens_expire_material_expires_and_deleted_material_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let c = s.client();
    let material = [0x5au8; 32];
    let material: Vec<u8> = material
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ (i as u8).wrapping_mul(37))
        .collect();

    // A token is good for 24 hours.
    let (id, token, public) = external_key(&c).await;
    s.kms.advance_clock(24 * 3600 + 1);
    let e = c
        .import_key_material()
        .key_id(&id)
        .import_token(token)
        .encrypted_key_material(Blob::new(wrap(&public, &material)))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await;
    assert_eq!(code(e), "ExpiredImportTokenException");
    assert_eq!(state(&c, &id).await, KeyState::PendingImport);

    // Material valid for an hour.
    let (token, public) = parameters(&c, &id).await;
    let now = std::time::SystemTime::now() + std::time::Duration::from_secs(24 * 3600 + 1);
    let valid_to = now + std::time::Duration::from_secs(3600);
    c.import_key_material()
        .key_id(&id)
        .import_token(token.clone())
        .encrypted_key_material(Blob::new(wrap(&public, &material)))
        .valid_to(DateTime::from(valid_to))
        .send()
        .await
        .unwrap();
    let blob = c
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"erasable".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();

    // A restart keeps the imported material and its expiry.
    s.stop().await;
    let s = Server::start(dir.path()).await;
    s.kms.advance_clock(24 * 3600 + 1);
    let c = s.client();
    let pt = c
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    assert_eq!(pt.as_ref(), b"erasable");
    let meta = c
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.origin, Some(OriginType::External));
    assert!(meta.valid_to.is_some());

    // An hour on, the material is gone.
    s.kms.advance_clock(3601);
    let e = c.decrypt().ciphertext_blob(blob.clone()).send().await;
    assert_eq!(code(e), "KMSInvalidStateException");
    assert_eq!(state(&c, &id).await, KeyState::PendingImport);
    let files = files_of(dir.path());
    let needles = forms(&material);
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == n.as_slice()),
                "{} holds the expired material",
                path.display()
            );
        }
    }

    // The token, from before the restart, is not known to this process.
    let e = c
        .import_key_material()
        .key_id(&id)
        .import_token(token)
        .encrypted_key_material(Blob::new(wrap(&public, &material)))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await;
    assert_eq!(code(e), "InvalidImportTokenException");
    let (token, public) = parameters(&c, &id).await;
    c.import_key_material()
        .key_id(&id)
        .import_token(token)
        .encrypted_key_material(Blob::new(wrap(&public, &material)))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .unwrap();
    let pt = c
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    assert_eq!(pt.as_ref(), b"erasable");
    s.stop().await;
}

fn files_of(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_of(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A secret raw, in base64 and in hex.
fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    vec![
        secret.to_vec(),
        base64::engine::general_purpose::STANDARD
            .encode(secret)
            .into_bytes(),
        hex_of(secret).into_bytes(),
    ]
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The public key of GetParametersForImport is a DER SubjectPublicKeyInfo the RSA library reads
/// back; a new call gives a new key pair.
#[tokio::test]
async fn every_answer_has_its_own_wrapping_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let c = s.client();
    let (id, t1, p1) = external_key(&c).await;
    let (t2, p2) = parameters(&c, &id).await;
    assert_ne!(p1, p2);
    assert_ne!(t1.as_ref(), t2.as_ref());
    let key = PublicEncryptingKey::from_der(&p1).unwrap();
    assert_eq!(key.key_size_bits(), 2048);
    assert_eq!(key.as_der().unwrap().as_ref(), p1.as_slice());
    s.stop().await;
}
