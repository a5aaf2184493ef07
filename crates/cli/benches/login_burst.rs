//! Peak server memory during a burst of concurrent bad logins: 500 at once, each under its own
//! name and from its own loopback address (so no guess limit applies and only the argon2 gate
//! bounds the checks), against `cipherdrop serve` with the default gate (one check per core) and
//! with the gate opened to 500 (what the server did before the gate). The server is its own
//! process, so its peak RSS (VmHWM) is its own.
//!
//! `cargo bench -p cipherdrop-cli --bench login_burst`
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use cipherdrop_testkit::load::{loopback_client, machine};
use cipherdrop_testkit::load::{peak_rss_kib, reset_peak_rss};
use cipherdrop_testkit::server::ServerProcess;

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");
const BURST: u32 = 500;

/// `BURST` requests at once from distinct loopback addresses: bad logins, or (`login: false`)
/// unauthenticated `GET /api/me`, which costs the server a connection and no password check.
async fn burst(url: &str, login: bool) -> BTreeMap<u16, usize> {
    let clients: Vec<reqwest::Client> = (0..BURST).map(loopback_client).collect();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let request = if login {
                    c.post(format!("{url}/api/login")).json(
                        &serde_json::json!({"username": format!("nobody{i}"), "password": "wrong password!"}),
                    )
                } else {
                    c.get(format!("{url}/api/me"))
                };
                request.send().await.map_or(0, |r| r.status().as_u16())
            })
        })
        .collect();
    let mut by_status = BTreeMap::new();
    for t in tasks {
        *by_status.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    by_status
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("machine: {}", machine());
    println!(
        "\n| argon2 gate | answers by status | time s | server peak RSS before → during (MiB) |"
    );
    println!("|---|---|---|---|");
    for (label, args, login) in [
        ("no password checks (GET /api/me)", vec![], false),
        ("default (one per core, 64 waiting)", vec![], true),
        (
            "500 at once",
            vec![
                "--max-concurrent-hashes",
                "500",
                "--max-waiting-hashes",
                "500",
            ],
            true,
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let server =
                ServerProcess::start(Path::new(BIN), dir.path(), &args, &[("RUST_LOG", "warn")])
                    .unwrap();
            let pid = server.pid();
            // Warm: one login, so the process's steady state is the baseline.
            burst_one(&server.url).await;
            reset_peak_rss(pid).unwrap();
            let before = peak_rss_kib(pid).unwrap();
            let t = Instant::now();
            let answers = burst(&server.url, login).await;
            let secs = t.elapsed().as_secs_f64();
            let during = peak_rss_kib(pid).unwrap();
            println!(
                "| {label} | {answers:?} | {secs:.1} | {} → {} |",
                before / 1024,
                during / 1024
            );
        });
    }
    println!("\nload after: {}", machine());
}

async fn burst_one(url: &str) {
    let _ = reqwest::Client::new()
        .post(format!("{url}/api/login"))
        .json(&serde_json::json!({"username": "warm", "password": "wrong password!"}))
        .send()
        .await;
}
