//! Encrypt-and-upload of one file: the data key from the server, the ESDK message built in the
//! tab, its parts PUT to S3 (`s3`), the size checked, and the upload completed.
//!
//! A file is recorded only when every part arrived and the server checked the stored header.
//! When the network or S3 stays away, the parts sent are kept and the upload can be resumed from
//! this browser's record (`resume`), with the same file chosen again; any other failure aborts
//! the upload (best effort; the server's sweeper aborts what is left).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    CompleteUploadRequest, CreateUploadRequest, CreateUploadResponse, ObjectSummary, SecretB64,
    SenderReceipt,
};
use cipherdrop_core::resume::{open_signing_key, seal_signing_key};
use cipherdrop_core::{
    AlgorithmSuiteId, DataKey, EncryptedDataKey, EncryptionContext, EncryptionMaterials,
    FrameEncoder, MESSAGE_ID_LEN, MessageLen, PUBLIC_KEY_FIELD, SigningKey, Suite,
};
use wasm_bindgen::{JsCast as _, JsValue};
use web_sys::{Blob, File};
use zeroize::Zeroizing;

use crate::api::{self, ApiError};
use crate::crypt::encrypt_blob;
use crate::error::{Cancel, TransferError};
use crate::metadata::{self, FileMeta};
use crate::parts::{Part, PartSink};
use crate::resume::{self, SentPart, Unfinished};
use crate::s3::{Held, S3Parts};
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
    /// The browser is offline: the upload waits for the network and goes on by itself.
    pub offline: bool,
    /// When the server aborts the upload if it is still pending (Unix seconds).
    pub abandon_at: i64,
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

/// Whose upload this is, which decides the endpoints that carry on with it and the key its name
/// is sealed under.
#[derive(Clone)]
pub(crate) enum Via {
    /// The logged-in account's: its session carries on; the name is sealed under the account's
    /// metadata key.
    Account,
    /// A file request's sender's: the upload's own secret (in each request's body) carries on;
    /// the name is sealed under the file's data key, which only the sender's tab and, through
    /// KMS, the owner can have.
    Sender(Rc<Zeroizing<String>>),
}

impl Via {
    /// Part URLs `first ..` (`count` of them); with `len`, the one URL of part `first` signed
    /// for its `len` bytes (a part whose length only the message decides).
    pub(crate) async fn part_urls(
        &self,
        upload_id: &str,
        first: u32,
        count: u32,
        len: Option<u32>,
    ) -> Result<cipherdrop_api::UploadStatus, ApiError> {
        match (self, len) {
            (Self::Account, None) => api::part_urls(upload_id, first, count).await,
            (Self::Account, Some(len)) => api::part_url_sized(upload_id, first, len).await,
            (Self::Sender(secret), len) => {
                let count = if len.is_some() { 1 } else { count };
                api::sender_part_urls(upload_id, secret, first, count, len).await
            }
        }
    }

    /// Abandons the upload (the server aborts the multipart upload).
    async fn abort(&self, upload_id: &str) -> Result<(), ApiError> {
        match self {
            Self::Account => api::abort(upload_id).await,
            Self::Sender(secret) => api::sender_abort(upload_id, secret).await,
        }
    }

    /// One attempt at completing the upload.
    async fn complete(
        &self,
        upload_id: &str,
        req: &CompleteUploadRequest,
    ) -> Result<Arrived, ApiError> {
        match self {
            Self::Account => api::complete(upload_id, req).await.map(Arrived::Object),
            Self::Sender(secret) => api::sender_complete(upload_id, secret, req)
                .await
                .map(Arrived::Receipt),
        }
    }
}

/// What the server answered to a completed upload.
enum Arrived {
    /// The account's new file.
    Object(ObjectSummary),
    /// A sender's receipt.
    Receipt(SenderReceipt),
}

