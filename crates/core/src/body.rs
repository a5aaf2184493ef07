//! Body framing shared by encryptor and decoder: frame labels, IVs and the body AAD.

use crate::aead::{IV_LEN, TAG_LEN};
use crate::keys::MESSAGE_ID_LEN;

/// Sequence-number field value that marks the final frame.
pub const FINAL_FRAME_MARKER: u32 = 0xFFFF_FFFF;
/// Bytes a regular frame adds to its plaintext: seq, IV, tag.
pub const REGULAR_FRAME_OVERHEAD: usize = 4 + IV_LEN + TAG_LEN;
/// Bytes a final frame adds to its plaintext: marker, seq, IV, length, tag.
pub const FINAL_FRAME_OVERHEAD: usize = 4 + 4 + IV_LEN + 4 + TAG_LEN;

/// Length of the framed body (header and footer excluded) that this crate's encoders write for
/// `plaintext_len` bytes in frames of `frame_len`: every full frame regular, then a final frame
/// with the rest, which is empty when the plaintext fills whole frames. `None` for a zero frame
/// length, more frames than the format can number, or an overflow.
///
/// Other writers may instead end a plaintext that fills whole frames with a full final frame,
/// which is [`REGULAR_FRAME_OVERHEAD`] bytes shorter.
pub fn framed_body_len(plaintext_len: u64, frame_len: u32) -> Option<u64> {
    let f = u64::from(frame_len);
    let full = plaintext_len.checked_div(f)?;
    if full >= u64::from(u32::MAX) {
        return None;
    }
    let rest = plaintext_len % f;
    full.checked_mul(f + REGULAR_FRAME_OVERHEAD as u64)?
        .checked_add(rest + FINAL_FRAME_OVERHEAD as u64)
}

const REGULAR_LABEL: &[u8] = b"AWSKMSEncryptionClient Frame";
const FINAL_LABEL: &[u8] = b"AWSKMSEncryptionClient Final Frame";
const SINGLE_BLOCK_LABEL: &[u8] = b"AWSKMSEncryptionClient Single Block";
const MAX_AAD_LEN: usize = MESSAGE_ID_LEN + SINGLE_BLOCK_LABEL.len() + 4 + 8;

/// Which kind of body block an AAD is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockKind {
    Regular,
    Final,
    SingleBlock,
}

/// The body AAD of one frame: message id ‖ label ‖ u32 seq ‖ u64 plaintext length.
#[derive(Clone, Copy)]
pub struct FrameAad {
    buf: [u8; MAX_AAD_LEN],
    len: usize,
}

impl FrameAad {
    #[allow(clippy::indexing_slicing)] // fixed-size parts that sum to at most MAX_AAD_LEN
    pub(crate) fn new(
        message_id: &[u8; MESSAGE_ID_LEN],
        kind: BlockKind,
        seq: u32,
        len: u64,
    ) -> Self {
        let label = match kind {
            BlockKind::Regular => REGULAR_LABEL,
            BlockKind::Final => FINAL_LABEL,
            BlockKind::SingleBlock => SINGLE_BLOCK_LABEL,
        };
        let mut buf = [0u8; MAX_AAD_LEN];
        let mut n = 0;
        for part in [
            &message_id[..],
            label,
            &seq.to_be_bytes(),
            &len.to_be_bytes(),
        ] {
            buf[n..n + part.len()].copy_from_slice(part);
            n += part.len();
        }
        Self { buf, len: n }
    }

    /// The AAD bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl core::fmt::Debug for FrameAad {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FrameAad({} bytes)", self.len)
    }
}

/// The IV encryptors write: 8 zero bytes ‖ u32 BE sequence number.
pub fn canonical_iv(seq: u32) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    #[allow(clippy::indexing_slicing)] // 12 - 8 = 4 bytes
    iv[8..].copy_from_slice(&seq.to_be_bytes());
    iv
}
