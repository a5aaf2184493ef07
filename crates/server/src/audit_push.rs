//! Pushes the audit log out of the database in batches, so that a system the database's writer
//! cannot touch holds a copy: to a bucket (`{prefix}{first:020}-{last:020}.jsonl`; on AWS one
//! with Object Lock) or to a webhook (a `POST` of the batch, signed per Standard Webhooks).
//!
//! Each batch is an export ([`crate::audit::export_batch`]) of the rows after the last one the target
//! has, anchored to that row's hash, so a receiver checks every batch, and all of them as one
//! chain, without the database (`cipherdrop audit verify --export`; a webhook's JSON body holds
//! the export's lines in `data.lines`). Delivery is at least once:
//! where a target stands (`audit_push`) moves only after it accepted a batch, so a batch whose
//! answer was lost comes again, with the same rows, bucket key and `webhook-id`. One replica
//! pushes at a time (a cluster lock); a refusal is logged and tried again at the next tick.

use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::aws::Aws;
use crate::db::{Db, now_ms};
use crate::webhook;

/// Where batches go.
#[derive(Clone, Debug)]
pub enum Target {
    /// Objects in a bucket, under a prefix.
    Bucket {
        /// The bucket.
        bucket: String,
        /// Key prefix (for example `audit-log/`).
        prefix: String,
    },
    /// `POST`s to a URL, signed with a secret the receiver shares.
    Webhook {
        /// The receiver.
        url: String,
        /// The signing secret.
        secret: webhook::Secret,
    },
}

impl Target {
    /// The target's name in `audit_push`: a digest (a URL may hold a token of its own).
    fn id(&self) -> String {
        let text = match self {
            Self::Bucket { bucket, prefix } => format!("s3\0{bucket}\0{prefix}"),
            Self::Webhook { url, .. } => format!("webhook\0{url}"),
        };
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// For logs: the bucket and prefix, or the webhook's host (never its path or query).
    fn describe(&self) -> String {
        match self {
            Self::Bucket { bucket, prefix } => format!("bucket {bucket}/{prefix}"),
            Self::Webhook { url, .. } => format!(
                "webhook at {}",
                url::Url::parse(url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_else(|| "an unparsable URL".to_owned())
            ),
        }
    }
}

/// How the audit log is pushed.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where.
    pub target: Target,
    /// Most rows in one batch.
    pub batch_rows: u64,
    /// How often to look for new rows.
    pub every: Duration,
}

impl Settings {
    /// Batches of up to 1000 rows, every minute.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            batch_rows: 1000,
            every: Duration::from_secs(60),
        }
    }
}

/// Why a push stopped.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The database refused or failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The batch could not be made.
    #[error(transparent)]
    Export(#[from] crate::audit::ExportError),
    /// The target did not take it.
    #[error("{target} did not take rows {first}-{last}: {why}")]
    Delivery {
        /// [`Target::describe`].
        target: String,
        /// First row of the batch.
        first: i64,
        /// Last row of the batch.
        last: i64,
        /// What happened.
        why: String,
    },
}

/// The cluster-wide lock of pushers ("cdaudpsh").
const PUSH_LOCK: i64 = 0x6364_6175_6470_7368;

/// Runs forever, pushing once per [`Settings::every`] from one period after the start.
pub async fn run(db: Db, aws: Aws, settings: Settings) {
    let mut tick = tokio::time::interval(settings.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // (the first tick is now: the first push waits one period)
    loop {
        tick.tick().await;
        match push_now(&db, &aws, &settings).await {
            Ok(0) => {}
            Ok(rows) => {
                tracing::info!(rows, target = %settings.target.describe(), "audit rows pushed")
            }
            Err(e) => tracing::warn!(error = %e, "audit push failed; will retry"),
        }
    }
}

/// Pushes every batch due now, unless another replica is pushing; returns the rows pushed.
pub async fn push_now(db: &Db, aws: &Aws, settings: &Settings) -> Result<u64, PushError> {
    static IN_PROCESS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_here = IN_PROCESS.lock().await;
    let Some(lock) = db.try_lock(PUSH_LOCK).await? else {
        return Ok(0);
    };
    let pushed = push_locked(db, aws, settings).await;
    lock.release().await;
    pushed
}

async fn push_locked(db: &Db, aws: &Aws, settings: &Settings) -> Result<u64, PushError> {
    let target = settings.target.id();
    let mut total = 0;
    loop {
        let after: Option<i64> =
            sqlx::query_scalar("SELECT last_row FROM audit_push WHERE target = $1")
                .bind(&target)
                .fetch_optional(db)
                .await?;
        let mut body = Vec::new();
        let done = crate::audit::export_batch(
            db,
            &mut body,
            None,
            after,
            Some(settings.batch_rows.max(1)),
        )
        .await?;
        let Some(last) = done.last else { break };
        let first = after.unwrap_or(0) + 1;
        deliver(aws, &settings.target, first, last.id, body).await?;
        // Only forward: a slower pusher that delivered an older batch again never moves it back.
        sqlx::query(
            "INSERT INTO audit_push (target, last_row, last_hash, pushed_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (target) DO UPDATE SET last_row = excluded.last_row,
                 last_hash = excluded.last_hash, pushed_ms = excluded.pushed_ms
             WHERE audit_push.last_row < excluded.last_row",
        )
        .bind(&target)
        .bind(last.id)
        .bind(&last.hash)
        .bind(now_ms())
        .execute(db)
        .await?;
        total += done.rows;
        if done.rows < settings.batch_rows {
            break;
        }
    }
    Ok(total)
}

async fn deliver(
    aws: &Aws,
    target: &Target,
    first: i64,
    last: i64,
    body: Vec<u8>,
) -> Result<(), PushError> {
    let failed = |why: String| PushError::Delivery {
        target: target.describe(),
        first,
        last,
        why,
    };
    match target {
        Target::Bucket { bucket, prefix } => aws
            .put_bytes(
                bucket,
                &format!("{prefix}{first:020}-{last:020}.jsonl"),
                body,
            )
            .await
            .map_err(|e| failed(e.message)),
        Target::Webhook { url, secret } => {
            let id = format!("audit-{first}-{last}");
            let now = now_ms();
            let timestamp = now / 1000;
            let body = webhook_body(first, last, &body, now).map_err(|e| failed(e.to_string()))?;
            let signature = secret.sign(&id, timestamp, &body);
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| failed(e.to_string()))?;
            let answer = client
                .post(url)
                .header("content-type", "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await
                .map_err(|e| failed(format!("no answer ({})", e.without_url())))?;
            if answer.status().is_success() {
                Ok(())
            } else {
                Err(failed(format!("answered {}", answer.status())))
            }
        }
    }
}

/// A webhook's JSON body, as Standard Webhooks shapes one: `{"type": "audit.batch",
/// "timestamp", "data": {"first", "last", "lines": [...]}}`, `lines` being the export's lines
/// (written one per line, they are the export `cipherdrop audit verify --export` checks).
fn webhook_body(
    first: i64,
    last: i64,
    export: &[u8],
    now_ms: i64,
) -> Result<Vec<u8>, serde_json::Error> {
    let lines = export
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(serde_json::from_slice::<serde_json::Value>)
        .collect::<Result<Vec<_>, _>>()?;
    serde_json::to_vec(&serde_json::json!({
        "type": "audit.batch",
        "timestamp": crate::anchor::utc(now_ms).replacen(' ', "T", 1).replace(" UTC", "Z"),
        "data": {"first": first, "last": last, "lines": lines},
    }))
}
