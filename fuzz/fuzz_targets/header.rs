//! Fuzz target: header parsing of arbitrary bytes never panics and respects the limits.
#![no_main]

use cipherdrop_core::{DecryptLimits, Header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecryptLimits {
        max_header_len: 4096,
        max_encrypted_data_keys: 8,
        ..Default::default()
    };
    if let Ok((header, body_len)) = Header::parse(data, &limits) {
        assert!(body_len + 16 <= data.len() && body_len + 16 <= 4096);
        assert!(header.encrypted_data_keys.len() <= 8);
        // What parses re-encodes to the same bytes, except for context pair order.
        if let Ok(body) = header.encode_body() {
            assert_eq!(body.len(), body_len);
        }
    }
});
