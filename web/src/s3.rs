//! S3 through presigned URLs: the upload's part PUTs (in parallel, retried with backoff, an
//! expired URL replaced, cancel aborting what is in flight) and the GET of a stored object.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;

use cipherdrop_api::{CompletedPart, CreateUploadResponse};
use futures::StreamExt as _;
use futures::future::LocalBoxFuture;
use futures::stream::FuturesUnordered;
use gloo_net::http::Request;
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use web_sys::{AbortController, AbortSignal, ReadableStreamDefaultReader};

use crate::api::{self, ApiError};
use crate::browser::{is_online, js_error_message, now_ms, online_or_timeout, sleep};
use crate::error::{Cancel, TransferError};
use crate::parts::{BufferPool, Part, PartSink, blob_body};
use crate::stream::{Reader, Source};
use crate::upload::{Progress, Report, Via};

/// Attempts per part before giving up.
const ATTEMPTS: u32 = 6;
/// Presigned URLs asked for at a time.
const URL_BATCH: u32 = 64;
/// A URL expiring sooner than this (seconds) is replaced before use.
const URL_MARGIN_SECS: i64 = 60;

/// A part S3 already holds (a resumed upload).
#[derive(Clone, Debug)]
pub(crate) struct Held {
    /// Its ETag.
    pub(crate) etag: String,
    /// SHA-256 (hex) of the ciphertext it must have, where the part is checked as it passes
    /// (else it was checked before).
    pub(crate) sha256: Option<String>,
}

/// A part S3 stored: what completing the upload needs, and its buffer to recycle.
struct Stored {
    completed: CompletedPart,
    buffer: Uint8Array,
}

/// Ciphertext parts to S3 through presigned URLs: `parallel` at once, each retried with backoff.
pub(crate) struct S3Parts {
    upload_id: String,
    urls: Rc<RefCell<HashMap<u32, String>>>,
    urls_expire_at: i64,
    part_count: u32,
    parallel: usize,
    in_flight: FuturesUnordered<LocalBoxFuture<'static, Result<Stored, TransferError>>>,
    done: Vec<CompletedPart>,
    abort: Option<AbortController>,
    progress: Rc<RefCell<Progress>>,
    report: Report,
    cancel: Cancel,
    pool: BufferPool,
    /// Parts S3 already holds (a resumed upload): not sent again.
    held: HashMap<u32, Held>,
    /// The file's name, for a held part that is not what this file makes.
    file_name: String,
    /// Whether each acknowledged part goes into the upload's record (`resume`).
    recorded: bool,
    /// Whose upload it is (which endpoints give more part URLs).
    via: Via,
}

impl S3Parts {
    pub(crate) fn new(
        created: &CreateUploadResponse,
        parallel: usize,
        progress: Rc<RefCell<Progress>>,
        report: Report,
        cancel: Cancel,
    ) -> Self {
        let urls = created
            .parts
            .iter()
            .map(|p| (p.part_number, p.url.clone()))
            .collect();
        Self {
            upload_id: created.upload_id.clone(),
            urls: Rc::new(RefCell::new(urls)),
            urls_expire_at: created.urls_expire_at,
            part_count: created.part_count,
            parallel: parallel.max(1),
            in_flight: FuturesUnordered::new(),
            done: Vec::new(),
            abort: AbortController::new().ok(),
            progress,
            report,
            cancel,
            pool: BufferPool::default(),
            held: HashMap::new(),
            file_name: String::new(),
            recorded: false,
            via: Via::Account,
        }
    }

    /// Asks for part URLs as `via` (an account's upload, or a sender's).
    pub(crate) fn via(mut self, via: Via) -> Self {
        self.via = via;
        self
    }

    /// Records each acknowledged part in the upload's record, for a later resume.
    pub(crate) fn recording(mut self, recorded: bool) -> Self {
        self.recorded = recorded;
        self
    }

    /// Parts S3 already holds, which are not sent again, of the file called `file_name`.
    pub(crate) fn holding(mut self, held: HashMap<u32, Held>, file_name: &str) -> Self {
        self.held = held;
        self.file_name = file_name.to_owned();
        self
    }

    /// Stops every request in flight.
    pub(crate) fn stop(&mut self) {
        if let Some(a) = &self.abort {
            a.abort();
        }
    }

    fn record(&mut self, result: Result<Stored, TransferError>) -> Result<(), TransferError> {
        match result {
            Ok(Stored { completed, buffer }) => {
                self.done.push(completed);
                self.progress.borrow_mut().uploaded += u64::from(buffer.length());
                self.pool.recycle(&buffer);
                (self.report)(*self.progress.borrow());
                Ok(())
            }
            Err(e) => {
                self.stop();
                Err(e)
            }
        }
    }

