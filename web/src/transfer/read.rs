//! The first stage, reading: the page's one read loop over a file or a response body. [`Reader`]
//! reads a `ReadableStream` either straight into one reused buffer (a BYOB reader) or chunk by
//! chunk as the stream hands its chunks out; [`get`] starts the presigned GET of a stored object
//! (whole, or from a byte on) whose body a download reads.
//!
//! Encryption reads the file through a BYOB reader into one frame-sized buffer that is reused
//! for every frame: the browser writes into it directly, so a read makes no garbage and no extra
//! copy (from a disk file: 433–476 MB/s, against ~95 MB/s for 4 MiB `Blob.slice()` reads;
//! BENCHMARKS.md). Where the browser has no BYOB reader, chunks are copied into the same buffer.
//! Decryption reads each element of the message (a frame's head, then its `ciphertext ‖ tag`)
//! with [`Reader::read_exact`] straight into the buffer its cipher opens; response bodies have
//! BYOB readers too. The unencrypted download benchmark and the inspector's ranged reads take
//! the stream's own chunks as they come. A download that breaks off continues with a `Range`
//! GET in either mode. [`read_bytes`] is the one-shot read of a few bytes of a Blob.
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
use web_sys::{Blob, ReadableStream, ReadableStreamDefaultReader};

use crate::api::ApiError;
use crate::browser::{byob_fill, byob_read, byob_reader, js_error_message};
use crate::error::TransferError;

