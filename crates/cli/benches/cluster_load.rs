//! Key releases (session, ownership, KMS Decrypt of the stored EDK, one audit row) at 64
//! clients on three set-ups sharing one KMS process and one S3 process: one replica on SQLite,
//! one replica on PostgreSQL, three replicas on PostgreSQL (the clients spread round-robin).
//! PostgreSQL is a throwaway cluster with its durable defaults (fsync, synchronous_commit on);
//! SQLite runs as the server runs it (WAL, synchronous NORMAL). Every process, the client's
//! included, shares this machine's cores: the figures say what one machine allows, not what
//! three machines would.
//!
//! `cargo bench -p cipherdrop-cli --bench cluster_load`
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::path::Path;
use std::time::Instant;

use cipherdrop_api::SUITE_COMMIT_KEY;
use cipherdrop_testkit::cluster::Cluster;
use cipherdrop_testkit::load::{LoadResult, closed_loop, cpu_secs, machine};
use cipherdrop_testkit::server::{Client, PASSWORD, ServerProcess};

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");
const CLIENTS: usize = 64;
const CALLS: usize = 6_400;

/// 64 clients releasing `id`'s key, client `i` through replica `i % n`.
async fn releases(clients: &[Client], id: &str, calls: usize) -> LoadResult {
    let clients = clients.to_vec();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let id = id.to_owned();
    closed_loop(CLIENTS, calls, move || {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let c = clients[i % clients.len()].clone();
        let id = id.clone();
        async move { c.key(&id).await.is_ok() }
    })
    .await
}

/// One set-up's row; `sqlite` when its database is the first replica's own file.
async fn run(cluster: &Cluster, name: &str, replicas: &[ServerProcess], sqlite: bool) {
    let first = replicas[0].client();
    first.login("alice", PASSWORD).await.unwrap();
    let id = first
        .upload(b"benchmark object", SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let clients: Vec<Client> = replicas
        .iter()
        .map(|r| {
            let mut c = first.clone();
            c.base.clone_from(&r.url);
            c
        })
        .collect();
    releases(&clients, &id, CALLS / 10).await; // warm-up
    let pids: Vec<u32> = replicas.iter().map(ServerProcess::pid).collect();
    let cpu0: f64 = pids.iter().map(|p| cpu_secs(*p)).sum();
    let rows0 = audit_rows(cluster, replicas, sqlite);
    let t = Instant::now();
    let r = releases(&clients, &id, CALLS).await;
    let secs = t.elapsed().as_secs_f64();
    let rows = audit_rows(cluster, replicas, sqlite) - rows0;
    let cpu = (pids.iter().map(|p| cpu_secs(*p)).sum::<f64>() - cpu0) / CALLS as f64 * 1e6;
    println!(
        "| {name} | {CLIENTS} | {CALLS} | {:.0} | {:.1} | {:.1} | {} | {:.0} | {cpu:.0} |",
        r.rate,
        r.p50.as_secs_f64() * 1e3,
        r.p99.as_secs_f64() * 1e3,
        r.errors,
        rows as f64 / secs,
    );
}

/// Audit rows so far: PostgreSQL's count, or the SQLite replica's own file's.
fn audit_rows(cluster: &Cluster, replicas: &[ServerProcess], sqlite: bool) -> u64 {
    if sqlite {
        let out =
            cipherdrop_testkit::server::sqlite(&replicas[0].data_dir, "SELECT count(*) FROM audit")
                .unwrap();
        return out[0][0].as_u64().unwrap();
    }
    cluster
        .sql("SELECT count(*) FROM audit")
        .unwrap()
        .parse()
        .unwrap()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cluster = Cluster::start_durable(Path::new(BIN)).await.unwrap();
        println!("machine: {}", machine());
        println!(
            "\n| set-up | clients | calls | releases/s | p50 ms | p99 ms | errors | audit rows/s | replicas' CPU µs/call |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        let quiet = [("RUST_LOG", "warn")];
        {
            // No database URL: the replica's own SQLite file.
            let sqlite = cluster.replica_with(&[], &quiet).unwrap();
            cipherdrop_testkit::server::add_user(Path::new(BIN), &sqlite.data_dir, "alice", PASSWORD, false)
                .unwrap();
            run(&cluster, "1 replica, SQLite", std::slice::from_ref(&sqlite), true).await;
        }
        cluster.add_user("alice", PASSWORD).unwrap();
        let url = [("RUST_LOG", "warn"), ("CIPHERDROP_DATABASE_URL", cluster.db_url.as_str())];
        let one = cluster.replica_with(&[], &url).unwrap();
        run(&cluster, "1 replica, PostgreSQL", std::slice::from_ref(&one), false).await;
        let more = [
            one,
            cluster.replica_with(&[], &url).unwrap(),
            cluster.replica_with(&[], &url).unwrap(),
        ];
        run(&cluster, "3 replicas, PostgreSQL", &more, false).await;
        let (intact, report) = cluster.audit_verify().unwrap();
        assert!(intact, "{report}");
        println!("\naudit chain after the runs: {}", report.trim());
        println!("load after: {}", machine());
    });
}
