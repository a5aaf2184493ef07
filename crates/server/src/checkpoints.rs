//! Signed checkpoints of the audit chain: the chain's head, signed by a KMS asymmetric key, so a
//! rewrite of the chain by whoever can write the database is detected.
//!
//! The chain's hashes and its `audit_head` row live in the database, so its own writer can edit a
//! row, re-hash every later row and move the head, and the chain checks out. A checkpoint records
//! "row `audit_id` had hash `hash`", signed with ECDSA P-384 by a KMS key the server may only use
//! to sign (`kms:Sign`, `kms:GetPublicKey`); the database's writer cannot sign another one, and
//! [`crate::audit::verify_with`] checks every checkpoint with only the key's public half, so a
//! rewrite of any row a checkpoint covers is found, and named by the first checkpoint that no
//! longer matches.
//!
//! The signed message ([`message`]) is fixed and domain-separated:
//!
//! ```text
//! cipherdrop/audit-checkpoint/v1\n{audit_id}\n{hash}\n{created_ms}\n
//! ```
//!
//! (decimal ids and Unix milliseconds, the row's lowercase hex SHA-256), signed by KMS `Sign` with
//! `MessageType` `RAW` and `ECDSA_SHA_384`: KMS hashes it with SHA-384, and the signature is DER.
//!
//! [`Checkpointer`] writes them: every `every_rows` rows or every `every` if any row came since
//! the last one (the server's checkpoint timer), one replica at a time (an advisory lock, and the table's primary key on
//! `audit_id` for writers that still meet). A KMS failure is logged and tried again later; appends
//! never wait for a checkpoint. Each checkpoint is optionally copied to a bucket as
//! `audit-checkpoints/{audit_id:020}.json`, with S3 Object Lock in COMPLIANCE mode for
//! `retain_days` (on AWS the bucket must have Object Lock enabled), where the database's writer
//! cannot delete it either; [`copies`] reads them back, and [`crate::audit::verify_against`]
//! finds a checkpoint deleted from the database (with the rows it covered rewritten) by its copy.

use std::time::Duration;

use crate::anchor::from_row;
pub use crate::anchor::{
    ALGORITHM, BUCKET_PREFIX, Checkpoint, DOMAIN, KeyError, PublicKey, covered, list, message, utc,
};
use crate::aws::Aws;
use crate::db::{Db, now_ms};
use crate::error::ApiError;

/// How checkpoints are written.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The KMS key (ECC_NIST_P384, SIGN_VERIFY) that signs: id, ARN or alias.
    pub key_id: String,
    /// A checkpoint once this many rows came since the last one.
    pub every_rows: u64,
    /// A checkpoint this often, if any row came since the last one.
    pub every: Duration,
    /// A bucket that gets a copy of each checkpoint.
    pub bucket: Option<String>,
    /// Object Lock (COMPLIANCE) on each copy for this many days.
    pub retain_days: Option<u32>,
}

impl Settings {
    /// Checkpoints signed by `key_id` every 1000 rows or 5 minutes, no bucket copy.
    pub fn new(key_id: &str) -> Self {
        Self {
            key_id: key_id.to_owned(),
            every_rows: 1000,
            every: Duration::from_secs(300),
            bucket: None,
            retain_days: None,
        }
    }
}

/// Why a checkpoint was not written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The database refused or failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// KMS or S3 refused or could not be reached.
    #[error("{}", .0.message)]
    Service(#[from] ApiError),
    /// The signing key's public key is not a P-384 key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// KMS answered a signature that the key's public key does not verify (a wrong key or
    /// algorithm): nothing is recorded.
    #[error("KMS key {0} answered a signature its public key does not verify")]
    BadSignature(String),
    /// The row at the chain's head is not the one `audit_head` names: the chain is broken, and
    /// no checkpoint vouches for it.
    #[error(
        "the audit row at the chain's head ({0}) does not match audit_head; run `cipherdrop audit verify`"
    )]
    Chain(i64),
}

/// The cluster-wide lock that lets one replica write checkpoints at a time ("cipherdrop checkpt").
const CHECKPOINT_LOCK: i64 = 0x6369_7068_6368_6b70;
/// Copies tried per call.
const MAX_COPIES: i64 = 100;

/// Writes checkpoints of one database's audit chain.
pub struct Checkpointer {
    db: Db,
    aws: Aws,
    settings: Settings,
    /// One checkpoint at a time in this process (the advisory lock is per cluster, and SQLite's
    /// is always granted).
    running: tokio::sync::Mutex<()>,
    /// The signing key's public half, read once, to check each signature before it is recorded.
    public_key: tokio::sync::OnceCell<PublicKey>,
}

impl Checkpointer {
    /// A writer over `db`, signing with `aws`'s KMS.
    pub fn new(db: Db, aws: Aws, settings: Settings) -> Self {
        Self {
            db,
            aws,
            settings,
            running: tokio::sync::Mutex::new(()),
            public_key: tokio::sync::OnceCell::new(),
        }
    }

    /// How it writes.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Signs the chain's head now, unless a checkpoint covers it already or another replica is
    /// writing one; returns the checkpoint this call recorded. Then copies every checkpoint not
    /// yet in the checkpoint bucket there (a failed copy is logged and tried again next time).
    pub async fn checkpoint_now(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        let _one = self.running.lock().await;
        let Some(lock) = self.db.try_lock(CHECKPOINT_LOCK).await? else {
            tracing::debug!("another replica is writing a checkpoint");
            return Ok(None);
        };
        let written = self.write().await;
        if written.is_ok() {
            self.copy_pending().await;
        }
        lock.release().await;
        written
    }

