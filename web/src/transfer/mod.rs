//! Uploads, as a pipeline whose data flows one way, one file per stage:
//!
//! ```text
//! read ─▶ seal ─▶ held ─▶ record ─▶ put ─▶ S3
//!  file     frames    parts S3     the entry    presigned
//!  stream   sealed,   holds are    for a        PUTs, retried
//!           packed    checked,     resume       by the shared
//!           in parts  not sent                  policy
//! ```
//!
//! `read` (the file, or a download's body), `seal` (the message's encoders, which take the
//! plaintext data key itself and drop it right after key derivation, and the encryption into
//! parts), `held` (a resumed upload's parts that S3 holds, checked against the file), `record`
//! (this browser's IndexedDB record of uploads under way; the stage computes each part's SHA-256
//! and hands on what to write once S3 stored it) and `put` (the part PUTs). `parts` is what flows
//! between them. A stage hands its output to the next and never calls back into an earlier one:
//! what a later stage must do for an earlier one travels forward with the part (a closure), and
//! what the page shows goes back through closures the job hands in. `endpoint` is the one channel
//! every server call of an upload goes through, account or file request sender, renewals of
//! expired part URLs included. `job` wires the stages for one upload, completes and settles it;
//! `upload` (a new upload: the account's, or a sender's) and `resume` (an unfinished one, from
//! its own typed input) start jobs. Nothing here imports the UI; the retry, backoff and URL
//! policy is `cipherdrop_api::transfer`, the part layout core's `PartLayout`.

pub mod endpoint;
pub(crate) mod held;
pub(crate) mod job;
pub mod parts;
pub(crate) mod put;
pub mod read;
pub mod record;
pub(crate) mod resume;
pub mod seal;
pub(crate) mod upload;

pub use endpoint::Endpoint;
pub use job::{DEFAULT_FRAME_LENGTH, DEFAULT_PARALLEL, Progress, Report, UploadOptions};
pub use record::{SentPart, Unfinished};
pub use resume::{discard, resume_upload};
pub use upload::{SentRecord, UploadRecord, send_blob, upload_blob};
