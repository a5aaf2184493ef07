//! Encrypt-and-upload of one file: the data key from the server, the ESDK message built in the
//! tab, its parts PUT to S3 (`s3`), the size checked, and the upload completed.
//!
//! Any failure after the server opened the upload aborts it (best effort; the server's sweeper
//! aborts what is left), so a file is recorded only when every part arrived and the server
//! checked the stored header.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    CompleteUploadRequest, CreateUploadRequest, CreateUploadResponse, ObjectSummary,
};
use cipherdrop_core::{
    DataKey, EncryptedDataKey, EncryptionContext, EncryptionMaterials, FrameEncoder, MessageLen,
    SigningKey, Suite,
};
use web_sys::{Blob, File};

use crate::api::{self, ApiError};
use crate::crypt::encrypt_blob;
use crate::error::{Cancel, TransferError};
use crate::metadata::{self, FileMeta};
use crate::s3::S3Parts;
use crate::stream::read_bytes;

/// Default plaintext bytes per ESDK frame: large frames keep WebCrypto calls few.
pub const DEFAULT_FRAME_LENGTH: u32 = 1024 * 1024;
/// Default number of parts uploaded at once.
pub const DEFAULT_PARALLEL: usize = 4;

/// How to upload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UploadOptions {
    /// 0x0478 (default) or 0x0578 (signed).
    pub suite: Suite,
    /// Plaintext bytes per frame.
    pub frame_length: u32,
    /// Parts in flight at once.
    pub parallel: usize,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            suite: Suite::CommitKey,
            frame_length: DEFAULT_FRAME_LENGTH,
            parallel: DEFAULT_PARALLEL,
        }
    }
}

/// Progress of one upload.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    /// Plaintext bytes encrypted.
    pub encrypted: u64,
    /// Ciphertext bytes stored in S3 (whole parts).
    pub uploaded: u64,
    /// Ciphertext bytes in all.
    pub total: u64,
}

/// What the page can show about an upload afterwards ("what the server and S3 see").
#[derive(Clone, Debug, PartialEq)]
pub struct UploadRecord {
    /// The stored file as the server records it.
    pub object: ObjectSummary,
    /// The name and type (known only here).
    pub meta: FileMeta,
    /// KMS key used for GenerateDataKey.
    pub key_arn: String,
    /// The encryption context sent to KMS (and written in the header).
    pub encryption_context: BTreeMap<String, String>,
    /// The encrypted data key KMS returned, as stored in the header.
    pub edk: Vec<u8>,
    /// The message header as uploaded.
    pub header: Vec<u8>,
    /// The first plaintext bytes (kept only in this tab, for the side-by-side view).
    pub plaintext_head: Vec<u8>,
    /// Part size and count the server chose.
    pub part_size: u64,
    /// Parts uploaded.
    pub part_count: u32,
    /// Seconds from start to completion.
    pub seconds: f64,
}

/// Receives progress reports.
pub type Report = Rc<dyn Fn(Progress)>;

/// Encrypts `file` and uploads it; `report` is called as bytes are encrypted and stored.
pub async fn upload_file(
    file: &File,
    options: UploadOptions,
    report: Report,
    cancel: Cancel,
) -> Result<UploadRecord, TransferError> {
    let meta = FileMeta {
        name: file.name(),
        media_type: file.type_(),
    };
    upload_blob(file, meta, options, report, cancel).await
}

/// Encrypts `data` and uploads it as a file described by `meta`.
pub async fn upload_blob(
    file: &Blob,
    meta: FileMeta,
    options: UploadOptions,
    report: Report,
    cancel: Cancel,
) -> Result<UploadRecord, TransferError> {
    let started = crate::browser::now_ms();
    let size = file.size() as u64;
    let mut rng = rand::rng();
    let signing = options
        .suite
        .is_signed()
        .then(|| SigningKey::generate(&mut rng));
    let request = CreateUploadRequest {
        plaintext_size: size,
        suite: options.suite.id().0,
        frame_length: options.frame_length,
        public_key: signing.as_ref().map(SigningKey::public_key_base64),
    };
    let created = api::create_upload(&request).await?;
    let job = Job {
        file,
        options,
        created: &created.answer,
        meta: &meta,
        report,
        cancel: &cancel,
    };
    match job.run(created.data_key, signing).await {
        Ok(sent) => Ok(UploadRecord {
            object: sent.object,
            meta,
            key_arn: created.answer.key_arn.clone(),
            encryption_context: created.answer.encryption_context.clone(),
            edk: sent.edk,
            header: sent.header,
            plaintext_head: sent.plaintext_head,
            part_size: created.answer.part_size,
            part_count: created.answer.part_count,
            seconds: (crate::browser::now_ms() - started) / 1000.0,
        }),
        Err(e) => {
            // Leave nothing half-recorded: the server aborts the multipart upload.
            let _ = api::abort(&created.answer.upload_id).await;
            Err(e)
        }
    }
}

