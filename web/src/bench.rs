//! Entry points for the in-browser benchmarks (`cargo bench -p cipherdrop-e2e --bench web`) and
//! the browser tests, exported to JavaScript as `window.wasmBindings.bench_*`. They run the
//! page's real pipelines; the upload ones act for the logged-in account like the page does.

use std::rc::Rc;

use cipherdrop_api::CreateUploadRequest;
use cipherdrop_core::{
    AlgorithmSuiteId, DataKey, DecryptLimits, EncryptedDataKey, EncryptionContext,
    EncryptionMaterials, FrameEncoder, PartLayout, RawAesKeyring, SigningKey, Suite,
    message_context,
};
use wasm_bindgen::prelude::*;
use web_sys::Blob;

use crate::browser::{SaveFile, now_ms};
use crate::crypt::{PlainSink, decrypt_source};
use crate::download::{Destination, save_from};
use crate::error::{Cancel, TransferError};
use crate::metadata::FileMeta;
use crate::transfer::endpoint::{Endpoint, Started};
use crate::transfer::parts::{BufferPool, MemoryParts, Part, PartSink, pack_blob};
use crate::transfer::put::Put;
use crate::transfer::read::{Reader, Source, get};
use crate::transfer::seal::{Sealed, encrypt_blob};
use crate::transfer::{DEFAULT_FRAME_LENGTH, UploadOptions, upload_blob};

fn suite(id: u16) -> Result<Suite, JsValue> {
    Suite::from_id(AlgorithmSuiteId(id)).map_err(|e| JsValue::from_str(&e.to_string()))
}

fn err(e: impl std::fmt::Display) -> JsValue {
    JsValue::from_str(&e.to_string())
}

/// An encoder for a fresh data key wrapped by a throwaway raw AES key (the benchmarks' stand-in
/// for KMS), and that data key.
fn encoder(suite: Suite, frame_length: u32) -> Result<(FrameEncoder, DataKey), JsValue> {
    let mut rng = rand::rng();
    let mut wrapping = [0u8; 32];
    rand::Rng::fill_bytes(&mut rng, &mut wrapping);
    let ring = RawAesKeyring::new("bench", "bench-key", &wrapping).map_err(err)?;
    let data_key = DataKey::generate(&mut rng);
    let signing = suite.is_signed().then(|| SigningKey::generate(&mut rng));
    let caller: EncryptionContext = [("purpose", "bench")].into_iter().collect();
    let context = message_context(suite, &caller, signing.as_ref()).map_err(err)?;
    let edk = ring.wrap(&data_key, &context, &mut rng).map_err(err)?;
    let copy = DataKey::from_bytes(data_key.as_bytes()).map_err(err)?;
    let materials =
        EncryptionMaterials::new(suite, context, copy, vec![edk], signing).map_err(err)?;
    let encoder = FrameEncoder::new(materials, frame_length, &mut rng).map_err(err)?;
    Ok((encoder, data_key))
}

/// Chooses the bulk cipher for what follows: `workers` sealing workers (`-1`: as many as the
/// page would use, `0`: WebCrypto on the page, `-2`: the workers as they are, even broken),
/// `script` the worker script (empty: the app's), or core's pure-Rust cipher (`rust`).
#[wasm_bindgen]
pub fn bench_cipher(workers: i32, script: String, rust: bool) {
    if workers >= -1 {
        crate::workers::configure(
            u32::try_from(workers).ok(),
            (!script.is_empty()).then_some(script.as_str()),
        );
    }
    crate::subtle::force_rust_cipher(rust);
}

