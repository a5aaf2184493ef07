//! Encrypt-and-upload of one file: data key from the server, ESDK message built in the tab,
//! ciphertext parts PUT straight to S3 through presigned URLs, in parallel, with retries.
//!
//! Any failure after the server opened the upload aborts it (best effort; the server's sweeper
//! aborts what is left), so a file is recorded only when every part arrived and the server
//! checked the stored header.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{CompleteUploadRequest, CompletedPart, CreateUploadRequest, ObjectSummary};
use cipherdrop_core::{
    DataKey, EncryptedDataKey, EncryptionContext, EncryptionMaterials, FrameEncoder, SigningKey,
    Suite,
};
use futures::StreamExt as _;
use futures::future::LocalBoxFuture;
use futures::stream::FuturesUnordered;
use gloo_net::http::Request;
use js_sys::Uint8Array;
use web_sys::{AbortController, Blob, File};
use zeroize::Zeroizing;

use crate::api::{self, ApiError};
use crate::browser::sleep;
use crate::crypt::{BufferPool, Cancel, CryptError, PartSink, encrypt_blob};
use crate::metadata::{self, FileMeta};

/// Default plaintext bytes per ESDK frame: large frames keep WebCrypto calls few.
pub const DEFAULT_FRAME_LENGTH: u32 = 1024 * 1024;
/// Default number of parts uploaded at once.
pub const DEFAULT_PARALLEL: usize = 4;
/// Attempts per part before giving up.
const ATTEMPTS: u32 = 6;
/// Presigned URLs asked for at a time.
const URL_BATCH: u32 = 64;

/// How to upload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UploadOptions {
    /// 0x0478 (default) or 0x0578 (signed).
    pub suite: Suite,
    /// Plaintext bytes per frame.
    pub frame_length: u32,
    /// Parts in flight at once.
    pub parallel: usize,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            suite: Suite::CommitKey,
            frame_length: DEFAULT_FRAME_LENGTH,
            parallel: DEFAULT_PARALLEL,
        }
    }
}

/// Progress of one upload.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    /// Plaintext bytes encrypted.
    pub encrypted: u64,
    /// Ciphertext bytes stored in S3 (whole parts).
    pub uploaded: u64,
    /// Ciphertext bytes in all.
    pub total: u64,
}

/// What the page can show about an upload afterwards ("what the server and S3 see").
#[derive(Clone, Debug, PartialEq)]
pub struct UploadRecord {
    /// The stored file as the server records it.
    pub object: ObjectSummary,
    /// The name and type (known only here).
    pub meta: FileMeta,
    /// KMS key used for GenerateDataKey.
    pub key_arn: String,
    /// The encryption context sent to KMS (and written in the header).
    pub encryption_context: BTreeMap<String, String>,
    /// The encrypted data key KMS returned, as stored in the header.
    pub edk: Vec<u8>,
    /// The message header as uploaded.
    pub header: Vec<u8>,
    /// The first plaintext bytes (kept only in this tab, for the side-by-side view).
    pub plaintext_head: Vec<u8>,
    /// Part size and count the server chose.
    pub part_size: u64,
    /// Parts uploaded.
    pub part_count: u32,
    /// Seconds from start to completion.
    pub seconds: f64,
}

/// Why an upload failed.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadError {
    /// The server said no or could not be reached.
    Api(ApiError),
    /// Encryption or the upload of parts failed.
    Crypt(CryptError),
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Api(e) => e.fmt(f),
            Self::Crypt(e) => e.fmt(f),
        }
    }
}

impl From<ApiError> for UploadError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<CryptError> for UploadError {
    fn from(e: CryptError) -> Self {
        Self::Crypt(e)
    }
}

/// Receives progress reports.
pub type Report = Rc<dyn Fn(Progress)>;

/// Encrypts `file` and uploads it; `report` is called as bytes are encrypted and stored.
pub async fn upload_file(
    file: &File,
    options: UploadOptions,
    report: Report,
    cancel: Cancel,
) -> Result<UploadRecord, UploadError> {
    let meta = FileMeta {
        name: file.name(),
        media_type: file.type_(),
    };
    upload_blob(file, meta, options, report, cancel).await
}