/// What a sender's page shows about a file that arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct SentRecord {
    /// The server's receipt.
    pub receipt: SenderReceipt,
    /// Seconds from start to completion.
    pub seconds: f64,
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
    let request = CreateUploadRequest {
        plaintext_size: file.size() as u64,
        suite: options.suite.id().0,
        frame_length: options.frame_length,
        public_key: None,
    };
    let (created, secret) = api::sender_create_upload(token, passphrase, &request).await?;
    let via = Via::Sender(Rc::new(secret));
    let answer = &created.answer;
    let job = Job {
        file,
        options,
        created: answer,
        meta: &meta,
        report,
        cancel: &cancel,
        via: &via,
    };
    let plan = Plan {
        message_id: rand::random(),
        held: BTreeMap::new(),
        recorded: false,
    };
    let sent = job.run(created.data_key.clone(), None, plan).await;
    let sent = settle(sent, answer, false, &via).await?;
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

/// Encrypts `data` and uploads it as a file described by `meta`. A `File` gets a record in this
/// browser (see [`crate::resume`]) so that the upload can be resumed if it is interrupted, with
/// its `FileSystemFileHandle` where the page got one (`handle`).
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
    let answer = &created.answer;
    let message_id: [u8; MESSAGE_ID_LEN] = rand::random();
    let mut recorded = false;
    if let Some(f) = file.dyn_ref::<File>() {
        let record = Unfinished {
            upload_id: answer.upload_id.clone(),
            owner: owner.to_owned(),
            name: meta.name.clone(),
            media_type: meta.media_type.clone(),
            size,
            last_modified: f.last_modified(),
            suite: options.suite.id().0,
            frame_length: options.frame_length,
            part_size: answer.part_size,
            part_count: answer.part_count,
            ciphertext_size: answer.ciphertext_size,
            message_id: crate::ui::format::hex(&message_id),
            signing_key: signing.as_ref().map(|k| {
                B64.encode(seal_signing_key(
                    k,
                    &created.data_key,
                    &answer.upload_id,
                    &mut rng,
                ))
            }),
            abandon_at: answer.abandon_at,
            parts: BTreeMap::new(),
            has_handle: false,
        };
        // Without a record the upload still works; it only cannot be resumed.
        recorded = resume::save(&record).await.is_ok();
        if recorded && let Some(h) = handle {
            // Without the handle, resuming asks for the file instead.
            let _ = resume::save_handle(&record.upload_id, h).await;
        }
    }
    let job = Job {
        file,
        options,
        created: answer,
        meta: &meta,
        report,
        cancel: &cancel,
        via: &Via::Account,
    };
    let plan = Plan {
        message_id,
        held: BTreeMap::new(),
        recorded,
    };
    let sent = job.run(created.data_key.clone(), signing, plan).await;
    let sent = settle(sent, answer, recorded, &Via::Account).await?;
    sent.into_record(meta, answer, started)
}

