//! The first stage, reading: the page's one read loop over a file or a response body. [`Reader`]
//! reads a `ReadableStream` either straight into one reused buffer (a BYOB reader) or chunk by
//! chunk as the stream hands its chunks out; [`get`] starts the presigned GET of a stored object
//! (whole, or from a byte on) whose body a download reads.
//!
//! Encryption reads the file through a BYOB reader into one frame-sized buffer that is reused
//! for every frame: the browser writes into it directly, so a read makes no garbage and no extra
//! copy (from a disk file: 433–476 MB/s, against ~95 MB/s for 4 MiB `Blob.slice()` reads;
//! BENCHMARKS.md). Where the browser has no BYOB reader, chunks are copied into the same buffer.
//! Downloads, decryption and the unencrypted benchmark take the stream's own chunks as they
//! come, so their bytes are handed on while the next ones arrive. [`read_bytes`] is the
//! one-shot read of a few bytes of a Blob.
//!
//! Nothing here knows of uploads: the stages after it (seal, held parts, record, put) take what
//! it reads, and downloads (`crypt::decrypt`) read through it too.

use std::cell::Cell;
use std::ops::Range;
use std::rc::Rc;

use gloo_net::http::Request;
use js_sys::{ArrayBuffer, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, ReadableStreamDefaultReader};

use crate::api::ApiError;
use crate::browser::{byob_read, byob_reader, js_error_message};
use crate::error::TransferError;

/// Where the bytes come from.
pub enum Source {
    /// A response body's reader (a download).
    Stream(ReadableStreamDefaultReader),
    /// A download of `total` bytes from `url` that continues where it broke off (a `Range` GET
    /// from the first byte not received), counting how many times it did in `resumed`.
    Download {
        /// The first response's body.
        reader: ReadableStreamDefaultReader,
        /// The (presigned) URL, for the `Range` GETs.
        url: String,
        /// The object's size.
        total: u64,
        /// Times the download continued after breaking off.
        resumed: Rc<Cell<u32>>,
    },
    /// A Blob (a file), read from this byte offset on.
    Blob(Blob, u64),
}

/// Times in a row a download may break off and continue without receiving a byte in between.
const DOWNLOAD_ATTEMPTS: u32 = 6;

/// A stream read chunk by chunk; a download continues with a `Range` GET where it broke off.
struct Chunks {
    reader: ReadableStreamDefaultReader,
    again: Option<Again>,
}

/// What continuing a download needs.
struct Again {
    url: String,
    received: u64,
    total: u64,
    /// Breaks since the last byte arrived.
    failures: u32,
    resumed: Rc<Cell<u32>>,
}

impl Chunks {
    fn from_source(source: Source) -> Result<Self, TransferError> {
        Ok(match source {
            Source::Blob(blob, start) => Self::plain(default_reader(&rest_of(blob, start)?)?),
            Source::Stream(reader) => Self::plain(reader),
            Source::Download {
                reader,
                url,
                total,
                resumed,
            } => Self {
                reader,
                again: Some(Again {
                    url,
                    received: 0,
                    total,
                    failures: 0,
                    resumed,
                }),
            },
        })
    }

    fn plain(reader: ReadableStreamDefaultReader) -> Self {
        Self {
            reader,
            again: None,
        }
    }

    /// The next chunk, or `None` at the end. A download that breaks off (an error, or an end
    /// before all its bytes) continues from the first byte not received, after waiting for the
    /// network if the browser is offline and backing off; the decoder, which keeps its place,
    /// sees one unbroken stream, and every frame is still verified as it completes.
    async fn next(&mut self) -> Result<Option<Uint8Array>, TransferError> {
        loop {
            let read = next_chunk_of(&self.reader).await;
            let Some(again) = self.again.as_mut() else {
                return read;
            };
            let broke = match read {
                Ok(Some(chunk)) => {
                    again.received += u64::from(chunk.length());
                    again.failures = 0;
                    return Ok(Some(chunk));
                }
                Ok(None) if again.received >= again.total => return Ok(None),
                Ok(None) => TransferError::Read(format!(
                    "the download ended after {} of {} bytes",
                    again.received, again.total
                )),
                Err(e) => e,
            };
            again.failures += 1;
            if again.failures > DOWNLOAD_ATTEMPTS {
                return Err(broke);
            }
            crate::browser::online_or_timeout(f64::from(500u32 << again.failures.min(5))).await;
            let range = again.received..again.total;
            // If this fails too, the old reader fails again at once: another break, counted.
            if let Ok(reader) = get(&again.url, Some(range)).await {
                again.resumed.set(again.resumed.get() + 1);
                self.reader = reader;
            }
        }
    }
}

