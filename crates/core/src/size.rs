//! Message-size arithmetic: how long a whole ESDK v2 message is, from the few numbers that fix it
//! ([`MessageLen`]), and how such a message is cut into the parts of a multipart upload
//! ([`PartLayout`]).
//!
//! The one place outside the encoder that knows the format's lengths: the server uses it to
//! declare an upload's exact size and to check what S3 holds, the page to check what it sealed;
//! the server, the page, the CLI and the tests cut messages into parts with the same layout.

use core::ops::{Range, RangeInclusive};

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

    /// The shortest message this crate's encoders write: [`Self::max`] for an unsigned suite, and
    /// the length with the shortest signature for a signed one.
    pub fn min(&self) -> u64 {
        self.header + self.body + self.footer.start()
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

/// S3 keeps at most this many parts per upload.
pub const MAX_PARTS: u32 = 10_000;
/// S3's smallest part (every part but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// How a message is cut into the parts of a multipart upload: parts numbered from 1, each of
/// [`Self::part_size`] bytes but the last. A signed message's length is known only to a range
/// (the signature's length varies), so the last part or two may have a length that only the
/// message decides; every other part's length is certain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartLayout {
    part_size: u64,
    /// The longest the message may be: what the upload declares.
    longest: u64,
    /// The shortest it may be (the same for an unsigned suite).
    shortest: u64,
}

impl PartLayout {
    /// The layout an upload chooses for a message with these lengths: parts of at least S3's
    /// minimum, a whole number of MiB, and at most [`MAX_PARTS`] of them. `None` when that would
    /// take parts over S3's largest.
    pub fn choose(len: &MessageLen) -> Option<Self> {
        const MIB: u64 = 1024 * 1024;
        let longest = len.max();
        let needed = longest
            .div_ceil(u64::from(MAX_PARTS))
            .div_ceil(MIB)
            .checked_mul(MIB)?;
        Self::with_part_size(needed.max(MIN_PART_SIZE), len.min(), longest)
    }

    /// The layout an upload announced: `part_size` bytes per part for a message of `suite` that
    /// declared `declared` bytes (a signed one may end up to [`SIGNATURE_LEN_SLACK`] shorter).
    /// `None` for a part size of zero or over S3's largest, or more than [`MAX_PARTS`] parts.
    pub fn announced(suite: Suite, declared: u64, part_size: u64) -> Option<Self> {
        let shortest = if suite.is_signed() {
            declared.saturating_sub(SIGNATURE_LEN_SLACK)
        } else {
            declared
        };
        Self::with_part_size(part_size, shortest, declared)
    }

    fn with_part_size(part_size: u64, shortest: u64, longest: u64) -> Option<Self> {
        let layout = Self {
            part_size,
            longest,
            shortest,
        };
        let fits = part_size > 0
            && part_size <= MAX_PART_SIZE
            && shortest <= longest
            && longest.div_ceil(part_size) <= u64::from(MAX_PARTS);
        fits.then_some(layout)
    }

    /// Bytes per part (all but the last).
    pub fn part_size(&self) -> u64 {
        self.part_size
    }

    /// The declared (longest) message length.
    pub fn message_len(&self) -> u64 {
        self.longest
    }

    /// Parts of the longest message (at least one): the part numbers an upload hands out URLs
    /// for are `1..=count()`.
    pub fn count(&self) -> u32 {
        self.parts_for(self.longest)
    }

