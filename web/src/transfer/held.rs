//! The held-parts stage: a resumed upload's parts that S3 already holds, checked against the file
//! chosen again (the SHA-256 of each part made again, compared with the one recorded when it was
//! sent) and then not sent. A file that is not the same is refused in words, before anything is
//! sent for it.
//!
//! Held parts `1..=k`, all before any part to send, are checked as the sending pass goes by them
//! ([`Held`] with `check` on): nothing is sent before the last of them passed. Any other set is
//! checked first, in a pass of its own ([`Verify`], which ends the pass after the last held
//! part), and the sending pass then takes them as they are.

use std::collections::BTreeMap;

use super::parts::{BufferPool, Onward, Outgoing, Part, PartSink, sha256};
use crate::error::{Cancel, TransferError};

/// A part S3 holds, as this browser recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeldPart {
    /// Its ETag.
    pub(crate) etag: String,
    /// SHA-256 (hex) of the ciphertext it has.
    pub(crate) sha256: String,
}

/// Whether held parts `held` come before any part to send (`1..=k`): then they are checked as
/// the sending pass goes by them, with no pass of their own.
pub(crate) fn is_prefix(held: &BTreeMap<u32, HeldPart>) -> bool {
    held.keys().copied().eq(1..=held.len() as u32)
}

/// Checks that `part` of the file called `name` is what was sent before (its ciphertext's
/// SHA-256, hex): a file that is not the same is refused in words.
async fn check_part(part: &Part, sha256_hex: &str, name: &str) -> Result<(), TransferError> {
    if sha256(&part.bytes).await? == sha256_hex {
        return Ok(());
    }
    Err(TransferError::NotSame(format!(
        "“{name}” is not the file whose upload was interrupted: part {} differs from what was \
         sent. Nothing was sent; choose the same file, or discard the unfinished upload.",
        part.number
    )))
}

/// The stage of the sending pass: a held part goes on as held (checked here first when `check`),
/// any other part as one to send.
pub(crate) struct Held<N> {
    held: BTreeMap<u32, HeldPart>,
    check: bool,
    name: String,
    next: N,
}

impl<N: Onward> Held<N> {
    /// Parts `held` of the file called `name`, checked as they pass when `check`; every part goes
    /// on to `next`.
    pub(crate) fn new(held: BTreeMap<u32, HeldPart>, check: bool, name: &str, next: N) -> Self {
        Self {
            held,
            check,
            name: name.to_owned(),
            next,
        }
    }

    /// The next stage.
    pub(crate) fn next_mut(&mut self) -> &mut N {
        &mut self.next
    }

    /// The next stage, this one done.
    pub(crate) fn into_next(self) -> N {
        self.next
    }
}

impl<N: Onward> PartSink for Held<N> {
    async fn put(&mut self, part: Part) -> Result<(), TransferError> {
        let Some(held) = self.held.remove(&part.number) else {
            return self.next.take(Outgoing::send(part)).await;
        };
        if self.check {
            check_part(&part, &held.sha256, &self.name).await?;
        }
        let out = Outgoing {
            part,
            held: Some(held.etag),
            on_stored: None,
        };
        self.next.take(out).await
    }

    fn pool(&self) -> BufferPool {
        self.next.pool()
    }
}

/// The pass of its own that checks held parts which are not a prefix: compares each one made
/// again, sends nothing, and ends the pass (through `enough`) after the last of them.
pub(crate) struct Verify<'a> {
    held: &'a BTreeMap<u32, HeldPart>,
    last: u32,
    name: &'a str,
    /// Set once the last held part was checked (ends the pass).
    enough: Cancel,
    /// The user's cancel.
    cancel: &'a Cancel,
}

impl<'a> Verify<'a> {
    /// Checks `held` of the file called `name`; `enough` ends the pass once the last one passed.
    pub(crate) fn new(
        held: &'a BTreeMap<u32, HeldPart>,
        name: &'a str,
        enough: Cancel,
        cancel: &'a Cancel,
    ) -> Self {
        let last = held.keys().next_back().copied().unwrap_or(0);
        Self {
            held,
            last,
            name,
            enough,
            cancel,
        }
    }
}

