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
    // The part URL signs the part's exact length (the whole message, here).
    let body = vec![0u8; usize::try_from(up.ciphertext_size).unwrap()];
    let put = || {
        reqwest::Client::new()
            .put(&up.parts[0].url)
            .body(body.clone())
            .send()
    };
    assert_eq!(put().await.unwrap().status(), 200, "a part while pending");
    assert_eq!(app.sweep().await, 1);
    let (_, st) = alice
        .call(Method::GET, &format!("/api/uploads/{}", up.upload_id), None)
        .await
        .unwrap();
    assert_eq!(st["state"], "aborted");
    // S3 no longer has the multipart upload: its part URL is refused (NoSuchUpload, as AWS
    // answers for an upload id it does not know).
    let r = put().await.unwrap();
    assert_eq!(r.status(), 404, "the part URL of an aborted upload");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_completion_racing_an_abort_leaves_an_object_nothing_lists() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    // Completion and abort of the same upload at once, twenty times: whichever wins, S3 ends up
    // holding an object exactly when the upload is recorded complete.
    let mut ids = Vec::new();
    for i in 0..20 {
        let (up, parts) = alice
            .upload_parts(&cipherdrop_testkit::data(100, i), SUITE_COMMIT_KEY, 4096)
            .await
            .unwrap();
        let (a, b) = (alice.clone(), alice.clone());
        let id = up.upload_id.clone();
        let completing = tokio::spawn(async move { a.complete(&id, &parts, b"n").await.is_ok() });
        let id = up.upload_id.clone();
        let aborting = tokio::spawn(async move {
            b.call(Method::POST, &format!("/api/uploads/{id}/abort"), None)
                .await
                .is_ok()
        });
        let (completed, _) = (completing.await.unwrap(), aborting.await.unwrap());
        ids.push((up.object_id, completed));
    }
    let stored = app.stored_keys().await;
    for (id, completed) in &ids {
        let (_, st) = alice
            .call(Method::GET, &format!("/api/uploads/{id}"), None)
            .await
            .unwrap();
        let complete = st["state"] == "complete";
        assert_eq!(complete, *completed, "{id}: {st}");
        assert_eq!(
            stored.contains(&format!("objects/{id}")),
            complete,
            "{id} is {} and its object is {}in S3",
            st["state"],
            if complete { "not " } else { "" }
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_objects_that_no_complete_upload_lists_are_swept() {
    let app = TestApp::start_with(|c| {
        c.abandon_after = std::time::Duration::ZERO;
        c.sweep_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    let alice = app.user("alice").await;
    let kept = alice
        .upload(&cipherdrop_testkit::data(10, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let orphan = alice
        .upload(&cipherdrop_testkit::data(10, 2), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    // What a lost race or a crash between S3 and the database leaves: an object, no complete row.
    sqlx::query("UPDATE objects SET state = 'aborted' WHERE id = $1")
        .bind(&orphan)
        .execute(&app.db)
        .await
        .unwrap();
    // Objects are at least a second old before the sweep may judge them.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.sweep().await;
    let stored = app.stored_keys().await;
    assert!(stored.contains(&format!("objects/{kept}")), "{stored:?}");
    assert!(!stored.contains(&format!("objects/{orphan}")), "{stored:?}");
    assert_eq!(
        alice.download(&kept).await.unwrap(),
        cipherdrop_testkit::data(10, 1)
    );
    let rows = app.audit_rows("object.deleted").await;
    assert!(
        rows.iter()
            .any(|r| r["object"] == orphan.as_str() && r["actor"] == "system")
    );
}
