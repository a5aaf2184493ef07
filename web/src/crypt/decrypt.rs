//! Decryption of a message stream in the page: the bytes stay in the stream's own chunks while
//! core's `MessageDecoder` says where each frame lies, WebCrypto opens several frames at once (in
//! sealing workers where they run) while the next bytes arrive, and plaintext goes to a sink in
//! order, each frame only after its tag verified; also the inspector's first frame.

use std::collections::VecDeque;
use std::ops::Range;

use cipherdrop_core::{
    DataKey, DecryptLimits, Event, FramePos, Header, MessageDecoder, SealedFrame, Step, TAG_LEN,
};
use js_sys::{Array, ArrayBuffer, Promise, Uint8Array};
use web_sys::Blob;

use super::import;
use crate::browser::js_error_name;
use crate::error::{Cancel, TransferError};
use crate::subtle::{GcmKey, buffer};
use crate::transfer::read::{Reader, Source};

/// Where decrypted plaintext goes (a file being saved, or memory).
#[allow(async_fn_in_trait)] // the browser is single-threaded: these futures are never Send
pub trait PlainSink {
    /// Appends verified plaintext (an `ArrayBuffer`).
    async fn write(&mut self, plaintext: &ArrayBuffer) -> Result<(), TransferError>;
}

/// What decrypting found.
#[derive(Debug)]
pub struct Opened {
    /// The message header.
    pub header: Header,
    /// Plaintext bytes written to the sink.
    pub plaintext_len: u64,
}

/// Gives `decoder` the data key (it checks the key commitment and the header tag) and imports
/// the frame key it derived into the bulk cipher.
async fn unlock(decoder: &mut MessageDecoder, data_key: &DataKey) -> Result<GcmKey, TransferError> {
    decoder
        .set_data_key(data_key)
        .map_err(TransferError::integrity)?;
    let frame_key = decoder
        .frame_key()
        .ok_or_else(|| TransferError::Format("no frame key".into()))?;
    let frame_len = decoder.header().map_or(0, |h| h.frame_length);
    import(frame_key, frame_len).await
}

/// Starts opening `frame` (a frame already in wasm memory: the inspector's first frame) with
/// `key`, its `ciphertext ‖ tag` copied into a buffer of the key's.
fn open_frame(key: Option<&GcmKey>, frame: &SealedFrame<'_>) -> Result<Promise, TransferError> {
    let key = key.ok_or_else(|| TransferError::Format("frame before key".into()))?;
    let n = frame.ciphertext.len() as u32;
    let sealed = key.buffer(n + TAG_LEN as u32);
    sealed.subarray(0, n).copy_from(frame.ciphertext);
    sealed.subarray(n, sealed.length()).copy_from(&frame.tag);
    key.open(&frame.iv, frame.aad(), &sealed)
        .map_err(TransferError::crypto)
}

/// The message bytes read and not yet decoded, kept as the stream handed them out or as they
/// were read into their buffers (JavaScript memory, never copied into wasm): the decoder is
/// shown the head it asks for, and each frame's `ciphertext ‖ tag` goes to its cipher as the
/// buffer it was read into, or copied once, by the browser, into the buffer its cipher opens.
#[derive(Default)]
struct Held {
    /// The chunks and their lengths (kept apart: a chunk whose buffer moved to a worker reads
    /// as empty).
    chunks: VecDeque<(Uint8Array, u32)>,
    /// Bytes of the first chunk already decoded.
    skip: u32,
    /// Bytes held.
    len: usize,
}

impl Held {
    fn push(&mut self, chunk: Uint8Array) {
        let len = chunk.length();
        if len > 0 {
            self.len += len as usize;
            self.chunks.push_back((chunk, len));
        }
    }

    /// Views of the held bytes `range` (positions from the first byte held), chunk by chunk.
    fn views(&self, range: Range<usize>) -> impl Iterator<Item = Uint8Array> + '_ {
        let mut at = 0usize; // position of the current chunk's first held byte
        self.chunks
            .iter()
            .enumerate()
            .filter_map(move |(i, (chunk, chunk_len))| {
                let from = if i == 0 { self.skip } else { 0 };
                let len = (chunk_len - from) as usize;
                let (start, end) = (at, at + len);
                at = end;
                let (a, b) = (range.start.max(start), range.end.min(end));
                (a < b)
                    .then(|| chunk.subarray(from + (a - start) as u32, from + (b - start) as u32))
            })
    }

    /// The first `n` held bytes, copied into `head` (wasm memory).
    fn head(&self, n: usize, head: &mut Vec<u8>) {
        head.clear();
        head.resize(n.min(self.len), 0);
        let mut at = 0;
        for view in self.views(0..head.len()) {
            let len = view.length() as usize;
            if let Some(dst) = head.get_mut(at..at + len) {
                view.copy_to(dst);
            }
            at += len;
        }
    }

    /// The held bytes `range` as one array: a view of the chunk that holds them all, if one does.
    fn within_one_chunk(&self, range: Range<usize>) -> Option<Uint8Array> {
        let mut views = self.views(range.clone());
        let first = views.next()?;
        (views.next().is_none() && first.length() as usize == range.len()).then_some(first)
    }

    /// Copies the held bytes `range` into `dst` from its start (one copy, in the browser).
    fn copy_to(&self, range: Range<usize>, dst: &Uint8Array) {
        let mut at = 0;
        for view in self.views(range) {
            dst.set(&view, at);
            at += view.length();
        }
    }

    /// Drops the first `n` held bytes.
    fn consume(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let Some((_, len)) = self.chunks.front() else {
                break;
            };
            let left = (len - self.skip) as usize;
            if n < left {
                self.skip += n as u32;
                return;
            }
            n -= left;
            self.chunks.pop_front();
            self.skip = 0;
        }
    }
}

