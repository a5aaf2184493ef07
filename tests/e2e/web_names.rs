//! File names through the real page in headless Chromium, counted in the embedded KMS's own
//! audit trail: an account whose names are sealed the old way (under each file's data key) costs
//! one KMS call per file once, while the page moves every name to the account's metadata key;
//! from then on a page load costs one KMS call however many files there are (≤ 2 is the bar),
//! a new upload is sealed under the account key, a logout forgets the key, a rotation in
//! Settings moves every name to the new version on the next load (two calls, then one again),
//! and names moved between rows are refused, not shown under the wrong file.
//!
//! `CIPHERDROP_NAMES_FILES=1000` runs it with 1,000 files (the figure in BENCHMARKS.md); the
//! default is 40. Needs `cargo build -p cipherdrop-cli` (same profile), `trunk build` (for
//! `dist/`), chromedriver with Chromium.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::SUITE_COMMIT_KEY;
use cipherdrop_core::metadata::{self, FileMeta, SealedUnder};
use cipherdrop_e2e::browser::{Browser, cipherdrop_bin, web_dist};
use cipherdrop_testkit::server::{Client, PASSWORD, ServerProcess, add_user, sqlite};

const WAIT: Duration = Duration::from_secs(300);

/// The embedded KMS's successful `operation` calls so far.
fn kms_calls(data: &Path, operation: &str) -> usize {
    std::fs::read_to_string(data.join("kms").join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["eventName"] == operation && v["outcome"] == "Success")
        .count()
}

fn name(i: usize) -> String {
    format!("old scan {i:04}.pdf")
}

/// Loads the page (logging in if asked) and waits until all `n` rows show a decrypted name or
/// an error; returns the time it took.
async fn load(b: &Browser, url: &str, n: usize, log_in: bool) -> Duration {
    let start = Instant::now();
    if log_in {
        b.log_in(url, "alice", PASSWORD).await.unwrap();
    } else {
        b.client.goto(url).await.unwrap();
    }
    b.wait_until_js(
        &format!(
            "(() => {{ const rows = [...document.querySelectorAll('tr.file')]; \
               return rows.length === {n} && rows.every(r => !r.dataset.name.startsWith('decrypting')); }})()"
        ),
        WAIT,
    )
    .await
    .unwrap();
    start.elapsed()
}

