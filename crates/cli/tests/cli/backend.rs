//! `cipherdrop serve` with the embedded KMS and S3: the whole upload and download protocol with a
//! Rust client (core encrypts, parts go to presigned URLs), the stored objects decrypted by the
//! official Python ESDK through the KMS endpoint, and no data key in the process's log or database
//! file. The endpoint matrix and the other in-process checks are in `crates/server/tests/app/`.
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
    CONTEXT_OBJECT, CONTEXT_OWNER, SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384,
};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{
    Client, PASSWORD, ServerProcess, audit_verify, esdk_decrypt, setup_accounts, status_of,
    stored_credentials,
};
use reqwest::Method;

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");

async fn accounts(server: &ServerProcess) -> (Client, Client, Client) {
    setup_accounts(server, Path::new(BIN)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_download_and_official_esdk_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    // Every crate at `trace` (the AWS SDK's wire logs included): no secret may reach the log
    // even then.
    let server =
        ServerProcess::start(Path::new(BIN), dir.path(), &[], &[("RUST_LOG", "trace")]).unwrap();
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
        logs.contains("TRACE") && logs.contains("aws_smithy_runtime"),
        "the capture must include every crate's trace logs"
    );
    assert!(!logs.contains(PASSWORD), "a password is in the server log");
    assert!(
        !logs.contains(&kms_creds.1),
        "the KMS secret key is in the server log"
    );
    let db = std::fs::read(dir.path().join("cipherdrop.db")).unwrap();
    let wal = std::fs::read(dir.path().join("cipherdrop.db-wal")).unwrap_or_default();
    for key in &issued_keys {
        for text in [
            B64.encode(key),
            cipherdrop_testkit::hex(key),
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

/// Runs `cipherdrop user quota` against the server's data folder; (success, stdout + stderr).
fn user_quota(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(BIN)
        .args(["user", "quota"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_quota_gives_one_account_its_own_limits_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        Path::new(BIN),
        dir.path(),
        &["--quota-pending-uploads", "1", "--quota-stored-bytes", "1G"],
        &[],
    )
    .unwrap();
    let (_admin, alice, bob) = accounts(&server).await;
    let request = cipherdrop_api::CreateUploadRequest {
        plaintext_size: 1000,
        suite: SUITE_COMMIT_KEY,
        frame_length: 4096,
        public_key: None,
    };
    alice.create_upload(&request).await.unwrap();
    let e = alice.create_upload(&request).await.unwrap_err();
    assert_eq!(status_of(&e), 409, "the server's default: one at a time");

    let (ok, out) = user_quota(
        dir.path(),
        &["alice", "--pending-uploads", "3", "--stored-bytes", "2G"],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("pending uploads 3") && out.contains("stored bytes 2147483648"),
        "{out}"
    );
    alice.create_upload(&request).await.unwrap();
    alice.create_upload(&request).await.unwrap();
    assert!(alice.create_upload(&request).await.is_err(), "3 at most");
    let (_, usage) = alice.call(Method::GET, "/api/usage", None).await.unwrap();
    assert_eq!(usage["stored_bytes_limit"], 2u64 << 30);
    let (_, usage) = bob.call(Method::GET, "/api/usage", None).await.unwrap();
    assert_eq!(usage["pending_uploads_limit"], 1, "bob keeps the default");

    // Back to the default; bad values and unknown accounts are refused in words.
    let (ok, out) = user_quota(dir.path(), &["alice", "--pending-uploads", "default"]);
    assert!(
        ok && out.contains("pending uploads the server's default"),
        "{out}"
    );
    let (ok, out) = user_quota(dir.path(), &["alice", "--stored-bytes", "10X"]);
    assert!(!ok && out.contains("is not a size"), "{out}");
    let (ok, out) = user_quota(dir.path(), &["nobody"]);
    assert!(!ok && out.contains("no account named"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_token_makes_lists_and_revokes_api_tokens_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(Path::new(BIN), dir.path(), &[], &[]).unwrap();
    let (_admin, alice, _bob) = accounts(&server).await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args(["user", "token"])
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(&[
        "create",
        "alice",
        "--name",
        "nightly backup",
        "--scope",
        "read",
        "--scope",
        "write",
    ]);
    assert!(ok, "{out}");
    let secret = out
        .split_whitespace()
        .find(|w| w.starts_with("cdt_"))
        .unwrap()
        .to_owned();
    let id = out.split_whitespace().nth(2).unwrap().to_owned();
    let script = Client::with_token(&server.url, &secret);
    let object = script
        .upload(&data(5000, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    assert_eq!(script.download(&object).await.unwrap(), data(5000, 1));
    assert_eq!(
        alice.download(&object).await.unwrap(),
        data(5000, 1),
        "the page sees it"
    );
    let (ok, out) = run(&["list", "alice"]);
    assert!(
        ok && out.contains("nightly backup")
            && out.contains("read,write")
            && !out.contains("never"),
        "{out}"
    );
    assert!(!out.contains(&secret), "list shows no secret");
    let (ok, out) = run(&["revoke", "alice", &id]);
    assert!(ok, "{out}");
    let e = script
        .call(Method::GET, "/api/objects", None)
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 401);
    let (ok, out) = run(&["create", "alice", "--name", "x", "--scope", "admin"]);
    assert!(!ok && out.contains("invalid value"), "{out}");
    let (ok, out) = run(&["create", "nobody", "--name", "x", "--scope", "read"]);
    assert!(!ok && out.contains("no account named"), "{out}");
    assert!(
        !server.logs().contains(&secret),
        "the secret is in the server's log"
    );
}

/// Runs `cipherdrop audit ARGS`; (success, stdout + stderr).
fn audit(args: &[&std::ffi::OsStr]) -> (bool, String) {
    audit_with(args, &[])
}

/// `cipherdrop audit ARGS` with `env` set: (exit status 0, standard output and error).
fn audit_with(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> (bool, String) {
    let out = std::process::Command::new(BIN)
        .arg("audit")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The audit chain anchored outside the database: `serve` makes an ECC_NIST_P384 signing key in
/// the embedded KMS on first start and signs checkpoints (every 5 rows here, and a last one as it
/// stops); `audit verify` checks them with the key's public key from KMS; `audit public-key` and
/// `audit export` make files that `audit verify --export --public-key` checks with no database or
/// KMS; a consistent rewrite of a covered row (re-hashed onwards, head moved, as the database's
/// owner can) fails and names the first checkpoint that no longer matches; deleting the
/// checkpoints as well fools a check of the database alone, but not `audit verify
/// --checkpoint-bucket`, which finds them by their copies in the bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_checkpoints_anchor_the_chain_outside_the_database() {
    use cipherdrop_server::audit::{GENESIS, page, row_hash};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().as_os_str();
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let mut server = ServerProcess::start(
        Path::new(BIN),
        dir.path(),
        &[
            "--audit-checkpoint-rows",
            "5",
            "--audit-checkpoint-bucket",
            "anchor",
        ],
        &[],
    )
    .unwrap();
    let _ = accounts(&server).await;
    assert!(server.terminate(), "graceful stop");
    let remembered = std::fs::read_to_string(dir.path().join("audit-signing-key")).unwrap();
    assert!(remembered.starts_with("arn:aws:kms:"), "{remembered}");

    let (ok, report) = audit(&[os("verify"), os("--data-dir"), data]);
    assert!(ok, "{report}");
    assert!(
        report.contains(&format!("(signed by {})", remembered.trim()))
            && report.contains("; 0 rows after the last checkpoint not yet covered"),
        "the last checkpoint, written as the server stopped, covers every row:\n{report}"
    );

    let (pem, export) = (
        dir.path().join("audit-key.pem"),
        dir.path().join("audit.jsonl"),
    );
    let (ok, out) = audit(&[
        os("public-key"),
        os("--data-dir"),
        data,
        os("--out"),
        pem.as_os_str(),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = audit(&[
        os("export"),
        os("--data-dir"),
        data,
        os("--out"),
        export.as_os_str(),
    ]);
    assert!(ok, "{out}");
    let offline = [
        os("verify"),
        os("--export"),
        export.as_os_str(),
        os("--public-key"),
        pem.as_os_str(),
    ];
    let (ok, report) = audit(&offline);
    assert!(ok && report.contains("checkpoints verified"), "{report}");
    // The rows after the third, as a collector that already has those three would ask.
    let later = dir.path().join("audit-after-3.jsonl");
    let (ok, out) = audit(&[
        os("export"),
        os("--data-dir"),
        data,
        os("--since"),
        os("3"),
        os("--out"),
        later.as_os_str(),
    ]);
    assert!(ok && out.contains("rows after row 3"), "{out}");
    let (ok, report) = audit(&[
        os("verify"),
        os("--export"),
        later.as_os_str(),
        os("--public-key"),
        pem.as_os_str(),
    ]);
    assert!(ok, "{report}");

    // The rewrite, as the database's owner can do it.
    let db = cipherdrop_server::db::open(&dir.path().join("cipherdrop.db"))
        .await
        .unwrap();
    let rows = page(&db, 0, 100_000).await.unwrap();
    let checkpoints = cipherdrop_server::checkpoints::list(&db).await.unwrap();
    // Row 2 (the first account's creation): under the first checkpoint.
    let target = 2;
    let first_after = &checkpoints[0];
    assert!(first_after.audit_id >= target, "{checkpoints:?}");
    db.close().await;
    let mut script = String::from("DROP TRIGGER audit_no_update;");
    let mut prev = rows[usize::try_from(target - 2).unwrap()].hash.clone();
    assert_ne!(prev, GENESIS);
    for mut e in rows.into_iter().filter(|e| e.id >= target) {
        if e.id == target {
            e.actor = "nobody".into();
        }
        e.prev_hash = prev;
        e.hash = row_hash(&e.prev_hash, &e);
        script.push_str(&format!(
            "UPDATE audit SET actor = '{}', prev_hash = '{}', hash = '{}' WHERE id = {};",
            e.actor, e.prev_hash, e.hash, e.id
        ));
        prev = e.hash;
    }
    script.push_str(&format!("UPDATE audit_head SET hash = '{prev}';"));
    cipherdrop_testkit::server::sqlite(dir.path(), &script).unwrap();

    let (ok, report) = audit(&[os("verify"), os("--data-dir"), data]);
    assert!(!ok, "{report}");
    assert!(
        report.contains(&format!(
            "first checkpoint that no longer matches: {}",
            first_after.describe()
        )),
        "{report}"
    );
    assert!(
        !report.contains("its contents were edited") && !report.contains("does not chain"),
        "the chain itself holds; only the checkpoint tells:\n{report}"
    );
    // The export made before the rewrite still checks out: it is the record from before.
    let (ok, report) = audit(&offline);
    assert!(ok, "{report}");

    // The database's owner deletes the checkpoints too: the database alone now looks like a
    // chain that was never checkpointed.
    cipherdrop_testkit::server::sqlite(
        dir.path(),
        "DROP TRIGGER audit_checkpoints_no_delete; DELETE FROM audit_checkpoints;",
    )
    .unwrap();
    let (ok, report) = audit(&[os("verify"), os("--data-dir"), data]);
    assert!(ok && report.contains("no checkpoints yet"), "{report}");
    // Their copies in the bucket (here the embedded S3, served by `cipherdrop s3 serve` over the
    // server's folder) tell.
    let s3_dir = dir.path().join("s3");
    let port = cipherdrop_testkit::server::free_port().unwrap();
    let mut cmd = std::process::Command::new(BIN);
    cmd.args([
        "s3",
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
    ])
    .arg(&s3_dir);
    let s3 = cipherdrop_testkit::server::Service::start(cmd).unwrap();
    let (ak, sk) = stored_credentials(&s3_dir).unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", ak.as_str()),
        ("AWS_SECRET_ACCESS_KEY", sk.as_str()),
    ];
    let with_bucket = |bucket: &'static str| {
        [
            os("verify"),
            os("--data-dir"),
            data,
            os("--checkpoint-bucket"),
            os(bucket),
            os("--s3-endpoint"),
            std::ffi::OsStr::new(s3.url.as_str()),
        ]
    };
    let (ok, report) = audit_with(&with_bucket("anchor"), &env);
    assert!(!ok, "{report}");
    assert!(
        report.contains(&format!(
            "{} is in the checkpoint bucket but no longer in the database (deleted)",
            first_after.describe()
        )) && report.contains(&format!(
            "first checkpoint that no longer matches: {}",
            first_after.describe()
        )) && report.contains("locked cop"),
        "{report}"
    );
    // A bucket that is not there is an error in words, not a pass.
    let (ok, report) = audit_with(&with_bucket("no-such-bucket"), &env);
    assert!(
        !ok && report.contains("the checkpoint bucket no-such-bucket"),
        "{report}"
    );
}

/// `cipherdrop serve` with `CIPHERDROP_LOG_FORMAT=json` logs one JSON object per line (level,
/// target, message and fields), with no password or data key in any of them; with
/// `--metrics-listen` it serves Prometheus metrics there, and not on its public address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_on_request_and_metrics_on_their_own_listener() {
    let dir = tempfile::tempdir().unwrap();
    let port = cipherdrop_testkit::server::free_port().unwrap();
    let metrics = format!("127.0.0.1:{port}");
    let server = ServerProcess::start(
        Path::new(BIN),
        dir.path(),
        &["--metrics-listen", &metrics],
        &[("CIPHERDROP_LOG_FORMAT", "json"), ("RUST_LOG", "debug")],
    )
    .unwrap();
    let (_admin, alice, _bob) = accounts(&server).await;
    let id = alice
        .upload(&data(3000, 5), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let key = alice.key(&id).await.unwrap();

    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"cipherdrop_aws_calls_total{service="kms",operation="GenerateDataKey",outcome="ok"}"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"cipherdrop_audit_events_total{action="key.released",outcome="ok"}"#));
    let public = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    assert_ne!(public.status(), 200);

    let logs = server.logs();
    let mut lines = 0;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["level"].is_string() && v["target"].is_string(), "{line}");
        assert!(v["fields"].is_object(), "{line}");
        lines += 1;
    }
    assert!(lines > 10, "{logs}");
    assert!(!logs.contains(PASSWORD), "a password is in the log");
    assert!(
        !logs.contains(key.data_key.expose()),
        "a data key is in the log"
    );
}

/// `serve --audit-push-url` takes the receiver's secret from the environment only, and refuses
/// to start without a usable one, never quoting it.
#[test]
fn an_audit_webhook_needs_its_secret_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let url = ["--audit-push-url", "https://audit.example.com/in?token=abc"];
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[], "CIPHERDROP_AUDIT_PUSH_SECRET"),
        (
            &[("CIPHERDROP_AUDIT_PUSH_SECRET", "not-a-secret-value")],
            "whsec_ followed by base64",
        ),
        (
            &[("CIPHERDROP_AUDIT_PUSH_SECRET", "whsec_c2hvcnRzZWNyZXQ=")],
            "at least 24 bytes",
        ),
    ];
    for (env, expected) in cases {
        let e = match ServerProcess::start(Path::new(BIN), dir.path(), &url, env) {
            Ok(_) => panic!("started with {env:?}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(e.contains(expected), "{e}");
        assert!(
            !e.contains("not-a-secret-value") && !e.contains("c2hvcnRzZWNyZXQ"),
            "{e}"
        );
    }
    let ftp = ServerProcess::start(
        Path::new(BIN),
        dir.path(),
        &["--audit-push-url", "ftp://audit.example.com/"],
        &[],
    );
    assert!(format!("{:#}", ftp.err().unwrap()).contains("must be https"));
}

/// Webhook events are rows of the database's outbox: a server killed between the events and
/// their delivery sends them all after a restart, each with the `webhook-id` it was given, so a
/// receiver that deduplicates on it sees every event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_events_survive_a_kill_between_enqueue_and_delivery() {
    use cipherdrop_testkit::peers::WebhookReceiver;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("whsec");
    // The first delivery fails (500): the next attempt is 5 s later, after the kill.
    let rx = WebhookReceiver::start(&format!("@{}", secret_file.display()), 1).unwrap();
    let data_dir = dir.path().join("data");
    let args = ["--webhook-private-targets"];
    let mut server = ServerProcess::start(Path::new(BIN), &data_dir, &args, &[]).unwrap();
    let (_admin, alice, _bob) = accounts(&server).await;
    let (_, made) = alice
        .call(
            Method::POST,
            "/api/webhooks",
            Some(&serde_json::json!({"url": format!("http://127.0.0.1:{}/in", rx.port)})),
        )
        .await
        .unwrap();
    std::fs::write(&secret_file, made["secret"].as_str().unwrap()).unwrap();
    let file = alice
        .upload(&data(5000, 9), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let link = alice
        .share(&file, serde_json::json!({"max_downloads": 10}))
        .await
        .unwrap();
    let stranger = server.client();
    for _ in 0..5 {
        stranger.share_key(link.token(), None).await.unwrap();
    }
    // Wait for the first attempt (the worker looks every 2 s), then kill.
    for _ in 0..200 {
        if !rx.requests().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.kill();
    assert_eq!(
        rx.requests().len(),
        1,
        "only the failed first attempt before the kill"
    );

    let server = ServerProcess::start(Path::new(BIN), &data_dir, &args, &[]).unwrap();
    let mut delivered = std::collections::BTreeSet::new();
    for _ in 0..300 {
        delivered = rx
            .requests()
            .into_iter()
            .filter(|(status, _)| *status == 204)
            .map(|(_, id)| id)
            .collect();
        if delivered.len() == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(delivered.len(), 5, "{:?}", rx.requests());
    let mut counts: Vec<i64> = delivered
        .iter()
        .map(|id| rx.body(id).unwrap()["data"]["downloads"].as_i64().unwrap())
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, [1, 2, 3, 4, 5], "every event, once");
    let first = &rx.requests()[0].1;
    assert!(
        delivered.contains(first),
        "the failed one came again with its id"
    );
    drop(server);
}
