//! `/healthz` and `/readyz` for load balancers: up and ready with every dependency answering,
//! not ready (naming which, in no service's words) when one fails, and a flood of readiness
//! probes costs KMS and S3 one call each per second.

use std::time::Instant;

use crate::util::TestApp;

async fn get(url: &str) -> (u16, serde_json::Value, Option<String>) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, r.json().await.unwrap(), cache)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_readyz_answer_and_a_flood_of_probes_costs_one_check_a_second() {
    let app = TestApp::start().await;
    let (status, body, cache) = get(&format!("{}/healthz", app.url)).await;
    assert_eq!(
        (status, body, cache.as_deref()),
        (200, serde_json::json!({"status": "up"}), Some("no-store"))
    );
    let (status, body, _) = get(&format!("{}/readyz", app.url)).await;
    assert_eq!(
        (status, body),
        (
            200,
            serde_json::json!({"status": "ready", "database": "ok", "kms": "ok", "s3": "ok"})
        )
    );

    let before = app.kms_calls("DescribeKey");
    let started = Instant::now();
    let ready = format!("{}/readyz", app.url);
    let probes = (0..300).map(|_| get(&ready));
    let answers = futures_util::future::join_all(probes).await;
    let seconds = started.elapsed().as_secs() as usize;
    assert!(answers.iter().all(|(s, _, _)| *s == 200));
    let checks = app.kms_calls("DescribeKey") - before;
    assert!(
        checks <= seconds + 2,
        "{checks} KMS calls for 300 probes in {seconds} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_the_dependency_that_fails_and_nothing_it_said() {
    let app = TestApp::start_with(|c| c.bucket = "no-such-bucket".into()).await;
    let (status, body, cache) = get(&format!("{}/readyz", app.url)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert_eq!(
        body,
        serde_json::json!({"status": "not_ready", "database": "ok", "kms": "ok", "s3": "failing"})
    );
    // Still up: the process runs.
    assert_eq!(get(&format!("{}/healthz", app.url)).await.0, 200);
}
