//! The decoder over bytes the caller keeps (`MessageDecoder::step`): frame positions handed out
//! from frame heads alone for unsigned suites, whole elements read for signed ones, and the same
//! refusals as the buffering decoder (truncation, trailing bytes, tampering, sequence).
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common::{keyring, materials, plaintext, rng};
use cipherdrop_core::{
    AesGcmCipher, DecryptLimits, Error, FrameCipher, KeyProvider, MessageDecoder, Step, Suite,
    encrypt,
};

/// What a caller that keeps the bytes saw: plaintext, bytes it passed as heads (all of them,
/// and the longest head of a frame), frames.
struct Walk {
    plaintext: Vec<u8>,
    read: usize,
    longest_frame_head: usize,
    frames: usize,
}

/// Decrypts `msg` as the page does: the bytes stay with the caller, which passes the decoder
/// only the head it asks for, holds `arrived` bytes of the message (the rest not yet arrived),
/// and opens each frame at the positions handed out.
fn walk(msg: &[u8], arrived: usize) -> Result<Walk, Error> {
    let mut dec = MessageDecoder::new(DecryptLimits::default());
    let mut cipher: Option<AesGcmCipher> = None;
    let mut at = 0;
    let mut want = 0;
    let mut out = Walk {
        plaintext: Vec::new(),
        read: 0,
        longest_frame_head: 0,
        frames: 0,
    };
    let mut in_body = false;
    loop {
        let held = arrived - at;
        let head = &msg[at..at + want.min(held)];
        out.read += head.len();
        if in_body {
            out.longest_frame_head = out.longest_frame_head.max(head.len());
        }
        match dec.step(head, held)? {
            Step::Need { head, held: need } => {
                if need > held && held == arrived - at && arrived == msg.len() {
                    // Nothing more will arrive.
                    dec.finish()?;
                    unreachable!("finish must refuse a message cut short");
                }
                if need > held {
                    return Err(Error::Truncated);
                }
                assert!(head <= need);
                want = head;
            }
            Step::Header(len) => {
                at += len;
                want = 0;
                in_body = true;
            }
            Step::NeedDataKey => {
                let key = keyring().data_key(dec.header().unwrap()).unwrap();
                dec.set_data_key(&key)?;
                cipher = Some(AesGcmCipher::new(dec.frame_key().unwrap()));
            }
            Step::Frame(f) => {
                let frame = &msg[at..at + f.len];
                let ct = &frame[f.ciphertext.clone()];
                let tag: [u8; 16] = frame[f.tag()].try_into().unwrap();
                assert_eq!(&frame[f.sealed()][..ct.len()], ct);
                let mut pt = vec![0; ct.len()];
                let opened = cipher
                    .as_mut()
                    .unwrap()
                    .open(&f.iv, f.aad(), ct, &mut pt, &tag);
                if let Err(e) = opened {
                    return Err(dec.fail(e));
                }
                out.plaintext.extend_from_slice(&pt);
                out.frames += 1;
                at += f.len;
                want = 0;
            }
            Step::Done => {
                dec.finish()?;
                return Ok(out);
            }
        }
    }
}

fn message(suite: Suite, frame: u32, len: usize) -> (Vec<u8>, Vec<u8>) {
    let mut r = rng(7);
    let pt = plaintext(len, 8);
    let msg = encrypt(materials(suite, &mut r), frame, &pt, &mut r).unwrap();
    (msg, pt)
}

#[test]
fn unsigned_frames_are_located_from_their_heads_alone() {
    let (msg, pt) = message(Suite::CommitKey, 4096, 100_000);
    let w = walk(&msg, msg.len()).unwrap();
    assert_eq!(w.plaintext, pt);
    assert_eq!(w.frames, 25);
    // Of each frame, at most its head (sequence number, IV, and for the final frame its
    // marker and length: 24 bytes) was read, never its ciphertext.
    assert_eq!(w.longest_frame_head, 24);
    assert!(
        w.read < msg.len() / 20,
        "{} of {} bytes read",
        w.read,
        msg.len()
    );
}

#[test]
fn signed_frames_are_read_whole_for_the_signature() {
    let (msg, pt) = message(Suite::CommitKeyEcdsaP384, 4096, 50_000);
    let w = walk(&msg, msg.len()).unwrap();
    assert_eq!(w.plaintext, pt);
    // Every byte went through the signature's hash: each frame was read whole.
    assert!(w.read >= msg.len(), "{} of {}", w.read, msg.len());
    assert!(w.longest_frame_head >= 4096);
}

#[test]
fn a_frame_is_handed_out_only_once_all_of_it_is_held() {
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        let (msg, _) = message(suite, 4096, 10_000);
        for cut in [msg.len() - 1, msg.len() - 17, msg.len() / 2, 300] {
            let got = walk(&msg, cut);
            assert!(
                matches!(got, Err(Error::Truncated)),
                "{suite:?} cut at {cut}: {:?}",
                got.err()
            );
        }
    }
}

#[test]
fn a_message_cut_at_a_frame_boundary_is_refused_at_the_end() {
    // All of frame 1 and 2 arrive, then the stream ends: no frame is missing its bytes, but the
    // final frame never came, so the end of the stream is not the end of the message.
    let (msg, _) = message(Suite::CommitKey, 4096, 10_000);
    let mut dec = MessageDecoder::new(DecryptLimits::default());
    let mut at = 0;
    let mut frames = 0;
    while frames < 2 {
        match dec.step(&msg[at..], msg.len() - at).unwrap() {
            Step::Header(n) => at += n,
            Step::NeedDataKey => {
                let key = keyring().data_key(dec.header().unwrap()).unwrap();
                dec.set_data_key(&key).unwrap();
            }
            Step::Frame(f) => {
                at += f.len;
                frames += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(dec.step(&[], 0).unwrap(), Step::Need { .. }));
    assert_eq!(dec.finish(), Err(Error::Truncated));
}

#[test]
fn trailing_bytes_tampered_frames_and_reordered_heads_are_refused() {
    let (msg, _) = message(Suite::CommitKey, 4096, 10_000);
    // A byte after the end.
    let mut longer = msg.clone();
    longer.push(0);
    assert_eq!(walk(&longer, longer.len()).err(), Some(Error::TrailingData));
    // Every byte of the body flipped in turn: the frame's tag (or its head) refuses it.
    let (_, body_start) = cipherdrop_core::Header::parse(&msg, &DecryptLimits::default()).unwrap();
    for i in (body_start + 16..msg.len()).step_by(97) {
        let mut bad = msg.clone();
        bad[i] ^= 0x40;
        assert!(walk(&bad, bad.len()).is_err(), "byte {i} flipped");
    }
    // A signed message whose signature was flipped: the final frame is never handed out.
    let (signed, _) = message(Suite::CommitKeyEcdsaP384, 4096, 10_000);
    let mut bad = signed.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(walk(&bad, bad.len()).is_err());
}
