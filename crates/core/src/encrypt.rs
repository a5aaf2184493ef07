//! Streaming encryption: the frame encoder (bring your own cipher) and the push-based encryptor.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::aead::{AesGcmCipher, FrameCipher, IV_LEN, TAG_LEN, header_tag};
use crate::body::{BlockKind, FINAL_FRAME_MARKER, FrameAad, canonical_iv};
use crate::error::{Error, Result};
use crate::header::{ContentType, Header};
use crate::keyring::EncryptionMaterials;
use crate::keys::{FrameKey, MESSAGE_ID_LEN, derive};
use crate::limits::MAX_ENCRYPT_FRAME_LEN;
use crate::sign::Signer;

/// What an outside cipher needs to seal one frame: its IV and AAD. Issued by
/// [`FrameEncoder::begin_frame`], redeemed by [`FrameEncoder::end_frame`].
#[derive(Debug)]
pub struct FrameSpec {
    /// Sequence number (from 1).
    pub seq: u32,
    /// The frame's IV.
    pub iv: [u8; IV_LEN],
    /// Plaintext length of the frame.
    pub len: usize,
    /// Whether this is the final frame.
    pub is_final: bool,
    aad: FrameAad,
}

impl FrameSpec {
    /// The body AAD to authenticate with the frame.
    pub fn aad(&self) -> &[u8] {
        self.aad.as_bytes()
    }
}

/// Writes an ESDK v2 message frame by frame around an outside AES-256-GCM.
///
/// Core does everything but the bulk cipher: header, commitment, header tag, IVs, AADs, frame
/// layout, sequence numbers and the signature. Use [`Encryptor`] for the synchronous built-in path.
pub struct FrameEncoder {
    message_id: [u8; MESSAGE_ID_LEN],
    frame_len: u32,
    next_seq: u32,
    key: FrameKey,
    signer: Option<Signer>,
    header: Vec<u8>,
    /// The next sequence number to begin (frames may be begun ahead of being ended).
    next_begin: u64,
    final_begun: bool,
    final_written: bool,
}

