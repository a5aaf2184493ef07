//! Every documented endpoint for an anonymous client, another user, the owner and the admin;
//! the same-origin rule, cookie flags, bad input, login limits, one-time links and resets.

use base64::Engine as _;
use cipherdrop_api::SUITE_COMMIT_KEY;
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{code_of, status_of};
use reqwest::Method;

use crate::util::{PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_for_anonymous_other_user_owner_and_admin() {
    let app = TestApp::start().await;
    let (admin, alice, bob) = app.accounts().await;
    let anonymous = app.client();
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
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert_eq!(operations.len(), 55, "{operations:?}");
    let public = crate::util::PUBLIC_OPERATIONS;
    for (method, path) in &operations {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let concrete = if path.starts_with("/api/uploads/") {
            path.replace("{id}", &pending.upload_id)
        } else {
            path.replace("{id}", &object)
        };
        // A body of the right shape for every POST, so only authorisation can refuse it.
        let body = serde_json::json!({
            "parts": [], "metadata": "AQ==", "token": "t", "sender_secret": "s", "username": "u", "password": "p",
            "new_password": "a new password of some length",
            "id": "0b7c5b2e-8f1e-4f57-9a53-3c1d2e4f5a6b",
            "sealed_key": base64::engine::general_purpose::STANDARD.encode([1u8; 61])
        });
        let body = [Method::POST, Method::PUT, Method::PATCH]
            .contains(&m)
            .then_some(&body);
        let label = format!("{method} {path}");
        // Anonymous: 401 everywhere but the public operations.
        let r = anonymous.call(m.clone(), &concrete, body).await;
        if public.contains(&path.as_str()) {
            if let Err(e) = &r {
                assert_ne!(code_of(e), "unauthenticated", "{label}: anonymous");
                // (A made-up share token is a 404 of its own kind.)
                if !["share_not_found", "request_not_found", "upload_not_found"]
                    .contains(&code_of(e).as_str())
                {
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
    // The audit log and the keys are for admins only.
    let start = serde_json::json!({"from": "k", "to": "k", "kms_key_id": "k"});
    for c in [&alice, &bob] {
        for (m, path) in [
            (Method::GET, "/api/admin/audit"),
            (Method::GET, "/api/admin/keys"),
            (Method::POST, "/api/admin/rekey"),
            (Method::PUT, "/api/admin/users/alice/key"),
        ] {
            let body = (m != Method::GET).then_some(&start);
            let e = c.call(m, path, body).await.unwrap_err();
            assert_eq!(status_of(&e), 403, "{path}");
        }
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
    // Bob's and the admin's attempts at Alice's keys (the object's, and the pending upload's)
    // were refused, and audited as such.
    let denied: Vec<&serde_json::Value> = rest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "key.released")
        .collect();
    assert_eq!(denied.len(), 4);
    assert!(denied.iter().all(|e| e["outcome"] == "denied"));
    for id in [object.as_str(), pending.upload_id.as_str()] {
        assert_eq!(
            denied.iter().filter(|e| e["object"] == id).count(),
            2,
            "{id}"
        );
    }

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
            .post(format!("{}/api/uploads", app.url))
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
        .post(format!("{}/api/uploads", app.url))
        .header("origin", &app.url)
        .header("sec-fetch-site", "same-origin")
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Session cookies: HttpOnly, SameSite=Strict.
    let r = app
        .client()
        .http
        .post(format!("{}/api/login", app.url))
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
    let mallory = app.client();
    for _ in 0..5 {
        let e = mallory.login("bob", "wrong password!").await.unwrap_err();
        assert_eq!(code_of(&e), "bad_credentials");
    }
    let e = mallory.login("bob", PASSWORD).await.unwrap_err();
    assert_eq!(status_of(&e), 429);

    // A one-time link works once; a password reset ends the account's sessions and prints a new
    // link whose session must choose a password.
    let e = app
        .client()
        .login_link(app.admin_token())
        .await
        .unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (401, "bad_link"));
    let token = cipherdrop_server::admin::reset_password(&app.db, "alice", None)
        .await
        .unwrap()
        .unwrap();
    let token = token.as_str();
    let e = alice.call(Method::GET, "/api/me", None).await.unwrap_err();
    assert_eq!(status_of(&e), 401, "the reset ended alice's session");
    let e = app.client().login("alice", PASSWORD).await.unwrap_err();
    assert_eq!(code_of(&e), "bad_credentials", "the old password is gone");
    let fresh = app.client();
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
    // password of an account that never failed. Ten failures from 127.0.0.1 so far (bob's
    // five, the matrix's login and its made-up login link, alice's old password, the wrong
    // current password, ...): the 11th new one is refused unchecked.
    let mut failures = 10;
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
    let e = app.client().login("admin", PASSWORD).await.unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (429, "rate_limited"));
    let (ok, report) = app.audit_verify().await;
    assert!(ok, "{report}");
}
