//! Continuing an account's upload from this browser's record: the same file chosen again (its
//! size and modification time, then every part already sent, made again and compared, before
//! anything is sent), the server's word on what S3 holds, and the data key released again
//! (audited). Its own typed input, [`Resumed`], gathers that: the upload as the server issued it
//! (from its status and the key release: nothing made up), the recorded message id, the parts S3
//! holds that this browser vouches for, and the keys. Only the parts S3 lacks are sent, and the
//! object is the one an uninterrupted upload would have made.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{ObjectState, UploadStatus};
use cipherdrop_core::resume::open_signing_key;
use cipherdrop_core::{
    AlgorithmSuiteId, DataKey, MESSAGE_ID_LEN, PUBLIC_KEY_FIELD, SigningKey, Suite,
};
use web_sys::File;

use super::endpoint::Channel;
use super::held::{HeldPart, is_prefix};
use super::job::{Issued, Job, Report, UploadOptions, layout_of, settle};
use super::record::{self, Unfinished};
use super::seal;
use super::upload::UploadRecord;
use crate::api::{self, ApiError, WithKey};
use crate::error::{Cancel, TransferError};
use crate::metadata::{self, FileMeta};

/// What continuing an upload needs, from this browser's record and the server.
struct Resumed {
    /// The upload as the server issued it.
    issued: Issued,
    /// The suite, frame length and parts in flight.
    options: UploadOptions,
    /// The recorded message id (the same bytes are made again).
    message_id: [u8; MESSAGE_ID_LEN],
    /// Parts S3 holds with the size and ETag this browser recorded for them.
    held: BTreeMap<u32, HeldPart>,
    /// The 0x0578 signing key, opened from the record with the data key.
    signing: Option<SigningKey>,
    /// The data key, released again.
    data_key: DataKey,
}

fn bad(what: &str) -> TransferError {
    TransferError::Api(ApiError::Decode(what.to_owned()))
}

/// The server's state of `u`, if it still keeps the upload pending; a record it no longer
/// keeps is forgotten.
async fn pending_status(u: &Unfinished) -> Result<UploadStatus, TransferError> {
    match api::upload_status(&u.upload_id).await {
        Ok(s) if s.state == ObjectState::Pending => Ok(s),
        Ok(s) => {
            record::remove(&u.upload_id).await;
            Err(TransferError::Gone(format!(
                "The server no longer keeps this upload (it is {}: unfinished uploads are \
                 aborted after a while), so it cannot be resumed.",
                s.state
            )))
        }
        Err(e) if matches!(e.status(), Some(404 | 409)) => {
            record::remove(&u.upload_id).await;
            Err(TransferError::Gone(format!(
                "The server no longer keeps this upload ({e}), so it cannot be resumed."
            )))
        }
        Err(e) => Err(e.into()),
    }
}

impl Resumed {
    /// Gathers what continuing `u` needs: the server's status and the key release.
    async fn prepare(u: &Unfinished, parallel: usize) -> Result<Self, TransferError> {
        let status = pending_status(u).await?;
        if (status.suite, status.frame_length, status.plaintext_size)
            != (u.suite, u.frame_length, u.size)
        {
            return Err(TransferError::Format(
                "the server's upload is not the one recorded in this browser".into(),
            ));
        }
        let WithKey {
            answer: key,
            data_key,
        } = api::pending_key(&u.upload_id).await?;
        let suite = Suite::from_id(AlgorithmSuiteId(u.suite)).map_err(|e| bad(&e.to_string()))?;
        let signing = match &u.signing_key {
            Some(sealed) => {
                let sealed = B64.decode(sealed).map_err(|_| bad("sealed signing key"))?;
                let k = open_signing_key(&sealed, &data_key, &u.upload_id)
                    .map_err(|e| bad(&format!("the recorded signing key: {e}")))?;
                if key.encryption_context.get(PUBLIC_KEY_FIELD) != Some(&k.public_key_base64()) {
                    return Err(bad("the recorded signing key is not this upload's"));
                }
                Some(k)
            }
            None => None,
        };
        // What S3 holds and this browser vouches for (same size; same ETag where S3 reports one).
        let held = status
            .stored
            .iter()
            .filter_map(|p| {
                let r = u.parts.get(&p.part_number)?;
                let same = r.size == p.size && p.etag.as_ref().is_none_or(|e| *e == r.etag);
                let part = HeldPart {
                    etag: r.etag.clone(),
                    sha256: r.sha256.clone(),
                };
                same.then_some((p.part_number, part))
            })
            .collect();
        let message_id = u
            .message_id()
            .ok_or_else(|| bad("the recorded message id"))?;
        let edk = B64
            .decode(&key.edk)
            .map_err(|_| bad("encrypted data key"))?;
        let layout = layout_of(
            suite,
            status.ciphertext_size,
            status.part_size,
            status.part_count,
        )?;
        let issued = Issued {
            upload_id: status.upload_id,
            object_id: status.object_id,
            key_arn: key.key_arn,
            edk,
            encryption_context: key.encryption_context,
            layout,
            abandon_at: status.abandon_at,
            urls: (Vec::new(), 0),
        };
        let options = UploadOptions {
            suite,
            frame_length: u.frame_length,
            parallel,
        };
        Ok(Self {
            issued,
            options,
            message_id,
            held,
            signing,
            data_key,
        })
    }
}

/// Continues the upload `unfinished` with `file`, which must be the same file: its size and
/// modification time, and then every part already sent (made again here and compared), before
/// anything is sent. The server says which parts S3 holds and releases the data key again
/// (audited); only the parts S3 lacks are sent.
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
    let Resumed {
        issued,
        options,
        message_id,
        held,
        signing,
        data_key,
    } = Resumed::prepare(&u, parallel).await?;
    let channel = Channel::account(&issued.upload_id);
    let meta = FileMeta {
        name: u.name.clone(),
        media_type: u.media_type.clone(),
        sender: None,
    };
    let check_pass = !is_prefix(&held);
    let plan = issued.message(&options, message_id);
    // The data key goes into the encoders here (dropped right after key derivation).
    let encoders = seal::encoders(data_key, signing, &plan, check_pass);
    let sent = async {
        let encoders = encoders?;
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
            held,
            recorded: true,
            report,
            cancel: &cancel,
        }
        .run(encoders)
        .await
    }
    .await;
    let sent = settle(sent, &channel, issued.abandon_at, true).await?;
    UploadRecord::of(sent, meta, &issued, started)
}

/// Gives up an unfinished upload of the account's: the server aborts it and this browser
/// forgets its record.
pub async fn discard(upload_id: &str) {
    let _ = Channel::account(upload_id).abort().await;
    record::remove(upload_id).await;
}
