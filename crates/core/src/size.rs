//! Message-size arithmetic: how long a whole ESDK v2 message is, from the few numbers that fix it.
//!
//! The one place outside the encoder that knows the format's lengths: the server uses it to
//! declare an upload's exact size and to check what S3 holds, the page to check what it sealed.

use core::ops::RangeInclusive;

use crate::aead::TAG_LEN;
use crate::body::{REGULAR_FRAME_OVERHEAD, framed_body_len};
use crate::error::Result;
use crate::header::Header;
use crate::sign::MAX_SIGNATURE_LEN;
use crate::suite::Suite;

/// How much shorter than [`MessageLen::max`] a signed message may be: the DER signature's length
/// varies by this much.
pub const SIGNATURE_LEN_SLACK: u64 = MAX_SIGNATURE_LEN as u64 - MIN_SIGNATURE_LEN;

/// Shortest DER encoding of an ECDSA signature: `SEQUENCE { INTEGER r, INTEGER s }` with
/// one-byte integers. Real P-384 signatures are 102 to 104 bytes; shorter ones are valid but rare.
const MIN_SIGNATURE_LEN: u64 = 8;

/// The lengths a whole message can have, given its suite, header length, plaintext length and
/// frame length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageLen {
    header: u64,
    /// The body as this crate's encoders write it (a plaintext that fills whole frames ends with
    /// an empty final frame).
    body: u64,
    /// The body as other writers may write it (a full final frame), when that differs.
    other_body: Option<u64>,
    /// The footer: nothing, or a u16 length and a DER signature.
    footer: RangeInclusive<u64>,
}

impl MessageLen {
    /// The lengths for a message whose header (body and tag) is `header_len` bytes. `None` when
    /// the frame length is zero, the plaintext needs more frames than the format can number, or
    /// the total overflows.
    pub fn new(suite: Suite, header_len: u64, plaintext_len: u64, frame_len: u32) -> Option<Self> {
        let body = framed_body_len(plaintext_len, frame_len)?;
        let fills_frames = plaintext_len > 0 && plaintext_len.is_multiple_of(u64::from(frame_len));
        let other_body = fills_frames.then(|| body - REGULAR_FRAME_OVERHEAD as u64);
        let footer = if suite.is_signed() {
            (2 + MIN_SIGNATURE_LEN)..=(2 + MAX_SIGNATURE_LEN as u64)
        } else {
            0..=0
        };
        header_len.checked_add(body)?.checked_add(*footer.end())?;
        Some(Self {
            header: header_len,
            body,
            other_body,
            footer,
        })
    }

    /// The lengths of a message with this header and `plaintext_len` bytes of plaintext.
    pub fn for_header(header: &Header, plaintext_len: u64) -> Result<Option<Self>> {
        Ok(Self::new(
            header.suite,
            header.encoded_len()?,
            plaintext_len,
            header.frame_length,
        ))
    }

    /// The longest message this crate's encoders write: the exact length for an unsigned suite,
    /// and the length with the longest signature for a signed one. What an upload declares.
    pub fn max(&self) -> u64 {
        self.header + self.body + self.footer.end()
    }

    /// Whether this crate's encoders always write exactly [`Self::max`] bytes (unsigned suites).
    pub fn is_exact(&self) -> bool {
        self.footer.start() == self.footer.end()
    }

    /// Whether this crate's encoders may write a message of `len` bytes.
    pub fn written_by_us(&self, len: u64) -> bool {
        self.fits(self.body, len)
    }

    /// Whether any conforming writer may write a message of `len` bytes (either ending of a
    /// plaintext that fills whole frames, any signature length).
    pub fn admits(&self, len: u64) -> bool {
        self.fits(self.body, len) || self.other_body.is_some_and(|b| self.fits(b, len))
    }

    fn fits(&self, body: u64, len: u64) -> bool {
        len.checked_sub(self.header + body)
            .is_some_and(|footer| self.footer.contains(&footer))
    }
}

impl Header {
    /// The length of the header as written in a message: its body and the 16-byte tag.
    pub fn encoded_len(&self) -> Result<u64> {
        Ok((self.encode_body()?.len() + TAG_LEN) as u64)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unsigned_is_exact_and_admits_the_full_final_frame_ending() {
        let len = MessageLen::new(Suite::CommitKey, 100, 8192, 4096).unwrap();
        assert!(len.is_exact());
        let ours = 100 + framed_body_len(8192, 4096).unwrap();
        assert_eq!(len.max(), ours);
        assert!(len.written_by_us(ours) && len.admits(ours));
        let theirs = ours - REGULAR_FRAME_OVERHEAD as u64;
        assert!(!len.written_by_us(theirs) && len.admits(theirs));
        assert!(!len.admits(ours + 1) && !len.admits(ours - 1));
    }

    #[test]
    fn signed_is_a_range_of_signature_lengths() {
        let len = MessageLen::new(Suite::CommitKeyEcdsaP384, 100, 10, 4096).unwrap();
        assert!(!len.is_exact());
        let body = framed_body_len(10, 4096).unwrap();
        assert_eq!(len.max(), 100 + body + 2 + MAX_SIGNATURE_LEN as u64);
        assert!(len.admits(100 + body + 2 + 103));
        assert!(!len.admits(100 + body + 2 + 7));
        assert!(!len.admits(len.max() + 1));
    }

    #[test]
    fn impossible_inputs_are_none() {
        assert!(MessageLen::new(Suite::CommitKey, 100, 10, 0).is_none());
        assert!(MessageLen::new(Suite::CommitKey, 100, u64::MAX, 1).is_none());
        assert!(MessageLen::new(Suite::CommitKey, u64::MAX, 10, 4096).is_none());
    }
}
