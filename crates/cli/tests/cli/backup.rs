//! `cipherdrop backup` and `cipherdrop restore`: a populated instance (accounts, files in both
//! suites, a link, a file request with an arrival, audit rows) backed up while it runs, wiped, and
//! restored elsewhere: every file downloads byte-identical, the link and the request still work,
//! the audit chain verifies. A wrong master key, a damaged backup, a used folder: refused, and
//! nothing changed.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cipherdrop_api::{SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{Client, PASSWORD, ServerProcess, setup_accounts};

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `cipherdrop restore --from FROM --data-dir TO --kms-master-key KEY`.
fn restore(from: &Path, to: &Path, key: &Path) -> Output {
    run(&[
        "restore",
        "--from",
        s(from),
        "--data-dir",
        s(to),
        "--kms-master-key",
        s(key),
    ])
}

/// Everything in `dir`'s parent whose name starts with `.NAME.restoring-`: staging left behind.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let prefix = format!(".{}.restoring-", dir.file_name().unwrap().to_str().unwrap());
    std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_elsewhere_and_a_wrong_key_or_damage_changes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let mut server = ServerProcess::start(Path::new(BIN), &data_dir, &[], &[]).unwrap();
    let (_admin, alice, bob) = setup_accounts(&server, Path::new(BIN)).await.unwrap();

    // Files in both suites, a link, a request with an arrival.
    let mut files = Vec::new();
    for (i, (len, suite, who)) in [
        (5 * 1024 * 1024 + 3, SUITE_COMMIT_KEY, "alice"),
        (200_000, SUITE_COMMIT_KEY_ECDSA_P384, "alice"),
        (1, SUITE_COMMIT_KEY, "bob"),
    ]
    .into_iter()
    .enumerate()
    {
        let bytes = data(len, 40 + i as u64);
        let c = if who == "bob" { &bob } else { &alice };
        let id = c.upload(&bytes, suite, 65536).await.unwrap();
        files.push((who, id, bytes));
    }
    let link = alice
        .share(&files[1].1, serde_json::json!({"max_downloads": 5}))
        .await
        .unwrap();
    let request = alice
        .open_request(serde_json::json!({"title": "forms", "max_files": 3, "max_bytes": 1_000_000}))
        .await
        .unwrap();
    let form = data(30_000, 49);
    let (receipt, _, _) = Client::new(&server.url)
        .send_to_request(&request, None, &form)
        .await
        .unwrap();
    files.push(("alice", receipt.reference.clone(), form));

    // The master key is in the data folder: a backup must be told where its copy goes.
    let backup = work.path().join("backup");
    let key_copy = work.path().join("elsewhere").join("master.key");
    let refused = run(&["backup", "--data-dir", s(&data_dir), "--out", s(&backup)]);
    assert!(!refused.status.success());
    assert!(
        said(&refused).contains("--kms-master-key-out"),
        "{}",
        said(&refused)
    );
    assert!(!backup.exists(), "a refused backup makes nothing");
    // While the server runs.
    let done = run(&[
        "backup",
        "--data-dir",
        s(&data_dir),
        "--out",
        s(&backup),
        "--kms-master-key-out",
        s(&key_copy),
    ]);
    assert!(done.status.success(), "{}", said(&done));
    assert!(said(&done).contains("4 stored objects"), "{}", said(&done));
    assert!(
        !backup.join("kms/master.key").exists(),
        "the master key is kept apart from the backup"
    );
    let again = run(&[
        "backup",
        "--data-dir",
        s(&data_dir),
        "--out",
        s(&backup),
        "--kms-master-key-out",
        s(&work.path().join("other.key")),
    ]);
    assert!(!again.status.success() && said(&again).contains("not empty"));

    // The machine is lost.
    assert!(server.terminate());
    std::fs::remove_dir_all(&data_dir).unwrap();

    let restored = work.path().join("restored");
    // A wrong master key: refused, nothing made.
    let wrong = work.path().join("wrong.key");
    let mut bytes = std::fs::read(&key_copy).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(&wrong, &bytes).unwrap();
    for key in [None, Some(&wrong)] {
        let mut args = vec!["restore", "--from", s(&backup), "--data-dir", s(&restored)];
        if let Some(k) = key {
            args.extend(["--kms-master-key", s(k)]);
        }
        let out = run(&args);
        assert!(!out.status.success(), "{}", said(&out));
        assert!(said(&out).contains("master key"), "{}", said(&out));
        assert!(said(&out).contains("nothing was changed"), "{}", said(&out));
        assert!(!restored.exists() && leftovers(&restored).is_empty());
    }
    // A damaged backup (one byte of one stored object): refused, naming the file.
    let damaged = work.path().join("damaged");
    assert!(
        Command::new("cp")
            .arg("-r")
            .arg(&backup)
            .arg(&damaged)
            .status()
            .unwrap()
            .success()
    );
    let object = std::fs::read_dir(damaged.join("s3/buckets/cipherdrop/objects"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let object = if object.is_dir() {
        std::fs::read_dir(&object)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    } else {
        object
    };
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[0] ^= 0x80;
    std::fs::write(&object, &bytes).unwrap();
    let out = restore(&damaged, &restored, &key_copy);
    assert!(!out.status.success());
    assert!(
        said(&out).contains("is not what its manifest says"),
        "{}",
        said(&out)
    );
    assert!(!restored.exists() && leftovers(&restored).is_empty());
    // A folder in use is never restored over.
    let used = work.path().join("used");
    std::fs::create_dir_all(&used).unwrap();
    std::fs::write(used.join("precious"), b"keep me").unwrap();
    let out = restore(&backup, &used, &key_copy);
    assert!(!out.status.success() && said(&out).contains("not empty"));
    assert_eq!(std::fs::read(used.join("precious")).unwrap(), b"keep me");

    // The right key: restored, and the instance works as before.
    let out = restore(&backup, &restored, &key_copy);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("4 stored objects present"),
        "{}",
        said(&out)
    );
    let verify = run(&["audit", "verify", "--data-dir", s(&restored)]);
    assert!(verify.status.success(), "{}", said(&verify));
    let server = ServerProcess::start(Path::new(BIN), &restored, &[], &[]).unwrap();
    assert!(
        server.admin_token.is_none(),
        "the restored admin, not a new one"
    );
    let (alice, bob) = (server.client(), server.client());
    alice.login("alice", PASSWORD).await.unwrap();
    bob.login("bob", PASSWORD).await.unwrap();
    for (who, id, bytes) in &files {
        let c = if *who == "bob" { &bob } else { &alice };
        assert!(c.download(id).await.unwrap() == *bytes, "file {id}");
    }
    let stranger = Client::new(&server.url);
    let release = stranger.share_key(link.token(), None).await.unwrap();
    assert!(link.fetch(&release).await.unwrap() == files[1].2);
    let late = data(20_000, 50);
    let (receipt, _, _) = stranger
        .send_to_request(&request, None, &late)
        .await
        .unwrap();
    assert!(alice.download(&receipt.reference).await.unwrap() == late);
    let upload = data(100_000, 51);
    let id = bob.upload(&upload, SUITE_COMMIT_KEY, 65536).await.unwrap();
    assert!(bob.download(&id).await.unwrap() == upload);
}
