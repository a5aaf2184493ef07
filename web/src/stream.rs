//! The page's one read loop over a file or a response body: [`Reader`] reads a `ReadableStream`
//! either straight into one reused buffer (a BYOB reader) or chunk by chunk as the stream hands
//! its chunks out.
//!
//! Encryption reads the file through a BYOB reader into one frame-sized buffer that is reused
//! for every frame: the browser writes into it directly, so a read makes no garbage and no extra
//! copy (from a disk file: 433–476 MB/s, against ~95 MB/s for 4 MiB `Blob.slice()` reads;
//! BENCHMARKS.md). Where the browser has no BYOB reader, chunks are copied into the same buffer.
//! Downloads, decryption and the unencrypted benchmark take the stream's own chunks as they
//! come, so their bytes are handed on while the next ones arrive. [`read_bytes`] is the
//! one-shot read of a few bytes of a Blob.

use std::ops::Range;

use js_sys::{ArrayBuffer, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, ReadableStreamDefaultReader};

use crate::browser::{byob_read, byob_reader, js_error_message};
use crate::error::TransferError;

/// Where the bytes come from.
pub enum Source {
    /// A response body's reader (a download).
    Stream(ReadableStreamDefaultReader),
    /// A Blob (a file), read from this byte offset on.
    Blob(Blob, u64),
}

/// How a [`Reader`] gets its bytes.
enum Mode {
    /// A bring-your-own-buffer reader: the browser writes into our buffer.
    Byob(JsValue),
    /// The default reader, and what is left of the chunk that [`Reader::fill`] last cut.
    Chunks {
        reader: ReadableStreamDefaultReader,
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
                default_reader(&blob)?
            }
            Source::Stream(reader) => reader,
        };
        Ok(Self {
            mode: Mode::Chunks { reader, rest: None },
            buf,
        })
    }

    /// Reads `source` chunk by chunk, as its stream hands the chunks out.
    pub fn chunks(source: Source) -> Result<Self, TransferError> {
        let reader = match source {
            Source::Blob(blob, start) => default_reader(&rest_of(blob, start)?)?,
            Source::Stream(reader) => reader,
        };
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
                    None => match next_chunk_of(reader).await? {
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
                None => next_chunk_of(reader).await,
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
                Ok(next_chunk_of(reader).await?.is_none())
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
