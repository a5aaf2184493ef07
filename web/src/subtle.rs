//! The bulk AES-256-GCM behind the frame keys core derives: WebCrypto, the browser's fast cipher,
//! with core's pure-Rust `AesGcmCipher` as the fallback where WebCrypto is missing (an insecure
//! origin) or refuses the key.
//!
//! WebCrypto keys are imported non-extractable; the JavaScript copy of the raw key is zero-filled
//! right after the import. Sealing returns `ciphertext ‖ tag` in one `ArrayBuffer`, which is
//! exactly how an ESDK frame stores them, so encrypted frames go to the upload without passing
//! through wasm memory. Both ciphers answer through promises, so callers need not care which runs.
//! Where sealing workers started (`workers`), WebCrypto keys go to them and frames are sealed
//! there, off the page's thread and on several cores.

use std::cell::RefCell;
use std::rc::Rc;

use cipherdrop_core::{AesGcmCipher, FrameCipher, FrameKey, IV_LEN, TAG_LEN};
use js_sys::{Array, ArrayBuffer, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto};

use crate::workers::{self, PooledKey};

/// The page's (or worker's) `crypto.subtle`, if this context has one (it needs a secure origin).
pub fn subtle() -> Result<SubtleCrypto, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))?;
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle"))?;
    subtle.dyn_into::<SubtleCrypto>().map_err(|_| {
        JsValue::from_str("WebCrypto is unavailable (the page needs https or localhost)")
    })
}

thread_local! {
    static FORCE_RUST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes every key from now on use the pure-Rust cipher (tests compare the two paths).
pub fn force_rust_cipher(on: bool) {
    FORCE_RUST.with(|f| f.set(on));
}

/// An AES-256-GCM frame key: in the browser's crypto engine, or in wasm as the fallback.
#[derive(Clone)]
pub struct GcmKey(Inner);

#[derive(Clone)]
enum Inner {
    Web {
        key: CryptoKey,
        subtle: SubtleCrypto,
    },
    Rust(Rc<RefCell<AesGcmCipher>>),
    /// Held by the sealing workers, which do the work.
    Pooled(Rc<PooledKey>),
}

/// Which cipher does a key's work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// WebCrypto in sealing workers.
    Workers,
    /// WebCrypto on the page's thread.
    Page,
    /// Core's pure-Rust cipher in wasm.
    Rust,
}

impl Engine {
    /// A word for it, for tests and benchmarks.
    pub fn name(self) -> &'static str {
        match self {
            Self::Workers => "workers",
            Self::Page => "page",
            Self::Rust => "rust",
        }
    }
}

impl GcmKey {
    /// Imports a frame key for frames of `frame_len` bytes: WebCrypto (non-extractable) in the
    /// sealing workers where they started and the frames are large enough
    /// ([`workers::WORKER_FRAMES_FROM`]), else WebCrypto on the page, else the Rust cipher.
    pub async fn import(key: &FrameKey, frame_len: u32) -> Result<Self, JsValue> {
        if !FORCE_RUST.with(std::cell::Cell::get)
            && let Ok(k) = Self::import_web(key).await
        {
            if let Inner::Web { key, .. } = &k.0
                && frame_len >= workers::WORKER_FRAMES_FROM
                && let Some(pool) = workers::pool().await
            {
                return Ok(Self(Inner::Pooled(Rc::new(PooledKey::new(pool, key)))));
            }
            return Ok(k);
        }
        Ok(Self(Inner::Rust(Rc::new(RefCell::new(AesGcmCipher::new(
            key,
        ))))))
    }

    async fn import_web(key: &FrameKey) -> Result<Self, JsValue> {
        let subtle = subtle()?;
        let raw = Uint8Array::from(&key.as_bytes()[..]);
        let algorithm = Object::new();
        Reflect::set(&algorithm, &"name".into(), &"AES-GCM".into())?;
        let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
        let imported = subtle.import_key_with_object("raw", &raw, &algorithm, false, &usages);
        // The engine has its own copy once importKey returns its promise.
        raw.fill(0, 0, raw.length());
        let key = JsFuture::from(imported?).await?.dyn_into::<CryptoKey>()?;
        Ok(Self(Inner::Web { key, subtle }))
    }

    /// Whether WebCrypto does the work (else the pure-Rust fallback).
    pub fn is_webcrypto(&self) -> bool {
        self.engine() != Engine::Rust
    }

    /// Which cipher does the work.
    pub fn engine(&self) -> Engine {
        match self.0 {
            Inner::Web { .. } => Engine::Page,
            Inner::Rust(_) => Engine::Rust,
            Inner::Pooled(_) => Engine::Workers,
        }
    }

