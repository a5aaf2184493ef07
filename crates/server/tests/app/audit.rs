//! The audit log under concurrency: many appenders in one process (group commit) and a second
//! writer on the same database (another process) still make one intact chain with every row.
//! Signed checkpoints anchor the chain outside the database: a consistent rewrite by the
//! database's owner (a row edited, every later hash recomputed, the head moved) is found and named
//! by the first checkpoint that no longer matches, from the database or from an export with only
//! the public key; forged and edited checkpoints fail; rows after the last checkpoint are counted;
//! concurrent writers (two pools on SQLite, two replicas on PostgreSQL) record each head once;
//! copies land in the checkpoint bucket (locked, in moto's Object Lock bucket); the server writes
//! them every N rows and every T seconds.

use std::sync::Arc;
use std::time::Duration;

use cipherdrop_server::audit::{AuditLog, Event, GENESIS, page, row_hash, verify, verify_with};
use cipherdrop_server::checkpoints::{self, Checkpoint, Checkpointer, PublicKey, Settings};
use cipherdrop_server::db::Db;

use crate::util::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_make_one_intact_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cipherdrop.db");
    let server = Arc::new(AuditLog::new(
        cipherdrop_server::db::open(&path).await.unwrap(),
    ));
    // A second log over its own pool, as the `cipherdrop` command would open it.
    let other = Arc::new(AuditLog::new(
        cipherdrop_server::db::open(&path).await.unwrap(),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..400 {
        let log = if i % 10 == 0 {
            other.clone()
        } else {
            server.clone()
        };
        tasks.spawn(async move {
            let detail = format!("event {i}");
            log.append(&Event {
                actor: "tester",
                action: "test",
                outcome: "ok",
                detail: &detail,
                ..Default::default()
            })
            .await
            .unwrap();
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let pool = cipherdrop_server::db::open(&path).await.unwrap();
    let report = verify(&pool).await.unwrap();
    assert_eq!(report.rows, 400);
    let head = cipherdrop_server::audit::page(&pool, 0, 3).await.unwrap();
    assert!(
        report.problems.is_empty(),
        "{:?} {head:#?}",
        report.problems
    );
    let page = cipherdrop_server::audit::page(&pool, 0, 1000)
        .await
        .unwrap();
    let mut details: Vec<String> = page.iter().map(|e| e.detail.clone()).collect();
    details.sort();
    details.dedup();
    assert_eq!(details.len(), 400, "every event exactly once");
}

// Signed checkpoints: the chain anchored outside the database.

/// The signing key's alias in the embedded KMS.
const SIGNING_ALIAS: &str = "alias/cipherdrop-audit";

/// An app whose configuration signs checkpoints with [`SIGNING_ALIAS`] (made here, after the
/// start, as `serve` makes its key), adjusted by `configure`.
async fn app_with_checkpoints(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let app = TestApp::start_with(|c| {
        let mut s = Settings::new(SIGNING_ALIAS);
        s.every_rows = 1_000_000;
        s.every = Duration::from_secs(3600);
        configure(&mut s);
        c.audit_checkpoints = Some(s);
    })
    .await;
    let kms = app.kms();
    let key = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::EccNistP384)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    kms.create_alias()
        .alias_name(SIGNING_ALIAS)
        .target_key_id(key.key_metadata.unwrap().key_id)
        .send()
        .await
        .unwrap();
    app
}

/// The server's AWS clients, as a second writer (another replica) would have them.
fn aws_of(app: &TestApp) -> cipherdrop_server::Aws {
    aws_with_s3_at(app, &app.s3_url)
}

/// [`aws_of`] with S3 at `s3_url`.
fn aws_with_s3_at(app: &TestApp, s3_url: &str) -> cipherdrop_server::Aws {
    let creds =
        cipherdrop_s3::Credentials::load_or_create(&app.dir().join("s3-credentials.json")).unwrap();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            &creds.access_key_id,
            &creds.secret_access_key,
            None,
            None,
            "tests",
        ))
        .endpoint_url(s3_url)
        .force_path_style(true)
        .build();
    cipherdrop_server::Aws {
        kms: app.kms(),
        s3: aws_sdk_s3::Client::from_conf(conf),
    }
}

/// A checkpoint writer over `db` signing with the app's key, as the server's own.
fn writer(app: &TestApp, db: Db, configure: impl FnOnce(&mut Settings)) -> Checkpointer {
    let mut s = Settings::new(SIGNING_ALIAS);
    configure(&mut s);
    Checkpointer::new(db, aws_of(app), s)
}

/// The signing key's public key, from KMS GetPublicKey: all a verifier needs.
async fn public_key(app: &TestApp) -> PublicKey {
    let (_, der) = aws_of(app).public_key(SIGNING_ALIAS).await.unwrap();
    PublicKey::from_der(&der).unwrap()
}

pub(crate) async fn append(db: &Db, n: usize, what: &str) {
    let log = AuditLog::new(db.clone());
    for i in 0..n {
        let detail = format!("{what} {i}");
        log.append(&Event {
            actor: "tester",
            action: "test",
            outcome: "ok",
            detail: &detail,
            ..Default::default()
        })
        .await
        .unwrap();
    }
}

/// What the database's owner can do: edit row `id` and re-hash it and every row after it with the
/// chain's own function, move the head, all with the triggers out of the way and put back after.
async fn rewrite_chain_from(app: &TestApp, id: i64, detail: &str) {
    app.sql("DROP TRIGGER audit_no_update").await;
    let rows = page(&app.db, 0, 1_000_000).await.unwrap();
    let mut prev = if id == 1 {
        GENESIS.to_owned()
    } else {
        rows[usize::try_from(id - 2).unwrap()].hash.clone()
    };
    for mut e in rows.into_iter().filter(|e| e.id >= id) {
        if e.id == id {
            e.detail = detail.to_owned();
        }
        e.prev_hash = prev;
        e.hash = row_hash(&e.prev_hash, &e);
        sqlx::query("UPDATE audit SET detail = $1, prev_hash = $2, hash = $3 WHERE id = $4")
            .bind(&e.detail)
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .bind(e.id)
            .execute(&app.db)
            .await
            .unwrap();
        prev = e.hash;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE one = 1")
        .bind(&prev)
        .execute(&app.db)
        .await
        .unwrap();
    app.sql(
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_chain_fails_at_the_first_checkpoint_after_the_edit() {
    let app = app_with_checkpoints(|_| {}).await;
    let key = public_key(&app).await;
    let signer = writer(&app, app.db.clone(), |_| {});
    let mut made = Vec::new();
    for round in 0..3 {
        append(&app.db, 10, &format!("round {round}")).await;
        made.push(signer.checkpoint_now().await.unwrap().unwrap());
    }
    let report = verify_with(&app.db, Some(std::slice::from_ref(&key)))
        .await
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(
        (report.checkpoints.verified, report.checkpoints.uncovered),
        (3, 0)
    );
    let last = page(&app.db, 0, 1_000_000)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    assert_eq!(
        made[2].audit_id, last,
        "the last checkpoint covers the head"
    );

    // The attack: a row between the first and second checkpoints is rewritten, and everything
    // after it re-hashed consistently.
    let target = made[0].audit_id + 3;
    rewrite_chain_from(&app, target, "nothing happened here").await;
    let rewritten = page(&app.db, target - 1, 1).await.unwrap();
    assert_eq!(rewritten[0].detail, "nothing happened here");

    let report = verify_with(&app.db, Some(std::slice::from_ref(&key)))
        .await
        .unwrap();
    // The chain alone holds: every row links and hashes, the head matches; only a checkpoint
    // can tell.
    assert!(
        report.problems.iter().all(|p| p.contains("checkpoint")),
        "{:?}",
        report.problems
    );
    assert!(!report.problems.is_empty(), "the rewrite went unnoticed");
    let first = report.checkpoints.first_failed.clone().unwrap();
    assert_eq!(first, made[1].describe(), "{:?}", report.problems);
    assert!(
        first.contains(&format!("row {}", made[1].audit_id))
            && first.contains(&checkpoints::utc(made[1].created_ms)),
        "{first}"
    );
    assert!(
        report.problems[0].contains("no longer matches the chain"),
        "{:?}",
        report.problems
    );
    assert_eq!(
        (report.checkpoints.verified, report.checkpoints.failed),
        (1, 2),
        "the checkpoint before the edit still holds; both after it fail"
    );
    assert_eq!(report.checkpoints.covered_to, made[0].audit_id);
    // Without signatures checked, the checkpoints' hashes still give it away.
    let (intact, problems) = app.audit_verify().await;
    assert!(
        !intact && problems.contains("no longer matches"),
        "{problems}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_after_the_last_checkpoint_are_counted_as_uncovered() {
    let app = app_with_checkpoints(|_| {}).await;
    let key = public_key(&app).await;
    let signer = writer(&app, app.db.clone(), |_| {});
    let keys = [key];
    let report = verify_with(&app.db, Some(&keys)).await.unwrap();
    assert_eq!(report.checkpoints.total, 0);
    assert_eq!(report.checkpoints.uncovered, report.rows);

    append(&app.db, 10, "covered").await;
    let first = signer.checkpoint_now().await.unwrap().unwrap();
    assert!(
        signer.checkpoint_now().await.unwrap().is_none(),
        "nothing new: no second checkpoint of the same head"
    );
    append(&app.db, 7, "after").await;
    let report = verify_with(&app.db, Some(&keys)).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.checkpoints.verified, 1);
    assert_eq!(report.checkpoints.covered_to, first.audit_id);
    assert_eq!(report.checkpoints.uncovered, 7);

    let second = signer.checkpoint_now().await.unwrap().unwrap();
    assert_eq!(second.audit_id, first.audit_id + 7);
    let report = verify_with(&app.db, Some(&keys)).await.unwrap();
    assert_eq!(
        (report.checkpoints.verified, report.checkpoints.uncovered),
        (2, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_edited_checkpoints_fail() {
    use p384::ecdsa::signature::hazmat::PrehashSigner as _;
    use sha2::Digest as _;

    let app = app_with_checkpoints(|_| {}).await;
    let keys = [public_key(&app).await];
    let signer = writer(&app, app.db.clone(), |_| {});
    append(&app.db, 5, "before").await;
    let genuine = signer.checkpoint_now().await.unwrap().unwrap();
    append(&app.db, 5, "after").await;

    // The triggers keep checkpoints as they were signed.
    for sql in [
        "UPDATE audit_checkpoints SET hash = 'x'",
        "DELETE FROM audit_checkpoints",
    ] {
        let e = sqlx::query(sql).execute(&app.db).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }

    // A checkpoint of the current head, signed by a key of the attacker's own: it does not
    // verify with the signing key's public key.
    let head = page(&app.db, 0, 1_000_000).await.unwrap().pop().unwrap();
    let theirs = p384::ecdsa::SigningKey::from_bytes(&[42u8; 48].into()).unwrap();
    let mut forged = Checkpoint {
        audit_id: head.id,
        hash: head.hash.clone(),
        created_ms: genuine.created_ms + 1,
        key_arn: genuine.key_arn.clone(),
        algorithm: checkpoints::ALGORITHM.to_owned(),
        signature: Vec::new(),
    };
    let sig: p384::ecdsa::DerSignature = theirs
        .sign_prehash(&sha2::Sha384::digest(forged.message()))
        .unwrap();
    forged.signature = sig.as_bytes().to_vec();
    sqlx::query(
        "INSERT INTO audit_checkpoints (audit_id, hash, created_ms, key_arn, algorithm, signature)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(forged.audit_id)
    .bind(&forged.hash)
    .bind(forged.created_ms)
    .bind(&forged.key_arn)
    .bind(&forged.algorithm)
    .bind(&forged.signature)
    .execute(&app.db)
    .await
    .unwrap();
    let report = verify_with(&app.db, Some(&keys)).await.unwrap();
    assert_eq!(
        report.checkpoints.first_failed.as_deref(),
        Some(forged.describe().as_str()),
        "{:?}",
        report.problems
    );
    assert!(
        report.problems[0].contains("signature does not verify"),
        "{:?}",
        report.problems
    );
    assert_eq!(report.checkpoints.verified, 1);
    assert_eq!(
        report.checkpoints.uncovered, 5,
        "the forgery covers nothing"
    );

    // The genuine checkpoint, edited past its trigger (its time moved): its signature no longer
    // verifies either.
    app.sql("DROP TRIGGER audit_checkpoints_no_update").await;
    app.sql(&format!(
        "UPDATE audit_checkpoints SET created_ms = created_ms + 1000 WHERE audit_id = {}",
        genuine.audit_id
    ))
    .await;
    let report = verify_with(&app.db, Some(&keys)).await.unwrap();
    assert_eq!(report.checkpoints.verified, 0, "{:?}", report.problems);
    assert!(
        report
            .checkpoints
            .first_failed
            .as_deref()
            .unwrap()
            .contains(&format!("row {}", genuine.audit_id)),
        "{:?}",
        report.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_verifies_offline_with_only_the_public_key() {
    let app = app_with_checkpoints(|_| {}).await;
    let key = public_key(&app).await;
    let signer = writer(&app, app.db.clone(), |_| {});
    append(&app.db, 12, "exported").await;
    let cp = signer.checkpoint_now().await.unwrap().unwrap();
    append(&app.db, 3, "uncovered").await;
    let mut file = Vec::new();
    let done =
        cipherdrop_server::audit::export(&app.db, &mut file, Some((&cp.key_arn, &key)), None)
            .await
            .unwrap();
    assert_eq!(done.checkpoints, 1);
    let rows = page(&app.db, 0, 1_000_000).await.unwrap();
    assert_eq!(done.rows, rows.len() as u64);
    drop(app);

    // Only the file and the public key (as PEM, as a person would keep it) from here on.
    let pem = key.to_pem();
    let keys = [PublicKey::from_pem_or_der(pem.as_bytes()).unwrap()];
    let report = cipherdrop_server::audit::verify_export(&file[..], &keys).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.rows, rows.len() as u64);
    assert_eq!(
        (report.checkpoints.verified, report.checkpoints.uncovered),
        (1, 3)
    );

    // The same rewrite in the file: a covered row edited, the chain re-hashed from there.
    let text = String::from_utf8(file.clone()).unwrap();
    let mut prev = String::new();
    let mut out = String::new();
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["kind"] == "row" {
            let mut e: cipherdrop_api::AuditEntry = serde_json::from_value(v.clone()).unwrap();
            if e.id == 4 {
                e.detail = "rewritten".into();
            }
            if e.id >= 4 {
                e.prev_hash = prev.clone();
                e.hash = row_hash(&e.prev_hash, &e);
            }
            prev = e.hash.clone();
            v = serde_json::to_value(&e).unwrap();
            v["kind"] = "row".into();
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    // …and the head moved to match.
    let last = serde_json::json!({"kind": "head", "id": rows.len(), "hash": prev}).to_string();
    let out: String = out
        .lines()
        .map(|l| {
            if l.contains("\"kind\":\"head\"") {
                last.clone()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let report = cipherdrop_server::audit::verify_export(out.as_bytes(), &keys).unwrap();
    assert!(
        report.problems.iter().all(|p| p.contains("checkpoint")) && !report.problems.is_empty(),
        "{:?}",
        report.problems
    );
    assert_eq!(
        report.checkpoints.first_failed.as_deref(),
        Some(cp.describe().as_str())
    );

    // Another key does not vouch for the untouched file.
    let other = p384::ecdsa::SigningKey::from_bytes(&[9u8; 48].into()).unwrap();
    let point = other.verifying_key().to_sec1_point(false);
    let mut der = hex::decode("3076301006072a8648ce3d020106052b81040022036200").unwrap();
    der.extend_from_slice(point.as_bytes());
    let report =
        cipherdrop_server::audit::verify_export(&file[..], &[PublicKey::from_der(&der).unwrap()])
            .unwrap();
    assert_eq!(report.checkpoints.verified, 0);
    assert!(report.problems[0].contains("signature does not verify"));

    // A file cut short is refused, not passed.
    let cut: Vec<&str> = text.lines().take(2).collect();
    let cut = cut.join("\n");
    assert!(cipherdrop_server::audit::verify_export(cut.as_bytes(), &keys).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checkpoint_writers_record_each_head_once() {
    let app = app_with_checkpoints(|_| {}).await;
    let keys = [public_key(&app).await];
    // Two writers over their own pools on one database file (two processes), many tasks each,
    // while rows keep arriving.
    let path = app.dir().join("cipherdrop.db");
    let writers = [
        Arc::new(writer(&app, app.db.clone(), |_| {})),
        Arc::new(writer(
            &app,
            cipherdrop_server::db::open(&path).await.unwrap(),
            |_| {},
        )),
    ];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24 {
        let w = writers[i % 2].clone();
        tasks.spawn(async move { w.checkpoint_now().await });
    }
    let db = app.db.clone();
    tasks.spawn(async move {
        append(&db, 30, "during").await;
        Ok(None)
    });
    let mut recorded = Vec::new();
    while let Some(r) = tasks.join_next().await {
        if let Some(c) = r.unwrap().unwrap() {
            recorded.push(c);
        }
    }
    for w in &writers {
        if let Some(c) = w.checkpoint_now().await.unwrap() {
            recorded.push(c);
        }
    }
    let stored = checkpoints::list(&app.db).await.unwrap();
    recorded.sort_by_key(|c| c.audit_id);
    assert_eq!(
        recorded, stored,
        "each recorded checkpoint is the stored one"
    );
    let report = verify_with(&app.db, Some(&keys)).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.checkpoints.verified, stored.len() as u64);
    assert_eq!(report.checkpoints.uncovered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_copied_to_the_bucket_even_after_a_failed_copy() {
    let app = app_with_checkpoints(|_| {}).await;
    let key = public_key(&app).await;
    let aws = aws_of(&app);
    aws.ensure_bucket("audit-anchor").await.unwrap();
    let in_bucket = |s: &mut Settings| {
        s.bucket = Some("audit-anchor".into());
        s.retain_days = Some(30);
    };
    // S3 cannot be reached (nothing listens there): the checkpoint is recorded, its copy waits.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let cut_off = Checkpointer::new(
        app.db.clone(),
        aws_with_s3_at(&app, &closed),
        Settings {
            bucket: Some("audit-anchor".into()),
            retain_days: Some(30),
            ..Settings::new(SIGNING_ALIAS)
        },
    );
    append(&app.db, 4, "first").await;
    let first = cut_off.checkpoint_now().await.unwrap().unwrap();
    let copied: Vec<i64> = sqlx::query_scalar("SELECT copied FROM audit_checkpoints")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(copied, [0]);

    // The next checkpoint, where S3 answers, copies both.
    let signer = writer(&app, app.db.clone(), in_bucket);
    append(&app.db, 4, "second").await;
    let second = signer.checkpoint_now().await.unwrap().unwrap();
    for c in [&first, &second] {
        let got = aws
            .s3
            .get_object()
            .bucket("audit-anchor")
            .key(format!("audit-checkpoints/{:020}.json", c.audit_id))
            .send()
            .await
            .unwrap();
        let body = got.body.collect().await.unwrap().into_bytes();
        let object: Checkpoint = serde_json::from_slice(&body).unwrap();
        assert_eq!(&object, c);
        assert!(key.signed(&object), "the copy verifies on its own");
    }
    let copied: Vec<i64> = sqlx::query_scalar("SELECT copied FROM audit_checkpoints")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(copied, [1, 1]);
}

/// What the checkpoint bucket holds is read back only as checkpoints: an object that does not
/// parse, one that names another row than its key, and one past the size cap are refused in
/// words, never skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_copies_that_are_not_checkpoints_are_refused() {
    let app = app_with_checkpoints(|_| {}).await;
    let aws = aws_of(&app);
    aws.ensure_bucket("audit-anchor").await.unwrap();
    let signer = writer(&app, app.db.clone(), |s| {
        s.bucket = Some("audit-anchor".into());
    });
    append(&app.db, 3, "copied").await;
    let cp = signer.checkpoint_now().await.unwrap().unwrap();
    assert_eq!(
        checkpoints::copies(&aws, "audit-anchor").await.unwrap(),
        std::slice::from_ref(&cp)
    );
    let put = |key: String, body: Vec<u8>| {
        aws.s3
            .put_object()
            .bucket("audit-anchor")
            .key(key)
            .body(body.into())
            .send()
    };
    let moved = format!("audit-checkpoints/{:020}.json", cp.audit_id + 1);
    for (key, body, why) in [
        (
            moved.clone(),
            serde_json::to_vec(&cp).unwrap(),
            "it names row",
        ),
        (moved.clone(), b"not json".to_vec(), "is not a checkpoint"),
        (moved, vec![b' '; 17 * 1024], "longer than"),
    ] {
        put(key, body).await.unwrap();
        let e = checkpoints::copies(&aws, "audit-anchor").await.unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_signs_checkpoints_every_n_rows_and_every_t_seconds() {
    // By rows: the server's own appends (logins, account changes) reach the count.
    let app = app_with_checkpoints(|s| s.every_rows = 3).await;
    let keys = [public_key(&app).await];
    let _ = app.accounts().await;
    let mut covered = 0;
    for _ in 0..100 {
        covered = checkpoints::covered(&app.db).await.unwrap();
        if covered > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(covered > 0, "no checkpoint after the rows:\n{}", app.logs());
    let report = verify_with(&app.db, Some(&keys)).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.checkpoints.verified >= 1);

    // By time: a row or two, far fewer than the count, are covered within the period.
    let app = app_with_checkpoints(|s| s.every = Duration::from_secs(1)).await;
    append(&app.db, 2, "quiet").await;
    let head = page(&app.db, 0, 1_000_000)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    let mut covered = 0;
    for _ in 0..60 {
        covered = checkpoints::covered(&app.db).await.unwrap();
        if covered >= head {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(covered >= head, "{covered} < {head}:\n{}", app.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_on_postgresql_two_replicas_one_record_each() {
    use cipherdrop_server::db;
    let app = app_with_checkpoints(|_| {}).await;
    let keys = [public_key(&app).await];
    let aws = aws_of(&app);
    aws.ensure_bucket("audit-anchor").await.unwrap();
    let pg = cipherdrop_testkit::postgres::Postgres::start().unwrap();
    let url = pg
        .create_app_database("cipherdrop", "checkpoint-password")
        .unwrap();
    let connect = || async {
        db::connect_postgres(
            db::postgres_options(&url).unwrap(),
            db::PoolSize::default(),
            None,
        )
        .await
        .unwrap()
    };
    let (one, two) = (connect().await, connect().await);
    let replicas = [
        Arc::new(writer(&app, one.clone(), |s| {
            s.bucket = Some("audit-anchor".into())
        })),
        Arc::new(writer(&app, two.clone(), |s| {
            s.bucket = Some("audit-anchor".into())
        })),
    ];
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..4 {
        append(if round % 2 == 0 { &one } else { &two }, 3, "pg").await;
        for i in 0..6 {
            let w = replicas[i % 2].clone();
            tasks.spawn(async move { w.checkpoint_now().await });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap().unwrap();
        }
    }
    let stored = checkpoints::list(&one).await.unwrap();
    assert!(!stored.is_empty());
    let report = verify_with(&one, Some(&keys)).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(
        (report.checkpoints.verified, report.checkpoints.uncovered),
        (stored.len() as u64, 0)
    );
    // Every copy landed (the one column that may change did), and nothing else may change.
    let copied: Vec<i64> = sqlx::query_scalar("SELECT copied FROM audit_checkpoints")
        .fetch_all(&one)
        .await
        .unwrap();
    assert!(copied.iter().all(|c| *c == 1), "{copied:?}");
    for sql in [
        "UPDATE audit_checkpoints SET hash = 'x'",
        "DELETE FROM audit_checkpoints",
        "TRUNCATE audit_checkpoints",
    ] {
        let e = sqlx::query(sql).execute(&one).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    one.close().await;
    two.close().await;
}

/// moto, a third-party implementation of KMS and S3, as the other peer: its ECC_NIST_P384 key
/// signs, its public key verifies, and the copy lands in a bucket with Object Lock, locked in
/// COMPLIANCE mode until the retention date (a delete of that version is refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_through_moto_land_locked_in_an_object_lock_bucket() {
    let moto = cipherdrop_testkit::server::start_moto().unwrap();
    let url = moto.url.clone();
    let aws = cipherdrop_server::Aws::connect(&cipherdrop_server::AwsSettings {
        s3_region: "us-east-1".into(),
        kms_region: "us-east-1".into(),
        kms_endpoint: Some(url.clone()),
        s3_endpoint: Some(url.clone()),
        s3_path_style: true,
        kms_credentials: Some(("testing".into(), "testing".into())),
        s3_credentials: Some(("testing".into(), "testing".into())),
    })
    .await;
    let arn = aws.create_signing_key("audit checkpoints").await.unwrap();
    aws.s3
        .create_bucket()
        .bucket("locked-audit")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = cipherdrop_server::db::open(&dir.path().join("cipherdrop.db"))
        .await
        .unwrap();
    append(&db, 6, "moto").await;
    let mut settings = Settings::new(&arn);
    settings.bucket = Some("locked-audit".into());
    settings.retain_days = Some(1);
    let signer = Checkpointer::new(db.clone(), aws.clone(), settings);
    let cp = signer.checkpoint_now().await.unwrap().unwrap();
    assert_eq!(cp.key_arn, arn);

    let (_, der) = aws.public_key(&arn).await.unwrap();
    let keys = [PublicKey::from_der(&der).unwrap()];
    let report = verify_with(&db, Some(&keys)).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.checkpoints.verified, 1);

    let key = cp.object_key();
    let got = aws
        .s3
        .get_object()
        .bucket("locked-audit")
        .key(&key)
        .send()
        .await
        .unwrap();
    let version = got.version_id().unwrap().to_owned();
    assert_eq!(
        got.object_lock_mode(),
        Some(&aws_sdk_s3::types::ObjectLockMode::Compliance)
    );
    let until = got.object_lock_retain_until_date().unwrap().secs();
    assert_eq!(until, cp.created_ms / 1000 + 86_400);
    let body = got.body.collect().await.unwrap().into_bytes();
    let copy: Checkpoint = serde_json::from_slice(&body).unwrap();
    assert!(keys[0].signed(&copy));
    let refused = aws
        .s3
        .delete_object()
        .bucket("locked-audit")
        .key(&key)
        .version_id(&version)
        .send()
        .await;
    assert!(refused.is_err(), "a locked checkpoint was deleted");
    db.close().await;
}

/// `export --since`: a second export continues the first after its last row, anchored to that
/// row's hash; it checks offline on its own (its checkpoint too), and a continuation that was
/// edited, or whose anchor was, does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_made_one_after_another_check_as_one_chain() {
    let app = app_with_checkpoints(|_| {}).await;
    let key = public_key(&app).await;
    let keys = [key.clone()];
    let signer = writer(&app, app.db.clone(), |_| {});
    append(&app.db, 5, "first batch").await;
    let mut first = Vec::new();
    cipherdrop_server::audit::export(&app.db, &mut first, None, None)
        .await
        .unwrap();
    let last = page(&app.db, 0, 1_000_000)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    append(&app.db, 4, "second batch").await;
    let cp = signer.checkpoint_now().await.unwrap().unwrap();
    append(&app.db, 2, "after the checkpoint").await;
    let mut second = Vec::new();
    let done = cipherdrop_server::audit::export(
        &app.db,
        &mut second,
        Some((&cp.key_arn, &key)),
        Some(last),
    )
    .await
    .unwrap();
    assert_eq!((done.rows, done.checkpoints), (6, 1));
    let missing = cipherdrop_server::audit::export(&app.db, &mut Vec::new(), None, Some(10_000))
        .await
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("row 10000 is not in the audit log")
    );

    let report = cipherdrop_server::audit::verify_export(&first[..], &keys).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let report = cipherdrop_server::audit::verify_export(&second[..], &keys).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.rows, 6);
    assert_eq!(report.checkpoints.verified, 1);
    // The anchor is the first file's last row.
    let text = String::from_utf8(second.clone()).unwrap();
    let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let first_text = String::from_utf8(first).unwrap();
    let first_last: serde_json::Value = first_text
        .lines()
        .rfind(|l| l.contains("\"kind\":\"row\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap();
    assert_eq!(header["since"]["id"], first_last["id"]);
    assert_eq!(header["since"]["hash"], first_last["hash"]);

    // A row of the continuation edited, or its anchor: refused.
    let edited = text.replacen("second batch", "something else", 1);
    let report = cipherdrop_server::audit::verify_export(edited.as_bytes(), &keys).unwrap();
    assert!(!report.problems.is_empty());
    let hash = header["since"]["hash"].as_str().unwrap();
    let forged = text.replacen(hash, &"0".repeat(hash.len()), 1);
    let report = cipherdrop_server::audit::verify_export(forged.as_bytes(), &keys).unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("does not chain")),
        "{:?}",
        report.problems
    );
}
