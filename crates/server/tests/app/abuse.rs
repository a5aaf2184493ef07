//! Attacks of the second reliability round, each performed: a file request's sender trying to
//! lock its owner out with uploads left pending, a burst of made-up login links, a link released
//! without end (and what each release costs KMS), a database writer swapping a set's items, and
//! clients that hang up part-way through every state-changing request.

use std::time::Duration;

use cipherdrop_api::{REQUEST_MAX_PENDING, REQUEST_MAX_PENDING_PER_SENDER, SUITE_COMMIT_KEY};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{Client, code_of, status_of};
use reqwest::Method;
use serde_json::{Value, json};

use crate::util::TestApp;

/// Starts a sender's upload through request `token` from client address `from` (the app trusts
/// the loopback proxy); the answer's JSON, or the refusal's status and code.
async fn start_from(app: &TestApp, token: &str, from: &str) -> Result<Value, (u16, String)> {
    let r = reqwest::Client::new()
        .post(format!("{}/api/request/uploads", app.url))
        .header("x-forwarded-for", from)
        .json(&json!({"token": token, "upload": {
            "plaintext_size": 10, "suite": SUITE_COMMIT_KEY, "frame_length": 4096}}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or_default();
    if status == 200 {
        Ok(v)
    } else {
        Err((status, v["error"].as_str().unwrap_or_default().to_owned()))
    }
}

/// Makes a file request; its token and id.
async fn make_request(owner: &Client, body: Value) -> (String, String) {
    let (_, made) = owner
        .call(Method::POST, "/api/requests", Some(&body))
        .await
        .unwrap();
    (
        made["token"].as_str().unwrap().to_owned(),
        made["request"]["id"].as_str().unwrap().to_owned(),
    )
}

async fn request_summary(owner: &Client, id: &str) -> Value {
    let (_, list) = owner
        .call(Method::GET, "/api/requests", None)
        .await
        .unwrap();
    list["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_cannot_lock_the_owner_out_and_the_owner_stops_what_is_arriving() {
    let app = TestApp::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.quota.pending_uploads = 3;
    })
    .await;
    let (_admin, alice, _bob) = app.accounts().await;
    let (token, id) = make_request(
        &alice,
        json!({"title": "Everything", "max_files": 100, "max_bytes": 1_000_000_000u64}),
    )
    .await;

    // One address starts uploads and leaves them pending: it gets its share, then a refusal.
    let per_sender = REQUEST_MAX_PENDING_PER_SENDER as usize;
    let mut started = Vec::new();
    for _ in 0..per_sender {
        started.push(start_from(&app, &token, "203.0.113.1").await.unwrap());
    }
    assert_eq!(
        start_from(&app, &token, "203.0.113.1").await.unwrap_err(),
        (429, "request_busy".to_owned())
    );
    // More addresses, all at once: the request as a whole holds exactly its cap.
    let tries = (0..30).map(|i| {
        let (app, token) = (&app, &token);
        async move { start_from(app, token, &format!("198.51.100.{i}")).await }
    });
    let results = futures_util::future::join_all(tries).await;
    let more = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(per_sender + more, REQUEST_MAX_PENDING as usize);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e == &(429, "request_busy".to_owned())),
        "{results:?}"
    );

    // The owner's own uploads are not theirs to take: all three of the owner's places are free.
    let mut own = Vec::new();
    for _ in 0..3 {
        own.push(alice.open_upload(10).await.unwrap());
    }
    let e = alice.open_upload(10).await.unwrap_err();
    assert_eq!(
        code_of(&e),
        "too_many_pending",
        "the owner's own limit still holds"
    );

    // The owner sees what is arriving and stops it; the places go back to the request.
    let summary = request_summary(&alice, &id).await;
    assert_eq!(summary["pending"], REQUEST_MAX_PENDING);
    let (_, arriving) = alice
        .call(Method::GET, &format!("/api/requests/{id}/arriving"), None)
        .await
        .unwrap();
    assert_eq!(
        arriving["objects"].as_array().unwrap().len(),
        REQUEST_MAX_PENDING as usize
    );
    let (_, after) = alice
        .call(
            Method::POST,
            &format!("/api/requests/{id}/arriving/abort"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (after["pending"].as_u64(), after["files"].as_u64()),
        (Some(0), Some(0))
    );
    // A sender whose upload was stopped gets no more part URLs for it.
    let first = &started[0];
    let e = app
        .client()
        .call(
            Method::POST,
            &format!(
                "/api/request/uploads/{}/parts",
                first["upload"]["upload_id"].as_str().unwrap()
            ),
            Some(&json!({"sender_secret": first["sender_secret"]})),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 409, "{e:?}");

    // Closing a request ends what is on its way too, and a completion after the close is refused.
    let sender = app.client();
    let answer = start_from(&app, &token, "203.0.113.9").await.unwrap();
    let up: cipherdrop_api::CreateUploadResponse =
        serde_json::from_value(answer["upload"].clone()).unwrap();
    let ciphertext =
        cipherdrop_testkit::server::encrypt_for(&up, None, 4096, &data(10, 7)).unwrap();
    let etag = sender
        .put_part(&up.parts[0].url, ciphertext.clone())
        .await
        .unwrap();
    alice
        .call(
            Method::PATCH,
            &format!("/api/requests/{id}"),
            Some(&json!({"closed": true})),
        )
        .await
        .unwrap();
    assert_eq!(request_summary(&alice, &id).await["pending"], 0);
    let e = sender
        .call(
            Method::POST,
            &format!("/api/request/uploads/{}/complete", up.upload_id),
            Some(&json!({"sender_secret": answer["sender_secret"],
                         "parts": [{"part_number": 1, "etag": etag}], "metadata": "AQID"})),
        )
        .await
        .unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (409, "conflict"));
    // Nothing arrived, nothing is stored for it.
    let (_, files) = alice
        .call(Method::GET, &format!("/api/requests/{id}/files"), None)
        .await
        .unwrap();
    assert!(files["objects"].as_array().unwrap().is_empty());
    assert!(
        app.stored_keys()
            .await
            .iter()
            .all(|k| !k.contains(&up.object_id))
    );
    let (ok, problems) = app.audit_verify().await;
    assert!(ok, "{problems}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_re_checks_that_the_request_is_still_open() {
    let app = TestApp::start().await;
    let (_admin, alice, _bob) = app.accounts().await;
    let (token, id) = make_request(
        &alice,
        json!({"title": "Forms", "max_files": 5, "max_bytes": 1_000_000}),
    )
    .await;
    let sender = app.client();
    let (_, answer) = sender
        .call(
            Method::POST,
            "/api/request/uploads",
            Some(&json!({"token": token, "upload": {
                "plaintext_size": 10, "suite": SUITE_COMMIT_KEY, "frame_length": 4096}})),
        )
        .await
        .unwrap();
    let up: cipherdrop_api::CreateUploadResponse =
        serde_json::from_value(answer["upload"].clone()).unwrap();
    let ciphertext =
        cipherdrop_testkit::server::encrypt_for(&up, None, 4096, &data(10, 7)).unwrap();
    let etag = sender.put_part(&up.parts[0].url, ciphertext).await.unwrap();
    // The request expires while the file is on its way (as a database clock would see it).
    app.sql(&format!(
        "UPDATE requests SET expires_at = 1 WHERE id = '{id}'"
    ))
    .await;
    let e = sender
        .call(
            Method::POST,
            &format!("/api/request/uploads/{}/complete", up.upload_id),
            Some(&json!({"sender_secret": answer["sender_secret"],
                         "parts": [{"part_number": 1, "etag": etag}], "metadata": "AQID"})),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (410, "request_expired")
    );
    let rows = app.audit_rows("upload.completed").await;
    assert!(
        rows.iter()
            .any(|r| r["object"] == up.object_id.as_str() && r["outcome"] == "denied")
    );
    let (_, files) = alice
        .call(Method::GET, &format!("/api/requests/{id}/files"), None)
        .await
        .unwrap();
    assert!(files["objects"].as_array().unwrap().is_empty());
    assert!(
        app.stored_keys()
            .await
            .iter()
            .all(|k| !k.contains(&up.object_id))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_login_links_are_guesses_within_the_limits_and_summarised() {
    // Behind a trusted proxy (the test's loopback peer), so that clients have addresses of
    // their own.
    let app =
        TestApp::start_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let _admin = app.admin().await;
    let before = app.audit_rows("login").await.len();
    let redeem = |token: String, from: &'static str| {
        reqwest::Client::new()
            .post(format!("{}/api/login/link", app.url))
            .header("x-forwarded-for", from)
            .json(&json!({ "token": token }))
            .send()
    };
    let tries = (0..200).map(|i| {
        let url = format!("{}/api/login/link", app.url);
        async move {
            reqwest::Client::new()
                .post(url)
                .header("x-forwarded-for", "203.0.113.5")
                .json(&json!({"token": format!("made-up-link-{i:04}")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(tries).await;
    let refused = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(refused + limited, 200, "{statuses:?}");
    assert_eq!(refused, 20, "the per-address limit of failed logins");
    let rows = app.audit_rows("login").await;
    assert_eq!(
        rows.len() - before,
        20,
        "one row per checked guess, none per refusal"
    );
    app.sweep().await;
    let rows = app.audit_rows("login").await;
    let summaries: Vec<&Value> = rows
        .iter()
        .filter(|r| r["detail"].as_str().unwrap().contains("refused unchecked"))
        .collect();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    assert!(
        summaries[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("180 attempts")
    );
    // A real link from another network still logs in (the limit is the address's); from the
    // guessing address even a real one waits out the lock.
    for token in ["real-link-one", "real-link-two"] {
        sqlx::query(
            "INSERT INTO login_links (token_hash, user_id, expires_at)
             VALUES ($1, (SELECT id FROM users LIMIT 1), strftime('%s','now') + 3600)",
        )
        .bind(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()).to_vec())
        .execute(&app.db)
        .await
        .unwrap();
    }
    let r = redeem("real-link-one".into(), "198.51.100.7")
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "another network's real link");
    let r = redeem("real-link-two".into(), "203.0.113.5").await.unwrap();
    assert_eq!(r.status(), 429, "the guessing address is locked out");
    let (ok, problems) = app.audit_verify().await;
    assert!(ok, "{problems}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_are_rate_limited_and_a_set_costs_one_kms_call_whatever_its_size() {
    let app = TestApp::start_with(|c| {
        c.share_releases_per_link = 5;
        c.share_releases_per_ip = 8;
    })
    .await;
    let (_admin, alice, _bob) = app.accounts().await;
    let mut files = Vec::new();
    for i in 0..12 {
        let plain = data(3000 + i * 100, i as u64);
        files.push((
            alice.upload(&plain, SUITE_COMMIT_KEY, 4096).await.unwrap(),
            plain,
        ));
    }
    let named: Vec<(&str, &str)> = files.iter().map(|(id, _)| (id.as_str(), "f")).collect();
    let set = alice.share_set(&named, json!({})).await.unwrap();
    let recipient = app.client();

    // One release of a twelve-file link: one KMS Decrypt, every file opens with the link key.
    let decrypts = app.kms_calls("Decrypt");
    let release = recipient.share_key(set.token(), None).await.unwrap();
    assert_eq!(app.kms_calls("Decrypt") - decrypts, 1);
    assert_eq!(release.items.len(), 12);
    for ((id, plain), item) in files.iter().zip(&release.items) {
        assert_eq!(&item.object_id, id);
        assert_eq!(&set.fetch_item(&release, item).await.unwrap(), plain);
    }

    // A link with no download limit gives five releases per window, then refuses.
    for _ in 0..4 {
        recipient.share_key(set.token(), None).await.unwrap();
    }
    let e = recipient.share_key(set.token(), None).await.unwrap_err();
    assert_eq!(status_of(&e), 429);
    // The address has three more releases, of any link.
    let single = alice.share(&files[0].0, json!({})).await.unwrap();
    let decrypts = app.kms_calls("Decrypt");
    for _ in 0..3 {
        recipient.share_key(single.token(), None).await.unwrap();
    }
    let e = recipient.share_key(single.token(), None).await.unwrap_err();
    assert_eq!(status_of(&e), 429);
    assert_eq!(
        app.kms_calls("Decrypt") - decrypts,
        3,
        "a refusal costs no KMS call"
    );
    app.sweep().await;
    let summaries: Vec<Value> = app
        .audit_rows("share.key")
        .await
        .into_iter()
        .filter(|r| r["detail"].as_str().unwrap().contains("refused unchecked"))
        .collect();
    assert_eq!(
        summaries.len(),
        2,
        "one for the link, one for the address: {summaries:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_s_items_stay_bound_to_their_link_and_files() {
    let app = TestApp::start().await;
    let (_admin, alice, _bob) = app.accounts().await;
    let a = alice
        .upload(&data(5000, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let b = alice
        .upload(&data(6000, 2), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let one = alice
        .share_set(&[(&a, "a"), (&b, "b")], json!({}))
        .await
        .unwrap();
    let two = alice
        .share_set(&[(&a, "a"), (&b, "b")], json!({}))
        .await
        .unwrap();
    let recipient = app.client();
    // A database writer puts the second file's item in the first file's place: it opens for no
    // other file than its own.
    app.sql(&format!(
        "UPDATE share_items SET sealed_key = (SELECT sealed_key FROM share_items
             WHERE share_id = '{0}' AND position = 1)
         WHERE share_id = '{0}' AND position = 0",
        one.id()
    ))
    .await;
    let e = recipient.share_key(one.token(), None).await.unwrap_err();
    assert_eq!(code_of(&e), "share_damaged", "{e:?}");
    // Another link's set key moved under this one: KMS refuses it (the context names the link).
    app.sql(&format!(
        "UPDATE shares SET set_key = (SELECT set_key FROM shares WHERE id = '{}') WHERE id = '{}'",
        one.id(),
        two.id()
    ))
    .await;
    let e = recipient.share_key(two.token(), None).await.unwrap_err();
    assert!([502, 503].contains(&status_of(&e)), "{e:?}");
    // Each refused release gave its download back.
    let (_, links) = alice
        .call(Method::GET, &format!("/api/objects/{a}/shares"), None)
        .await
        .unwrap();
    assert!(
        links["shares"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["downloads"] == 0),
        "{links}"
    );
}

/// Runs `call` and hangs up after `after` (the server sees the connection close).
async fn hang_up<F: std::future::Future>(after: Duration, call: F) {
    let _ = tokio::time::timeout(after, call).await;
}

/// Checks that what the database says is what S3 holds: every complete row has its object, every
/// object has a complete row, every pending row its multipart upload, and the account's usage
/// is the sum of its rows.
async fn consistent(app: &TestApp, owner: &Client) {
    // Handlers cut off by a hang-up finish on their own; wait until nothing is moving.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stored: std::collections::HashSet<String> = app
        .stored_keys()
        .await
        .into_iter()
        .filter_map(|k| k.strip_prefix("objects/").map(str::to_owned))
        .collect();
    let rows: Vec<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT id, state, stored_size FROM objects")
            .fetch_all(&app.db)
            .await
            .unwrap();
    for (id, state, _) in &rows {
        match state.as_str() {
            "complete" => assert!(stored.contains(id), "complete row {id} without its object"),
            _ => assert!(!stored.contains(id), "{state} row {id} with an object"),
        }
    }
    for id in &stored {
        assert!(
            rows.iter().any(|(r, s, _)| r == id && s == "complete"),
            "object {id} without a complete row"
        );
    }
    // Every pending row's multipart upload is open in S3 (its parts can be listed), and S3
    // holds no other: the embedded store keeps one `.upload-{id}.json` per open upload.
    let pending: Vec<(String, String)> =
        sqlx::query_as("SELECT s3_key, s3_upload_id FROM objects WHERE state = 'pending'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    for (key, upload) in &pending {
        let listed = app
            .s3()
            .list_parts()
            .bucket("cipherdrop")
            .key(key)
            .upload_id(upload)
            .send()
            .await;
        assert!(
            listed.is_ok(),
            "pending row {key} without its upload: {listed:?}"
        );
    }
    let open: Vec<String> = std::fs::read_dir(app.dir().join("s3"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".upload-") && n.ends_with(".json"))
        .collect();
    assert_eq!(
        open.len(),
        pending.len(),
        "open uploads in S3 {open:?}, pending rows {pending:?}"
    );
    let (_, usage) = owner.call(Method::GET, "/api/usage", None).await.unwrap();
    let complete: i64 = rows
        .iter()
        .filter(|(_, s, _)| s == "complete")
        .filter_map(|(_, _, size)| *size)
        .sum();
    // The owner's own pending places; every pending upload's bytes (a sender's too) in storage.
    let (pending, pending_bytes): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(CASE WHEN request_id IS NULL THEN 1 ELSE 0 END), 0),
                CAST(COALESCE(SUM(ciphertext_size), 0) AS BIGINT)
         FROM objects WHERE state = 'pending'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(usage["pending_uploads"].as_i64(), Some(pending), "{usage}");
    assert_eq!(
        usage["stored_bytes"].as_i64(),
        Some(complete + pending_bytes),
        "{usage}"
    );
    let (ok, problems) = app.audit_verify().await;
    assert!(ok, "{problems}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_up_part_way_through_any_change_leaves_every_record_whole() {
    let app = TestApp::start().await;
    let (_admin, alice, _bob) = app.accounts().await;
    let delays = [0u64, 1, 2, 4, 8, 16, 32, 64];

    // Create: KMS, S3, the row, the audit.
    for ms in delays {
        let req = cipherdrop_api::CreateUploadRequest {
            plaintext_size: 10,
            suite: SUITE_COMMIT_KEY,
            frame_length: 4096,
            public_key: None,
        };
        hang_up(Duration::from_millis(ms), alice.create_upload(&req)).await;
    }
    consistent(&app, &alice).await;

    // Completions of one upload at once (a retry racing the original): all agree, none deletes
    // what another recorded.
    for round in 0..3u64 {
        let plain = data(6 * 1024 * 1024, 100 + round);
        let (up, parts) = alice
            .upload_parts(&plain, SUITE_COMMIT_KEY, 65536)
            .await
            .unwrap();
        let all = (0..4).map(|_| alice.complete(&up.upload_id, &parts, b"meta"));
        for done in futures_util::future::join_all(all).await {
            done.unwrap();
        }
        assert_eq!(alice.download(&up.object_id).await.unwrap(), plain);
    }
    consistent(&app, &alice).await;

    // Complete: S3 assembles, the header is read back, the row is marked; a retry after the
    // hang-up finds it done (or finishes it).
    for ms in delays {
        let plain = data(6 * 1024 * 1024, ms);
        let (up, parts) = alice
            .upload_parts(&plain, SUITE_COMMIT_KEY, 65536)
            .await
            .unwrap();
        hang_up(
            Duration::from_millis(ms),
            alice.complete(&up.upload_id, &parts, b"meta"),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        match alice.complete(&up.upload_id, &parts, b"meta").await {
            Ok(_) => {}
            Err(e) => assert_eq!(code_of(&e), "conflict", "{e:?}"),
        }
        assert_eq!(
            alice.download(&up.object_id).await.unwrap(),
            plain,
            "{ms} ms"
        );
    }
    consistent(&app, &alice).await;

    // Abort and delete.
    for ms in delays {
        let up = alice.open_upload(10).await.unwrap();
        hang_up(
            Duration::from_millis(ms),
            alice.call(
                Method::POST,
                &format!("/api/uploads/{}/abort", up.upload_id),
                None,
            ),
        )
        .await;
        let id = alice
            .upload(&data(100, 3), SUITE_COMMIT_KEY, 4096)
            .await
            .unwrap();
        hang_up(
            Duration::from_millis(ms),
            alice.call(Method::DELETE, &format!("/api/objects/{id}"), None),
        )
        .await;
    }
    consistent(&app, &alice).await;

    // Links (one file and several) and requests: each is there whole or not at all.
    let a = alice
        .upload(&data(100, 4), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let b = alice
        .upload(&data(200, 5), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    for ms in delays {
        hang_up(
            Duration::from_millis(ms),
            alice.share_set(&[(&a, "a"), (&b, "b")], json!({})),
        )
        .await;
        hang_up(Duration::from_millis(ms), alice.share(&a, json!({}))).await;
        hang_up(
            Duration::from_millis(ms),
            alice.call(
                Method::POST,
                "/api/requests",
                Some(&json!({"title": "t", "max_files": 1, "max_bytes": 1000})),
            ),
        )
        .await;
    }
    // A sender's start, parts and completion, then the owner closing the request.
    let (token, request) = make_request(
        &alice,
        json!({"title": "In", "max_files": 100, "max_bytes": 1_000_000_000u64}),
    )
    .await;
    for ms in delays {
        let sender = app.client();
        hang_up(
            Duration::from_millis(ms),
            sender.send_to_request(&token, None, &data(6 * 1024 * 1024, 200 + ms)),
        )
        .await;
    }
    consistent(&app, &alice).await;
    hang_up(
        Duration::from_millis(2),
        alice.call(
            Method::PATCH,
            &format!("/api/requests/{request}"),
            Some(&json!({"closed": true})),
        ),
    )
    .await;
    consistent(&app, &alice).await;
    // A hang-up 2 ms in can come before the request left this process (the machine busy): then
    // the request is still open, and it is closed again, whole.
    let (closed_at,): (Option<i64>,) =
        sqlx::query_as("SELECT closed_at FROM requests WHERE id = $1")
            .bind(&request)
            .fetch_one(&app.db)
            .await
            .unwrap();
    if closed_at.is_none() {
        eprintln!("the hung-up close never reached the server; closing again");
        alice
            .call(
                Method::PATCH,
                &format!("/api/requests/{request}"),
                Some(&json!({"closed": true})),
            )
            .await
            .unwrap();
        consistent(&app, &alice).await;
    }
    let (open,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM objects WHERE request_id = $1 AND state = 'pending'")
            .bind(&request)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        open, 0,
        "closing stopped every upload on its way, hang-up or not"
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let half: Vec<(String,)> = sqlx::query_as(
        "SELECT s.id FROM shares s WHERE s.set_key IS NOT NULL
         AND (SELECT COUNT(*) FROM share_items i WHERE i.share_id = s.id) <> 2",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(half.is_empty(), "links without all their files: {half:?}");
    consistent(&app, &alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_s3_no_longer_has_says_start_again_and_gives_its_place_back() {
    let app = TestApp::start_with(|c| c.quota.pending_uploads = 1).await;
    let (_admin, alice, _bob) = app.accounts().await;
    let (up, parts) = alice
        .upload_parts(&data(10, 9), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    // S3 loses the upload behind the server's back (a lifecycle rule, an operator, a lost disk).
    let (key, upload_id): (String, String) =
        sqlx::query_as("SELECT s3_key, s3_upload_id FROM objects WHERE id = $1")
            .bind(&up.object_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    app.s3()
        .abort_multipart_upload()
        .bucket("cipherdrop")
        .key(&key)
        .upload_id(&upload_id)
        .send()
        .await
        .unwrap();
    // A resume asks what S3 holds first: it is told the same.
    let e = alice
        .call(Method::GET, &format!("/api/uploads/{}", up.upload_id), None)
        .await
        .unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (409, "upload_gone"));
    let e = alice
        .complete(&up.upload_id, &parts, b"meta")
        .await
        .unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (409, "upload_gone"));
    let message = cipherdrop_testkit::server::message_of(&e);
    assert!(message.contains("start the upload again"), "{message}");
    // The row ended with it: the account's one pending place is free again at once.
    alice.open_upload(10).await.unwrap();
    let (_, status) = alice
        .call(Method::GET, &format!("/api/uploads/{}", up.upload_id), None)
        .await
        .unwrap();
    assert_eq!(status["state"], "aborted");
}
