//! Download-and-decrypt of one file, and the inspector's look at a stored object.
//!
//! The key comes from the server (KMS Decrypt of the stored EDK), the ciphertext straight from
//! S3 through a presigned URL; decryption streams frame by frame. The result is offered to the
//! user only after the whole message verified: through the File System Access API the browser
//! writes to a temporary file that is discarded on failure; otherwise plaintext is collected and
//! offered as one Blob at the end.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::ObjectDetails;
use cipherdrop_core::{DataKey, DecryptLimits, Event, Header, MessageDecoder, TAG_LEN};
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::ReadableStreamDefaultReader;
use zeroize::Zeroizing;

use crate::api::{self, ApiError};
use crate::browser::{SaveFile, js_error_message, save_blob};
use crate::crypt::{Cancel, CryptError, MemoryPlain, PlainSink, Source, decrypt_source};
use crate::metadata::{self, FileMeta};
use crate::subtle::{GcmKey, buffer};

/// Why a download failed.
#[derive(Debug, Clone, PartialEq)]
pub enum DownloadError {
    /// The server said no or could not be reached.
    Api(ApiError),
    /// Fetching or decrypting failed.
    Crypt(CryptError),
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Api(e) => e.fmt(f),
            Self::Crypt(e) => e.fmt(f),
        }
    }
}

impl From<ApiError> for DownloadError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<CryptError> for DownloadError {
    fn from(e: CryptError) -> Self {
        Self::Crypt(e)
    }
}

/// Where a download is saved.
pub enum Destination {
    /// A file the user picked (File System Access API).
    Picked(SaveFile),
    /// A Blob offered as a browser download when everything verified.
    Blob,
}

struct PickedSink<'a>(&'a SaveFile);

impl PlainSink for PickedSink<'_> {
    async fn write(&mut self, plaintext: &ArrayBuffer) -> Result<(), CryptError> {
        self.0
            .write(plaintext)
            .await
            .map_err(|e| CryptError::Sink(format!("writing the file failed: {e}")))
    }
}

/// The file's data key from the server, decoded.
pub async fn data_key(id: &str) -> Result<DataKey, DownloadError> {
    let b64 = api::release_key(id).await?;
    let raw = Zeroizing::new(
        B64.decode(b64.as_bytes())
            .map_err(|_| ApiError::Decode("data key".into()))?,
    );
    DataKey::from_bytes(&raw).map_err(|_| ApiError::Decode("data key length".into()).into())
}

/// The file's name and type, decrypted with its data key.
pub fn file_meta(stored: &str, key: &DataKey, id: &str) -> Result<FileMeta, String> {
    metadata::open(stored, key.as_bytes(), id).map_err(|e| e.to_string())
}

/// Downloads, decrypts and saves file `id` under `name`. Returns plaintext bytes saved.
/// `progress` gets (ciphertext bytes read, ciphertext bytes in all).
pub async fn download(
    id: &str,
    name: &str,
    destination: Destination,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &Cancel,
) -> Result<u64, DownloadError> {
    let prepared = async {
        let details = api::details(id).await?;
        let key = data_key(id).await?;
        Ok::<_, DownloadError>((details, key))
    }
    .await;
    match prepared {
        Ok((details, key)) => {
            let total = details.object.size;
            save_from(
                &details.download_url,
                total,
                &key,
                name,
                destination,
                progress,
                cancel,
            )
            .await
        }
        Err(e) => {
            if let Destination::Picked(file) = destination {
                file.discard().await;
            }
            Err(e)
        }
    }
}

/// Fetches the message at `url`, decrypts it with `key` and saves it under `name`.
pub async fn save_from(
    url: &str,
    total: u64,
    key: &DataKey,
    name: &str,
    destination: Destination,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &Cancel,
) -> Result<u64, DownloadError> {
    let reader = match open_stream(url, None).await {
        Ok(r) => r,
        Err(e) => {
            if let Destination::Picked(file) = destination {
                file.discard().await;
            }
            return Err(e);
        }
    };
    let mut report = |n: u64| progress(n, total);
    let limits = DecryptLimits::default();
    match destination {
        Destination::Picked(file) => {
            let result = decrypt_source(
                Source::Stream(reader),
                key,
                limits,
                &mut PickedSink(&file),
                &mut report,
                cancel,
            )
            .await;
            match result {
                Ok(opened) => {
                    file.commit()
                        .await
                        .map_err(|e| CryptError::Sink(format!("saving the file failed: {e}")))?;
                    Ok(opened.plaintext_len)
                }
                Err(e) => {
                    file.discard().await;
                    Err(e.into())
                }
            }
        }
        Destination::Blob => {
            let mut sink = MemoryPlain::default();
            let opened = decrypt_source(
                Source::Stream(reader),
                key,
                limits,
                &mut sink,
                &mut report,
                cancel,
            )
            .await?;
            let blob = sink.into_blob()?;
            save_blob(&blob, name);
            Ok(opened.plaintext_len)
        }
    }
}

/// Fetches and decrypts a small message (a secret text) into memory.
pub async fn fetch_text(url: &str, key: &DataKey) -> Result<String, DownloadError> {
    let reader = open_stream(url, None).await?;
    let mut sink = MemoryPlain::default();
    decrypt_source(
        Source::Stream(reader),
        key,
        DecryptLimits::default(),
        &mut sink,
        &mut |_| {},
        &Cancel::default(),
    )
    .await?;
    let blob = sink.into_blob()?;
    let bytes = crate::crypt::read_bytes(&blob, 0, blob.size() as u64).await?;
    String::from_utf8(bytes)
        .map_err(|_| CryptError::Integrity("the secret is not UTF-8 text".into()).into())
}