    /// Part `n`'s URL, which signs its length `len`: from the batch, or, for a part whose length
    /// only the message decides (the end of a 0x0578 message), asked for with its length.
    async fn url_for(&mut self, n: u32, len: u32) -> Result<String, TransferError> {
        let now = (js_sys::Date::now() / 1000.0) as i64;
        let fresh = self.urls_expire_at - now > URL_MARGIN_SECS;
        if let Some(url) = self.urls.borrow().get(&n).filter(|_| fresh) {
            return Ok(url.clone());
        }
        // (The server unreachable here is an interruption to resume from, not a refusal.)
        let mut status = self
            .via
            .part_urls(&self.upload_id, n, URL_BATCH, None)
            .await?;
        if !status.parts.iter().any(|p| p.part_number == n) {
            status = self.via.part_urls(&self.upload_id, n, 1, Some(len)).await?;
        }
        self.urls_expire_at = status.urls_expire_at;
        let mut urls = self.urls.borrow_mut();
        urls.extend(status.parts.into_iter().map(|p| (p.part_number, p.url)));
        urls.get(&n)
            .cloned()
            .ok_or_else(|| TransferError::Sink(format!("the server has no URL for part {n}")))
    }

    /// Waits for the parts in flight; every part's number and ETag, in order.
    pub(crate) async fn finish(mut self) -> Result<Vec<CompletedPart>, TransferError> {
        while let Some(r) = self.in_flight.next().await {
            self.record(r)?;
        }
        let mut parts = self.done;
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }
}

impl PartSink for S3Parts {
    fn pool(&self) -> BufferPool {
        self.pool.clone()
    }

    async fn put(&mut self, part: Part) -> Result<(), TransferError> {
        let number = part.number;
        if number > self.part_count {
            return Err(TransferError::Format(format!(
                "part {number} of {}: more ciphertext than announced",
                self.part_count
            )));
        }
        if let Some(held) = self.held.get(&number) {
            // S3 has it; checked against the file before this pass, or here.
            let etag = held.etag.clone();
            if let Some(expected) = &held.sha256 {
                crate::upload::check_part(&part, expected, &self.file_name).await?;
            }
            return self.record(Ok(Stored {
                completed: CompletedPart {
                    part_number: number,
                    etag,
                },
                buffer: part.bytes,
            }));
        }
        while self.in_flight.len() >= self.parallel {
            if let Some(r) = self.in_flight.next().await {
                self.record(r)?;
            }
        }
        if self.cancel.is_cancelled() {
            self.stop();
            return Err(TransferError::Cancelled);
        }
        let url = self.url_for(number, part.bytes.length()).await?;
        let digest = if self.recorded {
            Some(
                crate::resume::sha256(&part.bytes)
                    .await
                    .map_err(TransferError::Crypto)?,
            )
        } else {
            None
        };
        let signal = self.abort.as_ref().map(AbortController::signal);
        let upload_id = self.upload_id.clone();
        let cancel = self.cancel.clone();
        let watch = Watch {
            progress: self.progress.clone(),
            report: self.report.clone(),
        };
        self.in_flight.push(Box::pin(async move {
            let size = u64::from(part.bytes.length());
            let stored = put_part(&upload_id, part, url, signal, cancel, &watch).await?;
            if let Some(sha256) = digest {
                let sent = crate::resume::SentPart {
                    etag: stored.completed.etag.clone(),
                    size,
                    sha256,
                };
                // Without the entry the part is only sent again on resume.
                let _ = crate::resume::save_part(&upload_id, number, &sent).await;
            }
            Ok(stored)
        }));
        Ok(())
    }
}

/// Waits before attempt `attempt` (from 1): 0.5 s, 1 s, 2 s, 4 s, 8 s, with jitter, in short
/// steps so that a cancel takes effect at once.
async fn back_off(attempt: u32, cancel: &Cancel) -> Result<(), TransferError> {
    let base = 500.0 * f64::from(1u32 << (attempt - 1));
    let until = now_ms() + base * (0.75 + 0.5 * js_sys::Math::random());
    while now_ms() < until {
        if cancel.is_cancelled() {
            return Err(TransferError::Cancelled);
        }
        sleep(100.0).await;
    }
    Ok(())
}

/// Where a part's PUT says that the browser went offline and came back.
struct Watch {
    progress: Rc<RefCell<Progress>>,
    report: Report,
}

impl Watch {
    /// Waits while the browser is offline, however long that takes, showing it: an upload
    /// pauses rather than spending its attempts, and goes on by itself when the network is back
    /// (part URLs are renewed as they expire; the server keeps what was sent until the upload's
    /// `abandon_at`).
    async fn while_offline(&self, cancel: &Cancel) -> Result<(), TransferError> {
        if is_online() {
            return Ok(());
        }
        self.set(true);
        while !is_online() {
            if cancel.is_cancelled() {
                self.set(false);
                return Err(TransferError::Cancelled);
            }
            online_or_timeout(1000.0).await;
        }
        self.set(false);
        Ok(())
    }

