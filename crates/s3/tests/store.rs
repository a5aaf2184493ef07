//! The embedded store through `aws-sdk-s3`: CompleteMultipartUpload survives a client hanging up
//! mid-way, retries, concurrency, aborts, crashes between its steps and a restart; it checks
//! parts as S3 does; keys cannot leave the root; and `s3s-fs`'s on-disk layout is still the one
//! `src/layout.rs` reads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cipherdrop_s3::{Credentials, Options};
use s3s::crypto::{Checksum as _, Md5};
use sha2::{Digest as _, Sha256};

const AK: &str = "AKIATESTSTORE0000000";
const SK: &str = "test-secret-key-for-the-embedded-store00";
const BUCKET: &str = "bucket";
const MIB: usize = 1024 * 1024;

/// The router served on 127.0.0.1:0 over `dir`.
struct Server {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(dir: &Path) -> Self {
        let creds = Credentials::new(AK, SK);
        let router = cipherdrop_s3::router(&Options {
            data_dir: dir,
            credentials: &creds,
            cors_origins: vec![],
        })
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(cipherdrop_s3::serve(listener, router, async move {
            let _ = stopped.await;
        }));
        Self {
            url,
            stop: Some(stop),
            task,
        }
    }

    /// Stops serving (the router, and its store, are dropped).
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    fn client(&self) -> Client {
        client(&self.url, None)
    }
}

/// A path-style client with the store's key pair; with `timeout`, every operation is cut after it
/// and nothing is retried.
fn client(url: &str, timeout: Option<Duration>) -> Client {
    let mut conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            AK, SK, None, None, "tests",
        ))
        .endpoint_url(url)
        .force_path_style(true)
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired);
    if let Some(t) = timeout {
        conf = conf
            .timeout_config(TimeoutConfig::builder().operation_timeout(t).build())
            .retry_config(RetryConfig::disabled());
    }
    Client::from_conf(conf.build())
}

/// `len` pseudo-random bytes (xorshift, seeded).
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::checksum(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The multipart ETag S3 (and `s3s-fs`) give these parts: md5 of the parts' md5s, `-n`.
fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut all = Vec::new();
    for p in parts {
        all.extend_from_slice(&Md5::checksum(p));
    }
    format!("\"{}-{}\"", md5_hex(&all), parts.len())
}

/// Splits `data` into parts of `part` bytes (the last may be shorter).
fn split(data: &[u8], part: usize) -> Vec<&[u8]> {
    data.chunks(part).collect()
}

/// Starts a multipart upload of `parts` to `key`; returns the upload id and the part list to
/// complete it with.
async fn upload(c: &Client, key: &str, parts: &[&[u8]]) -> (String, CompletedMultipartUpload) {
    let id = c
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .content_type("application/x-test")
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let out = c
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(p.to_vec()))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag.unwrap())
                .build(),
        );
    }
    (
        id,
        CompletedMultipartUpload::builder()
            .set_parts(Some(done))
            .build(),
    )
}

async fn complete(
    c: &Client,
    key: &str,
    id: &str,
    parts: &CompletedMultipartUpload,
) -> Result<String, String> {
    c.complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(id)
        .multipart_upload(parts.clone())
        .send()
        .await
        .map(|o| o.e_tag.unwrap())
        .map_err(|e| e.code().unwrap_or("no code (dispatch/timeout)").to_owned())
}

