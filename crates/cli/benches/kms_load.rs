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
use std::time::{Duration, Instant};

use aws_sdk_kms::Client;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::primitives::Blob;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) the process has used, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

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
) -> (f64, Duration, Duration, usize) {
    let per = calls / callers;
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..callers {
        let (c, key, blob) = (c.clone(), key.to_owned(), blob.clone());
        set.spawn(async move {
            let mut lat = Vec::with_capacity(per);
            let mut errors = 0;
            for _ in 0..per {
                let t = Instant::now();
                let ok = match op {
                    Op::GenerateDataKey => generate(&c, &key).await.is_ok(),
                    Op::Decrypt => c
                        .decrypt()
                        .ciphertext_blob(blob.clone())
                        .encryption_context("object", "bench")
                        .send()
                        .await
                        .is_ok(),
                };
                lat.push(t.elapsed());
                errors += usize::from(!ok);
            }
            (lat, errors)
        });
    }
    let mut all = Vec::with_capacity(calls);
    let mut errors = 0;
    while let Some(r) = set.join_next().await {
        let (l, e) = r.unwrap();
        all.extend(l);
        errors += e;
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    let p = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    (all.len() as f64 / secs, p(0.50), p(0.99), errors)
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
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                creds["access_key_id"].as_str().unwrap(),
                creds["secret_access_key"].as_str().unwrap(),
                None,
                None,
                "bench",
            ))
            .endpoint_url(format!("http://{addr}"))
            .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
            .build();
        let c = Arc::new(Client::from_conf(conf));
        let key = c.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
        let blob = generate(&c, &key).await
            .unwrap()
            .ciphertext_blob
            .unwrap();
        println!("machine: {} cores, load {}", std::thread::available_parallelism().map_or(0, |n| n.get()),
            std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" "));
        println!("\n| operation | callers | calls | calls/s | p50 ms | p99 ms | errors | service CPU µs/call |");
        println!("|---|---|---|---|---|---|---|---|");
        run(&c, &key, &blob, Op::Decrypt, 16, 2000).await; // warm-up
        for op in [Op::GenerateDataKey, Op::Decrypt] {
            for callers in [1usize, 16, 256] {
                let calls = if callers == 1 { 3000 } else { 20_480 };
                let cpu0 = cpu_secs(pid);
                let (rate, p50, p99, errors) = run(&c, &key, &blob, op, callers, calls).await;
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
