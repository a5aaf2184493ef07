//! Faults: KMS down, S3 down during completion, the server killed mid-upload, abandoned uploads,
//! a header that does not match what was issued, and a tampered audit log. After each, the
//! data stays intact and the audit chain verifies.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cipherdrop_api::SUITE_COMMIT_KEY;
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{
    ServerProcess, Service, audit_verify, aws_env, code_of, encrypt_for, free_port, setup_accounts,
    sqlite, status_of, stored_credentials,
};
use reqwest::Method;

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");
const MIB: usize = 1024 * 1024;

fn kms_service(dir: &Path, port: u16) -> Service {
    cipherdrop_testkit::server::kms_service(Path::new(BIN), dir, port).unwrap()
}

fn s3_service(dir: &Path, port: u16) -> Service {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "s3",
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--bucket",
        "files",
        "--data-dir",
    ])
    .arg(dir);
    Service::start(cmd).unwrap()
}

fn pending_count(dir: &Path) -> i64 {
    sqlite(dir, "SELECT COUNT(*) FROM objects").unwrap()[0][0]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_down_then_s3_down_during_complete() {
    let dir = tempfile::tempdir().unwrap();
    let (kms_dir, s3_dir, srv_dir) = (
        dir.path().join("kms"),
        dir.path().join("s3"),
        dir.path().join("srv"),
    );
    let (kms_port, s3_port) = (free_port().unwrap(), free_port().unwrap());
    let mut kms = kms_service(&kms_dir, kms_port);
    // One set of credentials for both services, as one IAM principal would have.
    std::fs::create_dir_all(&s3_dir).unwrap();
    std::fs::copy(
        kms_dir.join("credentials.json"),
        s3_dir.join("credentials.json"),
    )
    .unwrap();
    let mut s3 = s3_service(&s3_dir, s3_port);
    let (ak, sk) = stored_credentials(&kms_dir).unwrap();
    let kms_client = cipherdrop_testkit::kms_client(&kms.url, &ak, &sk, true);
    let arn = kms_client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    // "AWS mode": the server finds KMS and S3 through flags and the default credential chain.
    let server = ServerProcess::start(
        Path::new(BIN),
        &srv_dir,
        &[
            "--kms-key-id",
            &arn,
            "--kms-endpoint",
            &kms.url,
            "--s3-bucket",
            "files",
            "--s3-endpoint",
            &s3.url,
            "--s3-path-style",
        ],
        &aws_env(&ak, &sk),
    )
    .unwrap();
    assert!(
        server.s3_url.is_none() && server.kms_url.is_none(),
        "no embedded services in AWS mode"
    );
    let (_admin, alice, _bob) = setup_accounts(&server, Path::new(BIN)).await.unwrap();
    let first = data(1000, 1);
    let object = alice.upload(&first, SUITE_COMMIT_KEY, 4096).await.unwrap();

    // KMS down: a clear 503, nothing recorded, no key released.
    kms.kill();
    let before = pending_count(&srv_dir);
    let e = alice
        .upload(&data(10, 2), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (503, "kms_unavailable")
    );
    assert_eq!(pending_count(&srv_dir), before, "nothing may be recorded");
    let e = alice.key(&object).await.unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (503, "kms_unavailable")
    );
    // Back up on the same address: everything works again.
    kms = kms_service(&kms_dir, kms_port);
    assert_eq!(alice.download(&object).await.unwrap(), first);

    // S3 down during complete: the upload stays pending; it can be retried once S3 is back.
    let second = data(6 * MIB, 3);
    let (up, parts) = alice
        .upload_parts(&second, SUITE_COMMIT_KEY, 65536)
        .await
        .unwrap();
    assert_eq!(parts.len(), 2);
    s3.kill();
    let e = alice
        .complete(&up.upload_id, &parts, b"m")
        .await
        .unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (503, "s3_unavailable")
    );
    let e = alice
        .call(
            Method::POST,
            &format!("/api/uploads/{}/abort", up.upload_id),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 503);
    // (The upload's status names the parts S3 holds, so it too waits for S3: 503.)
    let e = alice
        .call(Method::GET, &format!("/api/uploads/{}", up.upload_id), None)
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 503);
    let state = sqlite(
        &srv_dir,
        &format!("SELECT state FROM objects WHERE id = '{}'", up.upload_id),
    )
    .unwrap();
    assert_eq!(state[0][0], "pending");
    s3 = s3_service(&s3_dir, s3_port);
    let (_, st) = alice
        .call(Method::GET, &format!("/api/uploads/{}", up.upload_id), None)
        .await
        .unwrap();
    assert_eq!(
        (st["state"].as_str(), st["stored"].as_array().map(Vec::len)),
        (Some("pending"), Some(2))
    );
    alice.complete(&up.upload_id, &parts, b"m").await.unwrap();
    assert!(alice.download(&up.object_id).await.unwrap() == second);
    let (ok, report) = audit_verify(Path::new(BIN), &srv_dir).unwrap();
    assert!(ok, "{report}");
    drop((kms, s3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_mid_upload_then_completed_aborted_or_swept() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(BIN);
    let mut server = ServerProcess::start(bin, dir.path(), &[], &[]).unwrap();
    let (admin, alice, _bob) = setup_accounts(&server, bin).await.unwrap();

    // Upload A: part 1 of 3 goes up, then the server dies.
    let a_plain = data(11 * MIB, 7);
    let (a, a_parts) = alice
        .upload_parts(&a_plain, SUITE_COMMIT_KEY, 65536)
        .await
        .unwrap();
    assert_eq!(a_parts.len(), 3);
    // Upload B: created, never finished.
    let (b, _) = alice
        .upload_parts(&data(5, 8), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    server.kill();

    server = ServerProcess::start(bin, dir.path(), &[], &[]).unwrap();
    assert!(server.admin_token.is_none(), "the admin exists already");
    let mut alice = alice;
    alice.base.clone_from(&server.url); // same cookie jar: the session survived the restart
    // The S3 address changed with the restart: fresh part URLs, then the remaining parts.
    let urls = alice.part_urls(&a.upload_id, 2, 2).await.unwrap();
    assert_eq!(urls.len(), 2);
    // Part 1 went to the old address too; its URL is stale, so fetch it again as well.
    let urls = alice.part_urls(&a.upload_id, 1, 3).await.unwrap();
    let ciphertext = encrypt_for(&a, None, 65536, &a_plain).unwrap();
    let part_size = usize::try_from(a.part_size).unwrap();
    let mut parts = vec![];
    for (i, chunk) in ciphertext.chunks(part_size).enumerate() {
        let target = &urls[i].url;
        let etag = alice.put_part(target, chunk.to_vec()).await.unwrap();
        parts.push(cipherdrop_api::CompletedPart {
            part_number: u32::try_from(i + 1).unwrap(),
            etag,
        });
    }
    alice.complete(&a.upload_id, &parts, b"a").await.unwrap();
    assert!(alice.download(&a.object_id).await.unwrap() == a_plain);
    // B is aborted after the restart.
    alice
        .call(
            Method::POST,
            &format!("/api/uploads/{}/abort", b.upload_id),
            None,
        )
        .await
        .unwrap();

    // C: its header does not match what was issued (another owner in the context, of the same
    // length, so the part's signed length still fits): deleted, never recorded.
    let c_plain = data(100, 9);
    let (c, _) = alice
        .upload_parts(&c_plain, SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let mut forged = c.clone();
    let owner = forged.encryption_context["cipherdrop:owner"].clone();
    forged
        .encryption_context
        .insert("cipherdrop:owner".into(), owner.chars().rev().collect());
    let bad = encrypt_for(&forged, None, 4096, &c_plain).unwrap();
    let c_urls = alice.part_urls(&c.upload_id, 1, 1).await.unwrap();
    let etag = alice.put_part(&c_urls[0].url, bad).await.unwrap();
    let e = alice
        .complete(
            &c.upload_id,
            &[cipherdrop_api::CompletedPart {
                part_number: 1,
                etag,
            }],
            b"c",
        )
        .await
        .unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (422, "header_mismatch")
    );
    let (_, st) = alice
        .call(Method::GET, &format!("/api/uploads/{}", c.upload_id), None)
        .await
        .unwrap();
    assert_eq!(st["state"], "rejected");
    assert!(
        !dir.path()
            .join(format!("s3/buckets/cipherdrop/objects/{}", c.object_id))
            .exists()
    );
    assert_eq!(status_of(&alice.key(&c.object_id).await.unwrap_err()), 404);

    // D: abandoned; a restart with a short abandon time sweeps it.
    let (d, _) = alice
        .upload_parts(&data(5, 10), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    server.kill();
    server = ServerProcess::start(
        bin,
        dir.path(),
        &["--abandon-after-secs", "1", "--sweep-interval-secs", "1"],
        &[],
    )
    .unwrap();
    alice.base.clone_from(&server.url);
    let mut state = String::new();
    for _ in 0..50 {
        let (_, st) = alice
            .call(Method::GET, &format!("/api/uploads/{}", d.upload_id), None)
            .await
            .unwrap();
        state = st["state"].as_str().unwrap().to_owned();
        if state == "aborted" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(state, "aborted");
    let states = sqlite(
        dir.path(),
        "SELECT state, COUNT(*) FROM objects GROUP BY state ORDER BY state",
    )
    .unwrap();
    assert_eq!(
        states,
        serde_json::json!([["aborted", 2], ["complete", 1], ["rejected", 1]])
    );
    assert!(
        server.terminate(),
        "SIGTERM: graceful shutdown, exit status 0"
    );
    drop(admin);

    // The chain verifies after all of it; edits and deletions are reported.
    let (ok, report) = audit_verify(bin, dir.path()).unwrap();
    assert!(ok, "{report}");
    let refused = sqlite(
        dir.path(),
        "UPDATE audit SET actor = 'mallory' WHERE id = 3",
    );
    assert!(format!("{:#}", refused.unwrap_err()).contains("append-only"));
    sqlite(dir.path(), "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; UPDATE audit SET actor = 'mallory' WHERE id = 3;").unwrap();
    let (ok, report) = audit_verify(bin, dir.path()).unwrap();
    assert!(!ok);
    assert!(
        report.contains("row 3: its contents were edited"),
        "{report}"
    );
    let last = sqlite(dir.path(), "SELECT MAX(id) FROM audit").unwrap()[0][0]
        .as_i64()
        .unwrap();
    sqlite(
        dir.path(),
        &format!("DELETE FROM audit WHERE id = 5; DELETE FROM audit WHERE id = {last};"),
    )
    .unwrap();
    let (ok, report) = audit_verify(bin, dir.path()).unwrap();
    assert!(!ok);
    assert!(report.contains("rows 5..=5 are missing"), "{report}");
    assert!(
        report.contains(&format!("rows {last}..={last} at the end are missing")),
        "{report}"
    );
}