/// The object's bytes' SHA-256 and its ETag, as GET answers them.
async fn get(c: &Client, key: &str) -> ([u8; 32], String) {
    let out = c.get_object().bucket(BUCKET).key(key).send().await.unwrap();
    let etag = out.e_tag.clone().unwrap();
    let bytes = out.body.collect().await.unwrap().into_bytes();
    (Sha256::digest(&bytes).into(), etag)
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Names of the files in the store's root.
fn root_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn meta_name(bucket: &str, key: &str, upload: Option<&str>) -> String {
    let u = upload.map(|u| format!(".upload-{u}")).unwrap_or_default();
    format!(
        ".bucket-{}.object-{}{u}.metadata.json",
        URL_SAFE_NO_PAD.encode(bucket),
        URL_SAFE_NO_PAD.encode(key)
    )
}

fn internal_name(bucket: &str, key: &str) -> String {
    format!(
        ".bucket-{}.object-{}.internal.json",
        URL_SAFE_NO_PAD.encode(bucket),
        URL_SAFE_NO_PAD.encode(key)
    )
}

async fn start_with_bucket(dir: &Path) -> Server {
    let s = Server::start(dir).await;
    s.client()
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    s
}

/// The bug this store fixes: a client that hangs up a few milliseconds into the completion of a
/// 16 MiB upload (a completion takes 80–200 ms here, so the cuts land in every step of it). With `s3s-fs`'s own completion the upload id and parts are gone and the retry
/// answers AccessDenied; here the retry answers the same ETag and GET the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_cut_short_by_the_client_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_bucket(dir.path()).await;
    let c = server.client();
    let mut cut = 0;
    for (i, ms) in [1u64, 5, 10, 20, 30, 40, 60, 80, 100, 120, 140, 170, 200]
        .into_iter()
        .enumerate()
    {
        let body = data(16 * MIB, ms);
        let parts = split(&body, 6 * MIB);
        let key = format!("dir/object-{ms}");
        let (id, list) = upload(&c, &key, &parts).await;

        let hasty = client(&server.url, Some(Duration::from_millis(ms)));
        if complete(&hasty, &key, &id, &list).await.is_err() {
            cut += 1;
        }

        let etag = complete(&c, &key, &id, &list)
            .await
            .unwrap_or_else(|e| panic!("retry after a cut at {ms} ms: {e}"));
        assert_eq!(etag, multipart_etag(&parts), "cut at {ms} ms");
        let (got, get_etag) = get(&c, &key).await;
        assert_eq!(
            got,
            sha(&body),
            "cut at {ms} ms: the object is not the upload"
        );
        assert_eq!(get_etag, etag);
        let head = c
            .head_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.e_tag.unwrap(), etag);
        assert_eq!(head.content_type.as_deref(), Some("application/x-test"));
        assert!(
            !root_files(dir.path())
                .iter()
                .any(|f| f.contains(&id) && !f.starts_with(".completed-")),
            "upload {i} left files behind"
        );
    }
    assert!(
        cut >= 6,
        "only {cut} completions were cut short: the test did not hang up mid-way"
    );
    server.stop().await;
}

/// Env var naming the data folder of [`child_store_server`].
const CHILD_DIR: &str = "CIPHERDROP_S3_TEST_CHILD_DIR";

/// Not a test: the store process that [`a_kill_at_any_moment_of_a_completion_loses_nothing`]
/// starts (this test binary, run with `--ignored --exact child_store_server`) and kills.
#[test]
#[ignore = "run by a_kill_at_any_moment_of_a_completion_loses_nothing as its child process"]
fn child_store_server() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = Server::start(Path::new(&dir)).await;
        println!("store-listening {}", server.url);
        std::future::pending::<()>().await;
    });
}

/// A child process running the store, killed (SIGKILL) on drop.
struct Child {
    process: std::process::Child,
    url: String,
}

impl Child {
    fn start(dir: &Path) -> Self {
        use std::io::BufRead as _;
        let mut process = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["child_store_server", "--exact", "--ignored", "--nocapture"])
            .env(CHILD_DIR, dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(process.stdout.take().unwrap());
        let url = out
            .lines()
            .map(Result::unwrap)
            .find_map(|l| l.strip_prefix("store-listening ").map(str::to_owned))
            .expect("the child store did not start");
        Self { process, url }
    }

