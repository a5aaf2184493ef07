//! Streaming decryption: the message decoder (bring your own cipher) and the push-based decryptor.
//!
//! The decoder reads from the caller's input slice directly and buffers only an element (header,
//! or frame, or final frame plus footer) that arrives split across pushes, so memory is bounded by
//! one frame plus the header. It hands frames out only in sequence, and for signed suites hands
//! the final frame out only after the footer's signature has verified: whoever decrypts a frame
//! it yields may release the plaintext as soon as the frame's tag verifies.

use core::ops::Range;

use crate::aead::{AesGcmCipher, FrameCipher, IV_LEN, TAG_LEN, header_tag};
use crate::body::{BlockKind, FINAL_FRAME_MARKER, FrameAad};
use crate::codec::{ReadError, ReadResult, Reader};
use crate::context::PUBLIC_KEY_FIELD;
use crate::error::{Error, Result};
use crate::header::{self, ContentType, Header};
use crate::keyring::KeyProvider;
use crate::keys::{DataKey, FrameKey, commitment_matches, derive};
use crate::limits::DecryptLimits;
use crate::sign::{MAX_SIGNATURE_LEN, Verifier};

/// A frame ready for an AEAD: decrypt `ciphertext` with `iv`, [`SealedFrame::aad`] and `tag`.
#[derive(Debug)]
pub struct SealedFrame<'a> {
    /// Sequence number (1 for a non-framed body).
    pub seq: u32,
    /// The IV as stored in the message.
    pub iv: [u8; IV_LEN],
    /// The frame's ciphertext (same length as its plaintext).
    pub ciphertext: &'a [u8],
    /// The frame's tag.
    pub tag: [u8; TAG_LEN],
    /// Whether this is the last frame (for signed suites: the signature has verified).
    pub is_final: bool,
    aad: FrameAad,
}

impl SealedFrame<'_> {
    /// The body AAD to authenticate with the frame.
    pub fn aad(&self) -> &[u8] {
        self.aad.as_bytes()
    }
}

/// Where a frame lies in the bytes a caller of [`MessageDecoder::step`] holds, counted from the
/// decoder's position: decrypt bytes [`FramePos::ciphertext`] with `iv`, [`FramePos::aad`] and the
/// tag that follows them ([`FramePos::sealed`] is both, as WebCrypto takes them).
#[derive(Debug, Clone)]
pub struct FramePos {
    /// Sequence number (1 for a non-framed body).
    pub seq: u32,
    /// The IV as stored in the message.
    pub iv: [u8; IV_LEN],
    /// Where the ciphertext lies.
    pub ciphertext: Range<usize>,
    /// Bytes of the element (frame, and the footer after the last one): move on by this many.
    pub len: usize,
    /// Whether this is the last frame (for signed suites: the signature has verified).
    pub is_final: bool,
    aad: FrameAad,
}

impl FramePos {
    /// The body AAD to authenticate with the frame.
    pub fn aad(&self) -> &[u8] {
        self.aad.as_bytes()
    }

    /// Where the tag lies.
    pub fn tag(&self) -> Range<usize> {
        self.ciphertext.end..self.ciphertext.end + TAG_LEN
    }

    /// Where `ciphertext ‖ tag` lies.
    pub fn sealed(&self) -> Range<usize> {
        self.ciphertext.start..self.ciphertext.end + TAG_LEN
    }
}

/// What [`MessageDecoder::step`] needs or found.
#[derive(Debug)]
pub enum Step {
    /// Hold at least `held` bytes from the current position and pass the first `head` of them.
    Need {
        /// Bytes to pass as the head.
        head: usize,
        /// Bytes to hold.
        held: usize,
    },
    /// The header took this many bytes: move past them; the data key is needed next.
    Header(usize),
    /// Supply the data key with [`MessageDecoder::set_data_key`].
    NeedDataKey,
    /// The next frame to decrypt, and where it lies.
    Frame(FramePos),
    /// The message is complete and authentic (as far as the frames' tags verify).
    Done,
}

