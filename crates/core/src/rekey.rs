//! Re-keying a stored message without touching its body: a new header (the data key wrapped
//! under other keys, the same message id, a new header tag) in front of the same frames.
//!
//! In a v2 message nothing in the body depends on the encrypted data keys: each frame's key is
//! derived from the data key and the message id, and its AAD names only the message id, the
//! frame's kind, sequence number and length. So a message moves to another KMS key by writing a
//! new header; every body byte stays as it was. The data key is checked first (key commitment
//! and the old header's tag), so a wrong key or a tampered header never gets a new header.
//!
//! Signed messages (0x0578) are the exception: the footer's ECDSA signature covers the header,
//! and the old signing key is gone (it is dropped once a message is written). The re-key signs
//! with a fresh key, whose public key replaces the old one in the encryption context; a
//! [`Resigner`] reads the old body (any chunking), checks it against the old signature, hashes
//! it after the new header and gives the new footer. The frames are not decrypted.

use crate::aead::{TAG_LEN, header_tag};
use crate::context::{EncryptionContext, PUBLIC_KEY_FIELD};
use crate::decrypt::{MessageDecoder, Step};
use crate::error::{Error, Result};
use crate::header::{EncryptedDataKey, Header};
use crate::keys::DataKey;
use crate::limits::DecryptLimits;
use crate::sign::{Signer, SigningKey};

/// A re-key under way: the old header read and checked, the new context known (wrap the data key
/// under it), the new header not yet written.
pub struct Rekey {
    /// Past the old header, holding the frame key.
    decoder: MessageDecoder,
    old_header_len: usize,
    context: EncryptionContext,
    signing_key: Option<SigningKey>,
}

impl core::fmt::Debug for Rekey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Rekey")
            .field("old_header_len", &self.old_header_len)
            .finish_non_exhaustive()
    }
}

impl Rekey {
    /// Starts re-keying the message whose first bytes are `message_head` (the whole header at
    /// least). `data_key` must be the message's: it is checked against the key commitment and
    /// the header's tag (else [`Error::Authentication`]). A signed suite needs `signing_key`,
    /// the fresh key the new footer is signed with; an unsigned one must have none.
    pub fn new(
        message_head: &[u8],
        data_key: &DataKey,
        signing_key: Option<SigningKey>,
        limits: DecryptLimits,
    ) -> Result<Self> {
        let mut decoder = MessageDecoder::new(limits);
        let old_header_len = match decoder.step(message_head, message_head.len())? {
            Step::Header(len) => len,
            _ => return Err(Error::Truncated),
        };
        decoder.set_data_key(data_key)?;
        let header = decoder.header().ok_or(Error::Malformed("no header"))?;
        let mut context = header.encryption_context.clone();
        match (header.suite.is_signed(), &signing_key) {
            (true, Some(key)) => context.insert(PUBLIC_KEY_FIELD, key.public_key_base64()),
            (true, None) => {
                return Err(Error::InvalidArgument(
                    "re-keying a signed message needs a new signing key",
                ));
            }
            (false, Some(_)) => {
                return Err(Error::InvalidArgument(
                    "an unsigned message takes no signing key",
                ));
            }
            (false, None) => {}
        }
        context.serialize()?;
        Ok(Self {
            decoder,
            old_header_len,
            context,
            signing_key,
        })
    }

    /// Bytes of the old header (its body and tag): the old body starts here.
    pub fn old_header_len(&self) -> usize {
        self.old_header_len
    }

    /// The old header.
    pub fn old_header(&self) -> Option<&Header> {
        self.decoder.header()
    }

    /// The new header's encryption context (for a signed suite, with the new public key): the
    /// context to wrap the data key under.
    pub fn context(&self) -> &EncryptionContext {
        &self.context
    }