/// Starts a GET of `url` (optionally a byte range) and returns the body's reader.
async fn open_stream(
    url: &str,
    range: Option<(u64, u64)>,
) -> Result<ReadableStreamDefaultReader, DownloadError> {
    let mut request = gloo_net::http::Request::get(url);
    if let Some((start, end)) = range {
        request = request.header("Range", &format!("bytes={start}-{}", end - 1));
    }
    let resp = request
        .send()
        .await
        .map_err(|e| ApiError::Network(format!("S3: {e}")))?;
    if !resp.ok() {
        return Err(CryptError::Sink(format!(
            "S3 refused the download: {} {}",
            resp.status(),
            resp.status_text()
        ))
        .into());
    }
    let body = resp
        .body()
        .ok_or_else(|| CryptError::Read("the download has no body".into()))?;
    body.get_reader()
        .dyn_into::<ReadableStreamDefaultReader>()
        .map_err(|e| CryptError::Read(js_error_message(&e)).into())
}

async fn fetch_range(url: &str, start: u64, end: u64) -> Result<Vec<u8>, DownloadError> {
    let mut source = Source::Stream(open_stream(url, Some((start, end))).await?);
    let mut out = Vec::new();
    while let Some(chunk) = source_next(&mut source).await? {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

async fn source_next(source: &mut Source) -> Result<Option<Vec<u8>>, CryptError> {
    let Source::Stream(reader) = source else {
        return Ok(None);
    };
    let chunk = JsFuture::from(reader.read())
        .await
        .map_err(|e| CryptError::Read(js_error_message(&e)))?;
    if js_sys::Reflect::get(&chunk, &"done".into())
        .map(|d| d.is_truthy())
        .unwrap_or(true)
    {
        return Ok(None);
    }
    let value = js_sys::Reflect::get(&chunk, &"value".into())
        .map_err(|e| CryptError::Read(js_error_message(&e)))?;
    Ok(Some(value.unchecked_into::<Uint8Array>().to_vec()))
}

/// What the inspector shows about a stored object.
#[derive(Clone, Debug)]
pub struct StoredView {
    /// The server's record (with a presigned URL).
    pub details: ObjectDetails,
    /// The first bytes of the stored S3 object.
    pub stored_head: Vec<u8>,
    /// The header parsed from them.
    pub header: Option<Header>,
    /// Header length in bytes.
    pub header_len: usize,
    /// Why the header did not parse, if it did not.
    pub header_error: Option<String>,
}

/// Reads what the server stores about `id` and the first bytes S3 stores, without any key.
pub async fn stored_view(id: &str) -> Result<StoredView, DownloadError> {
    let details = api::details(id).await?;
    let end = details.object.size.min(16 * 1024);
    let stored_head = fetch_range(&details.download_url, 0, end).await?;
    let (header, header_len, header_error) =
        match Header::parse(&stored_head, &DecryptLimits::default()) {
            Ok((h, len)) => (Some(h), len, None),
            Err(e) => (None, 0, Some(e.to_string())),
        };
    Ok(StoredView {
        details,
        stored_head,
        header,
        header_len,
        header_error,
    })
}

/// Decrypts just the first frame of `id` in this tab (releases the key: audited) and returns
/// its first `n` bytes.
pub async fn first_plaintext(view: &StoredView, n: usize) -> Result<Vec<u8>, DownloadError> {
    let frame = view
        .header
        .as_ref()
        .map_or(0, |h| u64::from(h.frame_length));
    // Header, then a regular frame (seq, IV, body, tag) or a final frame (and a footer).
    let want = view.header_len as u64 + frame + 4 + 4 + 12 + 4 + TAG_LEN as u64 + 2 + 104;
    let end = view.details.object.size.min(want);
    let bytes = fetch_range(&view.details.download_url, 0, end).await?;
    let key = data_key(&view.details.object.id).await?;
    let mut decoder = MessageDecoder::new(DecryptLimits::default());
    let mut input = &bytes[..];
    let integrity = |e: cipherdrop_core::Error| CryptError::Integrity(e.to_string());
    let mut gcm: Option<GcmKey> = None;
    loop {
        match decoder.next(&mut input).map_err(integrity)? {
            Event::NeedDataKey => gcm = Some(crate::crypt::unlock(&mut decoder, &key).await?),
            Event::Frame(f) => {
                let Some(gcm) = gcm.as_ref() else {
                    return Err(CryptError::Format("frame before key".into()).into());
                };
                let mut sealed = f.ciphertext.to_vec();
                sealed.extend_from_slice(&f.tag);
                let sealed = Uint8Array::from(&sealed[..]);
                let p = gcm
                    .open(&f.iv, f.aad(), &sealed)
                    .map_err(|e| CryptError::Crypto(js_error_message(&e)))?;
                let plain = buffer(p).await.map_err(|_| {
                    CryptError::Integrity("the first frame's tag did not verify".into())
                })?;
                let mut out = Uint8Array::new(&plain).to_vec();
                out.truncate(n);
                return Ok(out);
            }
            Event::NeedInput | Event::Done => {
                return Err(CryptError::Integrity(
                    "the message ended before its first frame".into(),
                )
                .into());
            }
        }
    }
}