/// Encrypts `data` and uploads it as a file described by `meta`.
pub async fn upload_blob(
    file: &Blob,
    meta: FileMeta,
    options: UploadOptions,
    report: Report,
    cancel: Cancel,
) -> Result<UploadRecord, UploadError> {
    let started = crate::browser::now_ms();
    let size = file.size() as u64;
    let mut rng = rand::rng();
    let signing = options
        .suite
        .is_signed()
        .then(|| SigningKey::generate(&mut rng));
    let request = CreateUploadRequest {
        plaintext_size: size,
        suite: options.suite.id().0,
        frame_length: options.frame_length,
        public_key: signing.as_ref().map(SigningKey::public_key_base64),
    };
    let (created, data_key_b64) = api::create_upload(&request).await?;
    let result = encrypt_and_send(
        file,
        options,
        &created,
        data_key_b64,
        signing,
        &meta,
        report,
        &cancel,
    )
    .await;
    match result {
        Ok((object, header, edk, plaintext_head)) => Ok(UploadRecord {
            object,
            meta,
            key_arn: created.key_arn.clone(),
            encryption_context: created.encryption_context.clone(),
            edk,
            header,
            plaintext_head,
            part_size: created.part_size,
            part_count: created.part_count,
            seconds: (crate::browser::now_ms() - started) / 1000.0,
        }),
        Err(e) => {
            // Leave nothing half-recorded: the server aborts the multipart upload.
            let _ = api::abort(&created.upload_id).await;
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn encrypt_and_send(
    file: &Blob,
    options: UploadOptions,
    created: &cipherdrop_api::CreateUploadResponse,
    data_key_b64: Zeroizing<String>,
    signing: Option<SigningKey>,
    meta: &FileMeta,
    report: Report,
    cancel: &Cancel,
) -> Result<(ObjectSummary, Vec<u8>, Vec<u8>, Vec<u8>), UploadError> {
    let bad = |what: &str| UploadError::Api(ApiError::Decode(what.to_owned()));
    let raw_key = Zeroizing::new(
        B64.decode(data_key_b64.as_bytes())
            .map_err(|_| bad("data key"))?,
    );
    let key_bytes: &[u8; 32] = raw_key
        .as_slice()
        .try_into()
        .map_err(|_| bad("data key length"))?;
    let metadata = metadata::seal(meta, key_bytes, &created.object_id);
    let data_key = DataKey::from_bytes(key_bytes).map_err(|_| bad("data key"))?;
    drop(raw_key);
    drop(data_key_b64);
    let edk_blob = B64
        .decode(&created.edk)
        .map_err(|_| bad("encrypted data key"))?;
    let edk = EncryptedDataKey::aws_kms(&created.key_arn, edk_blob.clone())
        .map_err(|e| bad(&e.to_string()))?;
    let context: EncryptionContext = created
        .encryption_context
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let materials = EncryptionMaterials::new(options.suite, context, data_key, vec![edk], signing)
        .map_err(|e| bad(&e.to_string()))?;
    // The plaintext data key is dropped (zeroized) inside, right after key derivation.
    let encoder = FrameEncoder::new(materials, options.frame_length, &mut rand::rng())
        .map_err(|e| bad(&e.to_string()))?;
    let header = encoder.header().to_vec();
    let head_len = (file.size() as u64).min(64);
    let plaintext_head = crate::crypt::read_bytes(file, 0, head_len).await?;

    let progress = Rc::new(RefCell::new(Progress {
        total: created.ciphertext_size,
        ..Progress::default()
    }));
    let mut sink = S3Parts::new(
        created,
        options.parallel,
        progress.clone(),
        report.clone(),
        cancel.clone(),
    );
    let encrypted = {
        let progress = progress.clone();
        let report = report.clone();
        move |n: u64| {
            progress.borrow_mut().encrypted = n;
            report(*progress.borrow());
        }
    };
    let mut encrypted = encrypted;
    let sealed = encrypt_blob(
        file,
        encoder,
        created.part_size,
        &mut sink,
        &mut encrypted,
        cancel,
    )
    .await;
    let sealed = match sealed {
        Ok(s) => s,
        Err(e) => {
            sink.stop();
            return Err(e.into());
        }
    };
    let parts = sink.finish().await?;
    // Exact for 0x0478; for 0x0578 the server allows for the longest DER signature.
    let size_ok = if options.suite.is_signed() {
        sealed.ciphertext_len <= created.ciphertext_size
    } else {
        sealed.ciphertext_len == created.ciphertext_size
    };
    if !size_ok {
        return Err(CryptError::Format(format!(
            "wrote {} bytes, the server expected {}",
            sealed.ciphertext_len, created.ciphertext_size
        ))
        .into());
    }
    if cancel.is_cancelled() {
        return Err(CryptError::Cancelled.into());
    }
    let object = api::complete(
        &created.upload_id,
        &CompleteUploadRequest { parts, metadata },
    )
    .await?;
    Ok((object, header, edk_blob, plaintext_head))
}

/// Ciphertext parts to S3 through presigned URLs: `parallel` at once, each retried with backoff.
pub(crate) struct S3Parts {
    upload_id: String,
    urls: Rc<RefCell<HashMap<u32, String>>>,
    urls_expire_at: i64,
    part_count: u32,
    parallel: usize,
    in_flight:
        FuturesUnordered<LocalBoxFuture<'static, Result<(CompletedPart, Uint8Array), CryptError>>>,
    done: Vec<CompletedPart>,
    abort: Option<AbortController>,
    progress: Rc<RefCell<Progress>>,
    report: Report,
    cancel: Cancel,
    pool: BufferPool,
}

impl S3Parts {
    pub(crate) fn new(
        created: &cipherdrop_api::CreateUploadResponse,
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
        }
    }

    /// Stops every request in flight.
    fn stop(&mut self) {
        if let Some(a) = &self.abort {
            a.abort();
        }
    }

    fn record(
        &mut self,
        result: Result<(CompletedPart, Uint8Array), CryptError>,
    ) -> Result<(), CryptError> {
        match result {
            Ok((part, buffer)) => {
                self.done.push(part);
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

    async fn url_for(&mut self, n: u32) -> Result<String, CryptError> {
        let now = (js_sys::Date::now() / 1000.0) as i64;
        let fresh = self.urls_expire_at - now > 60;
        if let Some(url) = self.urls.borrow().get(&n).filter(|_| fresh) {
            return Ok(url.clone());
        }
        let status = api::part_urls(&self.upload_id, n, URL_BATCH)
            .await
            .map_err(|e| CryptError::Sink(e.to_string()))?;
        self.urls_expire_at = status.urls_expire_at;
        let mut urls = self.urls.borrow_mut();
        urls.extend(status.parts.into_iter().map(|p| (p.part_number, p.url)));
        urls.get(&n)
            .cloned()
            .ok_or_else(|| CryptError::Sink(format!("the server has no URL for part {n}")))
    }

    pub(crate) async fn finish(mut self) -> Result<Vec<CompletedPart>, CryptError> {
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

    async fn put(&mut self, number: u32, part: Uint8Array) -> Result<(), CryptError> {
        if number > self.part_count {
            return Err(CryptError::Format(format!(
                "part {number} of {}: more ciphertext than announced",
                self.part_count
            )));
        }
        while self.in_flight.len() >= self.parallel {
            if let Some(r) = self.in_flight.next().await {
                self.record(r)?;
            }
        }
        if self.cancel.is_cancelled() {
            self.stop();
            return Err(CryptError::Cancelled);
        }
        let url = self.url_for(number).await?;
        let signal = self.abort.as_ref().map(AbortController::signal);
        let upload_id = self.upload_id.clone();
        let cancel = self.cancel.clone();
        self.in_flight.push(Box::pin(async move {
            put_part(&upload_id, number, url, part, signal, cancel).await
        }));
        Ok(())
    }
}

/// PUTs one part, retrying network failures, 5xx and 429 with exponential backoff, and an
/// expired URL (403) with a fresh one. Returns the part's ETag and size.
async fn put_part(
    upload_id: &str,
    number: u32,
    mut url: String,
    part: Uint8Array,
    signal: Option<web_sys::AbortSignal>,
    cancel: Cancel,
) -> Result<(CompletedPart, Uint8Array), CryptError> {
    let mut last = String::new();
    let mut refreshed = false;
    for attempt in 0..ATTEMPTS {
        if cancel.is_cancelled() {
            return Err(CryptError::Cancelled);
        }
        if attempt > 0 {
            // 0.5 s, 1 s, 2 s, 4 s, 8 s, with jitter.
            let base = 500.0 * f64::from(1u32 << (attempt - 1));
            let until = crate::browser::now_ms() + base * (0.75 + 0.5 * js_sys::Math::random());
            // Wait in short steps, so a cancel takes effect at once.
            while crate::browser::now_ms() < until {
                if cancel.is_cancelled() {
                    return Err(CryptError::Cancelled);
                }
                sleep(100.0).await;
            }
        }
        // The body goes as a Blob: its bytes move to the browser's blob store at once. A typed
        // array body stays held by the request until the garbage collector finds it, which
        // made the tab grow by about 1.5x the file size on large uploads.
        let body: wasm_bindgen::JsValue =
            Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&part))
                .map_err(|e| CryptError::Sink(crate::browser::js_error_message(&e)))?
                .into();
        let request = Request::put(&url).abort_signal(signal.as_ref()).body(body);
        let response = match request {
            Ok(r) => r.send().await,
            Err(e) => return Err(CryptError::Sink(e.to_string())),
        };
        match response {
            Ok(resp) if resp.ok() => {
                let etag = resp.headers().get("etag").unwrap_or_default();
                if etag.is_empty() {
                    return Err(CryptError::Sink(
                        "S3 accepted a part but sent no ETag (is ETag exposed by the bucket's CORS rule?)"
                            .into(),
                    ));
                }
                return Ok((
                    CompletedPart {
                        part_number: number,
                        etag,
                    },
                    part,
                ));
            }
            Ok(resp) => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                let code = s3_error_code(&body);
                last = format!("S3 refused part {number}: {status} {code}");
                if status == 403 && !refreshed {
                    // A URL can expire while a slow upload waits: ask the server for a new one.
                    refreshed = true;
                    if let Some(p) = api::part_urls(upload_id, number, 1)
                        .await
                        .ok()
                        .and_then(|s| s.parts.into_iter().next())
                    {
                        url = p.url;
                        continue;
                    }
                }
                if !(status >= 500 || status == 429) {
                    return Err(CryptError::Sink(last));
                }
            }
            Err(e) => {
                if cancel.is_cancelled() {
                    return Err(CryptError::Cancelled);
                }
                last = format!("the connection to S3 failed for part {number}: {e}");
            }
        }
    }
    Err(CryptError::Sink(format!(
        "{last} (gave up after {ATTEMPTS} attempts)"
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
