//! File requests, the owner's side and what a sender sees first: made with checked settings (the
//! token shown once, stored nowhere), listed only to their owner, closed, reopened, extended;
//! a sender with the token sees the title, message and room left, and a closed, expired or full
//! request says so; what a request holds counts its objects; the open-request cap holds under 30
//! concurrent creations.

use cipherdrop_api::{REQUEST_MAX_OPEN, RequestCreated, RequestInfo, SUITE_COMMIT_KEY};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{Client, code_of, status_of};
use reqwest::Method;
use serde_json::{Value, json};

use crate::util::TestApp;

async fn create(owner: &Client, body: Value) -> anyhow::Result<RequestCreated> {
    let (_, v) = owner
        .call(Method::POST, "/api/requests", Some(&body))
        .await?;
    Ok(serde_json::from_value(v)?)
}

async fn info(c: &Client, token: &str) -> anyhow::Result<RequestInfo> {
    let (_, v) = c
        .call(
            Method::POST,
            "/api/request",
            Some(&json!({ "token": token })),
        )
        .await?;
    Ok(serde_json::from_value(v)?)
}

fn plain(title: &str) -> Value {
    json!({"title": title, "max_files": 3, "max_bytes": 1_000_000})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_made_listed_closed_and_seen_by_senders_as_their_owner_set_them() {
    let app = TestApp::start().await;
    let (_admin, alice, bob) = app.accounts().await;
    let made = create(
        &alice,
        json!({"title": "  Tax documents 2026 ", "message": "Your W-2 and 1099s, please.",
               "max_files": 3, "max_bytes": 1_000_000, "passphrase": "tax season 2026",
               "ask_sender": true, "expires_in_secs": 7200}),
    )
    .await
    .unwrap();
    let r = &made.request;
    assert_eq!(made.token.len(), 43);
    assert_eq!(r.title, "Tax documents 2026");
    assert_eq!(
        (r.max_files, r.max_bytes, r.files, r.bytes, r.new_files),
        (3, 1_000_000, 0, 0, 0)
    );
    assert!(r.has_passphrase && r.ask_sender && r.closed_at.is_none());
    assert!(r.expires_at - r.created_at == 7200);

    // Bad settings are refused with a reason; nothing is made.
    for bad in [
        json!({"title": " ", "max_files": 1, "max_bytes": 1}),
        json!({"title": "x".repeat(201), "max_files": 1, "max_bytes": 1}),
        json!({"title": "t", "message": "m".repeat(2001), "max_files": 1, "max_bytes": 1}),
        json!({"title": "t", "max_files": 0, "max_bytes": 1}),
        json!({"title": "t", "max_files": 1001, "max_bytes": 1}),
        json!({"title": "t", "max_files": 1, "max_bytes": 0}),
        json!({"title": "t", "max_files": 1, "max_bytes": 1, "expires_in_secs": 10}),
        json!({"title": "t", "max_files": 1, "max_bytes": 1, "expires_in_secs": 91 * 86_400}),
        json!({"title": "t", "max_files": 1, "max_bytes": 1, "passphrase": "short"}),
        json!({"title": "t", "max_files": -1, "max_bytes": 1}),
    ] {
        let e = create(&alice, bad.clone()).await.unwrap_err();
        assert!([400, 422].contains(&status_of(&e)), "{bad}: {e:?}");
    }

    // A sender (no account) sees what the owner wrote and the room left; a wrong token is 404.
    let sender = app.client();
    let seen = info(&sender, &made.token).await.unwrap();
    assert_eq!(
        seen,
        RequestInfo {
            title: "Tax documents 2026".into(),
            message: Some("Your W-2 and 1099s, please.".into()),
            expires_at: r.expires_at,
            files_left: 3,
            bytes_left: 1_000_000,
            needs_passphrase: true,
            ask_sender: true,
        }
    );
    let e = info(&sender, "not-a-token").await.unwrap_err();
    assert_eq!(code_of(&e), "request_not_found");

    // Only the owner lists, changes and reads it.
    let (_, mine) = alice
        .call(Method::GET, "/api/requests", None)
        .await
        .unwrap();
    assert_eq!(mine["requests"].as_array().unwrap().len(), 1);
    let (_, theirs) = bob.call(Method::GET, "/api/requests", None).await.unwrap();
    assert!(theirs["requests"].as_array().unwrap().is_empty());
    for (m, path) in [
        (Method::PATCH, format!("/api/requests/{}", r.id)),
        (Method::GET, format!("/api/requests/{}/files", r.id)),
    ] {
        let body = (m == Method::PATCH).then(|| json!({"closed": true}));
        let e = bob.call(m, &path, body.as_ref()).await.unwrap_err();
        assert_eq!(status_of(&e), 404, "{path}");
    }
    assert!(
        info(&sender, &made.token).await.is_ok(),
        "bob changed nothing"
    );

    // What it holds counts its objects: an arrival (recorded here as a sender's upload would
    // be) takes a place and bytes, shows as new until the owner looks.
    let arrived = alice
        .upload(&data(20_000, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    app.sql(&format!(
        "UPDATE objects SET request_id = '{}' WHERE id = '{arrived}'",
        r.id
    ))
    .await;
    let seen = info(&sender, &made.token).await.unwrap();
    assert_eq!(seen.files_left, 2);
    assert!(seen.bytes_left < 1_000_000 - 20_000, "{}", seen.bytes_left);
    let (_, mine) = alice
        .call(Method::GET, "/api/requests", None)
        .await
        .unwrap();
    assert_eq!(
        (
            mine["requests"][0]["files"].as_u64(),
            mine["requests"][0]["new_files"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let (_, files) = alice
        .call(Method::GET, &format!("/api/requests/{}/files", r.id), None)
        .await
        .unwrap();
    assert_eq!(files["objects"][0]["id"], arrived.as_str());
    let (_, mine) = alice
        .call(Method::GET, "/api/requests", None)
        .await
        .unwrap();
    assert_eq!(mine["requests"][0]["new_files"], 0, "seen");

    // Closed, it refuses at once; reopened and extended, it takes files again; expired or full,
    // it says so.
    let patch = |body: Value| {
        let (alice, id) = (&alice, r.id.clone());
        async move {
            alice
                .call(Method::PATCH, &format!("/api/requests/{id}"), Some(&body))
                .await
        }
    };
    patch(json!({"closed": true})).await.unwrap();
    assert_eq!(
        code_of(&info(&sender, &made.token).await.unwrap_err()),
        "request_closed"
    );
    let (_, reopened) = patch(json!({"closed": false, "expires_in_secs": 86_400}))
        .await
        .unwrap();
    assert!(reopened["closed_at"].is_null());
    assert!(info(&sender, &made.token).await.is_ok());
    assert_eq!(
        status_of(&patch(json!({"expires_in_secs": 5})).await.unwrap_err()),
        400
    );
    app.sql(&format!(
        "UPDATE requests SET expires_at = 1 WHERE id = '{}'",
        r.id
    ))
    .await;
    assert_eq!(
        code_of(&info(&sender, &made.token).await.unwrap_err()),
        "request_expired"
    );
    patch(json!({"expires_in_secs": 3600})).await.unwrap();
    app.sql(&format!(
        "UPDATE requests SET max_files = 1 WHERE id = '{}'",
        r.id
    ))
    .await;
    assert_eq!(
        code_of(&info(&sender, &made.token).await.unwrap_err()),
        "request_full"
    );

    // The token is in no table and no log; the changes are audited.
    assert!(!app.stored_text().contains(&made.token));
    assert!(!app.logs().contains(&made.token));
    assert_eq!(app.audit_rows("request.created").await.len(), 1);
    assert_eq!(app.audit_rows("request.updated").await.len(), 3);

    // At most REQUEST_MAX_OPEN open at once, counted in the same step as each insert: with 90
    // open, 30 concurrent creations make exactly 10 more (alice's first one is open again).
    for i in 0..89 {
        create(&alice, plain(&format!("r{i}"))).await.unwrap();
    }
    let results = futures_util::future::join_all(
        (0..30).map(|i| create(&alice, plain(&format!("burst {i}")))),
    )
    .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, REQUEST_MAX_OPEN - 90);
    for e in results.into_iter().filter_map(Result::err) {
        assert_eq!(status_of(&e), 409, "{e:?}");
    }
    // Closing one makes room; reopening it when full is refused.
    patch(json!({"closed": true})).await.unwrap();
    create(&alice, plain("one more")).await.unwrap();
    assert_eq!(
        status_of(&patch(json!({"closed": false})).await.unwrap_err()),
        409
    );
    // Bob's own cap is his.
    create(&bob, plain("bob's")).await.unwrap();
    let (ok, problems) = app.audit_verify().await;
    assert!(ok, "{problems}");
}

async fn send(
    sender: &Client,
    token: &str,
    passphrase: Option<&str>,
    plaintext: &[u8],
) -> anyhow::Result<(cipherdrop_api::SenderReceipt, String, String)> {
    sender.send_to_request(token, passphrase, plaintext).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senders_without_accounts_upload_into_a_request_within_its_limits_and_read_nothing() {
    let app = TestApp::start().await;
    let (_admin, alice, bob) = app.accounts().await;
    let made = create(
        &alice,
        json!({"title": "Scans", "max_files": 3, "max_bytes": 12_000_000,
               "passphrase": "clinic intake 7"}),
    )
    .await
    .unwrap();
    let sender = app.client();
    let big = data(6 * 1024 * 1024 + 11, 1);

    // The passphrase gates every upload, within the shared guess limits.
    let e = send(&sender, &made.token, None, b"x").await.unwrap_err();
    assert_eq!(code_of(&e), "wrong_passphrase");
    let e = send(&sender, &made.token, Some("guess guess"), b"x")
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "wrong_passphrase");
    let pass = Some("clinic intake 7");

    // Three files (an empty one, a multi-part one) become Alice's, under her context plus the
    // request's id; the sender gets receipts.
    let mut references = Vec::new();
    for content in [Vec::new(), big.clone(), b"consent form".to_vec()] {
        let (receipt, _, _) = send(&sender, &made.token, pass, &content).await.unwrap();
        assert_eq!(receipt.plaintext_size, content.len() as u64);
        assert!(alice.download(&receipt.reference).await.unwrap() == content);
        let details = alice.details(&receipt.reference).await.unwrap();
        assert_eq!(
            details.encryption_context["cipherdrop:request"],
            made.request.id
        );
        assert_eq!(details.object.request_id.as_ref(), Some(&made.request.id));
        assert_eq!(
            details.encryption_context["cipherdrop:owner"],
            alice.call(Method::GET, "/api/me", None).await.unwrap().1["id"]
        );
        references.push(receipt.reference);
    }
    let (_, arrived) = alice
        .call(
            Method::GET,
            &format!("/api/requests/{}/files", made.request.id),
            None,
        )
        .await
        .unwrap();
    assert_eq!(arrived["objects"].as_array().unwrap().len(), 3);

    // Full: the fourth file is refused at once.
    let e = send(&sender, &made.token, pass, b"one too many")
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "request_full");

    // The sender reads, lists and deletes nothing: no session, and its secret opens only its
    // own pending upload.
    for (m, path) in [
        (Method::GET, "/api/objects".to_owned()),
        (Method::GET, format!("/api/objects/{}", references[0])),
        (Method::POST, format!("/api/objects/{}/key", references[0])),
        (Method::DELETE, format!("/api/objects/{}", references[0])),
        (Method::GET, "/api/requests".to_owned()),
    ] {
        let e = sender.call(m, &path, None).await.unwrap_err();
        assert_eq!(status_of(&e), 401, "{path}");
    }
    let e = bob
        .call(
            Method::GET,
            &format!("/api/objects/{}", references[0]),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 404);

    // Bytes: a request with room for 1 MB refuses a 2 MB file; 20 concurrent senders of
    // 300 KB each on a 3-file request: exactly 3 get in (fewer than the uploads one address may
    // have under way at once, so the file limit is what holds them).
    let small = create(
        &alice,
        json!({"title": "Small", "max_files": 5, "max_bytes": 1_000_000}),
    )
    .await
    .unwrap();
    let e = send(&sender, &small.token, None, &data(2_000_000, 2))
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 413, "{e:?}");
    let wide = create(
        &alice,
        json!({"title": "Burst", "max_files": 3, "max_bytes": 100_000_000}),
    )
    .await
    .unwrap();
    let content = data(300_000, 3);
    let results = futures_util::future::join_all((0..20).map(|_| {
        let (c, token, content) = (app.client(), wide.token.clone(), content.clone());
        async move { send(&c, &token, None, &content).await }
    }))
    .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 3, "the file limit holds under concurrency");
    for e in results.into_iter().filter_map(Result::err) {
        assert!([409, 410, 429].contains(&status_of(&e)), "{e:?}");
    }

    // A sender's secret works only for its own upload, and an abort gives the place back.
    let room = create(
        &alice,
        json!({"title": "Room", "max_files": 1, "max_bytes": 1_000_000}),
    )
    .await
    .unwrap();
    let body = json!({"token": room.token, "upload": {
        "plaintext_size": 10, "suite": SUITE_COMMIT_KEY, "frame_length": 4096}});
    let (_, v) = sender
        .call(Method::POST, "/api/request/uploads", Some(&body))
        .await
        .unwrap();
    let pending = v["upload"]["upload_id"].as_str().unwrap().to_owned();
    let secret = v["sender_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        code_of(&info(&sender, &room.token).await.unwrap_err()),
        "request_full",
        "a pending upload holds its place"
    );
    for (id, s) in [(&references[1], &secret), (&pending, &"wrong".to_owned())] {
        let e = sender
            .call(
                Method::POST,
                &format!("/api/request/uploads/{id}/abort"),
                Some(&json!({"sender_secret": s})),
            )
            .await
            .unwrap_err();
        assert_eq!(code_of(&e), "upload_not_found");
    }
    sender
        .call(
            Method::POST,
            &format!("/api/request/uploads/{pending}/abort"),
            Some(&json!({"sender_secret": secret})),
        )
        .await
        .unwrap();
    assert_eq!(info(&sender, &room.token).await.unwrap().files_left, 1);

    // Closed: refused at once. Every arrival is audited as the sender's, with the request.
    alice
        .call(
            Method::PATCH,
            &format!("/api/requests/{}", room.request.id),
            Some(&json!({"closed": true})),
        )
        .await
        .unwrap();
    let e = send(&sender, &room.token, None, b"late").await.unwrap_err();
    assert_eq!(code_of(&e), "request_closed");
    let completed: Vec<_> = app
        .audit_rows("upload.completed")
        .await
        .into_iter()
        .filter(|r| r["actor"] == "sender")
        .collect();
    assert_eq!(completed.len(), 3 + 3);
    assert!(
        completed
            .iter()
            .all(|r| r["detail"].as_str().unwrap().contains("[request "))
    );
    assert!(
        !app.stored_text().contains(&secret),
        "sender secrets are stored hashed"
    );
    let (ok, problems) = app.audit_verify().await;
    assert!(ok, "{problems}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_starts_only_so_many_uploads_through_requests() {
    let app = TestApp::start_with(|c| c.sender_uploads_per_ip = 3).await;
    let (_admin, alice, _bob) = app.accounts().await;
    let made = create(&alice, plain("Forms")).await.unwrap();
    let sender = app.client();
    for _ in 0..3 {
        // Each start counts, even one that is then given up.
        let body = json!({"token": made.token, "upload": {
            "plaintext_size": 10, "suite": SUITE_COMMIT_KEY, "frame_length": 4096}});
        let (_, v) = sender
            .call(Method::POST, "/api/request/uploads", Some(&body))
            .await
            .unwrap();
        let id = v["upload"]["upload_id"].as_str().unwrap();
        sender
            .call(
                Method::POST,
                &format!("/api/request/uploads/{id}/abort"),
                Some(&json!({"sender_secret": v["sender_secret"]})),
            )
            .await
            .unwrap();
    }
    let e = send(&sender, &made.token, None, b"fourth")
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 429, "{e:?}");
    // The owner's own uploads are not the sender's limit.
    alice
        .upload(&data(10, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_takes_exactly_its_bytes_and_an_abandoned_sender_upload_is_swept() {
    // Every pending upload is abandoned at once; the background sweeper waits an hour.
    let app = TestApp::start_with(|c| {
        c.abandon_after = std::time::Duration::ZERO;
        c.sweep_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    let alice = app.user("alice").await;
    let sender = app.client();
    let file = data(5000, 3);

    // What this file takes, stored.
    let wide = create(&alice, plain("Wide")).await.unwrap();
    let (receipt, _, _) = send(&sender, &wide.token, None, &file).await.unwrap();
    let stored = receipt.size;

    // A request of exactly that many bytes takes it, and then nothing more; one byte less takes
    // nothing.
    let exact = create(
        &alice,
        json!({"title": "Exact", "max_files": 5, "max_bytes": stored}),
    )
    .await
    .unwrap();
    send(&sender, &exact.token, None, &file).await.unwrap();
    let e = send(&sender, &exact.token, None, b"x").await.unwrap_err();
    assert_eq!(code_of(&e), "request_full");
    let short = create(
        &alice,
        json!({"title": "Short", "max_files": 5, "max_bytes": stored - 1}),
    )
    .await
    .unwrap();
    let e = send(&sender, &short.token, None, &file).await.unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e)),
        (413, "request_too_small".into())
    );
    assert_eq!(
        info(&sender, &short.token).await.unwrap().bytes_left,
        stored - 1,
        "a refused file holds nothing"
    );

    // A sender who starts an upload and walks away: it holds the request's place until the
    // sweeper aborts it, like any abandoned upload; then its secret completes nothing.
    let once = create(
        &alice,
        json!({"title": "Once", "max_files": 1, "max_bytes": 1_000_000}),
    )
    .await
    .unwrap();
    let body = json!({"token": once.token, "upload": {
        "plaintext_size": 10, "suite": SUITE_COMMIT_KEY, "frame_length": 4096}});
    let (_, v) = sender
        .call(Method::POST, "/api/request/uploads", Some(&body))
        .await
        .unwrap();
    let id = v["upload"]["upload_id"].as_str().unwrap().to_owned();
    let secret = v["sender_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        code_of(&info(&sender, &once.token).await.unwrap_err()),
        "request_full"
    );
    assert_eq!(app.sweep().await, 1);
    assert_eq!(info(&sender, &once.token).await.unwrap().files_left, 1);
    let e = sender
        .call(
            Method::POST,
            &format!("/api/request/uploads/{id}/complete"),
            Some(&json!({"sender_secret": secret, "parts": [], "metadata": "AQID"})),
        )
        .await
        .unwrap_err();
    assert!([404, 409].contains(&status_of(&e)), "{e:?}");
    let (_, st) = alice
        .call(Method::GET, &format!("/api/uploads/{id}"), None)
        .await
        .unwrap();
    assert_eq!(st["state"], "aborted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_learns_nothing_of_the_owner_s_storage_from_a_refusal() {
    let app = TestApp::start_with(|c| {
        c.quota = cipherdrop_server::Quota {
            pending_uploads: 5,
            pending_bytes: 1_000_000,
            stored_bytes: 20_000,
        };
    })
    .await;
    let alice = app.user("alice").await;
    let sender = app.client();
    let room = create(&alice, plain("Roomy request")).await.unwrap();
    // The request has room; the owner's account has not.
    let e = send(&sender, &room.token, None, &data(50_000, 9))
        .await
        .unwrap_err();
    assert_eq!((status_of(&e), code_of(&e)), (413, "owner_full".into()));
    let text = format!("{e:?}");
    assert!(
        !text.contains("20.0 kB") && !text.contains("your account"),
        "{text}"
    );
    // The owner still reads their own usage in the refusal.
    let own = alice
        .call(
            Method::POST,
            "/api/uploads",
            Some(
                &json!({"plaintext_size": 50_000, "suite": SUITE_COMMIT_KEY, "frame_length": 4096}),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(&own), "quota_exceeded");
    assert!(format!("{own:?}").contains("your account"), "{own:?}");
}