impl PartSink for Verify<'_> {
    async fn put(&mut self, part: Part) -> Result<(), TransferError> {
        if self.cancel.is_cancelled() {
            return Err(TransferError::Cancelled);
        }
        if let Some(held) = self.held.get(&part.number) {
            check_part(&part, &held.sha256, self.name).await?;
        }
        if part.number >= self.last {
            self.enough.cancel();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use js_sys::Uint8Array;
    use wasm_bindgen_test::*;

    use super::super::record::Record;
    use super::*;

    wasm_bindgen_test_configure!(run_in_browser);

    /// The last stage, in memory: what reached it, and whether each part came with an entry
    /// to record.
    #[derive(Default)]
    struct Reached(Vec<(u32, Option<String>, bool)>);

    impl Onward for Reached {
        async fn take(&mut self, out: Outgoing) -> Result<(), TransferError> {
            let recorded = out.on_stored.is_some();
            self.0.push((out.part.number, out.held, recorded));
            Ok(())
        }

        fn pool(&self) -> BufferPool {
            BufferPool::default()
        }
    }

    fn part(number: u32, fill: u8) -> Part {
        let bytes = Uint8Array::from(&[fill; 100][..]);
        Part { number, bytes }
    }

    async fn held_as(number: u32, fill: u8) -> (u32, HeldPart) {
        let sha256 = sha256(&part(number, fill).bytes).await.unwrap();
        let etag = format!("etag-{number}");
        (number, HeldPart { etag, sha256 })
    }

    #[wasm_bindgen_test]
    async fn held_parts_go_on_unsent_and_only_the_others_get_a_record_entry() {
        let held: BTreeMap<u32, HeldPart> = [held_as(1, 1).await].into_iter().collect();
        assert!(is_prefix(&held));
        let record = Record::new(Some("upload-1"), Reached::default());
        let mut stages = Held::new(held, true, "a.bin", record);
        stages.put(part(1, 1)).await.unwrap();
        stages.put(part(2, 2)).await.unwrap();
        let reached = stages.into_next().into_next().0;
        assert_eq!(
            reached,
            [(1, Some("etag-1".into()), false), (2, None, true)]
        );
        // Nothing recorded: parts pass as they are.
        let mut stages = Held::new(
            BTreeMap::new(),
            true,
            "a.bin",
            Record::new(None, Reached::default()),
        );
        stages.put(part(1, 1)).await.unwrap();
        assert_eq!(stages.into_next().into_next().0, [(1, None, false)]);
    }

    #[wasm_bindgen_test]
    async fn a_held_part_that_differs_is_refused_and_goes_no_further() {
        let held: BTreeMap<u32, HeldPart> = [held_as(1, 1).await].into_iter().collect();
        let mut stages = Held::new(held, true, "a.bin", Reached::default());
        let e = stages.put(part(1, 9)).await.unwrap_err();
        assert!(
            matches!(&e, TransferError::NotSame(m) if m.contains("part 1 differs")),
            "{e}"
        );
        assert!(stages.into_next().0.is_empty());
    }

    #[wasm_bindgen_test]
    async fn the_check_pass_ends_after_the_last_held_part() {
        let held: BTreeMap<u32, HeldPart> = [held_as(2, 2).await, held_as(4, 4).await]
            .into_iter()
            .collect();
        assert!(!is_prefix(&held));
        let (enough, cancel) = (Cancel::default(), Cancel::default());
        let mut verify = Verify::new(&held, "a.bin", enough.clone(), &cancel);
        for (n, fill) in [(1, 7), (2, 2), (3, 7)] {
            verify.put(part(n, fill)).await.unwrap();
            assert!(!enough.is_cancelled());
        }
        verify.put(part(4, 4)).await.unwrap();
        assert!(enough.is_cancelled());
        // A different part 4 is refused.
        let mut verify = Verify::new(&held, "a.bin", Cancel::default(), &cancel);
        let e = verify.put(part(4, 5)).await.unwrap_err();
        assert!(matches!(e, TransferError::NotSame(_)), "{e}");
    }
}