impl core::fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameEncoder")
            .field("frame_len", &self.frame_len)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl FrameEncoder {
    /// Starts a message: picks the message id, derives keys, writes and authenticates the header.
    /// The plaintext data key in `materials` is dropped (and zeroized) before this returns.
    pub fn new<R: CryptoRng + ?Sized>(
        materials: EncryptionMaterials,
        frame_length: u32,
        rng: &mut R,
    ) -> Result<Self> {
        let mut message_id = [0u8; MESSAGE_ID_LEN];
        rng.fill_bytes(&mut message_id);
        Self::with_message_id(materials, frame_length, message_id)
    }

    /// Starts a message with a given message id: with the same materials, the same bytes as the
    /// message first made with that id (to resume an interrupted upload, [`crate::resume`]).
    /// A message id must never be reused for different plaintext under the same data key.
    pub fn with_message_id(
        materials: EncryptionMaterials,
        frame_length: u32,
        message_id: [u8; MESSAGE_ID_LEN],
    ) -> Result<Self> {
        if frame_length == 0 || frame_length > MAX_ENCRYPT_FRAME_LEN {
            return Err(Error::InvalidArgument(
                "frame length must be 1 ..= 2^31-1 bytes",
            ));
        }
        let EncryptionMaterials {
            suite,
            context,
            data_key,
            edks,
            signing_key,
        } = materials;
        let (key, commitment) = derive(suite, &message_id, &data_key);
        drop(data_key);
        let header = Header {
            suite,
            message_id,
            encryption_context: context,
            encrypted_data_keys: edks,
            content_type: ContentType::Framed,
            frame_length,
            commitment,
        };
        let mut bytes = header.encode_body()?;
        let tag = header_tag(&key, &bytes)?;
        bytes.extend_from_slice(&tag);
        let mut signer = signing_key.map(Signer::new);
        if let Some(s) = signer.as_mut() {
            s.update(&bytes);
        }
        Ok(Self {
            message_id,
            frame_len: frame_length,
            next_seq: 1,
            key,
            signer,
            header: bytes,
            next_begin: 1,
            final_begun: false,
            final_written: false,
        })
    }

    /// The message id (random unless given).
    pub fn message_id(&self) -> [u8; MESSAGE_ID_LEN] {
        self.message_id
    }

    /// The serialized header (body and tag): the first bytes of the message.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// The derived frame key, for importing into an outside cipher.
    pub fn frame_key(&self) -> &FrameKey {
        &self.key
    }

    /// Plaintext bytes per regular frame.
    pub fn frame_length(&self) -> u32 {
        self.frame_len
    }

    /// Reserves the next frame. Regular frames hold exactly the frame length; the final frame
    /// holds 0 ..= frame length bytes. Frames may be begun ahead, so that an asynchronous cipher
    /// seals several at once; they must be ended in the order they were begun.
    pub fn begin_frame(&mut self, len: usize, is_final: bool) -> Result<FrameSpec> {
        if self.final_begun {
            return Err(Error::InvalidArgument(
                "no frame can follow the final frame",
            ));
        }
        let frame_len = self.frame_len as usize;
        if (is_final && len > frame_len) || (!is_final && len != frame_len) {
            return Err(Error::InvalidArgument(
                "frame length does not match the header",
            ));
        }
        let Ok(seq) = u32::try_from(self.next_begin) else {
            return Err(Error::InvalidArgument("frame count"));
        };
        if !is_final && seq == u32::MAX {
            return Err(Error::LimitExceeded {
                what: "frame count",
                limit: u32::MAX.into(),
                actual: u64::from(u32::MAX) + 1,
            });
        }
        self.next_begin += 1;
        self.final_begun = is_final;
        let kind = if is_final {
            BlockKind::Final
        } else {
            BlockKind::Regular
        };
        Ok(FrameSpec {
            seq,
            iv: canonical_iv(seq),
            len,
            is_final,
            aad: FrameAad::new(&self.message_id, kind, seq, len as u64),
        })
    }

    fn write_prefix(spec: &FrameSpec, out: &mut Vec<u8>) {
        if spec.is_final {
            out.extend_from_slice(&FINAL_FRAME_MARKER.to_be_bytes());
        }
        out.extend_from_slice(&spec.seq.to_be_bytes());
        out.extend_from_slice(&spec.iv);
        if spec.is_final {
            // len <= frame_len <= u32::MAX, checked in begin_frame.
            out.extend_from_slice(&(spec.len as u32).to_be_bytes());
        }
    }

    fn commit(&mut self, spec: &FrameSpec, frame_bytes: &[u8]) {
        self.commit_parts(spec, &[frame_bytes]);
    }

    fn commit_parts(&mut self, spec: &FrameSpec, frame_parts: &[&[u8]]) {
        if let Some(s) = self.signer.as_mut() {
            for part in frame_parts {
                s.update(part);
            }
        }
        if spec.is_final {
            self.final_written = true;
        } else {
            self.next_seq += 1;
        }
    }

    /// Appends a frame sealed by an outside cipher: `ciphertext` and `tag` for `spec`.
    pub fn end_frame(
        &mut self,
        spec: &FrameSpec,
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        if !self.is_next_to_end(spec) || ciphertext.len() != spec.len {
            return Err(Error::InvalidArgument("frame does not match the one begun"));
        }
        let start = out.len();
        Self::write_prefix(spec, out);
        out.extend_from_slice(ciphertext);
        out.extend_from_slice(tag);
        self.commit(spec, out.get(start..).unwrap_or_default());
        Ok(())
    }

    /// Whether `spec` is the frame to end now: begun, and the oldest not yet ended.
    fn is_next_to_end(&self, spec: &FrameSpec) -> bool {
        !self.final_written && spec.seq == self.next_seq && u64::from(spec.seq) < self.next_begin
    }

    /// Whether the message is signed (suite 0x0578): then [`FrameEncoder::end_frame_external`]
    /// needs the sealed bytes of every frame, to hash them.
    pub fn is_signed(&self) -> bool {
        self.signer.is_some()
    }

    /// Ends a frame whose `ciphertext ‖ tag` the caller keeps and writes out itself (as WebCrypto
    /// returns them, in one buffer), appending only the frame's prefix (final-frame marker,
    /// sequence number, IV, final-frame length) to `out`. The caller must write `sealed` right
    /// after that prefix. Signed messages need `sealed` (it is hashed for the signature);
    /// unsigned ones may pass `None` and so avoid copying the ciphertext.
    pub fn end_frame_external(
        &mut self,
        spec: &FrameSpec,
        sealed: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        if !self.is_next_to_end(spec)
            || sealed.is_some_and(|s| s.len() != spec.len + TAG_LEN)
            || (sealed.is_none() && self.is_signed())
        {
            return Err(Error::InvalidArgument("frame does not match the one begun"));
        }
        let start = out.len();
        Self::write_prefix(spec, out);
        let prefix = out.get(start..).unwrap_or_default().to_vec();
        self.commit_parts(spec, &[&prefix, sealed.unwrap_or_default()]);
        Ok(())
    }

    /// Seals `plaintext` as the next frame with `cipher`, appending it to `out` (no extra copy).
    pub fn seal_frame<C: FrameCipher>(
        &mut self,
        cipher: &mut C,
        plaintext: &[u8],
        is_final: bool,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        if u64::from(self.next_seq) != self.next_begin {
            return Err(Error::InvalidArgument(
                "frames begun with begin_frame are still open",
            ));
        }
        let spec = self.begin_frame(plaintext.len(), is_final)?;
        let start = out.len();
        Self::write_prefix(&spec, out);
        let body = out.len();
        // Copy, then seal in place: cheaper than zero-filling the output and sealing across.
        out.extend_from_slice(plaintext);
        let sealed = match out.get_mut(body..) {
            Some(buf) => cipher.seal_in_place(&spec.iv, spec.aad(), buf),
            None => Err(Error::InvalidArgument("output buffer")),
        };
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                let (_, frame) = out.split_at(start);
                self.commit(&spec, frame);
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                // Un-begin the frame, so the caller may retry it.
                self.next_begin -= 1;
                self.final_begun = false;
                Err(e)
            }
        }
    }

    /// Ends the message: returns the footer (the signature for 0x0578, empty for 0x0478).
    pub fn finish(self) -> Result<Vec<u8>> {
        if !self.final_written {
            return Err(Error::InvalidArgument(
                "the final frame has not been written",
            ));
        }
        let Some(signer) = self.signer else {
            return Ok(Vec::new());
        };
        signer.footer()
    }
}

