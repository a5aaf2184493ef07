//! `cipherdrop put`: files encrypted here, their parts sent straight to S3 through presigned URLs,
//! several at once; and `put --resume`, which continues an upload that was interrupted (Ctrl-C, a
//! crash, the network gone) instead of starting over.
//!
//! Each upload under way has a record, `$XDG_STATE_HOME/cipherdrop/uploads/{upload id}.json`
//! and `.parts` (mode 0600; `~/.local/state` without `XDG_STATE_HOME`), written before the first
//! part is sent, with a line appended for every part S3 acknowledges (`record`). It keeps what
//! re-creates the message byte for byte: the file (path, size, modification time), the message
//! id, the suite and frame length, for 0x0578 the signing key **sealed under the data key**
//! (`cipherdrop_core::resume`), and each acknowledged part's ETag and SHA-256. The record alone decrypts nothing and signs nothing: the
//! data key comes back only through the server's audited release for the pending upload.
//!
//! On `--resume`, the server's `ListParts` says which parts S3 holds (the source of truth; the
//! record is a convenience), the file is checked to be the same one (size, modification time, and
//! the SHA-256 of every part already sent, re-encrypted here rather than re-sent; a different file
//! is refused in words before anything is sent), and only the parts S3 lacks are sent, with fresh
//! URLs. The frames depend only on the data key, the message id and their sequence numbers, so
//! the stored object is the one an uninterrupted run would have made.
//!
//! Sending (`sending`) follows the upload policy the page follows too, `cipherdrop_api::transfer`
//! (part URLs used while they have time left, failed attempts tried again after a growing wait,
//! an expired URL renewed, completing retried while the server cannot be reached), and cuts the
//! message with core's `PartLayout`.

mod record;
mod sending;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::transfer::{self, UrlCache};
use cipherdrop_api::{CreateUploadRequest, CreateUploadResponse, PendingKeyResponse, UploadStatus};
use cipherdrop_core::resume::{open_signing_key, seal_signing_key};
use cipherdrop_core::{
    DataKey, EncryptedDataKey, EncryptionContext, EncryptionMaterials, Encryptor, MESSAGE_ID_LEN,
    PUBLIC_KEY_FIELD, PartLayout, SigningKey, Suite,
};

use self::record::{Record, Records, identity, sha256_hex};
use self::sending::{PartSource, send, unix_now};
use super::remote::{Remote, decode_key};
use crate::crypt::cipher::AwsLcCipher;
use crate::exit::{EXIT_INTERRUPTED, EXIT_UNAVAILABLE, Failure, fail, met_of};
use crate::process::client_runtime;

/// Options of `put`.
pub(super) struct PutOptions {
    /// The algorithm suite.
    pub(super) suite: Suite,
    /// Plaintext bytes per frame.
    pub(super) frame_length: u32,
    /// Parts in flight at once.
    pub(super) parallel: usize,
    /// Continue the recorded upload of each file, if there is one.
    pub(super) resume: bool,
}

/// An upload under way, fresh or resumed: everything sending it needs.
struct Upload {
    record: Record,
    key: DataKey,
    edk: EncryptedDataKey,
    context: EncryptionContext,
    signing: Option<SigningKey>,
    /// How the message is cut into parts, as the server announced it.
    layout: PartLayout,
    /// Part URLs handed out and not used yet.
    urls: UrlCache,
    /// Parts S3 holds that were checked against the file: not sent again.
    stored: BTreeSet<u32>,
}

/// The suite a record or an answer names.
fn suite_of(id: u16) -> Result<Suite> {
    Ok(Suite::from_id(cipherdrop_core::AlgorithmSuiteId(id))?)
}

/// The part layout the server announced for an upload: `part_size`-byte parts of a message of
/// `suite` that declared `declared` bytes.
fn layout_of(suite: Suite, declared: u64, part_size: u64) -> Result<PartLayout> {
    PartLayout::announced(suite, declared, part_size).ok_or_else(|| {
        anyhow!(
            "the server announced parts that cannot be: {part_size}-byte parts of a \
             {declared}-byte message"
        )
    })
}

impl Upload {
    /// An encryptor that makes this upload's message from its first byte.
    fn encryptor(&self) -> Result<Encryptor<AwsLcCipher>> {
        let id: [u8; MESSAGE_ID_LEN] = hex::decode(&self.record.message_id)?
            .try_into()
            .map_err(|_| anyhow!("the record's message id has the wrong length"))?;
        let materials = EncryptionMaterials::new(
            suite_of(self.record.suite)?,
            self.context.clone(),
            self.key.clone(),
            vec![self.edk.clone()],
            self.signing.clone(),
        )?;
        Ok(Encryptor::with_message_id(
            materials,
            self.record.frame_length,
            id,
        )?)
    }
}

