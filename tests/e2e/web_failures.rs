//! The page when things go wrong, in headless Chromium against `cipherdrop serve` with its KMS
//! as a separate process: a file over the size limit, KMS down, S3 unreachable for a moment
//! (retried) and for good (given up, what was sent kept and resumed later), a cancelled upload,
//! and an upload over the account's quota. Each shows a clear message and leaves no half file
//! recorded. Then uploads cut off by a reload (resumed, and only with the same file) and by the
//! browser going offline (waits, and goes on by itself), and a download whose connection breaks
//! off when the server is killed (goes on from where it stopped once it is back).
//!
//! Needs `cargo build -p cipherdrop-cli` (same profile), `trunk build` (for `dist/`), chromedriver
//! with Chromium, and the bootstrap's Python venv.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;
use std::time::Duration;

use cipherdrop_e2e::browser::{Browser, cipherdrop_bin, web_dist};
use cipherdrop_testkit::server::{
    Client, PASSWORD, ServerProcess, add_user, aws_env, esdk_decrypt, free_port, kms_service,
    python_aws, sqlite, stored_credentials,
};
use fantoccini::Locator;
use serde_json::json;

const MIN: Duration = Duration::from_secs(60);

/// Objects by state, from the server's database.
fn states(dir: &Path) -> Vec<String> {
    sqlite(dir, "SELECT state FROM objects ORDER BY created_at")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect()
}

/// Picks `path` in the upload area.
async fn pick(b: &Browser, path: &Path) {
    b.type_into("#file-input", &path.display().to_string())
        .await
        .unwrap();
}

/// Waits until the upload of `name` ends; returns (state, message).
async fn outcome(b: &Browser, name: &str) -> (String, String) {
    b.upload_outcome(name, 2 * MIN).await.unwrap()
}

/// Waits until the upload of `name` has at least `bytes` stored in S3.
async fn stored_at_least(b: &Browser, name: &str, bytes: u64) {
    b.wait_until_js(
        &format!(
            "(() => {{ const p = document.querySelector('li.upload[data-name=\"{name}\"] progress'); \
               return p !== null && Number(p.value) >= {bytes}; }})()"
        ),
        MIN,
    )
    .await
    .unwrap();
}

