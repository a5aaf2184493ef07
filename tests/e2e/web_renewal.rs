//! A file request's sender whose upload outlives its presigned part URLs: in headless Chromium
//! against `cipherdrop serve --url-ttl-secs 2`, S3 is unreachable from the sender's tab for
//! longer than the URLs live, so each part's next attempt meets S3's 403 for an expired URL. The
//! page renews the URL through the sender's own route (the upload's secret; the sender has no
//! session, so the account's route would refuse it) and the file arrives; the owner decrypts
//! exactly what was sent.
//!
//! Needs `cargo build -p cipherdrop-cli` (same profile), `trunk build` (for `dist/`), chromedriver
//! with Chromium.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use cipherdrop_e2e::browser::{Browser, cipherdrop_bin, web_dist};
use cipherdrop_testkit::server::{Client, PASSWORD, ServerProcess, add_user, sqlite};
use serde_json::json;

const MIN: Duration = Duration::from_secs(60);
/// The presigned URLs' lifetime the server is started with.
const URL_TTL_SECS: u64 = 2;

/// Blocks (or lets through again) every request from the page to the embedded S3 at `s3_url`.
async fn block_s3(b: &Browser, s3_url: &str, blocked: bool) {
    let port = s3_url.rsplit(':').next().unwrap().trim_end_matches('/');
    let urls = if blocked {
        json!([format!("*127.0.0.1:{port}*")])
    } else {
        json!([])
    };
    b.cdp("Network.setBlockedURLs", json!({ "urls": urls }))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_senders_upload_renews_its_expired_part_urls_through_the_senders_route() {
    let bin = cipherdrop_bin().unwrap();
    let web = web_dist().unwrap();
    let data = tempfile::tempdir().unwrap();
    let ttl = URL_TTL_SECS.to_string();
    let server =
        ServerProcess::start_with_web(&bin, data.path(), &web, &["--url-ttl-secs", &ttl], &[])
            .unwrap();
    let s3_url = server.s3_url.clone().unwrap();
    add_user(&bin, data.path(), "alice", PASSWORD, false).unwrap();

    // The owner's request, made through the API (the page that makes one is web_requests').
    let owner = Client::new(&server.url);
    owner.login("alice", PASSWORD).await.unwrap();
    let (_, created) = owner
        .call(
            reqwest::Method::POST,
            "/api/requests",
            Some(&json!({"title": "Slow line", "max_files": 2, "max_bytes": 50_000_000})),
        )
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let request_id = created["request"]["id"].as_str().unwrap().to_owned();

    // Two parts (5 MiB and the rest), each of which waits for S3 past its URL's lifetime.
    let plaintext = cipherdrop_testkit::data(6 * 1024 * 1024 + 11, 57);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site-survey.bin");
    std::fs::write(&path, &plaintext).unwrap();

    let sender = Browser::start().await.unwrap();
    sender
        .client
        .goto(&format!("{}/r/#t={token}", server.url))
        .await
        .unwrap();
    sender.wait_for("#request-room", MIN).await.unwrap();
    sender.cdp("Network.enable", json!({})).await.unwrap();
    // S3 unreachable from the sender's tab; the server (its API) is not.
    block_s3(&sender, &s3_url, true).await;
    let started = Instant::now();
    sender
        .type_into("#request-file-input", &path.display().to_string())
        .await
        .unwrap();
    // The upload has begun: the server opened it (and handed out URLs that live 2 s).
    let pending = || {
        sqlite(
            data.path(),
            "SELECT count(*) FROM objects WHERE request_id IS NOT NULL AND state = 'pending'",
        )
        .unwrap()[0][0]
            .as_i64()
            .unwrap()
    };
    while pending() == 0 {
        assert!(started.elapsed() < MIN, "the upload never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let opened = Instant::now();
    // Twice the URLs' lifetime and more: every URL handed out so far has expired. The parts'
    // retries back off (0.5, 1, 2, 4, 8 s, ±25%), so attempts are left once S3 is back.
    tokio::time::sleep(Duration::from_secs(2 * URL_TTL_SECS + 2)).await;
    block_s3(&sender, &s3_url, false).await;
    assert!(
        opened.elapsed() > Duration::from_secs(2 * URL_TTL_SECS),
        "S3 came back before the URLs expired"
    );

    sender
        .wait_until_js(
            "(() => { const l = document.querySelector('li.sent-file'); \
               return l && ['sent','failed','cancelled'].includes(l.dataset.state); })()",
            2 * MIN,
        )
        .await
        .unwrap();
    let (state, text) = (
        sender
            .js_string("return document.querySelector('li.sent-file').dataset.state")
            .await
            .unwrap(),
        sender
            .js_string("return document.querySelector('li.sent-file').innerText")
            .await
            .unwrap(),
    );
    assert_eq!(state, "sent", "{text}");
    // The renewals went through the sender's route (the only one this tab may use): the page
    // asked it for part URLs after creating the upload.
    let renewals = sender
        .js_string(
            "return String(performance.getEntriesByType('resource').filter(e => \
             /\\/api\\/request\\/uploads\\/[^/]+\\/parts$/.test(new URL(e.name).pathname)).length)",
        )
        .await
        .unwrap();
    assert!(renewals.parse::<u32>().unwrap() >= 1, "{renewals}");
    let account_routes = sender
        .js_string(
            "return String(performance.getEntriesByType('resource').filter(e => \
             new URL(e.name).pathname.startsWith('/api/uploads')).length)",
        )
        .await
        .unwrap();
    assert_eq!(
        account_routes, "0",
        "the sender's tab called an account route"
    );

    // The owner has the file, whole: it decrypts to exactly what was sent.
    let (_, files) = owner
        .call(
            reqwest::Method::GET,
            &format!("/api/requests/{request_id}/files"),
            None,
        )
        .await
        .unwrap();
    let objects = files["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 1, "{files}");
    let id = objects[0]["id"].as_str().unwrap();
    assert_eq!(owner.download(id).await.unwrap(), plaintext);
    sender.close().await;
}