/// Where the bytes come from.
pub enum Source {
    /// A stream (a response body, a Blob's).
    Stream(ReadableStream),
    /// A download of `total` bytes from `url` that continues where it broke off (a `Range` GET
    /// from the first byte not received), counting how many times it did in `resumed`.
    Download {
        /// The first response's body.
        body: ReadableStream,
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

/// Bytes a BYOB reader is asked for when the caller takes whatever one read gives.
const BYOB_CHUNK: u32 = 64 * 1024;

/// A stream's reader: bring-your-own-buffer (the browser writes into the caller's buffer), or
/// the default one, which hands out the stream's own chunks.
enum StreamReader {
    Byob(JsValue),
    Chunks {
        reader: ReadableStreamDefaultReader,
        /// What is left of the chunk that [`StreamReader::fill`] last cut.
        rest: Option<Uint8Array>,
    },
}

impl StreamReader {
    /// A BYOB reader of `stream` if `byob` and the browser offers one for it, else the default.
    fn of(stream: &ReadableStream, byob: bool) -> Result<Self, TransferError> {
        if byob {
            let reader = byob_reader(stream);
            if !reader.is_null() && !reader.is_undefined() {
                return Ok(Self::Byob(reader));
            }
        }
        let reader = stream
            .get_reader()
            .dyn_into::<ReadableStreamDefaultReader>()
            .map_err(|e| TransferError::Read(js_error_message(&e)))?;
        Ok(Self::Chunks { reader, rest: None })
    }

    /// The next bytes, however many one read gives (the stream's own chunk, or a fresh buffer
    /// of a BYOB read); `None` at the end.
    async fn chunk(&mut self) -> Result<Option<Uint8Array>, TransferError> {
        match self {
            Self::Byob(reader) => {
                let view = Uint8Array::new_with_length(BYOB_CHUNK);
                let read = byob_read(reader, &view).await.map_err(|e| broke_off(&e))?;
                Ok((!read.is_null()).then(|| read.unchecked_into()))
            }
            Self::Chunks { reader, rest } => match rest.take() {
                Some(chunk) => Ok(Some(chunk)),
                None => next_chunk_of(reader).await,
            },
        }
    }

    /// Reads into `view` until it is full or the stream ends: a view of the bytes read from
    /// `view`'s first byte on, over `view`'s buffer as it came back (a BYOB read moves it; after
    /// an error it is gone).
    async fn fill(&mut self, view: &Uint8Array) -> Result<Uint8Array, TransferError> {
        match self {
            Self::Byob(reader) => Ok(byob_fill(reader, view)
                .await
                .map_err(|e| broke_off(&e))?
                .unchecked_into()),
            Self::Chunks { reader, rest } => {
                let (len, mut got) = (view.length(), 0);
                while got < len {
                    let chunk = match rest.take() {
                        Some(c) => c,
                        None => match next_chunk_of(reader).await? {
                            Some(c) => c,
                            None => break,
                        },
                    };
                    let take = chunk.length().min(len - got);
                    view.set(&chunk.subarray(0, take), got);
                    got += take;
                    if take < chunk.length() {
                        *rest = Some(chunk.subarray(take, chunk.length()));
                    }
                }
                Ok(view.subarray(0, got))
            }
        }
    }

    fn moves_buffers(&self) -> bool {
        matches!(self, Self::Byob(_))
    }
}

/// A stream read chunk by chunk or into the caller's buffers; a download continues with a
/// `Range` GET where it broke off.
struct Body {
    reader: StreamReader,
    /// Whether to read through a BYOB reader where there is one (also after a `Range` GET).
    byob: bool,
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

impl Body {
    fn open(source: Source, byob: bool) -> Result<Self, TransferError> {
        let (stream, again) = match source {
            Source::Blob(blob, start) => (rest_of(blob, start)?.stream(), None),
            Source::Stream(stream) => (stream, None),
            Source::Download {
                body,
                url,
                total,
                resumed,
            } => (
                body,
                Some(Again {
                    url,
                    received: 0,
                    total,
                    failures: 0,
                    resumed,
                }),
            ),
        };
        Ok(Self {
            reader: StreamReader::of(&stream, byob)?,
            byob,
            again,
        })
    }

    /// After the stream broke off (`broke`, with `received` bytes handed out): a download
    /// continues from the first byte not received, after waiting for the network if the
    /// browser is offline and backing off; anything else fails with `broke`.
    async fn resume(&mut self, broke: TransferError) -> Result<(), TransferError> {
        let Some(again) = self.again.as_mut() else {
            return Err(broke);
        };
        again.failures += 1;
        if again.failures > DOWNLOAD_ATTEMPTS {
            return Err(broke);
        }
        crate::browser::online_or_timeout(f64::from(500u32 << again.failures.min(5))).await;
        let range = again.received..again.total;
        // If this fails too, the old reader fails again at once: another break, counted.
        if let Ok(body) = get(&again.url, Some(range)).await {
            again.resumed.set(again.resumed.get() + 1);
            self.reader = StreamReader::of(&body, self.byob)?;
        }
        Ok(())
    }

    /// The break of a download that ended before all its bytes, if it did.
    fn ended_early(&self) -> Option<TransferError> {
        let again = self.again.as_ref()?;
        (again.received < again.total).then(|| {
            TransferError::Read(format!(
                "the download ended after {} of {} bytes",
                again.received, again.total
            ))
        })
    }

    fn count(&mut self, n: u32) {
        if let Some(again) = self.again.as_mut() {
            again.received += u64::from(n);
            if n > 0 {
                again.failures = 0;
            }
        }
    }

    /// The next chunk, or `None` at the end. A download that breaks off (an error, or an end
    /// before all its bytes) continues from the first byte not received; the caller, which
    /// keeps its place, sees one unbroken stream.
    async fn next_chunk(&mut self) -> Result<Option<Uint8Array>, TransferError> {
        loop {
            let broke = match self.reader.chunk().await {
                Ok(Some(chunk)) => {
                    self.count(chunk.length());
                    return Ok(Some(chunk));
                }
                Ok(None) => match self.ended_early() {
                    None => return Ok(None),
                    Some(broke) => broke,
                },
                Err(e) => e,
            };
            self.resume(broke).await?;
        }
    }

    /// Reads into `view` until it is full or the stream ends, continuing a download that
    /// breaks off as [`Body::next_chunk`] does: a view of the bytes read from `view`'s first
    /// byte on, over its buffer as it came back (which a BYOB read moves; one lost with a
    /// broken read is replaced, and its bytes read again).
    async fn fill(&mut self, view: Uint8Array) -> Result<Uint8Array, TransferError> {
        let (len, mut got) = (view.length(), 0u32);
        let (mut buffer, base) = (view.buffer(), view.byte_offset());
        loop {
            let into = Uint8Array::new_with_byte_offset_and_length(&buffer, base + got, len - got);
            let broke = match self.reader.fill(&into).await {
                Ok(read) => {
                    buffer = read.buffer();
                    got += read.length();
                    self.count(read.length());
                    if got == len {
                        break;
                    }
                    match self.ended_early() {
                        None => break,
                        Some(broke) => broke,
                    }
                }
                Err(e) => {
                    if self.reader.moves_buffers() {
                        // The read took the buffer with it: start this view again.
                        buffer = ArrayBuffer::new(base + len);
                        if let Some(again) = self.again.as_mut() {
                            again.received -= u64::from(got);
                        }
                        got = 0;
                    }
                    e
                }
            };
            self.resume(broke).await?;
        }
        Ok(Uint8Array::new_with_byte_offset_and_length(
            &buffer, base, got,
        ))
    }
}

fn broke_off(e: &JsValue) -> TransferError {
    TransferError::Read(format!("reading broke off: {}", js_error_message(e)))
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

/// A stream of bytes read into buffers (through a BYOB reader where the browser offers one for
/// the stream: it writes into them directly), or chunk by chunk as the stream hands them out.
pub struct Reader {
    body: Body,
    /// The reused buffer [`Reader::fill`] returns views of (empty when only chunks are read).
    buf: Uint8Array,
}

impl Reader {
    /// Reads `source` into one reused buffer of `capacity` bytes: through a BYOB reader where
    /// the browser offers one for it, else by copying the stream's chunks in.
    pub fn byob(source: Source, capacity: u32) -> Result<Self, TransferError> {
        Ok(Self {
            body: Body::open(source, true)?,
            buf: Uint8Array::new_with_length(capacity.max(1)),
        })
    }

    /// Reads `source` into the caller's buffers ([`Reader::read_exact`]): through a BYOB reader
    /// where the browser offers one for it, else by copying the stream's chunks in.
    pub fn exact(source: Source) -> Result<Self, TransferError> {
        Self::byob(source, 0)
    }

    /// Reads `source` chunk by chunk, as its stream hands the chunks out.
    pub fn chunks(source: Source) -> Result<Self, TransferError> {
        Ok(Self {
            body: Body::open(source, false)?,
            buf: Uint8Array::new_with_length(0),
        })
    }

    /// Whether reads go straight into the caller's buffers (a BYOB reader), so that reading
    /// exactly what is needed costs no copy.
    pub fn is_byob(&self) -> bool {
        self.body.reader.moves_buffers()
    }

    /// Reads on into `buf` from now on (its length must cover what is asked of [`Reader::fill`]):
    /// for when the last view [`Reader::fill`] returned has moved elsewhere with its buffer.
    pub fn set_buffer(&mut self, buf: Uint8Array) {
        self.buf = buf;
    }

    /// The next `want` bytes (fewer only at the end), in the reused buffer: valid until the
    /// next call. `want` must not exceed the capacity given to [`Reader::byob`].
    pub async fn fill(&mut self, want: u32) -> Result<Uint8Array, TransferError> {
        let read = self.body.fill(self.buf.subarray(0, want)).await?;
        self.buf = Uint8Array::new(&read.buffer());
        Ok(read)
    }

    /// Reads the next bytes into all of `view` (fewer only at the end): a view of them over
    /// `view`'s buffer as it came back (a BYOB read moves the buffer: use the view returned).
    pub async fn read_exact(&mut self, view: Uint8Array) -> Result<Uint8Array, TransferError> {
        self.body.fill(view).await
    }

    /// The next bytes, however many one read gives: the stream's own chunk, or a fresh buffer
    /// (BYOB). `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Uint8Array>, TransferError> {
        self.body.next_chunk().await
    }

    /// Whether the stream has no more bytes (reads one more, which is lost if there is one).
    pub async fn at_end(&mut self) -> Result<bool, TransferError> {
        let one = self.body.fill(Uint8Array::new_with_length(1)).await?;
        Ok(one.length() == 0)
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

/// Starts a GET of the object at presigned `url` (or of bytes `range` of it) and returns its
/// body.
pub async fn get(url: &str, range: Option<Range<u64>>) -> Result<ReadableStream, TransferError> {
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
    resp.body()
        .ok_or_else(|| TransferError::Read("the download has no body".into()))
}