    fn set(&self, offline: bool) {
        if self.progress.borrow().offline != offline {
            self.progress.borrow_mut().offline = offline;
            (self.report)(*self.progress.borrow());
        }
    }
}

/// PUTs one part, retrying network failures, 5xx and 429 with exponential backoff, and an
/// expired URL (403) with a fresh one. While the browser is offline it waits, spending no
/// attempt.
async fn put_part(
    upload_id: &str,
    part: Part,
    mut url: String,
    signal: Option<AbortSignal>,
    cancel: Cancel,
    watch: &Watch,
) -> Result<Stored, TransferError> {
    let number = part.number;
    let mut last = String::new();
    let mut refreshed = false;
    let mut attempt = 0;
    while attempt < ATTEMPTS {
        if cancel.is_cancelled() {
            return Err(TransferError::Cancelled);
        }
        watch.while_offline(&cancel).await?;
        if attempt > 0 {
            back_off(attempt, &cancel).await?;
        }
        attempt += 1;
        let body = blob_body(&part.bytes)?;
        let request = Request::put(&url).abort_signal(signal.as_ref()).body(body);
        let response = match request {
            Ok(r) => r.send().await,
            Err(e) => return Err(TransferError::Sink(e.to_string())),
        };
        match response {
            Ok(resp) if resp.ok() => {
                let etag = resp.headers().get("etag").unwrap_or_default();
                if etag.is_empty() {
                    return Err(TransferError::Sink(
                        "S3 accepted a part but sent no ETag (is ETag exposed by the bucket's CORS rule?)"
                            .into(),
                    ));
                }
                return Ok(Stored {
                    completed: CompletedPart {
                        part_number: number,
                        etag,
                    },
                    buffer: part.bytes,
                });
            }
            Ok(resp) => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                let code = s3_error_code(&body);
                last = format!("S3 refused part {number}: {status} {code}");
                if status == 403 && !refreshed {
                    // A URL can expire while a slow upload waits: ask the server for a new one.
                    refreshed = true;
                    if let Some(p) = api::part_url_sized(upload_id, number, part.bytes.length())
                        .await
                        .ok()
                        .and_then(|s| s.parts.into_iter().next())
                    {
                        url = p.url;
                        continue;
                    }
                }
                if !(status >= 500 || status == 429) {
                    return Err(TransferError::Sink(last));
                }
            }
            Err(e) => {
                if cancel.is_cancelled() {
                    return Err(TransferError::Cancelled);
                }
                last = format!("the connection to S3 failed for part {number}: {e}");
                if !is_online() {
                    // The network went away: wait for it (above) instead of counting this.
                    attempt -= 1;
                }
            }
        }
    }
    Err(TransferError::GaveUp(format!(
        "{last} (gave up after {ATTEMPTS} attempts)."
    )))
}

/// The `<Code>` of an S3 XML error body, if any.
fn s3_error_code(body: &str) -> String {
    body.split("<Code>")
        .nth(1)
        .and_then(|s| s.split("</Code>").next())
        .unwrap_or_default()
        .to_owned()
}

/// Starts a GET of the object at presigned `url` (or of bytes `range` of it) and returns the
/// body's reader.
pub(crate) async fn get(
    url: &str,
    range: Option<Range<u64>>,
) -> Result<ReadableStreamDefaultReader, TransferError> {
    let mut request = Request::get(url);
    // (A range from byte 0 answered whole is the same bytes, only more of them.)
    let range_asked = range.as_ref().is_some_and(|r| r.start > 0);
    if let Some(range) = range {
        let last = range.end - 1;
        request = request.header("Range", &format!("bytes={}-{last}", range.start));
    }
    let resp = request
        .send()
        .await
        .map_err(|e| ApiError::Network(format!("S3: {e}")))?;
    if !resp.ok() {
        return Err(TransferError::Sink(format!(
            "S3 refused the download: {} {}",
            resp.status(),
            resp.status_text()
        )));
    }
    // A store that ignored `Range` would send the object from its first byte again.
    if range_asked && resp.status() != 206 {
        return Err(TransferError::Sink(format!(
            "S3 answered a range request with {} instead of 206 (partial content)",
            resp.status()
        )));
    }
    let body = resp
        .body()
        .ok_or_else(|| TransferError::Read("the download has no body".into()))?;
    body.get_reader()
        .dyn_into::<ReadableStreamDefaultReader>()
        .map_err(|e| TransferError::Read(js_error_message(&e)))
}

/// Bytes `range` of the object at presigned `url`, in wasm memory.
pub(crate) async fn get_range(url: &str, range: Range<u64>) -> Result<Vec<u8>, TransferError> {
    let mut reader = Reader::chunks(Source::Stream(get(url, Some(range)).await?))?;
    let mut out = Vec::new();
    while let Some(chunk) = reader.next_chunk().await? {
        out.extend_from_slice(&chunk.to_vec());
    }
    Ok(out)
}
