//! The page when things go wrong, in headless Chromium against `cipherdrop serve` with its KMS
//! as a separate process: a file over the size limit, KMS down, S3 unreachable for a moment
//! (retried) and for good (given up, upload aborted), a cancelled upload, and an upload over the
//! account's quota. Each shows a clear message and leaves no file recorded.
//!
//! Needs `cargo build -p cipherdrop-cli` (same profile), `trunk build` (for `dist/`), chromedriver
//! with Chromium, and the bootstrap's Python venv.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;
use std::time::Duration;

use cipherdrop_e2e::browser::{Browser, cipherdrop_bin, web_dist};
use cipherdrop_e2e::server::{
    PASSWORD, ServerProcess, add_user, aws_env, free_port, kms_service, python_aws, sqlite,
    stored_credentials,
};
use fantoccini::Locator;
use serde_json::json;

const MIN: Duration = Duration::from_secs(60);

/// Objects by state, from the server's database.
fn states(dir: &Path) -> Vec<String> {
    sqlite(dir, "SELECT state FROM objects ORDER BY created_at")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect()
}

/// Picks `path` in the upload area.
async fn pick(b: &Browser, path: &Path) {
    b.type_into("#file-input", &path.display().to_string())
        .await
        .unwrap();
}

/// Waits until the upload of `name` ends; returns (state, message).
async fn outcome(b: &Browser, name: &str) -> (String, String) {
    b.upload_outcome(name, 2 * MIN).await.unwrap()
}

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
async fn failures_show_clear_messages_and_record_nothing() {
    let bin = cipherdrop_bin().unwrap();
    let web = web_dist().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (kms_dir, srv_dir, files) = (
        dir.path().join("kms"),
        dir.path().join("srv"),
        dir.path().join("files"),
    );
    std::fs::create_dir_all(&files).unwrap();
    let kms_port = free_port().unwrap();
    let mut kms = kms_service(&bin, &kms_dir, kms_port).unwrap();
    let (ak, sk) = stored_credentials(&kms_dir).unwrap();
    let arn = python_aws(&kms.url, None, (&ak, &sk), &["create-key"])
        .unwrap()
        .trim()
        .to_owned();
    let server = ServerProcess::start_with_web(
        &bin,
        &srv_dir,
        &web,
        &[
            "--kms-key-id",
            &arn,
            "--kms-endpoint",
            &kms.url,
            "--max-object-size",
            "8000000",
            "--quota-stored-bytes",
            "10M",
        ],
        &aws_env(&ak, &sk),
    )
    .unwrap();
    let s3_url = server.s3_url.clone().unwrap();
    add_user(&bin, &srv_dir, "alice", PASSWORD, false).unwrap();
    let write = |name: &str, len: usize| {
        let path = files.join(name);
        std::fs::write(&path, cipherdrop_e2e::data(len, len as u64)).unwrap();
        path
    };

    let b = Browser::start().await.unwrap();
    b.log_in(&server.url, "alice", PASSWORD).await.unwrap();
    b.cdp("Network.enable", json!({})).await.unwrap();

    // Over the size limit: refused before anything is stored.
    pick(&b, &write("too-big.bin", 9_000_000)).await;
    let (state, message) = outcome(&b, "too-big.bin").await;
    assert_eq!(state, "failed");
    assert!(message.contains("files up to 8000000 bytes"), "{message}");
    assert!(states(&srv_dir).is_empty());

    // KMS down: no data key, a clear message, nothing recorded.
    kms.kill();
    pick(&b, &write("no-kms.bin", 1000)).await;
    let (state, message) = outcome(&b, "no-kms.bin").await;
    assert_eq!(state, "failed");
    assert!(
        message.contains("key service (KMS) is unavailable"),
        "{message}"
    );
    assert!(states(&srv_dir).is_empty());
    kms = kms_service(&bin, &kms_dir, kms_port).unwrap();

    // S3 unreachable for a moment: the part is retried with backoff and the upload completes.
    block_s3(&b, &s3_url, true).await;
    pick(&b, &write("flaky.bin", 6_000_000)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    block_s3(&b, &s3_url, false).await;
    let (state, message) = outcome(&b, "flaky.bin").await;
    assert_eq!(state, "done", "{message}");
    assert_eq!(states(&srv_dir), ["complete"]);

    // S3 unreachable for good: the page gives up, says why, and the upload is aborted.
    block_s3(&b, &s3_url, true).await;
    pick(&b, &write("offline.bin", 2_000_000)).await;
    let (state, message) = outcome(&b, "offline.bin").await;
    assert_eq!(state, "failed");
    assert!(
        message.contains("connection to S3 failed") && message.contains("gave up after 6 attempts"),
        "{message}"
    );
    assert_eq!(states(&srv_dir), ["complete", "aborted"]);

    // Cancel while parts are being retried: cancelled, aborted, nothing recorded.
    pick(&b, &write("cancel-me.bin", 3_000_000)).await;
    b.wait_for(
        "li.upload[data-name=\"cancel-me.bin\"][data-state=\"running\"] button.cancel",
        MIN,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.client
        .find(Locator::Css(
            "li.upload[data-name=\"cancel-me.bin\"] button.cancel",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let (state, message) = outcome(&b, "cancel-me.bin").await;
    assert_eq!(state, "cancelled", "{message}");
    block_s3(&b, &s3_url, false).await;
    // The abort reaches the server right after the page stops.
    for _ in 0..50 {
        if states(&srv_dir) == ["complete", "aborted", "aborted"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(states(&srv_dir), ["complete", "aborted", "aborted"]);

    // Over the account's quota (10 MiB stored; 6 MB already are): the form shows the room left,
    // and the upload is refused in words before anything is stored.
    b.wait_until_js(
        "(() => { const r = document.querySelector('#room'); return r && Number(r.dataset.room) < 5000000 && r.innerText.includes('Room left'); })()",
        MIN,
    )
    .await
    .unwrap();
    pick(&b, &write("over-quota.bin", 5_000_000)).await;
    let (state, message) = outcome(&b, "over-quota.bin").await;
    assert_eq!(state, "failed");
    assert!(
        message.contains("your account has") && message.contains("left"),
        "{message}"
    );
    assert_eq!(states(&srv_dir), ["complete", "aborted", "aborted"]);

    // Only the file that made it is listed.
    b.wait_for("tr.file[data-name=\"flaky.bin\"]", MIN)
        .await
        .unwrap();
    let listed = b
        .js_string("return String(document.querySelectorAll('tr.file').length)")
        .await
        .unwrap();
    assert_eq!(listed, "1");
    drop(kms);
    b.close().await;
}
