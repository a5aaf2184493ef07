//! What flows between the stages: ciphertext cut into upload parts. Where the sealing stage
//! hands its parts ([`PartSink`]), pooled part buffers, the packer that fills them to exactly
//! the part size, a part on its way to S3 as the later stages hand it on ([`Outgoing`] to an
//! [`Onward`] stage), a part's SHA-256, and a part's request body as a Blob.
//!
//! Copying into plain reused buffers is several times faster than assembling Blobs from pieces;
//! a part becomes a Blob only as the body of its PUT (see [`blob_body`]).

use std::cell::RefCell;
use std::rc::Rc;

use futures::future::LocalBoxFuture;
use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;
use web_sys::Blob;

use super::read::{Reader, Source};
use crate::browser::js_error_message;
use crate::error::TransferError;

#[wasm_bindgen(inline_js = r#"
export async function sha256_hex(bytes) {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(h, (b) => b.toString(16).padStart(2, '0')).join('');
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn sha256_hex(bytes: &Uint8Array) -> Result<JsValue, JsValue>;
}

/// Part buffers a pool keeps at most.
const POOLED: usize = 16;

/// One upload part.
#[derive(Clone, Debug)]
pub struct Part {
    /// Its number, from 1.
    pub number: u32,
    /// Its bytes: a view of a (pooled) part buffer.
    pub bytes: Uint8Array,
}

/// Where ciphertext parts go (an S3 multipart upload, or memory in tests and benchmarks).
#[allow(async_fn_in_trait)] // the browser is single-threaded: these futures are never Send
pub trait PartSink {
    /// Takes the next part, in order. May wait before returning, to bound what is in flight.
    async fn put(&mut self, part: Part) -> Result<(), TransferError>;

    /// Where the sink returns part buffers it no longer needs (none by default).
    fn pool(&self) -> BufferPool {
        BufferPool::default()
    }
}

/// What is to be done with a part once S3 stored it, given its ETag (the record stage's entry,
/// for a resume).
pub(crate) type OnStored = Box<dyn FnOnce(String) -> LocalBoxFuture<'static, ()>>;

/// A part on its way to S3, as the stages after sealing hand it on.
pub(crate) struct Outgoing {
    /// The part.
    pub(crate) part: Part,
    /// S3 holds it already (a resumed upload; checked against the file): its ETag. Not sent.
    pub(crate) held: Option<String>,
    /// What to do once S3 stored it.
    pub(crate) on_stored: Option<OnStored>,
}

impl Outgoing {
    /// A part to send, nothing more known of it yet.
    pub(crate) fn send(part: Part) -> Self {
        Self {
            part,
            held: None,
            on_stored: None,
        }
    }
}

/// A stage after the held-parts check: takes the parts on their way to S3, in order, and hands
/// them on to the next (the last one, `put`, sends them).
#[allow(async_fn_in_trait)] // the browser is single-threaded: these futures are never Send
pub(crate) trait Onward {
    /// Takes the next part. May wait before returning, to bound what is in flight.
    async fn take(&mut self, out: Outgoing) -> Result<(), TransferError>;

    /// Where part buffers go back to once sent.
    fn pool(&self) -> BufferPool;
}

/// SHA-256 of a part's bytes (WebCrypto), hex: what a resumed upload compares a part with.
pub(crate) async fn sha256(bytes: &Uint8Array) -> Result<String, TransferError> {
    sha256_hex(bytes)
        .await
        .map(|v| v.as_string().unwrap_or_default())
        .map_err(TransferError::crypto)
}

/// Part buffers a sink has finished with, for the packer to fill again: reusing them keeps the
/// tab's memory flat (fresh multi-MiB buffers are garbage the collector reclaims late).
#[derive(Clone, Default)]
pub struct BufferPool(Rc<RefCell<Vec<Uint8Array>>>);

impl BufferPool {
    /// Hands a part back (the whole buffer is reused, whatever view of it the sink got).
    pub fn recycle(&self, part: &Uint8Array) {
        let mut pool = self.0.borrow_mut();
        if pool.len() < POOLED {
            pool.push(Uint8Array::new(&part.buffer()));
        }
    }

    /// A buffer of `len` bytes: a pooled one if there is one of that size, else a new one.
    fn take(&self, len: u32) -> Uint8Array {
        let mut pool = self.0.borrow_mut();
        while let Some(buf) = pool.pop() {
            if buf.length() == len {
                return buf;
            }
        }
        Uint8Array::new_with_length(len)
    }
}

