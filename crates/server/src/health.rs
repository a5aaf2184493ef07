//! Liveness and readiness, for load balancers and orchestrators: the process is up (`/healthz`),
//! and it can serve (`/readyz`: the database, KMS and S3 each answered within a deadline, and
//! the replica is not draining). A check runs at most once per [`CHECK_EVERY`], however many
//! callers ask at once (one check, its answer shared): a flood of `/readyz` costs KMS and S3 no
//! more than one call each per second. Answers name which dependency failed, never the
//! service's own words.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::aws::Aws;
use crate::db::Db;

/// How long a readiness check's answer is reused.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long each dependency has to answer.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// A dependency's state in an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// It answered in time.
    Ok,
    /// It answered with an error.
    Failing,
    /// It did not answer within the deadline.
    Timeout,
}

/// The answer of `/readyz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// `ready`, `not_ready` or `draining`.
    pub status: &'static str,
    /// The database.
    pub database: Check,
    /// KMS (`DescribeKey` of the server's key).
    pub kms: Check,
    /// S3 (`HeadBucket` of the server's bucket).
    pub s3: Check,
}

impl Readiness {
    /// Whether a load balancer should send requests here.
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

/// A replica's readiness state: whether it drains, and the last check.
#[derive(Default)]
pub struct Health {
    draining: AtomicBool,
    last: tokio::sync::Mutex<Option<(Instant, Readiness)>>,
}

impl Health {
    /// From now on readiness fails: the replica is stopping (SIGTERM).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the replica is draining.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// The readiness now: the last check if it is recent, else a new one (callers arriving
    /// meanwhile wait for it and share it).
    pub async fn readiness(&self, db: &Db, aws: &Aws, kms_key: &str, bucket: &str) -> Readiness {
        let mut last = self.last.lock().await;
        let fresh = match &*last {
            Some((at, r)) if at.elapsed() < CHECK_EVERY => r.clone(),
            _ => {
                let r = check(db, aws, kms_key, bucket).await;
                *last = Some((Instant::now(), r.clone()));
                r
            }
        };
        drop(last);
        if self.draining() {
            Readiness {
                status: "draining",
                ..fresh
            }
        } else {
            fresh
        }
    }
}

/// One check of every dependency, side by side, each within [`DEADLINE`].
async fn check(db: &Db, aws: &Aws, kms_key: &str, bucket: &str) -> Readiness {
    let database = within(async {
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(db.pool())
            .await
            .map(drop)
    });
    let kms = within(async {
        aws.kms
            .describe_key()
            .key_id(kms_key)
            .send()
            .await
            .map(drop)
    });
    let s3 = within(async { aws.s3.head_bucket().bucket(bucket).send().await.map(drop) });
    let (database, kms, s3) = tokio::join!(database, kms, s3);
    let ready = [database, kms, s3].iter().all(|c| *c == Check::Ok);
    Readiness {
        status: if ready { "ready" } else { "not_ready" },
        database,
        kms,
        s3,
    }
}

async fn within<E: std::fmt::Display>(
    f: impl std::future::Future<Output = Result<(), E>>,
) -> Check {
    match tokio::time::timeout(DEADLINE, f).await {
        Ok(Ok(())) => Check::Ok,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            Check::Failing
        }
        Err(_) => Check::Timeout,
    }
}