    fn kill(mut self) {
        self.process.kill().unwrap();
        self.process.wait().unwrap();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The store process is killed 0–300 ms after a completion of a 16 MiB upload reached it, so the
/// kill lands in every step (assembly, attributes, rename, record, cleanup). After a restart the
/// retried completion answers the upload's ETag and GET its bytes, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_at_any_moment_of_a_completion_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let child = Child::start(root);
    client(&child.url, None)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let mut child = Some(child);
    let mut mid_way = 0;
    for ms in [0u64, 10, 20, 35, 50, 70, 90, 110, 130, 150, 180, 220, 300] {
        let running = child.take().unwrap();
        let c = client(&running.url, None);
        let body = data(16 * MIB, 1000 + ms);
        let parts = split(&body, 6 * MIB);
        let key = format!("killed-{ms}");
        let (id, list) = upload(&c, &key, &parts).await;

        let request = {
            let (c, key, id, list) = (c.clone(), key.clone(), id.clone(), list.clone());
            tokio::spawn(async move { complete(&c, &key, &id, &list).await })
        };
        tokio::time::sleep(Duration::from_millis(ms)).await;
        running.kill();
        let first = request.await.unwrap();

        // What the kill left: the upload (maybe a half-built object), or the object.
        let files = root_files(root);
        let upload_left = files.contains(&format!(".upload-{id}.json"));
        let object_left = root.join(BUCKET).join(&key).exists();
        let temp_left = files
            .iter()
            .any(|f| f.starts_with(&format!(".tmp.complete-{id}")));
        let record_left = files.contains(&format!(".completed-{id}.json"));
        assert!(
            upload_left || (object_left && record_left),
            "killed at {ms} ms: neither the upload nor the object is left ({files:?})"
        );
        if temp_left || (record_left && upload_left) || (object_left && !record_left) {
            mid_way += 1;
        }

        let restarted = Child::start(root);
        let c = client(&restarted.url, None);
        let etag = complete(&c, &key, &id, &list)
            .await
            .unwrap_or_else(|e| panic!("retry after a kill at {ms} ms: {e}"));
        assert_eq!(etag, multipart_etag(&parts), "killed at {ms} ms");
        if let Ok(first) = first {
            assert_eq!(first, etag);
        }
        assert_eq!(get(&c, &key).await, (sha(&body), etag), "killed at {ms} ms");
        child = Some(restarted);
    }
    assert!(
        mid_way >= 3,
        "only {mid_way} kills landed inside a completion: the test did not kill mid-way"
    );
}

/// S3's answers around a completed upload: the same completion again is 200 with the same ETag;
/// another part list, an unknown id, an abort after completion and a completion after an abort
/// are NoSuchUpload; an upload created under another access key is AccessDenied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_aborts_and_unknown_ids_answer_as_s3_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_bucket(dir.path()).await;
    let c = server.client();
    let body = data(11 * MIB, 1);
    let parts = split(&body, 5 * MIB);
    let (id, list) = upload(&c, "k", &parts).await;
    let first = complete(&c, "k", &id, &list).await.unwrap();
    assert_eq!(first, multipart_etag(&parts));
    assert_eq!(complete(&c, "k", &id, &list).await, Ok(first.clone()));

