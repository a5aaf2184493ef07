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
//! the last one ([`run`]), one replica at a time (an advisory lock, and the table's primary key on
//! `audit_id` for writers that still meet). A KMS failure is logged and tried again later; appends
//! never wait for a checkpoint. Each checkpoint is optionally copied to a bucket as
//! `audit-checkpoints/{audit_id:020}.json`, with S3 Object Lock in COMPLIANCE mode for
//! `retain_days` (on AWS the bucket must have Object Lock enabled), where the database's writer
//! cannot delete it either.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
use p384::ecdsa::{DerSignature, VerifyingKey};
use sha2::{Digest as _, Sha384};
use sqlx::Row as _;

use crate::aws::Aws;
use crate::db::{Db, now_ms};
use crate::error::ApiError;
use crate::state::AppState;

/// The first line of every signed message.
pub const DOMAIN: &str = "cipherdrop/audit-checkpoint/v1";
/// The KMS signing algorithm of every checkpoint.
pub const ALGORITHM: &str = "ECDSA_SHA_384";
/// Where the bucket copies go.
pub const BUCKET_PREFIX: &str = "audit-checkpoints/";

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

/// One signed checkpoint: the chain's row `audit_id` had `hash`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// The last audit row covered.
    pub audit_id: i64,
    /// That row's hash (lowercase hex SHA-256): the chain's head then.
    pub hash: String,
    /// When it was made (Unix milliseconds).
    pub created_ms: i64,
    /// The key that signed, as KMS named it (informational: a verifier uses the key it trusts).
    pub key_arn: String,
    /// Always [`ALGORITHM`].
    pub algorithm: String,
    /// The DER signature of [`message`], base64 in JSON.
    #[serde(with = "base64_bytes")]
    pub signature: Vec<u8>,
}

mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        B64.decode(text).map_err(serde::de::Error::custom)
    }
}

/// The signed message of a checkpoint (see the module's documentation).
pub fn message(audit_id: i64, hash: &str, created_ms: i64) -> Vec<u8> {
    format!("{DOMAIN}\n{audit_id}\n{hash}\n{created_ms}\n").into_bytes()
}

impl Checkpoint {
    /// Its signed message.
    pub fn message(&self) -> Vec<u8> {
        message(self.audit_id, &self.hash, self.created_ms)
    }

    /// How reports name it: "the checkpoint of row 1000 (made 2025-01-02 03:04:05 UTC)".
    pub fn describe(&self) -> String {
        format!(
            "the checkpoint of row {} (made {})",
            self.audit_id,
            utc(self.created_ms)
        )
    }

    /// The key of its copy in the checkpoint bucket.
    pub fn object_key(&self) -> String {
        format!("{BUCKET_PREFIX}{:020}.json", self.audit_id)
    }
}

/// `ms` (Unix milliseconds) as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Why a public key was not read.
#[derive(Debug, thiserror::Error)]
#[error(
    "not a P-384 public key ({0}): expected PEM \"PUBLIC KEY\" or DER SubjectPublicKeyInfo, as KMS GetPublicKey gives it"
)]
pub struct KeyError(&'static str);

/// The public half of the signing key: all a verifier needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    der: Vec<u8>,
}

/// The DER of the AlgorithmIdentifier `{id-ecPublicKey, secp384r1}` inside the SubjectPublicKeyInfo.
const P384_ALGORITHM: [u8; 18] = [
    0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
    0x00, 0x22,
];

impl PublicKey {
    /// From DER SubjectPublicKeyInfo (what KMS `GetPublicKey` answers).
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        // SEQUENCE { AlgorithmIdentifier, BIT STRING { 0 unused bits, SEC1 point } }: every length
        // fits one byte for P-384, compressed or not.
        let rest = match der {
            [0x30, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => rest,
            _ => return Err(KeyError("not a DER SEQUENCE")),
        };
        let rest = rest
            .strip_prefix(&P384_ALGORITHM[..])
            .ok_or(KeyError("not an EC key on P-384"))?;
        let point = match rest {
            [0x03, len, 0x00, point @ ..] if usize::from(*len) == point.len() + 1 => point,
            _ => return Err(KeyError("no public point")),
        };
        let key =
            VerifyingKey::from_sec1_bytes(point).map_err(|_| KeyError("not a curve point"))?;
        Ok(Self {
            key,
            der: der.to_vec(),
        })
    }

