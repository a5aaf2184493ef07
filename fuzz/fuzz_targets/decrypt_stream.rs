//! Fuzz target: streaming decrypt of arbitrary bytes in arbitrary chunks never panics.
//!
//! The first byte picks the chunk size; the data key is fixed, so seeds made with it (see
//! fuzz/README.md) reach frame parsing, and mutations of them exercise every later check.
#![no_main]

use cipherdrop_core::{DataKey, DecryptLimits, Decryptor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, message)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let Ok(key) = DataKey::from_bytes(&[0x42; 32]) else {
        return;
    };
    let limits = DecryptLimits {
        max_frame_len: 1 << 16,
        max_header_len: 1 << 14,
        ..Default::default()
    };
    let mut dec = Decryptor::<_>::new(key, limits);
    let mut out = Vec::new();
    for piece in message.chunks(chunk) {
        if dec.push(piece, &mut out).is_err() {
            return;
        }
    }
    let _ = dec.finish();
});
