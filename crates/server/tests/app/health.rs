//! `/healthz`, `/readyz` and the metrics listener: up and ready with every dependency answering,
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

/// The metrics listener: requests by route template and status, KMS and S3 calls by operation,
/// audit events (key releases) and guess-limit refusals are counted; nothing in it is an id, a
/// token, a key or a password; the public listener does not serve it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_operators_alert_on_and_carry_no_secret() {
    let app = TestApp::start_with(|c| c.share_releases_per_ip = 1000).await;
    let alice = app.user("alice").await;
    let id = alice
        .upload(&cipherdrop_testkit::data(5000, 3), 0x0478, 4096)
        .await
        .unwrap();
    let released = alice.key(&id).await.unwrap();
    let link = alice.share(&id, serde_json::json!({})).await.unwrap();
    let stranger = app.client();
    let shared = stranger.share_key(link.token(), None).await.unwrap();
    // Guesses at an account until its limit refuses them.
    let guesser = app.client();
    for _ in 0..8 {
        let _ = guesser.login("alice", "not the password at all").await;
    }

    // Made-up methods and paths make no series of their own.
    let http = reqwest::Client::new();
    for (method, path) in [
        ("BREW", "/api/objects"),
        ("GET", "/made-up/abc123"),
        ("PROPFIND", "/x"),
    ] {
        let _ = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", app.url),
            )
            .send()
            .await
            .unwrap();
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let server = app.server.clone();
    tokio::spawn(async move {
        server
            .serve_metrics(listener, std::future::pending())
            .await
            .unwrap();
    });
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    for line in [
        r#"cipherdrop_http_requests_total{route="/api/objects/{id}/key",method="POST",status="200"}"#,
        r#"cipherdrop_http_requests_total{route="/api/share/key",method="POST",status="200"}"#,
        r#"cipherdrop_http_request_duration_seconds_bucket{le="#,
        r#"cipherdrop_aws_calls_total{service="kms",operation="GenerateDataKey",outcome="ok"}"#,
        r#"cipherdrop_aws_calls_total{service="kms",operation="Decrypt",outcome="ok"}"#,
        r#"cipherdrop_aws_calls_total{service="s3",operation="CreateMultipartUpload",outcome="ok"}"#,
        r#"cipherdrop_audit_events_total{action="key.released",outcome="ok"}"#,
        r#"cipherdrop_guess_limit_refusals_total{limiter="login"}"#,
        "cipherdrop_pending_uploads ",
        "cipherdrop_password_checks_waiting ",
        "cipherdrop_database_connections ",
    ] {
        assert!(
            text.contains(line),
            "{line} missing from:\n{}",
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let mut secrets = vec![
        id.clone(),
        link.token().to_owned(),
        link.id().to_owned(),
        crate::util::PASSWORD.to_owned(),
        "not the password at all".to_owned(),
    ];
    secrets.push(released.data_key.expose().to_owned());
    secrets.push(shared.sealed_key.clone());
    secrets.push(shared.download_url.clone());
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "the metrics carry {s}");
    }
    for made_up in ["BREW", "PROPFIND", "made-up", "abc123"] {
        assert!(!text.contains(made_up), "a client made a series: {made_up}");
    }
    assert!(text.contains(r#"method="other""#));
    // Not on the public listener.
    let public = reqwest::get(format!("{}/metrics", app.url)).await.unwrap();
    assert_eq!(public.status(), 404);
}
