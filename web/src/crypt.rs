//! Streaming ESDK v2 encryption and decryption in the page, with WebCrypto as the bulk cipher.
//!
//! Core (`FrameEncoder` / `MessageDecoder`) writes and checks everything but the bulk cipher;
//! WebCrypto seals and opens the frames, several at once. Plaintext is read from a `Blob` a few
//! MiB at a time (`Blob.slice`), so memory stays bounded whatever the file size: at most one read
//! chunk of plaintext, its sealed frames, and the ciphertext parts the sink holds.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;

use cipherdrop_core::{
    DataKey, DecryptLimits, Event, FrameEncoder, FrameSpec, Header, MessageDecoder, TAG_LEN,
};
use js_sys::{Array, ArrayBuffer, Promise, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, ReadableStreamDefaultReader};

use crate::browser::js_error_message;
use crate::subtle::{GcmKey, buffer};

/// Plaintext bytes read from the file per step (whole frames; at least one frame).
pub const READ_BYTES: u64 = 4 * 1024 * 1024;

/// A cancel flag shared by the page and a running job.
#[derive(Clone, Default, Debug)]
pub struct Cancel(Rc<Cell<bool>>);

impl Cancel {
    /// Asks the job to stop.
    pub fn cancel(&self) {
        self.0.set(true);
    }

    /// Whether stopping was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.get()
    }
}

impl PartialEq for Cancel {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// Why encrypting or decrypting stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum CryptError {
    /// The user cancelled.
    Cancelled,
    /// The file could not be read (for example it changed or was removed while reading).
    Read(String),
    /// The browser's crypto failed for a reason other than a bad tag.
    Crypto(String),
    /// The message is not authentic or not well formed: changed, damaged or truncated.
    Integrity(String),
    /// The destination failed (upload or save).
    Sink(String),
    /// Misuse of the format API (a bug on this page).
    Format(String),
}

impl std::fmt::Display for CryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cancelled => write!(f, "Cancelled."),
            Self::Read(e) => write!(f, "The file could not be read: {e}"),
            Self::Crypto(e) => write!(f, "The browser's cryptography failed: {e}"),
            Self::Integrity(e) => write!(
                f,
                "Integrity check failed: the stored file was changed or damaged ({e}). \
                 Nothing was saved."
            ),
            Self::Sink(e) => write!(f, "{e}"),
            Self::Format(e) => write!(f, "Internal error: {e}"),
        }
    }
}

fn js<E: Into<JsValue>>(e: E) -> String {
    js_error_message(&e.into())
}

/// Where ciphertext parts go (an S3 multipart upload, or memory in tests and benchmarks).
#[allow(async_fn_in_trait)] // the browser is single-threaded: these futures are never Send
pub trait PartSink {
    /// Takes part `number` (from 1). May wait before returning, to bound what is in flight.
    async fn put(&mut self, number: u32, part: Uint8Array) -> Result<(), CryptError>;

    /// Where the sink returns part buffers it no longer needs (none by default).
    fn pool(&self) -> BufferPool {
        BufferPool::default()
    }
}

/// Part buffers a sink has finished with, for the packer to fill again: reusing them keeps the
/// tab's memory flat (fresh multi-MiB buffers are garbage the collector reclaims late).
#[derive(Clone, Default)]
pub struct BufferPool(Rc<std::cell::RefCell<Vec<Uint8Array>>>);

impl BufferPool {
    /// Hands a part back (the whole buffer is reused, whatever view of it the sink got).
    pub fn recycle(&self, part: &Uint8Array) {
        let mut pool = self.0.borrow_mut();
        if pool.len() < 16 {
            pool.push(Uint8Array::new(&part.buffer()));
        }
    }

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

/// Collects ciphertext into part buffers of exactly `part_size` bytes (the last may be shorter).
/// Copying into a plain buffer is several times faster than assembling Blobs.
struct Packer {
    part_size: u32,
    buf: Uint8Array,
    fill: u32,
    next: u32,
    pool: BufferPool,
}

impl Packer {
    fn new(part_size: u64, pool: BufferPool) -> Result<Self, CryptError> {
        let part_size = u32::try_from(part_size)
            .ok()
            .filter(|&p| p > 0 && p <= 1 << 31)
            .ok_or_else(|| CryptError::Format(format!("part size {part_size} out of range")))?;
        Ok(Self {
            part_size,
            buf: pool.take(part_size),
            fill: 0,
            next: 1,
            pool,
        })
    }

