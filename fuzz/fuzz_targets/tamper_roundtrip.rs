//! Fuzz target: a valid message with fuzzer-chosen edits either decrypts to the original
//! plaintext (the edit changed nothing) or is refused; it never yields other plaintext.
#![no_main]

use cipherdrop_core::{
    DecryptLimits, EncryptionContext, EncryptionMaterials, RawAesKeyring, Suite, decrypt, encrypt,
};
use libfuzzer_sys::fuzz_target;

struct Fixed(u8);
/// A deterministic byte source, so every input reproduces the same message.
impl rand_core::TryRng for Fixed {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(u32::from(self.0))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::from(self.0))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            self.0 = self.0.wrapping_mul(31).wrapping_add(7);
            *b = self.0;
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Fixed {}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (params, rest) = data.split_at(4);
    let signed = params[0] & 1 == 1;
    let frame = u32::from(params[1]).max(1);
    let split = usize::from(params[2]).min(rest.len());
    let (plaintext, edits) = rest.split_at(split);
    let Ok(ring) = RawAesKeyring::new("fuzz", "k", &[9; 32]) else {
        return;
    };
    let suite = if signed {
        Suite::CommitKeyEcdsaP384
    } else {
        Suite::CommitKey
    };
    let ctx: EncryptionContext = [("a", "b")].into_iter().collect();
    let mut rng = Fixed(params[3]);
    let Ok(m) = EncryptionMaterials::with_raw_aes(suite, &ctx, &[&ring], &mut rng) else {
        return;
    };
    let Ok(mut msg) = encrypt(m, frame, plaintext, &mut rng) else {
        return;
    };
    assert_eq!(
        decrypt(&ring, &msg, DecryptLimits::default())
            .map(|r| r.0)
            .ok()
            .as_deref(),
        Some(plaintext)
    );
    for pair in edits.chunks_exact(3) {
        let pos = usize::from(u16::from_be_bytes([pair[0], pair[1]])) % msg.len();
        msg[pos] ^= pair[2];
    }
    if let Ok((pt, _)) = decrypt(&ring, &msg, DecryptLimits::default()) {
        assert_eq!(pt, plaintext);
    }
});