/// Writes `bytes` to `path` with `modified` as its modification time.
fn write_as_of(path: &Path, bytes: &[u8], modified: std::time::SystemTime) {
    std::fs::write(path, bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

/// Clears the finished rows, chooses `path` in the resume input `input` and waits for the
/// upload of `name` to end; (state, message).
async fn resume_with(b: &Browser, input: &str, path: &Path, name: &str) -> (String, String) {
    b.click("#clear-finished").await.unwrap();
    b.type_into(input, &path.display().to_string())
        .await
        .unwrap();
    outcome(b, name).await
}

async fn block_s3(b: &Browser, s3_url: &str, blocked: bool) {
    let port = s3_url.rsplit(':').next().unwrap().trim_end_matches('/');
    let urls = if blocked {
        json!([format!("*127.0.0.1:{port}*")])
    } else {
        json!([])
    };
    b.cdp("Network.setBlockedURLs", json!({ "urls": urls }))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_show_clear_messages_and_record_nothing() {
    let bin = cipherdrop_bin().unwrap();
    let web = web_dist().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (kms_dir, srv_dir, files) = (
        dir.path().join("kms"),
        dir.path().join("srv"),
        dir.path().join("files"),
    );
    std::fs::create_dir_all(&files).unwrap();
    let kms_port = free_port().unwrap();
    let mut kms = kms_service(&bin, &kms_dir, kms_port).unwrap();
    let (ak, sk) = stored_credentials(&kms_dir).unwrap();
    let arn = python_aws(&kms.url, None, (&ak, &sk), &["create-key"])
        .unwrap()
        .trim()
        .to_owned();
    let server = ServerProcess::start_with_web(
        &bin,
        &srv_dir,
        &web,
        &[
            "--kms-key-id",
            &arn,
            "--kms-endpoint",
            &kms.url,
            "--max-object-size",
            "8000000",
            "--quota-stored-bytes",
            "10M",
        ],
        &aws_env(&ak, &sk),
    )
    .unwrap();
    let s3_url = server.s3_url.clone().unwrap();
    add_user(&bin, &srv_dir, "alice", PASSWORD, false).unwrap();
    let write = |name: &str, len: usize| {
        let path = files.join(name);
        std::fs::write(&path, cipherdrop_testkit::data(len, len as u64)).unwrap();
        path
    };

    let b = Browser::start().await.unwrap();
    b.log_in(&server.url, "alice", PASSWORD).await.unwrap();
    b.cdp("Network.enable", json!({})).await.unwrap();

    // Over the size limit: refused before anything is stored.
    pick(&b, &write("too-big.bin", 9_000_000)).await;
    let (state, message) = outcome(&b, "too-big.bin").await;
    assert_eq!(state, "failed");
    assert!(message.contains("files up to 8000000 bytes"), "{message}");
    assert!(states(&srv_dir).is_empty());

    // KMS down: no data key, a clear message, nothing recorded.
    kms.kill();
    pick(&b, &write("no-kms.bin", 1000)).await;
    let (state, message) = outcome(&b, "no-kms.bin").await;
    assert_eq!(state, "failed");
    assert!(
        message.contains("key service (KMS) is unavailable"),
        "{message}"
    );
    assert!(states(&srv_dir).is_empty());
    kms = kms_service(&bin, &kms_dir, kms_port).unwrap();

    // S3 unreachable for a moment: the part is retried with backoff and the upload completes.
    block_s3(&b, &s3_url, true).await;
    pick(&b, &write("flaky.bin", 6_000_000)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    block_s3(&b, &s3_url, false).await;
    let (state, message) = outcome(&b, "flaky.bin").await;
    assert_eq!(state, "done", "{message}");
    assert_eq!(states(&srv_dir), ["complete"]);

    // S3 unreachable for good: the page gives up, says why, and the upload is aborted.
    block_s3(&b, &s3_url, true).await;
    pick(&b, &write("offline.bin", 2_000_000)).await;
    let (state, message) = outcome(&b, "offline.bin").await;
    assert_eq!(state, "failed");
    assert!(
        message.contains("connection to S3 failed")
            && message.contains("gave up after 6 attempts")
            && message.contains("kept until")
            && message.contains("Unfinished uploads"),
        "{message}"
    );
    // What was sent is kept for a resume (pending, and listed as unfinished in the page).
    assert_eq!(states(&srv_dir), ["complete", "pending"]);
    b.wait_for("li.unfinished-upload[data-name=\"offline.bin\"]", MIN)
        .await
        .unwrap();
    // Its name and what was sent each on a line of their own (not "…bin2.0 MiB of…"), and
    // "Resume…" drawn as a button, not as bold text.
    let layout = b
        .js_string(
            "const li = document.querySelector('li.unfinished-upload[data-name=\"offline.bin\"]'); \
             const [n, m] = li.querySelectorAll('.unfinished-what > span'); \
             const l = getComputedStyle(li.querySelector('label.button')); \
             return [m.getBoundingClientRect().top >= n.getBoundingClientRect().bottom - 1, \
                     l.borderTopStyle, l.fontWeight, l.cursor].join(' ')",
        )
        .await
        .unwrap();
    assert_eq!(layout, "true solid 400 pointer");

    // Cancel while parts are being retried: cancelled, aborted, nothing recorded. (Small: the
    // kept 2 MB count towards the 10 MiB quota until they are resumed or discarded.)
    pick(&b, &write("cancel-me.bin", 1_500_000)).await;
    b.wait_for(
        "li.upload[data-name=\"cancel-me.bin\"][data-state=\"running\"] button.cancel",
        MIN,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.client
        .find(Locator::Css(
            "li.upload[data-name=\"cancel-me.bin\"] button.cancel",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let (state, message) = outcome(&b, "cancel-me.bin").await;
    assert_eq!(state, "cancelled", "{message}");
    block_s3(&b, &s3_url, false).await;
    // The abort reaches the server right after the page stops.
    for _ in 0..50 {
        if states(&srv_dir) == ["complete", "pending", "aborted"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(states(&srv_dir), ["complete", "pending", "aborted"]);

    // Over the account's quota (10 MiB stored; 6 MB already are): the form shows the room left,
    // and the upload is refused in words before anything is stored.
    b.wait_until_js(
        "(() => { const r = document.querySelector('#room'); return r && Number(r.dataset.room) < 5000000 && r.innerText.includes('Room for new uploads') && r.innerText.includes(' of 10 MiB ('); })()",
        MIN,
    )
    .await
    .unwrap();
    pick(&b, &write("over-quota.bin", 5_000_000)).await;
    let (state, message) = outcome(&b, "over-quota.bin").await;
    assert_eq!(state, "failed");
    assert!(
        message.contains("your account has") && message.contains("left"),
        "{message}"
    );
    assert_eq!(states(&srv_dir), ["complete", "pending", "aborted"]);

    // Only the file that made it is listed.
    b.wait_for("tr.file[data-name=\"flaky.bin\"]", MIN)
        .await
        .unwrap();
    let listed = b
        .js_string("return String(document.querySelectorAll('tr.file').length)")
        .await
        .unwrap();
    assert_eq!(listed, "1");

    // S3 is back: the offline file, chosen again under "Unfinished uploads", completes.
    let (state, message) = resume_with(
        &b,
        "li.unfinished-upload[data-name=\"offline.bin\"] input.resume-input",
        &files.join("offline.bin"),
        "offline.bin",
    )
    .await;
    assert_eq!(state, "done", "{message}");
    assert_eq!(states(&srv_dir), ["complete", "complete", "aborted"]);
    b.wait_for("tr.file[data-name=\"offline.bin\"]", MIN)
        .await
        .unwrap();
    drop(kms);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_survive_a_reload_and_going_offline() {
    let bin = cipherdrop_bin().unwrap();
    let web = web_dist().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (srv_dir, files) = (dir.path().join("srv"), dir.path().join("files"));
    std::fs::create_dir_all(&files).unwrap();
    // Fixed ports, so that the server can be killed and started again where the page expects it.
    let ports = (free_port().unwrap(), free_port().unwrap());
    let restart = || ServerProcess::start_at(&bin, &srv_dir, Some(&web), ports, &[], &[]).unwrap();
    let mut server = restart();
    let s3_url = server.s3_url.clone().unwrap();
    add_user(&bin, &srv_dir, "alice", PASSWORD, false).unwrap();
    // Over 60 MiB: twelve parts of 5 MiB and a shorter thirteenth.
    let original = cipherdrop_testkit::data(63_000_000, 26);
    let path = files.join("scan.tiff");
    std::fs::write(&path, &original).unwrap();

    let b = Browser::start().await.unwrap();
    b.log_in(&server.url, "alice", PASSWORD).await.unwrap();
    b.cdp("Network.enable", json!({})).await.unwrap();
    // Part 3 cannot reach S3 (it is retried); the others arrive. Then the tab is reloaded.
    b.cdp(
        "Network.setBlockedURLs",
        json!({ "urls": ["*partNumber=3&*"] }),
    )
    .await
    .unwrap();
    pick(&b, &path).await;
    stored_at_least(&b, "scan.tiff", 3 * 5242880).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.client.refresh().await.unwrap();
    block_s3(&b, &s3_url, false).await;
    assert_eq!(states(&srv_dir), ["pending"]);

    // After the reload the page lists it, with what was sent and until when it is kept.
    let row = "li.unfinished-upload[data-name=\"scan.tiff\"]";
    b.wait_for(row, MIN).await.unwrap();
    let text = b
        .js_string(&format!("return document.querySelector('{row}').innerText"))
        .await
        .unwrap();
    assert!(text.contains("sent · kept until"), "{text}");
    let input = format!("{row} input.resume-input");

    // Another file of another size: refused at once, nothing sent, still unfinished.
    let other = files.join("other.tiff");
    std::fs::write(&other, cipherdrop_testkit::data(1000, 1)).unwrap();
    b.type_into(&input, &other.display().to_string())
        .await
        .unwrap();
    let (state, message) = outcome(&b, "scan.tiff").await;
    assert_eq!(state, "failed");
    assert!(
        message.contains("is not the file whose upload was interrupted"),
        "{message}"
    );
    // Same size and time, one byte different in a part already sent: refused after the check.
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut changed = original.clone();
    changed[6_000_000] ^= 1;
    write_as_of(&path, &changed, modified);
    let (state, message) = resume_with(&b, &input, &path, "scan.tiff").await;
    assert_eq!(state, "failed");
    assert!(message.contains("part 2 differs"), "{message}");
    assert_eq!(states(&srv_dir), ["pending"]);

    // The same file: the missing part is sent and the object completes.
    write_as_of(&path, &original, modified);
    let (state, message) = resume_with(&b, &input, &path, "scan.tiff").await;
    assert_eq!(state, "done", "{message}");
    assert_eq!(states(&srv_dir), ["complete"]);
    // The key came back through the audited release for a pending upload, once per attempt
    // that got that far (the changed file and the right one).
    let released = sqlite(
        &srv_dir,
        "SELECT count(*) FROM audit WHERE action = 'key.released' AND detail LIKE '%resume%'",
    )
    .unwrap();
    assert_eq!(released[0][0], 2, "{released}");
    b.wait_for("tr.file[data-name=\"scan.tiff\"]", MIN)
        .await
        .unwrap();
    // Nothing is left unfinished, also after another reload.
    b.client.refresh().await.unwrap();
    b.wait_for("tr.file[data-name=\"scan.tiff\"]", MIN)
        .await
        .unwrap();
    let left = b
        .js_string("return String(document.querySelectorAll('li.unfinished-upload').length)")
        .await
        .unwrap();
    assert_eq!(left, "0");

    // A signed (0x0578) upload cut off the same way: its signing key comes back from the record
    // (sealed under the data key), and the signature covers the whole message made again.
    b.client
        .execute(
            "const s = document.querySelector('#suite'); s.value = '0x0578'; \
             s.dispatchEvent(new Event('change'));",
            vec![],
        )
        .await
        .unwrap();
    let signed = cipherdrop_testkit::data(63_000_000, 12);
    let signed_path = files.join("signed.pdf");
    std::fs::write(&signed_path, &signed).unwrap();
    // Every part from the third on is blocked, so S3 holds parts 1 and 2: a prefix, which the
    // resumed upload checks as it passes instead of in a pass of its own.
    let from_third: Vec<String> = (3..=13).map(|n| format!("*partNumber={n}&*")).collect();
    b.cdp("Network.setBlockedURLs", json!({ "urls": from_third }))
        .await
        .unwrap();
    pick(&b, &signed_path).await;
    stored_at_least(&b, "signed.pdf", 2 * 5242880).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.client.refresh().await.unwrap();
    block_s3(&b, &s3_url, false).await;
    let row = "li.unfinished-upload[data-name=\"signed.pdf\"]";
    let input = format!("{row} input.resume-input");
    b.wait_for(row, MIN).await.unwrap();
    // One byte changed in part 2, same size and time: refused, and S3 still holds two parts.
    let api = Client::new(&server.url);
    api.login("alice", PASSWORD).await.unwrap();
    let pending = sqlite(&srv_dir, "SELECT id FROM objects WHERE state = 'pending'").unwrap();
    let upload = format!("/api/uploads/{}", pending[0][0].as_str().unwrap());
    let stored = || async {
        let (_, status) = api.call(reqwest::Method::GET, &upload, None).await.unwrap();
        status["stored"].as_array().unwrap().len()
    };
    assert_eq!(stored().await, 2);
    let modified = std::fs::metadata(&signed_path).unwrap().modified().unwrap();
    let mut changed = signed.clone();
    changed[6_000_000] ^= 1;
    write_as_of(&signed_path, &changed, modified);
    b.type_into(&input, &signed_path.display().to_string())
        .await
        .unwrap();
    let (state, message) = outcome(&b, "signed.pdf").await;
    assert_eq!(state, "failed");
    assert!(message.contains("part 2 differs"), "{message}");
    assert_eq!(stored().await, 2, "parts were sent for a changed file");
    write_as_of(&signed_path, &signed, modified);
    let (state, message) = resume_with(&b, &input, &signed_path, "signed.pdf").await;
    assert_eq!(state, "done", "{message}");
    assert_eq!(states(&srv_dir), ["complete", "complete"]);

    // A file dropped with its FileSystemFileHandle (Chromium gives one for a drop from the
    // desktop; headless cannot drag from a desktop, so the drop is dispatched by script with a
    // real handle of the origin's private file system standing in for the desktop's): the
    // upload keeps the handle, and after a reload one click resumes it, no file chosen again.
    let kept_len = 11_000_000;
    b.client
        .execute(
            r"
            const [len] = arguments;
            const root = await navigator.storage.getDirectory();
            const handle = await root.getFileHandle('kept.bin', { create: true });
            const w = await handle.createWritable();
            const data = new Uint8Array(len);
            for (let i = 0; i < len; i++) data[i] = Math.imul(i, 2654435761) >>> 24;
            await w.write(data);
            await w.close();
            DataTransferItem.prototype.getAsFileSystemHandle = function () { return Promise.resolve(handle); };
            const dt = new DataTransfer();
            dt.items.add(await handle.getFile());
            document.querySelector('.dropzone').dispatchEvent(
              new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
            ",
            vec![json!(kept_len)],
        )
        .await
        .unwrap();
    let from_second: Vec<String> = (2..=4).map(|n| format!("*partNumber={n}&*")).collect();
    b.cdp("Network.setBlockedURLs", json!({ "urls": from_second }))
        .await
        .unwrap();
    stored_at_least(&b, "kept.bin", 5242880).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.client.refresh().await.unwrap();
    block_s3(&b, &s3_url, false).await;
    let row = "li.unfinished-upload[data-name=\"kept.bin\"]";
    b.wait_for(&format!("{row} button.resume-handle"), MIN)
        .await
        .unwrap();
    b.click(&format!("{row} button.resume-handle"))
        .await
        .unwrap();
    let (state, message) = outcome(&b, "kept.bin").await;
    assert_eq!(state, "done", "{message}");
    assert_eq!(states(&srv_dir), ["complete", "complete", "complete"]);
    let kept: Vec<u8> = (0..kept_len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    // The handle went with the record.
    let handles = b
        .js_string(
            "return await new Promise((ok) => { const r = indexedDB.open('cipherdrop'); \
               r.onsuccess = () => { const q = r.result.transaction('handles').objectStore('handles').count(); \
                 q.onsuccess = () => { ok(String(q.result)); r.result.close(); }; }; })",
        )
        .await
        .unwrap();
    assert_eq!(handles, "0");

    // Offline mid-upload for longer than every retry would last: the upload waits, says so,
    // and goes on by itself when the network is back.
    let later = cipherdrop_testkit::data(3_000_000, 3);
    let later_path = files.join("later.bin");
    std::fs::write(&later_path, &later).unwrap();
    block_s3(&b, &s3_url, true).await;
    pick(&b, &later_path).await;
    b.wait_for(
        "li.upload[data-name=\"later.bin\"][data-state=\"running\"] progress:not([max=\"1\"])",
        MIN,
    )
    .await
    .unwrap();
    let offline = |on: bool| json!({"offline": on, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1});
    b.cdp("Network.emulateNetworkConditions", offline(true))
        .await
        .unwrap();
    block_s3(&b, &s3_url, false).await;
    b.wait_until_js(
        "(() => { const e = document.querySelector('li.upload[data-name=\"later.bin\"] .upload-message'); \
           return e !== null && e.innerText.includes('Offline: waiting for the network'); })()",
        MIN,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let state = b
        .js_string(
            "return document.querySelector('li.upload[data-name=\"later.bin\"]').dataset.state",
        )
        .await
        .unwrap();
    assert_eq!(state, "running");
    b.cdp("Network.emulateNetworkConditions", offline(false))
        .await
        .unwrap();
    let (state, message) = outcome(&b, "later.bin").await;
    assert_eq!(state, "done", "{message}");
    assert_eq!(
        states(&srv_dir),
        ["complete", "complete", "complete", "complete"]
    );

    // The server (and its S3) killed mid-upload and started again: the parts on the wire are
    // retried, and the upload completes by itself.
    let restarted = cipherdrop_testkit::data(16_000_000, 16);
    let restarted_path = files.join("restarted.bin");
    std::fs::write(&restarted_path, &restarted).unwrap();
    b.cdp(
        "Network.emulateNetworkConditions",
        json!({"offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 8_000_000}),
    )
    .await
    .unwrap();
    // One part at a time, so that the kill falls between parts (four at once end together).
    b.client
        .execute(
            "const p = document.querySelector('#parallel'); p.value = '1'; \
             p.dispatchEvent(new Event('change'));",
            vec![],
        )
        .await
        .unwrap();
    pick(&b, &restarted_path).await;
    stored_at_least(&b, "restarted.bin", 5242880).await;
    server.kill();
    server = restart();
    b.cdp("Network.emulateNetworkConditions", offline(false))
        .await
        .unwrap();
    let (state, message) = outcome(&b, "restarted.bin").await;
    assert_eq!(state, "done", "{message}");

    // An unfinished upload the server no longer keeps (aborted, as the sweeper does): the page
    // says so when the file is chosen again, and offers it as a new upload.
    let swept_path = files.join("swept.bin");
    std::fs::write(&swept_path, cipherdrop_testkit::data(11_000_000, 11)).unwrap();
    b.cdp(
        "Network.setBlockedURLs",
        json!({ "urls": ["*partNumber=2&*"] }),
    )
    .await
    .unwrap();
    pick(&b, &swept_path).await;
    stored_at_least(&b, "swept.bin", 5242880).await;
    b.client.refresh().await.unwrap();
    block_s3(&b, &s3_url, false).await;
    let row = "li.unfinished-upload[data-name=\"swept.bin\"]";
    b.wait_for(row, MIN).await.unwrap();
    let swept_id = b
        .js_string(&format!(
            "return document.querySelector('{row}').dataset.upload"
        ))
        .await
        .unwrap();
    let alice = server.client();
    alice.login("alice", PASSWORD).await.unwrap();
    alice
        .call(
            reqwest::Method::POST,
            &format!("/api/uploads/{swept_id}/abort"),
            None,
        )
        .await
        .unwrap();
    b.type_into(
        &format!("{row} input.resume-input"),
        &swept_path.display().to_string(),
    )
    .await
    .unwrap();
    let (state, message) = outcome(&b, "swept.bin").await;
    assert_eq!(state, "failed");
    assert!(message.contains("no longer keeps this upload"), "{message}");
    b.click("li.upload[data-name=\"swept.bin\"] button.upload-anew")
        .await
        .unwrap();
    b.wait_until_js(
        "[...document.querySelectorAll('li.upload[data-name=\"swept.bin\"]')].some(e => e.dataset.state === 'done')",
        MIN,
    )
    .await
    .unwrap();

    // A download whose connection breaks off (the server and its S3 killed mid-way, and started
    // again) goes on from where it stopped, and saves the file.
    b.no_save_dialog().await.unwrap();
    b.cdp(
        "Network.emulateNetworkConditions",
        json!({"offline": false, "latency": 0, "downloadThroughput": 4_000_000, "uploadThroughput": -1}),
    )
    .await
    .unwrap();
    let row = "tr.file[data-name=\"scan.tiff\"]";
    b.click(&format!("{row} button.download")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    server = restart();
    b.cdp("Network.emulateNetworkConditions", offline(false))
        .await
        .unwrap();
    b.wait_until_js(
        &format!("['done','failed'].includes(document.querySelector('{row}').dataset.download)"),
        MIN,
    )
    .await
    .unwrap();
    let message = b
        .js_string(&format!(
            "return document.querySelector('{row}').dataset.download + ': ' + \
             document.querySelector('{row}').nextElementSibling.innerText"
        ))
        .await
        .unwrap();
    assert!(
        message.starts_with("done: ") && message.contains("The connection broke"),
        "{message}"
    );
    let saved = b.wait_for_download("scan.tiff", MIN).await.unwrap();
    assert!(std::fs::read(saved).unwrap() == original);

    // And the stored objects are the files: each resumed one byte for byte what one
    // uninterrupted run makes with the same data key and message id (0x0478; a 0x0578 message's
    // signature needs the tab's signing key), and the official ESDK decrypts them.
    let alice = server.client();
    alice.login("alice", PASSWORD).await.unwrap();
    let (_, listed) = alice
        .call(reqwest::Method::GET, "/api/objects", None)
        .await
        .unwrap();
    let kms_creds = stored_credentials(&srv_dir.join("kms")).unwrap();
    let kms_url = server.kms_url.clone().unwrap();
    let mut found = 0;
    let mut kept_back = false;
    for o in listed["objects"].as_array().unwrap() {
        let id = o["id"].as_str().unwrap();
        let back = alice.download(id).await.unwrap();
        let stored = alice.download_ciphertext(id).await.unwrap();
        let details = alice.details(id).await.unwrap();
        if back == original {
            let key = alice.key(id).await.unwrap();
            let again = uninterrupted(&stored, key.data_key.expose(), &original);
            assert!(
                again == stored,
                "the resumed upload differs from an uninterrupted one"
            );
        }
        kept_back |= back == kept;
        if back == original || back == signed {
            let official = esdk_decrypt(
                &kms_url,
                (&kms_creds.0, &kms_creds.1),
                &details.key_arn,
                &stored,
                dir.path(),
            )
            .unwrap();
            assert!(official == back, "the official ESDK reads it otherwise");
        }
        found += 1;
    }
    // scan.tiff, signed.pdf, kept.bin, later.bin, restarted.bin, swept.bin
    assert_eq!(found, 6);
    assert!(
        kept_back,
        "the upload resumed through its handle is not the file"
    );
    b.close().await;
}

/// The message one uninterrupted run makes of `plain` with the data key (base64) and the message
/// id, context and EDKs in `stored`'s header: what a resumed 0x0478 upload must equal.
fn uninterrupted(stored: &[u8], data_key_b64: &str, plain: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    use cipherdrop_core::{DataKey, DecryptLimits, EncryptionMaterials, Encryptor, Header};
    let (header, _) = Header::parse(stored, &DecryptLimits::default()).unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(data_key_b64)
        .unwrap();
    let materials = EncryptionMaterials::new(
        header.suite,
        header.encryption_context.clone(),
        DataKey::from_bytes(&key).unwrap(),
        header.encrypted_data_keys.clone(),
        None,
    )
    .unwrap();
    let mut enc = Encryptor::<cipherdrop_core::AesGcmCipher>::with_message_id(
        materials,
        header.frame_length,
        header.message_id,
    )
    .unwrap();
    let mut out = Vec::new();
    enc.push(plain, &mut out).unwrap();
    enc.finish(&mut out).unwrap();
    out
}
