//! One upload's job: the stages wired in the one direction data flows. The file is read and
//! sealed (`read`, `seal`) into parts; parts S3 already holds are checked and passed on (`held`);
//! each part to send gets its record entry (`record`) and is PUT to S3 (`put`). Then the size is
//! checked with core's `MessageLen`, the upload completed through its channel (`endpoint`), and
//! the end settled: a finished upload forgets its record, one the network interrupted keeps it
//! and says until when, anything else is aborted.
//!
//! The job starts from [`Issued`], the upload as the server issued it, made from a new upload's
//! answer (`upload`) or from a resumed one's status and key release (`resume`); the data key has
//! gone into the encoders before the job begins.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::transfer::worth_resuming;
use cipherdrop_api::{CompleteUploadRequest, CreateUploadResponse, PartUrl};
use cipherdrop_core::{MESSAGE_ID_LEN, MessageLen, PartLayout, Suite};
use web_sys::Blob;

use super::endpoint::{Arrived, Channel, failure_of};
use super::held::{Held, HeldPart, Verify};
use super::put::{Events, Put, PutEvent};
use super::read::read_bytes;
use super::record::{self, Record};
use super::seal::{Encoders, MessagePlan, encrypt_blob};
use crate::api::ApiError;
use crate::error::{Cancel, TransferError};

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

/// Receives progress reports.
pub type Report = Rc<dyn Fn(Progress)>;

/// An answer the page cannot use: the server's fault or a bug, never the network's.
fn bad(what: &str) -> TransferError {
    TransferError::Api(ApiError::Decode(what.to_owned()))
}

/// The upload as the server issued it: what the job needs of the server's side.
pub(crate) struct Issued {
    /// The upload id.
    pub(crate) upload_id: String,
    /// The object id it becomes (names are sealed for it).
    pub(crate) object_id: String,
    /// The KMS key that made the data key.
    pub(crate) key_arn: String,
    /// The encrypted data key, decoded.
    pub(crate) edk: Vec<u8>,
    /// The encryption context, exactly as issued.
    pub(crate) encryption_context: BTreeMap<String, String>,
    /// How the declared message is cut into parts.
    pub(crate) layout: PartLayout,
    /// When the server aborts the upload if it is still pending (Unix seconds).
    pub(crate) abandon_at: i64,
    /// Part URLs handed out with it, and when they expire (Unix seconds).
    pub(crate) urls: (Vec<PartUrl>, i64),
}

impl Issued {
    /// A new upload's, from the server's answer, for a message of `suite`.
    pub(crate) fn started(
        answer: CreateUploadResponse,
        suite: Suite,
    ) -> Result<Self, TransferError> {
        let edk = B64
            .decode(&answer.edk)
            .map_err(|_| bad("encrypted data key"))?;
        let layout = layout_of(
            suite,
            answer.ciphertext_size,
            answer.part_size,
            answer.part_count,
        )?;
        Ok(Self {
            upload_id: answer.upload_id,
            object_id: answer.object_id,
            key_arn: answer.key_arn,
            edk,
            encryption_context: answer.encryption_context,
            layout,
            abandon_at: answer.abandon_at,
            urls: (answer.parts, answer.urls_expire_at),
        })
    }

    /// The message to make for it, with `options` and `message_id`.
    pub(crate) fn message(
        &self,
        options: &UploadOptions,
        message_id: [u8; MESSAGE_ID_LEN],
    ) -> MessagePlan<'_> {
        MessagePlan {
            suite: options.suite,
            frame_length: options.frame_length,
            message_id,
            key_arn: &self.key_arn,
            edk: &self.edk,
            context: &self.encryption_context,
        }
    }
}

/// The part layout the server announced (`part_size` bytes per part, `part_count` parts of a
/// message of `suite` declared `declared` bytes long), checked against core's.
pub(crate) fn layout_of(
    suite: Suite,
    declared: u64,
    part_size: u64,
    part_count: u32,
) -> Result<PartLayout, TransferError> {
    PartLayout::announced(suite, declared, part_size)
        .filter(|l| l.count() == part_count)
        .ok_or_else(|| {
            bad(&format!(
                "{part_count} parts of {part_size} bytes for {declared}"
            ))
        })
}

/// One upload the server opened, with everything the stages need.
pub(crate) struct Job<'a> {
    /// The file.
    pub(crate) file: &'a Blob,
    /// Its name, for a held part that is not what this file makes.
    pub(crate) name: &'a str,
    /// The upload as issued.
    pub(crate) issued: &'a Issued,
    /// Its calls to the server.
    pub(crate) channel: &'a Channel,
    /// The suite, frame length and parts in flight.
    pub(crate) options: UploadOptions,
    /// The file's name and type, sealed.
    pub(crate) metadata: String,
    /// Parts S3 holds (a resumed upload), each checked against the file and then not sent.
    pub(crate) held: BTreeMap<u32, HeldPart>,
    /// Whether the parts sent go into this browser's record of the upload.
    pub(crate) recorded: bool,
    /// Where progress goes.
    pub(crate) report: Report,
    /// The user's cancel.
    pub(crate) cancel: &'a Cancel,
}

/// What an upload sent that the page shows afterwards.
pub(crate) struct Sent {
    /// The server's answer.
    pub(crate) arrived: Arrived,
    /// The message header.
    pub(crate) header: Vec<u8>,
    /// The first plaintext bytes.
    pub(crate) plaintext_head: Vec<u8>,
}

