//! The audit trail: one JSON line per call (time, caller, operation, key, context, outcome), as
//! CloudTrail records KMS use. Never plaintext, data keys or ciphertext blobs.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// An append-only JSON-lines file.
pub struct AuditLog {
    file: Mutex<std::fs::File>,
}

/// One audit record.
pub struct Event<'a> {
    /// The caller's access key (None when authentication failed before it was known).
    pub access_key: Option<&'a str>,
    /// The operation name.
    pub operation: &'a str,
    /// The key (ARN) the call used, when known.
    pub key_arn: Option<&'a str>,
    /// The encryption context of the call, when it had one.
    pub context: Option<&'a BTreeMap<String, String>>,
    /// `Ok` or the error code.
    pub outcome: Result<(), &'a str>,
}

impl AuditLog {
    /// Opens (creating, mode 0600) the log for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        Ok(Self {
            file: Mutex::new(opts.open(path)?),
        })
    }

    /// Appends one record (a failure to write is logged, not returned).
    pub fn record(&self, e: &Event<'_>) {
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let line = serde_json::json!({
            "eventTime": time,
            "accessKeyId": e.access_key,
            "eventName": e.operation,
            "keyArn": e.key_arn,
            "encryptionContext": e.context,
            "outcome": match e.outcome { Ok(()) => "Success", Err(code) => code },
        });
        let mut text = line.to_string();
        text.push('\n');
        let written = match self.file.lock() {
            Ok(mut f) => f.write_all(text.as_bytes()),
            Err(_) => Err(std::io::Error::other("audit log lock poisoned")),
        };
        if let Err(err) = written {
            tracing::error!(%err, "cannot append to the KMS audit log");
        }
    }
}
