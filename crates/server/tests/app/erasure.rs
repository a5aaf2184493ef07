//! Erasure by key: an account whose KMS key holds imported material (bring your own key) loses
//! every file at once when that material is deleted — owner downloads, share links, new uploads
//! and the official Python ESDK are all refused, in words — while other accounts are untouched;
//! the same material imported again makes everything readable as before.

use cipherdrop_api::{ErrorCode, SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384};
use cipherdrop_testkit::byok;
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{code_of, message_of, status_of};
use serde_json::json;

use crate::util::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_accounts_imported_key_material_makes_all_its_files_unreadable_until_reimported()
 {
    let app = TestApp::start_with(|c| c.share_releases_per_ip = 100_000).await;
    let (admin, alice, bob) = app.accounts().await;
    let kms = app.kms();
    let material = byok::new_material();
    let byok_key = byok::create_imported_key(&kms, &material).await.unwrap();
    admin
        .set_account_key("alice", Some(&byok_key))
        .await
        .unwrap();

    // Alice's files (both suites) and a link; Bob's file under the server's key.
    let mut files = Vec::new();
    for (i, suite) in [SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384]
        .into_iter()
        .enumerate()
    {
        let plain = data(100_000 + i, i as u64);
        let id = alice.upload(&plain, suite, 65_536).await.unwrap();
        assert_eq!(alice.details(&id).await.unwrap().key_arn, byok_key);
        let stored = alice.download_ciphertext(&id).await.unwrap();
        files.push((id, plain, stored));
    }
    let link = alice.share(&files[0].0, json!({})).await.unwrap();
    let stranger = app.client();
    assert_eq!(
        link.fetch(&stranger.share_key(link.token(), None).await.unwrap())
            .await
            .unwrap(),
        files[0].1
    );
    let bobs = data(5000, 9);
    let bobs_id = bob.upload(&bobs, SUITE_COMMIT_KEY, 4096).await.unwrap();
    for (_, plain, stored) in &files {
        assert_eq!(&app.esdk_decrypt(&byok_key, stored).await.unwrap(), plain);
    }

    // The material is deleted (by the key's owner, in KMS): everything of Alice's is refused in
    // words, nothing is changed, and Bob is untouched.
    kms.delete_imported_key_material()
        .key_id(&byok_key)
        .send()
        .await
        .unwrap();
    let unusable = |e: anyhow::Error, what: &str| {
        assert_eq!(
            (status_of(&e), code_of(&e)),
            (409, "key_unusable".to_owned()),
            "{what}: {e:#}"
        );
        assert!(
            message_of(&e).contains("imported key material was deleted"),
            "{what}: {}",
            message_of(&e)
        );
    };
    for (id, _, _) in &files {
        unusable(alice.download(id).await.unwrap_err(), "owner download");
    }
    unusable(
        stranger.share_key(link.token(), None).await.unwrap_err(),
        "share link",
    );
    unusable(
        alice
            .upload(&data(10, 1), SUITE_COMMIT_KEY, 4096)
            .await
            .unwrap_err(),
        "new upload",
    );
    assert_eq!(
        ErrorCode::KeyUnusable.as_str(),
        "key_unusable",
        "the code the page and the CLI match on"
    );
    for (_, _, stored) in &files {
        let e = app.esdk_decrypt(&byok_key, stored).await.unwrap_err();
        assert!(
            format!("{e:#}").contains("KMSInvalidStateException"),
            "the official ESDK refuses too: {e:#}"
        );
    }
    // The stored objects are intact.
    for (id, _, stored) in &files {
        assert_eq!(&alice.download_ciphertext(id).await.unwrap(), stored);
    }
    assert_eq!(bob.download(&bobs_id).await.unwrap(), bobs);

    // Another account's key material cannot be passed off as this key's.
    let other = byok::new_material();
    let e = byok::import_material(&kms, &byok_key, &other)
        .await
        .unwrap_err();
    assert!(
        format!("{e:?}").contains("IncorrectKeyMaterialException"),
        "{e:?}"
    );

    // The same material again: all readable, the link too.
    byok::import_material(&kms, &byok_key, &material)
        .await
        .unwrap();
    for (id, plain, stored) in &files {
        assert_eq!(&alice.download(id).await.unwrap(), plain);
        assert_eq!(&app.esdk_decrypt(&byok_key, stored).await.unwrap(), plain);
    }
    assert_eq!(
        link.fetch(&stranger.share_key(link.token(), None).await.unwrap())
            .await
            .unwrap(),
        files[0].1
    );
    alice
        .upload(&data(10, 2), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
}
