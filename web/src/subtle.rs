//! WebCrypto AES-256-GCM: the browser's fast bulk cipher, behind the frame keys core derives.
//!
//! Keys are imported non-extractable; the JavaScript copy of the raw key is zero-filled right
//! after the import. Sealing returns `ciphertext ‖ tag` in one `ArrayBuffer`, which is exactly
//! how an ESDK frame stores them, so encrypted frames go to the upload without passing through
//! wasm memory.

use cipherdrop_core::{FrameKey, IV_LEN};
use js_sys::{Array, ArrayBuffer, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto};

/// The page's (or worker's) `crypto.subtle`, if this context has one (it needs a secure origin).
pub fn subtle() -> Result<SubtleCrypto, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))?;
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle"))?;
    subtle.dyn_into::<SubtleCrypto>().map_err(|_| {
        JsValue::from_str("WebCrypto is unavailable (the page needs https or localhost)")
    })
}

/// An AES-256-GCM key held by the browser's crypto engine.
#[derive(Clone)]
pub struct GcmKey {
    key: CryptoKey,
    subtle: SubtleCrypto,
}

impl GcmKey {
    /// Imports a frame key as a non-extractable AES-GCM `CryptoKey`.
    pub async fn import(key: &FrameKey) -> Result<Self, JsValue> {
        let subtle = subtle()?;
        let raw = Uint8Array::from(&key.as_bytes()[..]);
        let algorithm = Object::new();
        Reflect::set(&algorithm, &"name".into(), &"AES-GCM".into())?;
        let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
        let imported = subtle.import_key_with_object("raw", &raw, &algorithm, false, &usages);
        // The engine has its own copy once importKey returns its promise.
        raw.fill(0, 0, raw.length());
        let key = JsFuture::from(imported?).await?.dyn_into::<CryptoKey>()?;
        Ok(Self { key, subtle })
    }

    fn params(iv: &[u8; IV_LEN], aad: &[u8]) -> AesGcmParams {
        let params = AesGcmParams::new("AES-GCM", &Uint8Array::from(&iv[..]));
        params.set_additional_data(&Uint8Array::from(aad));
        params.set_tag_length(128);
        params
    }

    /// Starts sealing `data` (an `ArrayBufferView`): resolves to `ciphertext ‖ tag`.
    pub fn seal(&self, iv: &[u8; IV_LEN], aad: &[u8], data: &Object) -> Result<Promise, JsValue> {
        self.subtle
            .encrypt_with_object_and_buffer_source(&Self::params(iv, aad), &self.key, data)
    }

    /// Starts opening `ciphertext ‖ tag`: resolves to the plaintext, or rejects with
    /// `OperationError` when the tag does not verify.
    pub fn open(&self, iv: &[u8; IV_LEN], aad: &[u8], sealed: &Object) -> Result<Promise, JsValue> {
        self.subtle
            .decrypt_with_object_and_buffer_source(&Self::params(iv, aad), &self.key, sealed)
    }
}

/// Awaits a promise that resolves to an `ArrayBuffer`.
pub async fn buffer(promise: Promise) -> Result<ArrayBuffer, JsValue> {
    JsFuture::from(promise).await?.dyn_into::<ArrayBuffer>()
}
