//! The per-account metadata key: made once (20 concurrent first requests agree on one key, one
//! KMS `GenerateDataKey`), released with one KMS call whatever the number of files, bound to its
//! owner and version in KMS, rotatable up to a cap, audited; an old name re-sealed under it by its
//! owner only, with bad bodies refused; scopes as the document says.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{MAX_METADATA_BYTES, MetadataKeyResponse, SUITE_COMMIT_KEY};
use cipherdrop_core::metadata::{self, FileMeta, SealedUnder};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{Client, code_of, status_of};
use reqwest::Method;
use serde_json::json;

use crate::util::TestApp;

async fn key(c: &Client, version: Option<u32>) -> anyhow::Result<(MetadataKeyResponse, [u8; 32])> {
    let (headers, v) = c
        .call(
            Method::POST,
            "/api/metadata-key",
            Some(&json!({ "version": version })),
        )
        .await?;
    assert_eq!(headers["cache-control"], "no-store");
    let r: MetadataKeyResponse = serde_json::from_value(v)?;
    let bytes: [u8; 32] = B64.decode(r.key.expose())?.try_into().unwrap();
    Ok((r, bytes))
}

async fn token(owner: &Client, url: &str, scopes: &[&str]) -> Client {
    let (_, v) = owner
        .call(
            Method::POST,
            "/api/tokens",
            Some(&json!({"name": "script", "scopes": scopes})),
        )
        .await
        .unwrap();
    Client::with_token(url, v["secret"].as_str().unwrap())
}

fn meta(name: &str) -> FileMeta {
    FileMeta {
        name: name.into(),
        media_type: "application/pdf".into(),
        sender: None,
    }
}

