//! The sealing stage: the message's encoders made from the data key as the server issued it
//! ([`encoders`]; the plaintext data key goes into them and is dropped right after key
//! derivation), and the encryption of a file ([`encrypt_blob`]): read through a BYOB stream
//! (small frames about 1 MiB at a time into one reused buffer, large ones one by one into the
//! buffers that travel to the sealing workers), sealed by WebCrypto several frames at once, and
//! written as `header ‖ frames ‖ footer` into upload parts of exactly the part size, handed to
//! the next stage.

use std::collections::{BTreeMap, VecDeque};

use cipherdrop_core::{
    DataKey, EncryptedDataKey, EncryptionContext, EncryptionMaterials, FrameEncoder, FrameSpec,
    MESSAGE_ID_LEN, SigningKey, Suite, TAG_LEN,
};
use js_sys::{Promise, Uint8Array};
use web_sys::Blob;

use super::parts::{Packer, PartSink};
use super::read::{Reader, Source};
use crate::api::ApiError;
use crate::error::{Cancel, TransferError};
use crate::subtle::{Engine, GcmKey, buffer};
use crate::workers::WORKER_FRAMES_FROM;

/// Plaintext sealed between two turns given to the page (its input, timers and rendering), or
/// frames, whichever comes first.
const YIELD_BYTES: u64 = 4 << 20;
const YIELD_FRAMES: u64 = 64;

/// What encrypting produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Sealed {
    /// Ciphertext bytes written.
    pub ciphertext_len: u64,
    /// Parts handed to the sink.
    pub parts: u32,
    /// Which cipher sealed the frames.
    pub engine: Engine,
}

/// What a message is made of besides its data key, as the server issued it.
pub(crate) struct MessagePlan<'a> {
    /// The algorithm suite.
    pub(crate) suite: Suite,
    /// Plaintext bytes per frame.
    pub(crate) frame_length: u32,
    /// The message id (recorded for a resume, so the same bytes can be made again).
    pub(crate) message_id: [u8; MESSAGE_ID_LEN],
    /// The KMS key that made the data key.
    pub(crate) key_arn: &'a str,
    /// The encrypted data key KMS returned.
    pub(crate) edk: &'a [u8],
    /// The encryption context, exactly as issued.
    pub(crate) context: &'a BTreeMap<String, String>,
}

/// One upload's encoders: the one whose message is sent, and, for a resumed upload whose held
/// parts must be checked in a pass of their own first, the one that makes them again.
pub(crate) struct Encoders {
    /// Makes the message that is sent.
    pub(crate) send: FrameEncoder,
    /// Makes the same message for the pass that checks the held parts, if there is one.
    pub(crate) check: Option<FrameEncoder>,
}

/// Builds the encoders of `plan` from `data_key`, which is moved into the sending encoder and
/// dropped (zeroized) inside it right after key derivation. A check pass's encoder is made first,
/// from a copy that is dropped the same way a moment earlier: no plaintext data key outlives this
/// call.
pub(crate) fn encoders(
    data_key: DataKey,
    signing: Option<SigningKey>,
    plan: &MessagePlan<'_>,
    check_pass: bool,
) -> Result<Encoders, TransferError> {
    let bad = |what: String| TransferError::Api(ApiError::Decode(what));
    let edk = EncryptedDataKey::aws_kms(plan.key_arn, plan.edk.to_vec())
        .map_err(|e| bad(e.to_string()))?;
    let context: EncryptionContext = plan
        .context
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let encoder = |data_key: DataKey, signing: Option<SigningKey>| {
        let materials = EncryptionMaterials::new(
            plan.suite,
            context.clone(),
            data_key,
            vec![edk.clone()],
            signing,
        )
        .map_err(|e| bad(e.to_string()))?;
        FrameEncoder::with_message_id(materials, plan.frame_length, plan.message_id)
            .map_err(|e| bad(e.to_string()))
    };
    let check = if check_pass {
        Some(encoder(data_key.clone(), signing.clone())?)
    } else {
        None
    };
    let send = encoder(data_key, signing)?;
    Ok(Encoders { send, check })
}

/// A frame WebCrypto is sealing.
struct Sealing {
    spec: FrameSpec,
    /// Resolves to `ciphertext ‖ tag`.
    promise: Promise,
}

/// The message being written: encoder, cipher, packer and sink, frame by frame.
struct Writer<'s, S: PartSink> {
    encoder: FrameEncoder,
    key: GcmKey,
    packer: Packer,
    sink: &'s mut S,
    sealing: VecDeque<Sealing>,
    /// The frame's bytes before its sealed ones (sequence number, IV; for the final frame the
    /// marker and length too), reused.
    prefix: Vec<u8>,
}

