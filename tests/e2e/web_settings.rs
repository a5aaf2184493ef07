//! Notifications and webhooks through the Settings page in headless Chromium: without SMTP the
//! page says e-mail is off and offers no e-mail choice; a webhook is added (its secret shown
//! once, which the receiver, the reference Standard Webhooks library, verifies with), sent a
//! test event whose delivery the page then shows; a URL the server refuses is refused in words;
//! choices saved in the page hold after a reload, and an event turned off reaches no webhook.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use cipherdrop_api::SUITE_COMMIT_KEY;
use cipherdrop_e2e::browser::{Browser, cipherdrop_bin, web_dist};
use cipherdrop_testkit::data;
use cipherdrop_testkit::peers::WebhookReceiver;
use cipherdrop_testkit::server::{PASSWORD, ServerProcess, setup_accounts};

const WAIT: Duration = Duration::from_secs(60);

async fn checked(b: &Browser, id: &str) -> String {
    b.js_string(&format!(
        "const c = document.querySelector('#{id}'); return c.checked + ' ' + c.disabled"
    ))
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_and_webhooks_through_the_settings_page() {
    let bin = cipherdrop_bin().unwrap();
    let web = web_dist().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = tempfile::NamedTempFile::new().unwrap();
    let rx = WebhookReceiver::start(&format!("@{}", secret_file.path().display()), 0).unwrap();
    let server =
        ServerProcess::start_with_web(&bin, dir.path(), &web, &["--webhook-private-targets"], &[])
            .unwrap();
    let (_admin, alice, _bob) = setup_accounts(&server, &bin).await.unwrap();
    let b = Browser::start().await.unwrap();
    b.log_in(&server.url, "alice", PASSWORD).await.unwrap();
    b.click("#notifications summary").await.unwrap();
    b.wait_for("#notify-choices", WAIT).await.unwrap();

    // No SMTP on this server: said so, and no e-mail box can be ticked.
    let state = b
        .js_string("return document.querySelector('#notify-email-state').innerText")
        .await
        .unwrap();
    assert!(state.contains("sends no e-mail"), "{state}");
    assert_eq!(checked(&b, "notify-link-used-email").await, "false true");
    // The defaults: badge and webhooks for used links.
    assert_eq!(checked(&b, "notify-link-used-badge").await, "true false");
    assert_eq!(checked(&b, "notify-link-used-webhook").await, "true false");

    // A URL the server refuses (not https, not a private target it allows) is refused in words.
    b.type_into("#webhook-url", "ftp://files.example.com/in")
        .await
        .unwrap();
    b.click("#webhook-create").await.unwrap();
    b.wait_for("#webhook-error", WAIT).await.unwrap();
    let refused = b
        .js_string("return document.querySelector('#webhook-error').innerText")
        .await
        .unwrap();
    assert!(refused.contains("must be https"), "{refused}");

    // A webhook to the receiver: its secret shown once, then a test event delivered and shown.
    b.js_string("document.querySelector('#webhook-url').value = ''; return ''")
        .await
        .unwrap();
    b.type_into(
        "#webhook-url",
        &format!("http://127.0.0.1:{}/hook", rx.port),
    )
    .await
    .unwrap();
    b.click("#webhook-create").await.unwrap();
    b.wait_for("#webhook-secret", WAIT).await.unwrap();
    let secret = b
        .js_string("return document.querySelector('#webhook-secret').value")
        .await
        .unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    std::fs::write(secret_file.path(), &secret).unwrap();
    b.wait_for("tr.webhook", WAIT).await.unwrap();
    b.click("tr.webhook .webhook-test").await.unwrap();
    let deadline = Instant::now() + WAIT;
    while rx.requests().is_empty() {
        assert!(Instant::now() < deadline, "no delivery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, id) = rx.requests()[0].clone();
    assert_eq!(status, 204, "the reference library verified it");
    assert_eq!(rx.body(&id).unwrap()["type"], "webhook.test");
    b.click("#webhook-refresh").await.unwrap();
    b.wait_until_js(
        "(() => { const d = document.querySelector('tr.webhook li.delivery'); return d && d.dataset.delivered === 'true' && d.innerText.startsWith('webhook.test · delivered'); })()",
        WAIT,
    )
    .await
    .unwrap();

    // Used links: no webhook, no badge. Saved, and still so after a reload.
    b.click("#notify-link-used-webhook").await.unwrap();
    b.click("#notify-link-used-badge").await.unwrap();
    b.click("#notify-save").await.unwrap();
    b.wait_until_js(
        "(() => { const m = document.querySelector('#notify-message'); return m && m.innerText === 'Saved.'; })()",
        WAIT,
    )
    .await
    .unwrap();
    b.client.refresh().await.unwrap();
    b.click("#notifications summary").await.unwrap();
    b.wait_for("#notify-choices", WAIT).await.unwrap();
    assert_eq!(checked(&b, "notify-link-used-webhook").await, "false false");
    assert_eq!(checked(&b, "notify-link-used-badge").await, "false false");
    assert_eq!(
        checked(&b, "notify-request-received-webhook").await,
        "true false"
    );

    // A link of alice's used: nothing reaches the receiver; the next test event does.
    let file = alice
        .upload(&data(5_000, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let link = alice.share(&file, serde_json::json!({})).await.unwrap();
    server.client().share_key(link.token(), None).await.unwrap();
    b.click("tr.webhook .webhook-test").await.unwrap();
    let deadline = Instant::now() + WAIT;
    while rx.requests().len() < 2 {
        assert!(Instant::now() < deadline, "no second delivery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let types: Vec<String> = rx
        .requests()
        .iter()
        .map(|(_, id)| rx.body(id).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["webhook.test", "webhook.test"]);

    // Deleted: gone from the page.
    b.click("tr.webhook .webhook-delete").await.unwrap();
    b.wait_until_js("document.querySelector('tr.webhook') === null", WAIT)
        .await
        .unwrap();
    assert_eq!(
        b.console_problems()
            .await
            .unwrap()
            .iter()
            .filter(|l| !l.contains("400"))
            .count(),
        0
    );
    b.close().await;
}
