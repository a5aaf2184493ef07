//! Key rotation through a `cipherdrop serve` with the embedded KMS and S3: re-keying a stored
//! 1 GiB file of each suite (server time, and the bytes the server read from S3, sent to it, and
//! had S3 copy; no client sends anything) against the alternative, `cipherdrop get` and
//! `cipherdrop put` of the same file in the same run; and a rotation of 1,000 small files at two
//! KMS request rates (files per second). Reported, not asserted.
//!
//! `cargo bench --profile dev --offline -p cipherdrop-cli --bench rekey` (`BENCH_FILES` for the
//! small files, default 1000).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cipherdrop_api::SUITE_COMMIT_KEY;
use cipherdrop_testkit::server::{ServerProcess, setup_accounts, sqlite, stored_credentials};

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");
const GIB: usize = 1 << 30;

fn run(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Points the embedded KMS's alias at a new key; returns its ARN.
async fn new_issuing_key(kms: &aws_sdk_kms::Client) -> String {
    cipherdrop_testkit::point_alias_at_new_key(kms, "alias/cipherdrop").await
}

/// Records a job moving everything from `from` to `to` and waits for it (polling every half
/// second: an outside `sqlite3` every few milliseconds stalls the server's writers); returns the
/// seconds between its `rekey.started` and `rekey.done` audit rows.
async fn rotate(dir: &Path, from: &str, to: &str, rate: u32) -> f64 {
    let d = dir.to_str().unwrap();
    let rate = rate.to_string();
    let printed = run(
        &[
            "rekey",
            "--from",
            from,
            "--to",
            to,
            "--kms-rate",
            &rate,
            "--detach",
            "--data-dir",
            d,
        ],
        &[],
    );
    let job = printed.split_whitespace().nth(3).unwrap().to_owned();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let state = sqlite(
            dir,
            &format!("SELECT state FROM rekey_jobs WHERE id = '{job}'"),
        )
        .unwrap();
        match state[0][0].as_str().unwrap() {
            "done" => break,
            "failed" => panic!("the rotation failed"),
            _ => {}
        }
    }
    let at = |action: &str| {
        sqlite(
            dir,
            &format!("SELECT time_ms FROM audit WHERE action = '{action}' AND object = '{job}'"),
        )
        .unwrap()[0][0]
            .as_i64()
            .unwrap()
    };
    (at("rekey.done") - at("rekey.started")) as f64 / 1000.0
}

/// The newest `object.rekeyed` audit row's figures: bytes read from S3, sent to S3, copied by S3
/// (as MiB, one table cell each).
fn last_move(dir: &Path) -> String {
    let detail = sqlite(
        dir,
        "SELECT detail FROM audit WHERE action = 'object.rekeyed' ORDER BY id DESC LIMIT 1",
    )
    .unwrap()[0][0]
        .as_str()
        .unwrap()
        .to_owned();
    ["read ", "wrote ", "S3 copied "]
        .iter()
        .map(|label| {
            let n: f64 = detail
                .split(label)
                .nth(1)
                .and_then(|rest| rest.split([',', ';']).next())
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(f64::NAN);
            format!("{:.1} MiB", n / 1048576.0)
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(BIN);
    let server = ServerProcess::start(bin, dir.path(), &[], &[]).unwrap();
    let (_admin, alice, _bob) = setup_accounts(&server, bin).await.unwrap();
    let printed = run(
        &[
            "user",
            "token",
            "create",
            "alice",
            "--name",
            "bench",
            "--scope",
            "read",
            "--scope",
            "write",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    let token = printed
        .split_whitespace()
        .find(|w| w.starts_with("cdt_"))
        .unwrap()
        .to_owned();
    let env = [
        ("CIPHERDROP_URL", server.url.as_str()),
        ("CIPHERDROP_TOKEN", token.as_str()),
    ];
    let creds = stored_credentials(&dir.path().join("kms")).unwrap();
    let kms =
        cipherdrop_testkit::kms_client(server.kms_url.as_ref().unwrap(), &creds.0, &creds.1, true);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("one-gib.bin");
    std::fs::write(&file, cipherdrop_testkit::data(GIB, 5)).unwrap();
    let back = work.path().join("back.bin");
    println!("{}\n", cipherdrop_testkit::load::machine());
    println!("| what | s | server read from S3 | sent to S3 | S3 copied | sent by a client |");
    println!("|---|---|---|---|---|---|");
    for suite in ["0x0478", "0x0578"] {
        // A fresh key for each suite's file, so that each job moves that one file.
        let under = new_issuing_key(&kms).await;
        let id = run(&["put", "--suite", suite, file.to_str().unwrap()], &env)
            .trim()
            .to_owned();
        // The alternative: download, decrypt and upload again with the CLI.
        let start = Instant::now();
        run(&["get", &id, "-o", back.to_str().unwrap()], &env);
        let got = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let copy = run(&["put", "--suite", suite, back.to_str().unwrap()], &env)
            .trim()
            .to_owned();
        let put = start.elapsed().as_secs_f64();
        std::fs::remove_file(&back).unwrap();
        run(&["rm", &copy], &env);
        // The re-key of the stored file, from the key it went in under to a new one.
        let next = new_issuing_key(&kms).await;
        let secs = rotate(dir.path(), &under, &next, 50).await;
        let moved = last_move(dir.path());
        println!(
            "| `cipherdrop get` + `cipherdrop put` of 1 GiB, {suite} | {:.1} ({got:.1} + {put:.1}) | 1 GiB | 1 GiB | 0 | 1 GiB |",
            got + put
        );
        println!("| re-key of the stored 1 GiB file, {suite} (a job) | {secs:.1} | {moved} | 0 |");
    }
    // Many small files: how fast a rotation goes at a given KMS rate.
    let files: usize = std::env::var("BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mut key = new_issuing_key(&kms).await;
    for i in 0..files {
        alice
            .upload(
                &cipherdrop_testkit::data(1024, i as u64),
                SUITE_COMMIT_KEY,
                4096,
            )
            .await
            .unwrap();
    }
    println!("\n| {files} files of 1 KiB | s | files/s |\n|---|---|---|");
    for rate in [50, 500] {
        let next = new_issuing_key(&kms).await;
        let secs = rotate(dir.path(), &key, &next, rate).await;
        key = next;
        println!(
            "| at most {rate} KMS requests/s | {secs:.1} | {:.0} |",
            files as f64 / secs
        );
    }
}