    let fewer = CompletedMultipartUpload::builder()
        .set_parts(Some(list.parts().iter().take(2).cloned().collect()))
        .build();
    assert_eq!(
        complete(&c, "k", &id, &fewer).await,
        Err("NoSuchUpload".into())
    );
    assert_eq!(
        complete(&c, "other-key", &id, &list).await,
        Err("NoSuchUpload".into())
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        complete(&c, "k", &unknown, &list).await,
        Err("NoSuchUpload".into())
    );
    assert_eq!(
        complete(&c, "k", "not-an-id", &list).await,
        Err("NoSuchUpload".into())
    );
    let abort = c
        .abort_multipart_upload()
        .bucket(BUCKET)
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(abort.code(), Some("NoSuchUpload"));
    let part = c
        .upload_part()
        .bucket(BUCKET)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(vec![1u8; 10]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(part.code(), Some("NoSuchUpload"));
    // The retries changed nothing.
    assert_eq!(get(&c, "k").await, (sha(&body), first.clone()));

    let (id2, list2) = upload(&c, "k2", &parts).await;
    c.abort_multipart_upload()
        .bucket(BUCKET)
        .key("k2")
        .upload_id(&id2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        complete(&c, "k2", &id2, &list2).await,
        Err("NoSuchUpload".into())
    );
    assert!(
        c.head_object()
            .bucket(BUCKET)
            .key("k2")
            .send()
            .await
            .is_err()
    );

    // An upload whose id file names another access key (the store accepts one key pair over
    // HTTP, so it is made on disk).
    let (id3, list3) = upload(&c, "k3", &parts).await;
    std::fs::write(
        dir.path().join(format!(".upload-{id3}.json")),
        b"\"AKIAOTHER\"",
    )
    .unwrap();
    assert_eq!(
        complete(&c, "k3", &id3, &list3).await,
        Err("AccessDenied".into())
    );
    server.stop().await;
}

/// Eight completions of one upload at once: every one answers the same ETag and the object is
/// whole. An abort during a completion waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_completions_of_one_upload_agree() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_bucket(dir.path()).await;
    let c = server.client();
    let body = data(17 * MIB, 2);
    let parts = split(&body, 5 * MIB);
    let (id, list) = upload(&c, "same", &parts).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (c, id, list) = (c.clone(), id.clone(), list.clone());
            tokio::spawn(async move { complete(&c, "same", &id, &list).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(multipart_etag(&parts)));
    }
    assert_eq!(get(&c, "same").await, (sha(&body), multipart_etag(&parts)));

