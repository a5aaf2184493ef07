//! `cipherdrop put`: files encrypted here, their parts sent straight to S3 through presigned URLs,
//! several at once; and `put --resume`, which continues an upload that was interrupted (Ctrl-C, a
//! crash, the network gone) instead of starting over.
//!
//! Each upload under way has a record, `$XDG_STATE_HOME/cipherdrop/uploads/{upload id}.json`
//! and `.parts` (mode 0600; `~/.local/state` without `XDG_STATE_HOME`), written before the first
//! part is sent, with a line appended for every part S3 acknowledges. It keeps what re-creates the message byte for byte: the
//! file (path, size, modification time), the message id, the suite and frame length, for 0x0578
//! the signing key **sealed under the data key** (`cipherdrop_core::resume`), and each
//! acknowledged part's ETag and SHA-256. The record alone decrypts nothing and signs nothing: the
//! data key comes back only through the server's audited release for the pending upload.
//!
//! On `--resume`, the server's `ListParts` says which parts S3 holds (the source of truth; the
//! record is a convenience), the file is checked to be the same one (size, modification time, and
//! the SHA-256 of every part already sent, re-encrypted here rather than re-sent; a different file
//! is refused in words before anything is sent), and only the parts S3 lacks are sent, with fresh
//! URLs. The frames depend only on the data key, the message id and their sequence numbers, so
//! the stored object is the one an uninterrupted run would have made.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{IsTerminal as _, Read as _, Seek as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    CompleteUploadRequest, CompletedPart, CreateUploadRequest, CreateUploadResponse, ObjectSummary,
    PendingKeyResponse, UploadStatus,
};
use cipherdrop_core::metadata::FileMeta;
use cipherdrop_core::resume::{open_signing_key, seal_signing_key};
use cipherdrop_core::{
    DataKey, EncryptedDataKey, EncryptionContext, EncryptionMaterials, Encryptor, MESSAGE_ID_LEN,
    PUBLIC_KEY_FIELD, SigningKey, Suite,
};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};

use super::remote::{Remote, decode_key, write_private};
use crate::crypt::cipher::AwsLcCipher;
use crate::exit::{EXIT_INTERRUPTED, EXIT_UNAVAILABLE, Failure, chain, fail};
use crate::process::client_runtime;

/// Options of `put`.
pub(super) struct PutOptions {
    /// The algorithm suite.
    pub(super) suite: Suite,
    /// Plaintext bytes per frame.
    pub(super) frame_length: u32,
    /// Parts in flight at once.
    pub(super) parallel: usize,
    /// Continue the recorded upload of each file, if there is one.
    pub(super) resume: bool,
}

/// A part S3 acknowledged, as the record keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PartRecord {
    etag: String,
    size: u64,
    /// SHA-256 of the part's ciphertext, hex.
    sha256: String,
}

/// What re-creates an interrupted upload's message byte for byte (see the module's text).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    server: String,
    upload_id: String,
    path: PathBuf,
    size: u64,
    /// The file's modification time, "seconds.nanoseconds" since the Unix epoch.
    modified: String,
    suite: u16,
    frame_length: u32,
    /// Hex.
    message_id: String,
    /// The 0x0578 signing key, sealed under the data key for this upload id, base64.
    signing_key: Option<String>,
    /// When the server sweeps the upload if it is still pending (Unix seconds).
    abandon_at: i64,
    /// Kept in the record's log of parts, not in its header.
    #[serde(skip)]
    parts: BTreeMap<u32, PartRecord>,
}

/// The folder of records.
struct Records {
    dir: PathBuf,
}

/// A server-given upload id is a file name here: a UUID's characters only.
fn safe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

