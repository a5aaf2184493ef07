//! The records of rotation jobs: a row of `rekey_jobs` and its API form, recording a job (for
//! the CLI and the admin API), reading jobs back, and the keys things are stored under.

use sqlx::FromRow;

use crate::db::now;
use crate::error::{ApiError, ApiResult};

/// One row of `rekey_jobs`.
#[derive(Debug, Clone, FromRow)]
pub struct JobRow {
    /// Its id.
    pub id: String,
    /// The key ARN files move away from.
    pub from_key: String,
    /// The key (id, ARN or alias) they move to.
    pub to_key: String,
    /// Only this account's files and keys, if set.
    pub account_id: Option<String>,
    /// Only this file, if set (an owner's re-key of one file; no metadata or set keys).
    pub object_id: Option<String>,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Most KMS requests per second.
    pub kms_rate: i64,
    /// When it was recorded (Unix seconds).
    pub created_at: i64,
    /// When a replica started it.
    pub started_at: Option<i64>,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// Complete files under the old key when it started.
    pub files_total: i64,
    /// Their bytes.
    pub bytes_total: i64,
    /// Files moved.
    pub files_done: i64,
    /// Their bytes (as they were before).
    pub bytes_done: i64,
    /// Files that could not be moved.
    pub files_failed: i64,
    /// Metadata keys and link set keys moved.
    pub keys_done: i64,
    /// Unfinished uploads under the old key it waits for.
    pub waiting: i64,
    /// The last error, or what it waits for, in words.
    pub message: String,
}

impl JobRow {
    /// As the API shows it, with its account's name.
    pub fn to_api(self, account: Option<String>) -> cipherdrop_api::RekeyJob {
        use crate::objects::to_u64;
        cipherdrop_api::RekeyJob {
            account,
            kms_rate: u32::try_from(self.kms_rate).unwrap_or(0),
            files_total: to_u64(self.files_total),
            bytes_total: to_u64(self.bytes_total),
            files_done: to_u64(self.files_done),
            bytes_done: to_u64(self.bytes_done),
            files_failed: to_u64(self.files_failed),
            keys_done: to_u64(self.keys_done),
            waiting: to_u64(self.waiting),
            object_id: self.object_id,
            id: self.id,
            from_key: self.from_key,
            to_key: self.to_key,
            state: self.state,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            message: self.message,
        }
    }
}

/// The full ARN of a key something is stored under, from its ARN or key id (`from` as an
/// operator types it); `Err` says, in words, which keys are in use when none or several match.
pub async fn stored_key(db: &crate::db::Db, given: &str) -> ApiResult<Result<String, String>> {
    let in_use = keys_in_use(db).await?;
    let matches: Vec<&String> = in_use
        .iter()
        .map(|(arn, _)| arn)
        .filter(|arn| *arn == given || arn.ends_with(&format!(":key/{given}")))
        .collect();
    Ok(match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            let list = in_use
                .iter()
                .map(|(arn, files)| format!("\n  {arn} ({files} files)"))
                .collect::<String>();
            Err(format!(
                "nothing is stored under {given}; the keys in use are:{}",
                if list.is_empty() {
                    " none".to_owned()
                } else {
                    list
                }
            ))
        }
        _ => Err(format!("{given} names several keys; give the full ARN")),
    })
}

/// Records a job for `account` (a user name; `None`: every account) and audits it; it runs on
/// a server replica, which checks the target key with KMS when it starts.
pub async fn create_for(
    db: &crate::db::Db,
    from_key: &str,
    to_key: &str,
    account: Option<&str>,
    kms_rate: u32,
) -> ApiResult<JobRow> {
    let account_id = match account {
        Some(name) => Some(
            crate::accounts::find_user(db, name)
                .await?
                .ok_or_else(|| ApiError::not_found("account"))?
                .0
                .id,
        ),
        None => None,
    };
    let job = create(db, from_key, to_key, account_id.as_deref(), kms_rate).await?;
    let detail = format!(
        "from {from_key} to {to_key}{}, at most {kms_rate} KMS requests per second",
        account.map(|a| format!(" for {a}")).unwrap_or_default()
    );
    crate::audit::AuditLog::new(db.clone())
        .record_system("rekey.created", &job.id, "ok", &detail)
        .await;
    Ok(job)
}

