//! How a re-keyed object is written: which bytes the server sends itself (the new header, the
//! body's first bytes, a signed message's last bytes and new footer) and which byte ranges S3
//! copies from the old object, within S3's part rules (5 MiB at least but for the last part,
//! 10,000 parts at most).

/// S3's smallest part but for the last.
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// Largest object written with one `PutObject` (the server holds it whole).
pub const SINGLE_PUT: u64 = 8 * 1024 * 1024;
/// The body bytes that follow the new header in the first part.
pub const HEAD: u64 = MIN_PART;
/// A signed message's last body bytes, sent with the new footer in the last part.
pub const TAIL: u64 = 1024 * 1024;
/// The size copied ranges aim at.
pub const COPY_PART: u64 = 256 * 1024 * 1024;
/// Most copied parts (S3 allows 10,000 parts; two are the first and last).
const MAX_COPIES: u64 = 9_990;

/// The new object, in body offsets (0 is the first byte after the old header).
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Small: the new header, the whole body and the footer in one `PutObject`.
    Whole,
    /// Part 1: the new header and body `0..head`; then each range of `copies` copied by S3;
    /// then, if `tail` is not empty, body `tail` and the new footer (signed messages).
    Parts {
        head: u64,
        copies: Vec<(u64, u64)>,
        tail: Option<(u64, u64)>,
    },
}

impl Plan {
    /// The plan for a body of `body_len` bytes after a new header of `header_len`, followed by
    /// `footer_len` new bytes (0 for an unsigned message, whose body is kept to its end).
    pub fn new(header_len: u64, body_len: u64, footer_len: u64) -> Self {
        if header_len + body_len + footer_len <= SINGLE_PUT {
            return Self::Whole;
        }
        let head = HEAD.min(body_len);
        let rest = body_len - head;
        let (middle, tail) = if footer_len == 0 {
            (rest, None)
        } else if rest < MIN_PART + TAIL {
            // Too little to copy in parts of 5 MiB and still leave a tail: send it all.
            (0, Some((head, body_len)))
        } else {
            (rest - TAIL, Some((body_len - TAIL, body_len)))
        };
        Self::Parts {
            head,
            copies: split(head, middle, tail.is_some()),
            tail,
        }
    }

    /// Bytes S3 copies for the server.
    pub fn copied(&self) -> u64 {
        match self {
            Self::Whole => 0,
            Self::Parts { copies, .. } => copies.iter().map(|(a, b)| b - a).sum(),
        }
    }
}

/// `len` bytes from `start` in about equal ranges of up to [`COPY_PART`] (more when 10,000 parts
/// need it); each is at least [`MIN_PART`] when another part follows (`more`) or `len` allows.
fn split(start: u64, len: u64, more: bool) -> Vec<(u64, u64)> {
    if len == 0 {
        return Vec::new();
    }
    let mut n = len
        .div_ceil(COPY_PART)
        .max(len.div_ceil(COPY_PART * MAX_COPIES))
        .min(MAX_COPIES);
    // Equal shares of at least 5 MiB where there is room for them.
    if more || len >= MIN_PART {
        n = n.min((len / MIN_PART).max(1));
    }
    let (each, extra) = (len / n, len % n);
    let mut at = start;
    (0..n)
        .map(|i| {
            let size = each + u64::from(i < extra);
            let range = (at, at + size);
            at += size;
            range
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic, clippy::indexing_slicing)]
    use super::*;

    const MIB: u64 = 1024 * 1024;

    /// Every body byte is written exactly once, in order, and every part but the last is at
    /// least 5 MiB.
    fn check(header: u64, body: u64, footer: u64) {
        let plan = Plan::new(header, body, footer);
        let Plan::Parts { head, copies, tail } = &plan else {
            assert!(header + body + footer <= SINGLE_PUT);
            return;
        };
        let mut parts = vec![(0, *head, header)];
        parts.extend(copies.iter().map(|&(a, b)| (a, b, 0)));
        if let Some((a, b)) = tail {
            parts.push((*a, *b, footer));
        }
        let mut at = 0;
        for (i, &(a, b, extra)) in parts.iter().enumerate() {
            assert_eq!(a, at, "part {i} starts where the last ended");
            at = b;
            if i + 1 < parts.len() {
                assert!(b - a + extra >= MIN_PART, "part {i} of {parts:?}");
            }
        }
        assert_eq!(at, body, "the body ends the plan");
        assert!(parts.len() <= 10_000);
        if footer > 0 {
            assert!(tail.is_some(), "a signed message ends with its new footer");
        }
    }

    #[test]
    fn plans_cover_the_body_in_parts_s3_accepts() {
        for body in [
            0,
            1,
            SINGLE_PUT - 100,
            SINGLE_PUT,
            5 * MIB + 1,
            10 * MIB,
            11 * MIB + 7,
            12 * MIB,
            256 * MIB + 3,
            1024 * MIB,
            5 * 1024 * MIB + 13,
        ] {
            for (header, footer) in [(200, 0), (200, 105), (3000, 0), (3000, 104)] {
                check(header, body, footer);
            }
        }
    }

    #[test]
    fn a_large_unsigned_body_is_copied_by_s3_and_a_signed_one_keeps_a_tail() {
        let plan = Plan::new(300, 1024 * MIB, 0);
        assert_eq!(plan.copied(), 1024 * MIB - HEAD);
        let Plan::Parts { tail, copies, .. } = Plan::new(300, 1024 * MIB, 104) else {
            panic!("parts");
        };
        assert_eq!(tail, Some((1023 * MIB, 1024 * MIB)));
        assert_eq!(copies.len(), 4);
        // A body that leaves less than 5 MiB + the tail after the head is sent, not copied.
        let Plan::Parts { copies, tail, .. } = Plan::new(300, 9 * MIB, 104) else {
            panic!("parts");
        };
        assert!(copies.is_empty());
        assert_eq!(tail, Some((HEAD, 9 * MIB)));
    }
}