impl Job<'_> {
    /// Checks the held parts in a pass of their own if `encoders` has one for it, then
    /// encrypts the file through the stages, checks the size and completes the upload.
    pub(crate) async fn run(self, encoders: Encoders) -> Result<Sent, TransferError> {
        let Encoders { send, check } = encoders;
        let (issued, cancel) = (self.issued, self.cancel);
        let part_size = issued.layout.part_size();
        // A set of held parts that is not a prefix is checked first (nothing is sent for a file
        // that is not the same); a prefix is checked as the sending pass goes by it.
        let check_in_passing = check.is_none();
        if let Some(check) = check {
            let enough = Cancel::default();
            let mut verify = Verify::new(&self.held, self.name, enough.clone(), cancel);
            let checked = encrypt_blob(
                self.file,
                check,
                part_size,
                &mut verify,
                &mut |_| {},
                &enough,
            )
            .await;
            match checked {
                Ok(_) => {}
                Err(TransferError::Cancelled) if !cancel.is_cancelled() => {}
                Err(e) => return Err(e),
            }
        }
        let header = send.header().to_vec();
        let size = self.file.size() as u64;
        let plaintext_head = read_bytes(self.file, 0, size.min(64)).await?;

        let progress = Rc::new(RefCell::new(Progress {
            total: issued.layout.message_len(),
            abandon_at: issued.abandon_at,
            ..Progress::default()
        }));
        let events: Events = {
            let (progress, report) = (progress.clone(), self.report.clone());
            Rc::new(move |event| {
                let now = {
                    let mut p = progress.borrow_mut();
                    match event {
                        PutEvent::Stored(bytes) => p.uploaded += bytes,
                        PutEvent::Offline(offline) if p.offline == offline => return,
                        PutEvent::Offline(offline) => p.offline = offline,
                    }
                    *p
                };
                report(now);
            })
        };
        let put = Put::new(
            self.channel.clone(),
            issued.layout,
            issued.urls.clone(),
            self.options.parallel,
            events,
            cancel.clone(),
        );
        let recording = self.recorded.then_some(issued.upload_id.as_str());
        let mut stages = Held::new(
            self.held,
            check_in_passing,
            self.name,
            Record::new(recording, put),
        );
        let mut encrypted = {
            let report = self.report.clone();
            move |n: u64| {
                let now = {
                    let mut p = progress.borrow_mut();
                    p.encrypted = n;
                    *p
                };
                report(now);
            }
        };
        let sealed = encrypt_blob(
            self.file,
            send,
            part_size,
            &mut stages,
            &mut encrypted,
            cancel,
        )
        .await;
        let sealed = match sealed {
            Ok(s) => s,
            Err(e) => {
                stages.next_mut().next_mut().stop();
                return Err(e);
            }
        };
        let parts = stages.into_next().into_next().finish().await?;
        // What we wrote must be a length this message can have, and the server must have
        // declared the longest one (exact for 0x0478; with the longest DER signature for 0x0578).
        let frame_length = self.options.frame_length;
        let len = MessageLen::new(self.options.suite, header.len() as u64, size, frame_length);
        let declared = issued.layout.message_len();
        let size_ok = len
            .is_some_and(|len| len.written_by_us(sealed.ciphertext_len) && len.max() == declared);
        if !size_ok {
            return Err(TransferError::Format(format!(
                "wrote {} bytes, the server expected {declared}",
                sealed.ciphertext_len
            )));
        }
        if cancel.is_cancelled() {
            return Err(TransferError::Cancelled);
        }
        let req = CompleteUploadRequest {
            parts,
            metadata: self.metadata,
        };
        let arrived = self.channel.complete(&req, cancel).await?;
        Ok(Sent {
            arrived,
            header,
            plaintext_head,
        })
    }
}

/// Whether a failure leaves the upload worth resuming: the network or S3 stayed away, not a
/// refusal or a bug.
fn resumable(e: &TransferError) -> bool {
    match e {
        TransferError::GaveUp(_) => true,
        TransferError::Api(a) => worth_resuming(failure_of(a)),
        _ => false,
    }
}

/// Abandons the upload after `e` (best effort; the server's sweeper aborts what is left).
pub(crate) async fn abandon(channel: &Channel, e: TransferError) -> TransferError {
    let _ = channel.abort().await;
    e
}

/// The end of a job: a finished upload forgets its record; one the network interrupted keeps its
/// parts and its record (`recorded`), and says until when (`abandon_at`); anything else is
/// aborted (nothing half-recorded).
pub(crate) async fn settle(
    result: Result<Sent, TransferError>,
    channel: &Channel,
    abandon_at: i64,
    recorded: bool,
) -> Result<Sent, TransferError> {
    let id = channel.upload_id();
    match result {
        Ok(sent) => {
            if recorded {
                record::remove(id).await;
            }
            Ok(sent)
        }
        // A different file was chosen to resume: nothing was sent, the upload stays as it was.
        Err(e @ TransferError::NotSame(_)) => Err(e),
        Err(e) if recorded && resumable(&e) => Err(TransferError::Interrupted(format!(
            "{e} The parts sent so far are kept until {}: choose the same file under \
             “Unfinished uploads” to continue from there.",
            crate::browser::local_date(abandon_at)
        ))),
        Err(e) => {
            // Leave nothing half-recorded: the server aborts the multipart upload.
            let e = abandon(channel, e).await;
            if recorded {
                record::remove(id).await;
            }
            Err(e)
        }
    }
}
