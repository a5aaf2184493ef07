//! Per-account quotas under attack: hundreds of concurrent uploads get no more than the pending
//! count and bytes allow, stored bytes stop at the limit and free up on delete, refusals say in
//! words what is left, a per-account override applies to that account only, and `GET /api/usage`
//! reports all of it.
use cipherdrop_api::{CreateUploadRequest, SUITE_COMMIT_KEY, Usage};
use cipherdrop_server::{Quota, QuotaOverrides};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{Client, code_of, status_of};
use reqwest::Method;

use crate::util::TestApp;

const KIB: u64 = 1024;

fn request(plaintext_size: u64) -> CreateUploadRequest {
    CreateUploadRequest {
        plaintext_size,
        suite: SUITE_COMMIT_KEY,
        frame_length: 4096,
        public_key: None,
    }
}

async fn usage(c: &Client) -> Usage {
    let (_, v) = c.call(Method::GET, "/api/usage", None).await.unwrap();
    serde_json::from_value(v).unwrap()
}

/// `n` concurrent creates of `size` bytes each; the upload ids made and the refusal codes.
async fn burst(c: &Client, n: usize, size: u64) -> (Vec<String>, Vec<String>) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.create_upload(&request(size)).await })
        })
        .collect();
    let (mut made, mut refused) = (Vec::new(), Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => made.push(r.upload_id),
            Err(e) => refused.push(code_of(&e)),
        }
    }
    (made, refused)
}

async fn abort_all(c: &Client, ids: &[String]) {
    for id in ids {
        c.call(Method::POST, &format!("/api/uploads/{id}/abort"), None)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quotas_hold_against_concurrent_uploads_and_say_what_is_left() {
    let app = TestApp::start_with(|c| {
        c.quota = Quota {
            pending_uploads: 3,
            pending_bytes: 1024 * KIB,
            stored_bytes: 2048 * KIB,
        };
    })
    .await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let fresh = usage(&alice).await;
    assert_eq!(
        (fresh.pending_uploads, fresh.stored_bytes, fresh.room()),
        (0, 0, 1024 * KIB)
    );

    // 200 uploads at once: exactly 3 may be pending.
    let (made, refused) = burst(&alice, 200, 10 * KIB).await;
    assert_eq!(made.len(), 3, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|c| c == "too_many_pending" || c == "quota_changed"),
        "{refused:?}"
    );
    let u = usage(&alice).await;
    assert_eq!(u.pending_uploads, 3);
    let e = alice.create_upload(&request(1)).await.unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (409, "too_many_pending")
    );
    assert!(format!("{e:?}").contains("3 unfinished uploads"), "{e:?}");
    // Bob's room is his own.
    assert_eq!(burst(&bob, 1, 10 * KIB).await.0.len(), 1);
    abort_all(&alice, &made).await;
    assert_eq!(
        usage(&alice).await.pending_uploads,
        0,
        "aborts free the room"
    );

    // 200 uploads of 300 KiB at once against 1 MiB of pending bytes: at most 3 fit, and the
    // bytes they declared stay within the limit.
    let (made, refused) = burst(&alice, 200, 300 * KIB).await;
    let u = usage(&alice).await;
    assert!(u.pending_bytes <= 1024 * KIB, "{u:?}");
    assert_eq!(made.len(), 3, "{refused:?}");
    assert_eq!(u.pending_uploads, 3);
    abort_all(&alice, &made).await;

    // A single file larger than the room: 413, in words.
    let e = alice.create_upload(&request(1100 * KIB)).await.unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (413, "quota_exceeded")
    );
    // (The refusal's own words, not the error's Debug, which may carry a backtrace naming this
    // test.)
    let body = cipherdrop_testkit::server::message_of(&e);
    assert!(body.contains("leave 1.0 MiB of the 1.0 MiB"), "{e:?}");

    // Stored bytes: complete uploads until the limit; the next is refused; a delete frees room.
    let mut stored = Vec::new();
    for i in 0..3 {
        stored.push(
            alice
                .upload(&data(600 * 1024, i), SUITE_COMMIT_KEY, 4096)
                .await
                .unwrap(),
        );
    }
    let u = usage(&alice).await;
    assert!(
        u.stored_bytes > 1800 * KIB && u.stored_bytes <= 2048 * KIB,
        "{u:?}"
    );
    let e = alice.create_upload(&request(300 * KIB)).await.unwrap_err();
    assert_eq!(code_of(&e), "quota_exceeded");
    assert!(format!("{e:?}").contains("delete files"), "{e:?}");
    alice
        .call(Method::DELETE, &format!("/api/objects/{}", stored[0]), None)
        .await
        .unwrap();
    alice
        .upload(&data(300 * 1024, 9), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();

    // An account's own limit (what `cipherdrop user quota` sets) applies to it alone.
    cipherdrop_server::admin::set_quota(
        &app.db,
        "bob",
        QuotaOverrides {
            quota_pending_uploads: Some(5),
            ..QuotaOverrides::default()
        },
    )
    .await
    .unwrap();
    let (made, _) = burst(&bob, 20, KIB).await;
    assert_eq!(made.len(), 4, "bob's own 5, minus the one he has");
    assert_eq!(usage(&bob).await.pending_uploads_limit, 5);
    assert_eq!(usage(&alice).await.pending_uploads_limit, 3);
    let e = cipherdrop_server::admin::set_quota(&app.db, "nobody", QuotaOverrides::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no account"), "{e}");
    let rows = app.audit_rows("user.quota").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
}
