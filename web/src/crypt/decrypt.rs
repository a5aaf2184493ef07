//! Decryption of a message stream in the page: the bytes go through core's `MessageDecoder`,
//! WebCrypto opens several frames at once (in sealing workers where they run) while the next
//! bytes arrive, and plaintext goes to a sink in order, each frame only after its tag verified;
//! also the inspector's first frame.

use std::collections::VecDeque;

use cipherdrop_core::{
    DataKey, DecryptLimits, Event, Header, MessageDecoder, SealedFrame, TAG_LEN,
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

/// Starts opening `frame` with `key`, its `ciphertext ‖ tag` copied into `scratch` (grown when
/// too small): WebCrypto copies its input before `open` returns, so one buffer serves all frames
/// (with sealing workers the buffer moves to a worker instead, and the next frame takes another
/// from the workers' pool).
fn open_frame(
    key: Option<&GcmKey>,
    frame: &SealedFrame<'_>,
    scratch: &mut Uint8Array,
) -> Result<Promise, TransferError> {
    let Some(key) = key else {
        return Err(TransferError::Format("frame before key".into()));
    };
    let n = frame.ciphertext.len();
    let need = (n + TAG_LEN) as u32;
    if scratch.length() < need || key.takes_input() {
        *scratch = key.buffer(need);
    }
    let sealed = scratch.subarray(0, need);
    sealed.subarray(0, n as u32).copy_from(frame.ciphertext);
    sealed.subarray(n as u32, need).copy_from(&frame.tag);
    key.open(&frame.iv, frame.aad(), &sealed)
        .map_err(TransferError::crypto)
}

/// Decrypts the message from `source` with `data_key`, writing plaintext to `sink` frame by
/// frame, each only after its tag verified (the final one of a signed message only after the
/// signature verified). The source is read chunk by chunk as its stream hands them out. An
/// error means the output is not the file: the caller must discard whatever the sink received.
pub async fn decrypt_source<S: PlainSink>(
    source: Source,
    data_key: &DataKey,
    limits: DecryptLimits,
    sink: &mut S,
    progress: &mut dyn FnMut(u64),
    cancel: &Cancel,
) -> Result<Opened, TransferError> {
    let mut reader = Reader::chunks(source)?;
    let mut decoder = MessageDecoder::new(limits);
    let mut key: Option<GcmKey> = None;
    let mut opening = VecDeque::new();
    let mut scratch = Uint8Array::new_with_length(0);
    let mut written = 0u64;
    let mut read = 0u64;
    while let Some(chunk) = reader.next_chunk().await? {
        let bytes = chunk.to_vec();
        if cancel.is_cancelled() {
            return Err(TransferError::Cancelled);
        }
        read += bytes.len() as u64;
        let mut input = &bytes[..];
        loop {
            match decoder.next(&mut input).map_err(TransferError::integrity)? {
                Event::NeedInput | Event::Done => break,
                Event::NeedDataKey => key = Some(unlock(&mut decoder, data_key).await?),
                Event::Frame(frame) => {
                    opening.push_back(open_frame(key.as_ref(), &frame, &mut scratch)?);
                }
            }
        }
        // Frames are opened while the next bytes arrive; plaintext goes out in order.
        let in_flight = key.as_ref().map_or(4, GcmKey::parallelism);
        while opening.len() > in_flight {
            written += open_next(&mut opening, sink).await?;
        }
        progress(read);
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
    sink.write(&plain).await?;
    Ok(u64::from(plain.byte_length()))
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
                let mut scratch = Uint8Array::new_with_length(0);
                let promise = open_frame(key.as_ref(), &frame, &mut scratch)?;
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