/// Encrypts `data` through the page's pipeline (5 MiB parts, into memory) with exactly these
/// materials: the data key, message id and (0x0578) signing key given, the context
/// `{"purpose": "test"}` and one EDK of provider `test` whose ciphertext is 32 zero bytes; so a
/// test can make the same message with core natively and compare. Returns `[engine, message]`.
#[wasm_bindgen]
pub async fn bench_encrypt_exact(
    data: Blob,
    suite_id: u16,
    frame_length: u32,
    data_key: Vec<u8>,
    message_id: Vec<u8>,
    signing_key: Vec<u8>,
) -> Result<js_sys::Array, JsValue> {
    let suite = suite(suite_id)?;
    let signing = if suite.is_signed() {
        Some(SigningKey::from_bytes(&signing_key).map_err(err)?)
    } else {
        None
    };
    let caller: EncryptionContext = [("purpose", "test")].into_iter().collect();
    let context = message_context(suite, &caller, signing.as_ref()).map_err(err)?;
    let edk = EncryptedDataKey {
        provider_id: "test".into(),
        provider_info: b"test".to_vec(),
        ciphertext: vec![0; 32],
    };
    let key = DataKey::from_bytes(&data_key).map_err(err)?;
    let materials =
        EncryptionMaterials::new(suite, context, key, vec![edk], signing).map_err(err)?;
    let message_id = message_id
        .try_into()
        .map_err(|_| err("a message id is 32 bytes"))?;
    let encoder =
        FrameEncoder::with_message_id(materials, frame_length, message_id).map_err(err)?;
    let mut parts = MemoryParts::default();
    let sealed = encrypt_to(&data, encoder, &mut parts).await?;
    let message = js_sys::Uint8Array::new(
        &wasm_bindgen_futures::JsFuture::from(parts.into_blob().map_err(err)?.array_buffer())
            .await?,
    );
    Ok(js_sys::Array::of2(
        &sealed.engine.name().into(),
        &message.into(),
    ))
}

/// Encrypts `data` through the page's pipeline into `sink` in 5 MiB parts.
async fn encrypt_to<S: PartSink>(
    data: &Blob,
    encoder: FrameEncoder,
    sink: &mut S,
) -> Result<Sealed, JsValue> {
    encrypt_blob(
        data,
        encoder,
        5 << 20,
        sink,
        &mut |_| {},
        &Cancel::default(),
    )
    .await
    .map_err(err)
}

/// Counts parts and hands their buffers straight back: encryption alone, bounded memory.
#[derive(Default)]
struct Discard(u64, BufferPool);

impl PartSink for Discard {
    async fn put(&mut self, part: Part) -> Result<(), TransferError> {
        self.0 += u64::from(part.bytes.length());
        self.1.recycle(&part.bytes);
        Ok(())
    }

    fn pool(&self) -> BufferPool {
        self.1.clone()
    }
}

/// Encrypts `data` through the page's pipeline (WebCrypto, ESDK framing, 5 MiB parts) without
/// uploading; returns milliseconds.
#[wasm_bindgen]
pub async fn bench_encrypt(data: Blob, suite_id: u16, frame_length: u32) -> Result<f64, JsValue> {
    let suite = suite(suite_id)?;
    let started = now_ms();
    let (encoder, _) = encoder(suite, frame_length)?;
    encrypt_to(&data, encoder, &mut Discard::default()).await?;
    Ok(now_ms() - started)
}

/// Drops verified plaintext, counting it.
struct DiscardPlain(u64);

impl PlainSink for DiscardPlain {
    async fn write(&mut self, plaintext: &js_sys::ArrayBuffer) -> Result<(), TransferError> {
        self.0 += u64::from(plaintext.byte_length());
        Ok(())
    }
}

/// Encrypts `data` into memory (not timed), then decrypts it through the page's download
/// pipeline (frames verified and opened by WebCrypto) into a sink that drops the plaintext;
/// returns the milliseconds of the decryption. The message is read as a byte stream, as a
/// download's body is: from memory (`from_blob` false: the pipeline's own cost), or as the
/// stream of a Blob of it (`from_blob`: Chromium's Blob storage reads it, and pages large Blobs
/// out to disk).
#[wasm_bindgen]
pub async fn bench_decrypt(
    data: Blob,
    suite_id: u16,
    frame_length: u32,
    from_blob: bool,
) -> Result<f64, JsValue> {
    let (encoder, data_key) = encoder(suite(suite_id)?, frame_length)?;
    let mut parts = MemoryParts::default();
    encrypt_to(&data, encoder, &mut parts).await?;
    let cancel = Cancel::default();
    let stream = if from_blob {
        parts.into_blob().map_err(err)?.stream()
    } else {
        crate::browser::memory_stream(&parts.parts.into_iter().collect())
    };
    let mut sink = DiscardPlain(0);
    let started = now_ms();
    decrypt_source(
        Source::Stream(stream),
        &data_key,
        DecryptLimits::default(),
        &mut sink,
        &mut |_| {},
        &cancel,
    )
    .await
    .map_err(err)?;
    let ms = now_ms() - started;
    if sink.0 != data.size() as u64 {
        return Err(err("decrypted size differs from the input"));
    }
    Ok(ms)
}