impl Records {
    fn open() -> Result<Self> {
        let base = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .context("no HOME or XDG_STATE_HOME to keep upload records in")?;
        let dir = base.join("cipherdrop").join("uploads");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self { dir })
    }

    /// The record's two files: the header (`.json`, written whole) and the log of acknowledged
    /// parts (`.parts`, one JSON line appended per part, so a long upload's record costs O(1)
    /// per part).
    fn paths_of(&self, upload_id: &str) -> Result<(PathBuf, PathBuf)> {
        if !safe_id(upload_id) {
            return Err(anyhow!("the server named an upload {upload_id:?}"));
        }
        Ok((
            self.dir.join(format!("{upload_id}.json")),
            self.dir.join(format!("{upload_id}.parts")),
        ))
    }

    fn load(&self, header: &Path) -> Result<Record> {
        let mut r: Record = serde_json::from_slice(&std::fs::read(header)?)?;
        let (_, log) = self.paths_of(&r.upload_id)?;
        if let Ok(text) = std::fs::read_to_string(&log) {
            // A line cut short by a crash is the last one: what it would have said is that a
            // part was acknowledged, and without it the part is simply sent again.
            for line in text.lines() {
                if let Ok(l) = serde_json::from_str::<PartLine>(line) {
                    r.parts.insert(l.n, l.part);
                }
            }
        }
        Ok(r)
    }

    /// Every readable record for `server` (one that cannot be read is skipped, with a warning).
    fn all(&self, server: &str) -> Result<Vec<Record>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match self.load(&path) {
                Ok(r) if r.server == server => found.push(r),
                Ok(_) => {}
                Err(e) => eprintln!("skipping the upload record {}: {e}", path.display()),
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    fn find(&self, server: &str, path: &Path) -> Result<Option<Record>> {
        Ok(self.all(server)?.into_iter().find(|r| r.path == path))
    }

    /// Writes the record whole or not at all (temporary files renamed over it): the log first,
    /// so a header never names parts that are not in it.
    fn save(&self, r: &Record) -> Result<()> {
        let (header, log) = self.paths_of(&r.upload_id)?;
        let mut lines = Vec::new();
        for (&n, part) in &r.parts {
            serde_json::to_writer(
                &mut lines,
                &PartLine {
                    n,
                    part: part.clone(),
                },
            )?;
            lines.push(b'\n');
        }
        for (path, bytes) in [(log, lines), (header, serde_json::to_vec_pretty(r)?)] {
            let tmp = path.with_extension("tmp");
            write_private(&tmp, &bytes)?;
            std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }

    /// Appends one acknowledged part to the record's log.
    fn append(&self, upload_id: &str, n: u32, part: &PartRecord) -> Result<()> {
        use std::io::Write as _;
        let (_, log) = self.paths_of(upload_id)?;
        let mut line = serde_json::to_vec(&PartLine {
            n,
            part: part.clone(),
        })?;
        line.push(b'\n');
        let mut opts = std::fs::OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        opts.open(&log)
            .and_then(|mut f| f.write_all(&line))
            .with_context(|| format!("writing {}", log.display()))
    }

    fn remove(&self, upload_id: &str) {
        if let Ok((header, log)) = self.paths_of(upload_id) {
            let _ = std::fs::remove_file(header);
            let _ = std::fs::remove_file(log);
        }
    }
}

/// One line of a record's log of parts.
#[derive(Serialize, Deserialize)]
struct PartLine {
    n: u32,
    #[serde(flatten)]
    part: PartRecord,
}

/// The file's size and modification time, as the record compares them.
fn identity(meta: &std::fs::Metadata) -> Result<(u64, String)> {
    let modified = meta
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok((
        meta.len(),
        format!("{}.{:09}", modified.as_secs(), modified.subsec_nanos()),
    ))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

/// Progress on a terminal: bytes, MB/s and time left; nothing when piped.
struct Progress {
    name: String,
    total: u64,
    start: Instant,
    shown: bool,
}

impl Progress {
    fn new(name: &str, total: u64) -> Self {
        Self {
            name: name.to_owned(),
            total,
            start: Instant::now(),
            shown: std::io::stderr().is_terminal(),
        }
    }

    fn update(&self, done: u64) {
        if !self.shown {
            return;
        }
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let left = if rate > 0.0 {
            (self.total.saturating_sub(done)) as f64 / rate
        } else {
            0.0
        };
        eprint!(
            "\r{}: {:.1} of {:.1} MB, {:.1} MB/s, {:.0} s left   ",
            self.name,
            done as f64 / 1e6,
            self.total as f64 / 1e6,
            rate / 1e6,
            left
        );
    }

    fn done(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

/// The message's parts in order, encrypted from the start of the file. Each part is its own
/// buffer of exactly its length, so a part in flight holds no more memory than it sends.
struct PartSource<'a> {
    file: &'a mut File,
    enc: Option<Encryptor<AwsLcCipher>>,
    part_size: usize,
    buf: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    next: u32,
    read: u64,
}

impl<'a> PartSource<'a> {
    fn new(file: &'a mut File, enc: Encryptor<AwsLcCipher>, part_size: usize) -> Result<Self> {
        file.rewind()?;
        Ok(Self {
            file,
            enc: Some(enc),
            part_size,
            buf: vec![0u8; 1 << 20],
            out: Vec::with_capacity(2 << 20),
            pos: 0,
            next: 1,
            read: 0,
        })
    }

    /// The next part and its number; `None` after the last.
    fn next_part(&mut self) -> Result<Option<(u32, Vec<u8>)>> {
        let mut part = Vec::with_capacity(self.part_size);
        loop {
            let rest = self.out.get(self.pos..).unwrap_or_default();
            let take = rest.len().min(self.part_size - part.len());
            part.extend_from_slice(rest.get(..take).unwrap_or_default());
            self.pos += take;
            if part.len() == self.part_size {
                break;
            }
            self.out.clear();
            self.pos = 0;
            let Some(enc) = self.enc.as_mut() else {
                break;
            };
            let n = self.file.read(&mut self.buf)?;
            if n == 0 {
                if let Some(enc) = self.enc.take() {
                    enc.finish(&mut self.out)?;
                }
            } else {
                enc.push(self.buf.get(..n).unwrap_or_default(), &mut self.out)?;
                self.read += n as u64;
            }
        }
        if part.is_empty() {
            return Ok(None);
        }
        let n = self.next;
        self.next += 1;
        Ok(Some((n, part)))
    }
}

/// The URL of part `n` for its `len` bytes: from those handed out while they have a minute
/// left, else asked for (with the length, for the end of a 0x0578 message).
async fn part_url(remote: &Remote, upload: &mut Upload, n: u32, len: usize) -> Result<String> {
    let id = upload.record.upload_id.clone();
    if upload.urls_expire_at - 60 <= unix_now() {
        upload.urls.clear();
    }
    if let Some(u) = upload.urls.remove(&n) {
        return Ok(u);
    }
    let batch: UploadStatus = remote
        .call(
            reqwest::Method::GET,
            &format!("/api/uploads/{id}/parts?first={n}&count=64"),
            None::<&()>,
        )
        .await?;
    upload.urls_expire_at = batch.urls_expire_at;
    upload
        .urls
        .extend(batch.parts.into_iter().map(|p| (p.part_number, p.url)));
    if let Some(u) = upload.urls.remove(&n) {
        return Ok(u);
    }
    let sized: UploadStatus = remote
        .call(
            reqwest::Method::GET,
            &format!("/api/uploads/{id}/parts?first={n}&count=1&length={len}"),
            None::<&()>,
        )
        .await?;
    sized
        .parts
        .into_iter()
        .next()
        .map(|p| p.url)
        .ok_or_else(|| anyhow!("the server gave no URL for part {n}"))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// PUTs one part, retrying network failures and 5xx with backoff; its ETag. The body is shared
/// between attempts, not copied.
async fn put_part(
    http: reqwest::Client,
    url: String,
    n: u32,
    bytes: bytes::Bytes,
) -> Result<(u32, String)> {
    let mut last = String::new();
    for attempt in 0..5u32 {
        if attempt > 0 {
            let wait = std::time::Duration::from_millis(500 << attempt);
            eprintln!("part {n}: {last}; trying again in {} s", wait.as_secs_f32());
            tokio::time::sleep(wait).await;
        }
        match http.put(&url).body(bytes.clone()).send().await {
            Ok(r) if r.status().is_success() => {
                let etag = r
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("S3 accepted part {n} without an ETag"))?;
                return Ok((n, etag));
            }
            Ok(r) if r.status().is_server_error() => last = format!("S3 answered {}", r.status()),
            Ok(r) => {
                return Err(fail(
                    1,
                    format!(
                        "S3 refused part {n}: {} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    ),
                ));
            }
            Err(e) => last = chain(&e),
        }
    }
    Err(fail(
        EXIT_UNAVAILABLE,
        format!("part {n} could not be sent: {last} (gave up after 5 attempts)"),
    ))
}

/// An upload under way, fresh or resumed: everything sending it needs.
struct Upload {
    record: Record,
    key: DataKey,
    edk: EncryptedDataKey,
    context: EncryptionContext,
    signing: Option<SigningKey>,
    part_size: usize,
    urls: HashMap<u32, String>,
    /// When `urls` expire (Unix seconds).
    urls_expire_at: i64,
    /// Parts S3 holds that were checked against the file: not sent again.
    stored: BTreeSet<u32>,
}

impl Upload {
    fn suite(&self) -> Result<Suite> {
        Ok(Suite::from_id(cipherdrop_core::AlgorithmSuiteId(
            self.record.suite,
        ))?)
    }

    /// An encryptor that makes this upload's message from its first byte.
    fn encryptor(&self) -> Result<Encryptor<AwsLcCipher>> {
        let id: [u8; MESSAGE_ID_LEN] = hex::decode(&self.record.message_id)?
            .try_into()
            .map_err(|_| anyhow!("the record's message id has the wrong length"))?;
        let materials = EncryptionMaterials::new(
            self.suite()?,
            self.context.clone(),
            self.key.clone(),
            vec![self.edk.clone()],
            self.signing.clone(),
        )?;
        Ok(Encryptor::with_message_id(
            materials,
            self.record.frame_length,
            id,
        )?)
    }
}

/// `cipherdrop put [--resume] FILE…`: prints each new file's id. With `--resume` and no files,
/// continues every recorded upload to this server.
pub(super) fn put(files: &[PathBuf], opts: &PutOptions) -> Result<()> {
    let remote = Remote::logged_in()?;
    let records = Records::open()?;
    let files: Vec<PathBuf> = if files.is_empty() {
        let all = records.all(&remote.base)?;
        if all.is_empty() {
            eprintln!("no interrupted uploads to {} to resume", remote.base);
        }
        all.into_iter().map(|r| r.path).collect()
    } else {
        files.to_vec()
    };
    client_runtime()?.block_on(async {
        let mut current = String::new();
        let run = async {
            for f in &files {
                current = f.display().to_string();
                let id = put_one(&remote, &records, f, opts).await?;
                println!("{id}");
            }
            Ok::<_, anyhow::Error>(())
        };
        tokio::select! {
            r = run => r,
            _ = tokio::signal::ctrl_c() => Err(fail(
                EXIT_INTERRUPTED,
                format!(
                    "interrupted: the parts of {current} sent so far are kept; \
                     `cipherdrop put --resume {current}` continues the upload"
                ),
            )),
        }
    })
}

async fn put_one(
    remote: &Remote,
    records: &Records,
    path: &Path,
    opts: &PutOptions,
) -> Result<String> {
    let path =
        std::fs::canonicalize(path).with_context(|| format!("opening {}", path.display()))?;
    let mut file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(fail(1, format!("{} is not a regular file", path.display())));
    }
    let (size, modified) = identity(&meta)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    let mut upload = None;
    if let Some(rec) = records.find(&remote.base, &path)? {
        if opts.resume {
            upload = resume(remote, records, rec, &mut file, size, &modified).await?;
        } else {
            // A plain `put` starts over: the interrupted upload would only hold quota.
            let _: Result<serde_json::Value> = remote
                .call(
                    reqwest::Method::POST,
                    &format!("/api/uploads/{}/abort", rec.upload_id),
                    None::<&()>,
                )
                .await;
            records.remove(&rec.upload_id);
            eprintln!(
                "{}: an interrupted upload of this file was discarded (`put --resume` continues one)",
                path.display()
            );
        }
    }
    let mut upload = match upload {
        Some(u) => u,
        None => create(remote, records, &path, size, modified, opts).await?,
    };
    let upload_id = upload.record.upload_id.clone();
    match send(remote, records, &mut file, &mut upload, &name, opts).await {
        Ok(id) => {
            records.remove(&upload_id);
            Ok(id)
        }
        Err(e) => {
            let code = e.downcast_ref::<Failure>().map(|f| f.code);
            if code == Some(EXIT_UNAVAILABLE) {
                // Nothing is lost: the parts S3 acknowledged stay, and so does the record.
                return Err(e.context(format!(
                    "uploading {p} (the parts sent are kept; `cipherdrop put --resume {p}` \
                     continues)",
                    p = path.display()
                )));
            }
            // Nothing half-stored: the server aborts the multipart upload.
            let _: Result<serde_json::Value> = remote
                .call(
                    reqwest::Method::POST,
                    &format!("/api/uploads/{upload_id}/abort"),
                    None::<&()>,
                )
                .await;
            records.remove(&upload_id);
            Err(e.context(format!("uploading {}", path.display())))
        }
    }
}

/// Starts a new upload, and records it before any part is sent.
async fn create(
    remote: &Remote,
    records: &Records,
    path: &Path,
    size: u64,
    modified: String,
    opts: &PutOptions,
) -> Result<Upload> {
    let mut rng = rand::rng();
    let signing = opts
        .suite
        .is_signed()
        .then(|| SigningKey::generate(&mut rng));
    let mut created: CreateUploadResponse = remote
        .call(
            reqwest::Method::POST,
            "/api/uploads",
            Some(&CreateUploadRequest {
                plaintext_size: size,
                suite: opts.suite.id().0,
                frame_length: opts.frame_length,
                public_key: signing.as_ref().map(SigningKey::public_key_base64),
            }),
        )
        .await?;
    let key = decode_key(&mut created.data_key)?;
    let message_id: [u8; MESSAGE_ID_LEN] = rand::random();
    let record = Record {
        server: remote.base.clone(),
        upload_id: created.upload_id.clone(),
        path: path.to_owned(),
        size,
        modified,
        suite: opts.suite.id().0,
        frame_length: opts.frame_length,
        message_id: hex::encode(message_id),
        signing_key: signing
            .as_ref()
            .map(|s| B64.encode(seal_signing_key(s, &key, &created.upload_id, &mut rng))),
        abandon_at: created.abandon_at,
        parts: BTreeMap::new(),
    };
    records.save(&record)?;
    Ok(Upload {
        record,
        edk: EncryptedDataKey::aws_kms(&created.key_arn, B64.decode(&created.edk)?)?,
        context: created.encryption_context.clone().into_iter().collect(),
        key,
        signing,
        part_size: usize::try_from(created.part_size)?,
        urls: created
            .parts
            .iter()
            .map(|p| (p.part_number, p.url.clone()))
            .collect(),
        urls_expire_at: created.urls_expire_at,
        stored: BTreeSet::new(),
    })
}

/// Takes up a recorded upload: `None` when the server no longer has it pending (the record is
/// dropped, and the file starts over); an error when the file is not the one being sent.
async fn resume(
    remote: &Remote,
    records: &Records,
    mut record: Record,
    file: &mut File,
    size: u64,
    modified: &str,
) -> Result<Option<Upload>> {
    let id = record.upload_id.clone();
    let shown = record.path.display().to_string();
    let status: Result<UploadStatus> = remote
        .call(
            reqwest::Method::GET,
            &format!("/api/uploads/{id}"),
            None::<&()>,
        )
        .await;
    let status = match status {
        Ok(s) if s.state == cipherdrop_api::ObjectState::Pending => s,
        Ok(s) => {
            records.remove(&id);
            eprintln!(
                "{shown}: its interrupted upload is {}; starting over",
                s.state
            );
            return Ok(None);
        }
        Err(e)
            if e.downcast_ref::<Failure>()
                .is_some_and(|f| f.code != EXIT_UNAVAILABLE) =>
        {
            records.remove(&id);
            eprintln!(
                "{shown}: its interrupted upload is gone from the server ({e}); starting over"
            );
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if size != record.size || modified != record.modified {
        return Err(fail(
            1,
            format!(
                "{shown} changed since its upload was interrupted (its size or modification \
                 time differ); nothing was sent. `cipherdrop put {shown}` without --resume \
                 starts over"
            ),
        ));
    }
    if (status.suite, status.frame_length, status.plaintext_size)
        != (record.suite, record.frame_length, record.size)
    {
        return Err(anyhow!(
            "the server's upload {id} is not the one recorded for {shown} (suite, frame length \
             or size differ)"
        ));
    }
    let mut released: PendingKeyResponse = remote
        .call(
            reqwest::Method::POST,
            &format!("/api/uploads/{id}/key"),
            None::<&()>,
        )
        .await?;
    let key = decode_key(&mut released.data_key)?;
    let context: EncryptionContext = released.encryption_context.clone().into_iter().collect();
    let signing = match &record.signing_key {
        Some(sealed) => {
            let k = open_signing_key(&B64.decode(sealed)?, &key, &id)
                .map_err(|e| anyhow!("the record's signing key does not open: {e}"))?;
            if released.encryption_context.get(PUBLIC_KEY_FIELD) != Some(&k.public_key_base64()) {
                return Err(anyhow!(
                    "the record's signing key is not the one this upload's context names"
                ));
            }
            Some(k)
        }
        None => None,
    };
    // What S3 holds and the record vouches for (the same size, and the same ETag where S3
    // reports one) is checked against the file below; anything else is sent again.
    let held: BTreeSet<u32> = status
        .stored
        .iter()
        .filter(|p| {
            record
                .parts
                .get(&p.part_number)
                .is_some_and(|r| r.size == p.size && p.etag.as_ref().is_none_or(|e| *e == r.etag))
        })
        .map(|p| p.part_number)
        .collect();
    record.parts.retain(|n, _| held.contains(n));
    let upload = Upload {
        record,
        key,
        edk: EncryptedDataKey::aws_kms(&released.key_arn, B64.decode(&released.edk)?)?,
        context,
        signing,
        part_size: usize::try_from(status.part_size)?,
        urls: HashMap::new(),
        urls_expire_at: 0,
        stored: held,
    };
    // The same file? Every part already sent is made again here and compared, before anything
    // is sent.
    if let Some(&last) = upload.stored.last() {
        let mut parts = PartSource::new(file, upload.encryptor()?, upload.part_size)?;
        while let Some((n, bytes)) = parts.next_part()? {
            if let Some(r) = upload.record.parts.get(&n)
                && sha256_hex(&bytes) != r.sha256
            {
                return Err(fail(
                    1,
                    format!(
                        "{shown} is not the file whose upload was interrupted (part {n} differs \
                         from what was sent); nothing was sent. `cipherdrop put {shown}` without \
                         --resume starts over"
                    ),
                ));
            }
            if n >= last {
                break;
            }
        }
    }
    records.save(&upload.record)?;
    eprintln!(
        "{shown}: resuming, {} of {} parts already stored",
        upload.stored.len(),
        status.part_count
    );
    Ok(Some(upload))
}

/// Sends what S3 lacks, then completes the upload with the file's sealed name; the object id.
async fn send(
    remote: &Remote,
    records: &Records,
    file: &mut File,
    upload: &mut Upload,
    name: &str,
    opts: &PutOptions,
) -> Result<String> {
    let upload_id = upload.record.upload_id.clone();
    let size = upload.record.size;
    let progress = Progress::new(name, size);
    let mut in_flight = FuturesUnordered::new();
    let mut hashes: HashMap<u32, (u64, String)> = HashMap::new();
    let enc = upload.encryptor()?;
    let mut parts = PartSource::new(file, enc, upload.part_size)?;
    while let Some((n, bytes)) = parts.next_part()? {
        if upload.stored.contains(&n) {
            progress.update(parts.read);
            continue;
        }
        let url = part_url(remote, upload, n, bytes.len()).await?;
        while in_flight.len() >= opts.parallel.max(1) {
            if let Some(done) = in_flight.next().await {
                acknowledged(records, upload, &mut hashes, done)?;
            }
        }
        hashes.insert(n, (bytes.len() as u64, sha256_hex(&bytes)));
        in_flight.push(put_part(
            remote.http.clone(),
            url,
            n,
            bytes::Bytes::from(bytes),
        ));
        progress.update(parts.read);
    }
    if parts.read != size {
        return Err(fail(
            1,
            format!(
                "the file changed while it was read ({} bytes instead of {size})",
                parts.read
            ),
        ));
    }
    drop(parts);
    while let Some(done) = in_flight.next().await {
        acknowledged(records, upload, &mut hashes, done)?;
    }
    progress.done();
    let done_parts: Vec<CompletedPart> = upload
        .record
        .parts
        .iter()
        .map(|(&part_number, r)| CompletedPart {
            part_number,
            etag: r.etag.clone(),
        })
        .collect();
    let meta = FileMeta {
        name: name.to_owned(),
        media_type: String::new(),
        sender: None,
    };
    let sealed = remote
        .seal_for_owner(&meta, &upload_id, &upload.key)
        .await?;
    let done: ObjectSummary = remote
        .call(
            reqwest::Method::POST,
            &format!("/api/uploads/{upload_id}/complete"),
            Some(&CompleteUploadRequest {
                parts: done_parts,
                metadata: sealed,
            }),
        )
        .await?;
    Ok(done.id)
}

/// Records a part S3 acknowledged (the record is on disk before the next part is sent).
fn acknowledged(
    records: &Records,
    upload: &mut Upload,
    hashes: &mut HashMap<u32, (u64, String)>,
    done: Result<(u32, String)>,
) -> Result<()> {
    let (n, etag) = done?;
    let (size, sha256) = hashes
        .remove(&n)
        .ok_or_else(|| anyhow!("part {n} was acknowledged twice"))?;
    let part = PartRecord { etag, size, sha256 };
    records.append(&upload.record.upload_id, n, &part)?;
    upload.record.parts.insert(n, part);
    Ok(())
}