/// What the decoder needs or has.
#[derive(Debug)]
pub enum Event<'a> {
    /// All input was consumed; push more.
    NeedInput,
    /// The header is read: supply the data key with [`MessageDecoder::set_data_key`].
    NeedDataKey,
    /// The next frame to decrypt.
    Frame(SealedFrame<'a>),
    /// The message is complete and authentic (as far as the frames' tags verify).
    Done,
}

#[derive(Debug)]
enum State {
    Header,
    NeedKey,
    Body,
    Done,
    Failed(Error),
}

fn fail(state: &mut State, error: Error) -> Error {
    *state = State::Failed(error.clone());
    error
}

/// A parsed body element: where its parts lie in the slice it was parsed from.
struct FrameLoc {
    seq: u32,
    iv: [u8; IV_LEN],
    ct_start: usize,
    ct_len: usize,
    kind: BlockKind,
    /// Bytes covered by the signature (the frame itself, not the footer).
    frame_len: usize,
    /// Signature range, for the last element of a signed message.
    signature: Option<(usize, usize)>,
    /// Total bytes of the element (frame, plus footer when present).
    total: usize,
}

/// Sans-I/O, sans-cipher reader of an ESDK v2 message.
pub struct MessageDecoder {
    limits: DecryptLimits,
    state: State,
    buf: Vec<u8>,
    release_buf: bool,
    header: Option<Header>,
    header_body: Vec<u8>,
    header_tag: [u8; TAG_LEN],
    key: Option<FrameKey>,
    verifier: Option<Verifier>,
    next_seq: u32,
}