/// Continues the upload `unfinished` with `file`, which must be the same file: its size and
/// modification time, and then every part already sent (made again here and compared), before
/// anything is sent. The server says which parts S3 holds and releases the data key again
/// (audited); only the parts S3 lacks are sent, and the object is the one an uninterrupted upload
/// would have made.
pub async fn resume_upload(
    file: &File,
    unfinished: Unfinished,
    parallel: usize,
    report: Report,
    cancel: Cancel,
) -> Result<UploadRecord, TransferError> {
    let started = crate::browser::now_ms();
    let u = unfinished;
    if file.size() as u64 != u.size || file.last_modified() != u.last_modified {
        return Err(TransferError::NotSame(format!(
            "“{}” is not the file whose upload was interrupted: its size or modification time \
             differ. Nothing was sent; choose “{}” ({} bytes) again.",
            file.name(),
            u.name,
            u.size
        )));
    }
    let status = match api::upload_status(&u.upload_id).await {
        Ok(s) if s.state == "pending" => s,
        Ok(s) => {
            resume::remove(&u.upload_id).await;
            return Err(TransferError::Gone(format!(
                "The server no longer keeps this upload (it is {}: unfinished uploads are \
                 aborted after a while), so it cannot be resumed.",
                s.state
            )));
        }
        Err(e) if matches!(e.status(), Some(404 | 409)) => {
            resume::remove(&u.upload_id).await;
            return Err(TransferError::Gone(format!(
                "The server no longer keeps this upload ({e}), so it cannot be resumed."
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if (status.suite, status.frame_length, status.plaintext_size)
        != (u.suite, u.frame_length, u.size)
    {
        return Err(TransferError::Format(
            "the server's upload is not the one recorded in this browser".into(),
        ));
    }
    let bad = |what: &str| TransferError::Api(ApiError::Decode(what.to_owned()));
    let key = api::pending_key(&u.upload_id).await?;
    let suite = Suite::from_id(AlgorithmSuiteId(u.suite)).map_err(|e| bad(&e.to_string()))?;
    let signing = match &u.signing_key {
        Some(sealed) => {
            let sealed = B64.decode(sealed).map_err(|_| bad("sealed signing key"))?;
            let k = open_signing_key(&sealed, &key.data_key, &u.upload_id)
                .map_err(|e| bad(&format!("the recorded signing key: {e}")))?;
            if key.answer.encryption_context.get(PUBLIC_KEY_FIELD) != Some(&k.public_key_base64()) {
                return Err(bad("the recorded signing key is not this upload's"));
            }
            Some(k)
        }
        None => None,
    };
    // What S3 holds and this browser vouches for (same size; same ETag where S3 reports one).
    let held: BTreeMap<u32, SentPart> = status
        .stored
        .iter()
        .filter_map(|p| {
            let r = u.parts.get(&p.part_number)?;
            let same = r.size == p.size && p.etag.as_ref().is_none_or(|e| *e == r.etag);
            same.then(|| (p.part_number, r.clone()))
        })
        .collect();
    let message_id: [u8; MESSAGE_ID_LEN] = unhex(&u.message_id)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| bad("the recorded message id"))?;
    let created = CreateUploadResponse {
        upload_id: u.upload_id.clone(),
        object_id: u.upload_id.clone(),
        data_key: SecretB64::new(Zeroizing::new(String::new())),
        key_arn: key.answer.key_arn.clone(),
        edk: key.answer.edk.clone(),
        encryption_context: key.answer.encryption_context.clone(),
        part_size: status.part_size,
        part_count: status.part_count,
        ciphertext_size: status.ciphertext_size,
        parts: Vec::new(),
        urls_expire_at: 0,
        abandon_at: status.abandon_at,
    };
    let meta = FileMeta {
        name: u.name.clone(),
        media_type: u.media_type.clone(),
        sender: None,
    };
    let job = Job {
        file,
        options: UploadOptions {
            suite,
            frame_length: u.frame_length,
            parallel,
        },
        created: &created,
        meta: &meta,
        report,
        cancel: &cancel,
        via: &Via::Account,
    };
    let plan = Plan {
        message_id,
        held,
        recorded: true,
    };
    let sent = job.run(key.data_key.clone(), signing, plan).await;
    let sent = settle(sent, &created, true, &Via::Account).await?;
    sent.into_record(meta, &created, started)
}

/// Completes the upload, trying again while the server cannot be reached (a restart, a lost
/// connection): when an earlier attempt got through and only its answer was lost, the upload is
/// complete already, and that is the answer.
async fn complete(
    via: &Via,
    upload_id: &str,
    req: &CompleteUploadRequest,
    cancel: &Cancel,
) -> Result<Arrived, TransferError> {
    const ATTEMPTS: u32 = 6;
    let mut attempt = 0;
    loop {
        let unreachable = |e: &ApiError| {
            matches!(e, ApiError::Network(_)) || matches!(e.status(), Some(502..=504))
        };
        match via.complete(upload_id, req).await {
            Ok(arrived) => return Ok(arrived),
            Err(e) if unreachable(&e) && attempt + 1 < ATTEMPTS => {
                attempt += 1;
                crate::browser::online_or_timeout(f64::from(500u32 << attempt)).await;
                if cancel.is_cancelled() {
                    return Err(TransferError::Cancelled);
                }
            }
            Err(e) if attempt > 0 && e.status() == Some(409) && matches!(via, Via::Account) => {
                let status = api::upload_status(upload_id).await?;
                if status.state != "complete" {
                    return Err(e.into());
                }
                return Ok(Arrived::Object(api::details(upload_id).await?.object));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether a failure leaves the upload worth resuming: the network or S3 stayed away, not a
/// refusal or a bug.
fn resumable(e: &TransferError) -> bool {
    matches!(
        e,
        TransferError::GaveUp(_) | TransferError::Api(ApiError::Network(_))
    ) || matches!(e, TransferError::Api(a) if a.status().is_some_and(|s| s >= 500 || s == 429))
}

/// The end of a job: a finished upload forgets its record; one the network interrupted keeps its
/// parts and its record, and says until when; anything else is aborted (nothing half-recorded).
async fn settle(
    result: Result<Sent, TransferError>,
    created: &CreateUploadResponse,
    recorded: bool,
    via: &Via,
) -> Result<Sent, TransferError> {
    let id = &created.upload_id;
    match result {
        Ok(sent) => {
            if recorded {
                resume::remove(id).await;
            }
            Ok(sent)
        }
        // A different file was chosen to resume: nothing was sent, the upload stays as it was.
        Err(e @ TransferError::NotSame(_)) => Err(e),
        Err(e) if recorded && resumable(&e) => Err(TransferError::Interrupted(format!(
            "{e} The parts sent so far are kept until {}: choose the same file under \
             “Unfinished uploads” to continue from there.",
            crate::ui::format::date(created.abandon_at)
        ))),
        Err(e) => {
            // Leave nothing half-recorded: the server aborts the multipart upload.
            let _ = via.abort(id).await;
            if recorded {
                resume::remove(id).await;
            }
            Err(e)
        }
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// One upload the server opened: what the rest of it needs.
struct Job<'a> {
    file: &'a Blob,
    options: UploadOptions,
    created: &'a CreateUploadResponse,
    meta: &'a FileMeta,
    report: Report,
    cancel: &'a Cancel,
    via: &'a Via,
}

/// How a job makes its message, and what S3 already holds of it.
struct Plan {
    /// The message id (recorded, so the same bytes can be made again).
    message_id: [u8; MESSAGE_ID_LEN],
    /// Parts S3 holds (a resumed upload), each checked against the file and then not sent.
    held: BTreeMap<u32, SentPart>,
    /// Whether acknowledged parts go into the upload's record.
    recorded: bool,
}

/// What an upload sent that the page shows afterwards.
struct Sent {
    /// The server's answer.
    arrived: Arrived,
    /// The message header.
    header: Vec<u8>,
    /// The encrypted data key.
    edk: Vec<u8>,
    /// The first plaintext bytes.
    plaintext_head: Vec<u8>,
}

impl Sent {
    fn into_record(
        self,
        meta: FileMeta,
        created: &CreateUploadResponse,
        started: f64,
    ) -> Result<UploadRecord, TransferError> {
        let Arrived::Object(object) = self.arrived else {
            return Err(TransferError::Format(
                "the server answered a receipt, not a file".into(),
            ));
        };
        Ok(UploadRecord {
            object,
            meta,
            key_arn: created.key_arn.clone(),
            encryption_context: created.encryption_context.clone(),
            edk: self.edk,
            header: self.header,
            plaintext_head: self.plaintext_head,
            part_size: created.part_size,
            part_count: created.part_count,
            seconds: (crate::browser::now_ms() - started) / 1000.0,
        })
    }
}

/// Compares the parts a resumed upload makes again with the ones S3 holds, and stops the pass
/// after the last of them.
struct Check<'a> {
    expected: &'a BTreeMap<u32, SentPart>,
    last: u32,
    name: &'a str,
    /// Set once the last held part was checked (ends the pass).
    enough: Cancel,
    /// The user's cancel.
    cancel: &'a Cancel,
}

/// Checks that `part` of the file called `name` is what was sent before (its ciphertext's
/// SHA-256, hex): a file that is not the same is refused in words.
pub(crate) async fn check_part(part: &Part, sha256: &str, name: &str) -> Result<(), TransferError> {
    let digest = resume::sha256(&part.bytes)
        .await
        .map_err(TransferError::Crypto)?;
    if digest == sha256 {
        return Ok(());
    }
    Err(TransferError::NotSame(format!(
        "“{name}” is not the file whose upload was interrupted: part {} differs from what was \
         sent. Nothing was sent; choose the same file, or discard the unfinished upload.",
        part.number
    )))
}

impl PartSink for Check<'_> {
    async fn put(&mut self, part: Part) -> Result<(), TransferError> {
        if self.cancel.is_cancelled() {
            return Err(TransferError::Cancelled);
        }
        if let Some(sent) = self.expected.get(&part.number) {
            check_part(&part, &sent.sha256, self.name).await?;
        }
        if part.number >= self.last {
            self.enough.cancel();
        }
        Ok(())
    }
}

impl Job<'_> {
    /// Seals the metadata, builds the encoder (which drops the data key once it derived the
    /// frame key), checks the parts S3 already holds against the file (a resumed upload),
    /// encrypts and uploads the other parts, checks the size and completes the upload.
    async fn run(
        self,
        data_key: DataKey,
        signing: Option<SigningKey>,
        plan: Plan,
    ) -> Result<Sent, TransferError> {
        let created = self.created;
        let bad = |what: &str| TransferError::Api(ApiError::Decode(what.to_owned()));
        let metadata = match self.via {
            Via::Account => metadata::seal_for_owner(self.meta, &created.object_id)
                .await
                .map_err(TransferError::Api)?,
            Via::Sender(_) => metadata::seal(self.meta, data_key.as_bytes(), &created.object_id),
        };
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
        let frame_length = self.options.frame_length;
        // The plaintext data key is dropped (zeroized) inside, right after key derivation.
        let encoder = |data_key: DataKey, signing: Option<SigningKey>| {
            let materials = EncryptionMaterials::new(
                suite,
                context.clone(),
                data_key,
                vec![edk.clone()],
                signing,
            )
            .map_err(|e| bad(&e.to_string()))?;
            FrameEncoder::with_message_id(materials, frame_length, plan.message_id)
                .map_err(|e| bad(&e.to_string()))
        };
        // Held parts 1..=k, all before any part to send, are checked as the upload passes them
        // (nothing is sent before the last of them checked); any other set first, in a pass
        // of its own, so that nothing is sent for a file that is not the same.
        let prefix = plan.held.keys().copied().eq(1..=plan.held.len() as u32);
        if let Some(&last) = plan.held.keys().next_back()
            && !prefix
        {
            let mut check = Check {
                expected: &plan.held,
                last,
                name: &self.meta.name,
                enough: Cancel::default(),
                cancel: self.cancel,
            };
            let enough = check.enough.clone();
            let checked = encrypt_blob(
                self.file,
                encoder(data_key.clone(), signing.clone())?,
                created.part_size,
                &mut check,
                &mut |_| {},
                &enough,
            )
            .await;
            match checked {
                Ok(_) => {}
                Err(TransferError::Cancelled) if !self.cancel.is_cancelled() => {}
                Err(e) => return Err(e),
            }
        }
        let encoder = encoder(data_key, signing)?;
        let header = encoder.header().to_vec();
        let size = self.file.size() as u64;
        let plaintext_head = read_bytes(self.file, 0, size.min(64)).await?;

        let progress = Rc::new(RefCell::new(Progress {
            total: created.ciphertext_size,
            abandon_at: created.abandon_at,
            ..Progress::default()
        }));
        let held = plan
            .held
            .iter()
            .map(|(&n, p)| {
                let sha256 = prefix.then(|| p.sha256.clone());
                let etag = p.etag.clone();
                (n, Held { etag, sha256 })
            })
            .collect();
        let mut sink = S3Parts::new(
            created,
            self.options.parallel,
            progress.clone(),
            self.report.clone(),
            self.cancel.clone(),
        )
        .holding(held, &self.meta.name)
        .recording(plan.recorded)
        .via(self.via.clone());
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
        let arrived = complete(
            self.via,
            &created.upload_id,
            &CompleteUploadRequest { parts, metadata },
            self.cancel,
        )
        .await?;
        Ok(Sent {
            arrived,
            header,
            edk: edk_blob,
            plaintext_head,
        })
    }
}
