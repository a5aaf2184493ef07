//! `cipherdrop put` and `get` of 1 GiB through a `cipherdrop serve` with the embedded S3, against
//! the same bytes sent and fetched unencrypted through the same presigned URLs in the same run,
//! with the CLI's peak RSS (GNU `time`). Goals (issue): ≤ 1.2× the unencrypted time, ≤ 64 MiB.
//!
//! `cargo bench --profile dev --offline -p cipherdrop-cli --bench client_transfer`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cipherdrop_api::{CompletedPart, CreateUploadRequest, SUITE_COMMIT_KEY};
use cipherdrop_testkit::server::{ServerProcess, setup_accounts};
use futures_util::StreamExt as _;

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");
const GIB: usize = 1 << 30;

/// Runs the CLI under GNU `time`; (seconds, peak RSS in MiB, CPU seconds, stdout).
fn timed(env: &[(&str, &str)], args: &[&str]) -> (f64, f64, f64, String) {
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%e %M %U %S", BIN]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap();
    let mut it = last.split_whitespace();
    let secs: f64 = it.next().unwrap().parse().unwrap();
    let kib: f64 = it.next().unwrap().parse().unwrap();
    let user: f64 = it.next().unwrap().parse().unwrap();
    let sys: f64 = it.next().unwrap().parse().unwrap();
    (
        secs,
        kib / 1024.0,
        user + sys,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(Path::new(BIN), dir.path(), &[], &[]).unwrap();
    let (_admin, alice, _bob) = setup_accounts(&server, Path::new(BIN)).await.unwrap();
    let out = Command::new(BIN)
        .args(["user", "token", "create", "alice", "--name", "bench"])
        .args(["--scope", "read", "--scope", "write", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let token = printed
        .split_whitespace()
        .find(|w| w.starts_with("cdt_"))
        .unwrap()
        .to_owned();
    let env = [
        ("CIPHERDROP_URL", server.url.as_str()),
        ("CIPHERDROP_TOKEN", token.as_str()),
    ];
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("one-gib.bin");
    let data = cipherdrop_testkit::data(GIB, 3);
    std::fs::write(&file, &data).unwrap();

    // The reference: the same bytes through the same presigned part URLs, unencrypted, 4 parts
    // at once (a sliding window, as the CLI keeps), then completion, so that S3's assembly is in
    // both figures. The bytes are padded to the declared ciphertext's length so that every part
    // URL (which signs its length) takes them; the server then finds no message in what S3
    // assembled, deletes it and answers 422, which is the end of the reference's work.
    let up = alice
        .create_upload(&CreateUploadRequest {
            plaintext_size: GIB as u64,
            suite: SUITE_COMMIT_KEY,
            frame_length: 65536,
            public_key: None,
        })
        .await
        .unwrap();
    let part = usize::try_from(up.part_size).unwrap();
    let mut padded = data.clone();
    padded.resize(usize::try_from(up.ciphertext_size).unwrap(), 0x5a);
    let chunks: Vec<(u32, bytes::Bytes)> = padded
        .chunks(part)
        .enumerate()
        .map(|(i, c)| {
            (
                u32::try_from(i + 1).unwrap(),
                bytes::Bytes::copy_from_slice(c),
            )
        })
        .collect();
    drop(padded);
    let start = Instant::now();
    let sent: Vec<CompletedPart> = futures_util::stream::iter(chunks)
        .map(|(n, bytes)| {
            let c = alice.clone();
            let id = up.upload_id.clone();
            async move {
                let url = c.part_urls(&id, n, 1).await.unwrap()[0].url.clone();
                let etag = c.put_part(&url, bytes.to_vec()).await.unwrap();
                CompletedPart {
                    part_number: n,
                    etag,
                }
            }
        })
        .buffered(4)
        .collect()
        .await;
    let refused = alice
        .complete(&up.upload_id, &sent, b"x")
        .await
        .unwrap_err();
    assert_eq!(cipherdrop_testkit::server::status_of(&refused), 422);
    let put_ref = start.elapsed().as_secs_f64();

    let (put_secs, put_mib, put_cpu, ids) = timed(&env, &["put", file.to_str().unwrap()]);
    let id = ids.trim().to_owned();

    // The reference download: the stored bytes through the presigned GET, not decrypted; before
    // and after the CLI's, so that neither alone has a warm page cache (the faster is reported).
    let reference = || async {
        let start = Instant::now();
        let stored = alice.download_ciphertext(&id).await.unwrap();
        drop(stored);
        start.elapsed().as_secs_f64()
    };
    let before = reference().await;
    let target = work.path().join("back.bin");
    let (get_secs, get_mib, get_cpu, _) =
        timed(&env, &["get", &id, "-o", target.to_str().unwrap()]);
    let get_ref = before.min(reference().await);
    assert!(
        std::fs::read(&target).unwrap() == data,
        "the round trip differs"
    );

    println!(
        "1 GiB through `cipherdrop serve` + the embedded S3 on 127.0.0.1 (s; MB/s; peak RSS)\n"
    );
    println!("| what | s | MB/s | × reference | CLI peak RSS | CLI CPU s |");
    println!("|---|---|---|---|---|---|");
    let mbs = |s: f64| GIB as f64 / s / 1e6;
    println!(
        "| unencrypted PUTs to the same presigned URLs (4 at once), then completion | {put_ref:.1} | {:.0} | 1.00 | |",
        mbs(put_ref)
    );
    println!(
        "| `cipherdrop put` (0x0478, 64 KiB frames, 4 parts at once) | {put_secs:.1} | {:.0} | {:.2} | {put_mib:.0} MiB | {put_cpu:.1} |",
        mbs(put_secs),
        put_secs / put_ref
    );
    println!(
        "| unencrypted GET of the stored object (into memory) | {get_ref:.1} | {:.0} | 1.00 | |",
        mbs(get_ref)
    );
    println!(
        "| `cipherdrop get` (verify, decrypt, write a file) | {get_secs:.1} | {:.0} | {:.2} | {get_mib:.0} MiB | {get_cpu:.1} |",
        mbs(get_secs),
        get_secs / get_ref
    );
}