    // An abort sent while a completion runs waits for it: either the completion won (abort
    // answers NoSuchUpload, the object is whole) or the abort came first (the completion answers
    // NoSuchUpload, no object) — never an abort pulling parts from under a completion.
    let (id, list) = upload(&c, "aborted", &parts).await;
    let completing = {
        let (c, id, list) = (c.clone(), id.clone(), list.clone());
        tokio::spawn(async move { complete(&c, "aborted", &id, &list).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let abort = c
        .abort_multipart_upload()
        .bucket(BUCKET)
        .key("aborted")
        .upload_id(&id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.code().map(str::to_owned));
    match (completing.await.unwrap(), abort) {
        (Ok(etag), Err(Some(code))) if code == "NoSuchUpload" => {
            assert_eq!(etag, multipart_etag(&parts));
            assert_eq!(get(&c, "aborted").await, (sha(&body), etag));
        }
        (Err(code), Ok(())) if code == "NoSuchUpload" => {
            assert!(
                c.head_object()
                    .bucket(BUCKET)
                    .key("aborted")
                    .send()
                    .await
                    .is_err()
            );
        }
        other => panic!("completion and abort interleaved: {other:?}"),
    }
    server.stop().await;
}

/// The upload's own files: id file, parts, attributes while in progress.
fn upload_files(dir: &Path, key: &str, id: &str, parts: usize) -> Vec<PathBuf> {
    let mut v = vec![
        dir.join(format!(".upload-{id}.json")),
        dir.join(meta_name(BUCKET, key, Some(id))),
    ];
    v.extend((1..=parts).map(|n| dir.join(format!(".upload_id-{id}.part-{n}"))));
    v
}

/// A crash at each point of a completion, re-created on disk: the files the store had when it
/// stopped are put back, then the store restarts (or, for the window after the record, the
/// running store gets the retry). Every time the upload is either still completable or complete,
/// and the retry answers the same ETag and GET the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_any_two_steps_leaves_a_completable_or_complete_upload() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let server = start_with_bucket(root).await;
    let c = server.client();
    let body = data(12 * MIB, 3);
    let parts = split(&body, 5 * MIB);
    let (id, list) = upload(&c, "crash", &parts).await;
    let saved: Vec<(PathBuf, Vec<u8>)> = upload_files(root, "crash", &id, parts.len())
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    let etag = complete(&c, "crash", &id, &list).await.unwrap();
    server.stop().await;
    let record = root.join(format!(".completed-{id}.json"));
    assert!(record.exists());
    let restore = || {
        for (p, b) in &saved {
            std::fs::write(p, b).unwrap();
        }
    };
    let leftovers_gone = || {
        for (p, _) in &saved {
            assert!(!p.exists(), "{} is left", p.display());
        }
    };

    // 1. Killed after the record, before any deletion: the restart finishes the cleanup, the
    //    retry answers from the record.
    restore();
    let server = Server::start(root).await;
    leftovers_gone();
    assert_eq!(
        complete(&server.client(), "crash", &id, &list).await,
        Ok(etag.clone())
    );
    assert_eq!(
        get(&server.client(), "crash").await,
        (sha(&body), etag.clone())
    );

    // 2. Same state, no restart: the retry itself finishes the cleanup; meanwhile the upload
    //    takes no parts.
    restore();
    let c = server.client();
    let part = c
        .upload_part()
        .bucket(BUCKET)
        .key("crash")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(vec![1u8; 10]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(part.code(), Some("NoSuchUpload"));
    assert_eq!(complete(&c, "crash", &id, &list).await, Ok(etag.clone()));
    leftovers_gone();
    server.stop().await;

    // 3. Killed after the object was placed, before the record, with a half-written temp file
    //    of ours: the upload is still there and completes again to the same object.
    restore();
    std::fs::remove_file(&record).unwrap();
    let tmp = root.join(format!(".tmp.complete-{id}.object.internal.part"));
    std::fs::write(&tmp, b"half").unwrap();
    let server = Server::start(root).await;
    assert!(!tmp.exists(), "the temp file survived the start");
    assert_eq!(
        complete(&server.client(), "crash", &id, &list).await,
        Ok(etag.clone())
    );
    assert_eq!(
        get(&server.client(), "crash").await,
        (sha(&body), etag.clone())
    );
    leftovers_gone();

    // 4. Killed before anything was written: a fresh key, upload intact, no object.
    restore();
    std::fs::remove_file(&record).unwrap();
    std::fs::remove_file(root.join(BUCKET).join("crash")).unwrap();
    std::fs::remove_file(root.join(internal_name(BUCKET, "crash"))).unwrap();
    server.stop().await;
    let server = Server::start(root).await;
    assert_eq!(
        complete(&server.client(), "crash", &id, &list).await,
        Ok(etag.clone())
    );
    assert_eq!(
        get(&server.client(), "crash").await,
        (sha(&body), etag.clone())
    );

    // 5. Parts left by an upload whose id file is gone (an interrupted abort) are removed at
    //    start; records past their retention too.
    let stray = root.join(format!(".upload_id-{}.part-1", uuid::Uuid::new_v4()));
    std::fs::write(&stray, b"stray").unwrap();
    let old = std::fs::File::options().write(true).open(&record).unwrap();
    old.set_modified(std::time::SystemTime::now() - Duration::from_secs(25 * 3600))
        .unwrap();
    drop(old);
    server.stop().await;
    let server = Server::start(root).await;
    assert!(!stray.exists());
    assert!(!record.exists());
    assert_eq!(
        complete(&server.client(), "crash", &id, &list).await,
        Err("NoSuchUpload".into())
    );
    server.stop().await;
}

/// A wrong part ETag is InvalidPart, a small part that is not the last EntityTooSmall, a missing
/// part InvalidPart, parts out of order InvalidPartOrder — and after each refusal the upload
/// still completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_checked_and_a_refusal_keeps_the_upload() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_bucket(dir.path()).await;
    let c = server.client();
    let body = data(15 * MIB, 4);
    let parts = split(&body, 5 * MIB);
    let (id, list) = upload(&c, "checked", &parts).await;
    let with = |edit: &dyn Fn(&mut Vec<CompletedPart>)| {
        let mut v = list.parts().to_vec();
        edit(&mut v);
        CompletedMultipartUpload::builder()
            .set_parts(Some(v))
            .build()
    };

    let wrong = with(&|v| {
        v[1] = CompletedPart::builder()
            .part_number(2)
            .e_tag(format!("\"{}\"", md5_hex(b"something else")))
            .build();
    });
    assert_eq!(
        complete(&c, "checked", &id, &wrong).await,
        Err("InvalidPart".into())
    );
    let missing = with(&|v| {
        v.push(
            CompletedPart::builder()
                .part_number(4)
                .e_tag(format!("\"{}\"", md5_hex(b"")))
                .build(),
        );
    });
    assert_eq!(
        complete(&c, "checked", &id, &missing).await,
        Err("InvalidPart".into())
    );
    let swapped = with(&|v| v.swap(0, 1));
    assert_eq!(
        complete(&c, "checked", &id, &swapped).await,
        Err("InvalidPartOrder".into())
    );

    // A 1 MiB part 2 of 3.
    let small = data(MIB, 5);
    let out = c
        .upload_part()
        .bucket(BUCKET)
        .key("checked")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .unwrap();
    let too_small = with(&|v| {
        v[1] = CompletedPart::builder()
            .part_number(2)
            .e_tag(out.e_tag.clone().unwrap())
            .build();
    });
    assert_eq!(
        complete(&c, "checked", &id, &too_small).await,
        Err("EntityTooSmall".into())
    );
    assert!(
        c.head_object()
            .bucket(BUCKET)
            .key("checked")
            .send()
            .await
            .is_err()
    );

    // Put part 2 back; the original list completes.
    c.upload_part()
        .bucket(BUCKET)
        .key("checked")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from(parts[1].to_vec()))
        .send()
        .await
        .unwrap();
    let etag = complete(&c, "checked", &id, &list).await.unwrap();
    assert_eq!(etag, multipart_etag(&parts));
    assert_eq!(get(&c, "checked").await, (sha(&body), etag));
    server.stop().await;
}

/// Keys with `..` segments, absolute keys: refused by every operation that takes a key,
/// including a completion of an upload made on disk under such a key; nothing is written outside
/// the store's root or into its own files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_cannot_escape_the_root() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("store");
    std::fs::create_dir(&root).unwrap();
    let server = start_with_bucket(&root).await;
    let c = server.client();
    c.create_bucket().bucket("other").send().await.unwrap();
    let body = data(6 * MIB, 6);