    /// How many parts a message of `len` bytes fills (at least one).
    pub fn parts_for(&self, len: u64) -> u32 {
        let n = len.div_ceil(self.part_size).max(1);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// How many parts a finished message may have: [`Self::count`], or fewer when a signed
    /// message may end before its last declared part begins.
    pub fn counts(&self) -> RangeInclusive<u32> {
        self.parts_for(self.shortest)..=self.count()
    }

    /// The bytes of the (longest) message that part `n` holds; `None` for a number outside
    /// `1..=count()`.
    pub fn range(&self, n: u32) -> Option<Range<u64>> {
        if n == 0 || n > self.count() {
            return None;
        }
        let start = u64::from(n - 1) * self.part_size;
        Some(start..start.saturating_add(self.part_size).min(self.longest))
    }

    /// Part `n`'s length when the layout alone decides it: every part of an unsigned message;
    /// of a signed one, the parts that end before the shortest message could.
    pub fn certain_len(&self, n: u32) -> Option<u64> {
        let range = self.range(n)?;
        (range.end <= self.shortest && range.end > range.start).then(|| range.end - range.start)
    }

    /// Whether part `n` may have `len` bytes: its certain length if it has one; otherwise a full
    /// part that does not pass the longest message, or a shorter one that ends the message
    /// within its possible lengths.
    pub fn possible_len(&self, n: u32, len: u64) -> bool {
        if let Some(certain) = self.certain_len(n) {
            return len == certain;
        }
        let Some(range) = self.range(n) else {
            return false;
        };
        let end = range.start.saturating_add(len);
        len > 0
            && len <= self.part_size
            && end <= self.longest
            && (len == self.part_size || end >= self.shortest)
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

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn min_is_the_shortest_signature_and_max_the_longest() {
        let signed = MessageLen::new(Suite::CommitKeyEcdsaP384, 100, 10, 4096).unwrap();
        assert_eq!(signed.max() - signed.min(), SIGNATURE_LEN_SLACK);
        assert!(signed.written_by_us(signed.min()) && !signed.written_by_us(signed.min() - 1));
        let unsigned = MessageLen::new(Suite::CommitKey, 100, 10, 4096).unwrap();
        assert_eq!(unsigned.min(), unsigned.max());
    }

    #[test]
    fn the_layout_is_five_mib_parts_until_ten_thousand_would_not_do() {
        let small = MessageLen::new(Suite::CommitKey, 200, 12 * MIB, 1 << 20).unwrap();
        let layout = PartLayout::choose(&small).unwrap();
        assert_eq!(layout.part_size(), MIN_PART_SIZE);
        assert_eq!(layout.count(), 3);
        assert_eq!(layout.message_len(), small.max());
        assert_eq!(layout.range(1), Some(0..MIN_PART_SIZE));
        assert_eq!(layout.range(3), Some(2 * MIN_PART_SIZE..small.max()));
        assert_eq!(layout.range(0), None);
        assert_eq!(layout.range(4), None);
        // Parts cover the message exactly, in order.
        let total: u64 = (1..=3)
            .map(|n| layout.range(n).unwrap().end - layout.range(n).unwrap().start)
            .sum();
        assert_eq!(total, small.max());

        // 100 GB: parts of a whole number of MiB, no more than 10,000 of them.
        let big = MessageLen::new(Suite::CommitKey, 200, 100_000_000_000, 1 << 20).unwrap();
        let layout = PartLayout::choose(&big).unwrap();
        assert_eq!(layout.part_size() % MIB, 0);
        assert!(layout.part_size() > MIN_PART_SIZE);
        assert!(layout.count() <= MAX_PARTS);
        // ... and the smallest such size: a MiB less would take more than 10,000 parts.
        assert!((layout.part_size() - MIB) * u64::from(MAX_PARTS) < big.max());
        assert!(u64::from(layout.count()) * layout.part_size() >= big.max());

        // An empty file is still a message, of one part.
        let empty = MessageLen::new(Suite::CommitKey, 200, 0, 4096).unwrap();
        assert_eq!(PartLayout::choose(&empty).unwrap().count(), 1);
    }

    #[test]
    fn an_unsigned_message_has_every_part_length_certain() {
        let len = MessageLen::new(Suite::CommitKey, 200, 11 * MIB, 1 << 20).unwrap();
        let layout = PartLayout::choose(&len).unwrap();
        assert_eq!(layout.counts(), 3..=3);
        assert_eq!(layout.certain_len(1), Some(MIN_PART_SIZE));
        let last = len.max() - 2 * MIN_PART_SIZE;
        assert_eq!(layout.certain_len(3), Some(last));
        assert!(layout.possible_len(3, last) && !layout.possible_len(3, last - 1));
        assert!(!layout.possible_len(1, MIN_PART_SIZE - 1) && !layout.possible_len(4, 1));
        // The layout announced by the server for that message is the same.
        assert_eq!(
            PartLayout::announced(Suite::CommitKey, len.max(), MIN_PART_SIZE),
            Some(layout)
        );
    }

    #[test]
    fn a_signed_message_leaves_only_its_end_to_the_message() {
        // A message whose shortest end falls in part 3 and longest in part 3: part 3 uncertain.
        let len = MessageLen::new(Suite::CommitKeyEcdsaP384, 300, 11 * MIB, 1 << 20).unwrap();
        let layout =
            PartLayout::announced(Suite::CommitKeyEcdsaP384, len.max(), MIN_PART_SIZE).unwrap();
        assert_eq!(layout, PartLayout::choose(&len).unwrap());
        assert_eq!(layout.certain_len(2), Some(MIN_PART_SIZE));
        assert_eq!(layout.certain_len(3), None);
        let start = 2 * MIN_PART_SIZE;
        assert!(layout.possible_len(3, len.min() - start));
        assert!(layout.possible_len(3, len.max() - start));
        assert!(!layout.possible_len(3, len.min() - start - 1));
        assert!(!layout.possible_len(3, len.max() - start + 1));

        // Declared to end 10 bytes into part 2: a short signature may end it in part 1, whose
        // length then is not certain either, and the message may have one part or two.
        let declared = MIN_PART_SIZE + 10;
        let layout =
            PartLayout::announced(Suite::CommitKeyEcdsaP384, declared, MIN_PART_SIZE).unwrap();
        assert_eq!(layout.counts(), 1..=2);
        assert_eq!(layout.certain_len(1), None);
        assert!(layout.possible_len(1, MIN_PART_SIZE));
        assert!(layout.possible_len(1, MIN_PART_SIZE - 50));
        assert!(!layout.possible_len(1, MIN_PART_SIZE - SIGNATURE_LEN_SLACK - 1));
        assert!(
            layout.possible_len(2, 10) && !layout.possible_len(2, 11) && !layout.possible_len(2, 0)
        );
    }

    #[test]
    fn impossible_layouts_are_none() {
        assert!(PartLayout::announced(Suite::CommitKey, 100, 0).is_none());
        assert!(PartLayout::announced(Suite::CommitKey, 100, MAX_PART_SIZE + 1).is_none());
        let too_many = u64::from(MAX_PARTS) * MIN_PART_SIZE + 1;
        assert!(PartLayout::announced(Suite::CommitKey, too_many, MIN_PART_SIZE).is_none());
        assert!(PartLayout::announced(Suite::CommitKey, too_many, 2 * MIN_PART_SIZE).is_some());
    }

    #[test]
    fn impossible_inputs_are_none() {
        assert!(MessageLen::new(Suite::CommitKey, 100, 10, 0).is_none());
        assert!(MessageLen::new(Suite::CommitKey, 100, u64::MAX, 1).is_none());
        assert!(MessageLen::new(Suite::CommitKey, u64::MAX, 10, 4096).is_none());
    }
}
