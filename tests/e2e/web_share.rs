//! Sharing through the real pages in headless Chromium: the owner makes links in one browser; a
//! recipient in a separate browser (own profile, no cookies, no account) opens them, sees the
//! decrypted name, downloads identical bytes; a limit of 1 refuses the second visit; a revoked
//! link refuses; a burn-after-reading secret text shows once, then the file is gone; the owner
//! sees each link's access history, its last use, what is left and a badge for downloads since
//! they last looked; each new link's QR code, drawn in the page, decodes to it;
//! no token reaches the server's log. Links carry their whole secret in the fragment (the path is
//! `/s/`), the page removes it from the address bar, and a link in the retired form
//! `/s/{token}#k=…` is refused without a request that names it. A folder (nested paths, an
//! empty and a multi-part file) uploaded through the page and ticked into one link downloads, in
//! a browser with no account, as one zip that Python's `zipfile` reads back byte for byte, and
//! file by file, all for one counted download; so do three files ticked one by one.
//!
//! Needs `cargo build -p cipherdrop-cli` (same profile), `trunk build` (for `dist/`), chromedriver
//! with Chromium.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use cipherdrop_core::LinkSecret;
use cipherdrop_e2e::browser::{Browser, cipherdrop_bin, web_dist};
use cipherdrop_testkit::server::{PASSWORD, ServerProcess, add_user, sqlite};

const MIN: Duration = Duration::from_secs(60);
const NAME: &str = "contract (signed).pdf";

/// Makes a link for the listed file `name` with the given limit (empty: none) and burn flag;
/// returns the link.
async fn make_link(owner: &Browser, name: &str, limit: &str, burn: bool) -> String {
    owner
        .click(&format!("tr.file[data-name=\"{name}\"] button.share"))
        .await
        .unwrap();
    owner.wait_for("#share-form", MIN).await.unwrap();
    create_link(owner, limit, burn).await
}

/// Fills the open share panel's form (limit, burn flag where it is offered) and makes the link;
/// returns it, after checking that its QR code reads back as the same link.
async fn create_link(owner: &Browser, limit: &str, burn: bool) -> String {
    owner
        .client
        .execute(
            "document.querySelector('#share-limit').value = arguments[0]; \
             const b = document.querySelector('#share-burn'); if (b && b.checked !== arguments[1]) b.click(); \
             const l = document.querySelector('#share-link'); if (l) l.value = '';",
            vec![limit.into(), burn.into()],
        )
        .await
        .unwrap();
    owner.click("#share-create").await.unwrap();
    owner
        .wait_until_js(
            "(() => { const l = document.querySelector('#share-link'); return l && l.value.includes('/s/'); })()",
            MIN,
        )
        .await
        .unwrap();
    let link = owner
        .js_string("return document.querySelector('#share-link').value")
        .await
        .unwrap();
    // The page draws the link as a QR code too, and it reads back as the same link.
    assert_eq!(owner.qr_text("#share-qr").await.unwrap(), link);
    link
}

/// Opens `link` in the recipient's browser and waits until the page has decided.
async fn open(recipient: &Browser, link: &str) -> String {
    recipient.client.goto("about:blank").await.unwrap();
    recipient.client.goto(link).await.unwrap();
    recipient
        .wait_until_js(
            "['ready','refused'].includes(document.querySelector('#recipient')?.dataset.state)",
            MIN,
        )
        .await
        .unwrap();
    recipient
        .js_string("return document.querySelector('#recipient').dataset.state")
        .await
        .unwrap()
}

