//! Webhooks: an owner's endpoint hears of its links being used and its requests receiving files
//! (ids only), in order, at least once with the same `webhook-id`, verified by the reference
//! Standard Webhooks library; endpoints are the owner's alone, capped per account (the check
//! and the insert one statement), and cannot reach private addresses unless allowed.

use cipherdrop_api::SUITE_COMMIT_KEY;
use cipherdrop_testkit::data;
use cipherdrop_testkit::peers::WebhookReceiver;
use cipherdrop_testkit::server::{Client, status_of};
use reqwest::Method;

use crate::util::TestApp;

async fn make_webhook(c: &Client, url: &str) -> anyhow::Result<(String, String)> {
    let (headers, v) = c
        .call(
            Method::POST,
            "/api/webhooks",
            Some(&serde_json::json!({ "url": url })),
        )
        .await?;
    assert_eq!(
        headers.get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    Ok((
        v["webhook"]["id"].as_str().unwrap().to_owned(),
        v["secret"].as_str().unwrap().to_owned(),
    ))
}

/// The bodies the receiver took, oldest first (by the order of its log).
fn received(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let log = std::fs::read_to_string(dir.join("requests.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.starts_with("204 "))
        .map(|l| {
            let id = l.split(' ').nth(1).unwrap();
            serde_json::from_slice(&std::fs::read(dir.join(format!("{id}.json"))).unwrap()).unwrap()
        })
        .collect()
}

async fn list(c: &Client) -> serde_json::Value {
    c.call(Method::GET, "/api/webhooks", None).await.unwrap().1
}

/// The account's endpoint `id` as `GET /api/webhooks` shows it.
async fn webhook(c: &Client, id: &str) -> serde_json::Value {
    list(c).await["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == id)
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_hears_of_links_and_requests_in_order_and_again_after_a_failure() {
    let secret_file = tempfile::NamedTempFile::new().unwrap();
    let rx = WebhookReceiver::start(&format!("@{}", secret_file.path().display()), 1).unwrap();
    let app = TestApp::start_with(|c| {
        c.webhook_private_targets = true;
        c.notify_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    let (_admin, alice, bob) = app.accounts().await;
    let (id, secret) = make_webhook(&alice, &format!("http://127.0.0.1:{}/hook", rx.port))
        .await
        .unwrap();
    assert!(secret.starts_with("whsec_"));
    std::fs::write(secret_file.path(), &secret).unwrap();
    assert!(
        !app.stored_text().contains(&secret[6..]),
        "the secret is not stored in the clear"
    );

    // A link used, then a request receiving a file.
    let file = alice
        .upload(&data(20_000, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let link = alice
        .share(&file, serde_json::json!({"max_downloads": 3}))
        .await
        .unwrap();
    let stranger = app.client();
    stranger.share_key(link.token(), None).await.unwrap();
    let request = alice
        .open_request(serde_json::json!({"title": "forms", "max_files": 2, "max_bytes": 100_000}))
        .await
        .unwrap();
    let (receipt, _, _) = stranger
        .send_to_request(&request, None, b"a form")
        .await
        .unwrap();

    // The receiver is down for the first attempt: nothing after it goes either (order).
    assert_eq!(app.server.deliver_webhooks().await.unwrap(), 0);
    let log = std::fs::read_to_string(rx.dir.path().join("requests.log")).unwrap();
    assert_eq!(log.lines().count(), 1, "{log}");
    let waiting = list(&alice).await;
    assert_eq!(waiting["webhooks"][0]["pending"], 2);
    let first = &waiting["webhooks"][0]["deliveries"][1];
    assert_eq!(first["attempts"], 1);
    assert_eq!(first["last_error"], "answered 500 Internal Server Error");
    // Time passes (the backoff is 5 s): the same delivery again, then the next.
    app.sql("UPDATE outbox SET next_at_ms = 0").await;
    assert_eq!(app.server.deliver_webhooks().await.unwrap(), 2);
    let log = std::fs::read_to_string(rx.dir.path().join("requests.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert_eq!(
        lines[0].split(' ').nth(1),
        lines[1].split(' ').nth(1),
        "{log}"
    );
    let bodies = received(rx.dir.path());
    assert_eq!(bodies[0]["type"], "link.used");
    assert_eq!(bodies[0]["data"]["link"], link.created.share.id);
    assert_eq!(bodies[0]["data"]["file"], file);
    assert_eq!(bodies[0]["data"]["downloads"], 1);
    assert_eq!(bodies[1]["type"], "request.received");
    assert_eq!(bodies[1]["data"]["file"], receipt.reference);
    for b in &bodies {
        let text = b.to_string();
        assert!(
            !text.contains(link.token()) && !text.contains(&request),
            "{text}"
        );
    }
    // A test event, on demand; nothing is delivered twice.
    alice
        .call(Method::POST, &format!("/api/webhooks/{id}/test"), None)
        .await
        .unwrap();
    assert_eq!(app.server.deliver_webhooks().await.unwrap(), 1);
    assert_eq!(app.server.deliver_webhooks().await.unwrap(), 0);
    assert_eq!(received(rx.dir.path())[2]["type"], "webhook.test");
    let shown = list(&alice).await;
    assert_eq!(shown["webhooks"][0]["pending"], 0);
    assert_eq!(shown["webhooks"][0]["deliveries"][2]["attempts"], 2);
    assert!(shown["webhooks"][0]["deliveries"][2]["delivered_at"].is_i64());

    // Another account sees, tests and deletes nothing of it.
    assert_eq!(list(&bob).await["webhooks"], serde_json::json!([]));
    for (m, path) in [
        (Method::DELETE, format!("/api/webhooks/{id}")),
        (Method::POST, format!("/api/webhooks/{id}/test")),
    ] {
        let e = bob.call(m, &path, None).await.unwrap_err();
        assert_eq!(status_of(&e), 404);
    }
    // Deleted: later events are not sent.
    alice
        .call(Method::DELETE, &format!("/api/webhooks/{id}"), None)
        .await
        .unwrap();
    stranger.share_key(link.token(), None).await.unwrap();
    assert_eq!(app.server.deliver_webhooks().await.unwrap(), 0);
    assert_eq!(received(rx.dir.path()).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_urls_to_private_or_odd_places_are_refused() {
    let app = TestApp::start_with(|c| {
        c.notify_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    let (_admin, alice, _bob) = app.accounts().await;
    // No private targets here: loopback, private, link-local and names resolving to them.
    for (url, expected) in [
        ("http://127.0.0.1:9/x", "must be https"),
        ("https://127.0.0.1/x", "private, loopback or link-local"),
        (
            "https://169.254.169.254/latest/meta-data",
            "private, loopback or link-local",
        ),
        ("https://[::1]/x", "private, loopback or link-local"),
        ("https://localhost/x", "private, loopback or link-local"),
        (
            "https://user:pw@hooks.example.com/x",
            "user name or password",
        ),
        ("ftp://hooks.example.com/", "must be https"),
        ("not a url", "not a URL"),
    ] {
        let e = make_webhook(&alice, url).await.unwrap_err();
        assert_eq!(status_of(&e), 400, "{url}");
        assert!(format!("{e:#}").contains(expected), "{url}: {e:#}");
    }
    let long = format!("https://hooks.example.com/{}", "a".repeat(3000));
    assert_eq!(
        status_of(&make_webhook(&alice, &long).await.unwrap_err()),
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creations_stop_at_the_cap_and_a_dead_endpoint_is_given_up() {
    let app = TestApp::start_with(|c| {
        c.webhook_private_targets = true;
        c.notify_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    let (_admin, alice, _bob) = app.accounts().await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/hook");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (c, url) = (alice.clone(), url.clone());
        tasks.push(tokio::spawn(async move { make_webhook(&c, &url).await }));
    }
    let mut made = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => made += 1,
            Err(e) => assert_eq!(status_of(&e), 409),
        }
    }
    assert_eq!(made, cipherdrop_api::WEBHOOK_MAX_PER_ACCOUNT);
    let id = list(&alice).await["webhooks"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .call(Method::POST, &format!("/api/webhooks/{id}/test"), None)
        .await
        .unwrap();
    assert_eq!(app.server.deliver_webhooks().await.unwrap(), 0);
    let ours = webhook(&alice, &id).await;
    assert_eq!(ours["deliveries"][0]["last_error"], "could not connect");
    assert!(ours["deliveries"][0]["gave_up_at"].is_null());
    // A day later it is given up, and says so.
    app.sql("UPDATE outbox SET next_at_ms = 0, created_at = created_at - 90000")
        .await;
    assert_eq!(app.server.deliver_webhooks().await.unwrap(), 0);
    let ours = webhook(&alice, &id).await;
    assert!(ours["deliveries"][0]["gave_up_at"].is_i64(), "{ours}");
    assert_eq!(ours["pending"], 0);
}
