//! Writes seed messages for the `decrypt_stream` fuzz target (data key = 32 × 0x42).
//! Usage: `cargo run -p cipherdrop-core --example fuzz_seeds -- fuzz/seeds/decrypt_stream`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cipherdrop_core::{
    DataKey, EncryptedDataKey, EncryptionContext, EncryptionMaterials, SigningKey, Suite, encrypt,
    message_context,
};

fn main() {
    let dir = std::env::args().nth(1).expect("output folder");
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = rand::rng();
    let arn = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000";
    let caller: EncryptionContext = [("object", "seed")].into_iter().collect();
    for (i, (suite, frame, len)) in [
        (Suite::CommitKey, 16u32, 0usize),
        (Suite::CommitKey, 16, 40),
        (Suite::CommitKey, 64, 64),
        (Suite::CommitKeyEcdsaP384, 16, 33),
        (Suite::CommitKeyEcdsaP384, 128, 300),
    ]
    .into_iter()
    .enumerate()
    {
        let sk = suite.is_signed().then(|| SigningKey::generate(&mut rng));
        let ctx = message_context(suite, &caller, sk.as_ref()).unwrap();
        let key = DataKey::from_bytes(&[0x42; 32]).unwrap();
        let edk = EncryptedDataKey::aws_kms(arn, vec![1, 2, 3]).unwrap();
        let m = EncryptionMaterials::new(suite, ctx, key, vec![edk], sk).unwrap();
        let pt: Vec<u8> = (0..len).map(|b| b as u8).collect();
        let mut msg = vec![17u8]; // first byte: the target's chunk size
        msg.extend(encrypt(m, frame, &pt, &mut rng).unwrap());
        std::fs::write(format!("{dir}/seed-{i}"), msg).unwrap();
    }
}
