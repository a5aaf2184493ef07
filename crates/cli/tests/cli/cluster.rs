//! Replicas on one PostgreSQL: every guarantee of one server holds across three `cipherdrop
//! serve` processes sharing a throwaway cluster, the KMS and S3 processes: an upload passes
//! through all three, link limits and passphrase limits are counted once, the audit log stays
//! one chain, one replica sweeps at a time, a killed replica loses nothing, the database's
//! password rotates in Secrets Manager under load with no failed request, and a database outage
//! is answered 503 and recovered from.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cipherdrop_api::SUITE_COMMIT_KEY;
use cipherdrop_testkit::cluster::Cluster;
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{
    Client, Moto, PASSWORD, ServerProcess, esdk_decrypt, start_moto, status_of,
};

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");

/// `client` (its cookies: one browser) talking to `replica`.
fn at(client: &Client, replica: &ServerProcess) -> Client {
    let mut c = client.clone();
    c.base.clone_from(&replica.url);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_keep_every_guarantee() {
    let cluster = Cluster::start(Path::new(BIN)).await.unwrap();
    let r1 = cluster.replica(&[]).unwrap();
    let r2 = cluster.replica(&[]).unwrap();
    let r3 = cluster.replica(&[]).unwrap();
    assert!(
        r1.admin_token.is_some() && r2.admin_token.is_none() && r3.admin_token.is_none(),
        "only the first replica's start makes the admin"
    );
    let replicas = [&r1, &r2, &r3];
    cluster.add_user("alice", PASSWORD).unwrap();
    let alice = r1.client();
    alice.login("alice", PASSWORD).await.unwrap();

    // An upload created on replica 1 (its parts sent to S3), completed on replica 2 with the
    // same session, downloaded and decrypted through replica 3 and by the official ESDK.
    let plaintext = data(9 * 1024 * 1024 + 77, 1);
    let (up, parts) = alice
        .upload_parts(&plaintext, SUITE_COMMIT_KEY, 65536)
        .await
        .unwrap();
    at(&alice, &r2)
        .complete(&up.upload_id, &parts, b"sealed-name")
        .await
        .unwrap();
    let a3 = at(&alice, &r3);
    let id = up.object_id.clone();
    assert!(a3.download(&id).await.unwrap() == plaintext);
    let details = a3.details(&id).await.unwrap();
    let ciphertext = a3.download_ciphertext(&id).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let creds = (cluster.creds.0.as_str(), cluster.creds.1.as_str());
    let official = esdk_decrypt(
        &cluster.kms.url,
        creds,
        &details.key_arn,
        &ciphertext,
        dir.path(),
    )
    .unwrap();
    assert!(official == plaintext, "the official ESDK decrypts it");

    // 50 concurrent releases spread over the replicas on a limit-10 link: exactly 10.
    let link = Arc::new(
        alice
            .share(&id, serde_json::json!({"max_downloads": 10}))
            .await
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for i in 0..50 {
        let c = Client::new(&replicas[i % 3].url);
        let link = link.clone();
        tasks.push(tokio::spawn(async move {
            c.share_key(link.token(), None)
                .await
                .map_err(|e| status_of(&e))
        }));
    }
    let mut given = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(release) => {
                given += 1;
                if given == 1 {
                    assert!(link.fetch(&release).await.unwrap() == plaintext);
                }
            }
            Err(status) => assert_eq!(status, 410, "a spent link says gone"),
        }
    }
    assert_eq!(given, 10, "the limit holds across replicas");
    // The owner's views of links and tokens work on PostgreSQL too (the downloads every replica
    // counted, seen from another).
    let (_, listed) = at(&alice, &r3)
        .call(
            reqwest::Method::GET,
            &format!("/api/objects/{id}/shares"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(listed["shares"][0]["downloads"], 10);
    assert_eq!(listed["shares"][0]["new_downloads"], 10);
    at(&alice, &r2)
        .call(reqwest::Method::GET, "/api/tokens", None)
        .await
        .unwrap();
    // A file request on PostgreSQL: a sender's file arrives through replica 2 within the
    // request's limits, the next one is refused through replica 3.
    let token = &alice
        .open_request(serde_json::json!({"title": "forms", "max_files": 1, "max_bytes": 1_000_000}))
        .await
        .unwrap();
    let form = data(30_000, 4);
    let (receipt, _, _) = Client::new(&r2.url)
        .send_to_request(token, None, &form)
        .await
        .unwrap();
    assert!(at(&alice, &r1).download(&receipt.reference).await.unwrap() == form);
    let e = Client::new(&r3.url)
        .send_to_request(token, None, b"more")
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 410);
    // A link to two files on PostgreSQL: one counted release gives both; deleting the lead file
    // hands the link to the other.
    let second_bytes = data(5_000, 2);
    let second = alice
        .upload(&second_bytes, SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let spare = alice
        .upload(&data(10, 3), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let set = alice
        .share_set(
            &[(&spare, "a/spare"), (&second, "a/second")],
            serde_json::json!({}),
        )
        .await
        .unwrap();
    let release = Client::new(&r2.url)
        .share_key(set.token(), None)
        .await
        .unwrap();
    assert_eq!(release.items.len(), 2);
    at(&alice, &r3)
        .call(
            reqwest::Method::DELETE,
            &format!("/api/objects/{spare}"),
            None,
        )
        .await
        .unwrap();
    let release = Client::new(&r1.url)
        .share_key(set.token(), None)
        .await
        .unwrap();
    assert_eq!(release.items.len(), 1);
    assert!(set.fetch_item(&release, &release.items[0]).await.unwrap() == second_bytes);

    // Wrong passphrases spread over the replicas share one limit (5 per link): 12 concurrent
    // guesses, 4 from each replica, and only 5 are checked.
    let guarded = Arc::new(
        alice
            .share(
                &id,
                serde_json::json!({"passphrase": "the right passphrase 42"}),
            )
            .await
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for i in 0..12 {
        // Each guess from its own client address would not share the network's count; all
        // come from 127.0.0.1 here, whose limit (20) is above the link's.
        let c = Client::new(&replicas[i % 3].url);
        let guarded = guarded.clone();
        tasks.push(tokio::spawn(async move {
            c.share_key(guarded.token(), Some(&format!("wrong guess {i}")))
                .await
                .map(|_| 200)
                .unwrap_or_else(|e| status_of(&e))
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, limited), (5, 7), "{statuses:?}");
    // Still limited on every replica, even with the right passphrase.
    for r in replicas {
        let e = Client::new(&r.url)
            .share_key(guarded.token(), Some("the right passphrase 42"))
            .await
            .unwrap_err();
        assert_eq!(status_of(&e), 429);
    }

    // The account's metadata key, first asked for by 30 requests at once over all replicas:
    // one key, one row (whoever inserted first; the others decrypt it).
    let firsts = futures_util::future::join_all((0..30).map(|i| {
        let c = at(&alice, replicas[i % 3]);
        async move { c.metadata_key(None).await.unwrap() }
    }))
    .await;
    assert!(
        firsts.iter().all(|f| *f == (1, firsts[0].1)),
        "{}",
        firsts.len()
    );
    assert_eq!(
        cluster.sql("SELECT count(*) FROM metadata_keys").unwrap(),
        "1"
    );

    // Concurrent load on all three (uploads and releases write audit rows everywhere), then
    // the chain verifies as one.
    let load = |i: usize| {
        let c = at(&alice, replicas[i]);
        async move {
            for j in 0..4 {
                let bytes = data(10_000 + j, (i * 10 + j) as u64);
                let id = c.upload(&bytes, SUITE_COMMIT_KEY, 4096).await.unwrap();
                assert!(c.download(&id).await.unwrap() == bytes);
            }
        }
    };
    tokio::join!(load(0), load(1), load(2));
    let (intact, report) = cluster.audit_verify().unwrap();
    assert!(intact, "{report}");
    for r in replicas {
        assert!(
            !r.logs().contains("error returned from database"),
            "{}",
            r.logs()
        );
    }
    let rows: usize = cluster
        .sql("SELECT count(*) FROM audit")
        .unwrap()
        .parse()
        .unwrap();
    assert!(rows > 60, "{rows} rows");

    // A replica killed mid-upload: the parts it signed are in S3, and another replica finishes.
    let mut r1 = r1;
    let bytes = data(6 * 1024 * 1024 + 5, 9);
    let (up, parts) = alice
        .upload_parts(&bytes, SUITE_COMMIT_KEY, 65536)
        .await
        .unwrap();
    r1.kill();
    let a2 = at(&alice, &r2);
    a2.complete(&up.upload_id, &parts, b"sealed-name")
        .await
        .unwrap();
    assert!(at(&alice, &r3).download(&up.object_id).await.unwrap() == bytes);
    let (intact, report) = cluster.audit_verify().unwrap();
    assert!(intact, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_sweeps_at_a_time() {
    let cluster = Cluster::start(Path::new(BIN)).await.unwrap();
    let flags = ["--abandon-after-secs", "2", "--sweep-interval-secs", "1"];
    let r1 = cluster.replica(&flags).unwrap();
    let _r2 = cluster.replica(&flags).unwrap();
    let _r3 = cluster.replica(&flags).unwrap();
    cluster.add_user("alice", PASSWORD).unwrap();
    let alice = r1.client();
    alice.login("alice", PASSWORD).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..15 {
        ids.push(alice.open_upload(100_000).await.unwrap().upload_id);
    }
    // Wrong passwords past bob's limit (5), spread over the replicas: the refusals are summed up
    // in one audit row by whichever replica sweeps next.
    cluster.add_user("bob", PASSWORD).unwrap();
    for i in 0..8 {
        let r = [&r1, &_r2, &_r3][i % 3];
        let e = Client::new(&r.url)
            .login("bob", "not bob's password")
            .await
            .unwrap_err();
        assert_eq!(status_of(&e), if i < 5 { 401 } else { 429 });
    }
    // Each abandoned upload is swept once: one "upload.aborted" row each, and no replica found
    // one another had just swept (its row would say "completed meanwhile").
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending: usize = cluster
            .sql("SELECT count(*) FROM objects WHERE state = 'pending'")
            .unwrap()
            .parse()
            .unwrap();
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{pending} uploads never swept");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Two more sweeps' time for any straggler to show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rows = cluster
        .sql(
            "SELECT object || ' ' || detail FROM audit WHERE action = 'upload.aborted' ORDER BY id",
        )
        .unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    assert_eq!(rows.len(), ids.len(), "{rows:#?}");
    for id in &ids {
        assert!(
            rows.contains(&format!("{id} abandoned upload swept").as_str()),
            "{id}: {rows:#?}"
        );
    }
    let summaries = cluster
        .sql("SELECT detail FROM audit WHERE action = 'login' AND actor = 'bob' AND outcome = 'denied'")
        .unwrap();
    // A sweep may fall between two refusals, so they can be summed in more than one row; each
    // refusal is counted exactly once.
    let refused: u32 = summaries
        .lines()
        .filter(|l| l.contains("refused unchecked"))
        .map(|l| l.split_whitespace().next().unwrap().parse::<u32>().unwrap())
        .sum();
    assert_eq!(refused, 3, "{summaries}");
    let (intact, report) = cluster.audit_verify().unwrap();
    assert!(intact, "{report}");
    for r in [&r1, &_r2, &_r3] {
        assert!(
            !r.logs().contains("error returned from database"),
            "{}",
            r.logs()
        );
    }
}

/// Requests through `replicas` in `workers` loops until `stop`: each lists the account's files
/// (a database read) and makes a login session (a write); returns (ok, failed) with the first
/// failures' words.
fn request_loop(
    clients: Vec<Client>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, Vec<String>)> {
    tokio::spawn(async move {
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for c in clients {
            let (ok, failed, stop) = (ok.clone(), failed.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    match c.call(reqwest::Method::GET, "/api/objects", None).await {
                        Ok(_) => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => failed.lock().unwrap().push(format!("{e:#}")),
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let failed = failed.lock().unwrap().clone();
        (ok.load(Ordering::SeqCst), failed)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_gives_503_then_full_service() {
    let mut cluster = Cluster::start(Path::new(BIN)).await.unwrap();
    let r1 = cluster.replica(&[]).unwrap();
    let r2 = cluster.replica(&[]).unwrap();
    cluster.add_user("alice", PASSWORD).unwrap();
    let alice = r1.client();
    alice.login("alice", PASSWORD).await.unwrap();
    let bytes = data(300_000, 3);
    let id = alice.upload(&bytes, SUITE_COMMIT_KEY, 4096).await.unwrap();

    cluster.pg.stop();
    let started = Instant::now();
    for c in [at(&alice, &r1), at(&alice, &r2)] {
        let e = c
            .call(reqwest::Method::GET, "/api/objects", None)
            .await
            .unwrap_err();
        assert_eq!(status_of(&e), 503, "{e:#}");
        assert!(
            format!("{e:#}").contains("cannot reach its database"),
            "{e:#}"
        );
        // An upload while it is down is refused as clearly, and leaves nothing behind.
        let e = c.open_upload(1000).await.unwrap_err();
        assert_eq!(status_of(&e), 503, "{e:#}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "answered within the acquire timeout"
    );
    cluster.pg.run().unwrap();
    // Full service on both, nothing lost.
    for r in [&r1, &r2] {
        let c = at(&alice, r);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match c.call(reqwest::Method::GET, "/api/objects", None).await {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    assert_eq!(status_of(&e), 503, "{e:#}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no service after the restart: {e:#}"),
            }
        }
        assert!(c.download(&id).await.unwrap() == bytes);
        let again = data(50_000, 4);
        let id2 = c.upload(&again, SUITE_COMMIT_KEY, 4096).await.unwrap();
        assert!(c.download(&id2).await.unwrap() == again);
    }
    let pending: usize = cluster
        .sql("SELECT count(*) FROM objects WHERE state = 'pending'")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(pending, 0, "the refused uploads left no rows");
    let (intact, report) = cluster.audit_verify().unwrap();
    assert!(intact, "{report}");
}

/// `tests/py/aws_secrets.py` against moto; its output.
fn secrets(moto: &Moto, args: &[&str]) -> String {
    let out = std::process::Command::new(cipherdrop_testkit::python())
        .arg(cipherdrop_testkit::repo_root().join("tests/py/aws_secrets.py"))
        .args(args)
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws_secrets.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The secret RDS rotation keeps for the cluster's database, with `password`.
fn rds_secret(cluster: &Cluster, password: &str) -> String {
    serde_json::json!({
        "engine": "postgres", "host": "127.0.0.1", "port": cluster.pg.port,
        "username": "cipherdrop", "password": password, "dbname": "cipherdrop",
        "dbInstanceIdentifier": "cipherdrop-test"
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_password_rotates_in_secrets_manager_with_no_failed_request() {
    use cipherdrop_testkit::cluster::DB_PASSWORD;
    let cluster = Cluster::start(Path::new(BIN)).await.unwrap();
    let moto = start_moto().unwrap();
    let id = "prod/cipherdrop/db";
    secrets(
        &moto,
        &["create-secret", id, &rds_secret(&cluster, DB_PASSWORD)],
    );
    // Connections live one second, so new ones are opened all through the rotation.
    let flags = [
        "--database-secret-id",
        id,
        "--secrets-endpoint",
        &moto.url,
        "--secrets-region",
        "us-east-1",
        "--database-refresh-secs",
        "2",
        "--database-max-lifetime-secs",
        "1",
        "--database-max-connections",
        "4",
    ];
    let r1 = cluster.replica_with(&flags, &[]).unwrap();
    let r2 = cluster.replica_with(&flags, &[]).unwrap();
    cluster.add_user("alice", PASSWORD).unwrap();
    let alice = r1.client();
    alice.login("alice", PASSWORD).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let clients = (0..8)
        .map(|i| at(&alice, if i % 2 == 0 { &r1 } else { &r2 }))
        .collect();
    let load = request_loop(clients, stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;

    // RDS's single-user rotation: createSecret (AWSPENDING), setSecret (the role's password),
    // then, a while later, finishSecret (AWSCURRENT moves). Between the last two, AWSCURRENT no
    // longer works and only AWSPENDING does.
    let new_password = format!("rotated-{:032x}", rand::random::<u128>());
    let version = secrets(
        &moto,
        &["put-pending", id, &rds_secret(&cluster, &new_password)],
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster
        .sql(&format!("ALTER ROLE cipherdrop PASSWORD '{new_password}'"))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    secrets(&moto, &["promote", id, &version]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, Ordering::SeqCst);
    let (ok, failed) = load.await.unwrap();
    assert!(
        failed.is_empty(),
        "{} failed: {:#?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(ok > 100, "only {ok} requests");
    // The old password is refused by now, so every connection after the rotation was opened
    // with the new one; and both replicas met the refusal and read the secret again.
    let old = cluster.pg.url("cipherdrop", DB_PASSWORD, "cipherdrop");
    let refused = std::process::Command::new("psql")
        .args([&old, "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    for r in [&r1, &r2] {
        let logs = r.logs();
        assert!(logs.contains("refused its credentials"), "{logs}");
        assert!(!logs.contains(&new_password) && !logs.contains(DB_PASSWORD));
        let c = at(&alice, r);
        let bytes = data(20_000, 5);
        let id = c.upload(&bytes, SUITE_COMMIT_KEY, 4096).await.unwrap();
        assert!(c.download(&id).await.unwrap() == bytes);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_credentials_from_parameter_store_and_clear_errors_for_bad_secrets() {
    use cipherdrop_testkit::cluster::DB_PASSWORD;
    let cluster = Cluster::start(Path::new(BIN)).await.unwrap();
    let moto = start_moto().unwrap();
    let aws = [
        "--secrets-endpoint",
        &moto.url,
        "--secrets-region",
        "us-east-1",
    ];

    // The password in an SSM SecureString, the rest in the URL.
    secrets(&moto, &["put-parameter", "/prod/db/password", DB_PASSWORD]);
    let no_password = cluster
        .pg
        .url("cipherdrop", "", "cipherdrop")
        .replace(":@", "@");
    let mut flags = vec![
        "--database-url",
        &no_password,
        "--database-password-parameter",
        "/prod/db/password",
    ];
    flags.extend_from_slice(&aws);
    let r = cluster.replica_with(&flags, &[]).unwrap();
    assert!(r.admin_token.is_some());
    let admin = r.client();
    admin
        .login_link(r.admin_token.as_deref().unwrap())
        .await
        .unwrap();
    admin
        .call(reqwest::Method::GET, "/api/objects", None)
        .await
        .unwrap();

    // A master password RDS manages: its secret holds only the user and password; the URL
    // says where the database is.
    let managed = serde_json::json!({"username": "cipherdrop", "password": DB_PASSWORD});
    secrets(
        &moto,
        &["create-secret", "rds!db-managed", &managed.to_string()],
    );
    let mut flags = vec![
        "--database-secret-id",
        "rds!db-managed",
        "--database-url",
        &no_password,
    ];
    flags.extend_from_slice(&aws);
    let r2 = cluster.replica_with(&flags, &[]).unwrap();
    let c = r2.client();
    c.login_link(r.admin_token.as_deref().unwrap())
        .await
        .expect_err("the first-start link was used");
    admin.set_password(None, PASSWORD).await.unwrap();
    c.login("admin", PASSWORD).await.unwrap();
    drop(r2);

    // A missing secret, a wrong password in a secret, a secret that is not RDS's JSON, a
    // managed secret with no URL, a URL with a password of its own beside a secret, a missing
    // parameter: each stops the start with the secret's name and never its value.
    let wrong = format!("wrong-{:016x}", rand::random::<u64>());
    secrets(
        &moto,
        &[
            "create-secret",
            "wrong/password",
            &rds_secret(&cluster, &wrong),
        ],
    );
    let garbled = format!("{{\"password\": \"{wrong}\", \"port\": \"{wrong}\"");
    secrets(&moto, &["create-secret", "not/json", &garbled]);
    let with_password = cluster.pg.url("cipherdrop", &wrong, "cipherdrop");
    let cases: [(&[&str], &str); 6] = [
        (
            &["--database-secret-id", "no/such/secret"],
            "secret no/such/secret (AWSCURRENT): ResourceNotFoundException",
        ),
        (
            &["--database-secret-id", "wrong/password"],
            "with the credentials in secret wrong/password",
        ),
        (
            &["--database-secret-id", "not/json"],
            "secret not/json: is not the JSON RDS keeps",
        ),
        (
            &["--database-secret-id", "rds!db-managed"],
            "secret rds!db-managed: names no host",
        ),
        (
            &[
                "--database-secret-id",
                "rds!db-managed",
                "--database-url",
                &with_password,
            ],
            "a --database-url that has a password of its own",
        ),
        (
            &[
                "--database-url",
                &no_password,
                "--database-password-parameter",
                "/no/such/parameter",
            ],
            "parameter /no/such/parameter: ParameterNotFound",
        ),
    ];
    for (args, expected) in cases {
        let mut flags = args.to_vec();
        flags.extend_from_slice(&aws);
        let e = match cluster.replica_with(&flags, &[]) {
            Ok(_) => panic!("{args:?} started"),
            Err(e) => format!("{e:#}"),
        };
        assert!(e.contains(expected), "{args:?}: {e}");
        assert!(!e.contains(&wrong) && !e.contains(DB_PASSWORD), "{e}");
    }
    let wrong_pw = cluster
        .replica_with(
            &[
                "--database-secret-id",
                "wrong/password",
                aws[0],
                aws[1],
                aws[2],
                aws[3],
            ],
            &[],
        )
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(
        wrong_pw.contains("password authentication failed"),
        "{wrong_pw}"
    );
}

/// A rolling restart under load fails no request: two replicas behind a balancer that sends
/// requests only to replicas whose `/readyz` answered 200 at its last probe (every 100 ms, as a
/// load balancer's health check), four clients listing files and releasing a data key in a
/// loop; one replica is stopped (SIGTERM: `/readyz` says `draining` while it still serves, then
/// it finishes what is in flight and exits cleanly) and a new one started in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_behind_a_readiness_checking_balancer_fails_no_request() {
    use std::sync::RwLock;
    let cluster = Cluster::start(Path::new(BIN)).await.unwrap();
    let drain = ["--drain-secs", "2"];
    let r1 = cluster.replica(&drain).unwrap();
    let r2 = cluster.replica(&drain).unwrap();
    cluster.add_user("alice", PASSWORD).unwrap();
    let alice = r1.client();
    alice.login("alice", PASSWORD).await.unwrap();
    let id = alice
        .upload(&data(20_000, 9), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();

    // The balancer: known replicas, and those ready at the last probe.
    let known = Arc::new(RwLock::new(vec![r1.url.clone(), r2.url.clone()]));
    let ready: Arc<RwLock<Vec<String>>> = Arc::new(RwLock::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    let prober = {
        let (known, ready, stop, probe) =
            (known.clone(), ready.clone(), stop.clone(), probe.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let urls = known.read().unwrap().clone();
                let mut up = Vec::new();
                for url in urls {
                    if let Ok(r) = probe.get(format!("{url}/readyz")).send().await
                        && r.status() == 200
                    {
                        up.push(url);
                    }
                }
                *ready.write().unwrap() = up;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    while ready.read().unwrap().len() < 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let served: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for w in 0..4usize {
        let (ready, stop, served, failures, alice, id) = (
            ready.clone(),
            stop.clone(),
            served.clone(),
            failures.clone(),
            alice.clone(),
            id.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut n = w;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let target = {
                    let up = ready.read().unwrap();
                    up.get(n % up.len().max(1)).cloned()
                };
                let Some(url) = target else {
                    failures.lock().unwrap().push("no ready replica".to_owned());
                    continue;
                };
                let mut c = alice.clone();
                c.base.clone_from(&url);
                let result = if n % 2 == 0 {
                    c.call(reqwest::Method::GET, "/api/objects", None)
                        .await
                        .map(drop)
                } else {
                    c.key(&id).await.map(drop)
                };
                match result {
                    Ok(()) => *served.lock().unwrap().entry(url).or_default() += 1,
                    Err(e) => failures.lock().unwrap().push(format!("{url}: {e:#}")),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Replica 1 stops: draining first, then gone, exiting cleanly.
    let r1_url = r1.url.clone();
    let stopping = tokio::task::spawn_blocking(move || {
        let mut r1 = r1;
        let started = Instant::now();
        let clean = r1.terminate();
        (clean, started.elapsed(), r1.logs())
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut saw_draining = false;
    while Instant::now() < deadline && !saw_draining {
        if let Ok(r) = probe.get(format!("{r1_url}/readyz")).send().await {
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            saw_draining = status == 503 && body["status"] == "draining";
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_draining, "replica 1 never said it was draining");
    let (clean, took, logs) = stopping.await.unwrap();
    assert!(clean, "replica 1 did not exit cleanly:\n{logs}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(30),
        "{took:?}"
    );

    // Its replacement joins once ready.
    let r3 = cluster.replica(&drain).unwrap();
    known.write().unwrap().retain(|u| *u != r1_url);
    known.write().unwrap().push(r3.url.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.read().unwrap().contains(&r3.url) {
        assert!(
            Instant::now() < deadline,
            "the new replica never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    prober.await.unwrap();
    let failures = failures.lock().unwrap().clone();
    let served = served.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    for url in [&r1_url, &r2.url, &r3.url] {
        assert!(
            served.get(url).copied().unwrap_or(0) > 0,
            "{url} served nothing: {served:?}"
        );
    }
}
