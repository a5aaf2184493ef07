//! `cipherdrop serve` with the embedded KMS and S3: the whole upload and download protocol with a
//! Rust client (core encrypts, parts go to presigned URLs), the stored objects decrypted by the
//! official Python ESDK through the KMS endpoint, and the server's security properties.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    CONTEXT_OBJECT, CONTEXT_OWNER, CreateUploadRequest, SUITE_COMMIT_KEY,
    SUITE_COMMIT_KEY_ECDSA_P384,
};
use cipherdrop_e2e::data;
use cipherdrop_e2e::server::{
    Client, PASSWORD, ServerProcess, audit_verify, code_of, esdk_decrypt, setup_accounts,
    status_of, stored_credentials,
};
use reqwest::Method;

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");

async fn accounts(server: &ServerProcess) -> (Client, Client, Client) {
    setup_accounts(server, Path::new(BIN)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_download_and_official_esdk_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(Path::new(BIN), dir.path(), &[], &[]).unwrap();
    let (_admin, alice, _bob) = accounts(&server).await;
    let kms_creds = stored_credentials(&dir.path().join("kms")).unwrap();
    let kms_url = server.kms_url.clone().unwrap();

    let mut issued_keys = Vec::new();
    // Sizes: empty, one byte, one frame exactly, several frames, and three 5 MiB parts.
    let cases: &[(usize, u16, u32)] = &[
        (0, SUITE_COMMIT_KEY, 4096),
        (1, SUITE_COMMIT_KEY_ECDSA_P384, 4096),
        (65536, SUITE_COMMIT_KEY, 65536),
        (300_001, SUITE_COMMIT_KEY_ECDSA_P384, 65536),
        (11 * 1024 * 1024 + 3, SUITE_COMMIT_KEY, 65536),
    ];
    for (i, &(len, suite, frame)) in cases.iter().enumerate() {
        let plaintext = data(len, i as u64);
        let (up, parts) = alice.upload_parts(&plaintext, suite, frame).await.unwrap();
        issued_keys.push(B64.decode(&up.data_key).unwrap());
        // The context holds opaque ids only.
        let mut keys: Vec<&str> = up.encryption_context.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = vec![CONTEXT_OBJECT, CONTEXT_OWNER];
        if suite == SUITE_COMMIT_KEY_ECDSA_P384 {
            expected.push("aws-crypto-public-key");
        }
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(up.encryption_context[CONTEXT_OBJECT], up.object_id);
        let summary = alice
            .complete(&up.upload_id, &parts, b"opaque")
            .await
            .unwrap();
        assert_eq!(summary.plaintext_size, len as u64);
        if suite == SUITE_COMMIT_KEY {
            assert_eq!(summary.size, up.ciphertext_size, "exact size for 0x0478");
        }
        let back = alice.download(&up.object_id).await.unwrap();
        assert!(back == plaintext, "case {i}: round trip differs");
        let key = alice.key(&up.object_id).await.unwrap();
        issued_keys.push(B64.decode(&key.data_key).unwrap());
        // The official ESDK reads what S3 stored, through the same KMS.
        let ciphertext = alice.download_ciphertext(&up.object_id).await.unwrap();
        let official = esdk_decrypt(
            &kms_url,
            (&kms_creds.0, &kms_creds.1),
            &up.key_arn,
            &ciphertext,
            dir.path(),
        )
        .unwrap();
        assert!(official == plaintext, "case {i}: official ESDK differs");
    }
    assert_eq!(issued_keys.len(), 2 * cases.len());

    // Listing and deletion.
    let (_, list) = alice.call(Method::GET, "/api/objects", None).await.unwrap();
    let ids: Vec<String> = list["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), cases.len());
    assert!(list["objects"][0]["metadata"] == B64.encode(b"opaque"));
    alice
        .call(Method::DELETE, &format!("/api/objects/{}", ids[0]), None)
        .await
        .unwrap();
    let gone = alice.details(&ids[0]).await.unwrap_err();
    assert_eq!(status_of(&gone), 404);

    // A plaintext data key never reaches the logs or the database, in any encoding.
    let logs = server.logs();
    assert!(
        logs.contains("DEBUG"),
        "the capture must include debug logs"
    );
    let db = std::fs::read(dir.path().join("cipherdrop.db")).unwrap();
    let wal = std::fs::read(dir.path().join("cipherdrop.db-wal")).unwrap_or_default();
    for key in &issued_keys {
        for text in [
            B64.encode(key),
            cipherdrop_e2e::hex(key),
            format!("{key:?}"),
        ] {
            assert!(!logs.contains(&text), "a data key is in the server log");
        }
        for blob in [&db, &wal] {
            assert!(
                !blob.windows(32).any(|w| w == key.as_slice()),
                "a data key is in the database"
            );
        }
    }
    let (ok, report) = audit_verify(Path::new(BIN), dir.path()).unwrap();
    assert!(ok, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_for_anonymous_other_user_owner_and_admin() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(Path::new(BIN), dir.path(), &[], &[]).unwrap();
    let (admin, alice, bob) = accounts(&server).await;
    let anonymous = server.client();
    let object = alice
        .upload(&data(1000, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let (pending, _) = alice
        .upload_parts(&data(10, 2), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();

    // Every documented operation, from the served OpenAPI document.
    let (_, spec) = anonymous
        .call(Method::GET, "/api/openapi.json", None)
        .await
        .unwrap();
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["get", "post", "delete"] {
            if item.get(method).is_some() {
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert_eq!(operations.len(), 22, "{operations:?}");
    let public = [
        "/api/openapi.json",
        "/api/login",
        "/api/login/link",
        "/api/logout",
        "/api/share",
        "/api/share/key",
    ];
    for (method, path) in &operations {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let concrete = if path.starts_with("/api/uploads/") {
            path.replace("{id}", &pending.upload_id)
        } else {
            path.replace("{id}", &object)
        };
        // A body of the right shape for every POST, so only authorisation can refuse it.
        let body = serde_json::json!({
            "parts": [], "metadata": "", "token": "t", "username": "u", "password": "p",
            "new_password": "a new password of some length"
        });
        let body = (m == Method::POST).then_some(&body);
        let label = format!("{method} {path}");
        // Anonymous: 401 everywhere but the public operations.
        let r = anonymous.call(m.clone(), &concrete, body).await;
        if public.contains(&path.as_str()) {
            if let Err(e) = &r {
                assert_ne!(code_of(e), "unauthenticated", "{label}: anonymous");
                // (A made-up share token is a 404 of its own kind.)
                if code_of(e) != "share_not_found" {
                    assert_ne!(status_of(e), 404, "{label}: route missing");
                }
            }
        } else {
            assert_eq!(status_of(&r.unwrap_err()), 401, "{label}: anonymous");
        }
        // Another user, and the admin, see nobody else's uploads or objects: 404, like a
        // missing id, so ids do not leak.
        if path.contains("{id}") {
            for (who, c) in [("bob", &bob), ("admin", &admin)] {
                let e = c.call(m.clone(), &concrete, body).await.unwrap_err();
                assert_eq!(status_of(&e), 404, "{label}: {who}");
            }
        }
    }
    // The audit log is for admins only.
    for c in [&alice, &bob] {
        let e = c
            .call(Method::GET, "/api/admin/audit", None)
            .await
            .unwrap_err();
        assert_eq!(status_of(&e), 403);
    }
    let (_, page) = admin
        .call(Method::GET, "/api/admin/audit?limit=3", None)
        .await
        .unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 3);
    assert_eq!(page["next_after"], 3);
    let (_, rest) = admin
        .call(Method::GET, "/api/admin/audit?after=3&limit=1000", None)
        .await
        .unwrap();
    let actions: Vec<&str> = rest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["login", "key.issued", "upload.created", "upload.completed"] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
    // Bob's and the admin's attempts at Alice's key were refused, and audited as such.
    let denied: Vec<&serde_json::Value> = rest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "key.released")
        .collect();
    assert_eq!(denied.len(), 2);
    assert!(
        denied
            .iter()
            .all(|e| e["outcome"] == "denied" && e["object"] == object.as_str())
    );

    // The owner: key responses are never cached; the object's own key comes back.
    let (h, _) = alice
        .call(Method::POST, &format!("/api/objects/{object}/key"), None)
        .await
        .unwrap();
    assert_eq!(h["cache-control"], "no-store");
    let (h, created) = alice
        .call(
            Method::POST,
            "/api/uploads",
            Some(&serde_json::json!({"plaintext_size": 5, "suite": 0x0478, "frame_length": 4096})),
        )
        .await
        .unwrap();
    assert_eq!(h["cache-control"], "no-store");
    // Owner operations on the pending upload: status, more URLs, abort; then it is no longer pending.
    let id = created["upload_id"].as_str().unwrap();
    let (_, st) = alice
        .call(Method::GET, &format!("/api/uploads/{id}"), None)
        .await
        .unwrap();
    assert_eq!(st["state"], "pending");
    alice
        .call(Method::POST, &format!("/api/uploads/{id}/abort"), None)
        .await
        .unwrap();
    let e = alice
        .call(Method::POST, &format!("/api/uploads/{id}/abort"), None)
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 409);

    // Cross-origin state-changing requests are refused, same-origin ones pass.
    let create = serde_json::json!({"plaintext_size": 5, "suite": 0x0478, "frame_length": 4096});
    for (header, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let r = alice
            .http
            .post(format!("{}/api/uploads", server.url))
            .header(header, value)
            .json(&create)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{header}: {value}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "cross_origin");
    }
    let r = alice
        .http
        .post(format!("{}/api/uploads", server.url))
        .header("origin", &server.url)
        .header("sec-fetch-site", "same-origin")
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Session cookies: HttpOnly, SameSite=Strict.
    let r = server
        .client()
        .http
        .post(format!("{}/api/login", server.url))
        .json(&serde_json::json!({"username": "bob", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    // Bad input: unknown suite, bad frame length, signed suite without a key, oversized.
    for (req, code) in [
        (
            serde_json::json!({"plaintext_size": 5, "suite": 0x0178, "frame_length": 4096}),
            400,
        ),
        (
            serde_json::json!({"plaintext_size": 5, "suite": 0x0478, "frame_length": 0}),
            400,
        ),
        (
            serde_json::json!({"plaintext_size": 5, "suite": 0x0578, "frame_length": 4096}),
            400,
        ),
        (
            serde_json::json!({"plaintext_size": 5, "suite": 0x0478, "frame_length": 4096, "public_key": "AAAA"}),
            400,
        ),
        (
            serde_json::json!({"plaintext_size": u64::MAX, "suite": 0x0478, "frame_length": 4096}),
            413,
        ),
        (serde_json::json!({"suite": 0x0478}), 422),
    ] {
        let e = alice
            .call(Method::POST, "/api/uploads", Some(&req))
            .await
            .unwrap_err();
        assert_eq!(status_of(&e), code, "{req}");
    }

    // Login rate limit: five failures lock the account, even for the right password.
    let mallory = server.client();
    for _ in 0..5 {
        let e = mallory.login("bob", "wrong password!").await.unwrap_err();
        assert_eq!(code_of(&e), "bad_credentials");
    }
    let e = mallory.login("bob", PASSWORD).await.unwrap_err();
    assert_eq!(status_of(&e), 429);

    // A one-time link works once; a password reset ends the account's sessions and prints a new
    // link whose session must choose a password.
    let e = server
        .client()
        .login_link(server.admin_token.as_deref().unwrap())
        .await
        .unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (401, "bad_link"));
    let out = std::process::Command::new(BIN)
        .args(["user", "reset-password", "alice", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let token = printed.split("#login=").nth(1).unwrap().trim();
    let e = alice.call(Method::GET, "/api/me", None).await.unwrap_err();
    assert_eq!(status_of(&e), 401, "the reset ended alice's session");
    let e = server.client().login("alice", PASSWORD).await.unwrap_err();
    assert_eq!(code_of(&e), "bad_credentials", "the old password is gone");
    let fresh = server.client();
    fresh.login_link(token).await.unwrap();
    let (_, me) = fresh.call(Method::GET, "/api/me", None).await.unwrap();
    assert_eq!(me["must_set_password"], true);
    let e = fresh.set_password(None, "short").await.unwrap_err();
    assert_eq!(status_of(&e), 400, "passwords need 12 characters");
    fresh
        .set_password(None, "a brand new passphrase")
        .await
        .unwrap();
    let e = fresh
        .set_password(Some("wrong current"), "another new passphrase")
        .await
        .unwrap_err();
    assert_eq!(
        status_of(&e),
        403,
        "the current password is needed once one is set"
    );

    // Per client address: 20 failures over any names lock out that address, even for the right
    // password of an account that never failed. Seven failures from 127.0.0.1 so far (bob's
    // five, the matrix's login, alice's old password): the 14th new one is refused unchecked.
    let mut failures = 7;
    for i in 0..20 {
        let e = mallory
            .login(&format!("nobody{i}"), "wrong password!")
            .await
            .unwrap_err();
        if code_of(&e) == "rate_limited" {
            break;
        }
        assert_eq!(code_of(&e), "bad_credentials");
        failures += 1;
    }
    assert_eq!(failures, 20);
    let e = server.client().login("admin", PASSWORD).await.unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (429, "rate_limited"));
    let (ok, report) = audit_verify(Path::new(BIN), dir.path()).unwrap();
    assert!(ok, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_s3_refuses_tampered_and_expired_presigned_urls() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        Path::new(BIN),
        dir.path(),
        &["--url-ttl-secs", "5", "--max-object-size", "1000000"],
        &[],
    )
    .unwrap();
    let (_admin, alice, _bob) = accounts(&server).await;
    let object = alice
        .upload(&data(100, 3), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let other = alice
        .upload(&data(100, 4), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let up = alice
        .create_upload(&CreateUploadRequest {
            plaintext_size: 10,
            suite: SUITE_COMMIT_KEY,
            frame_length: 4096,
            public_key: None,
        })
        .await
        .unwrap();
    // The configured maximum object size.
    let too_big = alice
        .create_upload(&CreateUploadRequest {
            plaintext_size: 1_000_001,
            suite: SUITE_COMMIT_KEY,
            frame_length: 4096,
            public_key: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (status_of(&too_big), code_of(&too_big).as_str()),
        (413, "too_large")
    );
    let part_url = up.parts[0].url.clone();
    let get_url = alice.details(&object).await.unwrap().download_url;
    let s3 = server.s3_url.clone().unwrap();
    assert!(part_url.starts_with(&s3) && get_url.starts_with(&s3));

    let flip_signature = |url: &str| {
        let i = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
        let mut s = url.to_owned();
        let c = if &url[i..=i] == "0" { "1" } else { "0" };
        s.replace_range(i..=i, c);
        s
    };
    let http = reqwest::Client::new();
    let status = |r: reqwest::Response| r.status().as_u16();
    // Signature changed, another object's key, another part number, no signature at all.
    let tampered_get = [
        flip_signature(&get_url),
        get_url.replace(&object, &other),
        get_url.split('?').next().unwrap().to_owned(),
    ];
    for url in &tampered_get {
        assert_eq!(status(http.get(url).send().await.unwrap()), 403, "{url}");
    }
    let tampered_put = [
        flip_signature(&part_url),
        part_url.replace("partNumber=1", "partNumber=2"),
    ];
    for url in &tampered_put {
        let r = http.put(url).body(vec![0u8; 10]).send().await.unwrap();
        assert_eq!(status(r), 403, "{url}");
    }
    // The untampered URLs work, until they expire.
    assert_eq!(status(http.get(&get_url).send().await.unwrap()), 200);
    // Past the 5 s lifetime (generous, so a loaded CI machine cannot expire them early).
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    let r = http.get(&get_url).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("expired"));
    let r = http
        .put(&part_url)
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 403);

    // CORS: the app's origin may PUT and read ETag; another origin gets no CORS grant.
    let pre = |origin: &str| {
        http.request(Method::OPTIONS, &part_url)
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = pre(&server.url).await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        server.url.as_str()
    );
    assert!(
        ok.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("ETag")
    );
    let evil = pre("http://evil.example").await.unwrap();
    assert_eq!(evil.status(), 403);
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}