    for key in [
        "../escape",
        "../../escape",
        "a/../../escape",
        "../other/planted",
        "../.upload-00000000-0000-0000-0000-000000000000.json",
        "/abs",
    ] {
        let put = c
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from(b"x".to_vec()))
            .send()
            .await;
        assert!(put.is_err(), "PUT {key:?} accepted");
        let mpu = c
            .create_multipart_upload()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await;
        assert!(mpu.is_err(), "CreateMultipartUpload {key:?} accepted");

        // The completion checks the key itself: an upload made on disk under it.
        let id = uuid::Uuid::new_v4().to_string();
        std::fs::write(root.join(format!(".upload-{id}.json")), format!("\"{AK}\"")).unwrap();
        std::fs::write(root.join(format!(".upload_id-{id}.part-1")), &body).unwrap();
        let list = CompletedMultipartUpload::builder()
            .parts(
                CompletedPart::builder()
                    .part_number(1)
                    .e_tag(format!("\"{}\"", md5_hex(&body)))
                    .build(),
            )
            .build();
        assert!(
            complete(&c, key, &id, &list).await.is_err(),
            "completion to {key:?} accepted"
        );
        assert!(root.join(format!(".upload_id-{id}.part-1")).exists());
    }
    let outside: Vec<_> = std::fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("store")]);
    assert!(root_files(&root.join("other")).is_empty());
    assert!(
        !root
            .join(".upload-00000000-0000-0000-0000-000000000000.json")
            .exists()
    );
    server.stop().await;
}