/// Clicks Download on the recipient page and waits for the outcome; returns (state, message).
async fn take(recipient: &Browser) -> (String, String) {
    recipient
        .client
        .execute(
            "const c = document.querySelector('#save-picker'); if (c && c.checked) c.click();",
            vec![],
        )
        .await
        .unwrap();
    recipient.click("#recipient-download").await.unwrap();
    recipient
        .wait_until_js(
            "['done','failed'].includes(document.querySelector('#recipient').dataset.state)",
            MIN,
        )
        .await
        .unwrap();
    let state = recipient
        .js_string("return document.querySelector('#recipient').dataset.state")
        .await
        .unwrap();
    let message = recipient
        .js_string("return document.querySelector('#recipient').innerText")
        .await
        .unwrap();
    (state, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_links_through_the_pages() {
    let bin = cipherdrop_bin().unwrap();
    let web = web_dist().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with_web(&bin, data.path(), &web, &[], &[]).unwrap();
    add_user(&bin, data.path(), "alice", PASSWORD, false).unwrap();
    let files = tempfile::tempdir().unwrap();
    let content = cipherdrop_testkit::data(3 * 1024 * 1024 + 5, 11);
    let path = files.path().join(NAME);
    std::fs::write(&path, &content).unwrap();

    let owner = Browser::start().await.unwrap();
    owner.log_in(&server.url, "alice", PASSWORD).await.unwrap();
    owner
        .type_into("#file-input", &path.display().to_string())
        .await
        .unwrap();
    let (state, message) = owner.upload_outcome(NAME, 2 * MIN).await.unwrap();
    assert_eq!(state, "done", "{message}");
    owner
        .wait_for(&format!("tr.file[data-name=\"{NAME}\"]"), MIN)
        .await
        .unwrap();

    // Limit 1: the recipient (another browser, no account) downloads once.
    let once = make_link(&owner, NAME, "1", false).await;
    let (path, fragment) = once.split_once('#').unwrap();
    assert_eq!(
        path,
        format!("{}/s/", server.url),
        "nothing secret before the #"
    );
    let parsed = LinkSecret::parse(fragment).unwrap();
    assert_eq!(parsed.token.len(), 43);
    let recipient = Browser::start().await.unwrap();
    assert_eq!(open(&recipient, &once).await, "ready");
    // A page that involves no account asks for none: nothing refused or warned in its console.
    assert_eq!(
        recipient.console_problems().await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        recipient
            .js_string("return location.href + '|' + location.hash")
            .await
            .unwrap(),
        format!("{}/s/|", server.url),
        "the page removes the link's secret from the address bar"
    );
    assert_eq!(
        recipient
            .js_string("return document.querySelector('#recipient-name').innerText")
            .await
            .unwrap(),
        NAME,
        "the name, decrypted with the key in the link's fragment"
    );
    let (state, message) = take(&recipient).await;
    assert_eq!(state, "done", "{message}");
    let saved = recipient.wait_for_download(NAME, MIN).await.unwrap();
    assert!(
        std::fs::read(&saved).unwrap() == content,
        "downloaded bytes differ"
    );
    std::fs::remove_file(&saved).unwrap();
    // The second visit is refused, with a reason.
    assert_eq!(open(&recipient, &once).await, "refused");
    let text = recipient.body_text_tail().await;
    assert!(text.contains("used as many times as allowed"), "{text}");

    // The owner is told: on their next look the file carries a badge for the download, and its
    // link shows when it was last used and that nothing is left; once seen, the badge goes.
    owner.client.goto(&server.url).await.unwrap();
    let row = format!("tr.file[data-name=\"{NAME}\"]");
    owner
        .wait_for(&format!("{row} .badge.new"), MIN)
        .await
        .unwrap();
    assert_eq!(
        owner
            .js_string(&format!(
                "return document.querySelector('{row} .badge.new').innerText"
            ))
            .await
            .unwrap(),
        "1 new download"
    );
    owner.click(&format!("{row} button.share")).await.unwrap();
    owner
        .wait_for("tr.share[data-state=\"used up\"] .badge.new", MIN)
        .await
        .unwrap();
    let used = owner
        .js_string(
            "const r = document.querySelector('tr.share[data-state=\"used up\"]'); \
             return r.querySelector('.downloads').innerText + '|' + r.querySelector('.last-used').innerText",
        )
        .await
        .unwrap();
    assert!(used.contains("1 of 1 (0 left)"), "{used}");
    assert!(!used.ends_with("|never"), "{used}");
    owner.click("#share-close").await.unwrap();
    owner
        .wait_until_js(
            &format!(
                "document.querySelector('{row}') !== null && document.querySelector('{row} .badge.new') === null"
            ),
            MIN,
        )
        .await
        .unwrap();

    // A passphrase: wrong → refused with a reason, right → the file; the owner then raises the
    // limit of a used-up link from the page.
    owner
        .click(&format!("tr.file[data-name=\"{NAME}\"] button.share"))
        .await
        .unwrap();
    owner.wait_for("#share-form", MIN).await.unwrap();
    owner
        .type_into("#share-passphrase", "open sesame 77")
        .await
        .unwrap();
    let guarded = make_link(&owner, NAME, "1", false).await;
    assert_eq!(open(&recipient, &guarded).await, "ready");
    recipient
        .type_into("#recipient-passphrase", "wrong guess!")
        .await
        .unwrap();
    let (state, message) = take(&recipient).await;
    assert_eq!(state, "failed");
    assert!(message.contains("wrong passphrase"), "{message}");
    assert_eq!(open(&recipient, &guarded).await, "ready");
    recipient
        .type_into("#recipient-passphrase", "open sesame 77")
        .await
        .unwrap();
    let (state, message) = take(&recipient).await;
    assert_eq!(state, "done", "{message}");
    let saved = recipient.wait_for_download(NAME, MIN).await.unwrap();
    assert!(std::fs::read(&saved).unwrap() == content);
    std::fs::remove_file(saved).unwrap();
    assert_eq!(open(&recipient, &guarded).await, "refused");
    owner
        .client
        .execute(
            "document.querySelector('#share-list tbody tr.share:first-child .limit-input').value = '2';",
            vec![],
        )
        .await
        .unwrap();
    owner
        .click("#share-list tbody tr.share:first-child button.set-limit")
        .await
        .unwrap();
    owner
        .wait_until_js(
            "document.querySelector('#share-list tbody tr.share:first-child').dataset.state === 'active'",
            MIN,
        )
        .await
        .unwrap();
    assert_eq!(
        open(&recipient, &guarded).await,
        "ready",
        "a raised limit reopens the link"
    );

    // Revoked: refused.
    let revocable = make_link(&owner, NAME, "", false).await;
    assert_eq!(open(&recipient, &revocable).await, "ready");
    owner
        .click("#share-list tr.share[data-state=\"active\"] button.revoke")
        .await
        .unwrap();
    owner
        .wait_until_js(
            "document.querySelectorAll('#share-list tr.share[data-state=\"revoked\"]').length === 1",
            MIN,
        )
        .await
        .unwrap();
    assert_eq!(open(&recipient, &revocable).await, "refused");
    assert!(recipient.body_text_tail().await.contains("revoked"));

    // History of the first link: its creation, the download, the refusal.
    owner
        .click("#share-list tr.share[data-state=\"used up\"] button.history")
        .await
        .unwrap();
    owner
        .wait_for("#share-history tr.access", MIN)
        .await
        .unwrap();
    let history = owner
        .js_string("return document.querySelector('#share-history').innerText")
        .await
        .unwrap();
    assert!(
        history.contains("share.created") && history.contains("share.key"),
        "{history}"
    );
    assert!(
        history.contains("ok") && history.contains("denied"),
        "{history}"
    );

    // A secret text, shared burn-after-reading: shown once, then gone.
    owner.click("#share button.secondary").await.unwrap(); // Close
    let secret = "{\"user\": \"reporting\", \"password\": \"s3cr3t-Pa55\"}";
    owner.click("details.secret summary").await.unwrap();
    owner.type_into("#secret-input", secret).await.unwrap();
    owner.click("#secret-store").await.unwrap();
    owner
        .wait_until_js(
            "[...document.querySelectorAll('li.upload')].some(e => e.dataset.name.startsWith('Secret text') && e.dataset.state === 'done')",
            MIN,
        )
        .await
        .unwrap();
    let secret_name = owner
        .js_string("return [...document.querySelectorAll('tr.file')].map(r => r.dataset.name).find(n => n.startsWith('Secret text'))")
        .await
        .unwrap();
    let burn = make_link(&owner, &secret_name, "1", true).await;
    assert_eq!(open(&recipient, &burn).await, "ready");
    let (state, message) = take(&recipient).await;
    assert_eq!(state, "done", "{message}");
    assert_eq!(
        recipient
            .js_string("return document.querySelector('#secret-text').value")
            .await
            .unwrap(),
        secret
    );
    assert_eq!(open(&recipient, &burn).await, "refused");

    // A link in the retired form (token in the path): refused by the page, which asks for a new
    // link; a reload after the secret was read says the link must be opened again.
    let old = format!("{}/s/{}#k={}", server.url, "A".repeat(43), "B".repeat(43));
    assert_eq!(open(&recipient, &old).await, "refused");
    assert!(recipient.body_text_tail().await.contains("old form"));
    assert_eq!(
        open(&recipient, &format!("{}/s/", server.url)).await,
        "refused"
    );
    assert!(
        recipient
            .body_text_tail()
            .await
            .contains("open the link again")
    );

    // Expired (the test moves every link's expiry into the past): refused, with a reason.
    sqlite(
        data.path(),
        "UPDATE shares SET expires_at = strftime('%s','now') - 1",
    )
    .unwrap();
    assert_eq!(open(&recipient, &guarded).await, "refused");
    assert!(recipient.body_text_tail().await.contains("expired"));

    // No token and no passphrase in the server's log.
    let logs = server.logs();
    assert!(
        !logs.contains("open sesame 77"),
        "a passphrase is in the log"
    );
    for link in [&once, &revocable, &guarded, &burn] {
        let secret = LinkSecret::parse(link.split_once('#').unwrap().1).unwrap();
        assert!(
            !logs.contains(secret.token.as_str()),
            "a token is in the log"
        );
    }
    recipient.close().await;
    owner.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_behind_one_link_downloads_file_by_file_and_as_one_zip() {
    let bin = cipherdrop_bin().unwrap();
    let web = web_dist().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with_web(&bin, data.path(), &web, &[], &[]).unwrap();
    add_user(&bin, data.path(), "alice", PASSWORD, false).unwrap();

    // A folder with nested paths, an empty file and a multi-part one.
    let root = tempfile::tempdir().unwrap();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("project/readme.txt", b"read me first\n".to_vec()),
        ("project/empty.txt", Vec::new()),
        (
            "project/data/big.bin",
            cipherdrop_testkit::data(6 * 1024 * 1024 + 7, 21),
        ),
        (
            "project/data/deep/notes.md",
            "# notes\nünïcødé\n".as_bytes().to_vec(),
        ),
    ];
    for (path, bytes) in &files {
        let p = root.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let owner = Browser::start().await.unwrap();
    owner.log_in(&server.url, "alice", PASSWORD).await.unwrap();
    owner
        .type_into(
            "#folder-input",
            &root.path().join("project").display().to_string(),
        )
        .await
        .unwrap();
    for (path, _) in &files {
        let (state, message) = owner.upload_outcome(path, 2 * MIN).await.unwrap();
        assert_eq!(state, "done", "{path}: {message}");
    }

    // Tick all four (the paths are their names) and make one link, limit 2.
    for (path, _) in &files {
        owner
            .click(&format!("tr.file[data-name=\"{path}\"] input.select"))
            .await
            .unwrap();
    }
    owner.click("#share-selected").await.unwrap();
    owner.wait_for("#share-form", MIN).await.unwrap();
    assert!(
        owner
            .js_string("return document.querySelector('#share-title').innerText")
            .await
            .unwrap()
            .contains("4 files")
    );
    let link = create_link(&owner, "2", false).await;
    owner
        .wait_until_js(
            "(() => { const l = document.querySelector('#share-list'); return l !== null && l.innerText.includes('4 files'); })()",
            MIN,
        )
        .await
        .unwrap();

    // The recipient (no account) sees every name, then gets one zip of all of them.
    let recipient = Browser::start().await.unwrap();
    recipient.client.goto(&link).await.unwrap();
    recipient
        .wait_until_js(
            "document.querySelectorAll('#recipient-files tr.shared-file').length === 4",
            MIN,
        )
        .await
        .unwrap();
    let names = recipient
        .js_string("return [...document.querySelectorAll('tr.shared-file')].map(r => r.dataset.name).join('|')")
        .await
        .unwrap();
    let expected: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
    let mut listed: Vec<&str> = names.split('|').collect();
    listed.sort_unstable();
    let mut want = expected.clone();
    want.sort_unstable();
    assert_eq!(listed, want);
    // Several files: the page speaks of them in the plural.
    let intro = recipient
        .js_string("return document.querySelector('#recipient').innerText")
        .await
        .unwrap();
    assert!(
        intro.contains("Files were shared with you")
            && intro.contains("They are encrypted; your browser decrypts them here."),
        "{intro}"
    );
    recipient.no_save_dialog().await.unwrap();
    recipient.click("#recipient-zip").await.unwrap();
    recipient
        .wait_until_js(
            "['done','failed'].includes(document.querySelector('#recipient').dataset.state)",
            2 * MIN,
        )
        .await
        .unwrap();
    assert_eq!(
        recipient
            .js_string("return document.querySelector('#recipient').dataset.state")
            .await
            .unwrap(),
        "done",
        "{}",
        recipient.body_text_tail().await
    );
    let zip = recipient
        .wait_for_download("shared files.zip", MIN)
        .await
        .unwrap();
    let entries = zip_entries(&zip);
    let originals: std::collections::BTreeMap<String, String> = files
        .iter()
        .map(|(p, b)| ((*p).to_owned(), sha256_hex(b)))
        .collect();
    assert_eq!(
        entries, originals,
        "the zip holds every file, byte for byte, at its path"
    );

    // Each file alone, from the same release (one counted download for the set).
    recipient
        .click("tr.shared-file[data-name=\"project/data/deep/notes.md\"] button.item-download")
        .await
        .unwrap();
    let notes = recipient.wait_for_download("notes.md", MIN).await.unwrap();
    assert_eq!(std::fs::read(notes).unwrap(), files[3].1);
    recipient.client.goto(&link).await.unwrap();
    recipient
        .wait_until_js(
            "(() => { const r = document.querySelector('#recipient-remaining'); return r !== null && r.innerText === '1'; })()",
            MIN,
        )
        .await
        .unwrap();

    // Three files ticked one by one (not a folder) behind one link: the same, as one zip.
    let three = [&files[0], &files[1], &files[3]];
    for (path, _) in three {
        owner
            .click(&format!("tr.file[data-name=\"{path}\"] input.select"))
            .await
            .unwrap();
    }
    owner.click("#share-selected").await.unwrap();
    owner
        .wait_until_js(
            "document.querySelector('#share-title')?.innerText.includes('3 files')",
            MIN,
        )
        .await
        .unwrap();
    let link = create_link(&owner, "", false).await;
    recipient.client.goto("about:blank").await.unwrap();
    recipient.client.goto(&link).await.unwrap();
    recipient
        .wait_until_js(
            "document.querySelectorAll('#recipient-files tr.shared-file').length === 3",
            MIN,
        )
        .await
        .unwrap();
    std::fs::remove_file(&zip).unwrap();
    recipient.no_save_dialog().await.unwrap();
    recipient.click("#recipient-zip").await.unwrap();
    let zip = recipient
        .wait_for_download("shared files.zip", 2 * MIN)
        .await
        .unwrap();
    let originals: std::collections::BTreeMap<String, String> = three
        .iter()
        .map(|(p, b)| ((*p).to_owned(), sha256_hex(b)))
        .collect();
    assert_eq!(zip_entries(&zip), originals);
    owner.close().await;
    recipient.close().await;
}

/// Each entry of the zip at `path` and the SHA-256 of its bytes, as Python's `zipfile` reads them
/// (every CRC checked).
fn zip_entries(path: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let check = r#"
import hashlib, json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.testzip() is None, "a CRC failed"
    print(json.dumps({i.filename: hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist()}))
"#;
    let out = std::process::Command::new(cipherdrop_testkit::python())
        .args(["-c", check])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