/// Records a job; it runs on a server replica. Checks nothing with KMS (the replica does).
pub async fn create(
    db: &crate::db::Db,
    from_key: &str,
    to_key: &str,
    account_id: Option<&str>,
    kms_rate: u32,
) -> ApiResult<JobRow> {
    if kms_rate == 0 {
        return Err(ApiError::bad_request(
            "the KMS rate must be at least 1 request per second",
        ));
    }
    if to_key.is_empty() || to_key.len() > 2048 {
        return Err(ApiError::bad_request(
            "the target key is 1 to 2048 characters",
        ));
    }
    insert(db, from_key, to_key, account_id, None, kms_rate).await
}

/// Records a job moving one file (`object`, complete, of its owner) to `to_key`, or answers the
/// job already open for it: at most one is (a unique index), so any number of concurrent
/// requests record one job.
pub async fn create_for_object(
    db: &crate::db::Db,
    object: &crate::objects::ObjectRow,
    to_key: &str,
    kms_rate: u32,
) -> ApiResult<(JobRow, bool)> {
    match insert(
        db,
        &object.key_arn,
        to_key,
        Some(&object.owner_id),
        Some(&object.id),
        kms_rate,
    )
    .await
    {
        Ok(job) => Ok((job, true)),
        Err(e) => {
            let open: Option<JobRow> = sqlx::query_as(
                "SELECT * FROM rekey_jobs WHERE object_id = $1 AND state IN ('queued', 'running')",
            )
            .bind(&object.id)
            .fetch_optional(db)
            .await?;
            open.map(|j| (j, false)).ok_or(e)
        }
    }
}

async fn insert(
    db: &crate::db::Db,
    from_key: &str,
    to_key: &str,
    account_id: Option<&str>,
    object_id: Option<&str>,
    kms_rate: u32,
) -> ApiResult<JobRow> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    sqlx::query(
        "INSERT INTO rekey_jobs
            (id, from_key, to_key, account_id, object_id, state, kms_rate, created_at)
         VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7)",
    )
    .bind(&id)
    .bind(from_key)
    .bind(to_key)
    .bind(account_id)
    .bind(object_id)
    .bind(i64::from(kms_rate))
    .bind(now())
    .execute(db)
    .await?;
    job(db, &id)
        .await?
        .ok_or_else(|| ApiError::internal("recording a job", &"it was not there after"))
}

/// A job by id.
pub async fn job(db: &crate::db::Db, id: &str) -> ApiResult<Option<JobRow>> {
    Ok(sqlx::query_as("SELECT * FROM rekey_jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// Every job, newest first.
pub async fn jobs(db: &crate::db::Db) -> ApiResult<Vec<JobRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM rekey_jobs ORDER BY created_at DESC, id DESC LIMIT 100")
            .fetch_all(db)
            .await?,
    )
}

/// The key ARNs files, metadata keys and link set keys are under, with how many files each
/// wraps.
pub async fn keys_in_use(db: &crate::db::Db) -> ApiResult<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT k, SUM(n) FROM (
            SELECT key_arn AS k, 1 AS n FROM objects WHERE state IN ('complete', 'pending')
            UNION ALL SELECT key_arn AS k, 0 AS n FROM metadata_keys
            UNION ALL SELECT set_key_arn AS k, 0 AS n FROM shares WHERE set_key_arn IS NOT NULL
         ) GROUP BY k ORDER BY k",
    )
    .fetch_all(db)
    .await?)
}