/// How a [`Reader`] gets its bytes.
enum Mode {
    /// A bring-your-own-buffer reader: the browser writes into our buffer.
    Byob(JsValue),
    /// The default reader, and what is left of the chunk that [`Reader::fill`] last cut.
    Chunks {
        reader: Chunks,
        rest: Option<Uint8Array>,
    },
}

/// A stream of bytes read into one reused buffer (BYOB), or chunk by chunk.
pub struct Reader {
    mode: Mode,
    /// The reused buffer [`Reader::fill`] returns views of (empty when only chunks are read).
    buf: Uint8Array,
}

fn broke_off(e: &JsValue) -> TransferError {
    TransferError::Read(format!("reading broke off: {}", js_error_message(e)))
}

fn default_reader(blob: &Blob) -> Result<ReadableStreamDefaultReader, TransferError> {
    blob.stream()
        .get_reader()
        .dyn_into::<ReadableStreamDefaultReader>()
        .map_err(|e| TransferError::Read(js_error_message(&e)))
}

/// The part of `source` still to read, as a Blob (no copy: a slice of a Blob is a view).
fn rest_of(blob: Blob, start: u64) -> Result<Blob, TransferError> {
    if start == 0 {
        return Ok(blob);
    }
    blob.slice_with_f64(start as f64)
        .map_err(|e| TransferError::Read(js_error_message(&e)))
}

/// The default reader's next chunk (its own array, not copied), or `None` at the end.
async fn next_chunk_of(
    reader: &ReadableStreamDefaultReader,
) -> Result<Option<Uint8Array>, TransferError> {
    let chunk = JsFuture::from(reader.read())
        .await
        .map_err(|e| broke_off(&e))?;
    let done = Reflect::get(&chunk, &"done".into())
        .map(|d| d.is_truthy())
        .unwrap_or(true);
    if done {
        return Ok(None);
    }
    let value = Reflect::get(&chunk, &"value".into())
        .map_err(|e| TransferError::Read(js_error_message(&e)))?;
    Ok(Some(value.unchecked_into::<Uint8Array>()))
}

impl Reader {
    /// Reads `source` into one reused buffer of `capacity` bytes: through a BYOB reader where
    /// the browser offers one for it (a Blob's stream), else by copying the stream's chunks in.
    pub fn byob(source: Source, capacity: u32) -> Result<Self, TransferError> {
        let buf = Uint8Array::new_with_length(capacity.max(1));
        let reader = match source {
            Source::Blob(blob, start) => {
                let blob = rest_of(blob, start)?;
                let byob = byob_reader(&blob);
                if !byob.is_null() && !byob.is_undefined() {
                    return Ok(Self {
                        mode: Mode::Byob(byob),
                        buf,
                    });
                }
                Chunks::plain(default_reader(&blob)?)
            }
            other => Chunks::from_source(other)?,
        };
        Ok(Self {
            mode: Mode::Chunks { reader, rest: None },
            buf,
        })
    }

    /// Reads on into `buf` from now on (its length must cover what is asked of [`Reader::fill`]):
    /// for when the last view [`Reader::fill`] returned has moved elsewhere with its buffer.
    pub fn set_buffer(&mut self, buf: Uint8Array) {
        self.buf = buf;
    }