    /// Whether [`GcmKey::seal`] and [`GcmKey::open`] take their input's buffer away (sealing
    /// workers: it moves to a worker, detached here, unless it is wasm memory), so the next
    /// frame needs a fresh [`GcmKey::buffer`].
    pub fn takes_input(&self) -> bool {
        matches!(self.0, Inner::Pooled(_))
    }

    /// A buffer of `len` bytes for a frame's input: recycled by the sealing workers' pool where
    /// it can be, else new.
    pub fn buffer(&self, len: u32) -> Uint8Array {
        match &self.0 {
            Inner::Pooled(k) => k.buffer(len),
            _ => Uint8Array::new_with_length(len),
        }
    }

    /// Hands back a result buffer the caller is done with, for [`GcmKey::buffer`] to reuse.
    pub fn recycle(&self, buf: &ArrayBuffer) {
        if let Inner::Pooled(k) = &self.0 {
            k.recycle(buf);
        }
    }

    /// Frames worth sealing or opening at once with this key.
    pub fn parallelism(&self) -> usize {
        match &self.0 {
            Inner::Pooled(k) => k.parallelism(),
            _ => 4,
        }
    }

    fn params(iv: &[u8; IV_LEN], aad: &[u8]) -> AesGcmParams {
        let params = AesGcmParams::new("AES-GCM", &Uint8Array::from(&iv[..]));
        params.set_additional_data(&Uint8Array::from(aad));
        params.set_tag_length(128);
        params
    }

    /// Starts sealing `data` (a `Uint8Array`): resolves to `ciphertext ‖ tag` (an `ArrayBuffer`
    /// of exactly that length). The input is copied before this returns, so the caller may
    /// reuse it at once, except where [`GcmKey::takes_input`]: then its buffer is gone.
    pub fn seal(&self, iv: &[u8; IV_LEN], aad: &[u8], data: &Object) -> Result<Promise, JsValue> {
        match &self.0 {
            Inner::Web { key, subtle } => {
                subtle.encrypt_with_object_and_buffer_source(&Self::params(iv, aad), key, data)
            }
            Inner::Pooled(k) => Ok(k.run("seal", iv, aad, data)),
            Inner::Rust(cipher) => {
                let input = data.unchecked_ref::<Uint8Array>().to_vec();
                let mut out = vec![0u8; input.len()];
                let tag = cipher
                    .borrow_mut()
                    .seal(iv, aad, &input, &mut out)
                    .map_err(|e| JsValue::from_str(&e.to_string()))?;
                out.extend_from_slice(&tag);
                Ok(Promise::resolve(&JsValue::from(
                    Uint8Array::from(&out[..]).buffer(),
                )))
            }
        }
    }

    /// Starts opening `ciphertext ‖ tag`: resolves to the plaintext, or rejects when the tag
    /// does not verify (`OperationError`). The input is kept as by [`GcmKey::seal`].
    pub fn open(&self, iv: &[u8; IV_LEN], aad: &[u8], sealed: &Object) -> Result<Promise, JsValue> {
        match &self.0 {
            Inner::Web { key, subtle } => {
                subtle.decrypt_with_object_and_buffer_source(&Self::params(iv, aad), key, sealed)
            }
            Inner::Pooled(k) => Ok(k.run("open", iv, aad, sealed)),
            Inner::Rust(cipher) => {
                let input = sealed.unchecked_ref::<Uint8Array>().to_vec();
                let Some(split) = input.len().checked_sub(TAG_LEN) else {
                    return Ok(Promise::reject(&operation_error()));
                };
                let (ct, tag) = input.split_at(split);
                let tag: [u8; TAG_LEN] = tag.try_into().unwrap_or([0; TAG_LEN]);
                let mut out = vec![0u8; ct.len()];
                Ok(
                    match cipher.borrow_mut().open(iv, aad, ct, &mut out, &tag) {
                        Ok(()) => {
                            Promise::resolve(&JsValue::from(Uint8Array::from(&out[..]).buffer()))
                        }
                        Err(_) => Promise::reject(&operation_error()),
                    },
                )
            }
        }
    }
}

/// What WebCrypto rejects with when a tag does not verify, made by the Rust cipher too.
fn operation_error() -> JsValue {
    let e = js_sys::Error::new("the authentication tag did not verify");
    e.set_name("OperationError");
    e.into()
}

/// Awaits a promise that resolves to an `ArrayBuffer`.
pub async fn buffer(promise: Promise) -> Result<ArrayBuffer, JsValue> {
    JsFuture::from(promise).await?.dyn_into::<ArrayBuffer>()
}
