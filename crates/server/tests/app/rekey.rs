//! Key rotation: stored files move to another KMS key with every body byte unchanged, their
//! links and the account's metadata keys move with them, the old key can then be disabled, a
//! stop at any step of a move leaves one readable object, and a job refuses a target it cannot
//! use without changing anything.

use std::collections::HashMap;

use cipherdrop_api::{SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384};
use cipherdrop_core::{DecryptLimits, Header, TAG_LEN};
use cipherdrop_server::rekey::{self, Step};
use cipherdrop_testkit::data;
use serde_json::json;

use crate::util::TestApp;

const MIB: usize = 1024 * 1024;

/// An app whose data keys come from `alias/cipherdrop` (so a rotation can point the alias at a
/// new key, as operators do), and whose background jobs wait for the test.
async fn app() -> TestApp {
    TestApp::start_with(|c| {
        c.kms_key_id = "alias/cipherdrop".into();
        c.rekey_interval = std::time::Duration::from_secs(3600);
        c.sweep_interval = std::time::Duration::from_secs(3600);
        // Tests here open many links from one address.
        c.share_releases_per_ip = 100_000;
    })
    .await
}

impl TestApp {
    /// A new symmetric key; returns its ARN.
    async fn new_key(&self) -> String {
        self.kms()
            .create_key()
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .arn
            .unwrap()
    }

    /// Points the alias new uploads use at a new key; returns its ARN.
    async fn new_issuing_key(&self) -> String {
        cipherdrop_testkit::point_alias_at_new_key(&self.kms(), "alias/cipherdrop").await
    }

    async fn disable(&self, arn: &str) {
        self.kms().disable_key().key_id(arn).send().await.unwrap();
    }

    /// One pass of the rotation jobs, stopped at `step` if given; how many files moved.
    async fn rekey_pass(&self, step: Option<Step>) -> usize {
        self.server.rekey_pass(step).await.unwrap()
    }

    async fn job_state(&self, id: &str) -> rekey::JobRow {
        rekey::job(&self.db, id).await.unwrap().unwrap()
    }
}

