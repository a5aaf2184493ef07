//! Resuming a pending upload: the server says which parts S3 holds (ListParts) and gives the
//! owner, and only the owner, the pending upload's data key again, audited; the parts sent
//! later complete the same object. A finished or aborted upload releases nothing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    CompletedPart, CreateUploadRequest, PendingKeyResponse, SUITE_COMMIT_KEY, UploadStatus,
};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{encrypt_for, status_of};
use reqwest::Method;

use crate::util::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_upload_resumes_from_what_s3_holds_for_its_owner_only() {
    let app = TestApp::start().await;
    let (_admin, alice, bob) = app.accounts().await;
    let plain = data(11 << 20, 41);
    let up = alice
        .create_upload(&CreateUploadRequest {
            plaintext_size: plain.len() as u64,
            suite: SUITE_COMMIT_KEY,
            frame_length: 65536,
            public_key: None,
        })
        .await
        .unwrap();
    assert_eq!(up.part_count, 3);
    let ciphertext = encrypt_for(&up, None, 65536, &plain).unwrap();
    let chunks: Vec<Vec<u8>> = ciphertext
        .chunks(usize::try_from(up.part_size).unwrap())
        .map(<[u8]>::to_vec)
        .collect();
    let url = |n: u32| {
        up.parts
            .iter()
            .find(|p| p.part_number == n)
            .unwrap()
            .url
            .clone()
    };
    // Parts 1 and 3 arrive; then the client is gone.
    let etag1 = alice.put_part(&url(1), chunks[0].clone()).await.unwrap();
    let etag3 = alice.put_part(&url(3), chunks[2].clone()).await.unwrap();

    let path = format!("/api/uploads/{}", up.upload_id);
    let (_, v) = alice.call(Method::GET, &path, None).await.unwrap();
    let status: UploadStatus = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(status.state, cipherdrop_api::ObjectState::Pending);
    assert_eq!(v["state"], "pending");
    assert_eq!(
        (status.suite, status.frame_length, status.plaintext_size),
        (SUITE_COMMIT_KEY, 65536, plain.len() as u64)
    );
    assert_eq!(status.ciphertext_size, up.ciphertext_size);
    let stored: Vec<(u32, u64)> = status
        .stored
        .iter()
        .map(|p| (p.part_number, p.size))
        .collect();
    assert_eq!(
        stored,
        [(1, chunks[0].len() as u64), (3, chunks[2].len() as u64)]
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((status.abandon_at - (now + 24 * 3600)).abs() < 60);

    // The owner gets the same data key, EDK and context again, no-store, audited.
    let key_path = format!("/api/uploads/{}/key", up.upload_id);
    let (headers, v) = alice.call(Method::POST, &key_path, None).await.unwrap();
    assert_eq!(headers["cache-control"], "no-store");
    let again: PendingKeyResponse = serde_json::from_value(v).unwrap();
    assert_eq!(again.data_key.expose(), up.data_key.expose());
    assert_eq!(
        (&again.key_arn, &again.edk, &again.encryption_context),
        (&up.key_arn, &up.edk, &up.encryption_context)
    );
    assert!(B64.decode(again.data_key.expose()).unwrap().len() == 32);
    let released = app.audit_rows("key.released").await;
    assert!(
        released.iter().any(|r| r["object"] == up.upload_id.as_str()
            && r["outcome"] == "ok"
            && r["detail"]
                .as_str()
                .unwrap()
                .contains("resume a pending upload")),
        "{released:?}"
    );

    // Someone else: nothing, and the attempt is in the log.
    for (m, p) in [(Method::GET, &path), (Method::POST, &key_path)] {
        let e = bob.call(m, p, None).await.unwrap_err();
        assert_eq!(status_of(&e), 404);
    }
    let released = app.audit_rows("key.released").await;
    assert!(
        released
            .iter()
            .any(|r| r["object"] == up.upload_id.as_str() && r["outcome"] == "denied"),
        "{released:?}"
    );

    // The missing part, then completion: one object, the plaintext back.
    let etag2 = alice.put_part(&url(2), chunks[1].clone()).await.unwrap();
    let parts: Vec<CompletedPart> = [etag1, etag2, etag3]
        .into_iter()
        .enumerate()
        .map(|(i, etag)| CompletedPart {
            part_number: u32::try_from(i + 1).unwrap(),
            etag,
        })
        .collect();
    alice
        .complete(&up.upload_id, &parts, b"sealed-name")
        .await
        .unwrap();
    assert!(alice.download(&up.object_id).await.unwrap() == plain);

    // Finished: the pending key is no longer released, and nothing is listed.
    let e = alice.call(Method::POST, &key_path, None).await.unwrap_err();
    assert_eq!(status_of(&e), 409);
    let (_, v) = alice.call(Method::GET, &path, None).await.unwrap();
    let status: UploadStatus = serde_json::from_value(v).unwrap();
    assert_eq!(
        (status.state.as_str(), status.stored.len()),
        ("complete", 0)
    );

    // Aborted: the same.
    let other = alice.open_upload(10).await.unwrap();
    alice
        .call(
            Method::POST,
            &format!("/api/uploads/{}/abort", other.upload_id),
            None,
        )
        .await
        .unwrap();
    let e = alice
        .call(
            Method::POST,
            &format!("/api/uploads/{}/key", other.upload_id),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_row_is_an_error_never_a_silent_zero() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let up = alice.open_upload(100_000).await.unwrap();
    let path = format!("/api/uploads/{}", up.upload_id);
    for damage in [
        "UPDATE objects SET plaintext_size = -1 WHERE id = $1",
        "UPDATE objects SET part_size = -5242880 WHERE id = $1",
        "UPDATE objects SET suite = 39321 WHERE id = $1",
    ] {
        sqlx::query(damage)
            .bind(&up.upload_id)
            .execute(&app.db)
            .await
            .unwrap();
        let e = alice.call(Method::GET, &path, None).await.unwrap_err();
        assert_eq!(status_of(&e), 500, "{damage}: {e:#}");
        // Put the row back as it was issued; it reads as before.
        sqlx::query(
            "UPDATE objects SET plaintext_size = 100000, part_size = $2, suite = $3, \
             state = 'pending' WHERE id = $1",
        )
        .bind(&up.upload_id)
        .bind(i64::try_from(up.part_size).unwrap())
        .bind(i64::from(SUITE_COMMIT_KEY))
        .execute(&app.db)
        .await
        .unwrap();
        let (_, v) = alice.call(Method::GET, &path, None).await.unwrap();
        assert_eq!(v["plaintext_size"], 100_000, "{damage}");
    }
}
