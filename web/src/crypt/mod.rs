//! The page's streaming ESDK v2 decryption, with WebCrypto as the bulk cipher: [`decrypt`] (a
//! message stream into verified plaintext). Its mirror, encryption into upload parts, is the
//! upload pipeline's sealing stage (`transfer::seal`).
//!
//! Core (`MessageDecoder`) checks everything but the bulk cipher;
//! [`GcmKey`] (WebCrypto in sealing workers or on the page, or core's pure-Rust cipher where
//! WebCrypto is missing) opens the frames, as many at once as it can use
//! ([`GcmKey::parallelism`]). The message's bytes stay in the stream's chunks: core reads
//! frame heads (whole frames only for a signed suite, whose signature hashes them) and says where
//! each frame lies, and the frame is copied once into the buffer its cipher opens. Memory stays
//! bounded whatever the size: one frame and a chunk held, the frames in flight, and the
//! plaintext the sink holds.

pub mod decrypt;

use cipherdrop_core::FrameKey;

pub use decrypt::{MemoryPlain, Opened, PlainSink, decrypt_source, first_frame};

use crate::error::TransferError;
use crate::subtle::GcmKey;

/// Imports a frame key core derived into the bulk cipher.
async fn import(frame_key: &FrameKey, frame_len: u32) -> Result<GcmKey, TransferError> {
    GcmKey::import(frame_key, frame_len)
        .await
        .map_err(TransferError::crypto)
}