    /// Copies `data` in; returns the parts it completed.
    fn write(&mut self, data: &Uint8Array) -> Vec<(u32, Uint8Array)> {
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
                done.push((self.next, full));
                self.next += 1;
            }
        }
        done
    }

    /// Whatever is left, as the last part.
    fn last_part(self) -> Option<(u32, Uint8Array)> {
        (self.fill > 0).then(|| (self.next, self.buf.subarray(0, self.fill)))
    }
}

/// What encrypting produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Sealed {
    /// Ciphertext bytes written.
    pub ciphertext_len: u64,
    /// Parts handed to the sink.
    pub parts: u32,
}

async fn read(blob: &Blob, start: u64, end: u64) -> Result<ArrayBuffer, CryptError> {
    let slice = blob
        .slice_with_f64_and_f64(start as f64, end as f64)
        .map_err(|e| CryptError::Read(js(e)))?;
    JsFuture::from(slice.array_buffer())
        .await
        .and_then(|b| b.dyn_into::<ArrayBuffer>())
        .map_err(|e| CryptError::Read(js(e)))
}

/// Bytes `start .. end` of `blob`, copied into wasm memory.
pub async fn read_bytes(blob: &Blob, start: u64, end: u64) -> Result<Vec<u8>, CryptError> {
    let buf = read(blob, start, end).await?;
    Ok(Uint8Array::new(&buf).to_vec())
}

/// Frames being sealed (or opened) by WebCrypto at once.
const SEALING: usize = 4;

/// The message being written: encoder, cipher, packer and sink, frame by frame.
struct Writer<'s, S: PartSink> {
    encoder: FrameEncoder,
    key: GcmKey,
    packer: Packer,
    sink: &'s mut S,
    sealing: VecDeque<(FrameSpec, Promise)>,
    written: u64,
    parts: u32,
    prefix: Vec<u8>,
}

impl<S: PartSink> Writer<'_, S> {
    async fn emit(&mut self, data: &Uint8Array) -> Result<(), CryptError> {
        self.written += u64::from(data.length());
        for (n, part) in self.packer.write(data) {
            self.sink.put(n, part).await?;
            self.parts = n;
        }
        Ok(())
    }

    /// Starts sealing `plaintext` (WebCrypto copies it at once, so the caller may reuse it).
    async fn seal(&mut self, plaintext: &Uint8Array, is_final: bool) -> Result<(), CryptError> {
        let spec = self
            .encoder
            .begin_frame(plaintext.length() as usize, is_final)
            .map_err(|e| CryptError::Format(e.to_string()))?;
        let promise = self
            .key
            .seal(&spec.iv, spec.aad(), plaintext)
            .map_err(|e| CryptError::Crypto(js(e)))?;
        self.sealing.push_back((spec, promise));
        while self.sealing.len() >= SEALING {
            self.finish_oldest().await?;
        }
        Ok(())
    }

    /// Waits for the oldest frame being sealed and writes it out.
    async fn finish_oldest(&mut self) -> Result<(), CryptError> {
        let Some((spec, promise)) = self.sealing.pop_front() else {
            return Ok(());
        };
        let sealed_buf = buffer(promise)
            .await
            .map_err(|e| CryptError::Crypto(js(e)))?;
        let sealed = Uint8Array::new(&sealed_buf);
        self.prefix.clear();
        if self.encoder.is_signed() {
            let bytes = sealed.to_vec();
            self.encoder
                .end_frame_external(&spec, Some(&bytes), &mut self.prefix)
        } else {
            self.encoder
                .end_frame_external(&spec, None, &mut self.prefix)
        }
        .map_err(|e| CryptError::Format(e.to_string()))?;
        let prefix = Uint8Array::from(&self.prefix[..]);
        self.emit(&prefix).await?;
        self.emit(&sealed).await
    }
}

/// Reads a Blob frame by frame into one reused buffer: with a BYOB reader the browser writes
/// straight into it (no copy, no garbage); otherwise stream chunks are copied in.
enum FrameReader {
    Byob {
        reader: JsValue,
        buf: Uint8Array,
    },
    Chunks {
        source: Source,
        buf: Uint8Array,
        rest: Option<Uint8Array>,
    },
}

impl FrameReader {
    fn new(blob: &Blob, capacity: u32) -> Result<Self, CryptError> {
        let buf = Uint8Array::new_with_length(capacity);
        let byob = crate::browser::byob_reader(blob);
        if !byob.is_null() && !byob.is_undefined() {
            return Ok(Self::Byob { reader: byob, buf });
        }
        let reader = blob
            .stream()
            .get_reader()
            .dyn_into::<ReadableStreamDefaultReader>()
            .map_err(|e| CryptError::Read(js(e)))?;
        Ok(Self::Chunks {
            source: Source::Stream(reader),
            buf,
            rest: None,
        })
    }

