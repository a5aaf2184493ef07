//! Why an upload or a download stopped (one error type for both, in the words users see), and
//! the flag that cancels one.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use wasm_bindgen::JsValue;

use crate::api::ApiError;
use crate::browser::js_error_message;

/// A cancel flag shared by the page and a running job.
#[derive(Clone, Default, Debug)]
pub struct Cancel(Rc<Cell<bool>>);

impl Cancel {
    /// Asks the job to stop.
    pub fn cancel(&self) {
        self.0.set(true);
    }

    /// Whether stopping was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.get()
    }
}

impl PartialEq for Cancel {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// Why an upload or a download (or the encryption or decryption inside one) stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferError {
    /// The server said no or could not be reached (S3 too, for a download's GET).
    Api(ApiError),
    /// The user cancelled.
    Cancelled,
    /// The file or the download could not be read (for example the file changed or was removed
    /// while reading, or the connection broke off).
    Read(String),
    /// The browser's crypto failed for a reason other than a bad tag.
    Crypto(String),
    /// The message is not authentic or not well formed: changed, damaged or truncated.
    Integrity(String),
    /// The destination failed (S3 refusing a part, or the file being saved).
    Sink(String),
    /// Misuse of the format API, or sizes that disagree (a bug on this page or the server).
    Format(String),
    /// S3 or the network stayed away after every retry (what the last attempt met).
    GaveUp(String),
    /// The upload stopped but what was sent is kept, to be resumed (the whole message says how).
    Interrupted(String),
    /// A file chosen to resume an upload is not the one being uploaded.
    NotSame(String),
    /// The upload to resume is no longer kept by the server (aborted, swept or finished).
    Gone(String),
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(e) => e.fmt(f),
            Self::Cancelled => write!(f, "Cancelled."),
            Self::Read(e) => write!(f, "The file could not be read: {e}"),
            Self::Crypto(e) => write!(f, "The browser's cryptography failed: {e}"),
            Self::Integrity(e) => write!(
                f,
                "Integrity check failed: the stored file was changed or damaged ({e}). \
                 Nothing was saved."
            ),
            Self::Sink(e) => write!(f, "{e}"),
            Self::Format(e) => write!(f, "Internal error: {e}"),
            Self::GaveUp(e) | Self::Interrupted(e) | Self::NotSame(e) | Self::Gone(e) => {
                write!(f, "{e}")
            }
        }
    }
}

impl std::error::Error for TransferError {}

impl From<ApiError> for TransferError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl TransferError {
    /// The browser's crypto threw or rejected (not a tag failure).
    pub(crate) fn crypto(e: JsValue) -> Self {
        Self::Crypto(js_error_message(&e))
    }

    /// Core refused a call: a bug on this page, never the data's fault.
    pub(crate) fn format(e: impl fmt::Display) -> Self {
        Self::Format(e.to_string())
    }

    /// Core found the message not authentic or malformed.
    pub(crate) fn integrity(e: cipherdrop_core::Error) -> Self {
        Self::Integrity(e.to_string())
    }
}
