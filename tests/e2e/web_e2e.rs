//! End to end through the real page in headless Chromium (WebDriver): log in, upload several
//! files (20 MiB, empty, a signed one) by the file picker, check what S3 stores (a valid ESDK
//! message, no plaintext marker) and that the official Python ESDK decrypts it through the
//! embedded KMS, download through the page, inspect, and see a tampered object refused.
//!
//! Needs `cargo build -p cipherdrop-cli` (same profile), `trunk build` (for `dist/`), chromedriver
//! with Chromium, and the bootstrap's Python venv.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use cipherdrop_core::{DecryptLimits, Header, Suite};
use cipherdrop_e2e::browser::{Browser, cipherdrop_bin, web_dist};
use cipherdrop_testkit::find_stored;
use cipherdrop_testkit::server::{
    Client, PASSWORD, ServerProcess, add_user, esdk_decrypt, sqlite, status_of, stored_credentials,
};
use fantoccini::Locator;

const MARKER: &[u8] = b"CIPHERDROP-KNOWN-PLAINTEXT-MARKER";
const BIG: &str = "quarterly report (draft).bin";
const EMPTY: &str = "empty.txt";
const SIGNED: &str = "signed-notes.txt";
const MIN: Duration = Duration::from_secs(60);

/// 20 MiB of pseudo-random bytes with the marker written every 64 KiB.
fn big_plaintext() -> Vec<u8> {
    let mut v = cipherdrop_testkit::data(20 * 1024 * 1024, 77);
    for chunk in v.chunks_mut(64 * 1024) {
        chunk[100..100 + MARKER.len()].copy_from_slice(MARKER);
    }
    v
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Waits until the upload of `name` ends; panics with the page's message if it failed.
async fn wait_uploaded(b: &Browser, name: &str) {
    let (state, message) = b.upload_outcome(name, 2 * MIN).await.unwrap();
    assert_eq!(state, "done", "upload of {name}: {message}");
}

/// The object id of the listed file called `name`.
async fn object_id(b: &Browser, name: &str) -> String {
    let sel = format!("tr.file[data-name=\"{name}\"]");
    b.wait_for(&sel, MIN).await.unwrap();
    b.js_string(&format!(
        "return document.querySelector('{sel}').dataset.id"
    ))
    .await
    .unwrap()
}

/// Clicks Download for `name` and waits for the page's verdict; returns (state, message).
async fn download(b: &Browser, name: &str) -> (String, String) {
    let row = format!("tr.file[data-name=\"{name}\"]");
    b.client
        .execute(
            &format!("document.querySelector('{row}').removeAttribute('data-download')"),
            vec![],
        )
        .await
        .unwrap();
    b.click(&format!("{row} button.download")).await.unwrap();
    if let Err(e) = b
        .wait_until_js(
            &format!(
                "['done','failed'].includes(document.querySelector('{row}').dataset.download)"
            ),
            MIN,
        )
        .await
    {
        let rows = b.js_string("return [...document.querySelectorAll('#files tr')].map(r => r.outerHTML).join('\\n')",
        ).await.unwrap();
        panic!("{e}\nrows:\n{rows}");
    }
    let state = b
        .js_string(&format!(
            "return document.querySelector('{row}').dataset.download"
        ))
        .await
        .unwrap();
    let message = b
        .js_string(&format!(
            "return document.querySelector('{row}').nextElementSibling.innerText"
        ))
        .await
        .unwrap();
    (state, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_list_inspect_download_and_tamper_through_the_page() {
    let bin = cipherdrop_bin().unwrap();
    let web = web_dist().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with_web(&bin, data.path(), &web, &[], &[]).unwrap();
    add_user(&bin, data.path(), "alice", PASSWORD, false).unwrap();
    let files = tempfile::tempdir().unwrap();
    let big = big_plaintext();
    let signed: Vec<u8> = b"signed notes\n".repeat(10_000);
    std::fs::write(files.path().join(BIG), &big).unwrap();
    std::fs::write(files.path().join(EMPTY), b"").unwrap();
    std::fs::write(files.path().join(SIGNED), &signed).unwrap();

    let b = Browser::start().await.unwrap();
    b.client.goto(&server.url).await.unwrap();

    // A wrong password is refused with a message; the right one logs in.
    b.type_into("#username", "alice").await.unwrap();
    b.type_into("#password", "not the password").await.unwrap();
    b.click("#login").await.unwrap();
    b.wait_until_js(
        "document.querySelector('#login-title + form + div .error') !== null",
        MIN,
    )
    .await
    .unwrap();
    let pw = b.client.find(Locator::Css("#password")).await.unwrap();
    pw.clear().await.unwrap();
    pw.send_keys(PASSWORD).await.unwrap();
    b.click("#login").await.unwrap();
    b.wait_for("#whoami", MIN).await.unwrap();
    assert_eq!(
        b.js_string("return document.querySelector('#whoami').innerText")
            .await
            .unwrap(),
        "alice"
    );

    // Two files at once through the picker (default suite 0x0478).
    let input = b.wait_for("#file-input", MIN).await.unwrap();
    let paths = format!(
        "{}\n{}",
        files.path().join(BIG).display(),
        files.path().join(EMPTY).display()
    );
    input.send_keys(&paths).await.unwrap();
    wait_uploaded(&b, BIG).await;
    wait_uploaded(&b, EMPTY).await;
    // Then one with the signed suite.
    b.client
        .execute("const s = document.querySelector('#suite'); s.value = '0x0578'; s.dispatchEvent(new Event('change'));", vec![])
        .await
        .unwrap();
    b.type_into(
        "#file-input",
        &files.path().join(SIGNED).display().to_string(),
    )
    .await
    .unwrap();
    wait_uploaded(&b, SIGNED).await;

    // The list shows decrypted names.
    let big_id = object_id(&b, BIG).await;
    let empty_id = object_id(&b, EMPTY).await;
    let signed_id = object_id(&b, SIGNED).await;

    // What S3 stores: valid ESDK messages without the marker, which the official ESDK decrypts
    // through the embedded KMS.
    let api = Client::new(&server.url);
    api.login("alice", PASSWORD).await.unwrap();
    let kms_creds = stored_credentials(&data.path().join("kms")).unwrap();
    let kms_url = server.kms_url.clone().unwrap();
    let mut stored_big = Vec::new();
    for (id, plaintext, suite) in [
        (&big_id, &big, Suite::CommitKey),
        (&empty_id, &Vec::new(), Suite::CommitKey),
        (&signed_id, &signed, Suite::CommitKeyEcdsaP384),
    ] {
        let stored = api.download_ciphertext(id).await.unwrap();
        let (header, _) = Header::parse(&stored, &DecryptLimits::default()).unwrap();
        assert_eq!(header.suite, suite);
        assert_eq!(
            header.encryption_context.get("cipherdrop:object"),
            Some(id.as_str())
        );
        assert!(
            !contains(&stored, MARKER),
            "the marker is in the stored object"
        );
        let official = esdk_decrypt(
            &kms_url,
            (&kms_creds.0, &kms_creds.1),
            &server.key,
            &stored,
            files.path(),
        )
        .unwrap();
        assert!(
            official == *plaintext,
            "the official ESDK read different bytes for {id}"
        );
        if id == &big_id {
            stored_big = stored;
        }
    }
    // The server's records hold no names.
    let rows = sqlite(
        data.path(),
        "SELECT id, s3_key, context, hex(metadata), hex(edk) FROM objects \
         UNION ALL SELECT action, detail, object, ip, actor FROM audit",
    )
    .unwrap()
    .to_string();
    for name in [BIG, SIGNED, "quarterly"] {
        let hex_name = cipherdrop_testkit::hex(name.as_bytes()).to_uppercase();
        assert!(
            !rows.contains(name) && !rows.contains(&hex_name),
            "{name} is in the server's database"
        );
    }

    // Download through the page (the Blob path: no save dialog in automation).
    b.no_save_dialog().await.unwrap();
    for (name, plaintext) in [(BIG, &big), (EMPTY, &Vec::new()), (SIGNED, &signed)] {
        let (state, message) = download(&b, name).await;
        assert_eq!(state, "done", "{name}: {message}");
        let saved = b.wait_for_download(name, MIN).await.unwrap();
        assert!(
            std::fs::read(&saved).unwrap() == *plaintext,
            "downloaded {name} differs"
        );
        std::fs::remove_file(saved).unwrap();
    }

    // The picked-file path: the save dialog answered with a file of the origin's private file
    // system. Frames are written as they verify; the file is the plaintext and the page's
    // message gives the size saved (it once said 0 B, counting buffers after the sink had
    // detached them).
    b.client
        .execute(
            "window.showSaveFilePicker = async (o) => (await navigator.storage.getDirectory()) \
               .getFileHandle('picked-' + o.suggestedName, { create: true }); \
             const c = document.querySelector('#save-picker'); if (c && !c.checked) c.click();",
            vec![],
        )
        .await
        .unwrap();
    let (state, message) = download(&b, BIG).await;
    assert_eq!(state, "done", "{message}");
    // Sizes in binary units, as the limits beside them: 20 MiB exactly.
    let size = format!("({} MiB)", big.len() / (1 << 20));
    assert!(message.contains(&size), "{message} (want {size})");
    let picked = b
        .js_string(&format!(
            "const f = await (await (await navigator.storage.getDirectory()) \
               .getFileHandle('picked-{BIG}')).getFile(); \
             const d = new Uint8Array(await crypto.subtle.digest('SHA-256', await f.arrayBuffer())); \
             return f.size + ' ' + [...d].map((x) => x.toString(16).padStart(2, '0')).join('');"
        ))
        .await
        .unwrap();
    use sha2::Digest as _;
    let want = format!(
        "{} {}",
        big.len(),
        cipherdrop_testkit::hex(&sha2::Sha256::digest(&big))
    );
    assert_eq!(picked, want, "the picked file is not the plaintext");
    b.no_save_dialog().await.unwrap();

    // The inspector shows the KMS request, the header and the side-by-side bytes.
    b.client
        .find(Locator::Css(&format!(
            "tr.file[data-id=\"{big_id}\"] button.inspect"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("#inspector #header-fields", MIN).await.unwrap();
    let inspector = b
        .js_string("return document.querySelector('#inspector').innerText")
        .await
        .unwrap();
    assert!(inspector.contains(&server.key), "key ARN shown");
    assert!(inspector.contains("GenerateDataKey") && inspector.contains("cipherdrop:owner"));
    assert!(inspector.contains("Key commitment") && inspector.contains("Header tag"));
    // The stored object's first bytes, as the hex dump shows them ("02 04 78 ...").
    let first: Vec<String> = stored_big[..8].iter().map(|b| format!("{b:02x}")).collect();
    assert!(inspector.contains(&first.join(" ")), "stored bytes shown");
    let leak = b
        .js_string("return document.querySelector('#leak-check').className")
        .await
        .unwrap();
    assert_eq!(leak, "ok");

    // Flip one byte in the middle of the stored object: the page refuses, and saves nothing.
    let path = find_stored(data.path(), &stored_big).expect("the stored object on disk");
    let mut tampered = stored_big.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0x01;
    std::fs::write(&path, &tampered).unwrap();
    let (state, message) = download(&b, BIG).await;
    assert_eq!(state, "failed");
    assert!(message.contains("Integrity check failed"), "{message}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let left: Vec<_> = std::fs::read_dir(b.download_dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "something was saved after a failed integrity check: {left:?}"
    );

    // Delete asks for confirmation, then the file is gone from the list and from S3.
    let delete = format!("tr.file[data-id=\"{empty_id}\"] button.delete");
    b.click(&delete).await.unwrap();
    b.wait_until_js(
        &format!("document.querySelector('{delete}').innerText === 'Confirm delete'"),
        MIN,
    )
    .await
    .unwrap();
    b.click(&delete).await.unwrap();
    b.wait_until_js(
        &format!("document.querySelector('tr.file[data-id=\"{empty_id}\"]') === null"),
        MIN,
    )
    .await
    .unwrap();
    assert!(api.download_ciphertext(&empty_id).await.is_err());

    // At phone width nothing overflows sideways.
    b.client.set_window_size(390, 844).await.unwrap();
    if let Err(e) = b
        .wait_until_js(
            "document.documentElement.scrollWidth <= window.innerWidth",
            MIN,
        )
        .await
    {
        let wide = b.js_string("return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 20).join('\\n')",
        )
        .await
        .unwrap_or_default();
        panic!("{e}\nwider than the viewport:\n{wide}");
    }
    b.client.set_window_size(1280, 900).await.unwrap();

    // A login link opened while logged in asks first; staying keeps this account and leaves the
    // link unused (it logs the admin in below).
    let whoami = b
        .js_string("return document.querySelector('#whoami').innerText")
        .await
        .unwrap();
    let token = server.admin_token.clone().unwrap();
    b.client
        .goto(&format!("{}/#login={token}", server.url))
        .await
        .unwrap();
    b.wait_for("#switch-prompt", MIN).await.unwrap();
    assert!(
        b.js_string("return location.hash")
            .await
            .unwrap()
            .is_empty(),
        "the token left the address bar"
    );
    b.click("#stay-logged-in").await.unwrap();
    b.wait_for("#whoami", MIN).await.unwrap();
    assert_eq!(
        b.js_string("return document.querySelector('#whoami').innerText")
            .await
            .unwrap(),
        whoami
    );

    // Settings: an API token made in the page (shown once) works for the CLI within its scopes:
    // the CLI lists the page's files by name and downloads one; a file the CLI puts appears in
    // the page with its name and downloads there. Revoking the token in the page ends it.
    b.click("#tokens summary").await.unwrap();
    b.type_into("#token-name", "e2e script").await.unwrap();
    b.click("#token-write").await.unwrap();
    b.click("#token-create").await.unwrap();
    b.wait_for("#token-secret", MIN).await.unwrap();
    let secret = b
        .js_string("return document.querySelector('#token-secret').value")
        .await
        .unwrap();
    assert!(secret.starts_with("cdt_"), "{secret}");
    let script = Client::with_token(&server.url, &secret);
    let e = script
        .call(
            reqwest::Method::POST,
            &format!("/api/objects/{big_id}/shares"),
            Some(&serde_json::json!({})),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 403, "a read+write token cannot share");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(&bin)
            .args(args)
            .env("CIPHERDROP_URL", &server.url)
            .env("CIPHERDROP_TOKEN", &secret)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let listed = String::from_utf8(cli(&["ls", "--json"])).unwrap();
    assert!(listed.contains(BIG) && listed.contains(SIGNED), "{listed}");
    assert!(
        cli(&["get", SIGNED, "-o", "-"]) == signed,
        "the CLI reads the page's file"
    );
    let cli_file = files.path().join("from the cli.txt");
    let cli_data = cipherdrop_testkit::data(300_001, 77);
    std::fs::write(&cli_file, &cli_data).unwrap();
    cli(&["put", "--suite", "0x0578", cli_file.to_str().unwrap()]);
    b.client.refresh().await.unwrap();
    b.wait_for("tr.file[data-name=\"from the cli.txt\"]", MIN)
        .await
        .unwrap();
    // The reload brought back "ask where to save", which headless Chromium cannot answer.
    b.no_save_dialog().await.unwrap();
    let (state, message) = download(&b, "from the cli.txt").await;
    assert_eq!(state, "done", "{message}");
    let saved = b.wait_for_download("from the cli.txt", MIN).await.unwrap();
    assert!(
        std::fs::read(&saved).unwrap() == cli_data,
        "the page reads the CLI's file"
    );
    b.click("#tokens summary").await.unwrap();
    b.wait_for(
        "#token-list tr.token[data-state=\"active\"] button.revoke-token",
        MIN,
    )
    .await
    .unwrap();
    b.click("#token-list tr.token[data-state=\"active\"] button.revoke-token")
        .await
        .unwrap();
    b.wait_for("#token-list tr.token[data-state=\"revoked\"]", MIN)
        .await
        .unwrap();
    let e = script
        .call(reqwest::Method::GET, "/api/objects", None)
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 401);

    // Logging out returns to the login form.
    b.click("#logout").await.unwrap();
    b.wait_for("#login-form", MIN).await.unwrap();

    // The first-start link logs the admin in and asks for a password, once; the page asks the
    // server nothing that fails on the way (no refused `/api/me` in the console, no warning).
    b.console_problems().await.unwrap();
    let token = server.admin_token.clone().unwrap();
    b.client
        .goto(&format!("{}/#login={token}", server.url))
        .await
        .unwrap();
    b.type_into("#new-password", "a brand new admin passphrase")
        .await
        .unwrap();
    b.click("#set-password").await.unwrap();
    b.wait_for("#whoami", MIN).await.unwrap();
    assert_eq!(b.console_problems().await.unwrap(), Vec::<String>::new());
    // Logged in, the visitors' explanation is gone.
    assert_eq!(
        b.js_string("return String(document.querySelector('#learn').hidden)")
            .await
            .unwrap(),
        "true"
    );
    assert_eq!(
        b.js_string("return document.querySelector('#whoami').innerText")
            .await
            .unwrap(),
        "admin"
    );
    assert_eq!(
        b.js_string("return location.hash").await.unwrap(),
        "",
        "the token is gone from the address bar"
    );
    b.click("#logout").await.unwrap();
    b.wait_for("#login-form", MIN).await.unwrap();
    b.client
        .goto(&format!("{}/#login={token}", server.url))
        .await
        .unwrap();
    b.wait_until_js(
        "document.body.innerText.includes('The login link did not work')",
        MIN,
    )
    .await
    .unwrap();
    b.close().await;
}