    /// The next `want` bytes (fewer only at the end of the file), valid until the next call.
    async fn fill(&mut self, want: u32) -> Result<Uint8Array, CryptError> {
        let mut got = 0;
        match self {
            Self::Byob { reader, buf } => {
                while got < want {
                    let view = buf.subarray(got, want);
                    let read = crate::browser::byob_read(reader, &view)
                        .await
                        .map_err(|e| CryptError::Read(format!("reading broke off: {}", js(e))))?;
                    if read.is_null() {
                        break;
                    }
                    let read: Uint8Array = read.unchecked_into();
                    // The read detached our buffer and handed it back as `read.buffer`.
                    *buf = Uint8Array::new(&read.buffer());
                    got += read.length();
                }
                Ok(buf.subarray(0, got))
            }
            Self::Chunks { source, buf, rest } => {
                while got < want {
                    let chunk = match rest.take() {
                        Some(c) => c,
                        None => match source.next_js().await? {
                            Some(c) => c,
                            None => break,
                        },
                    };
                    let take = chunk.length().min(want - got);
                    buf.set(&chunk.subarray(0, take), got);
                    got += take;
                    if take < chunk.length() {
                        *rest = Some(chunk.subarray(take, chunk.length()));
                    }
                }
                Ok(buf.subarray(0, got))
            }
        }
    }

    /// Whether the file has no more bytes.
    async fn at_end(&mut self) -> Result<bool, CryptError> {
        match self {
            Self::Byob { reader, .. } => {
                let scratch = Uint8Array::new_with_length(1);
                let read = crate::browser::byob_read(reader, &scratch)
                    .await
                    .map_err(|e| CryptError::Read(js(e)))?;
                Ok(read.is_null())
            }
            Self::Chunks { source, rest, .. } => {
                if rest.as_ref().is_some_and(|r| r.length() > 0) {
                    return Ok(false);
                }
                Ok(source.next_js().await?.is_none())
            }
        }
    }
}

/// Encrypts all of `source` as the body of `encoder`'s message, handing the whole message (header,
/// frames, footer) to `sink` in parts of `part_size` bytes. `progress` gets the plaintext bytes
/// read so far. The file is read as a stream (`Blob.stream()`), frames are assembled in one
/// reused buffer, and up to four frames are sealed at once.
pub async fn encrypt_blob<S: PartSink>(
    source: &Blob,
    encoder: FrameEncoder,
    part_size: u64,
    sink: &mut S,
    progress: &mut dyn FnMut(u64),
    cancel: &Cancel,
) -> Result<Sealed, CryptError> {
    let key = GcmKey::import(encoder.frame_key())
        .await
        .map_err(|e| CryptError::Crypto(js(e)))?;
    let size = source.size() as u64;
    let frame = u64::from(encoder.frame_length());
    // Regular frames, then a final frame of the remainder (empty when the size is a multiple).
    let regular = size / frame;
    let final_len = (size % frame) as u32;
    let header = Uint8Array::from(encoder.header());
    let mut w = Writer {
        encoder,
        key,
        packer: Packer::new(part_size, sink.pool())?,
        sink,
        sealing: VecDeque::new(),
        written: 0,
        parts: 0,
        prefix: Vec::new(),
    };
    w.emit(&header).await?;

    let mut reader = FrameReader::new(source, frame.min(size.max(1)) as u32)?;
    let changed = || CryptError::Read("the file changed while it was being read".into());
    let mut consumed = 0u64;
    for index in 0..=regular {
        if cancel.is_cancelled() {
            return Err(CryptError::Cancelled);
        }
        let is_final = index == regular;
        let want = if is_final { final_len } else { frame as u32 };
        let plaintext = reader.fill(want).await?;
        if plaintext.length() != want {
            return Err(changed());
        }
        consumed += u64::from(want);
        w.seal(&plaintext, is_final).await?;
        progress(consumed);
        if index % 4 == 3 {
            crate::browser::yield_to_page().await;
        }
    }
    if !reader.at_end().await? {
        return Err(changed());
    }
    while !w.sealing.is_empty() {
        w.finish_oldest().await?;
    }
    let Writer {
        encoder,
        mut packer,
        sink,
        mut parts,
        mut written,
        ..
    } = w;
    let footer = encoder
        .finish()
        .map_err(|e| CryptError::Format(e.to_string()))?;
    written += footer.len() as u64;
    for (n, part) in packer.write(&Uint8Array::from(&footer[..])) {
        sink.put(n, part).await?;
        parts = n;
    }
    if let Some((n, part)) = packer.last_part() {
        sink.put(n, part).await?;
        parts = n;
    }
    Ok(Sealed {
        ciphertext_len: written,
        parts,
    })
}

