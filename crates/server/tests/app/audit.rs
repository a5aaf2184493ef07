//! The audit log under concurrency: many appenders in one process (group commit) and a second
//! writer on the same database (another process) still make one intact chain with every row.

use std::sync::Arc;

use cipherdrop_server::audit::{AuditLog, Event, verify};

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