/// Pins `s3s-fs`'s on-disk layout, which `src/layout.rs` restates because `s3s-fs`'s helpers are
/// crate-private: if a new `s3s-fs` names any of these files differently, this fails before the
/// durable completion silently stops finding them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3s_fs_on_disk_layout_is_the_one_we_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let server = start_with_bucket(root).await;
    let c = server.client();
    let p1 = data(5 * MIB, 7);
    let p2 = data(1000, 8);
    let (id, list) = upload(&c, "a/b", &[&p1, &p2]).await;

    // The upload: id file holding the creator's access key as JSON, numbered parts, attributes.
    let info = std::fs::read(root.join(format!(".upload-{id}.json"))).unwrap();
    assert_eq!(
        serde_json::from_slice::<Option<String>>(&info)
            .unwrap()
            .as_deref(),
        Some(AK)
    );
    assert_eq!(
        std::fs::read(root.join(format!(".upload_id-{id}.part-1"))).unwrap(),
        p1
    );
    assert_eq!(
        std::fs::read(root.join(format!(".upload_id-{id}.part-2"))).unwrap(),
        p2
    );
    let attrs: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join(meta_name(BUCKET, "a/b", Some(&id)))).unwrap(),
    )
    .unwrap();
    assert_eq!(attrs["content_type"], "application/x-test");
    // ListParts (s3s-fs's) finds the parts by those names.
    let listed = c
        .list_parts()
        .bucket(BUCKET)
        .key("a/b")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 2);

    // A plain PUT: the object at {bucket}/{key}, attributes and `e_tag` in internal info, which
    // HEAD answers — the files our completion writes.
    c.put_object()
        .bucket(BUCKET)
        .key("x/y")
        .content_type("text/plain")
        .body(ByteStream::from(b"hello".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(root.join(BUCKET).join("x/y")).unwrap(),
        b"hello"
    );
    let internal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join(internal_name(BUCKET, "x/y"))).unwrap())
            .unwrap();
    assert_eq!(internal["e_tag"], md5_hex(b"hello"));
    let attrs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join(meta_name(BUCKET, "x/y", None))).unwrap())
            .unwrap();
    assert_eq!(attrs["content_type"], "text/plain");
    // s3s-fs answers the stored e_tag, not the file's MD5.
    std::fs::write(
        root.join(internal_name(BUCKET, "x/y")),
        br#"{"e_tag":"stored-etag"}"#,
    )
    .unwrap();
    let head = c
        .head_object()
        .bucket(BUCKET)
        .key("x/y")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag.as_deref(), Some("\"stored-etag\""));

    // The completed upload: object, attributes moved, internal info, record; upload files gone.
    let etag = complete(&c, "a/b", &id, &list).await.unwrap();
    let mut whole = p1.clone();
    whole.extend_from_slice(&p2);
    assert_eq!(std::fs::read(root.join(BUCKET).join("a/b")).unwrap(), whole);
    let internal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join(internal_name(BUCKET, "a/b"))).unwrap())
            .unwrap();
    assert_eq!(format!("\"{}\"", internal["e_tag"].as_str().unwrap()), etag);
    assert!(root.join(meta_name(BUCKET, "a/b", None)).exists());
    assert!(root.join(format!(".completed-{id}.json")).exists());
    for f in upload_files(root, "a/b", &id, 2) {
        assert!(!f.exists(), "{} is left", f.display());
    }
    let head = c
        .head_object()
        .bucket(BUCKET)
        .key("a/b")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type.as_deref(), Some("application/x-test"));
    server.stop().await;

    // `FileSystem::new` removes `.tmp.*.internal.part` (the names of our temp files).
    std::fs::write(root.join(".tmp.99.internal.part"), b"t").unwrap();
    std::fs::write(
        root.join(format!(".tmp.complete-{id}.info.internal.part")),
        b"t",
    )
    .unwrap();
    let server = Server::start(root).await;
    assert!(!root_files(root).iter().any(|f| f.starts_with(".tmp.")));
    server.stop().await;
}

