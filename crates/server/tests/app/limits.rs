//! Guess limits under attack: hundreds of concurrent guesses get no more password checks than
//! the limit, argon2 checks are bounded whatever the concurrency, `X-Forwarded-For` counts only
//! from a trusted proxy, and no client string of any size reaches the audit log.

use std::sync::Arc;

use cipherdrop_api::SUITE_COMMIT_KEY;
use cipherdrop_testkit::data;
use cipherdrop_testkit::load::loopback_client;
use cipherdrop_testkit::server::{code_of, status_of};
use reqwest::Method;
use serde_json::json;

use crate::util::{PASSWORD, TestApp};

/// Sends `n` requests at once (all released together), each built by `build(i)`; returns each
/// answer's error code ("" for a success).
async fn burst(n: usize, build: impl Fn(usize) -> reqwest::RequestBuilder) -> Vec<String> {
    let gate = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let request = build(i);
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.wait().await;
                let r = request.send().await.unwrap();
                assert!(!r.status().is_server_error(), "{}", r.status());
                if r.status().is_success() {
                    String::new()
                } else {
                    let body: serde_json::Value = r.json().await.unwrap();
                    body["error"].as_str().unwrap().to_owned()
                }
            })
        })
        .collect();
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes
}

fn count(codes: &[String], code: &str) -> usize {
    codes.iter().filter(|c| *c == code).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_get_no_more_checks_than_the_limit() {
    let app = TestApp::start().await;
    let bob = app.user("bob").await;
    let http = reqwest::Client::new();

    // 300 wrong passwords for bob at once: exactly 5 are checked, the rest refused unchecked.
    let url = format!("{}/api/login", app.url);
    let codes = burst(300, |_| {
        http.post(&url)
            .json(&json!({"username": "bob", "password": "wrong password!"}))
    })
    .await;
    assert_eq!(count(&codes, "bad_credentials"), 5, "{codes:?}");
    assert_eq!(count(&codes, "rate_limited"), 295);
    let e = app.client().login("bob", PASSWORD).await.unwrap_err();
    assert_eq!(code_of(&e), "rate_limited", "even the right password waits");
    // One audit row per checked guess; the refusals become one counted row at the next sweep.
    let rows = app.audit_rows("login").await;
    let denied = |r: &&serde_json::Value| r["actor"] == "bob" && r["outcome"] == "denied";
    assert_eq!(rows.iter().filter(denied).count(), 5);
    app.sweep().await;
    let rows = app.audit_rows("login").await;
    let summary: Vec<_> = rows
        .iter()
        .filter(|r| {
            r["actor"] == "bob" && r["detail"].as_str().unwrap().contains("refused unchecked")
        })
        .collect();
    assert_eq!(summary.len(), 1, "{rows:?}");
    assert!(
        summary[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("296 attempts")
    );

    // A link's passphrase: 300 guesses at once, exactly 5 checked.
    let object = bob
        .upload(&data(10, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let link = bob
        .share(&object, json!({"passphrase": "the right passphrase"}))
        .await
        .unwrap();
    let token = link.token().to_owned();
    let url = format!("{}/api/share/key", app.url);
    let codes = burst(300, |i| {
        http.post(&url)
            .json(&json!({"token": token, "passphrase": format!("guess {i}")}))
    })
    .await;
    assert_eq!(count(&codes, "wrong_passphrase"), 5, "{codes:?}");
    assert_eq!(count(&codes, "rate_limited"), 295);
    let (_, share) = bob
        .call(Method::GET, &format!("/api/objects/{object}/shares"), None)
        .await
        .unwrap();
    assert_eq!(share["shares"][0]["downloads"], 0, "no key left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn argon2_checks_are_bounded_whatever_the_concurrency() {
    let app = TestApp::start_with(|c| {
        c.max_concurrent_hashes = 2;
        c.max_waiting_hashes = 16;
        c.login_failures_per_ip = 1000;
    })
    .await;
    // 500 bad logins at once, each under its own name and from its own loopback address, so no
    // guess limit applies: only the gate stands between them and 500 × 19 MiB.
    let url = format!("{}/api/login", app.url);
    let clients: Vec<reqwest::Client> = (0..500).map(loopback_client).collect();
    let codes = burst(500, |i| {
        clients[i]
            .post(&url)
            .json(&json!({"username": format!("nobody{i}"), "password": "wrong password!"}))
    })
    .await;
    let checked = count(&codes, "bad_credentials");
    let busy = count(&codes, "busy");
    assert_eq!(checked + busy, 500, "{codes:?}");
    assert!(busy > 0, "a burst of 500 overflows a queue of 16");
    assert!(
        checked >= 18,
        "the running and waiting ones are all checked: {checked}"
    );
    assert!(app.peak_hashing() <= 2, "peak {}", app.peak_hashing());
    // Each address failed once; the busy ones were not counted, so they may try again.
    let again = loopback_client(0);
    let r = again
        .post(&url)
        .json(&json!({"username": "nobody0", "password": "wrong password!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let login = |app: &TestApp, forwarded: &str, name: &str| {
        reqwest::Client::new()
            .post(format!("{}/api/login", app.url))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"username": name, "password": "wrong password!"}))
            .send()
    };
    // Behind a trusted proxy (the test's loopback peer), each client has its own 20 failures.
    let app =
        TestApp::start_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    for i in 0..20 {
        let r = login(&app, "203.0.113.5", &format!("n{i}")).await.unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = login(&app, "203.0.113.5", "n20").await.unwrap();
    assert_eq!(r.status(), 429, "that client is locked out");
    let r = login(&app, "203.0.113.6", "n21").await.unwrap();
    assert_eq!(r.status(), 401, "its neighbour is not");
    // A client cannot step around its proxy by prepending an address.
    let r = login(&app, "198.51.100.1, 203.0.113.5", "n22")
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let rows = app.audit_rows("login").await;
    assert!(
        rows.iter().any(|r| r["ip"] == "203.0.113.5"),
        "the audit log names the client"
    );

    // With no trusted proxy (the default), the header is the client's to invent: ignored.
    let app = TestApp::start().await;
    for i in 0..20 {
        let r = login(&app, &format!("203.0.113.{i}"), &format!("n{i}"))
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = login(&app, "203.0.113.99", "n99").await.unwrap();
    assert_eq!(r.status(), 429, "a spoofed header buys no new guesses");
    let rows = app.audit_rows("login").await;
    assert!(rows.iter().all(|r| r["ip"] == "127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_string_of_any_size_reaches_the_audit_log() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    // A 1 MiB user name: refused like any wrong name, audited under a fixed word.
    let e = app
        .client()
        .login(&"x".repeat(1024 * 1024), "wrong password!")
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 401);
    // An 8 KiB object id in a key request: 404, and the refusal's row is capped.
    let id = "y".repeat(8 * 1024);
    let e = alice
        .call(Method::POST, &format!("/api/objects/{id}/key"), None)
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 404);
    let rows = cipherdrop_server::audit::page(&app.db, 0, 10_000)
        .await
        .unwrap();
    for r in &rows {
        for field in [Some(&r.actor), r.object.as_ref(), r.ip.as_ref()] {
            assert!(field.is_none_or(|f| f.len() <= 128), "{r:?}");
        }
        assert!(r.detail.len() <= 1024);
    }
    assert!(
        rows.iter()
            .any(|r| r.actor.starts_with("(not a valid name, 1048576 bytes)"))
    );
    let (ok, report) = app.audit_verify().await;
    assert!(ok, "{report}");
}