    /// Writes the new header (body and tag) with `edks`, which must wrap the same data key under
    /// [`Rekey::context`]. For a signed suite it also returns the [`Resigner`] the old body goes
    /// through; an unsigned message's body follows the new header as it is.
    pub fn finish(self, edks: Vec<EncryptedDataKey>) -> Result<(Vec<u8>, Option<Resigner>)> {
        let old = self.decoder.header().ok_or(Error::Malformed("no header"))?;
        let key = self
            .decoder
            .frame_key()
            .ok_or(Error::Malformed("no frame key"))?;
        let header = Header {
            encryption_context: self.context,
            encrypted_data_keys: edks,
            ..old.clone()
        };
        let mut bytes = header.encode_body()?;
        let tag = header_tag(key, &bytes)?;
        bytes.extend_from_slice(&tag);
        let resigner = self.signing_key.map(|key| {
            let mut signer = Signer::new(key);
            signer.update(&bytes);
            Resigner {
                decoder: self.decoder,
                signer,
                buf: Vec::new(),
                start: 0,
                body_len: 0,
            }
        });
        Ok((bytes, resigner))
    }
}

/// Reads a signed message's old body (after its old header, in chunks of any size), checks its
/// structure and the old footer's signature, and signs the new header and the same body bytes.
/// Holds at most one frame (plus what one push adds).
pub struct Resigner {
    decoder: MessageDecoder,
    signer: Signer,
    buf: Vec<u8>,
    /// Bytes of `buf` already read.
    start: usize,
    /// Old body bytes before the old footer, read so far.
    body_len: u64,
}

impl core::fmt::Debug for Resigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Resigner")
            .field("body_len", &self.body_len)
            .finish_non_exhaustive()
    }
}

impl Resigner {
    /// Reads the next old body bytes (the old footer included, at the end).
    pub fn push(&mut self, bytes: &[u8]) -> Result<()> {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
        loop {
            let held = self.buf.get(self.start..).unwrap_or_default();
            match self.decoder.step(held, held.len())? {
                Step::Need { .. } | Step::Done => return Ok(()),
                Step::Frame(pos) => {
                    // The frame's own bytes; after the final one, the old footer is not hashed.
                    let frame = held
                        .get(..pos.ciphertext.end + TAG_LEN)
                        .ok_or(Error::Malformed("frame outside the bytes held"))?;
                    self.signer.update(frame);
                    self.body_len += frame.len() as u64;
                    self.start += pos.len;
                }
                Step::Header(_) | Step::NeedDataKey => {
                    return Err(Error::Malformed("a header inside the body"));
                }
            }
        }
    }

    /// Ends the old body: checks that it ended where it should and that the old signature
    /// verified, and returns the old body's length before its footer and the new footer.
    pub fn finish(mut self) -> Result<(u64, Vec<u8>)> {
        let rest = self.buf.len() - self.start.min(self.buf.len());
        self.decoder.step(&[], rest)?;
        self.decoder.finish()?;
        Ok((self.body_len, self.signer.footer()?))
    }
}

/// Re-keys a whole message in memory: the new message is the new header, the same body and
/// (signed suites) a new footer. `wrap` wraps the data key under the new context (KMS `Encrypt`
/// with that context, or a keyring).
pub fn rekey_message(
    message: &[u8],
    data_key: &DataKey,
    signing_key: Option<SigningKey>,
    limits: DecryptLimits,
    wrap: impl FnOnce(&EncryptionContext) -> Result<Vec<EncryptedDataKey>>,
) -> Result<Vec<u8>> {
    let rekey = Rekey::new(message, data_key, signing_key, limits)?;
    let body = message.get(rekey.old_header_len()..).unwrap_or_default();
    let edks = wrap(rekey.context())?;
    let (mut out, resigner) = rekey.finish(edks)?;
    match resigner {
        None => out.extend_from_slice(body),
        Some(mut resigner) => {
            resigner.push(body)?;
            let (body_len, footer) = resigner.finish()?;
            let body_len = usize::try_from(body_len).map_err(|_| Error::Truncated)?;
            out.extend_from_slice(body.get(..body_len).ok_or(Error::Truncated)?);
            out.extend_from_slice(&footer);
        }
    }
    Ok(out)
}