/// `cipherdrop put [--resume] FILE…`: prints each new file's id. With `--resume` and no files,
/// continues every recorded upload to this server.
pub(super) fn put(files: &[PathBuf], opts: &PutOptions) -> Result<()> {
    let remote = Remote::logged_in()?;
    let records = Records::open()?;
    let files: Vec<PathBuf> = if files.is_empty() {
        let all = records.all(&remote.base)?;
        if all.is_empty() {
            eprintln!("no interrupted uploads to {} to resume", remote.base);
        }
        all.into_iter().map(|r| r.path).collect()
    } else {
        files.to_vec()
    };
    client_runtime()?.block_on(async {
        let mut current = String::new();
        let run = async {
            for f in &files {
                current = f.display().to_string();
                let id = put_one(&remote, &records, f, opts).await?;
                println!("{id}");
            }
            Ok::<_, anyhow::Error>(())
        };
        tokio::select! {
            r = run => r,
            _ = tokio::signal::ctrl_c() => Err(fail(
                EXIT_INTERRUPTED,
                format!(
                    "interrupted: the parts of {current} sent so far are kept; \
                     `cipherdrop put --resume {current}` continues the upload"
                ),
            )),
        }
    })
}

async fn put_one(
    remote: &Remote,
    records: &Records,
    path: &Path,
    opts: &PutOptions,
) -> Result<String> {
    let path =
        std::fs::canonicalize(path).with_context(|| format!("opening {}", path.display()))?;
    let mut file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(fail(1, format!("{} is not a regular file", path.display())));
    }
    let (size, modified) = identity(&meta)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    let mut upload = None;
    if let Some(rec) = records.find(&remote.base, &path)? {
        if opts.resume {
            upload = resume(remote, records, rec, &mut file, size, &modified).await?;
        } else {
            // A plain `put` starts over: the interrupted upload would only hold quota.
            let _: Result<serde_json::Value> = remote
                .call(
                    reqwest::Method::POST,
                    &format!("/api/uploads/{}/abort", rec.upload_id),
                    None::<&()>,
                )
                .await;
            records.remove(&rec.upload_id);
            eprintln!(
                "{}: an interrupted upload of this file was discarded (`put --resume` continues one)",
                path.display()
            );
        }
    }
    let mut upload = match upload {
        Some(u) => u,
        None => create(remote, records, &path, size, modified, opts).await?,
    };
    let upload_id = upload.record.upload_id.clone();
    match send(remote, records, &mut file, &mut upload, &name, opts).await {
        Ok(id) => {
            records.remove(&upload_id);
            Ok(id)
        }
        Err(e) => {
            if met_of(&e).is_some_and(transfer::worth_resuming) {
                // The network or a service stayed away: nothing is lost, the parts S3
                // acknowledged stay, and so does the record.
                return Err(e.context(format!(
                    "uploading {p} (the parts sent are kept; `cipherdrop put --resume {p}` \
                     continues)",
                    p = path.display()
                )));
            }
            // Nothing half-stored: the server aborts the multipart upload.
            let _: Result<serde_json::Value> = remote
                .call(
                    reqwest::Method::POST,
                    &format!("/api/uploads/{upload_id}/abort"),
                    None::<&()>,
                )
                .await;
            records.remove(&upload_id);
            Err(e.context(format!("uploading {}", path.display())))
        }
    }
}

/// Starts a new upload, and records it before any part is sent.
async fn create(
    remote: &Remote,
    records: &Records,
    path: &Path,
    size: u64,
    modified: String,
    opts: &PutOptions,
) -> Result<Upload> {
    let mut rng = rand::rng();
    let signing = opts
        .suite
        .is_signed()
        .then(|| SigningKey::generate(&mut rng));
    let mut created: CreateUploadResponse = remote
        .call(
            reqwest::Method::POST,
            "/api/uploads",
            Some(&CreateUploadRequest {
                plaintext_size: size,
                suite: opts.suite.id().0,
                frame_length: opts.frame_length,
                public_key: signing.as_ref().map(SigningKey::public_key_base64),
            }),
        )
        .await?;
    let layout = layout_of(opts.suite, created.ciphertext_size, created.part_size)?;
    let key = decode_key(&mut created.data_key)?;
    let message_id: [u8; MESSAGE_ID_LEN] = rand::random();
    let record = Record {
        server: remote.base.clone(),
        upload_id: created.upload_id.clone(),
        path: path.to_owned(),
        size,
        modified,
        suite: opts.suite.id().0,
        frame_length: opts.frame_length,
        message_id: hex::encode(message_id),
        signing_key: signing
            .as_ref()
            .map(|s| B64.encode(seal_signing_key(s, &key, &created.upload_id, &mut rng))),
        abandon_at: created.abandon_at,
        parts: BTreeMap::new(),
    };
    records.save(&record)?;
    let mut urls = UrlCache::new();
    urls.insert(created.parts, created.urls_expire_at, unix_now());
    Ok(Upload {
        record,
        edk: EncryptedDataKey::aws_kms(&created.key_arn, B64.decode(&created.edk)?)?,
        context: created.encryption_context.into_iter().collect(),
        key,
        signing,
        layout,
        urls,
        stored: BTreeSet::new(),
    })
}