    async fn write(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        let (head_id, head_hash): (i64, String) =
            sqlx::query_as("SELECT id, hash FROM audit_head WHERE one = 1")
                .fetch_one(&self.db)
                .await?;
        if head_id == 0 || covered(&self.db).await? >= head_id {
            return Ok(None);
        }
        let row: Option<String> = sqlx::query_scalar("SELECT hash FROM audit WHERE id = $1")
            .bind(head_id)
            .fetch_optional(&self.db)
            .await?;
        if row.as_deref() != Some(head_hash.as_str()) {
            return Err(CheckpointError::Chain(head_id));
        }
        let created_ms = now_ms();
        let (key_arn, signature) = self
            .aws
            .sign_p384(
                &self.settings.key_id,
                &message(head_id, &head_hash, created_ms),
            )
            .await?;
        let checkpoint = Checkpoint {
            audit_id: head_id,
            hash: head_hash,
            created_ms,
            key_arn,
            algorithm: ALGORITHM.to_owned(),
            signature,
        };
        let public_key = self
            .public_key
            .get_or_try_init(|| async {
                let (_, der) = self.aws.public_key(&self.settings.key_id).await?;
                Ok::<_, CheckpointError>(PublicKey::from_der(&der)?)
            })
            .await?;
        if !public_key.signed(&checkpoint) {
            return Err(CheckpointError::BadSignature(checkpoint.key_arn));
        }
        let inserted = sqlx::query(
            "INSERT INTO audit_checkpoints (audit_id, hash, created_ms, key_arn, algorithm, signature)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (audit_id) DO NOTHING",
        )
        .bind(checkpoint.audit_id)
        .bind(&checkpoint.hash)
        .bind(checkpoint.created_ms)
        .bind(&checkpoint.key_arn)
        .bind(&checkpoint.algorithm)
        .bind(&checkpoint.signature)
        .execute(&self.db)
        .await?;
        if inserted.rows_affected() == 0 {
            // Another writer recorded this head first.
            return Ok(None);
        }
        tracing::info!(audit_id = checkpoint.audit_id, "audit checkpoint signed");
        Ok(Some(checkpoint))
    }

    /// Copies the checkpoints not yet in the bucket, oldest first.
    async fn copy_pending(&self) {
        let Some(bucket) = &self.settings.bucket else {
            return;
        };
        let pending = sqlx::query(
            "SELECT audit_id, hash, created_ms, key_arn, algorithm, signature
             FROM audit_checkpoints WHERE copied = 0 ORDER BY audit_id LIMIT $1",
        )
        .bind(MAX_COPIES)
        .fetch_all(&self.db)
        .await
        .and_then(|rows| rows.iter().map(from_row).collect::<Result<Vec<_>, _>>());
        let pending = match pending {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the checkpoints to copy");
                return;
            }
        };
        for checkpoint in pending {
            if let Err(e) = self.copy(bucket, &checkpoint).await {
                tracing::warn!(
                    error = %e,
                    audit_id = checkpoint.audit_id,
                    "could not copy an audit checkpoint to its bucket; will retry"
                );
                return;
            }
        }
    }

    async fn copy(&self, bucket: &str, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let body = serde_json::to_vec_pretty(checkpoint)
            .map_err(|e| ApiError::internal("encoding a checkpoint", &e))?;
        let retain_until = self
            .settings
            .retain_days
            .map(|days| checkpoint.created_ms.div_euclid(1000) + i64::from(days) * 86_400);
        self.aws
            .put_locked_json(bucket, &checkpoint.object_key(), body, retain_until)
            .await?;
        sqlx::query("UPDATE audit_checkpoints SET copied = 1 WHERE audit_id = $1")
            .bind(checkpoint.audit_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }
}

/// Longest copy [`copies`] reads: a checkpoint is a few hundred bytes of JSON.
const MAX_COPY_LEN: u64 = 16 * 1024;

/// Why the checkpoints' copies could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CopiesError {
    /// S3 refused or could not be reached.
    #[error("reading the checkpoints' copies: {0}")]
    S3(String),
    /// An object under the prefix is not a checkpoint.
    #[error("{key} in the checkpoint bucket is not a checkpoint: {why}")]
    NotACheckpoint {
        /// Its key.
        key: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Every checkpoint copied to `bucket` (under [`BUCKET_PREFIX`]), by row.
pub async fn copies(aws: &Aws, bucket: &str) -> Result<Vec<Checkpoint>, CopiesError> {
    let s3 = |e: ApiError| CopiesError::S3(e.message);
    let mut out = Vec::new();
    let mut next = None;
    loop {
        let (keys, more) = aws
            .list_keys(bucket, BUCKET_PREFIX, next, 1000)
            .await
            .map_err(s3)?;
        for (key, _) in keys {
            let body = aws
                .read_prefix(bucket, &key, MAX_COPY_LEN + 1)
                .await
                .map_err(s3)?;
            let not = |why: String| CopiesError::NotACheckpoint {
                key: key.clone(),
                why,
            };
            if body.len() as u64 > MAX_COPY_LEN {
                return Err(not(format!("longer than {MAX_COPY_LEN} bytes")));
            }
            let checkpoint: Checkpoint =
                serde_json::from_slice(&body).map_err(|e| not(e.to_string()))?;
            if checkpoint.object_key() != key {
                return Err(not(format!("it names row {}", checkpoint.audit_id)));
            }
            out.push(checkpoint);
        }
        match more {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    out.sort_by_key(|c| c.audit_id);
    Ok(out)
}