/// Whether `view` is all of its buffer (so the buffer can move to a worker as it is).
fn whole_buffer(view: &Uint8Array) -> bool {
    view.byte_offset() == 0 && view.byte_length() == view.buffer().byte_length()
}

/// Starts opening the frame at `pos` of the bytes `held` with `key`: the chunk that holds all
/// of `ciphertext ‖ tag` where the cipher copies its input (WebCrypto on the page's thread) or
/// the chunk is a whole buffer (read exactly, which moves to a sealing worker as it is); else
/// one copy into `scratch` (reused: the cipher copies it before `open` returns) or into a
/// buffer that moves to a sealing worker. Returns the input it used.
fn open_held(
    key: Option<&GcmKey>,
    pos: &FramePos,
    held: &Held,
    scratch: &mut Uint8Array,
) -> Result<(Promise, Uint8Array), TransferError> {
    let key = key.ok_or_else(|| TransferError::Format("frame before key".into()))?;
    let range = pos.sealed();
    let need = range.len() as u32;
    let input = match held.within_one_chunk(range.clone()) {
        Some(view) if !key.takes_input() || whole_buffer(&view) => view,
        _ => {
            if scratch.length() < need || key.takes_input() {
                *scratch = key.buffer(need);
            }
            let sealed = scratch.subarray(0, need);
            held.copy_to(range, &sealed);
            sealed
        }
    };
    let promise = key
        .open(&pos.iv, pos.aad(), &input)
        .map_err(TransferError::crypto)?;
    Ok((promise, input))
}

/// Bytes of a frame's head shown to the decoder at first: enough for any unsigned frame's
/// (24), so it is located in one step.
const HEAD: usize = 32;

/// Bytes every body element has at least before its ciphertext (a regular frame's sequence
/// number and IV; a final frame's and an unframed body's heads are longer): read at once when
/// reading exactly, so that a frame's head takes one read, or two for the final frame.
const ELEMENT_HEAD: usize = 16;