impl<S: PartSink> Writer<'_, S> {
    async fn emit(&mut self, data: &Uint8Array) -> Result<(), TransferError> {
        self.packer.write(data, &mut *self.sink).await
    }

    /// Starts sealing `plaintext` (WebCrypto copies it at once, so the caller may reuse it).
    async fn seal(&mut self, plaintext: &Uint8Array, is_final: bool) -> Result<(), TransferError> {
        let spec = self
            .encoder
            .begin_frame(plaintext.length() as usize, is_final)
            .map_err(TransferError::format)?;
        let promise = self
            .key
            .seal(&spec.iv, spec.aad(), plaintext)
            .map_err(TransferError::crypto)?;
        self.sealing.push_back(Sealing { spec, promise });
        while self.sealing.len() >= self.key.parallelism() {
            self.finish_oldest().await?;
        }
        Ok(())
    }

    /// Waits for the oldest frame being sealed and writes it out.
    async fn finish_oldest(&mut self) -> Result<(), TransferError> {
        let Some(Sealing { spec, promise }) = self.sealing.pop_front() else {
            return Ok(());
        };
        let sealed_buf = buffer(promise).await.map_err(TransferError::crypto)?;
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
        .map_err(TransferError::format)?;
        let prefix = Uint8Array::from(&self.prefix[..]);
        self.emit(&prefix).await?;
        self.emit(&sealed).await?;
        // Packed (copied): the buffer can carry another frame to the workers.
        self.key.recycle(&sealed_buf);
        Ok(())
    }
}

/// Encrypts all of `source` as the body of `encoder`'s message, handing the whole message (header,
/// frames, footer) to `sink` in parts of `part_size` bytes. `progress` gets the plaintext bytes
/// read so far. The file is read as a stream (`Blob.stream()`, BYOB) frame by frame into one
/// reused buffer, up to four frames are sealed at once, and the page gets a turn every four
/// frames.
pub async fn encrypt_blob<S: PartSink>(
    source: &Blob,
    encoder: FrameEncoder,
    part_size: u64,
    sink: &mut S,
    progress: &mut dyn FnMut(u64),
    cancel: &Cancel,
) -> Result<Sealed, TransferError> {
    let key = GcmKey::import(encoder.frame_key(), encoder.frame_length())
        .await
        .map_err(TransferError::crypto)?;
    let engine = key.engine();
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
        prefix: Vec::new(),
    };
    w.emit(&header).await?;

    // Small frames are read about 1 MiB at a time (a read per frame would cost more than
    // sealing it), larger ones one at a time.
    let per_read = if frame < u64::from(WORKER_FRAMES_FROM) {
        ((1 << 20) / frame).max(1)
    } else {
        1
    };
    let capacity = (frame * per_read).min(size.max(1)) as u32;
    let mut reader = Reader::byob(Source::Blob(source.clone(), 0), capacity)?;
    // With sealing workers (large frames only, so one frame per read) each frame's buffer moves
    // to a worker and comes back holding the sealed frame (`+ TAG_LEN` bytes), to be read into
    // again once packed.
    let moving = w.key.takes_input();
    let frame_buffer = capacity + TAG_LEN as u32;
    if moving {
        reader.set_buffer(w.key.buffer(frame_buffer));
    }
    let changed = || TransferError::Read("the file changed while it was being read".into());
    let mut consumed = 0u64;
    let mut next_yield = YIELD_BYTES;
    // The last read (its length kept apart: a moved buffer reads as empty).
    let mut chunk = Uint8Array::new_with_length(0);
    let (mut at, mut chunk_len) = (0u32, 0u32);
    for index in 0..=regular {
        if cancel.is_cancelled() {
            return Err(TransferError::Cancelled);
        }
        let is_final = index == regular;
        let want = if is_final { final_len } else { frame as u32 };
        if at == chunk_len {
            // The next frames in one read: up to `per_read` regular ones, or the final one.
            let bytes = if is_final {
                final_len
            } else {
                (per_read.min(regular - index) * frame) as u32
            };
            chunk = reader.fill(bytes).await?;
            if chunk.length() != bytes {
                return Err(changed());
            }
            (at, chunk_len) = (0, bytes);
        }
        let plaintext = chunk.subarray(at, at + want);
        at += want;
        consumed += u64::from(want);
        w.seal(&plaintext, is_final).await?;
        if moving {
            reader.set_buffer(w.key.buffer(frame_buffer));
        }
        progress(consumed);
        if consumed >= next_yield || index % YIELD_FRAMES == YIELD_FRAMES - 1 {
            next_yield = consumed + YIELD_BYTES;
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
        ..
    } = w;
    let footer = encoder.finish().map_err(TransferError::format)?;
    packer.write(&Uint8Array::from(&footer[..]), sink).await?;
    let packed = packer.finish(sink).await?;
    Ok(Sealed {
        ciphertext_len: packed.bytes,
        parts: packed.parts,
        engine,
    })
}
