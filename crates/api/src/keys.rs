//! Key administration (administrators): the KMS keys stored data is under, each account's own
//! key, and key rotation jobs with their progress.

use serde::{Deserialize, Serialize};

/// A KMS key something is stored under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInUse {
    /// Its ARN.
    pub arn: String,
    /// Files (complete or uploading) whose data keys it wraps.
    pub files: u64,
}

/// An account and the key its new data keys come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountKey {
    /// The account's name.
    pub username: String,
    /// Its own key (id, ARN or alias); absent: the server's.
    pub kms_key_id: Option<String>,
}

/// A key rotation job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekeyJob {
    /// Its id.
    pub id: String,
    /// The key ARN files move away from.
    pub from_key: String,
    /// The key they move to (as given).
    pub to_key: String,
    /// Only this account's files, if set.
    pub account: Option<String>,
    /// Only this file, if set (an owner's re-key of one file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Most KMS requests per second.
    pub kms_rate: u32,
    /// Unix seconds.
    pub created_at: i64,
    /// When a server started it.
    pub started_at: Option<i64>,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// Files under the old key when it started.
    pub files_total: u64,
    /// Their bytes.
    pub bytes_total: u64,
    /// Files moved.
    pub files_done: u64,
    /// Their bytes.
    pub bytes_done: u64,
    /// Files that could not be moved.
    pub files_failed: u64,
    /// Metadata keys and link set keys moved.
    pub keys_done: u64,
    /// Unfinished uploads under the old key it waits for.
    pub waiting: u64,
    /// The last error, or what it waits for, in words.
    pub message: String,
}

impl RekeyJob {
    /// Seconds left at the pace so far, while it runs and has moved something (`now`: Unix
    /// seconds).
    pub fn seconds_left(&self, now: i64) -> Option<u64> {
        let started = self.started_at?;
        if self.state != "running" || self.bytes_done == 0 {
            return None;
        }
        let spent = u128::try_from(now - started).unwrap_or(0).max(1);
        let left = u128::from(self.bytes_total.saturating_sub(self.bytes_done));
        u64::try_from(spent * left / u128::from(self.bytes_done)).ok()
    }
}

/// `GET /api/admin/keys`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeysOverview {
    /// The server's key for new data keys (`--kms-key-id`).
    pub server_key: String,
    /// The keys stored data is under.
    pub keys: Vec<KeyInUse>,
    /// Every account and its own key, if any.
    pub accounts: Vec<AccountKey>,
    /// The newest jobs first.
    pub jobs: Vec<RekeyJob>,
}

/// `POST /api/admin/rekey`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateRekeyRequest {
    /// The key files are under now (ARN or key id).
    pub from: String,
    /// The key to move them to (id, ARN or alias); may be empty for a dry run.
    #[serde(default)]
    pub to: String,
    /// Only this account's files and keys.
    #[serde(default)]
    pub account: Option<String>,
    /// Most KMS requests per second (default 50).
    #[serde(default)]
    pub kms_rate: Option<u32>,
    /// Only say what would move.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a rotation would move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekeyPreview {
    /// Complete files.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Metadata keys and link set keys.
    pub keys: u64,
    /// Unfinished uploads it would wait for.
    pub pending: u64,
}

/// The answer to `POST /api/admin/rekey`: what would move, and the job (unless a dry run).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RekeyCreated {
    /// What moves.
    pub preview: RekeyPreview,
    /// The job recorded.
    pub job: Option<RekeyJob>,
}

/// `PUT /api/admin/users/{name}/key`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetAccountKeyRequest {
    /// A key id, ARN or alias; absent: the server's key again.
    pub kms_key_id: Option<String>,
}

/// Default KMS requests per second of a rotation.
pub const REKEY_DEFAULT_RATE: u32 = 50;
/// Most KMS requests per second a rotation may make.
pub const REKEY_MAX_RATE: u32 = 10_000;

#[cfg(test)]
mod tests {
    use super::RekeyJob;

    #[test]
    fn the_time_left_follows_the_pace_so_far_and_only_while_running() {
        let mut job = RekeyJob {
            id: "j".into(),
            from_key: "a".into(),
            to_key: "b".into(),
            account: None,
            object_id: None,
            state: "running".into(),
            kms_rate: 50,
            created_at: 0,
            started_at: Some(100),
            finished_at: None,
            files_total: 4,
            bytes_total: 400,
            files_done: 1,
            bytes_done: 100,
            files_failed: 0,
            keys_done: 0,
            waiting: 0,
            message: String::new(),
        };
        // 100 bytes in 10 s: 300 left take 30 s.
        assert_eq!(job.seconds_left(110), Some(30));
        job.bytes_done = 0;
        assert_eq!(job.seconds_left(110), None, "nothing moved yet");
        job.bytes_done = 400;
        job.state = "done".into();
        assert_eq!(job.seconds_left(110), None, "ended");
    }
}