    /// From PEM (`-----BEGIN PUBLIC KEY-----`) or DER.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, KeyError> {
        let Some(text) = std::str::from_utf8(bytes)
            .ok()
            .filter(|t| t.contains("-----BEGIN PUBLIC KEY-----"))
        else {
            return Self::from_der(bytes);
        };
        let body: String = text
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN PUBLIC KEY-----"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END PUBLIC KEY-----"))
            .flat_map(|l| l.trim().chars())
            .collect();
        let der = B64
            .decode(body)
            .map_err(|_| KeyError("the PEM is not base64"))?;
        Self::from_der(&der)
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// As PEM, 64 characters a line.
    pub fn to_pem(&self) -> String {
        let b64 = B64.encode(&self.der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// Whether this key signed `checkpoint` (its message, ECDSA with SHA-384, DER).
    pub fn signed(&self, checkpoint: &Checkpoint) -> bool {
        if checkpoint.algorithm != ALGORITHM {
            return false;
        }
        let Ok(sig) = DerSignature::from_bytes(&checkpoint.signature) else {
            return false;
        };
        let digest = Sha384::digest(checkpoint.message());
        self.key.verify_prehash(&digest, &sig).is_ok()
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

/// Every checkpoint, oldest first.
pub async fn list(db: &Db) -> Result<Vec<Checkpoint>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT audit_id, hash, created_ms, key_arn, algorithm, signature
         FROM audit_checkpoints ORDER BY audit_id",
    )
    .fetch_all(db)
    .await?;
    rows.iter().map(from_row).collect()
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Checkpoint, sqlx::Error> {
    Ok(Checkpoint {
        audit_id: row.try_get("audit_id")?,
        hash: row.try_get("hash")?,
        created_ms: row.try_get("created_ms")?,
        key_arn: row.try_get("key_arn")?,
        algorithm: row.try_get("algorithm")?,
        signature: row.try_get("signature")?,
    })
}

/// The last row a checkpoint covers (0: none).
pub async fn covered(db: &Db) -> Result<i64, sqlx::Error> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(audit_id) FROM audit_checkpoints")
        .fetch_one(db)
        .await?;
    Ok(last.unwrap_or(0))
}

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

/// Writes checkpoints for as long as the server runs: after every `every_rows` rows this process
/// appends (counted from the last checkpoint, whoever wrote it), and every `every` if any row came
/// since. A failure waits until the next period.
pub async fn run(state: Arc<AppState>) {
    let Some(checkpointer) = &state.checkpointer else {
        return;
    };
    let settings = checkpointer.settings();
    let rows = i64::try_from(settings.every_rows.max(1)).unwrap_or(i64::MAX);
    let every = settings.every.max(Duration::from_secs(1));
    let mut appended = state.audit.subscribe();
    let mut covered_to = covered(&state.db).await.unwrap_or(0);
    let mut next = tokio::time::Instant::now() + every;
    let mut failed_until: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            changed = appended.changed() => {
                let head = *appended.borrow_and_update();
                let waiting = failed_until.is_some_and(|t| tokio::time::Instant::now() < t);
                if changed.is_err() {
                    // The log is gone (the server is stopping): the timer alone is left.
                    tokio::time::sleep_until(next).await;
                } else if waiting || head - covered_to < rows {
                    continue;
                }
            }
        }
        match checkpointer.checkpoint_now().await {
            Ok(_) => failed_until = None,
            Err(e) => {
                tracing::warn!(error = %e, "could not write an audit checkpoint; will retry");
                failed_until = Some(tokio::time::Instant::now() + every);
            }
        }
        if let Ok(c) = covered(&state.db).await {
            covered_to = c;
        }
        next = tokio::time::Instant::now() + every;
    }
}

/// A last checkpoint as the server stops (at most 10 seconds: KMS may be the reason it stops).
pub async fn on_shutdown(state: &AppState) {
    let Some(checkpointer) = &state.checkpointer else {
        return;
    };
    match tokio::time::timeout(Duration::from_secs(10), checkpointer.checkpoint_now()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not write the last audit checkpoint"),
        Err(_) => tracing::warn!("the last audit checkpoint took too long; left for next start"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn times_read_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_735_787_045_999), "2025-01-02 03:04:05 UTC");
    }

    #[test]
    fn the_message_is_fixed_and_domain_separated() {
        assert_eq!(
            message(1000, "ab", 5),
            b"cipherdrop/audit-checkpoint/v1\n1000\nab\n5\n".to_vec()
        );
    }

    #[test]
    fn public_keys_read_from_der_and_pem_sign_only_their_checkpoints() {
        use p384::ecdsa::signature::hazmat::PrehashSigner as _;
        let key = p384::ecdsa::SigningKey::from_bytes(&[7u8; 48].into()).unwrap();
        let point = key.verifying_key().to_sec1_point(false);
        let mut der = vec![0x30, 0x76];
        der.extend_from_slice(&P384_ALGORITHM);
        der.extend_from_slice(&[0x03, 0x62, 0x00]);
        der.extend_from_slice(point.as_bytes());
        let public = PublicKey::from_der(&der).unwrap();
        assert_eq!(
            PublicKey::from_pem_or_der(public.to_pem().as_bytes()).unwrap(),
            public
        );
        let mut checkpoint = Checkpoint {
            audit_id: 3,
            hash: "00".repeat(32),
            created_ms: 1,
            key_arn: "arn".into(),
            algorithm: ALGORITHM.into(),
            signature: Vec::new(),
        };
        let sig: DerSignature = key
            .sign_prehash(&Sha384::digest(checkpoint.message()))
            .unwrap();
        checkpoint.signature = sig.as_bytes().to_vec();
        assert!(public.signed(&checkpoint));
        checkpoint.created_ms += 1;
        assert!(!public.signed(&checkpoint));
        for bad in [
            &der[..der.len() - 1],
            &der[1..],
            b"-----BEGIN PUBLIC KEY-----\n!!\n",
        ] {
            assert!(PublicKey::from_pem_or_der(bad).is_err());
        }
    }
}