/// Downloads stored file `id` exactly as the page does (key released by the server, ciphertext
/// streamed from S3 through the presigned URL, frames opened as they arrive) into a file of the
/// origin's private file system, written as a picked file is; returns milliseconds.
#[wasm_bindgen]
pub async fn bench_download(id: String) -> Result<f64, JsValue> {
    let details = crate::api::details(&id).await.map_err(err)?;
    let key = crate::api::release_key(&id).await.map_err(err)?;
    let file = SaveFile::private("bench-download").await.map_err(err)?;
    let started = now_ms();
    let saved = save_from(
        &details.download_url,
        details.object.size,
        &key,
        "bench",
        Destination::Picked(file),
        &mut |_, _| {},
        &Cancel::default(),
    )
    .await
    .map_err(err)?;
    let ms = now_ms() - started;
    if saved.bytes != details.object.plaintext_size {
        return Err(err("downloaded size differs from the file's"));
    }
    Ok(ms)
}

/// Fetches stored file `id`'s ciphertext through the same presigned URL and writes it, as it
/// is, to the same kind of file as [`bench_download`]: the download without decryption.
#[wasm_bindgen]
pub async fn bench_plain_download(id: String) -> Result<f64, JsValue> {
    let details = crate::api::details(&id).await.map_err(err)?;
    let file = SaveFile::private("bench-plain-download")
        .await
        .map_err(err)?;
    let started = now_ms();
    let mut reader = Reader::chunks(Source::Stream(
        get(&details.download_url, None).await.map_err(err)?,
    ))
    .map_err(err)?;
    let mut bytes = 0u64;
    while let Some(chunk) = reader.next_chunk().await.map_err(err)? {
        bytes += u64::from(chunk.length());
        file.write(&chunk).await.map_err(err)?;
    }
    file.commit().await.map_err(err)?;
    let ms = now_ms() - started;
    if bytes != details.object.size {
        return Err(err("downloaded size differs from the object's"));
    }
    Ok(ms)
}

/// Encrypts and uploads `data` exactly as the page does; returns `[milliseconds, object id]`.
#[wasm_bindgen]
pub async fn bench_upload(
    data: Blob,
    suite_id: u16,
    frame_length: u32,
    parallel: u32,
) -> Result<js_sys::Array, JsValue> {
    let options = UploadOptions {
        suite: suite(suite_id)?,
        frame_length,
        parallel: parallel as usize,
    };
    let meta = FileMeta {
        name: "bench.bin".into(),
        media_type: "application/octet-stream".into(),
        sender: None,
    };
    let started = now_ms();
    let record = upload_blob(
        &data,
        meta,
        options,
        Rc::new(|_| {}),
        Cancel::default(),
        "",
        None,
    )
    .await
    .map_err(err)?;
    let ms = now_ms() - started;
    Ok(js_sys::Array::of2(&ms.into(), &record.object.id.into()))
}

/// Uploads `data` unencrypted through the same presigned multipart path (same server calls,
/// part size and parallelism), then aborts the upload; returns milliseconds.
#[wasm_bindgen]
pub async fn bench_plain_upload(data: Blob, parallel: u32) -> Result<f64, JsValue> {
    let started = now_ms();
    let request = CreateUploadRequest {
        plaintext_size: data.size() as u64,
        suite: Suite::CommitKey.id().0,
        frame_length: DEFAULT_FRAME_LENGTH,
        public_key: None,
    };
    let Started {
        channel, answer, ..
    } = Endpoint::Account.start(&request).await.map_err(err)?;
    let layout = PartLayout::announced(Suite::CommitKey, answer.ciphertext_size, answer.part_size)
        .ok_or_else(|| err("the server announced an impossible part layout"))?;
    let mut sink = Put::new(
        channel.clone(),
        layout,
        (answer.parts, answer.urls_expire_at),
        parallel as usize,
        Rc::new(|_| {}),
        Cancel::default(),
    );
    // Same reading and part buffers as the encrypting path, minus the encryption; as many
    // bytes as the message would have (the part URLs are signed for those lengths).
    let pad = answer.ciphertext_size.saturating_sub(data.size() as u64);
    let zeros = js_sys::Uint8Array::new_with_length(u32::try_from(pad).map_err(err)?);
    let zeros: Blob = Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&zeros))?;
    let padded = Blob::new_with_blob_sequence(&js_sys::Array::of2(&data, &zeros))?;
    pack_blob(&padded, answer.part_size, &mut sink)
        .await
        .map_err(err)?;
    let result = sink.finish().await.map_err(err);
    let ms = now_ms() - started;
    channel.abort().await.map_err(err)?;
    result.map(|_| ms)
}
