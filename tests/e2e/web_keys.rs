//! The administrators' Keys panel in headless Chromium: the keys stored files are under, a
//! rotation previewed, started and followed to `done` through the page (the server moves the
//! file; the page only asks), and an account given its own key, to which its owner then moves a
//! file from the inspector. Another account sees no panel.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use cipherdrop_api::SUITE_COMMIT_KEY;
use cipherdrop_e2e::browser::{Browser, cipherdrop_bin, web_dist};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{PASSWORD, ServerProcess, setup_accounts, stored_credentials};

const WAIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_rotates_keys_from_the_page() {
    let bin = cipherdrop_bin().unwrap();
    let web = web_dist().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with_web(&bin, dir.path(), &web, &[], &[]).unwrap();
    let (_admin, alice, _bob) = setup_accounts(&server, &bin).await.unwrap();
    let plain = data(300_000, 1);
    let id = alice
        .upload(&plain, SUITE_COMMIT_KEY, 65_536)
        .await
        .unwrap();
    let old_key = server.key.clone();

    // Alice is no administrator: no panel.
    let b = Browser::start().await.unwrap();
    b.log_in(&server.url, "alice", PASSWORD).await.unwrap();
    b.wait_for("#settings", WAIT).await.unwrap();
    assert_eq!(
        b.js_string("return String(!!document.querySelector('#keys-admin'))")
            .await
            .unwrap(),
        "false"
    );
    b.close().await;

    // New uploads use a new key (the embedded KMS's alias moved to it).
    let creds = stored_credentials(&dir.path().join("kms")).unwrap();
    let kms =
        cipherdrop_testkit::kms_client(server.kms_url.as_ref().unwrap(), &creds.0, &creds.1, true);
    let new_key = cipherdrop_testkit::point_alias_at_new_key(&kms, "alias/cipherdrop").await;

    let b = Browser::start().await.unwrap();
    b.log_in(&server.url, "admin", PASSWORD).await.unwrap();
    b.wait_for(&format!("tr.key-in-use[data-arn='{old_key}']"), WAIT)
        .await
        .unwrap();
    b.type_into("#rekey-to", &new_key).await.unwrap();
    b.click("#rekey-preview").await.unwrap();
    if let Err(e) = b
        .wait_until_js(
            "document.querySelector('#keys-notice').innerText.includes('Would move 1 files')",
            WAIT,
        )
        .await
    {
        let panel = b
            .js_string("return document.querySelector('#keys-admin').innerText")
            .await
            .unwrap();
        let fields = b
            .js_string("return ['#rekey-from','#rekey-to','#rekey-account','#rekey-rate'].map(s => JSON.stringify(document.querySelector(s).value)).join(' | ')")
            .await
            .unwrap();
        panic!("{e}\n\nthe panel says:\n{panel}\nfields: {fields}");
    }
    b.click("#rekey-start").await.unwrap();
    b.wait_until_js(
        "(() => { const j = document.querySelector('tr.rekey-job'); \
           return j && ['done', 'failed'].includes(j.dataset.state); })()",
        WAIT,
    )
    .await
    .unwrap();
    let (state, text) = (
        b.js_string("return document.querySelector('tr.rekey-job').dataset.state")
            .await
            .unwrap(),
        b.js_string("return document.querySelector('tr.rekey-job').innerText")
            .await
            .unwrap(),
    );
    assert_eq!(state, "done", "{text}");
    assert!(text.contains("1 of 1 files"), "{text}");
    assert_eq!(alice.details(&id).await.unwrap().key_arn, new_key);
    kms.disable_key().key_id(&old_key).send().await.unwrap();
    assert_eq!(alice.download(&id).await.unwrap(), plain);

    // Alice's own key, set in the page.
    b.type_into("tr.account-key[data-username='alice'] input", "alias/alice")
        .await
        .unwrap();
    b.click("tr.account-key[data-username='alice'] button.save-key")
        .await
        .unwrap();
    b.wait_until_js(
        "document.querySelector('#keys-notice').innerText.includes('alias/alice')",
        WAIT,
    )
    .await
    .unwrap();
    let own = cipherdrop_testkit::server::sqlite(
        dir.path(),
        "SELECT kms_key_id FROM users WHERE username = 'alice'",
    )
    .unwrap();
    assert_eq!(own[0][0], "alias/alice");
    assert!(b.csp_violations().await.unwrap().is_empty());
    b.close().await;

    // Alice moves her file to her key from the inspector: refused in words while the alias
    // names no key, then done by a server within seconds once it does.
    let b = Browser::start().await.unwrap();
    b.log_in(&server.url, "alice", PASSWORD).await.unwrap();
    let inspect = format!("tr.file[data-id=\"{id}\"] button.inspect");
    b.wait_for(&inspect, WAIT).await.unwrap();
    b.click(&inspect).await.unwrap();
    b.wait_for("#inspector #move-key", WAIT).await.unwrap();
    assert!(
        b.js_string("return document.querySelector('#file-key').innerText")
            .await
            .unwrap()
            .contains(&new_key)
    );
    b.click("#move-key").await.unwrap();
    b.wait_until_js(
        "document.querySelector('#move-key-result.error')?.innerText.includes('cannot take this file')",
        WAIT,
    )
    .await
    .unwrap();
    let alice_key = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    kms.create_alias()
        .alias_name("alias/alice")
        .target_key_id(&alice_key)
        .send()
        .await
        .unwrap();
    b.click("#move-key").await.unwrap();
    b.wait_until_js(
        "document.querySelector('#move-key-result:not(.error)')?.innerText.includes('Queued')",
        WAIT,
    )
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while alice.details(&id).await.unwrap().key_arn != alice_key {
        assert!(std::time::Instant::now() < deadline, "the file never moved");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(alice.download(&id).await.unwrap(), plain);
    assert!(b.csp_violations().await.unwrap().is_empty());
    b.close().await;
}
