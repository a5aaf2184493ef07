//! Private file metadata: the name and type, sealed by `cipherdrop-core` (the CLI reads and
//! writes the same form); this page's randomness comes from the browser.

pub use cipherdrop_core::metadata::{FileMeta, MetaError, SECRET_TEXT_TYPE, open};

/// Encrypts `meta` for object `object_id` under `data_key`; returns the stored string.
pub fn seal(meta: &FileMeta, data_key: &[u8; 32], object_id: &str) -> String {
    cipherdrop_core::metadata::seal(meta, data_key, object_id, &mut rand::rng())
}