/// Push-based streaming encryptor: feed plaintext in chunks of any size, get message bytes.
///
/// Holds at most one frame of plaintext. The header is emitted by the first `push` or `finish`.
/// Regular frames are emitted as soon as they are full, so a plaintext that is an exact multiple
/// of the frame length ends with an empty final frame (as the official SDKs write it).
pub struct Encryptor<C: FrameCipher = AesGcmCipher> {
    encoder: FrameEncoder,
    cipher: C,
    pending: Zeroizing<Vec<u8>>,
    header_written: bool,
}

impl<C: FrameCipher> Encryptor<C> {
    /// Starts a message with `frame_length` bytes of plaintext per frame.
    pub fn new<R: CryptoRng + ?Sized>(
        materials: EncryptionMaterials,
        frame_length: u32,
        rng: &mut R,
    ) -> Result<Self> {
        Ok(Self::over(FrameEncoder::new(materials, frame_length, rng)?))
    }

    /// Starts a message with a given message id (see [`FrameEncoder::with_message_id`]).
    pub fn with_message_id(
        materials: EncryptionMaterials,
        frame_length: u32,
        message_id: [u8; MESSAGE_ID_LEN],
    ) -> Result<Self> {
        Ok(Self::over(FrameEncoder::with_message_id(
            materials,
            frame_length,
            message_id,
        )?))
    }

    fn over(encoder: FrameEncoder) -> Self {
        let cipher = C::new(encoder.frame_key());
        let cap = (encoder.frame_length() as usize).min(1 << 20);
        Self {
            encoder,
            cipher,
            pending: Zeroizing::new(Vec::with_capacity(cap)),
            header_written: false,
        }
    }

    /// The message id, to re-create the message later ([`Encryptor::with_message_id`]).
    pub fn message_id(&self) -> [u8; MESSAGE_ID_LEN] {
        self.encoder.message_id()
    }

    /// The message header, for callers that want to inspect it.
    pub fn header(&self) -> &[u8] {
        self.encoder.header()
    }

    fn write_header(&mut self, out: &mut Vec<u8>) {
        if !self.header_written {
            out.extend_from_slice(self.encoder.header());
            self.header_written = true;
        }
    }

    /// Encrypts `input`, appending every completed frame to `out`.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.write_header(out);
        let frame_len = self.encoder.frame_length() as usize;
        if !self.pending.is_empty() {
            let take = (frame_len - self.pending.len()).min(input.len());
            let (head, rest) = input.split_at(take);
            self.pending.extend_from_slice(head);
            input = rest;
            if self.pending.len() == frame_len {
                self.encoder
                    .seal_frame(&mut self.cipher, &self.pending, false, out)?;
                self.pending.clear();
            }
        }
        while input.len() >= frame_len {
            let (frame, rest) = input.split_at(frame_len);
            self.encoder
                .seal_frame(&mut self.cipher, frame, false, out)?;
            input = rest;
        }
        self.pending.extend_from_slice(input);
        Ok(())
    }

    /// Writes the final frame and the footer.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<()> {
        self.write_header(out);
        self.encoder
            .seal_frame(&mut self.cipher, &self.pending, true, out)?;
        out.extend_from_slice(&self.encoder.finish()?);
        Ok(())
    }
}

/// Encrypts a whole plaintext in memory with the built-in cipher.
pub fn encrypt<R: CryptoRng + ?Sized>(
    materials: EncryptionMaterials,
    frame_length: u32,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    let mut enc = Encryptor::<AesGcmCipher>::new(materials, frame_length, rng)?;
    let mut out = Vec::with_capacity(plaintext.len() + 1024);
    enc.push(plaintext, &mut out)?;
    enc.finish(&mut out)?;
    Ok(out)
}