/// The stored metadata of every file, by id.
async fn stored(api: &Client) -> Vec<(String, String)> {
    let (_, list) = api
        .call(reqwest::Method::GET, "/api/objects", None)
        .await
        .unwrap();
    list["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_owned(),
                o["metadata"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_load_costs_one_kms_call_however_many_files() {
    let n: usize = std::env::var("CIPHERDROP_NAMES_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let bin = cipherdrop_bin().unwrap();
    let web = web_dist().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with_web(&bin, data.path(), &web, &[], &[]).unwrap();
    add_user(&bin, data.path(), "alice", PASSWORD, false).unwrap();

    // n files whose names are sealed the old way, under each file's data key.
    let api = Client::new(&server.url);
    api.login("alice", PASSWORD).await.unwrap();
    for i in 0..n {
        let (up, parts) = api
            .upload_parts(format!("file {i}").as_bytes(), SUITE_COMMIT_KEY, 4096)
            .await
            .unwrap();
        let key: [u8; 32] = B64.decode(&up.data_key).unwrap().try_into().unwrap();
        let meta = FileMeta {
            name: name(i),
            media_type: "application/pdf".into(),
            sender: None,
        };
        let sealed = metadata::seal(&meta, &key, &up.object_id, &mut rand::rng());
        api.complete(&up.upload_id, &parts, &B64.decode(sealed).unwrap())
            .await
            .unwrap();
    }
    let count = |op: &str| kms_calls(data.path(), op);

    // First visit: one release per old name (what every visit cost before), and the page moves
    // each name to the account key (made once: one GenerateDataKey).
    let b = Browser::start().await.unwrap();
    let (d0, g0) = (count("Decrypt"), count("GenerateDataKey"));
    let first = load(&b, &server.url, n, true).await;
    let (first_decrypts, made) = (count("Decrypt") - d0, count("GenerateDataKey") - g0);
    assert_eq!((first_decrypts, made), (n, 1));
    for i in [0, n / 2, n - 1] {
        b.wait_for(&format!("tr.file[data-name=\"{}\"]", name(i)), WAIT)
            .await
            .unwrap();
    }
    // The re-sealed names reach the server (each PUT follows its name onto the page).
    let deadline = Instant::now() + WAIT;
    loop {
        let all = stored(&api).await;
        let moved = all
            .iter()
            .filter(|(_, m)| metadata::sealed_under(m).unwrap() == SealedUnder::AccountKey(1))
            .count();
        if moved == n {
            break;
        }
        assert!(Instant::now() < deadline, "{moved} of {n} names moved");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every later visit: one KMS call, whatever n is.
    let d1 = count("Decrypt");
    let second = load(&b, &server.url, n, false).await;
    let next_decrypts = count("Decrypt") - d1;
    assert!(
        next_decrypts <= 2,
        "{next_decrypts} KMS calls for {n} files"
    );
    assert_eq!(next_decrypts, 1);
    assert_eq!(count("GenerateDataKey"), g0 + 1, "no new metadata key");
    for i in [0, n - 1] {
        b.wait_for(&format!("tr.file[data-name=\"{}\"]", name(i)), WAIT)
            .await
            .unwrap();
    }
    println!(
        "names of {n} files: first visit {first_decrypts} KMS Decrypt + {made} GenerateDataKey in \
         {first:.2?} (moving every name); next visit {next_decrypts} KMS Decrypt in {second:.2?}"
    );

    // A new upload through the page is sealed under the account key with no KMS call for it
    // beyond its own data key.
    let files = tempfile::tempdir().unwrap();
    let new_name = "new upload.txt";
    std::fs::write(files.path().join(new_name), b"fresh").unwrap();
    let d2 = count("Decrypt");
    b.type_into(
        "#file-input",
        &files.path().join(new_name).display().to_string(),
    )
    .await
    .unwrap();
    let (state, message) = b.upload_outcome(new_name, WAIT).await.unwrap();
    assert_eq!(state, "done", "{message}");
    assert_eq!(count("Decrypt"), d2, "the tab kept its metadata key");
    let all = stored(&api).await;
    assert_eq!(all.len(), n + 1);
    assert!(
        all.iter()
            .all(|(_, m)| metadata::sealed_under(m).unwrap() == SealedUnder::AccountKey(1))
    );

    // A logout forgets the key: the next login asks again (one call).
    b.click("#logout").await.unwrap();
    b.wait_for("#username", WAIT).await.unwrap();
    let d3 = count("Decrypt");
    load(&b, &server.url, n + 1, true).await;
    assert_eq!(count("Decrypt") - d3, 1);

    // A rotation in Settings: new names use version 2; the next load moves every name to it (two
    // calls: the old version and the new), and the one after costs one call again.
    b.click("#names-key summary").await.unwrap();
    let g4 = count("GenerateDataKey");
    b.click("#names-key-rotate").await.unwrap();
    b.wait_for("#names-key-status", WAIT).await.unwrap();
    assert_eq!(count("GenerateDataKey"), g4 + 1);
    let d4 = count("Decrypt");
    load(&b, &server.url, n + 1, false).await;
    assert_eq!(count("Decrypt") - d4, 2);
    let deadline = Instant::now() + WAIT;
    let all = loop {
        let all = stored(&api).await;
        if all
            .iter()
            .all(|(_, m)| metadata::sealed_under(m).unwrap() == SealedUnder::AccountKey(2))
        {
            break all;
        }
        assert!(Instant::now() < deadline, "names not moved to version 2");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let d5 = count("Decrypt");
    load(&b, &server.url, n + 1, false).await;
    assert_eq!(count("Decrypt") - d5, 1);
    assert_eq!(count("GenerateDataKey"), g4 + 1);

    // Names swapped between two rows in the database are refused, not shown on the wrong file.
    let (a, z) = (&all[0].0, &all[1].0);
    let hex = |b64: &str| -> String {
        B64.decode(b64)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    sqlite(
        data.path(),
        &format!(
            "UPDATE objects SET metadata = X'{}' WHERE id = '{a}'; \
             UPDATE objects SET metadata = X'{}' WHERE id = '{z}';",
            hex(&all[1].1),
            hex(&all[0].1)
        ),
    )
    .unwrap();
    load(&b, &server.url, n + 1, false).await;
    for id in [a, z] {
        let shown = b
            .js_string(&format!(
                "return document.querySelector('tr.file[data-id=\"{id}\"]').dataset.name"
            ))
            .await
            .unwrap();
        assert!(shown.starts_with("(name unreadable"), "{id}: {shown}");
    }
    b.close().await;
}
