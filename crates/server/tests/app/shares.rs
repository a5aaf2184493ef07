//! Share links through the server in process (embedded KMS + S3): recipients without an account get a
//! counted key release and a download URL; limits hold under 50 concurrent requests; revoked,
//! expired and exhausted links release nothing; wrong passphrases are rate-limited; tokens and
//! passphrases reach no log or table; every access is in the owner's history and the audit chain;
//! the owner sees each link's last use and the downloads they have not seen yet.
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{SUITE_COMMIT_KEY, ShareKeyResponse};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{Client, Link, code_of, status_of};
use reqwest::Method;
use serde_json::json;

use crate::util::TestApp;

fn uuid_text() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn share(owner: &Client, object: &str, body: serde_json::Value) -> Link {
    owner.share(object, body).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_links_release_keys_within_their_limits() {
    let app = TestApp::start().await;
    let (admin, alice, bob) = app.accounts().await;
    let plaintext = data(300_000, 9);
    let object = alice
        .upload(&plaintext, SUITE_COMMIT_KEY, 65536)
        .await
        .unwrap();
    let stranger = app.client();

    // Bad settings are refused with reasons.
    let upper = uuid_text().to_uppercase();
    for (body, what) in [
        (json!({"expires_in_secs": 60}), "1 hour"),
        (json!({"expires_in_secs": 31 * 24 * 3600}), "30 days"),
        (json!({"max_downloads": 0}), "1 to 1000"),
        (json!({"max_downloads": 1001}), "1 to 1000"),
        (json!({"passphrase": "short"}), "at least 8"),
        (json!({"metadata": "%%%"}), "base64"),
        (json!({"id": "not-a-uuid"}), "lowercase hyphenated UUID"),
        (json!({"id": upper}), "lowercase hyphenated UUID"),
        (
            json!({"id": "x".repeat(100_000)}),
            "lowercase hyphenated UUID",
        ),
        (json!({"sealed_key": "%%%"}), "61-byte"),
        (json!({"sealed_key": B64.encode([1u8; 60])}), "61-byte"),
        (json!({"sealed_key": B64.encode([2u8; 61])}), "61-byte"),
        (
            json!({"sealed_key": B64.encode(vec![1u8; 100_000])}),
            "61-byte",
        ),
    ] {
        let e = alice.share(&object, body.clone()).await.err().unwrap();
        assert_eq!(status_of(&e), 400, "{body}");
        assert!(format!("{e:?}").contains(what), "{body}: {e:?}");
    }
    // Only the owner shares, lists, revokes, reads history.
    let e = bob
        .call(
            Method::POST,
            &format!("/api/objects/{object}/shares"),
            Some(&json!({"id": uuid_text(), "sealed_key": B64.encode([1u8; 61])})),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 404);

    // Default link: info before any key, then a key that decrypts the stored object.
    let plain = share(
        &alice,
        &object,
        json!({"metadata": B64.encode(b"sealed name"), "note": "for you"}),
    )
    .await;
    assert_eq!(plain.created.share.max_downloads, None);
    assert!(
        (plain.created.share.expires_at - plain.created.share.created_at - 7 * 24 * 3600).abs()
            <= 1
    );
    let (_, info) = stranger
        .call(
            Method::POST,
            "/api/share",
            Some(&json!({"token": plain.token()})),
        )
        .await
        .unwrap();
    assert_eq!(info["plaintext_size"], 300_000);
    assert_eq!(info["needs_passphrase"], false);
    assert_eq!(info["note"], "for you");
    assert_eq!(info["metadata"], B64.encode(b"sealed name"));
    let k = stranger.share_key(plain.token(), None).await.unwrap();
    assert_eq!(plain.fetch(&k).await.unwrap(), plaintext);
    assert_eq!(k.remaining, None);
    // A made-up token: 404 of its own kind.
    let e = stranger.share_key("no-such-token", None).await.unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (404, "share_not_found")
    );

    // Limit 10, 50 concurrent requests from 50 cookie-less clients: exactly 10 keys.
    let ten = share(&alice, &object, json!({"max_downloads": 10})).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (c, token) = (app.client(), ten.token().to_owned());
            tokio::spawn(async move { c.share_key(&token, None).await })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 10, "exactly the limit");
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(
            (status_of(e), code_of(e).as_str()),
            (410, "share_exhausted")
        );
    }
    let remaining: Vec<u32> = results
        .iter()
        .filter_map(|r| r.as_ref().ok()?.remaining)
        .collect();
    let mut sorted = remaining.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..10).collect::<Vec<u32>>(),
        "each release counted once"
    );
    let e = stranger
        .call(
            Method::POST,
            "/api/share",
            Some(&json!({"token": ten.token()})),
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "share_exhausted");
    // The owner raises the limit: one more; lowering below what was used is refused.
    let (_, v) = alice
        .call(
            Method::PATCH,
            &format!("/api/shares/{}", ten.created.share.id),
            Some(&json!({"max_downloads": 11})),
        )
        .await
        .unwrap();
    assert_eq!(v["max_downloads"], 11);
    stranger.share_key(ten.token(), None).await.unwrap();
    let e = alice
        .call(
            Method::PATCH,
            &format!("/api/shares/{}", ten.created.share.id),
            Some(&json!({"max_downloads": 5})),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 400);

    // Limit 1: the second attempt is refused.
    let once = share(&alice, &object, json!({"max_downloads": 1})).await;
    stranger.share_key(once.token(), None).await.unwrap();
    let e = stranger.share_key(once.token(), None).await.unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (410, "share_exhausted")
    );

    // Revoked: refused, even for someone who already had a key from it.
    let revoked = share(&alice, &object, json!({})).await;
    stranger.share_key(revoked.token(), None).await.unwrap();
    let e = bob
        .call(
            Method::POST,
            &format!("/api/shares/{}/revoke", revoked.created.share.id),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 404, "only the owner revokes");
    alice
        .call(
            Method::POST,
            &format!("/api/shares/{}/revoke", revoked.created.share.id),
            None,
        )
        .await
        .unwrap();
    let e = stranger.share_key(revoked.token(), None).await.unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (410, "share_revoked")
    );

    // Expired (the test moves the link's expiry into the past in the database).
    let expiring = share(&alice, &object, json!({"expires_in_secs": 3600})).await;
    stranger.share_key(expiring.token(), None).await.unwrap();
    sqlx::query("UPDATE shares SET expires_at = strftime('%s','now') - 1 WHERE id = $1")
        .bind(&expiring.created.share.id)
        .execute(&app.db)
        .await
        .unwrap();
    let e = stranger
        .share_key(expiring.token(), None)
        .await
        .unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (410, "share_expired")
    );

    // Passphrase: wrong ones are refused, then rate-limited (even the right one), per link.
    let secret = "correct passphrase 42";
    let guarded = share(
        &alice,
        &object,
        json!({"passphrase": secret, "max_downloads": 3}),
    )
    .await;
    let e = stranger.share_key(guarded.token(), None).await.unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (401, "wrong_passphrase")
    );
    for _ in 0..4 {
        let e = stranger
            .share_key(guarded.token(), Some("guess guess"))
            .await
            .unwrap_err();
        assert_eq!(code_of(&e), "wrong_passphrase");
    }
    let e = stranger
        .share_key(guarded.token(), Some(secret))
        .await
        .unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (429, "rate_limited"));
    let other = share(&alice, &object, json!({"passphrase": secret})).await;
    let k = stranger
        .share_key(other.token(), Some(secret))
        .await
        .unwrap();
    assert_eq!(other.fetch(&k).await.unwrap(), plaintext);
    // No download was used up by the refusals.
    let (_, list) = alice
        .call(Method::GET, &format!("/api/objects/{object}/shares"), None)
        .await
        .unwrap();
    let g = list["shares"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == guarded.created.share.id.as_str())
        .unwrap();
    assert_eq!(g["downloads"], 0);
    assert_eq!(list["shares"].as_array().unwrap().len(), 7);

    // History: every access of the link, with outcomes and addresses; the attempt refused while
    // rate-limited is one counted row, written by the sweeper.
    app.sweep().await;
    let (_, history) = alice
        .call(
            Method::GET,
            &format!("/api/shares/{}/history", guarded.created.share.id),
            None,
        )
        .await
        .unwrap();
    let outcomes: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "ok", "denied", "denied", "denied", "denied", "denied", "denied"
        ]
    );
    let last = history["entries"].as_array().unwrap().last().unwrap();
    assert_eq!(
        last["detail"], "1 attempt refused unchecked while rate-limited",
        "{last}"
    );
    let (_, history) = alice
        .call(
            Method::GET,
            &format!("/api/shares/{}/history", ten.created.share.id),
            None,
        )
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    let count = |a: &str, o: &str| actions.iter().filter(|x| **x == (a, o)).count();
    assert_eq!(count("share.key", "ok"), 11, "{actions:?}");
    assert_eq!(count("share.key", "denied"), 40, "{actions:?}");
    assert_eq!(count("share.viewed", "denied"), 1, "{actions:?}");
    assert_eq!(count("share.updated", "ok"), 1, "{actions:?}");
    assert!(
        history["entries"][1]["ip"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1")
    );
    let e = admin
        .call(
            Method::GET,
            &format!("/api/shares/{}/history", guarded.created.share.id),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 404, "history is the owner's");

    // Tokens and passphrases reach no log and no table.
    let logs = app.logs();
    assert!(
        logs.contains("DEBUG"),
        "the capture must include debug logs"
    );
    let db = app.stored_text();
    for created in [&plain, &ten, &once, &revoked, &expiring, &guarded, &other] {
        assert!(
            !logs.contains(created.token()) && !db.contains(created.token()),
            "a token leaked"
        );
    }
    assert!(
        !logs.contains(secret) && !db.contains(secret),
        "a passphrase leaked"
    );
    let (intact, report) = app.audit_verify().await;
    assert!(intact, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burn_after_reading_link_deletes_the_file_after_its_download() {
    let app = TestApp::start_with(|c| {
        c.url_ttl = std::time::Duration::from_secs(3);
        c.sweep_interval = std::time::Duration::from_secs(1);
    })
    .await;
    let alice = app.user("alice").await;
    let secret = b"{\"user\": \"db\", \"password\": \"hunter2\"}".to_vec();
    let object = alice.upload(&secret, SUITE_COMMIT_KEY, 4096).await.unwrap();
    let burn = share(
        &alice,
        &object,
        json!({"max_downloads": 1, "delete_after_last": true}),
    )
    .await;
    let k = app.client().share_key(burn.token(), None).await.unwrap();
    assert_eq!(k.remaining, Some(0));
    // The recipient's download works while its URL is valid...
    assert_eq!(burn.fetch(&k).await.unwrap(), secret);
    // ...then the sweeper deletes the file (and with it the link).
    let mut gone = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if alice.details(&object).await.is_err() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the file outlived its last download");
    let e = alice.details(&object).await.unwrap_err();
    assert_eq!(status_of(&e), 404);
    let e = app
        .client()
        .share_key(burn.token(), None)
        .await
        .unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e).as_str()),
        (404, "share_not_found")
    );
    assert!(
        reqwest::get(&k.download_url)
            .await
            .unwrap()
            .status()
            .is_client_error()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_alone_or_the_server_alone_decrypts_nothing() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let plaintext = data(70_000, 3);
    let object = alice
        .upload(&plaintext, SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let key = alice.key(&object).await.unwrap();
    let data_key = B64.decode(key.data_key.expose()).unwrap();
    let link = share(&alice, &object, json!({})).await;

    // What a proxy, a link scanner or browser history sees of the link: `/s/` and nothing else.
    let url = link.url(&app.url);
    let (path, fragment) = url.split_once('#').unwrap();
    assert_eq!(path, format!("{}/s/", app.url));
    assert!(fragment.contains(link.token()));

    // Someone with the token alone (from the fragment, say a stolen history entry) gets one
    // counted release: the key still sealed under the link key, which they do not have.
    let raw = app
        .client()
        .http
        .post(format!("{}/api/share/key", app.url))
        .json(&json!({"token": link.token()}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let encodings = [
        B64.encode(&data_key),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&data_key),
        data_key
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    ];
    for e in &encodings {
        assert!(
            !raw.contains(e.as_str()),
            "the release carries the data key"
        );
    }
    let k: ShareKeyResponse = serde_json::from_str(&raw).unwrap();
    let sealed = B64.decode(&k.sealed_key).unwrap();
    assert_eq!(sealed.len(), cipherdrop_core::SEALED_LINK_KEY_LEN);
    let guess = cipherdrop_core::LinkKey::generate(&mut rand::rng());
    assert_eq!(
        cipherdrop_core::open_from_link(&sealed, &guess, link.id()).err(),
        Some(cipherdrop_core::Error::Authentication)
    );
    // The whole link decrypts.
    assert_eq!(link.fetch(&k).await.unwrap(), plaintext);
    // Nor does the server keep anything that opens alone: neither the data key nor the link
    // key is in the database (the sealed key itself is stored only as KMS ciphertext).
    let db = app.stored_bytes();
    for secret in [&data_key[..], &link.secret.key.as_bytes()[..], &sealed[..]] {
        assert!(
            !db.windows(secret.len()).any(|w| w == secret),
            "a key is in the database"
        );
    }
    for e in encodings {
        assert!(!app.logs().contains(&e), "the data key is in a log");
    }

    // A sealed key moved to another link (same link key, another id) does not open: the AAD is
    // the link's id.
    let moved = share(&alice, &object, json!({"sealed_key": k.sealed_key})).await;
    let k2 = app.client().share_key(moved.token(), None).await.unwrap();
    assert_eq!(k2.id, moved.id());
    let sealed2 = B64.decode(&k2.sealed_key).unwrap();
    assert_eq!(
        cipherdrop_core::open_from_link(&sealed2, &link.secret.key, moved.id()).err(),
        Some(cipherdrop_core::Error::Authentication)
    );
    // A link id taken twice is refused.
    let e = alice
        .share(&object, json!({"id": link.id()}))
        .await
        .err()
        .unwrap();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (409, "conflict"));

    // The stored KMS ciphertext copied from one link's row to another's (database write
    // access): KMS refuses it under the other link's context, and the download is given back.
    let victim = share(&alice, &object, json!({"max_downloads": 2})).await;
    sqlx::query(
        "UPDATE shares SET sealed_key = (SELECT sealed_key FROM shares WHERE id = $1) WHERE id = $2",
    )
    .bind(link.id())
    .bind(victim.id())
    .execute(&app.db)
    .await
    .unwrap();
    let e = app
        .client()
        .share_key(victim.token(), None)
        .await
        .unwrap_err();
    assert!(status_of(&e) >= 500, "{e:?}");
    let (_, list) = alice
        .call(Method::GET, &format!("/api/objects/{object}/shares"), None)
        .await
        .unwrap();
    let row = |id: &str| {
        list["shares"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(
        row(victim.id())["downloads"],
        0,
        "the download was given back"
    );

    // Disabling the KMS key stops every release; enabling it again restores them.
    let kms = app.kms();
    kms.disable_key().key_id(&key.key_arn).send().await.unwrap();
    let e = app
        .client()
        .share_key(link.token(), None)
        .await
        .unwrap_err();
    assert_eq!(
        (status_of(&e), code_of(&e)),
        (409, "key_unusable".to_owned()),
        "{e:?}"
    );
    kms.enable_key().key_id(&key.key_arn).send().await.unwrap();
    let k = app.client().share_key(link.token(), None).await.unwrap();
    assert_eq!(link.fetch(&k).await.unwrap(), plaintext);

    // A link in the old form (no sealed key: the server alone could release its data key) is
    // retired: refused with a reason, and the owner sees it as such.
    sqlx::query("UPDATE shares SET sealed_key = NULL WHERE id = $1")
        .bind(link.id())
        .execute(&app.db)
        .await
        .unwrap();
    for path in ["/api/share", "/api/share/key"] {
        let e = app
            .client()
            .call(Method::POST, path, Some(&json!({"token": link.token()})))
            .await
            .unwrap_err();
        assert_eq!(
            (status_of(&e), code_of(&e).as_str()),
            (410, "share_retired")
        );
        assert!(format!("{e:?}").contains("ask the person who shared it for a new link"));
    }
    let (_, list) = alice
        .call(Method::GET, &format!("/api/objects/{object}/shares"), None)
        .await
        .unwrap();
    let retired = list["shares"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == link.id())
        .unwrap();
    assert_eq!(retired["retired"], true);
    let (intact, report) = app.audit_verify().await;
    assert!(intact, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_sees_last_use_remaining_and_new_downloads_until_they_look() {
    let app = TestApp::start().await;
    let (_admin, alice, bob) = app.accounts().await;
    let a = alice
        .upload(&data(500, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let b = alice
        .upload(&data(500, 2), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let new_downloads = |list: &serde_json::Value, id: &str| {
        list["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == id)
            .unwrap()["new_downloads"]
            .as_u64()
            .unwrap()
    };
    let objects = || async {
        alice
            .call(Method::GET, "/api/objects", None)
            .await
            .unwrap()
            .1
    };
    let links = |id: String| {
        let alice = &alice;
        async move {
            alice
                .call(Method::GET, &format!("/api/objects/{id}/shares"), None)
                .await
                .unwrap()
                .1["shares"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let limited = share(&alice, &a, json!({"max_downloads": 5})).await;
    let open = share(&alice, &a, json!({})).await;
    let other = share(&alice, &b, json!({})).await;
    let list = objects().await;
    assert_eq!((new_downloads(&list, &a), new_downloads(&list, &b)), (0, 0));
    assert!(
        links(a.clone())
            .await
            .iter()
            .all(|s| s["last_used_at"].is_null())
    );

    let stranger = app.client();
    let before = cipherdrop_server::db::now();
    for _ in 0..2 {
        stranger.share_key(limited.token(), None).await.unwrap();
    }
    stranger.share_key(open.token(), None).await.unwrap();
    stranger.share_key(other.token(), None).await.unwrap();
    // A refused release (wrong token) counts nowhere.
    assert!(stranger.share_key("not-a-token", None).await.is_err());
    let list = objects().await;
    assert_eq!((new_downloads(&list, &a), new_downloads(&list, &b)), (3, 1));
    for s in links(a.clone()).await {
        assert!(s["last_used_at"].as_i64().unwrap() >= before, "{s}");
        if s["id"] == limited.id() {
            assert_eq!(
                (s["downloads"].as_u64(), s["max_downloads"].as_u64()),
                (Some(2), Some(5))
            );
            assert_eq!(s["new_downloads"], 2);
        }
    }

    // Only the owner can mark them seen, and only for their own file.
    for (c, id) in [(&bob, &a), (&app.client(), &a)] {
        let e = c
            .call(
                Method::POST,
                &format!("/api/objects/{id}/shares/seen"),
                None,
            )
            .await
            .unwrap_err();
        assert!([401, 404].contains(&status_of(&e)), "{e:?}");
    }
    assert_eq!(new_downloads(&objects().await, &a), 3);
    alice
        .call(Method::POST, &format!("/api/objects/{a}/shares/seen"), None)
        .await
        .unwrap();
    let list = objects().await;
    assert_eq!((new_downloads(&list, &a), new_downloads(&list, &b)), (0, 1));
    assert!(
        links(a.clone())
            .await
            .iter()
            .all(|s| s["new_downloads"] == 0)
    );
    // A later download is new again.
    stranger.share_key(open.token(), None).await.unwrap();
    assert_eq!(new_downloads(&objects().await, &a), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_link_gives_several_files_with_one_counted_release() {
    let app = TestApp::start().await;
    let (_admin, alice, bob) = app.accounts().await;
    let contents: Vec<Vec<u8>> = vec![data(70_000, 1), Vec::new(), data(5_000, 3)];
    let mut ids = Vec::new();
    for c in &contents {
        ids.push(alice.upload(c, SUITE_COMMIT_KEY, 4096).await.unwrap());
    }
    let names = [
        "folder/report.pdf",
        "folder/empty.txt",
        "folder/sub/notes.md",
    ];
    let files: Vec<(&str, &str)> = ids.iter().map(String::as_str).zip(names).collect();
    let set = alice
        .share_set(&files, json!({"max_downloads": 2}))
        .await
        .unwrap();
    assert_eq!(set.created.share.files, 3);

    // The holder sees the files' sealed names (opened only with the link key) before a release.
    let stranger = app.client();
    let (_, info) = stranger
        .call(
            Method::POST,
            "/api/share",
            Some(&json!({"token": set.token()})),
        )
        .await
        .unwrap();
    let info: cipherdrop_api::ShareInfo = serde_json::from_value(info).unwrap();
    assert_eq!(info.items.len(), 3);
    for (item, (id, name)) in info.items.iter().zip(&files) {
        assert_eq!(
            (
                item.object_id.as_str(),
                set.item_name(item).unwrap().as_str()
            ),
            (*id, *name)
        );
    }

    // One counted release gives every file's key and URL.
    let kms = app.kms_calls("Decrypt");
    let release = stranger.share_key(set.token(), None).await.unwrap();
    assert_eq!(
        app.kms_calls("Decrypt") - kms,
        1,
        "one set key for every file of the link"
    );
    assert_eq!(release.remaining, Some(1));
    assert_eq!(release.items.len(), 3);
    for (item, content) in release.items.iter().zip(&contents) {
        assert!(set.fetch_item(&release, item).await.unwrap() == *content);
    }

    // Bad sets are refused whole; nothing is made.
    let (a, b) = (ids[0].as_str(), ids[1].as_str());
    let bobs = bob
        .upload(&data(10, 9), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let (pending, _) = alice
        .upload_parts(&data(10, 8), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let too_many: Vec<(&str, &str)> = (0..=cipherdrop_api::SHARE_MAX_FILES)
        .map(|_| (a, "x"))
        .collect();
    for (label, files, body, status) in [
        (
            "another account's file",
            vec![(a, "a"), (bobs.as_str(), "b")],
            json!({}),
            404,
        ),
        (
            "a pending upload",
            vec![(a, "a"), (pending.object_id.as_str(), "p")],
            json!({}),
            404,
        ),
        (
            "a file twice",
            vec![(a, "a"), (b, "b"), (a, "again")],
            json!({}),
            400,
        ),
        ("too many files", too_many, json!({}), 400),
        (
            "burn after reading",
            vec![(a, "a"), (b, "b")],
            json!({"delete_after_last": true}),
            400,
        ),
        (
            "a sealed key beside the items",
            vec![(a, "a")],
            json!({"sealed_key": "AQ=="}),
            400,
        ),
    ] {
        let e = alice.share_set(&files, body).await.err().unwrap();
        assert_eq!(status_of(&e), status, "{label}: {e:?}");
    }
    let e = alice
        .call(
            Method::POST,
            "/api/shares",
            Some(&json!({"id": uuid_text(), "items": [
            {"object_id": a, "sealed_key": "AAAA", "metadata": ""}]})),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 400, "a sealed key of the wrong length");
    let e = alice
        .call(
            Method::POST,
            "/api/shares",
            Some(&json!({"id": uuid_text(), "items": []})),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 400, "no files");
    let e = bob.share_set(&files, json!({})).await.err().unwrap();
    assert_eq!(status_of(&e), 404, "bob shares none of alice's files");

    // Each file's key is bound to its file in KMS: keys swapped between rows release nothing,
    // and the failed release is not counted.
    let swapped = alice.share_set(&files[..2], json!({})).await.unwrap();
    app.sql(&format!(
        "UPDATE share_items SET sealed_key = (SELECT sealed_key FROM share_items WHERE share_id = '{s}' AND position = 0) \
         WHERE share_id = '{s}' AND position = 1",
        s = swapped.id()
    ))
    .await;
    assert!(stranger.share_key(swapped.token(), None).await.is_err());
    let (_, listed) = alice
        .call(Method::GET, &format!("/api/objects/{b}/shares"), None)
        .await
        .unwrap();
    let row = listed["shares"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == swapped.id())
        .expect("a file's panel lists the sets it is in")
        .clone();
    assert_eq!(
        (row["downloads"].as_u64(), row["files"].as_u64()),
        (Some(0), Some(2))
    );

    // Deleting the set's first file: the link goes on with the others.
    alice
        .call(Method::DELETE, &format!("/api/objects/{a}"), None)
        .await
        .unwrap();
    let release = stranger.share_key(set.token(), None).await.unwrap();
    assert_eq!(release.remaining, Some(0));
    assert_eq!(
        release
            .items
            .iter()
            .map(|i| i.object_id.as_str())
            .collect::<Vec<_>>(),
        [b, ids[2].as_str()]
    );
    for (item, content) in release.items.iter().zip(&contents[1..]) {
        assert!(set.fetch_item(&release, item).await.unwrap() == *content);
    }
    let e = stranger.share_key(set.token(), None).await.unwrap_err();
    assert_eq!(
        code_of(&e),
        "share_exhausted",
        "the set counts as one download per release"
    );
    let (ok, problems) = app.audit_verify().await;
    assert!(ok, "{problems}");
    assert!(
        app.audit_rows("share.key")
            .await
            .iter()
            .any(|r| r["detail"].as_str().unwrap().starts_with("keys of 3 files")),
        "the release names every file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_only_link_says_so_to_its_recipient_and_owner_and_is_for_one_file() {
    let app = TestApp::start().await;
    let (_admin, alice, _bob) = app.accounts().await;
    let a = alice
        .upload(&data(3_000, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let b = alice
        .upload(&data(3_000, 2), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let plain = share(&alice, &a, json!({})).await;
    let viewed = share(&alice, &a, json!({"view_only": true})).await;
    assert!(viewed.created.share.view_only && !plain.created.share.view_only);
    let stranger = app.client();
    for (link, want) in [(&plain, false), (&viewed, true)] {
        let (_, info) = stranger
            .call(
                Method::POST,
                "/api/share",
                Some(&json!({"token": link.token()})),
            )
            .await
            .unwrap();
        assert_eq!(info["view_only"], want);
    }
    let (_, listed) = alice
        .call(Method::GET, &format!("/api/objects/{a}/shares"), None)
        .await
        .unwrap();
    let flags: Vec<bool> = listed["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["view_only"].as_bool().unwrap())
        .collect();
    assert_eq!(flags.iter().filter(|v| **v).count(), 1, "{listed}");
    // A link to several files cannot be view-only: the page opens one file at a time.
    let Err(e) = alice
        .share_set(&[(&a, "a.txt"), (&b, "b.txt")], json!({"view_only": true}))
        .await
    else {
        panic!("a view-only link to two files was made");
    };
    assert_eq!(status_of(&e), 400);
}
