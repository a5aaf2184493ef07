//! Load benchmark of the embedded KMS: GenerateDataKey and Decrypt through the official
//! `aws-sdk-kms` over loopback at 1, 16 and 256 concurrent callers, plus the service's memory over
//! 100k calls. The service runs as its own process (`cipherdrop kms serve`), so its RSS is its own.
//!
//! `cargo bench -p cipherdrop-cli --bench kms_load` (client and service share the machine's cores).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::sync::Arc;

use cipherdrop_testkit::load::{LoadResult, closed_loop, cpu_secs, machine, rss_kib};

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;

/// The measured GenerateDataKey call (also used to make the blob Decrypt is measured on).
async fn generate(
    c: &Client,
    key: &str,
) -> Result<
    aws_sdk_kms::operation::generate_data_key::GenerateDataKeyOutput,
    aws_sdk_kms::error::SdkError<aws_sdk_kms::operation::generate_data_key::GenerateDataKeyError>,
> {
    c.generate_data_key()
        .key_id(key)
        .number_of_bytes(32)
        .encryption_context("object", "bench")
        .send()
        .await
}

#[derive(Clone, Copy)]
enum Op {
    GenerateDataKey,
    Decrypt,
}

async fn run(
    c: &Client,
    key: &str,
    blob: &Blob,
    op: Op,
    callers: usize,
    calls: usize,
) -> LoadResult {
    let (c, key, blob) = (c.clone(), key.to_owned(), blob.clone());
    closed_loop(callers, calls, move || {
        let (c, key, blob) = (c.clone(), key.clone(), blob.clone());
        async move {
            match op {
                Op::GenerateDataKey => generate(&c, &key).await.is_ok(),
                Op::Decrypt => c
                    .decrypt()
                    .ciphertext_blob(blob)
                    .encryption_context("object", "bench")
                    .send()
                    .await
                    .is_ok(),
            }
        }
    })
    .await
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cipherdrop"))
        .args(["kms", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_owned();
    let creds: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("credentials.json")).unwrap())
            .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = Arc::new(cipherdrop_testkit::kms_client(
            &format!("http://{addr}"),
            creds["access_key_id"].as_str().unwrap(),
            creds["secret_access_key"].as_str().unwrap(),
            false,
        ));
        let key = c.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
        let blob = generate(&c, &key).await
            .unwrap()
            .ciphertext_blob
            .unwrap();
        println!("machine: {}", machine());
        println!("\n| operation | callers | calls | calls/s | p50 ms | p99 ms | errors | service CPU µs/call |");
        println!("|---|---|---|---|---|---|---|---|");
        run(&c, &key, &blob, Op::Decrypt, 16, 2000).await; // warm-up
        for op in [Op::GenerateDataKey, Op::Decrypt] {
            for callers in [1usize, 16, 256] {
                let calls = if callers == 1 { 3000 } else { 20_480 };
                let cpu0 = cpu_secs(pid);
                let LoadResult { rate, p50, p99, errors } = run(&c, &key, &blob, op, callers, calls).await;
                let cpu = (cpu_secs(pid) - cpu0) / calls as f64 * 1e6;
                let name = match op { Op::GenerateDataKey => "GenerateDataKey", Op::Decrypt => "Decrypt" };
                println!("| {name} | {callers} | {calls} | {rate:.0} | {:.2} | {:.2} | {errors} | {cpu:.0} |",
                    p50.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3);
            }
        }
        println!("\nservice RSS over 100k Decrypt calls at 256 callers (KiB):");
        let mut samples = vec![rss_kib(pid)];
        for _ in 0..10 {
            run(&c, &key, &blob, Op::Decrypt, 256, 10_240).await;
            samples.push(rss_kib(pid));
        }
        println!("{samples:?}");
    });
    let _ = child.kill();
    let _ = child.wait();
}