impl core::fmt::Debug for MessageDecoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MessageDecoder")
            .field("state", &self.state)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl MessageDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: DecryptLimits) -> Self {
        Self {
            limits,
            state: State::Header,
            buf: Vec::new(),
            release_buf: false,
            header: None,
            header_body: Vec::new(),
            header_tag: [0; TAG_LEN],
            key: None,
            verifier: None,
            next_seq: 1,
        }
    }

    /// The header, once read (its tag is verified once the data key is set).
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// The frame key, once the data key is set and verified.
    pub fn frame_key(&self) -> Option<&FrameKey> {
        self.key.as_ref()
    }

    /// Whether the whole message has been read and verified.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Marks the message as failed (e.g. an outside cipher rejected a frame); every later call
    /// returns `error`.
    pub fn fail(&mut self, error: Error) -> Error {
        fail(&mut self.state, error)
    }

    /// Checks the data key against the key commitment and the header tag, and derives the frame key.
    /// A wrong key leaves the decoder waiting for another one.
    pub fn set_data_key(&mut self, data_key: &DataKey) -> Result<()> {
        let (State::NeedKey, Some(header)) = (&self.state, &self.header) else {
            return Err(Error::InvalidArgument(
                "the decoder is not waiting for a data key",
            ));
        };
        let (key, commitment) = derive(header.suite, &header.message_id, data_key);
        if !commitment_matches(&commitment, &header.commitment) {
            return Err(Error::Authentication);
        }
        let tag = header_tag(&key, &self.header_body)?;
        if !crate::keys::tag_matches(&tag, &self.header_tag) {
            return Err(Error::Authentication);
        }
        self.key = Some(key);
        self.header_body = Vec::new();
        self.state = State::Body;
        Ok(())
    }

    /// Checks that the message ended where it should: call after the last input.
    pub fn finish(&self) -> Result<()> {
        match &self.state {
            State::Done => Ok(()),
            State::Failed(e) => Err(e.clone()),
            _ => Err(Error::Truncated),
        }
    }

    /// Advances through `input`, which is moved past the bytes consumed. Returns the next event;
    /// a yielded frame borrows from `input` or from the decoder's buffer, which holds only an
    /// element that arrived split across calls (this is [`MessageDecoder::step`] for a caller
    /// that does not keep the bytes itself).
    pub fn next<'s: 'o, 'i: 'o, 'o>(&'s mut self, input: &mut &'i [u8]) -> Result<Event<'o>> {
        if self.release_buf {
            self.buf.clear();
            self.release_buf = false;
        }
        loop {
            let buffered = std::mem::take(&mut self.buf);
            let from_buf = !buffered.is_empty();
            let inp: &'i [u8] = input;
            let window: &[u8] = if from_buf { &buffered } else { inp };
            let step = self.step(window, window.len());
            self.buf = buffered;
            match step? {
                Step::NeedDataKey => return Ok(Event::NeedDataKey),
                Step::Done => return Ok(Event::Done),
                Step::Header(len) if from_buf => {
                    debug_assert_eq!(len, self.buf.len());
                    self.buf.clear();
                }
                Step::Header(len) => *input = inp.get(len..).unwrap_or_default(),
                Step::Need { held, .. } => {
                    let take = held.saturating_sub(self.buf.len()).min(input.len());
                    let (head, rest) = input.split_at(take);
                    self.buf.extend_from_slice(head);
                    *input = rest;
                    if self.buf.len() < held {
                        return Ok(Event::NeedInput);
                    }
                }
                Step::Frame(pos) => {
                    let src: &'o [u8] = if from_buf {
                        self.release_buf = true;
                        &self.buf
                    } else {
                        *input = inp.get(pos.len..).unwrap_or_default();
                        inp
                    };
                    let mut tag = [0; TAG_LEN];
                    tag.copy_from_slice(src.get(pos.tag()).unwrap_or(&[0; TAG_LEN]));
                    return Ok(Event::Frame(SealedFrame {
                        seq: pos.seq,
                        iv: pos.iv,
                        ciphertext: src.get(pos.ciphertext.clone()).unwrap_or_default(),
                        tag,
                        is_final: pos.is_final,
                        aad: pos.aad,
                    }));
                }
            }
        }
    }

    /// The next step over bytes the caller keeps: `held` bytes are held from the decoder's
    /// position on, and `head` is the first of them (at most `held`). The decoder reads only
    /// what it must: the header whole; of a frame, its head (sequence number, IV, length) for
    /// an unsigned suite, or all of it for a signed one, whose signature covers every byte. It
    /// hands out where the frame lies ([`FramePos`], positions from the current position),
    /// only once all of it is held; the caller then moves on by [`FramePos::len`] bytes (by the
    /// length [`Step::Header`] gives after the header). With `held == 0` after the last byte,
    /// [`Step::Done`] says the message ended where it should.
    pub fn step(&mut self, head: &[u8], held: usize) -> Result<Step> {
        let head = head.get(..held).unwrap_or(head);
        match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::NeedKey => return Ok(Step::NeedDataKey),
            State::Done if held == 0 => return Ok(Step::Done),
            State::Done => return Err(self.fail(Error::TrailingData)),
            State::Header => return self.step_header(head),
            State::Body => {}
        }
        let loc = match self.locate(head) {
            Ok(loc) => loc,
            Err(ReadError::Short(n)) => return Ok(Step::Need { head: n, held: n }),
            Err(ReadError::Invalid(e)) => return Err(self.fail(e)),
        };
        let read = if self.verifier.is_some() {
            loc.total
        } else {
            loc.ct_start
        };
        if head.len() < read || held < loc.total {
            return Ok(Step::Need {
                head: read,
                held: loc.total,
            });
        }
        if let Some(v) = self.verifier.as_mut() {
            v.update(head.get(..loc.frame_len).unwrap_or_default());
            if let Some((s, e)) = loc.signature
                && let Err(err) = v.verify(head.get(s..e).unwrap_or_default())
            {
                return Err(self.fail(err));
            }
        }
        let header = self.header.as_ref().ok_or(Error::Malformed("no header"))?;
        let aad = FrameAad::new(&header.message_id, loc.kind, loc.seq, loc.ct_len as u64);
        if loc.kind == BlockKind::Regular {
            self.next_seq = loc.seq.saturating_add(1);
        } else {
            self.state = State::Done;
        }
        Ok(Step::Frame(FramePos {
            seq: loc.seq,
            iv: loc.iv,
            ciphertext: loc.ct_start..loc.ct_start + loc.ct_len,
            len: loc.total,
            is_final: loc.kind != BlockKind::Regular,
            aad,
        }))
    }

    /// [`MessageDecoder::step`] while the header is read.
    fn step_header(&mut self, head: &[u8]) -> Result<Step> {
        let (header, body_len) = match header::parse(head, &self.limits) {
            Ok(parsed) => parsed,
            Err(ReadError::Short(n)) => return Ok(Step::Need { head: n, held: n }),
            Err(ReadError::Invalid(e)) => return Err(self.fail(e)),
        };
        let total = body_len + TAG_LEN;
        let (Some(body), Some(tag)) = (head.get(..body_len), head.get(body_len..total)) else {
            return Ok(Step::Need {
                head: total,
                held: total,
            });
        };
        let verifier = match header.suite.is_signed() {
            false => None,
            true => match header.encryption_context.get(PUBLIC_KEY_FIELD) {
                Some(pk) => match Verifier::from_context_value(pk) {
                    Ok(mut v) => {
                        v.update(body);
                        v.update(tag);
                        Some(v)
                    }
                    Err(e) => return Err(self.fail(e)),
                },
                None => {
                    return Err(self.fail(Error::Malformed(
                        "signed suite without aws-crypto-public-key in the context",
                    )));
                }
            },
        };
        self.header_body = body.to_vec();
        self.header_tag.copy_from_slice(tag);
        self.verifier = verifier;
        self.header = Some(header);
        self.state = State::NeedKey;
        Ok(Step::Header(total))
    }

    /// Where the next body element lies, from the bytes at its start: its head, and for the
    /// last element of a signed message the signature's length after its tag.
    fn locate(&self, head: &[u8]) -> ReadResult<FrameLoc> {
        let header = self
            .header
            .as_ref()
            .ok_or(ReadError::Invalid(Error::Malformed("no header")))?;
        let mut r = Reader::new(head);
        let (seq, kind, iv, ct_len) = match header.content_type {
            ContentType::NonFramed => {
                let iv = r.array::<IV_LEN>()?;
                let len = r.u64()?;
                self.check_len(len)?;
                (1, BlockKind::SingleBlock, iv, len)
            }
            ContentType::Framed => {
                let first = r.u32()?;
                let (seq, kind) = if first == FINAL_FRAME_MARKER {
                    (r.u32()?, BlockKind::Final)
                } else {
                    (first, BlockKind::Regular)
                };
                if seq != self.next_seq {
                    return Err(Error::Malformed("frame sequence number out of order").into());
                }
                if kind == BlockKind::Regular && seq == u32::MAX {
                    return Err(Error::Malformed("too many frames").into());
                }
                let iv = r.array::<IV_LEN>()?;
                let len = match kind {
                    BlockKind::Regular => header.frame_length,
                    _ => {
                        let len = r.u32()?;
                        if len > header.frame_length {
                            return Err(Error::Malformed(
                                "final frame longer than the frame length",
                            )
                            .into());
                        }
                        len
                    }
                };
                (seq, kind, iv, u64::from(len))
            }
        };
        let too_large = || ReadError::Invalid(Error::Malformed("frame too large"));
        let ct_len = usize::try_from(ct_len).map_err(|_| too_large())?;
        let ct_start = r.position();
        let frame_len = ct_start
            .checked_add(ct_len)
            .and_then(|n| n.checked_add(TAG_LEN))
            .ok_or_else(too_large)?;
        let mut signature = None;
        let mut total = frame_len;
        if kind != BlockKind::Regular && header.suite.is_signed() {
            let len_at = frame_len..frame_len + 2;
            let Some(&[hi, lo]) = head.get(len_at.clone()) else {
                return Err(ReadError::Short(len_at.end));
            };
            let sig_len = usize::from(u16::from_be_bytes([hi, lo]));
            if sig_len > MAX_SIGNATURE_LEN {
                return Err(Error::Malformed("signature longer than a P-384 signature").into());
            }
            total = len_at.end + sig_len;
            signature = Some((len_at.end, total));
        }
        Ok(FrameLoc {
            seq,
            iv,
            ct_start,
            ct_len,
            kind,
            frame_len,
            signature,
            total,
        })
    }

    fn check_len(&self, len: u64) -> ReadResult<()> {
        if len > self.limits.max_frame_len {
            return Err(Error::LimitExceeded {
                what: "non-framed body length",
                limit: self.limits.max_frame_len,
                actual: len,
            }
            .into());
        }
        Ok(())
    }
}

