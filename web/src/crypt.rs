//! Streaming ESDK v2 encryption and decryption in the page, with WebCrypto as the bulk cipher.
//!
//! Core (`FrameEncoder` / `MessageDecoder`) writes and checks everything but the bulk cipher;
//! WebCrypto seals and opens the frames, several at once. Plaintext is read from a `Blob` a few
//! MiB at a time (`Blob.slice`), so memory stays bounded whatever the file size: at most one read
//! chunk of plaintext, its sealed frames, and the ciphertext parts the sink holds.

use std::cell::Cell;
use std::rc::Rc;

use cipherdrop_core::{
    DataKey, DecryptLimits, Event, FrameEncoder, Header, MessageDecoder, TAG_LEN,
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
    async fn put(&mut self, number: u32, part: Blob) -> Result<(), CryptError>;
}

/// Collects ciphertext pieces and cuts them into parts of exactly `part_size` bytes.
struct Packer {
    part_size: f64,
    pieces: Array,
    len: f64,
    next: u32,
}

impl Packer {
    fn new(part_size: u64) -> Self {
        Self {
            part_size: part_size as f64,
            pieces: Array::new(),
            len: 0.0,
            next: 1,
        }
    }

    fn push(&mut self, piece: &JsValue, len: usize) {
        self.pieces.push(piece);
        self.len += len as f64;
    }

    fn blob(&mut self) -> Result<Blob, CryptError> {
        let blob =
            Blob::new_with_blob_sequence(&self.pieces).map_err(|e| CryptError::Crypto(js(e)))?;
        self.pieces = Array::new();
        Ok(blob)
    }

    /// The next full part, if there is one.
    fn full_part(&mut self) -> Result<Option<(u32, Blob)>, CryptError> {
        if self.len < self.part_size {
            return Ok(None);
        }
        let all = self.blob()?;
        let part = all
            .slice_with_f64_and_f64(0.0, self.part_size)
            .map_err(|e| CryptError::Crypto(js(e)))?;
        let rest = all
            .slice_with_f64(self.part_size)
            .map_err(|e| CryptError::Crypto(js(e)))?;
        self.len -= self.part_size;
        self.pieces.push(&rest);
        let n = self.next;
        self.next += 1;
        Ok(Some((n, part)))
    }