/// What a packer handed to its sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packed {
    /// Bytes in all.
    pub bytes: u64,
    /// Parts (the number of the last one).
    pub parts: u32,
}

/// Collects bytes into part buffers of exactly `part_size` bytes (the last may be shorter) and
/// hands each full one to a sink.
pub(crate) struct Packer {
    part_size: u32,
    buf: Uint8Array,
    fill: u32,
    next: u32,
    pool: BufferPool,
    packed: Packed,
}

impl Packer {
    pub(crate) fn new(part_size: u64, pool: BufferPool) -> Result<Self, TransferError> {
        let part_size = u32::try_from(part_size)
            .ok()
            .filter(|&p| p > 0 && p <= 1 << 31)
            .ok_or_else(|| TransferError::Format(format!("part size {part_size} out of range")))?;
        Ok(Self {
            part_size,
            buf: pool.take(part_size),
            fill: 0,
            next: 1,
            pool,
            packed: Packed { bytes: 0, parts: 0 },
        })
    }

    /// Copies `data` in; returns the parts it completed.
    fn cut(&mut self, data: &Uint8Array) -> Vec<Part> {
        let mut done = Vec::new();
        let len = data.length();
        let mut pos = 0;
        while pos < len {
            let take = (len - pos).min(self.part_size - self.fill);
            self.buf.set(&data.subarray(pos, pos + take), self.fill);
            self.fill += take;
            pos += take;
            if self.fill == self.part_size {
                let fresh = self.pool.take(self.part_size);
                let full = std::mem::replace(&mut self.buf, fresh);
                self.fill = 0;
                done.push(Part {
                    number: self.next,
                    bytes: full,
                });
                self.next += 1;
            }
        }
        done
    }

    /// Copies `data` in and hands the parts it completed to `sink` (the caller may reuse `data`).
    pub(crate) async fn write<S: PartSink>(
        &mut self,
        data: &Uint8Array,
        sink: &mut S,
    ) -> Result<(), TransferError> {
        self.packed.bytes += u64::from(data.length());
        for part in self.cut(data) {
            let number = part.number;
            sink.put(part).await?;
            self.packed.parts = number;
        }
        Ok(())
    }

    /// Hands whatever is left to `sink` as the last part.
    pub(crate) async fn finish<S: PartSink>(self, sink: &mut S) -> Result<Packed, TransferError> {
        let mut packed = self.packed;
        if self.fill > 0 {
            let part = Part {
                number: self.next,
                bytes: self.buf.subarray(0, self.fill),
            };
            sink.put(part).await?;
            packed.parts = self.next;
        }
        Ok(packed)
    }
}

/// Hands `source` unchanged to `sink` in parts of `part_size`, packed exactly as encryption
/// packs (the file is read chunk by chunk as its stream hands them out): the benchmarks'
/// "upload without encryption" reference. Returns the number of parts.
pub async fn pack_blob<S: PartSink>(
    source: &Blob,
    part_size: u64,
    sink: &mut S,
) -> Result<u32, TransferError> {
    let mut reader = Reader::chunks(Source::Blob(source.clone(), 0))?;
    let mut packer = Packer::new(part_size, sink.pool())?;
    while let Some(chunk) = reader.next_chunk().await? {
        packer.write(&chunk, sink).await?;
    }
    Ok(packer.finish(sink).await?.parts)
}

/// A part's request body: a Blob of its bytes, which move to the browser's blob store at once.
/// A typed-array body stays held by the request until the garbage collector finds it, which
/// made the tab grow by about 1.5x the file size on large uploads.
pub(crate) fn blob_body(part: &Uint8Array) -> Result<JsValue, TransferError> {
    Blob::new_with_u8_array_sequence(&Array::of1(part))
        .map(JsValue::from)
        .map_err(|e| TransferError::Sink(js_error_message(&e)))
}

/// A part sink that keeps the parts in memory (tests, benchmarks).
#[derive(Default)]
pub struct MemoryParts {
    /// Parts in order.
    pub parts: Vec<Uint8Array>,
}

impl PartSink for MemoryParts {
    async fn put(&mut self, part: Part) -> Result<(), TransferError> {
        if part.number as usize != self.parts.len() + 1 {
            return Err(TransferError::Format("parts out of order".into()));
        }
        self.parts.push(part.bytes);
        Ok(())
    }
}

impl MemoryParts {
    /// All parts as one Blob.
    pub fn into_blob(self) -> Result<Blob, TransferError> {
        let arr: Array = self.parts.into_iter().collect();
        Blob::new_with_u8_array_sequence(&arr).map_err(TransferError::crypto)
    }
}