/// Push-based streaming decryptor with a synchronous cipher and a key provider.
///
/// Appends plaintext to the caller's buffer one authenticated frame at a time; nothing of a frame
/// is appended unless its tag verifies. After the last push, [`Decryptor::finish`] tells whether
/// the message was complete; until it returns `Ok`, what was output must not be called good.
pub struct Decryptor<K: KeyProvider, C: FrameCipher = AesGcmCipher> {
    decoder: MessageDecoder,
    keys: K,
    cipher: Option<C>,
}

impl<K: KeyProvider, C: FrameCipher> Decryptor<K, C> {
    /// A decryptor that asks `keys` for the data key once the header is read.
    pub fn new(keys: K, limits: DecryptLimits) -> Self {
        Self {
            decoder: MessageDecoder::new(limits),
            keys,
            cipher: None,
        }
    }

    /// The header, once read.
    pub fn header(&self) -> Option<&Header> {
        self.decoder.header()
    }

    /// Decrypts what `input` completes, appending verified plaintext to `out`.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        loop {
            match self.decoder.next(&mut input)? {
                Event::NeedInput | Event::Done => return Ok(()),
                Event::NeedDataKey => {
                    let header = self.decoder.header().ok_or(Error::Malformed("no header"))?;
                    let key = self.keys.data_key(header)?;
                    self.decoder.set_data_key(&key)?;
                    let fk = self.decoder.frame_key().ok_or(Error::Authentication)?;
                    self.cipher = Some(C::new(fk));
                }
                Event::Frame(frame) => {
                    let Some(cipher) = self.cipher.as_mut() else {
                        return Err(Error::Authentication);
                    };
                    let start = out.len();
                    out.resize(start + frame.ciphertext.len(), 0);
                    let dst = out.get_mut(start..).unwrap_or_default();
                    let opened =
                        cipher.open(&frame.iv, frame.aad(), frame.ciphertext, dst, &frame.tag);
                    if let Err(e) = opened {
                        out.truncate(start);
                        return Err(self.decoder.fail(e));
                    }
                }
            }
        }
    }

    /// Succeeds only if the whole message was read and verified.
    pub fn finish(self) -> Result<()> {
        self.decoder.finish()
    }
}

/// Decrypts a whole message in memory; returns the plaintext and the header.
pub fn decrypt<K: KeyProvider>(
    keys: K,
    message: &[u8],
    limits: DecryptLimits,
) -> Result<(Vec<u8>, Header)> {
    let mut d = Decryptor::<K, AesGcmCipher>::new(keys, limits);
    let mut out = Vec::with_capacity(message.len());
    d.push(message, &mut out)?;
    let header = d.header().cloned().ok_or(Error::Truncated)?;
    d.finish()?;
    Ok((out, header))
}