/// Takes up a recorded upload: `None` when the server no longer has it pending (the record is
/// dropped, and the file starts over); an error when the file is not the one being sent.
async fn resume(
    remote: &Remote,
    records: &Records,
    mut record: Record,
    file: &mut File,
    size: u64,
    modified: &str,
) -> Result<Option<Upload>> {
    let id = record.upload_id.clone();
    let shown = record.path.display().to_string();
    let status: Result<UploadStatus> = remote
        .call(
            reqwest::Method::GET,
            &format!("/api/uploads/{id}"),
            None::<&()>,
        )
        .await;
    let status = match status {
        Ok(s) if s.state == cipherdrop_api::ObjectState::Pending => s,
        Ok(s) => {
            records.remove(&id);
            eprintln!(
                "{shown}: its interrupted upload is {}; starting over",
                s.state
            );
            return Ok(None);
        }
        Err(e)
            if e.downcast_ref::<Failure>()
                .is_some_and(|f| f.code != EXIT_UNAVAILABLE) =>
        {
            records.remove(&id);
            eprintln!(
                "{shown}: its interrupted upload is gone from the server ({e}); starting over"
            );
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if size != record.size || modified != record.modified {
        return Err(fail(
            1,
            format!(
                "{shown} changed since its upload was interrupted (its size or modification \
                 time differ); nothing was sent. `cipherdrop put {shown}` without --resume \
                 starts over"
            ),
        ));
    }
    if (status.suite, status.frame_length, status.plaintext_size)
        != (record.suite, record.frame_length, record.size)
    {
        return Err(anyhow!(
            "the server's upload {id} is not the one recorded for {shown} (suite, frame length \
             or size differ)"
        ));
    }
    let mut released: PendingKeyResponse = remote
        .call(
            reqwest::Method::POST,
            &format!("/api/uploads/{id}/key"),
            None::<&()>,
        )
        .await?;
    let key = decode_key(&mut released.data_key)?;
    let context: EncryptionContext = released.encryption_context.clone().into_iter().collect();
    let signing = match &record.signing_key {
        Some(sealed) => {
            let k = open_signing_key(&B64.decode(sealed)?, &key, &id)
                .map_err(|e| anyhow!("the record's signing key does not open: {e}"))?;
            if released.encryption_context.get(PUBLIC_KEY_FIELD) != Some(&k.public_key_base64()) {
                return Err(anyhow!(
                    "the record's signing key is not the one this upload's context names"
                ));
            }
            Some(k)
        }
        None => None,
    };
    // What S3 holds and the record vouches for (the same size, and the same ETag where S3
    // reports one) is checked against the file below; anything else is sent again.
    let held: BTreeSet<u32> = status
        .stored
        .iter()
        .filter(|p| {
            record
                .parts
                .get(&p.part_number)
                .is_some_and(|r| r.size == p.size && p.etag.as_ref().is_none_or(|e| *e == r.etag))
        })
        .map(|p| p.part_number)
        .collect();
    record.parts.retain(|n, _| held.contains(n));
    let upload = Upload {
        record,
        key,
        edk: EncryptedDataKey::aws_kms(&released.key_arn, B64.decode(&released.edk)?)?,
        context,
        signing,
        layout: layout_of(
            suite_of(status.suite)?,
            status.ciphertext_size,
            status.part_size,
        )?,
        urls: UrlCache::new(),
        stored: held,
    };
    // The same file? Every part already sent is made again here and compared, before anything
    // is sent.
    if let Some(&last) = upload.stored.last() {
        let part_size = usize::try_from(upload.layout.part_size())?;
        let mut parts = PartSource::new(file, upload.encryptor()?, part_size)?;
        while let Some((n, bytes)) = parts.next_part()? {
            if let Some(r) = upload.record.parts.get(&n)
                && sha256_hex(&bytes) != r.sha256
            {
                return Err(fail(
                    1,
                    format!(
                        "{shown} is not the file whose upload was interrupted (part {n} differs \
                         from what was sent); nothing was sent. `cipherdrop put {shown}` without \
                         --resume starts over"
                    ),
                ));
            }
            if n >= last {
                break;
            }
        }
    }
    records.save(&upload.record)?;
    eprintln!(
        "{shown}: resuming, {} of {} parts already stored",
        upload.stored.len(),
        status.part_count
    );
    Ok(Some(upload))
}