/// One upload the server opened: what the rest of it needs.
struct Job<'a> {
    file: &'a Blob,
    options: UploadOptions,
    created: &'a CreateUploadResponse,
    meta: &'a FileMeta,
    report: Report,
    cancel: &'a Cancel,
}

/// What an upload sent that the page shows afterwards.
struct Sent {
    /// The stored file as the server recorded it.
    object: ObjectSummary,
    /// The message header.
    header: Vec<u8>,
    /// The encrypted data key.
    edk: Vec<u8>,
    /// The first plaintext bytes.
    plaintext_head: Vec<u8>,
}

impl Job<'_> {
    /// Seals the metadata, builds the encoder (which drops the data key once it derived the
    /// frame key), encrypts and uploads the parts, checks the size and completes the upload.
    async fn run(
        self,
        data_key: DataKey,
        signing: Option<SigningKey>,
    ) -> Result<Sent, TransferError> {
        let created = self.created;
        let bad = |what: &str| TransferError::Api(ApiError::Decode(what.to_owned()));
        let metadata = metadata::seal(self.meta, data_key.as_bytes(), &created.object_id);
        let edk_blob = B64
            .decode(&created.edk)
            .map_err(|_| bad("encrypted data key"))?;
        let edk = EncryptedDataKey::aws_kms(&created.key_arn, edk_blob.clone())
            .map_err(|e| bad(&e.to_string()))?;
        let context: EncryptionContext = created
            .encryption_context
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let suite = self.options.suite;
        let materials = EncryptionMaterials::new(suite, context, data_key, vec![edk], signing)
            .map_err(|e| bad(&e.to_string()))?;
        // The plaintext data key is dropped (zeroized) inside, right after key derivation.
        let encoder = FrameEncoder::new(materials, self.options.frame_length, &mut rand::rng())
            .map_err(|e| bad(&e.to_string()))?;
        let header = encoder.header().to_vec();
        let size = self.file.size() as u64;
        let plaintext_head = read_bytes(self.file, 0, size.min(64)).await?;

        let progress = Rc::new(RefCell::new(Progress {
            total: created.ciphertext_size,
            ..Progress::default()
        }));
        let mut sink = S3Parts::new(
            created,
            self.options.parallel,
            progress.clone(),
            self.report.clone(),
            self.cancel.clone(),
        );
        let mut encrypted = {
            let report = self.report.clone();
            move |n: u64| {
                progress.borrow_mut().encrypted = n;
                report(*progress.borrow());
            }
        };
        let sealed = encrypt_blob(
            self.file,
            encoder,
            created.part_size,
            &mut sink,
            &mut encrypted,
            self.cancel,
        )
        .await;
        let sealed = match sealed {
            Ok(s) => s,
            Err(e) => {
                sink.stop();
                return Err(e);
            }
        };
        let parts = sink.finish().await?;
        // What we wrote must be a length this message can have, and the server must have
        // declared the longest one (exact for 0x0478; with the longest DER signature for 0x0578).
        let len = MessageLen::new(suite, header.len() as u64, size, self.options.frame_length);
        let size_ok = len.is_some_and(|len| {
            len.written_by_us(sealed.ciphertext_len) && len.max() == created.ciphertext_size
        });
        if !size_ok {
            return Err(TransferError::Format(format!(
                "wrote {} bytes, the server expected {}",
                sealed.ciphertext_len, created.ciphertext_size
            )));
        }
        if self.cancel.is_cancelled() {
            return Err(TransferError::Cancelled);
        }
        let object = api::complete(
            &created.upload_id,
            &CompleteUploadRequest { parts, metadata },
        )
        .await?;
        Ok(Sent {
            object,
            header,
            edk: edk_blob,
            plaintext_head,
        })
    }
}
