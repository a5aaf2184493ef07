//! Starting an upload of one file: the account's ([`upload_blob`], recorded in this browser so
//! that it can be resumed) and a file request's sender's ([`send_blob`], not resumable). Each
//! starts the upload through its [`Endpoint`], puts the data key into the encoders (after the
//! few things that need the key itself: a sender's sealed name, the 0x0578 signing key sealed
//! for a resume), and hands the rest to the job.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{CreateUploadRequest, ObjectSummary, SenderReceipt};
use cipherdrop_core::SigningKey;
use cipherdrop_core::resume::seal_signing_key;
use wasm_bindgen::{JsCast as _, JsValue};
use web_sys::{Blob, File};

use super::endpoint::{Arrived, Endpoint, Started};
use super::job::{Issued, Job, Report, Sent, UploadOptions, abandon, settle};
use super::record::{self, Unfinished};
use super::seal;
use crate::error::{Cancel, TransferError};
use crate::metadata::{self, FileMeta};

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

impl UploadRecord {
    /// What an account's upload of `meta`, issued as `issued` and started at `started` (ms on
    /// the page's clock), sent.
    pub(crate) fn of(
        sent: Sent,
        meta: FileMeta,
        issued: &Issued,
        started: f64,
    ) -> Result<Self, TransferError> {
        let Arrived::Object(object) = sent.arrived else {
            return Err(TransferError::Format(
                "the server answered a receipt, not a file".into(),
            ));
        };
        Ok(Self {
            object,
            meta,
            key_arn: issued.key_arn.clone(),
            encryption_context: issued.encryption_context.clone(),
            edk: issued.edk.clone(),
            header: sent.header,
            plaintext_head: sent.plaintext_head,
            part_size: issued.layout.part_size(),
            part_count: issued.layout.count(),
            seconds: (crate::browser::now_ms() - started) / 1000.0,
        })
    }
}

/// What a sender's page shows about a file that arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct SentRecord {
    /// The server's receipt.
    pub receipt: SenderReceipt,
    /// Seconds from start to completion.
    pub seconds: f64,
}

/// What starting the upload of `file` asks for.
fn request_of(
    file: &Blob,
    options: &UploadOptions,
    signing: Option<&SigningKey>,
) -> CreateUploadRequest {
    CreateUploadRequest {
        plaintext_size: file.size() as u64,
        suite: options.suite.id().0,
        frame_length: options.frame_length,
        public_key: signing.map(SigningKey::public_key_base64),
    }
}

/// Encrypts `file` and sends it through the file request `token` (with its `passphrase`, if
/// it has one), as `meta` describes it; `meta` (with the sender's label) is sealed under the
/// file's own data key. Not resumable: a failure aborts the upload.
pub async fn send_blob(
    file: &Blob,
    meta: FileMeta,
    token: &str,
    passphrase: Option<String>,
    report: Report,
    cancel: Cancel,
) -> Result<SentRecord, TransferError> {
    let started = crate::browser::now_ms();
    let options = UploadOptions::default();
    let endpoint = Endpoint::Sender {
        token: token.to_owned(),
        passphrase,
    };
    let Started {
        channel,
        answer,
        data_key,
    } = endpoint.start(&request_of(file, &options, None)).await?;
    let abandon_at = answer.abandon_at;
    let sent = async {
        let issued = Issued::started(answer, options.suite)?;
        // The name is sealed under the file's own data key; then the key goes into the encoder.
        let metadata = metadata::seal(&meta, data_key.as_bytes(), &issued.object_id);
        let plan = issued.message(&options, rand::random());
        let encoders = seal::encoders(data_key, None, &plan, false)?;
        Job {
            file,
            name: &meta.name,
            issued: &issued,
            channel: &channel,
            options,
            metadata,
            held: BTreeMap::new(),
            recorded: false,
            report,
            cancel: &cancel,
        }
        .run(encoders)
        .await
    }
    .await;
    let sent = settle(sent, &channel, abandon_at, false).await?;
    match sent.arrived {
        Arrived::Receipt(receipt) => Ok(SentRecord {
            receipt,
            seconds: (crate::browser::now_ms() - started) / 1000.0,
        }),
        Arrived::Object(_) => Err(TransferError::Format(
            "the server answered a file, not a receipt".into(),
        )),
    }
}

/// Encrypts `file` and uploads it as a file described by `meta`. A `File` gets a record in this
/// browser (see [`record`]) so that the upload can be resumed if it is interrupted, with its
/// `FileSystemFileHandle` where the page got one (`handle`).
pub async fn upload_blob(
    file: &Blob,
    meta: FileMeta,
    options: UploadOptions,
    report: Report,
    cancel: Cancel,
    owner: &str,
    handle: Option<&JsValue>,
) -> Result<UploadRecord, TransferError> {
    let started = crate::browser::now_ms();
    let mut rng = rand::rng();
    let signing = options
        .suite
        .is_signed()
        .then(|| SigningKey::generate(&mut rng));
    let request = request_of(file, &options, signing.as_ref());
    let Started {
        channel,
        answer,
        data_key,
    } = Endpoint::Account.start(&request).await?;
    let message_id = rand::random();
    let prepared = Issued::started(answer, options.suite).and_then(|issued| {
        // A resume gets the signing key back only sealed under the data key, released again.
        let sealed_signing = signing
            .as_ref()
            .map(|k| B64.encode(seal_signing_key(k, &data_key, &issued.upload_id, &mut rng)));
        let plan = issued.message(&options, message_id);
        let encoders = seal::encoders(data_key, signing, &plan, false)?;
        Ok((issued, encoders, sealed_signing))
    });
    let (issued, encoders, sealed_signing) = match prepared {
        Ok(p) => p,
        Err(e) => return Err(abandon(&channel, e).await),
    };
    let mut recorded = false;
    if let Some(f) = file.dyn_ref::<File>() {
        let unfinished = Unfinished {
            upload_id: issued.upload_id.clone(),
            owner: owner.to_owned(),
            name: meta.name.clone(),
            media_type: meta.media_type.clone(),
            size: f.size() as u64,
            last_modified: f.last_modified(),
            suite: options.suite.id().0,
            frame_length: options.frame_length,
            part_size: issued.layout.part_size(),
            part_count: issued.layout.count(),
            ciphertext_size: issued.layout.message_len(),
            message_id: record::hex(&message_id),
            signing_key: sealed_signing,
            abandon_at: issued.abandon_at,
            parts: BTreeMap::new(),
            has_handle: false,
        };
        // Without a record the upload still works; it only cannot be resumed.
        recorded = record::save(&unfinished).await.is_ok();
        if recorded && let Some(h) = handle {
            // Without the handle, resuming asks for the file instead.
            let _ = record::save_handle(&unfinished.upload_id, h).await;
        }
    }
    let sent = async {
        let metadata = metadata::seal_for_owner(&meta, &issued.object_id)
            .await
            .map_err(TransferError::Api)?;
        Job {
            file,
            name: &meta.name,
            issued: &issued,
            channel: &channel,
            options,
            metadata,
            held: BTreeMap::new(),
            recorded,
            report,
            cancel: &cancel,
        }
        .run(encoders)
        .await
    }
    .await;
    let sent = settle(sent, &channel, issued.abandon_at, recorded).await?;
    UploadRecord::of(sent, meta, &issued, started)
}