/// Decrypts the message from `source` with `data_key`, writing plaintext to `sink` frame by
/// frame, each only after its tag verified (the final one of a signed message only after the
/// signature verified). The source's bytes stay in JavaScript memory (core's decoder sees each
/// frame's head, and the whole frame only for a signed suite, whose signature hashes it).
/// Where the stream has a BYOB reader (a Blob's, a response body in Chromium), each element is
/// read exactly: a frame's head, then its `ciphertext ‖ tag` straight into the buffer its
/// cipher opens, which moves to a sealing worker and comes back to be read into again. Else
/// chunks are taken as the stream hands them out, and each frame is copied once into the
/// buffer its cipher opens. An error means the output is not the file: the caller must discard
/// whatever the sink received.
pub async fn decrypt_source<S: PlainSink>(
    source: Source,
    data_key: &DataKey,
    limits: DecryptLimits,
    sink: &mut S,
    progress: &mut dyn FnMut(u64),
    cancel: &Cancel,
) -> Result<Opened, TransferError> {
    let mut reader = Reader::exact(source)?;
    let exact = reader.is_byob();
    let mut decoder = MessageDecoder::new(limits);
    let mut key: Option<GcmKey> = None;
    let mut opening = VecDeque::new();
    let mut scratch = Uint8Array::new_with_length(0);
    let mut held = Held::default();
    let mut head = Vec::with_capacity(HEAD);
    let mut want = HEAD;
    let mut in_body = false;
    let mut ended = false;
    let mut written = 0u64;
    let mut read = 0u64;
    loop {
        held.head(want, &mut head);
        match decoder
            .step(&head, held.len)
            .map_err(TransferError::integrity)?
        {
            Step::Need {
                head: n,
                held: need,
            } => {
                want = n.max(HEAD);
                while held.len < need && !ended {
                    if cancel.is_cancelled() {
                        return Err(TransferError::Cancelled);
                    }
                    let chunk = if exact {
                        // The rest of the head the decoder asked for (at least an element's
                        // head in the body), or the rest of the element, into its cipher's
                        // buffer.
                        let into = if held.len < n {
                            let to = if in_body { n.max(ELEMENT_HEAD) } else { n };
                            Uint8Array::new_with_length((to - held.len) as u32)
                        } else {
                            let len = (need - held.len) as u32;
                            match &key {
                                Some(k) if k.takes_input() => k.buffer(len),
                                _ if scratch.length() == len => scratch.clone(),
                                _ => Uint8Array::new_with_length(len),
                            }
                        };
                        let asked = into.length();
                        let chunk = reader.read_exact(into).await?;
                        ended = chunk.length() < asked;
                        Some(chunk)
                    } else {
                        reader.next_chunk().await?
                    };
                    match chunk {
                        Some(chunk) => {
                            read += u64::from(chunk.length());
                            held.push(chunk);
                            progress(read);
                        }
                        None => ended = true,
                    }
                    if exact && held.len < n {
                        break; // show the decoder what it asked for first
                    }
                }
                if held.len < need && ended {
                    // The stream ended inside an element, or where the message goes on.
                    decoder.finish().map_err(TransferError::integrity)?;
                    return Err(TransferError::Integrity("the message is cut short".into()));
                }
            }
            Step::Header(len) => {
                held.consume(len);
                want = HEAD;
                in_body = true;
            }
            Step::NeedDataKey => key = Some(unlock(&mut decoder, data_key).await?),
            Step::Frame(pos) => {
                let (promise, input) = open_held(key.as_ref(), &pos, &held, &mut scratch)?;
                opening.push_back(promise);
                held.consume(pos.len);
                if exact && key.as_ref().is_some_and(|k| !k.takes_input()) && whole_buffer(&input) {
                    // The cipher copied it: the next frame is read into the same buffer.
                    scratch = input;
                }
                want = HEAD;
                // Frames are opened while the next bytes arrive; plaintext goes out in order.
                let in_flight = key.as_ref().map_or(4, GcmKey::parallelism);
                while opening.len() > in_flight {
                    written += open_next(&mut opening, sink).await?;
                }
            }
            Step::Done => {
                // Nothing may follow the message's last byte.
                while !ended {
                    match reader.next_chunk().await? {
                        Some(chunk) if chunk.length() > 0 => {
                            held.push(chunk);
                            decoder
                                .step(&[], held.len)
                                .map_err(TransferError::integrity)?;
                        }
                        Some(_) => {}
                        None => ended = true,
                    }
                }
                break;
            }
        }
    }
    while !opening.is_empty() {
        written += open_next(&mut opening, sink).await?;
    }
    decoder.finish().map_err(TransferError::integrity)?;
    let header = decoder
        .header()
        .cloned()
        .ok_or_else(|| TransferError::Integrity("no header".into()))?;
    Ok(Opened {
        header,
        plaintext_len: written,
    })
}

/// Awaits the oldest frame being opened and hands its plaintext to `sink`; its length.
async fn open_next<S: PlainSink>(
    opening: &mut VecDeque<Promise>,
    sink: &mut S,
) -> Result<u64, TransferError> {
    let Some(promise) = opening.pop_front() else {
        return Ok(0);
    };
    let plain = buffer(promise).await.map_err(|e| {
        if js_error_name(&e) == "OperationError" {
            TransferError::Integrity("a frame's authentication tag did not verify".into())
        } else {
            TransferError::crypto(e)
        }
    })?;
    // Counted first: a sink may free the buffer once written.
    let len = u64::from(plain.byte_length());
    sink.write(&plain).await?;
    Ok(len)
}

/// The plaintext of the first frame of the message that `message_head` begins (which must
/// reach the end of that frame), decrypted with `data_key` and verified.
pub async fn first_frame(
    message_head: &[u8],
    data_key: &DataKey,
) -> Result<Vec<u8>, TransferError> {
    let mut decoder = MessageDecoder::new(DecryptLimits::default());
    let mut input = message_head;
    let mut key: Option<GcmKey> = None;
    loop {
        match decoder.next(&mut input).map_err(TransferError::integrity)? {
            Event::NeedDataKey => key = Some(unlock(&mut decoder, data_key).await?),
            Event::Frame(frame) => {
                let promise = open_frame(key.as_ref(), &frame)?;
                let plain = buffer(promise).await.map_err(|_| {
                    TransferError::Integrity("the first frame's tag did not verify".into())
                })?;
                return Ok(Uint8Array::new(&plain).to_vec());
            }
            Event::NeedInput | Event::Done => {
                return Err(TransferError::Integrity(
                    "the message ended before its first frame".into(),
                ));
            }
        }
    }
}

/// A plaintext sink that keeps the plaintext as Blob pieces (offered to the user only at the end).
#[derive(Default)]
pub struct MemoryPlain {
    pieces: Vec<ArrayBuffer>,
}

impl PlainSink for MemoryPlain {
    async fn write(&mut self, plaintext: &ArrayBuffer) -> Result<(), TransferError> {
        self.pieces.push(plaintext.clone());
        Ok(())
    }
}

impl MemoryPlain {
    /// Everything written, as one Blob.
    pub fn into_blob(self) -> Result<Blob, TransferError> {
        let arr: Array = self.pieces.into_iter().collect();
        Blob::new_with_buffer_source_sequence(&arr).map_err(TransferError::crypto)
    }
}
