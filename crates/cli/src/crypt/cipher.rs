//! The native CLI's bulk cipher: AES-256-GCM from `aws-lc-rs` (already in the tree through the AWS
//! SDK's TLS), behind core's [`FrameCipher`]. Measured faster than RustCrypto `aes-gcm` on this
//! project's machines (`cargo bench -p cipherdrop-cli --bench cipher`, BENCHMARKS.md); the browser
//! and `cipherdrop-core` alone keep RustCrypto.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use cipherdrop_core::{Error, FrameCipher, FrameKey, IV_LEN, Result, TAG_LEN};

/// AES-256-GCM through AWS-LC.
pub struct AwsLcCipher(LessSafeKey);

fn tag_of(tag: &[u8]) -> Result<[u8; TAG_LEN]> {
    tag.try_into()
        .map_err(|_| Error::InvalidArgument("AES-GCM tag length"))
}

impl FrameCipher for AwsLcCipher {
    fn new(key: &FrameKey) -> Self {
        // AES-256-GCM takes any 32-byte key, and a frame key is 32 bytes.
        #[allow(clippy::expect_used)]
        let key = UnboundKey::new(&AES_256_GCM, key.as_bytes()).expect("a 32-byte AES-256 key");
        Self(LessSafeKey::new(key))
    }

    fn seal(
        &mut self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        if input.len() != output.len() {
            return Err(Error::InvalidArgument("input and output lengths differ"));
        }
        output.copy_from_slice(input);
        self.seal_in_place(iv, aad, output)
    }

    fn open(
        &mut self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        if input.len() != output.len() {
            return Err(Error::InvalidArgument("input and output lengths differ"));
        }
        self.0
            .open_separate_gather(
                Nonce::assume_unique_for_key(*iv),
                Aad::from(aad),
                input,
                tag,
                output,
            )
            .map_err(|_| Error::Authentication)
    }

    fn seal_in_place(
        &mut self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), buf)
            .map_err(|_| Error::InvalidArgument("input too long for AES-GCM"))?;
        tag_of(tag.as_ref())
    }

    fn open_in_place(
        &mut self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        self.0
            .open_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), tag, buf)
            .map(drop)
            .map_err(|_| Error::Authentication)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use cipherdrop_core::{
        AesGcmCipher, DecryptLimits, Decryptor, EncryptionContext, EncryptionMaterials, Encryptor,
        RawAesKeyring, Suite,
    };

    use super::*;

    /// Encrypts with one cipher, decrypts with the other, both suites, and checks the outputs are
    /// the same message byte for byte; a flipped byte fails with either.
    #[test]
    fn aws_lc_and_rustcrypto_write_and_read_the_same_messages() {
        let ring = RawAesKeyring::new("ns", "k", &[7u8; 32]).unwrap();
        let plain: Vec<u8> = (0..200_003u32).map(|i| (i * 31 % 251) as u8).collect();
        for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
            let mut ct = [Vec::new(), Vec::new()];
            // Same randomness for both: a fixed-seed generator.
            for (i, out) in ct.iter_mut().enumerate() {
                let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9);
                let m = EncryptionMaterials::with_raw_aes(
                    suite,
                    &EncryptionContext::new(),
                    &[&ring],
                    &mut rng,
                )
                .unwrap();
                if i == 0 {
                    let mut e = Encryptor::<AwsLcCipher>::new(m, 4096, &mut rng).unwrap();
                    e.push(&plain, out).unwrap();
                    e.finish(out).unwrap();
                } else {
                    let mut e = Encryptor::<AesGcmCipher>::new(m, 4096, &mut rng).unwrap();
                    e.push(&plain, out).unwrap();
                    e.finish(out).unwrap();
                }
            }
            assert!(
                ct[0] == ct[1],
                "{suite:?}: the two ciphers wrote different messages"
            );
            let mut d = Decryptor::<_, AwsLcCipher>::new(&ring, DecryptLimits::default());
            let mut back = Vec::new();
            d.push(&ct[1], &mut back).unwrap();
            d.finish().unwrap();
            assert!(back == plain);
            let mut bad = ct[0].clone();
            let n = bad.len() / 2;
            bad[n] ^= 1;
            let mut d = Decryptor::<_, AwsLcCipher>::new(&ring, DecryptLimits::default());
            let mut sink = Vec::new();
            let failed = d.push(&bad, &mut sink).is_err() || d.finish().is_err();
            assert!(failed);
        }
    }
}