/// Hands `source` unchanged to `sink` in parts of `part_size`, read and packed exactly as
/// [`encrypt_blob`] does: the benchmarks' "upload without encryption" reference.
pub async fn pack_blob<S: PartSink>(
    source: &Blob,
    part_size: u64,
    sink: &mut S,
) -> Result<u32, CryptError> {
    let reader = source
        .stream()
        .get_reader()
        .dyn_into::<ReadableStreamDefaultReader>()
        .map_err(|e| CryptError::Read(js(e)))?;
    let mut source = Source::Stream(reader);
    let mut packer = Packer::new(part_size, sink.pool())?;
    let mut parts = 0;
    while let Some(chunk) = source.next_js().await? {
        for (n, part) in packer.write(&chunk) {
            sink.put(n, part).await?;
            parts = n;
        }
    }
    if let Some((n, part)) = packer.last_part() {
        sink.put(n, part).await?;
        parts = n;
    }
    Ok(parts)
}

/// Where decrypted plaintext goes (a file being saved, or memory).
#[allow(async_fn_in_trait)] // the browser is single-threaded: these futures are never Send
pub trait PlainSink {
    /// Appends verified plaintext (an `ArrayBuffer`).
    async fn write(&mut self, plaintext: &ArrayBuffer) -> Result<(), CryptError>;
}

/// What decrypting found.
#[derive(Debug)]
pub struct Opened {
    /// The message header.
    pub header: Header,
    /// Plaintext bytes written to the sink.
    pub plaintext_len: u64,
}

/// A source of message bytes: a fetch body or a Blob, read in pieces.
pub enum Source {
    /// A `ReadableStream` reader (a download).
    Stream(ReadableStreamDefaultReader),
    /// A Blob, read `READ_BYTES` at a time.
    Blob(Blob, u64),
}

impl Source {
    /// The next chunk as a JavaScript array (no copy into wasm).
    async fn next_js(&mut self) -> Result<Option<Uint8Array>, CryptError> {
        match self {
            Self::Stream(reader) => {
                let chunk = JsFuture::from(reader.read())
                    .await
                    .map_err(|e| CryptError::Read(format!("reading broke off: {}", js(e))))?;
                let done = js_sys::Reflect::get(&chunk, &"done".into())
                    .map(|d| d.is_truthy())
                    .unwrap_or(true);
                if done {
                    return Ok(None);
                }
                let value = js_sys::Reflect::get(&chunk, &"value".into())
                    .map_err(|e| CryptError::Read(js(e)))?;
                Ok(Some(value.unchecked_into::<Uint8Array>()))
            }
            Self::Blob(blob, pos) => {
                let size = blob.size() as u64;
                if *pos >= size {
                    return Ok(None);
                }
                let end = (*pos + READ_BYTES).min(size);
                let buf = read(blob, *pos, end).await?;
                *pos = end;
                Ok(Some(Uint8Array::new(&buf)))
            }
        }
    }

    async fn next(&mut self) -> Result<Option<Vec<u8>>, CryptError> {
        Ok(self.next_js().await?.map(|a| a.to_vec()))
    }
}

/// Gives `decoder` the data key (it checks the key commitment and the header tag) and imports
/// the frame key it derived into the bulk cipher.
pub(crate) async fn unlock(
    decoder: &mut MessageDecoder,
    data_key: &DataKey,
) -> Result<GcmKey, CryptError> {
    decoder
        .set_data_key(data_key)
        .map_err(|e| CryptError::Integrity(e.to_string()))?;
    let frame_key = decoder
        .frame_key()
        .ok_or_else(|| CryptError::Format("no frame key".into()))?;
    GcmKey::import(frame_key)
        .await
        .map_err(|e| CryptError::Crypto(js(e)))
}

