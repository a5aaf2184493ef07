//! The sweeper: an abandoned upload is aborted in S3 and marked so, a live one is left alone.

use cipherdrop_api::{CreateUploadRequest, SUITE_COMMIT_KEY};
use reqwest::Method;

use crate::util::TestApp;

fn small() -> CreateUploadRequest {
    CreateUploadRequest {
        plaintext_size: 10,
        suite: SUITE_COMMIT_KEY,
        frame_length: 4096,
        public_key: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_uploads_are_aborted_and_live_ones_kept() {
    // Everything pending is abandoned at once; the background sweeper waits an hour.
    let app = TestApp::start_with(|c| {
        c.abandon_after = std::time::Duration::ZERO;
        c.sweep_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    let alice = app.user("alice").await;
    let up = alice.create_upload(&small()).await.unwrap();
    assert_eq!(up.key_arn, app.key_arn, "issued under the app's key");
    let put = || {
        reqwest::Client::new()
            .put(&up.parts[0].url)
            .body(vec![0u8; 10])
            .send()
    };
    assert_eq!(put().await.unwrap().status(), 200, "a part while pending");
    assert_eq!(app.sweep().await, 1);
    let (_, st) = alice
        .call(Method::GET, &format!("/api/uploads/{}", up.upload_id), None)
        .await
        .unwrap();
    assert_eq!(st["state"], "aborted");
    // S3 no longer has the multipart upload: its part URL is refused (s3s-fs answers
    // AccessDenied for an upload id it does not know).
    let r = put().await.unwrap();
    assert_eq!(r.status(), 403, "the part URL of an aborted upload");
    assert_eq!(app.sweep().await, 0, "nothing left to sweep");

    // A fresh upload survives a sweep when it is younger than the limit.
    let app = TestApp::start().await;
    let bob = app.user("bob").await;
    let up = bob.create_upload(&small()).await.unwrap();
    assert_eq!(app.sweep().await, 0);
    let (_, st) = bob
        .call(Method::GET, &format!("/api/uploads/{}", up.upload_id), None)
        .await
        .unwrap();
    assert_eq!(st["state"], "pending");
}
