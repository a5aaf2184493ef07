//! Sending an upload's parts: the message made again from the file's first byte and cut into
//! the parts the server announced, the parts S3 lacks PUT through presigned URLs several at once,
//! then the upload completed. The URL cache, what to do after a failed attempt and how long to
//! wait are `cipherdrop_api::transfer`'s, the policy the page follows too; the part layout is
//! core's `PartLayout`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{IsTerminal as _, Read as _, Seek as _};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use cipherdrop_api::transfer::{self, CallAttempts, PART_ATTEMPTS, PartAttempts, Step, UrlCache};
use cipherdrop_api::{
    CompleteUploadRequest, CompletedPart, ObjectState, ObjectSummary, UploadStatus,
};
use cipherdrop_core::Encryptor;
use cipherdrop_core::metadata::FileMeta;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;

use super::record::{PartRecord, Records, sha256_hex};
use super::{PutOptions, Upload};
use crate::client::remote::Remote;
use crate::crypt::cipher::AwsLcCipher;
use crate::exit::{EXIT_UNAVAILABLE, Failure, chain, fail, met_of};

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
pub(super) struct PartSource<'a> {
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
    pub(super) fn new(
        file: &'a mut File,
        enc: Encryptor<AwsLcCipher>,
        part_size: usize,
    ) -> Result<Self> {
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
    pub(super) fn next_part(&mut self) -> Result<Option<(u32, Vec<u8>)>> {
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

/// The current Unix time in seconds (what `urls_expire_at` is in).
pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A jitter in `0.0..1.0` for the policy's backoff.
fn jitter() -> f64 {
    rand::random::<f64>()
}

/// The URL of part `n`, which has `len` bytes: one handed out earlier while it has time left,
/// else a new batch from `n` on; a part whose length only the message decides (the end of a
/// 0x0578 message) asked for with its length.
async fn part_url(remote: &Remote, upload: &mut Upload, n: u32, len: usize) -> Result<String> {
    if let Some(url) = upload.urls.take(n, unix_now()) {
        return Ok(url);
    }
    if upload.layout.certain_len(n).is_some() {
        let (first, count) = UrlCache::batch_for(n, upload.layout.count());
        let batch: UploadStatus = remote
            .call(
                reqwest::Method::GET,
                &format!(
                    "/api/uploads/{}/parts?first={first}&count={count}",
                    upload.record.upload_id
                ),
                None::<&()>,
            )
            .await?;
        upload
            .urls
            .insert(batch.parts, batch.urls_expire_at, unix_now());
        if let Some(url) = upload.urls.take(n, unix_now()) {
            return Ok(url);
        }
    }
    sized_url(remote, &upload.record.upload_id, n, len).await
}

/// A fresh URL of part `n` that signs its length `len`.
async fn sized_url(remote: &Remote, upload_id: &str, n: u32, len: usize) -> Result<String> {
    let sized: UploadStatus = remote
        .call(
            reqwest::Method::GET,
            &format!("/api/uploads/{upload_id}/parts?first={n}&count=1&length={len}"),
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

/// PUTs part `n` until S3 stores it; its ETag. What a failed attempt leads to is the shared
/// policy's: no answer, 5xx and 429 tried again after a growing wait, a 403 (a URL that expired
/// while the part waited) answered by a fresh URL once, any other refusal final. The body is
/// shared between attempts, not copied.
async fn put_part(
    remote: &Remote,
    upload_id: &str,
    mut url: String,
    n: u32,
    bytes: bytes::Bytes,
) -> Result<(u32, String)> {
    let mut attempts = PartAttempts::new();
    loop {
        let (met, last, refusal) = match remote.http.put(&url).body(bytes.clone()).send().await {
            Ok(r) if r.status().is_success() => {
                let etag = r
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("S3 accepted part {n} without an ETag"))?;
                return Ok((n, etag));
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                (
                    transfer::Failure::Status(status.as_u16()),
                    format!("S3 answered {status}"),
                    format!("S3 refused part {n}: {status} {text}"),
                )
            }
            Err(e) => {
                let last = chain(&e);
                (transfer::Failure::Network, last.clone(), last)
            }
        };
        match attempts.failed(met, jitter()) {
            Step::Retry { after_ms } => {
                let wait = Duration::from_millis(after_ms);
                eprintln!(
                    "part {n}: {last}; trying again in {:.1} s",
                    wait.as_secs_f32()
                );
                tokio::time::sleep(wait).await;
            }
            Step::Renew => {
                eprintln!("part {n}: {last}; asking for a fresh URL");
                url = sized_url(remote, upload_id, n, bytes.len()).await?;
            }
            Step::GiveUp => {
                return Err(Failure {
                    code: EXIT_UNAVAILABLE,
                    message: format!(
                        "part {n} could not be sent: {last} (gave up after {PART_ATTEMPTS} \
                         attempts)"
                    ),
                    met: Some(met),
                }
                .into());
            }
            Step::Fail => {
                return Err(Failure {
                    code: 1,
                    message: refusal,
                    met: Some(met),
                }
                .into());
            }
        }
    }
}

/// Sends what S3 lacks, then completes the upload with the file's sealed name; the object id.
pub(super) async fn send(
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
    let part_size = usize::try_from(upload.layout.part_size())?;
    let mut parts = PartSource::new(file, enc, part_size)?;
    while let Some((n, bytes)) = parts.next_part()? {
        if !upload.layout.possible_len(n, bytes.len() as u64) {
            return Err(anyhow!(
                "part {n} of {} cannot have {} bytes: not the message the upload announced",
                upload.layout.count(),
                bytes.len()
            ));
        }
        if upload.stored.contains(&n) {
            progress.update(parts.read);
            continue;
        }
        while in_flight.len() >= opts.parallel.max(1) {
            if let Some(done) = in_flight.next().await {
                acknowledged(records, upload, &mut hashes, done)?;
            }
        }
        // Asked for once a part may go, so that it is as fresh as can be.
        let url = part_url(remote, upload, n, bytes.len()).await?;
        hashes.insert(n, (bytes.len() as u64, sha256_hex(&bytes)));
        in_flight.push(put_part(
            remote,
            &upload_id,
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
    let req = CompleteUploadRequest {
        parts: done_parts,
        metadata: sealed,
    };
    complete(remote, &upload_id, &req).await
}

/// Completes the upload, trying again while the server cannot be reached (a restart, a lost
/// connection), as the shared policy says; when an earlier attempt got through and only its
/// answer was lost, the upload is complete already, and that is the answer. The object id.
async fn complete(remote: &Remote, upload_id: &str, req: &CompleteUploadRequest) -> Result<String> {
    let mut attempts = CallAttempts::new();
    loop {
        let e = match remote
            .call::<ObjectSummary>(
                reqwest::Method::POST,
                &format!("/api/uploads/{upload_id}/complete"),
                Some(req),
            )
            .await
        {
            Ok(done) => return Ok(done.id),
            Err(e) => e,
        };
        let Some(met) = met_of(&e) else {
            return Err(e);
        };
        if attempts.retried() && met == transfer::Failure::Status(409) {
            let status: UploadStatus = remote
                .call(
                    reqwest::Method::GET,
                    &format!("/api/uploads/{upload_id}"),
                    None::<&()>,
                )
                .await?;
            return match status.state {
                ObjectState::Complete => Ok(status.object_id),
                _ => Err(e),
            };
        }
        match attempts.failed(met, jitter()) {
            Step::Retry { after_ms } => {
                let wait = Duration::from_millis(after_ms);
                eprintln!(
                    "completing the upload: {e}; trying again in {:.1} s",
                    wait.as_secs_f32()
                );
                tokio::time::sleep(wait).await;
            }
            Step::Renew | Step::GiveUp | Step::Fail => return Err(e),
        }
    }
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
