//! Files opened in the tab instead of saved, in headless Chromium: an image drawn by the
//! browser's own decoder, text shown as text, an HTML file and an SVG file with script in them
//! shown as their source with nothing run, a signed file said to be verified with its signature,
//! a file type the page cannot show offered only for saving; and a view-only link, whose
//! recipient gets the file opened and no save button, with a note that says what that can and
//! cannot promise. Nothing is downloaded to disk along the way.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use base64::Engine as _;
use cipherdrop_e2e::browser::{Browser, cipherdrop_bin, web_dist};
use cipherdrop_testkit::server::{PASSWORD, ServerProcess, setup_accounts};

const WAIT: Duration = Duration::from_secs(60);
/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
const HTML: &str = "<html><body><script>window.pwned = 'script';</script><img src=x onerror=\"window.pwned = 'onerror'\"><p>hello</p></body></html>";
const SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"window.pwned = 'svg'\"><script>window.pwned = 'svg script'</script><rect width=\"10\" height=\"10\"/></svg>";

async fn upload(b: &Browser, dir: &std::path::Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    b.type_into("#file-input", &path.display().to_string())
        .await
        .unwrap();
    let (state, message) = b.upload_outcome(name, WAIT).await.unwrap();
    assert_eq!(state, "done", "{message}");
    b.wait_for(&format!("tr.file[data-name=\"{name}\"]"), WAIT)
        .await
        .unwrap();
}

/// Opens listed file `name` in the tab and waits until the viewer is ready or failed.
async fn open(b: &Browser, name: &str) -> String {
    b.click(&format!("tr.file[data-name=\"{name}\"] button.open"))
        .await
        .unwrap();
    b.wait_until_js(
        "['ready','failed'].includes(document.querySelector('#preview')?.dataset.state)",
        WAIT,
    )
    .await
    .unwrap();
    b.js_string("return document.querySelector('#preview').dataset.state")
        .await
        .unwrap()
}

async fn text_of(b: &Browser, css: &str) -> String {
    b.js_string(&format!("return document.querySelector('{css}').innerText"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_open_in_the_tab_and_view_only_links_offer_no_save() {
    let bin = cipherdrop_bin().unwrap();
    let web = web_dist().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with_web(&bin, dir.path(), &web, &[], &[]).unwrap();
    let (_admin, _alice, _bob) = setup_accounts(&server, &bin).await.unwrap();
    let b = Browser::start().await.unwrap();
    b.log_in(&server.url, "alice", PASSWORD).await.unwrap();
    b.no_save_dialog().await.unwrap();

    let png = base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .unwrap();
    upload(&b, files.path(), "pixel.png", &png).await;
    upload(
        &b,
        files.path(),
        "notes.txt",
        b"line one\nline two: caf\xc3\xa9\n",
    )
    .await;
    upload(&b, files.path(), "page.html", HTML.as_bytes()).await;
    upload(&b, files.path(), "drawing.svg", SVG.as_bytes()).await;
    upload(&b, files.path(), "archive.bin", &[7u8; 5000]).await;

    // The image, drawn by the browser's decoder from a blob: URL (1×1 pixels decoded).
    assert_eq!(open(&b, "pixel.png").await, "ready");
    b.wait_until_js(
        "(() => { const i = document.querySelector('#preview-image'); return i && i.complete && i.naturalWidth === 1 && i.src.startsWith('blob:'); })()",
        WAIT,
    )
    .await
    .unwrap();
    let note = text_of(&b, "#preview").await;
    assert!(note.contains("every frame verified"), "{note}");
    b.click("#preview-close").await.unwrap();
    b.wait_until_js("document.querySelector('#preview') === null", WAIT)
        .await
        .unwrap();

    // Text as text.
    assert_eq!(open(&b, "notes.txt").await, "ready");
    assert_eq!(
        text_of(&b, "#preview-text").await,
        "line one\nline two: café\n"
    );

    // HTML and SVG with script: their source, as text; nothing ran.
    assert_eq!(open(&b, "page.html").await, "ready");
    assert_eq!(text_of(&b, "#preview-text").await, HTML);
    assert_eq!(open(&b, "drawing.svg").await, "ready");
    assert_eq!(text_of(&b, "#preview-text").await, SVG);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        b.js_string("return String(window.pwned)").await.unwrap(),
        "undefined"
    );
    assert_eq!(
        b.js_string("return String(document.querySelectorAll('#preview iframe, #preview object, #preview embed').length)")
            .await
            .unwrap(),
        "0"
    );

    // A file the page cannot show has no Open button.
    assert_eq!(
        b.js_string("return String(document.querySelector('tr.file[data-name=\"archive.bin\"] button.open'))")
            .await
            .unwrap(),
        "null"
    );

    // A view-only link to the text: its recipient can open it, and has no save button.
    b.click("#preview-close").await.unwrap();
    b.click("tr.file[data-name=\"notes.txt\"] button.share")
        .await
        .unwrap();
    b.wait_for("#share-form", WAIT).await.unwrap();
    b.click("#share-view-only").await.unwrap();
    b.js_string("document.querySelector('#share-limit').value = '2'; return ''")
        .await
        .unwrap();
    b.click("#share-create").await.unwrap();
    b.wait_until_js(
        "(() => { const l = document.querySelector('#share-link'); return l && l.value.includes('/s/'); })()",
        WAIT,
    )
    .await
    .unwrap();
    let link = b
        .js_string("return document.querySelector('#share-link').value")
        .await
        .unwrap();
    b.wait_until_js(
        "[...document.querySelectorAll('#share-list td.downloads')].some(t => t.innerText.includes('view only'))",
        WAIT,
    )
    .await
    .unwrap();
    // The binary file offers no view-only choice (nothing could be shown).
    b.click("tr.file[data-name=\"archive.bin\"] button.share")
        .await
        .unwrap();
    b.wait_for("#share-form", WAIT).await.unwrap();
    assert_eq!(
        b.js_string("return String(document.querySelector('#share-view-only'))")
            .await
            .unwrap(),
        "null"
    );

    let r = Browser::start().await.unwrap();
    r.client.goto(&link).await.unwrap();
    r.wait_for("#recipient-open", WAIT).await.unwrap();
    assert_eq!(text_of(&r, "#recipient-remaining").await, "2");
    assert_eq!(
        r.js_string("return String(document.querySelector('#recipient-download'))")
            .await
            .unwrap(),
        "null",
        "no save button"
    );
    r.click("#recipient-open").await.unwrap();
    r.wait_until_js(
        "document.querySelector('#preview')?.dataset.state === 'ready'",
        WAIT,
    )
    .await
    .unwrap();
    assert_eq!(
        text_of(&r, "#preview-text").await,
        "line one\nline two: café\n"
    );
    let note = text_of(&r, "#view-only-note").await;
    assert!(note.contains("can still be captured"), "{note}");
    // Opening counted as a use of the link.
    r.wait_until_js(
        "document.querySelector('#recipient-remaining')?.innerText === '1'",
        WAIT,
    )
    .await
    .unwrap();
    // Nothing reached either browser's download folder.
    for browser in [&b, &r] {
        assert_eq!(
            std::fs::read_dir(browser.download_dir.path())
                .unwrap()
                .count(),
            0
        );
    }
    r.close().await;
    b.close().await;
}