/// The header's length and the message id of a stored message, and its body (after the
/// header, before a signed message's footer).
fn split(message: &[u8]) -> (Vec<u8>, Vec<u8>, Header) {
    let (header, body_start) = Header::parse(message, &DecryptLimits::default()).unwrap();
    let start = body_start + TAG_LEN;
    let end = if header.suite.is_signed() {
        // The footer: a 2-byte length and the signature.
        let tail = &message[start..];
        let mut end = tail.len();
        for sig_len in 100..=104usize {
            if tail.len() >= sig_len + 2 {
                let at = tail.len() - sig_len - 2;
                if usize::from(u16::from_be_bytes([tail[at], tail[at + 1]])) == sig_len {
                    end = at;
                    break;
                }
            }
        }
        start + end
    } else {
        message.len()
    };
    (
        message[..start].to_vec(),
        message[start..end].to_vec(),
        header,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_move_to_a_new_key_with_bodies_untouched_and_the_old_key_can_be_disabled() {
    let app = app().await;
    let (_admin, alice, _bob) = app.accounts().await;
    let old_key = app.key_arn.clone();
    // Both suites at 0 B, 1 B, several frames, one upload part, a size written whole with one
    // PutObject (7 MiB), and one written in parts (12 MiB: a 5 MiB first part, S3-copied
    // ranges, and a signed message's tail with its new footer).
    let mut files = Vec::new();
    for suite in [SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384] {
        for (i, len) in [0, 1, 70_000, 7 * MIB, 12 * MIB].into_iter().enumerate() {
            let plain = data(len, u64::from(suite) + i as u64);
            let id = alice.upload(&plain, suite, 65_536).await.unwrap();
            let before = alice.download_ciphertext(&id).await.unwrap();
            files.push((id, plain, before));
        }
    }
    let (lead, _, _) = &files[2];
    let link = alice.share(lead, json!({})).await.unwrap();
    let set = alice
        .share_set(
            &[(files[3].0.as_str(), "a"), (files[8].0.as_str(), "b")],
            json!({}),
        )
        .await
        .unwrap();
    let (version, meta_key) = alice.metadata_key(None).await.unwrap();

    let new_key = app.new_issuing_key().await;
    let job = rekey::create(&app.db, &old_key, &new_key, None, 1000)
        .await
        .unwrap();
    assert_eq!(app.rekey_pass(None).await, files.len());
    let done = app.job_state(&job.id).await;
    assert_eq!(
        (
            done.state.as_str(),
            done.files_total,
            done.files_done,
            done.files_failed
        ),
        ("done", files.len() as i64, files.len() as i64, 0),
        "{done:?}"
    );
    assert_eq!(done.keys_done, 2, "the metadata key and the set key moved");
    assert_eq!(
        done.bytes_done,
        files.iter().map(|f| f.2.len() as i64).sum::<i64>()
    );

    // Only the new key opens anything now.
    app.disable(&old_key).await;
    for (id, plain, before) in &files {
        let details = alice.details(id).await.unwrap();
        assert_eq!(details.key_arn, new_key, "the inspector names the new key");
        let after = alice.download_ciphertext(id).await.unwrap();
        let (old_head, old_body, old_header) = split(before);
        let (new_head, new_body, new_header) = split(&after);
        assert_eq!(
            old_body, new_body,
            "body bytes after the header are identical"
        );
        assert_ne!(old_head, new_head, "the header is new");
        assert_eq!(
            old_header.message_id, new_header.message_id,
            "same message id"
        );
        assert_eq!(
            new_header.encrypted_data_keys[0].kms_key_arn(),
            Some(new_key.as_str())
        );
        if old_header.suite.is_signed() {
            assert_ne!(
                old_header.encryption_context.get("aws-crypto-public-key"),
                new_header.encryption_context.get("aws-crypto-public-key"),
                "a signed message is signed again with a fresh key"
            );
        }
        assert_eq!(&alice.download(id).await.unwrap(), plain, "{id} opens");
    }
    // The links opened under the new key, the metadata key is the same key.
    let stranger = app.client();
    let release = stranger.share_key(link.token(), None).await.unwrap();
    assert_eq!(link.fetch(&release).await.unwrap(), files[2].1);
    let release = stranger.share_key(set.token(), None).await.unwrap();
    for (item, n) in release.items.iter().zip([3, 8]) {
        assert_eq!(set.fetch_item(&release, item).await.unwrap(), files[n].1);
    }
    assert_eq!(
        alice.metadata_key(Some(version)).await.unwrap(),
        (version, meta_key)
    );

    // One audit row per file moved, each data key's release audited, and the chain verifies.
    assert_eq!(app.audit_rows("object.rekeyed").await.len(), files.len());
    let released = app.audit_rows("key.released").await;
    let by_job = released
        .iter()
        .filter(|r| r["actor"] == "system" && r["detail"].as_str().unwrap().contains(&job.id))
        .count();
    assert_eq!(by_job, files.len());
    assert!(app.audit_verify().await.0);

    // The old objects stay while their download URLs live, then the sweeper deletes them.
    let keys = app.stored_keys().await;
    assert_eq!(keys.len(), 2 * files.len(), "{keys:?}");
    app.sql("UPDATE retired_objects SET delete_after = 0").await;
    app.sweep().await;
    let keys = app.stored_keys().await;
    assert_eq!(keys.len(), files.len(), "{keys:?}");
    for (id, plain, _) in &files {
        assert_eq!(&alice.download(id).await.unwrap(), plain);
    }
    // The next sweep's orphan scan keeps the moved objects (their keys are `objects/ID.…`).
    app.sql("UPDATE objects SET completed_at = 0, created_at = 0")
        .await;
    app.sweep().await;
    assert_eq!(app.stored_keys().await.len(), files.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_at_any_step_of_a_move_leaves_one_readable_object_and_the_job_resumes() {
    for step in [
        Step::Recorded,
        Step::Started,
        Step::FirstPart,
        Step::Assembled,
        Step::Switched,
    ] {
        let app = app().await;
        let alice = app.user("alice").await;
        let plain = data(12 * MIB, 7);
        let id = alice
            .upload(&plain, SUITE_COMMIT_KEY_ECDSA_P384, 65_536)
            .await
            .unwrap();
        let link = alice.share(&id, json!({})).await.unwrap();
        let new_key = app.new_issuing_key().await;
        let job = rekey::create(&app.db, &app.key_arn, &new_key, None, 1000)
            .await
            .unwrap();
        assert_eq!(app.rekey_pass(Some(step)).await, 0);
        // Whatever the step: the file opens, and so does its link.
        assert_eq!(alice.download(&id).await.unwrap(), plain, "{step:?}");
        let release = app.client().share_key(link.token(), None).await.unwrap();
        assert_eq!(link.fetch(&release).await.unwrap(), plain, "{step:?}");
        let left: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT new_s3_key, s3_upload_id FROM rekey_moves")
                .fetch_optional(&app.db)
                .await
                .unwrap();
        assert_eq!(
            left.is_some(),
            step != Step::Switched,
            "{step:?}: the move is on record"
        );
        let under = alice.details(&id).await.unwrap().key_arn;
        assert_eq!(under == new_key, step == Step::Switched, "{step:?}");

        // The job resumes: the leftover goes, the file moves (or has).
        app.rekey_pass(None).await;
        assert_eq!(app.job_state(&job.id).await.state, "done", "{step:?}");
        app.disable(&app.key_arn).await;
        assert_eq!(alice.download(&id).await.unwrap(), plain, "{step:?}");
        let release = app.client().share_key(link.token(), None).await.unwrap();
        assert_eq!(link.fetch(&release).await.unwrap(), plain, "{step:?}");
        app.sql("UPDATE retired_objects SET delete_after = 0").await;
        app.sweep().await;
        let keys = app.stored_keys().await;
        assert_eq!(keys.len(), 1, "{step:?}: one object is left: {keys:?}");
        // The interrupted move's multipart upload is gone from S3 too.
        if let Some((key, Some(upload))) = &left {
            let parts = app
                .s3()
                .list_parts()
                .bucket("cipherdrop")
                .key(key)
                .upload_id(upload)
                .send()
                .await;
            let code = parts
                .err()
                .and_then(|e| e.into_service_error().meta().code().map(str::to_owned));
            assert_eq!(code.as_deref(), Some("NoSuchUpload"), "{step:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_refuses_a_target_it_cannot_use_and_changes_nothing() {
    let app = app().await;
    let alice = app.user("alice").await;
    let plain = data(5000, 1);
    let id = alice.upload(&plain, SUITE_COMMIT_KEY, 4096).await.unwrap();
    let before = alice.download_ciphertext(&id).await.unwrap();
    let disabled = app.new_key().await;
    app.disable(&disabled).await;
    let signing = app
        .kms()
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::EccNistP384)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let missing = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000";
    let usable = app.new_key().await;
    let cases = [
        (disabled.as_str(), "is Disabled, not Enabled"),
        (signing.as_str(), "not a symmetric encryption key"),
        (missing, "NotFoundException"),
        (app.key_arn.as_str(), "the key the files are under already"),
        // Uploads still get data keys under the old key (the alias was not moved).
        (
            usable.as_str(),
            "new uploads still get their data keys under",
        ),
    ];
    for (target, words) in cases {
        let job = rekey::create(&app.db, &app.key_arn, target, None, 100)
            .await
            .unwrap();
        app.rekey_pass(None).await;
        let failed = app.job_state(&job.id).await;
        assert_eq!(failed.state, "failed", "{target}");
        assert!(
            failed.message.contains(words),
            "{target}: {}",
            failed.message
        );
        assert_eq!(alice.download_ciphertext(&id).await.unwrap(), before);
        assert_eq!(alice.details(&id).await.unwrap().key_arn, app.key_arn);
    }
    assert_eq!(app.stored_keys().await.len(), 1);
    assert_eq!(app.audit_rows("rekey.failed").await.len(), cases.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_job_moves_its_files_only_and_waits_for_its_open_uploads() {
    let app = app().await;
    let (_admin, alice, bob) = app.accounts().await;
    let a = alice
        .upload(&data(3000, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let b = bob
        .upload(&data(3000, 2), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    // An upload alice has started under the old key and not finished.
    let plain = data(10_000, 3);
    let (open, parts) = alice
        .upload_parts(&plain, SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let new_key = app.new_issuing_key().await;
    let alice_id: String = sqlx::query_scalar("SELECT id FROM users WHERE username = 'alice'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let job = rekey::create(&app.db, &app.key_arn, &new_key, Some(&alice_id), 100)
        .await
        .unwrap();
    app.rekey_pass(None).await;
    let waiting = app.job_state(&job.id).await;
    assert_eq!((waiting.state.as_str(), waiting.waiting), ("running", 1));
    assert!(
        waiting.message.contains("waiting for 1 unfinished upload"),
        "{}",
        waiting.message
    );
    assert_eq!(alice.details(&a).await.unwrap().key_arn, new_key);
    assert_eq!(
        bob.details(&b).await.unwrap().key_arn,
        app.key_arn,
        "bob's file stays"
    );

    // The upload completes (under the old key, still enabled); the next pass moves it.
    alice.complete(&open.upload_id, &parts, b"n").await.unwrap();
    app.rekey_pass(None).await;
    assert_eq!(app.job_state(&job.id).await.state, "done");
    assert_eq!(
        alice.details(&open.object_id).await.unwrap().key_arn,
        new_key
    );
    assert_eq!(alice.download(&open.object_id).await.unwrap(), plain);
    let left = rekey::remaining(&app.db, &app.key_arn, None, None)
        .await
        .unwrap();
    assert_eq!(
        (left.files, left.pending),
        (1, 0),
        "bob's file is all that is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn links_made_while_their_file_moves_open_under_the_new_key() {
    let app = app().await;
    let alice = app.user("alice").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            alice
                .upload(&data(2000, i), SUITE_COMMIT_KEY, 4096)
                .await
                .unwrap(),
        );
    }
    let new_key = app.new_issuing_key().await;
    // Paced, so the job runs for a while; links are made on every file all that time.
    let job = rekey::create(&app.db, &app.key_arn, &new_key, None, 10)
        .await
        .unwrap();
    let moving = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let makers: Vec<_> = (0..3)
        .map(|_| {
            let (alice, ids, moving) = (alice.clone(), ids.clone(), moving.clone());
            tokio::spawn(async move {
                let mut links = Vec::new();
                while moving.load(std::sync::atomic::Ordering::SeqCst) {
                    for id in &ids {
                        links.push((alice.share(id, json!({})).await.unwrap(), id.clone()));
                    }
                }
                links
            })
        })
        .collect();
    app.rekey_pass(None).await;
    moving.store(false, std::sync::atomic::Ordering::SeqCst);
    let mut links = Vec::new();
    for m in makers {
        links.extend(m.await.unwrap());
    }
    assert!(links.len() >= 3 * ids.len());
    let done = app.job_state(&job.id).await;
    assert_eq!(done.state, "done", "{done:?}");
    app.rekey_pass(None).await;
    app.disable(&app.key_arn).await;
    let plain: HashMap<&String, Vec<u8>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id, data(2000, i as u64)))
        .collect();
    for (link, id) in &links {
        let release = app.client().share_key(link.token(), None).await.unwrap();
        assert_eq!(&link.fetch(&release).await.unwrap(), &plain[id]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_own_key_wraps_its_data_only() {
    let app = app().await;
    let (_admin, alice, bob) = app.accounts().await;
    let server_key = app.key_arn.clone();
    let before = alice
        .upload(&data(100, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let own = app.new_key().await;
    cipherdrop_server::admin::set_account_key(&app.db, "system", "alice", Some(&own))
        .await
        .unwrap();
    // Refused: a key id no KMS would take.
    assert!(
        cipherdrop_server::admin::set_account_key(&app.db, "system", "alice", Some("a b"))
            .await
            .is_err()
    );

    // Alice's new uploads, her metadata key and what senders put in her requests: under her key.
    let a = alice
        .upload(&data(5000, 2), SUITE_COMMIT_KEY_ECDSA_P384, 4096)
        .await
        .unwrap();
    alice.metadata_key(None).await.unwrap();
    let (_, request) = alice
        .call(
            reqwest::Method::POST,
            "/api/requests",
            Some(&json!({"title": "t", "max_files": 3, "max_bytes": 1_000_000})),
        )
        .await
        .unwrap();
    let token = request["token"].as_str().unwrap().to_owned();
    let (_, _, sent) = app
        .client()
        .send_to_request(&token, None, &data(700, 3))
        .await
        .unwrap();
    // Bob's: under the server's.
    let b = bob
        .upload(&data(5000, 4), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    bob.metadata_key(None).await.unwrap();
    for (id, key) in [
        (&a, &own),
        (&sent, &own),
        (&before, &server_key),
        (&b, &server_key),
    ] {
        let arn: String = sqlx::query_scalar("SELECT key_arn FROM objects WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(&arn, key, "{id}");
    }
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT u.username, m.key_arn FROM metadata_keys m JOIN users u ON u.id = m.user_id
         ORDER BY u.username",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        keys,
        vec![
            ("alice".into(), own.clone()),
            ("bob".into(), server_key.clone())
        ]
    );

    // Alice's key opens her data only: disabled, her files fail (in words), bob's still open.
    app.disable(&own).await;
    let e = alice.download(&a).await.unwrap_err();
    assert_eq!(
        (
            cipherdrop_testkit::server::status_of(&e),
            cipherdrop_testkit::server::code_of(&e)
        ),
        (409, "key_unusable".to_owned()),
        "{e}"
    );
    assert_eq!(bob.download(&b).await.unwrap(), data(5000, 4));
    app.kms().enable_key().key_id(&own).send().await.unwrap();

    // A rotation may not put anyone else's data under alice's key.
    app.new_issuing_key().await;
    let job = rekey::create(&app.db, &server_key, &own, None, 100)
        .await
        .unwrap();
    app.rekey_pass(None).await;
    let failed = app.job_state(&job.id).await;
    assert!(
        failed.message.contains("alice's own key"),
        "{}",
        failed.message
    );
    // Her own older file moves to it; bob's stays.
    let alice_id = cipherdrop_server::admin::user_id(&app.db, "alice")
        .await
        .unwrap()
        .unwrap();
    let job = rekey::create(&app.db, &server_key, &own, Some(&alice_id), 100)
        .await
        .unwrap();
    app.rekey_pass(None).await;
    assert_eq!(app.job_state(&job.id).await.state, "done");
    assert_eq!(alice.details(&before).await.unwrap().key_arn, own);
    assert_eq!(bob.details(&b).await.unwrap().key_arn, server_key);
    assert_eq!(alice.download(&before).await.unwrap(), data(100, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_see_keys_and_start_rotations_over_http_and_nobody_else_does() {
    use reqwest::Method;
    let app = app().await;
    let (admin, alice, _bob) = app.accounts().await;
    let id = alice
        .upload(&data(3000, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let status = |r: anyhow::Result<(reqwest::header::HeaderMap, serde_json::Value)>| match r {
        Ok(_) => 200,
        Err(e) => cipherdrop_testkit::server::status_of(&e),
    };
    // Not an administrator: refused, whatever the route.
    let start = json!({"from": app.key_arn, "to": "alias/x"});
    assert_eq!(
        status(alice.call(Method::GET, "/api/admin/keys", None).await),
        403
    );
    assert_eq!(
        status(
            alice
                .call(Method::POST, "/api/admin/rekey", Some(&start))
                .await
        ),
        403
    );
    let key = json!({"kms_key_id": "alias/mine"});
    assert_eq!(
        status(
            alice
                .call(Method::PUT, "/api/admin/users/alice/key", Some(&key))
                .await
        ),
        403
    );
    assert_eq!(rekey::jobs(&app.db).await.unwrap().len(), 0);

    let (_, overview) = admin
        .call(Method::GET, "/api/admin/keys", None)
        .await
        .unwrap();
    let overview: cipherdrop_api::KeysOverview = serde_json::from_value(overview).unwrap();
    assert_eq!(
        overview.keys,
        vec![cipherdrop_api::KeyInUse {
            arn: app.key_arn.clone(),
            files: 1
        }]
    );
    assert_eq!(overview.server_key, "alias/cipherdrop");

    // Bad input, in words; nothing recorded.
    for (body, code) in [
        (json!({"from": "nope", "to": "x"}), 400),
        (
            json!({"from": app.key_arn, "to": "x", "account": "nobody"}),
            404,
        ),
        (json!({"from": app.key_arn, "to": "x", "kms_rate": 0}), 400),
        (json!({"from": app.key_arn, "to": "x".repeat(3000)}), 400),
        (json!({"from": app.key_arn, "to": ""}), 400),
    ] {
        assert_eq!(
            status(
                admin
                    .call(Method::POST, "/api/admin/rekey", Some(&body))
                    .await
            ),
            code,
            "{body}"
        );
    }
    assert_eq!(
        status(
            admin
                .call(
                    Method::PUT,
                    "/api/admin/users/alice/key",
                    Some(&json!({"kms_key_id": "k".repeat(3000)}))
                )
                .await
        ),
        400
    );
    assert_eq!(
        status(
            admin
                .call(Method::PUT, "/api/admin/users/nobody/key", Some(&key))
                .await
        ),
        404
    );
    assert_eq!(rekey::jobs(&app.db).await.unwrap().len(), 0);

    // A dry run says what would move; a real one records the job, which a replica runs.
    let new_key = app.new_issuing_key().await;
    let (_, dry) = admin
        .call(
            Method::POST,
            "/api/admin/rekey",
            Some(&json!({"from": app.key_arn, "dry_run": true})),
        )
        .await
        .unwrap();
    assert_eq!(dry["preview"]["files"], 1);
    assert!(dry["job"].is_null());
    let (_, made) = admin
        .call(
            Method::POST,
            "/api/admin/rekey",
            Some(&json!({"from": app.key_arn, "to": new_key, "kms_rate": 20})),
        )
        .await
        .unwrap();
    assert_eq!(made["job"]["state"], "queued");
    app.rekey_pass(None).await;
    let (_, overview) = admin
        .call(Method::GET, "/api/admin/keys", None)
        .await
        .unwrap();
    let overview: cipherdrop_api::KeysOverview = serde_json::from_value(overview).unwrap();
    let job = &overview.jobs[0];
    assert_eq!(
        (job.state.as_str(), job.files_done, job.kms_rate),
        ("done", 1, 20)
    );
    assert_eq!(alice.details(&id).await.unwrap().key_arn, new_key);

    // An account's own key, set and cleared; audited with the administrator's name.
    admin
        .call(Method::PUT, "/api/admin/users/alice/key", Some(&key))
        .await
        .unwrap();
    let (_, overview) = admin
        .call(Method::GET, "/api/admin/keys", None)
        .await
        .unwrap();
    assert!(
        overview["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["username"] == "alice" && a["kms_key_id"] == "alias/mine")
    );
    admin
        .call(
            Method::PUT,
            "/api/admin/users/alice/key",
            Some(&json!({"kms_key_id": null})),
        )
        .await
        .unwrap();
    let rows = app.audit_rows("user.key_set").await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["actor"] == "admin"));
    assert_eq!(app.audit_rows("rekey.created").await[0]["actor"], "admin");
}

/// An owner moves one file to the key the account's new uploads use: someone else's file is
/// not found and records nothing, 40 concurrent requests record one job, the job moves that
/// file only (body untouched, readable, its link too), and a file under that key already is
/// refused in words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_moves_one_file_to_the_accounts_key_and_nobody_else_can() {
    use reqwest::Method;
    let app = app().await;
    let (admin, alice, bob) = app.accounts().await;
    let server_key = app.key_arn.clone();
    let one = data(9000, 71);
    let id = alice.upload(&one, SUITE_COMMIT_KEY, 4096).await.unwrap();
    let other = alice
        .upload(&data(500, 72), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let link = alice.share(&id, json!({})).await.unwrap();
    let before = alice.download_ciphertext(&id).await.unwrap();
    let own = app.new_key().await;
    admin.set_account_key("alice", Some(&own)).await.unwrap();
    let path = format!("/api/objects/{id}/rekey");

    // Not bob's: not found, nothing recorded.
    let e = bob.call(Method::POST, &path, None).await.unwrap_err();
    assert_eq!(cipherdrop_testkit::server::status_of(&e), 404, "{e}");
    assert!(rekey::jobs(&app.db).await.unwrap().is_empty());

    // Many at once: one job.
    let calls = (0..40).map(|_| alice.call(Method::POST, &path, None));
    let answers = futures_util::future::join_all(calls).await;
    let ids: std::collections::BTreeSet<String> = answers
        .into_iter()
        .map(|a| a.unwrap().1["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let jobs = rekey::jobs(&app.db).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].object_id.as_deref(), Some(id.as_str()));
    assert_eq!(app.audit_rows("object.rekey_requested").await.len(), 1);

    assert_eq!(app.rekey_pass(None).await, 1);
    let job = app.job_state(&jobs[0].id).await;
    assert_eq!(
        (job.state.as_str(), job.files_done, job.keys_done),
        ("done", 1, 0),
        "{job:?}"
    );
    assert_eq!(alice.details(&id).await.unwrap().key_arn, own);
    assert_eq!(
        alice.details(&other).await.unwrap().key_arn,
        server_key,
        "only that file"
    );
    assert_eq!(alice.download(&id).await.unwrap(), one);
    let after = alice.download_ciphertext(&id).await.unwrap();
    assert_eq!(split(&after).1, split(&before).1, "the body is untouched");
    let stranger = app.client();
    assert_eq!(
        link.fetch(&stranger.share_key(link.token(), None).await.unwrap())
            .await
            .unwrap(),
        one
    );

    // Under that key already: refused in words.
    let e = alice.call(Method::POST, &path, None).await.unwrap_err();
    assert_eq!(cipherdrop_testkit::server::status_of(&e), 409, "{e}");
    assert!(
        cipherdrop_testkit::server::message_of(&e).contains("already"),
        "{e}"
    );
    assert_eq!(rekey::jobs(&app.db).await.unwrap().len(), 1);
}
