//! Load benchmark of the backend with the embedded KMS and S3: create-upload (GenerateDataKey,
//! CreateMultipartUpload, one presigned URL, database row, two audit rows) and key release
//! (session, ownership, KMS Decrypt of the stored EDK, audit row) at 16 and 256 concurrent
//! clients, then the server's memory over 100k key releases. The server is its own process
//! (`cipherdrop serve`), so RSS and CPU are its own; the client shares the machine's cores.
//!
//! `cargo bench -p cipherdrop-cli --bench server_load`
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::path::Path;

use cipherdrop_api::SUITE_COMMIT_KEY;
use cipherdrop_testkit::load::{LoadResult, closed_loop, cpu_secs, machine, rss_kib};
use cipherdrop_testkit::server::{Client, ServerProcess, setup_accounts};

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");

async fn key_release(c: Client, id: String, callers: usize, calls: usize) -> LoadResult {
    closed_loop(callers, calls, move || {
        let (c, id) = (c.clone(), id.clone());
        async move { c.key(&id).await.is_ok() }
    })
    .await
}

async fn create_upload(c: Client, callers: usize, calls: usize) -> LoadResult {
    closed_loop(callers, calls, move || {
        let c = c.clone();
        async move {
            c.create_upload(&cipherdrop_api::CreateUploadRequest {
                plaintext_size: 1 << 20,
                suite: SUITE_COMMIT_KEY,
                frame_length: 65536,
                public_key: None,
            })
            .await
            .is_ok()
        }
    })
    .await
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = ServerProcess::start(Path::new(BIN), dir.path(), &[], &[("RUST_LOG", "warn")]).unwrap();
        let pid = server.pid();
        let (_admin, alice, _bob) = setup_accounts(&server, Path::new(BIN)).await.unwrap();
        let id = alice.upload(b"benchmark object", SUITE_COMMIT_KEY, 4096).await.unwrap();
        println!("machine: {}", machine());
        println!("\n| operation | clients | calls | calls/s | p50 ms | p99 ms | errors | server CPU µs/call |");
        println!("|---|---|---|---|---|---|---|---|");
        key_release(alice.clone(), id.clone(), 16, 2000).await; // warm-up
        for callers in [16usize, 256] {
            for (name, calls) in [("create upload", 5_120usize), ("key release", 20_480)] {
                let cpu0 = cpu_secs(pid);
                let r = if name == "key release" {
                    key_release(alice.clone(), id.clone(), callers, calls).await
                } else {
                    create_upload(alice.clone(), callers, calls).await
                };
                let cpu = (cpu_secs(pid) - cpu0) / calls as f64 * 1e6;
                println!(
                    "| {name} | {callers} | {calls} | {:.0} | {:.2} | {:.2} | {} | {cpu:.0} |",
                    r.rate,
                    r.p50.as_secs_f64() * 1e3,
                    r.p99.as_secs_f64() * 1e3,
                    r.errors
                );
            }
        }
        println!("\nserver RSS over 100k key releases at 256 clients (KiB), and each block's rate:");
        let mut samples = vec![rss_kib(pid)];
        let mut rates = vec![];
        for _ in 0..10 {
            let r = key_release(alice.clone(), id.clone(), 256, 10_240).await;
            samples.push(rss_kib(pid));
            rates.push(r.rate.round());
        }
        println!("{samples:?}\n{rates:?}");
        let wal = std::fs::metadata(dir.path().join("cipherdrop.db-wal")).map_or(0, |m| m.len());
        let db = std::fs::metadata(dir.path().join("cipherdrop.db")).map_or(0, |m| m.len());
        println!("database {} MiB, WAL {} MiB", db >> 20, wal >> 20);
        println!("load after: {}", machine());
    });
}
