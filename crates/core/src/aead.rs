//! The pluggable bulk cipher: per-frame AES-256-GCM behind a trait, with the `aes-gcm` default.
//!
//! Core keeps framing, IVs, AADs, key derivation, commitment, header tag and signature; only the
//! bulk encryption of frame bodies goes through [`FrameCipher`]. A synchronous outside cipher
//! implements the trait; an asynchronous one (WebCrypto) drives [`crate::FrameEncoder`] and
//! [`crate::MessageDecoder`] directly, which hand out the IV and AAD of every frame.

use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};

use crate::error::{Error, Result};
use crate::keys::FrameKey;

/// AES-GCM IV length used by the v2 suites.
pub const IV_LEN: usize = 12;
/// AES-GCM tag length used by the v2 suites.
pub const TAG_LEN: usize = 16;

/// AES-256-GCM over one frame, with a detached tag.
pub trait FrameCipher {
    /// Builds the cipher for a frame key.
    fn new(key: &FrameKey) -> Self
    where
        Self: Sized;

    /// Encrypts `input` into `output` (same length) and returns the tag.
    fn seal(
        &mut self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<[u8; TAG_LEN]>;

    /// Decrypts `input` into `output` (same length) if `tag` verifies, else [`Error::Authentication`].
    /// On failure the content of `output` is unspecified and must be discarded.
    fn open(
        &mut self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()>;

    /// [`FrameCipher::seal`] with one buffer for input and output. The default copies the input;
    /// implementations that can work in place should override it.
    fn seal_in_place(
        &mut self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        let input = buf.to_vec();
        self.seal(iv, aad, &input, buf)
    }

    /// [`FrameCipher::open`] with one buffer for input and output (see [`FrameCipher::seal_in_place`]).
    fn open_in_place(
        &mut self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        let input = buf.to_vec();
        self.open(iv, aad, &input, buf, tag)
    }
}

/// The built-in cipher: RustCrypto `aes-gcm` (AES-NI and CLMUL where the CPU has them).
pub struct AesGcmCipher(Aes256Gcm);

impl FrameCipher for AesGcmCipher {
    fn new(key: &FrameKey) -> Self {
        Self(Aes256Gcm::new(key.as_bytes().into()))
    }

    fn seal(
        &mut self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        gcm_seal(&self.0, iv, aad, inout(input, output)?)
    }

    fn open(
        &mut self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        gcm_open(&self.0, iv, aad, inout(input, output)?, tag)
    }

    fn seal_in_place(
        &mut self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        gcm_seal(&self.0, iv, aad, buf.into())
    }

    fn open_in_place(
        &mut self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        gcm_open(&self.0, iv, aad, buf.into(), tag)
    }
}

/// Pairs an input and an output buffer of the same length.
pub(crate) fn inout<'i, 'o>(input: &'i [u8], output: &'o mut [u8]) -> Result<InOutBuf<'i, 'o, u8>> {
    InOutBuf::new(input, output)
        .map_err(|_| Error::InvalidArgument("input and output lengths differ"))
}

/// AES-GCM (any key size, 12-byte IV, 16-byte tag) with a detached tag.
pub(crate) fn gcm_seal<A: AeadInOut<NonceSize = U12, TagSize = U16>>(
    aead: &A,
    iv: &[u8; IV_LEN],
    aad: &[u8],
    buf: InOutBuf<'_, '_, u8>,
) -> Result<[u8; TAG_LEN]> {
    let tag = aead
        .encrypt_inout_detached(iv.into(), aad, buf)
        .map_err(|_| Error::InvalidArgument("input too long for AES-GCM"))?;
    Ok(tag.into())
}

/// Opens what [`gcm_seal`] sealed; any failure is [`Error::Authentication`].
pub(crate) fn gcm_open<A: AeadInOut<NonceSize = U12, TagSize = U16>>(
    aead: &A,
    iv: &[u8; IV_LEN],
    aad: &[u8],
    buf: InOutBuf<'_, '_, u8>,
    tag: &[u8; TAG_LEN],
) -> Result<()> {
    aead.decrypt_inout_detached(iv.into(), aad, buf, tag.into())
        .map_err(|_| Error::Authentication)
}

/// The v2 header authentication tag: AES-GCM with a zero IV over an empty plaintext, AAD = header body.
pub(crate) fn header_tag(key: &FrameKey, header_body: &[u8]) -> Result<[u8; TAG_LEN]> {
    AesGcmCipher::new(key).seal(&[0u8; IV_LEN], header_body, &[], &mut [])
}
