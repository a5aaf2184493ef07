//! `cipherdrop rekey` against `cipherdrop serve` processes: the job recorded by the command, run
//! by the server, the server killed mid-job and started again (the job resumes and every file
//! stays readable throughout), the old key then disabled, and the official Python ESDK opening
//! what was moved with the new key only.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cipherdrop_api::{SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{
    ServerProcess, audit_verify, esdk_decrypt, setup_accounts, sqlite, stored_credentials,
};

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");
const MIB: usize = 1024 * 1024;

fn rekey(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("rekey").args(args).arg("--data-dir").arg(dir);
    cmd
}

fn files_done(dir: &Path) -> i64 {
    sqlite(dir, "SELECT COALESCE(MAX(files_done), 0) FROM rekey_jobs").unwrap()[0][0]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_survives_a_kill_and_the_python_esdk_opens_the_files_with_the_new_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(BIN);
    let mut server = ServerProcess::start(bin, dir.path(), &[], &[]).unwrap();
    let (_admin, alice, bob) = setup_accounts(&server, bin).await.unwrap();
    let old_key = server.key.clone();
    let mut files = Vec::new();
    for i in 0..16u64 {
        let (owner, suite) = match i % 4 {
            0 => (&alice, SUITE_COMMIT_KEY),
            1 => (&alice, SUITE_COMMIT_KEY_ECDSA_P384),
            2 => (&bob, SUITE_COMMIT_KEY),
            _ => (&bob, SUITE_COMMIT_KEY_ECDSA_P384),
        };
        let len = if i == 5 { 12 * MIB } else { 1000 * i as usize };
        let plain = data(len, i);
        files.push((
            owner,
            owner.upload(&plain, suite, 65_536).await.unwrap(),
            plain,
        ));
    }

    // What would move, before anything does; a key nothing is under is refused in words.
    let out = rekey(dir.path(), &["--from", &old_key, "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("would move 16 files"), "{text}");
    let out = rekey(dir.path(), &["--from", "nope", "--to", "x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("nothing is stored under nope") && err.contains(&old_key),
        "{err}"
    );

    // The new key; the embedded KMS's alias now points at it, so new uploads use it.
    let kms_url = server.kms_url.clone().unwrap();
    let creds = stored_credentials(&dir.path().join("kms")).unwrap();
    let kms = cipherdrop_testkit::kms_client(&kms_url, &creds.0, &creds.1, true);
    let new_key = cipherdrop_testkit::point_alias_at_new_key(&kms, "alias/cipherdrop").await;

    // The command follows the job; the server is killed once a few files have moved.
    let key_id = old_key.rsplit('/').next().unwrap().to_owned();
    let follow = rekey(
        dir.path(),
        &[
            "--from",
            &key_id,
            "--to",
            "alias/cipherdrop",
            "--kms-rate",
            "4",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while files_done(dir.path()) < 3 {
        assert!(Instant::now() < deadline, "the job did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill();
    let ports = (
        server.url.rsplit(':').next().unwrap().parse().unwrap(),
        server
            .s3_url
            .as_ref()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap(),
    );
    server = ServerProcess::start_at(bin, dir.path(), None, ports, &[], &[]).unwrap();
    // The embedded KMS listens on a new port now.
    let kms_url = server.kms_url.clone().unwrap();
    let kms = cipherdrop_testkit::kms_client(&kms_url, &creds.0, &creds.1, true);
    // Every file opens while the job goes on, moved or not.
    for (owner, id, plain) in &files {
        assert_eq!(
            &owner.download(id).await.unwrap(),
            plain,
            "{id} during the rotation"
        );
    }
    let out = tokio::task::spawn_blocking(move || follow.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "{stdout}\n{stderr}\n{}",
        std::fs::read_to_string(&server.log_path).unwrap_or_default()
    );
    assert!(stdout.contains("done: 16 files"), "{stdout}");
    assert!(stderr.contains("running: "), "progress is shown: {stderr}");

    // The old key disabled: everything opens through the server, and the official ESDK opens
    // the stored messages with the new key and refuses them with the old one.
    kms.disable_key().key_id(&old_key).send().await.unwrap();
    for (i, (owner, id, plain)) in files.iter().enumerate() {
        assert_eq!(&owner.download(id).await.unwrap(), plain, "{id}");
        if i < 4 || i == 5 {
            let stored = owner.download_ciphertext(id).await.unwrap();
            let official = esdk_decrypt(
                &kms_url,
                (&creds.0, &creds.1),
                &new_key,
                &stored,
                dir.path(),
            )
            .unwrap();
            assert_eq!(&official, plain);
            assert!(
                esdk_decrypt(
                    &kms_url,
                    (&creds.0, &creds.1),
                    &old_key,
                    &stored,
                    dir.path()
                )
                .is_err(),
                "the old key opens nothing"
            );
        }
    }
    // Nothing is under the old key any more.
    let out = rekey(dir.path(), &["--from", &old_key, "--dry-run"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing is stored under"));
    let out = rekey(dir.path(), &["--status"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("done: 16/16 files"));
    let rows = sqlite(
        dir.path(),
        "SELECT COUNT(*) FROM audit WHERE action = 'object.rekeyed' AND outcome = 'ok'",
    )
    .unwrap();
    assert_eq!(
        rows[0][0].as_i64(),
        Some(16),
        "one audit row per file moved"
    );
    drop(server);
    assert!(audit_verify(bin, dir.path()).unwrap().0);
}