async fn listed_metadata(c: &Client, id: &str) -> String {
    let (_, list) = c.call(Method::GET, "/api/objects", None).await.unwrap();
    list["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .unwrap()["metadata"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_metadata_key_per_account_opens_every_name_with_one_kms_call() {
    let app = TestApp::start().await;
    let (_admin, alice, bob) = app.accounts().await;

    // Twenty first requests at once: one version, one key, whoever made it.
    let (generated, decrypted) = (app.kms_calls("GenerateDataKey"), app.kms_calls("Decrypt"));
    let firsts = futures_util::future::join_all((0..20).map(|_| key(&bob, None))).await;
    let firsts: Vec<_> = firsts.into_iter().map(Result::unwrap).collect();
    assert!(
        firsts
            .iter()
            .all(|(r, k)| (r.version, r.current, *k) == (1, 1, firsts[0].1))
    );
    let made = app.kms_calls("GenerateDataKey") - generated;
    assert!(made >= 1, "{made}");
    // One request made the key; every other one decrypted it (a racer that generated a key of
    // its own and lost the insert dropped it).
    assert_eq!(app.kms_calls("Decrypt") - decrypted, 19);

    // Alice's files, sealed under her key: one release, one KMS call, opens all of them.
    let (first, alice_key) = key(&alice, None).await.unwrap();
    assert_ne!(alice_key, firsts[0].1, "each account has its own key");
    let mut ids = Vec::new();
    for i in 0..12 {
        let (up, parts) = alice
            .upload_parts(&data(100, i), SUITE_COMMIT_KEY, 4096)
            .await
            .unwrap();
        let sealed = metadata::seal_for_account(
            &meta(&format!("scan {i}.pdf")),
            &alice_key,
            first.version,
            &up.object_id,
            &mut rand::rng(),
        );
        alice
            .complete(&up.upload_id, &parts, &B64.decode(&sealed).unwrap())
            .await
            .unwrap();
        ids.push(up.object_id);
    }
    let decrypts = app.kms_calls("Decrypt");
    let (again, same) = key(&alice, None).await.unwrap();
    assert_eq!((again.version, same), (1, alice_key));
    for (i, id) in ids.iter().enumerate() {
        let stored = listed_metadata(&alice, id).await;
        assert_eq!(
            metadata::open_for_account(&stored, &same, 1, id).unwrap(),
            meta(&format!("scan {i}.pdf"))
        );
    }
    assert_eq!(
        app.kms_calls("Decrypt") - decrypts,
        1,
        "twelve names, one call"
    );

    // In KMS the key is bound to its owner and version: Alice's EDK under Bob's row is refused.
    app.sql("UPDATE metadata_keys SET edk = (SELECT edk FROM metadata_keys WHERE user_id = (SELECT id FROM users WHERE username = 'alice')) WHERE user_id = (SELECT id FROM users WHERE username = 'bob')").await;
    let e = key(&bob, None).await.unwrap_err();
    assert!(status_of(&e) >= 500, "{e:?}");
    assert_ne!(code_of(&e), "", "{e:?}");

    // Rotation: version 2 for new names; version 1 still opens the old ones; no version 3.
    let (rotated, v2) = {
        let (_, v) = alice
            .call(Method::POST, "/api/metadata-key/rotate", None)
            .await
            .unwrap();
        let r: MetadataKeyResponse = serde_json::from_value(v).unwrap();
        let k: [u8; 32] = B64.decode(r.key.expose()).unwrap().try_into().unwrap();
        (r, k)
    };
    assert_eq!((rotated.version, rotated.current), (2, 2));
    assert_ne!(v2, alice_key);
    let (old, k1) = key(&alice, Some(1)).await.unwrap();
    assert_eq!((old.version, old.current, k1), (1, 2, alice_key));
    assert_eq!(key(&alice, None).await.unwrap().1, v2);
    for v in [0, 3, u32::MAX] {
        let e = key(&alice, Some(v)).await.unwrap_err();
        assert_eq!(status_of(&e), 404, "version {v}");
    }

    // The page re-seals a name under the newest version; only the owner's complete file takes it.
    let id = &ids[0];
    let resealed = metadata::seal_for_account(&meta("scan 0.pdf"), &v2, 2, id, &mut rand::rng());
    alice
        .call(
            Method::PUT,
            &format!("/api/objects/{id}/metadata"),
            Some(&json!({ "metadata": resealed })),
        )
        .await
        .unwrap();
    let stored = listed_metadata(&alice, id).await;
    assert_eq!(
        metadata::sealed_under(&stored).unwrap(),
        SealedUnder::AccountKey(2)
    );
    assert_eq!(
        metadata::open_for_account(&stored, &v2, 2, id).unwrap(),
        meta("scan 0.pdf")
    );
    let (pending, _) = alice
        .upload_parts(&data(10, 99), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let body = json!({ "metadata": resealed });
    for (who, c, target) in [
        ("bob", &bob, id.clone()),
        ("alice, a pending upload", &alice, pending.object_id.clone()),
        (
            "alice, no such file",
            &alice,
            "00000000-0000-4000-8000-000000000000".to_owned(),
        ),
    ] {
        let e = c
            .call(
                Method::PUT,
                &format!("/api/objects/{target}/metadata"),
                Some(&body),
            )
            .await
            .unwrap_err();
        assert_eq!(status_of(&e), 404, "{who}");
    }
    assert_eq!(listed_metadata(&alice, id).await, stored, "nothing changed");
    for bad in [
        json!({ "metadata": "" }),
        json!({ "metadata": "not base64!" }),
        json!({ "metadata": B64.encode(vec![7u8; MAX_METADATA_BYTES + 1]) }),
        json!({ "metadata": 5 }),
        json!({}),
    ] {
        let e = alice
            .call(
                Method::PUT,
                &format!("/api/objects/{id}/metadata"),
                Some(&bad),
            )
            .await
            .unwrap_err();
        assert!([400, 422].contains(&status_of(&e)), "{bad}: {e:?}");
    }

    // Rotations are capped: each is a row and a KMS call.
    let mut last = 2;
    loop {
        match alice
            .call(Method::POST, "/api/metadata-key/rotate", None)
            .await
        {
            Ok((_, v)) => last = v["version"].as_u64().unwrap(),
            Err(e) => {
                assert_eq!(status_of(&e), 409, "{e:?}");
                break;
            }
        }
        assert!(last <= 1000, "no cap");
    }
    assert_eq!(last, 100);

    // Scopes: a read token releases the key, a write token re-seals, rotation is the page's.
    let reader = token(&alice, &app.url, &["read"]).await;
    assert_eq!(key(&reader, Some(1)).await.unwrap().1, alice_key);
    let e = reader
        .call(Method::POST, "/api/metadata-key/rotate", None)
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "session_required");
    let e = key(&token(&alice, &app.url, &["write"]).await, None)
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "insufficient_scope");

    // Every release and rotation is in the audit log, under its owner; keys are in no row.
    let released = app.audit_rows("metadata_key.released").await;
    assert_eq!(released.len(), 20 + 5);
    assert_eq!(app.audit_rows("metadata_key.rotated").await.len(), 99);
    let text = app.stored_text() + &app.logs();
    for k in [alice_key, v2] {
        assert!(
            !text.contains(&B64.encode(k)),
            "a metadata key was stored or logged"
        );
    }
    let (ok, problems) = app.audit_verify().await;
    assert!(ok, "{problems}");
}