/// Decrypts the message from `source` with `data_key`, writing plaintext to `sink` frame by
/// frame, each only after its tag verified (the final one of a signed message only after the
/// signature verified). An error means the output is not the file: the caller must discard
/// whatever the sink received.
pub async fn decrypt_source<S: PlainSink>(
    mut source: Source,
    data_key: &DataKey,
    limits: DecryptLimits,
    sink: &mut S,
    progress: &mut dyn FnMut(u64),
    cancel: &Cancel,
) -> Result<Opened, CryptError> {
    let integrity = |e: cipherdrop_core::Error| CryptError::Integrity(e.to_string());
    let mut decoder = MessageDecoder::new(limits);
    let mut key: Option<GcmKey> = None;
    let mut opening = VecDeque::new();
    let mut scratch = Uint8Array::new_with_length(0);
    let mut written = 0u64;
    let mut read = 0u64;
    while let Some(bytes) = source.next().await? {
        if cancel.is_cancelled() {
            return Err(CryptError::Cancelled);
        }
        read += bytes.len() as u64;
        let mut input = &bytes[..];
        loop {
            match decoder.next(&mut input).map_err(integrity)? {
                Event::NeedInput | Event::Done => break,
                Event::NeedDataKey => key = Some(unlock(&mut decoder, data_key).await?),
                Event::Frame(frame) => {
                    let Some(key) = key.as_ref() else {
                        return Err(CryptError::Format("frame before key".into()));
                    };
                    let n = frame.ciphertext.len();
                    // WebCrypto copies its input before `open` returns: one buffer serves all frames.
                    let need = (n + TAG_LEN) as u32;
                    if scratch.length() < need {
                        scratch = Uint8Array::new_with_length(need);
                    }
                    let sealed = scratch.subarray(0, need);
                    sealed.subarray(0, n as u32).copy_from(frame.ciphertext);
                    sealed
                        .subarray(n as u32, (n + TAG_LEN) as u32)
                        .copy_from(&frame.tag);
                    let promise = key
                        .open(&frame.iv, frame.aad(), &sealed)
                        .map_err(|e| CryptError::Crypto(js(e)))?;
                    opening.push_back(promise);
                }
            }
        }
        // Frames are opened while the next bytes arrive; plaintext goes out in order.
        while opening.len() > SEALING {
            written += open_next(&mut opening, sink).await?;
        }
        progress(read);
    }
    while !opening.is_empty() {
        written += open_next(&mut opening, sink).await?;
    }
    decoder.finish().map_err(integrity)?;
    let header = decoder
        .header()
        .cloned()
        .ok_or_else(|| CryptError::Integrity("no header".into()))?;
    Ok(Opened {
        header,
        plaintext_len: written,
    })
}

/// Awaits the oldest frame being opened and hands its plaintext to `sink`; its length.
async fn open_next<S: PlainSink>(
    opening: &mut VecDeque<Promise>,
    sink: &mut S,
) -> Result<u64, CryptError> {
    let Some(promise) = opening.pop_front() else {
        return Ok(0);
    };
    let plain = buffer(promise)
        .await
        .map_err(|_| CryptError::Integrity("a frame's authentication tag did not verify".into()))?;
    sink.write(&plain).await?;
    Ok(u64::from(plain.byte_length()))
}

/// A part sink that keeps the parts in memory (tests, benchmarks, the inspector).
#[derive(Default)]
pub struct MemoryParts {
    /// Parts in order.
    pub parts: Vec<Uint8Array>,
}

impl PartSink for MemoryParts {
    async fn put(&mut self, number: u32, part: Uint8Array) -> Result<(), CryptError> {
        if number as usize != self.parts.len() + 1 {
            return Err(CryptError::Format("parts out of order".into()));
        }
        self.parts.push(part);
        Ok(())
    }
}

impl MemoryParts {
    /// All parts as one Blob.
    pub fn into_blob(self) -> Result<Blob, CryptError> {
        let arr: Array = self.parts.into_iter().collect();
        Blob::new_with_u8_array_sequence(&arr).map_err(|e| CryptError::Crypto(js(e)))
    }
}

/// A plaintext sink that keeps the plaintext as Blob pieces (offered to the user only at the end).
#[derive(Default)]
pub struct MemoryPlain {
    pieces: Vec<ArrayBuffer>,
}

impl PlainSink for MemoryPlain {
    async fn write(&mut self, plaintext: &ArrayBuffer) -> Result<(), CryptError> {
        self.pieces.push(plaintext.clone());
        Ok(())
    }
}

impl MemoryPlain {
    /// Everything written, as one Blob.
    pub fn into_blob(self) -> Result<Blob, CryptError> {
        let arr: Array = self.pieces.into_iter().collect();
        Blob::new_with_buffer_source_sequence(&arr).map_err(|e| CryptError::Crypto(js(e)))
    }
}