    /// Whatever is left, as the last part.
    fn last_part(mut self) -> Result<Option<(u32, Blob)>, CryptError> {
        if self.len == 0.0 {
            return Ok(None);
        }
        Ok(Some((self.next, self.blob()?)))
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

/// Encrypts all of `source` as the body of `encoder`'s message, handing the whole message (header,
/// frames, footer) to `sink` in parts of `part_size` bytes. `progress` gets the plaintext bytes
/// encrypted so far.
pub async fn encrypt_blob<S: PartSink>(
    source: &Blob,
    mut encoder: FrameEncoder,
    part_size: u64,
    sink: &mut S,
    progress: &mut dyn FnMut(u64),
    cancel: &Cancel,
) -> Result<Sealed, CryptError> {
    let fmt = |e: cipherdrop_core::Error| CryptError::Format(e.to_string());
    let key = GcmKey::import(encoder.frame_key())
        .await
        .map_err(|e| CryptError::Crypto(js(e)))?;
    let size = source.size() as u64;
    let frame = u64::from(encoder.frame_length());
    // Regular frames, then a final frame of the remainder (empty when the size is a multiple).
    let regular = size / frame;
    let total_frames = regular + 1;
    let frames_per_read = (READ_BYTES / frame).max(1);
    let mut packer = Packer::new(part_size);
    let mut written = 0u64;
    let mut parts = 0u32;
    let header = Uint8Array::from(encoder.header());
    written += u64::from(header.length());
    packer.push(&header, header.length() as usize);

    let byte_range = |first: u64, count: u64| (first * frame, ((first + count) * frame).min(size));
    let mut next_frame = 0u64;
    let mut pending_read: Option<(u64, u64, ArrayBuffer)> = None;
    while next_frame < total_frames {
        if cancel.is_cancelled() {
            return Err(CryptError::Cancelled);
        }
        let count = frames_per_read.min(total_frames - next_frame);
        let (start, end) = byte_range(next_frame, count);
        let buf = match pending_read.take() {
            Some((s, e, b)) if s == start && e == end => b,
            _ => read(source, start, end).await?,
        };
        // Seal every frame of this chunk at once; WebCrypto copies its input when called.
        let mut sealing: Vec<(cipherdrop_core::FrameSpec, Promise)> = Vec::new();
        for i in 0..count {
            let seq = next_frame + i;
            let is_final = seq == regular;
            let (fs, fe) = byte_range(seq, 1);
            let len = (fe - fs) as usize;
            let spec = encoder.begin_frame(len, is_final).map_err(fmt)?;
            let view =
                Uint8Array::new_with_byte_offset_and_length(&buf, (fs - start) as u32, len as u32);
            let promise = key
                .seal(&spec.iv, spec.aad(), &view)
                .map_err(|e| CryptError::Crypto(js(e)))?;
            sealing.push((spec, promise));
        }
        drop(buf);
        next_frame += count;
        // Read the next chunk while this one is sealed.
        let read_ahead = if next_frame < total_frames {
            let (s, e) = byte_range(next_frame, frames_per_read.min(total_frames - next_frame));
            Some((s, e, read(source, s, e)))
        } else {
            None
        };
        let mut prefix = Vec::new();
        for (spec, promise) in sealing {
            let sealed = buffer(promise)
                .await
                .map_err(|e| CryptError::Crypto(js(e)))?;
            prefix.clear();
            if encoder.is_signed() {
                let bytes = Uint8Array::new(&sealed).to_vec();
                encoder.end_frame_external(&spec, Some(&bytes), &mut prefix)
            } else {
                encoder.end_frame_external(&spec, None, &mut prefix)
            }
            .map_err(fmt)?;
            let prefix_js = Uint8Array::from(&prefix[..]);
            packer.push(&prefix_js, prefix.len());
            packer.push(&sealed, sealed.byte_length() as usize);
            written += (prefix.len() as u64) + u64::from(sealed.byte_length());
            while let Some((n, part)) = packer.full_part()? {
                sink.put(n, part).await?;
                parts = n;
            }
        }
        progress(end);
        if let Some((s, e, fut)) = read_ahead {
            pending_read = Some((s, e, fut.await?));
        }
    }
    let footer = encoder.finish().map_err(fmt)?;
    if !footer.is_empty() {
        let footer_js = Uint8Array::from(&footer[..]);
        packer.push(&footer_js, footer.len());
        written += footer.len() as u64;
    }
    while let Some((n, part)) = packer.full_part()? {
        sink.put(n, part).await?;
        parts = n;
    }
    if let Some((n, part)) = packer.last_part()? {
        sink.put(n, part).await?;
        parts = n;
    }
    Ok(Sealed {
        ciphertext_len: written,
        parts,
    })
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
    async fn next(&mut self) -> Result<Option<Vec<u8>>, CryptError> {
        match self {
            Self::Stream(reader) => {
                let chunk = JsFuture::from(reader.read())
                    .await
                    .map_err(|e| CryptError::Read(format!("the download broke off: {}", js(e))))?;
                let done = js_sys::Reflect::get(&chunk, &"done".into())
                    .map(|d| d.is_truthy())
                    .unwrap_or(true);
                if done {
                    return Ok(None);
                }
                let value = js_sys::Reflect::get(&chunk, &"value".into())
                    .map_err(|e| CryptError::Read(js(e)))?;
                Ok(Some(Uint8Array::new(&value).to_vec()))
            }
            Self::Blob(blob, pos) => {
                let size = blob.size() as u64;
                if *pos >= size {
                    return Ok(None);
                }
                let end = (*pos + READ_BYTES).min(size);
                let buf = read(blob, *pos, end).await?;
                *pos = end;
                Ok(Some(Uint8Array::new(&buf).to_vec()))
            }
        }
    }
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
    let mut written = 0u64;
    let mut read = 0u64;
    while let Some(bytes) = source.next().await? {
        if cancel.is_cancelled() {
            return Err(CryptError::Cancelled);
        }
        read += bytes.len() as u64;
        let mut input = &bytes[..];
        let mut opening = Vec::new();
        loop {
            match decoder.next(&mut input).map_err(integrity)? {
                Event::NeedInput | Event::Done => break,
                Event::NeedDataKey => {
                    decoder.set_data_key(data_key).map_err(integrity)?;
                    let frame_key = decoder
                        .frame_key()
                        .ok_or_else(|| CryptError::Format("no frame key".into()))?;
                    key = Some(
                        GcmKey::import(frame_key)
                            .await
                            .map_err(|e| CryptError::Crypto(js(e)))?,
                    );
                }
                Event::Frame(frame) => {
                    let Some(key) = key.as_ref() else {
                        return Err(CryptError::Format("frame before key".into()));
                    };
                    let n = frame.ciphertext.len();
                    let sealed = Uint8Array::new_with_length((n + TAG_LEN) as u32);
                    sealed.subarray(0, n as u32).copy_from(frame.ciphertext);
                    sealed
                        .subarray(n as u32, (n + TAG_LEN) as u32)
                        .copy_from(&frame.tag);
                    let promise = key
                        .open(&frame.iv, frame.aad(), &sealed)
                        .map_err(|e| CryptError::Crypto(js(e)))?;
                    opening.push(promise);
                }
            }
        }
        for promise in opening {
            let plain = buffer(promise).await.map_err(|_| {
                CryptError::Integrity("a frame's authentication tag did not verify".into())
            })?;
            written += u64::from(plain.byte_length());
            sink.write(&plain).await?;
        }
        progress(read);
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

/// A part sink that keeps the parts in memory (tests, benchmarks, the inspector).
#[derive(Default)]
pub struct MemoryParts {
    /// Parts in order.
    pub parts: Vec<Blob>,
}

impl PartSink for MemoryParts {
    async fn put(&mut self, number: u32, part: Blob) -> Result<(), CryptError> {
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
        Blob::new_with_blob_sequence(&arr).map_err(|e| CryptError::Crypto(js(e)))
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