/// UploadPartCopy (ours, in 1 MiB blocks): byte ranges of an object become parts whose ETags are
/// their MD5s, the assembled object is exactly the ranges in order, and bad ranges, missing
/// sources, unknown uploads and keys that escape the root are refused as S3 refuses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_ranges_copied_into_parts_assemble_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_bucket(dir.path()).await;
    let c = s.client();
    let source = data(13 * MIB + 7, 9);
    c.put_object()
        .bucket(BUCKET)
        .key("src")
        .body(ByteStream::from(source.clone()))
        .send()
        .await
        .unwrap();
    let id = c
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("dst")
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let head = b"a new header".to_vec();
    let first = c
        .upload_part()
        .bucket(BUCKET)
        .key("dst")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(
            [head.clone(), source[..5 * MIB].to_vec()].concat(),
        ))
        .send()
        .await
        .unwrap();
    let ranges = [(5 * MIB, 11 * MIB - 1), (11 * MIB, source.len() - 1)];
    let mut done = vec![
        CompletedPart::builder()
            .part_number(1)
            .e_tag(first.e_tag.unwrap())
            .build(),
    ];
    for (i, (a, b)) in ranges.iter().enumerate() {
        let n = i32::try_from(i + 2).unwrap();
        let out = c
            .upload_part_copy()
            .bucket(BUCKET)
            .key("dst")
            .upload_id(&id)
            .part_number(n)
            .copy_source(format!("{BUCKET}/src"))
            .copy_source_range(format!("bytes={a}-{b}"))
            .send()
            .await
            .unwrap();
        let etag = out.copy_part_result.unwrap().e_tag.unwrap();
        assert_eq!(etag.trim_matches('"'), md5_hex(&source[*a..=*b]));
        done.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
    }
    // Refusals, each with S3's code; none leaves a part behind.
    let refused = |range: &str, src: &str, upload: &str| {
        let c = c.clone();
        let (range, src, upload) = (range.to_owned(), src.to_owned(), upload.to_owned());
        async move {
            c.upload_part_copy()
                .bucket(BUCKET)
                .key("dst")
                .upload_id(upload)
                .part_number(9)
                .copy_source(src)
                .copy_source_range(range)
                .send()
                .await
                .map_err(|e| e.code().unwrap_or("none").to_owned())
                .unwrap_err()
        }
    };
    let whole = format!("{BUCKET}/src");
    assert_eq!(refused("bytes=5-2", &whole, &id).await, "InvalidRange");
    assert_eq!(
        refused(&format!("bytes=0-{}", source.len()), &whole, &id).await,
        "InvalidRange"
    );
    assert_eq!(
        refused("bytes=0-1", &format!("{BUCKET}/missing"), &id).await,
        "NoSuchKey"
    );
    assert_eq!(
        refused("bytes=0-1", &format!("{BUCKET}/../x"), &id).await,
        "InvalidArgument"
    );
    let unknown = "00000000-0000-0000-0000-000000000000";
    assert_eq!(refused("bytes=0-1", &whole, unknown).await, "NoSuchUpload");
    assert!(
        !root_files(dir.path())
            .iter()
            .any(|f| f.ends_with(".part-9"))
    );

    let parts = CompletedMultipartUpload::builder()
        .set_parts(Some(done))
        .build();
    complete(&c, "dst", &id, &parts).await.unwrap();
    let (digest, _) = get(&c, "dst").await;
    assert_eq!(digest, sha(&[head, source].concat()));
    s.stop().await;
}

/// A write into a bucket that does not exist is refused as S3 refuses it (s3s-fs alone would
/// make the bucket's folder and store the object), and nothing is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_into_a_missing_bucket_answer_no_such_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_bucket(dir.path()).await;
    let c = server.client();
    let put = c
        .put_object()
        .bucket("no-such-bucket")
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(put.into_service_error().meta().code(), Some("NoSuchBucket"));
    let create = c
        .create_multipart_upload()
        .bucket("no-such-bucket")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        create.into_service_error().meta().code(),
        Some("NoSuchBucket")
    );
    assert!(!dir.path().join("no-such-bucket").exists());
    c.put_object()
        .bucket(BUCKET)
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
}
