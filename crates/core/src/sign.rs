//! ECDSA P-384 with SHA-384 for suite 0x0578: streaming signer and verifier, key encodings.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p384::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p384::ecdsa::{DerSignature, VerifyingKey};
use sha2::{Digest, Sha384};

use crate::error::{Error, Result};

/// Largest DER encoding of a P-384 ECDSA signature (2 + 2·(2 + 49)).
pub const MAX_SIGNATURE_LEN: usize = 104;

/// The per-message signing key of a 0x0578 message. Zeroized on drop by `p384`.
#[derive(Clone)]
pub struct SigningKey(p384::ecdsa::SigningKey);

impl SigningKey {
    /// A fresh random key (one per message, as the ESDK does).
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut scalar = zeroize::Zeroizing::new([0u8; 48]);
        loop {
            rng.fill_bytes(&mut scalar[..]);
            if let Ok(key) = p384::ecdsa::SigningKey::from_bytes(&(*scalar).into()) {
                return Self(key);
            }
        }
    }

    /// A key from its 48-byte big-endian scalar (e.g. exported from WebCrypto).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 48] = bytes
            .try_into()
            .map_err(|_| Error::InvalidArgument("a P-384 private key is 48 bytes"))?;
        p384::ecdsa::SigningKey::from_bytes(&arr.into())
            .map(Self)
            .map_err(|_| Error::InvalidArgument("not a valid P-384 private key"))
    }

    /// The 48-byte big-endian scalar (zeroized on drop), to keep the key sealed while an
    /// upload may be resumed ([`crate::resume::seal_signing_key`]).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 48]> {
        zeroize::Zeroizing::new(self.0.to_bytes().into())
    }

    /// The verification key as the context carries it: base64 of the SEC1 compressed point.
    pub fn public_key_base64(&self) -> String {
        let point = self.0.verifying_key().to_sec1_point(true);
        B64.encode(point.as_bytes())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key_base64())
    }
}

/// Hashes every message byte as it is produced and signs the digest at the end.
pub(crate) struct Signer {
    key: SigningKey,
    hash: Sha384,
}

impl Signer {
    pub(crate) fn new(key: SigningKey) -> Self {
        Self {
            key,
            hash: Sha384::new(),
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
    }

    /// The message footer: the DER signature over everything hashed so far, length-prefixed.
    pub(crate) fn footer(self) -> Result<Vec<u8>> {
        let sig = self.sign()?;
        let mut footer = Vec::with_capacity(2 + sig.len());
        crate::codec::put_u16_prefixed(&mut footer, &sig)?;
        Ok(footer)
    }

    /// The DER signature over everything hashed so far.
    fn sign(self) -> Result<Vec<u8>> {
        let digest = self.hash.finalize();
        let sig: DerSignature = self
            .key
            .0
            .sign_prehash(&digest)
            .map_err(|_| Error::InvalidArgument("ECDSA signing failed"))?;
        Ok(sig.as_bytes().to_vec())
    }
}

/// Hashes every message byte as it is read and checks the footer's signature.
pub(crate) struct Verifier {
    key: VerifyingKey,
    hash: Sha384,
}

impl Verifier {
    /// Builds a verifier from the context's `aws-crypto-public-key` value.
    pub(crate) fn from_context_value(b64: &str) -> Result<Self> {
        let bytes = B64
            .decode(b64)
            .map_err(|_| Error::Malformed("aws-crypto-public-key is not base64"))?;
        let key = VerifyingKey::from_sec1_bytes(&bytes)
            .map_err(|_| Error::Malformed("aws-crypto-public-key is not a P-384 point"))?;
        Ok(Self {
            key,
            hash: Sha384::new(),
        })
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
    }

    /// Checks a DER signature over everything hashed so far.
    pub(crate) fn verify(&self, der: &[u8]) -> Result<()> {
        let sig = DerSignature::from_bytes(der).map_err(|_| Error::Authentication)?;
        let digest = self.hash.clone().finalize();
        self.key
            .verify_prehash(&digest, &sig)
            .map_err(|_| Error::Authentication)
    }
}