    /// Reads `source` chunk by chunk, as its stream hands the chunks out.
    pub fn chunks(source: Source) -> Result<Self, TransferError> {
        let reader = Chunks::from_source(source)?;
        Ok(Self {
            mode: Mode::Chunks { reader, rest: None },
            buf: Uint8Array::new_with_length(0),
        })
    }

    /// One read into `buf[into]`: how many bytes it wrote there, or `None` at the end.
    async fn read_into(&mut self, into: Range<u32>) -> Result<Option<u32>, TransferError> {
        match &mut self.mode {
            Mode::Byob(reader) => {
                let view = self.buf.subarray(into.start, into.end);
                let read = byob_read(reader, &view).await.map_err(|e| broke_off(&e))?;
                if read.is_null() {
                    return Ok(None);
                }
                let read: Uint8Array = read.unchecked_into();
                // The read detached our buffer and handed it back as `read.buffer`.
                self.buf = Uint8Array::new(&read.buffer());
                Ok(Some(read.length()))
            }
            Mode::Chunks { reader, rest } => {
                let chunk = match rest.take() {
                    Some(c) => c,
                    None => match reader.next().await? {
                        Some(c) => c,
                        None => return Ok(None),
                    },
                };
                let take = chunk.length().min(into.end - into.start);
                self.buf.set(&chunk.subarray(0, take), into.start);
                if take < chunk.length() {
                    *rest = Some(chunk.subarray(take, chunk.length()));
                }
                Ok(Some(take))
            }
        }
    }

    /// The next `want` bytes (fewer only at the end), in the reused buffer: valid until the
    /// next call. `want` must not exceed the capacity given to [`Reader::byob`].
    pub async fn fill(&mut self, want: u32) -> Result<Uint8Array, TransferError> {
        let mut got = 0;
        while got < want {
            match self.read_into(got..want).await? {
                Some(n) => got += n,
                None => break,
            }
        }
        Ok(self.buf.subarray(0, got))
    }

    /// The next bytes, however many one read gives: the stream's own chunk (chunk mode) or a
    /// view of the reused buffer valid until the next call (BYOB). `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Uint8Array>, TransferError> {
        if let Mode::Chunks { reader, rest } = &mut self.mode {
            return match rest.take() {
                Some(chunk) => Ok(Some(chunk)),
                None => reader.next().await,
            };
        }
        let capacity = self.buf.length();
        Ok(self
            .read_into(0..capacity)
            .await?
            .map(|n| self.buf.subarray(0, n)))
    }

    /// Whether the stream has no more bytes (reads one more, which is lost if there is one).
    pub async fn at_end(&mut self) -> Result<bool, TransferError> {
        match &mut self.mode {
            Mode::Byob(reader) => {
                let scratch = Uint8Array::new_with_length(1);
                let read = byob_read(reader, &scratch)
                    .await
                    .map_err(|e| broke_off(&e))?;
                Ok(read.is_null())
            }
            Mode::Chunks { reader, rest } => {
                if rest.as_ref().is_some_and(|r| r.length() > 0) {
                    return Ok(false);
                }
                Ok(reader.next().await?.is_none())
            }
        }
    }
}

/// Bytes `start .. end` of `blob`, copied into wasm memory (one `Blob.slice().arrayBuffer()`:
/// for a few bytes, or a small Blob read whole).
pub async fn read_bytes(blob: &Blob, start: u64, end: u64) -> Result<Vec<u8>, TransferError> {
    let read = |e: JsValue| TransferError::Read(js_error_message(&e));
    let slice = blob
        .slice_with_f64_and_f64(start as f64, end as f64)
        .map_err(read)?;
    let buf = JsFuture::from(slice.array_buffer())
        .await
        .and_then(|b| b.dyn_into::<ArrayBuffer>())
        .map_err(read)?;
    Ok(Uint8Array::new(&buf).to_vec())
}

/// Starts a GET of the object at presigned `url` (or of bytes `range` of it) and returns the
/// body's reader.
pub async fn get(
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
