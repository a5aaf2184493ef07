//! API tokens under attack: every operation, called with tokens of each scope, answers exactly as
//! the OpenAPI document's token scopes say (and session-only operations refuse tokens); a token
//! uploads, downloads and shares within its scopes and never gets a session; revoked, expired,
//! unknown, malformed and doubled tokens are refused in words; another account's token reaches
//! nothing; 60 concurrent creations stop at the cap; uses are audited and secrets stored nowhere.
use cipherdrop_api::{SUITE_COMMIT_KEY, TOKEN_MAX_PER_ACCOUNT, TokenCreated};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{Client, code_of, status_of};
use reqwest::Method;
use serde_json::json;

use crate::util::TestApp;

async fn token(owner: &Client, scopes: &[&str]) -> TokenCreated {
    let (_, v) = owner
        .call(
            Method::POST,
            "/api/tokens",
            Some(&json!({"name": format!("script {}", scopes.join("+")), "scopes": scopes})),
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_do_what_their_scopes_say_and_nothing_else() {
    let app = TestApp::start().await;
    let (_admin, alice, bob) = app.accounts().await;
    let (read, write, share) = (
        token(&alice, &["read"]).await,
        token(&alice, &["write"]).await,
        token(&alice, &["share"]).await,
    );

    // The matrix: every operation, every single-scope token, against what the document says.
    let (_, spec) = alice
        .call(Method::GET, "/api/openapi.json", None)
        .await
        .unwrap();
    let public = crate::util::PUBLIC_OPERATIONS;
    let ghost = "00000000-0000-4000-8000-000000000000";
    let body = json!({"parts": [], "metadata": "", "plaintext_size": 1, "suite": SUITE_COMMIT_KEY,
        "frame_length": 4096, "name": "x", "scopes": ["read"], "new_password": "a new password of some length",
        "id": ghost, "sealed_key": "", "unlimited": true});
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        if public.contains(&path.as_str()) {
            continue;
        }
        for method in ["get", "post", "put", "delete", "patch"] {
            let Some(op) = item.get(method) else { continue };
            let scope = op["security"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|s| s.get("token"))
                .map(|t| t[0].as_str().unwrap().to_owned());
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let concrete = path.replace("{id}", ghost);
            for (name, t) in [("read", &read), ("write", &write), ("share", &share)] {
                let c = Client::with_token(&app.url, t.secret.expose());
                let b = (m != Method::GET && m != Method::DELETE).then_some(&body);
                let r = c.call(m.clone(), &concrete, b).await;
                let label = format!("{method} {path} with a {name} token");
                match scope.as_deref() {
                    Some(s) if s == name || s == "any" => {
                        if let Err(e) = &r {
                            assert!(![401, 403].contains(&status_of(e)), "{label}: {e:?}");
                        }
                    }
                    Some(_) => {
                        let e = r.expect_err(&label);
                        assert_eq!(
                            (status_of(&e), code_of(&e).as_str()),
                            (403, "insufficient_scope"),
                            "{label}"
                        );
                    }
                    None => {
                        let e = r.expect_err(&label);
                        assert_eq!(
                            (status_of(&e), code_of(&e).as_str()),
                            (403, "session_required"),
                            "{label}"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 3 * 21, "{checked}");

    // Within their scopes, tokens do the work of a script: upload, download, share.
    let writer = Client::with_token(&app.url, write.secret.expose());
    let reader = Client::with_token(&app.url, read.secret.expose());
    let plaintext = data(70_000, 4);
    let object = writer
        .upload(&plaintext, SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    assert_eq!(reader.download(&object).await.unwrap(), plaintext);
    let e = writer.download(&object).await.unwrap_err();
    assert_eq!(
        code_of(&e),
        "insufficient_scope",
        "a write token cannot read keys"
    );
    let sharer = Client::with_token(
        &app.url,
        token(&alice, &["read", "share"]).await.secret.expose(),
    );
    let link = sharer.share(&object, json!({})).await.unwrap();
    let release = app.client().share_key(link.token(), None).await.unwrap();
    assert_eq!(link.fetch(&release).await.unwrap(), plaintext);
    // A token never gets a session: no cookie, and the page's routes stay closed.
    let (headers, me) = reader.call(Method::GET, "/api/me", None).await.unwrap();
    assert_eq!(me["username"], "alice");
    assert!(headers.get("set-cookie").is_none());
    // Another account's token reaches nothing of Alice's.
    let bobs = Client::with_token(
        &app.url,
        token(&bob, &["read", "write", "share"])
            .await
            .secret
            .expose(),
    );
    for (m, path) in [
        (Method::GET, format!("/api/objects/{object}")),
        (Method::POST, format!("/api/objects/{object}/key")),
        (Method::DELETE, format!("/api/objects/{object}")),
        (Method::GET, format!("/api/objects/{object}/shares")),
    ] {
        let e = bobs.call(m, &path, None).await.unwrap_err();
        assert_eq!(status_of(&e), 404, "{path}");
    }

    // Refusals in words: revoked, expired, unknown, malformed, doubled.
    let e = bob
        .call(
            Method::DELETE,
            &format!("/api/tokens/{}", read.token.id),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 404, "only the owner revokes");
    alice
        .call(
            Method::DELETE,
            &format!("/api/tokens/{}", read.token.id),
            None,
        )
        .await
        .unwrap();
    let e = reader
        .call(Method::GET, "/api/objects", None)
        .await
        .unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (401, "token_revoked")
    );
    sqlx::query("UPDATE api_tokens SET expires_at = strftime('%s','now') - 1 WHERE id = $1")
        .bind(&write.token.id)
        .execute(&app.db)
        .await
        .unwrap();
    let e = writer
        .call(Method::GET, "/api/usage", None)
        .await
        .unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (401, "token_expired")
    );
    let e = Client::with_token(&app.url, "cdt_nosuchtoken")
        .call(Method::GET, "/api/objects", None)
        .await
        .unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (401, "unauthenticated")
    );
    let http = reqwest::Client::new();
    let url = format!("{}/api/objects", app.url);
    let malformed = http
        .get(&url)
        .header("authorization", format!("Basic {}", share.secret.expose()))
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let doubled = http
        .get(&url)
        .header("authorization", format!("Bearer {}", share.secret.expose()))
        .header("authorization", "Bearer cdt_other")
        .send()
        .await
        .unwrap();
    assert_eq!(doubled.status(), 400);
    let long = http
        .get(&url)
        .header("authorization", format!("Bearer {}", "a".repeat(10_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(long.status(), 400);

    // Bad settings are refused; 60 concurrent creations stop at the cap.
    for (body, what) in [
        (json!({"name": "", "scopes": ["read"]}), "1 to 64"),
        (
            json!({"name": "x".repeat(65), "scopes": ["read"]}),
            "1 to 64",
        ),
        (
            json!({"name": "x", "scopes": ["admin"]}),
            "read, write and share",
        ),
        (json!({"name": "x", "scopes": []}), "read, write and share"),
        (
            json!({"name": "x", "scopes": ["read"], "expires_in_days": 366}),
            "1 to 365",
        ),
    ] {
        let e = bob
            .call(Method::POST, "/api/tokens", Some(&body))
            .await
            .unwrap_err();
        assert_eq!(status_of(&e), 400, "{body}");
        assert!(format!("{e:?}").contains(what), "{body}: {e:?}");
    }
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let bob = bob.clone();
            tokio::spawn(async move {
                bob.call(
                    Method::POST,
                    "/api/tokens",
                    Some(&json!({"name": format!("t{i}"), "scopes": ["read"]})),
                )
                .await
            })
        })
        .collect();
    let mut made = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => made += 1,
            Err(e) => assert_eq!(code_of(&e), "too_many_tokens"),
        }
    }
    assert_eq!(
        made + 1,
        TOKEN_MAX_PER_ACCOUNT as usize,
        "bob had one already"
    );

    // Uses are recorded: last-used time, audit rows naming the token; no secret stored or logged.
    let (_, list) = alice.call(Method::GET, "/api/tokens", None).await.unwrap();
    let listed = list["tokens"].as_array().unwrap();
    let mine = listed
        .iter()
        .find(|t| t["id"] == read.token.id.as_str())
        .unwrap();
    assert!(
        mine["last_used_at"].is_i64() && mine["revoked_at"].is_i64(),
        "{mine}"
    );
    assert!(listed.iter().all(|t| t.get("secret").is_none()));
    let used = app.audit_rows("token.used").await;
    assert!(
        used.iter().any(|r| r["object"] == read.token.id.as_str()),
        "{used:?}"
    );
    let released = app.audit_rows("key.released").await;
    assert!(
        released.iter().any(|r| r["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("[API token script read {}]", read.token.id))),
        "{released:?}"
    );
    let db = app.stored_text();
    let logs = app.logs();
    for t in [&read, &write, &share] {
        let secret = t.secret.expose();
        assert!(
            !db.contains(secret) && !logs.contains(secret),
            "a token's secret leaked"
        );
    }
    let (intact, report) = app.audit_verify().await;
    assert!(intact, "{report}");
}
