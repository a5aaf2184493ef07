//! Key rotation: jobs that move every stored file under one KMS key to another, bodies
//! untouched (see [`moving`]), with the keys that wrap their data keys elsewhere: the account
//! metadata keys and the set keys of links to several files (a link to one file moves with its
//! file).
//!
//! A job is a row of `rekey_jobs`, made by `cipherdrop rekey`. Every replica looks for jobs every
//! [`crate::Config::rekey_interval`]; one at a time runs them (a cluster-wide lock), paced under
//! the job's KMS request rate, and a replica that starts again resumes where the last stopped:
//! what is left is whatever is still under the old key. A job ends `done` when nothing of its
//! scope is under the old key (an upload still open under it is waited for), or `failed`, in
//! words, when the target key cannot be used or files could not be moved (run it again).

mod jobs;
mod layout;
mod moving;
mod pace;

use std::sync::Arc;

pub use jobs::{JobRow, create, create_for, create_for_object, job, jobs, keys_in_use, stored_key};
pub use moving::Step;
use moving::{Halt, Target};
use pace::Pace;

use crate::db::now;
use crate::error::ApiResult;
use crate::objects::{ObjectRow, to_i64};
use crate::shares::ShareRow;
use crate::state::AppState;

/// The cluster-wide lock of the replica running jobs ("ciphreky" as a number).
const REKEY_LOCK: i64 = 0x6369_7068_7265_6b79;

/// Files read per query.
const BATCH: i64 = 50;

/// Runs jobs for as long as the server runs, looking for them every rekey interval.
pub async fn run(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(state.config.rekey_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = pass(&state, None).await {
            tracing::warn!(error = %e, "key rotation pass failed; will retry");
        }
    }
}

/// One pass over the open jobs, unless another replica (or another pass here) runs them now;
/// returns how many files it moved. `stop_at` stops the pass at that step of the first move
/// that reaches it, as a crash there would (tests).
pub async fn pass(state: &AppState, stop_at: Option<Step>) -> ApiResult<usize> {
    let Ok(_gate) = state.rekey_gate.try_lock() else {
        return Ok(0);
    };
    let jobs: Vec<JobRow> = sqlx::query_as(
        "SELECT * FROM rekey_jobs WHERE state IN ('queued', 'running') ORDER BY created_at, id",
    )
    .fetch_all(&state.db)
    .await?;
    if jobs.is_empty() {
        return Ok(0);
    }
    let Some(lock) = state.db.try_lock(REKEY_LOCK).await? else {
        tracing::debug!("another replica runs the key rotation jobs");
        return Ok(0);
    };
    let result = run_jobs(state, jobs, stop_at).await;
    lock.release().await;
    result
}

async fn run_jobs(state: &AppState, jobs: Vec<JobRow>, stop_at: Option<Step>) -> ApiResult<usize> {
    let cleaned = moving::clean_leftovers(state).await?;
    if cleaned > 0 {
        tracing::info!(cleaned, "cleaned up moves a stop interrupted");
    }
    let mut moved = 0;
    for job in jobs {
        let (n, stopped) = run_job(state, &job, stop_at).await?;
        moved += n;
        if stopped {
            break;
        }
    }
    Ok(moved)
}

/// The files of `job`'s scope under its old key, in id order after `after`.
async fn next_files(state: &AppState, job: &JobRow, after: &str) -> ApiResult<Vec<ObjectRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM objects WHERE state = 'complete' AND key_arn = $1
            AND ($2 IS NULL OR owner_id = $2) AND ($3 IS NULL OR id = $3) AND id > $4
         ORDER BY id LIMIT $5",
    )
    .bind(&job.from_key)
    .bind(&job.account_id)
    .bind(&job.object_id)
    .bind(after)
    .bind(BATCH)
    .fetch_all(&state.db)
    .await?)
}

/// What of `job`'s scope is still under its old key: complete files and their bytes, open
/// uploads, metadata keys and set keys.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Remaining {
    /// Complete files.
    pub files: i64,
    /// Their bytes.
    pub bytes: i64,
    /// Unfinished uploads.
    pub pending: i64,
    /// Metadata keys and link set keys.
    pub keys: i64,
}

/// Counts what `from_key` still wraps (for `account_id`, or everyone's; only the file
/// `object_id` if given, whose job moves no metadata or set keys).
pub async fn remaining(
    db: &crate::db::Db,
    from_key: &str,
    account_id: Option<&str>,
    object_id: Option<&str>,
) -> ApiResult<Remaining> {
    let (files, bytes, pending, keys): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT
            (SELECT COUNT(*) FROM objects WHERE state = 'complete' AND key_arn = $1
                AND ($2 IS NULL OR owner_id = $2) AND ($3 IS NULL OR id = $3)),
            (SELECT COALESCE(SUM(COALESCE(stored_size, ciphertext_size)), 0) FROM objects
                WHERE state = 'complete' AND key_arn = $1 AND ($2 IS NULL OR owner_id = $2)
                AND ($3 IS NULL OR id = $3)),
            (SELECT COUNT(*) FROM objects WHERE state = 'pending' AND key_arn = $1
                AND ($2 IS NULL OR owner_id = $2) AND ($3 IS NULL OR id = $3)),
            CASE WHEN $3 IS NULL THEN
                (SELECT COUNT(*) FROM metadata_keys WHERE key_arn = $1
                    AND ($2 IS NULL OR user_id = $2))
                + (SELECT COUNT(*) FROM shares WHERE set_key_arn = $1 AND set_key IS NOT NULL
                    AND ($2 IS NULL OR owner_id = $2))
            ELSE 0 END",
    )
    .bind(from_key)
    .bind(account_id)
    .bind(object_id)
    .fetch_one(db)
    .await?;
    Ok(Remaining {
        files,
        bytes,
        pending,
        keys,
    })
}

/// Ends `job` as failed, in words.
async fn fail(state: &AppState, job: &JobRow, why: &str) -> ApiResult<()> {
    tracing::warn!(job = %job.id, why, "key rotation job failed");
    sqlx::query(
        "UPDATE rekey_jobs SET state = 'failed', finished_at = $1, message = $2 WHERE id = $3",
    )
    .bind(now())
    .bind(why)
    .bind(&job.id)
    .execute(&state.db)
    .await?;
    state
        .audit
        .record_system("rekey.failed", &job.id, "error", why)
        .await;
    Ok(())
}

/// Why `job` must not run, if it must not: new data keys in its scope still come from its old
/// key (the job would never end), or its target is another account's own key (which wraps that
/// account's data only).
async fn conflicts(state: &AppState, job: &JobRow, to_arn: &str) -> ApiResult<Option<String>> {
    let own: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, username, kms_key_id FROM users WHERE kms_key_id IS NOT NULL ORDER BY username",
    )
    .fetch_all(&state.db)
    .await?;
    let mut issuing = Vec::new();
    match (&job.object_id, &job.account_id) {
        // One file's job ends once that file moved, whatever new uploads use.
        (Some(_), _) => {}
        (None, Some(account)) => issuing.push(state.issuing_key(account).await?),
        (None, None) => {
            issuing.push(state.config.kms_key_id.clone());
            issuing.extend(own.iter().map(|(_, _, key)| key.clone()));
        }
    }
    for key in issuing {
        if state.aws.usable_key(&key).await?.as_deref() == Ok(job.from_key.as_str()) {
            return Ok(Some(format!(
                "new uploads still get their data keys under {} (as {key}): start the servers \
                 with --kms-key-id {to_arn}, or give the account its new key, first; then run \
                 the rotation again",
                job.from_key
            )));
        }
    }
    for (id, name, key) in &own {
        if job.account_id.as_deref() != Some(id.as_str())
            && state.aws.usable_key(key).await?.as_deref() == Ok(to_arn)
        {
            return Ok(Some(format!(
                "{to_arn} is the account {name}'s own key: it wraps that account's data only"
            )));
        }
    }
    Ok(None)
}

/// Runs `job` as far as it goes now: (files moved, whether a test stop ended it).
async fn run_job(
    state: &AppState,
    job: &JobRow,
    stop_at: Option<Step>,
) -> ApiResult<(usize, bool)> {
    let to_arn = match state.aws.usable_key(&job.to_key).await? {
        Ok(arn) => arn,
        Err(why) => {
            fail(state, job, &format!("the target key cannot be used: {why}")).await?;
            return Ok((0, false));
        }
    };
    if to_arn == job.from_key {
        fail(
            state,
            job,
            "the target key is the key the files are under already",
        )
        .await?;
        return Ok((0, false));
    }
    if let Some(why) = conflicts(state, job, &to_arn).await? {
        fail(state, job, &why).await?;
        return Ok((0, false));
    }
    if job.state == "queued" {
        let r = remaining(
            &state.db,
            &job.from_key,
            job.account_id.as_deref(),
            job.object_id.as_deref(),
        )
        .await?;
        sqlx::query(
            "UPDATE rekey_jobs SET state = 'running', started_at = $1, files_total = $2,
                bytes_total = $3 WHERE id = $4 AND state = 'queued'",
        )
        .bind(now())
        .bind(r.files)
        .bind(r.bytes)
        .bind(&job.id)
        .execute(&state.db)
        .await?;
        let detail = format!(
            "{} files ({} bytes) from {} to {to_arn}{}",
            r.files,
            r.bytes,
            job.from_key,
            job.account_id
                .as_deref()
                .map(|a| format!(" (account {a})"))
                .unwrap_or_default()
        );
        state
            .audit
            .record_system("rekey.started", &job.id, "ok", &detail)
            .await;
    }
    let mut pace = Pace::new(u32::try_from(job.kms_rate).unwrap_or(1));
    let target = Target {
        job_id: &job.id,
        key_arn: &to_arn,
        stop_at,
    };
    let (mut moved, mut failed, mut last_error) = (0, 0, String::new());
    let mut after = String::new();
    loop {
        let files = next_files(state, job, &after).await?;
        if files.is_empty() {
            break;
        }
        for row in files {
            after.clone_from(&row.id);
            match moving::move_object(state, &row, &target, &mut pace).await {
                Ok(m) => {
                    moved += 1;
                    sqlx::query(
                        "UPDATE rekey_jobs SET files_done = files_done + 1,
                            bytes_done = bytes_done + $1 WHERE id = $2",
                    )
                    .bind(to_i64(m.old_size)?)
                    .bind(&job.id)
                    .execute(&state.db)
                    .await?;
                    let detail = format!(
                        "job {}: {} -> {}; {}",
                        job.id,
                        row.key_arn,
                        to_arn,
                        moving::describe(&m)
                    );
                    state
                        .audit
                        .record_system("object.rekeyed", &row.id, "ok", &detail)
                        .await;
                }
                Err(Halt::Stopped(step)) => {
                    tracing::info!(?step, object = %row.id, "key rotation stopped");
                    return Ok((moved, true));
                }
                Err(Halt::Gone) => {}
                Err(Halt::Failed(e)) => {
                    failed += 1;
                    last_error.clone_from(&e.message);
                    sqlx::query(
                        "UPDATE rekey_jobs SET files_failed = files_failed + 1, message = $1
                         WHERE id = $2",
                    )
                    .bind(format!("{}: {}", row.id, e.message))
                    .bind(&job.id)
                    .execute(&state.db)
                    .await?;
                    let detail = format!("job {}: {}", job.id, e.message);
                    state
                        .audit
                        .record_system("object.rekeyed", &row.id, "error", &detail)
                        .await;
                }
            }
        }
    }
    let keys = if job.object_id.is_none() {
        move_keys(state, job, &to_arn, &mut pace).await?
    } else {
        0
    };
    let left = remaining(
        &state.db,
        &job.from_key,
        job.account_id.as_deref(),
        job.object_id.as_deref(),
    )
    .await?;
    if failed > 0 {
        let why = format!(
            "{failed} file{} could not be moved (the last: {last_error}); run the rotation again to retry {}",
            if failed == 1 { "" } else { "s" },
            if failed == 1 { "it" } else { "them" },
        );
        fail(state, job, &why).await?;
    } else if left.files + left.keys + left.pending > 0 {
        let message = if left.pending > 0 {
            format!(
                "waiting for {} unfinished upload{} under the old key: they move once complete \
                 (or are swept when abandoned)",
                left.pending,
                if left.pending == 1 { "" } else { "s" }
            )
        } else {
            "files arrived under the old key meanwhile; moving them next".to_owned()
        };
        sqlx::query("UPDATE rekey_jobs SET waiting = $1, message = $2, keys_done = keys_done + $3 WHERE id = $4")
            .bind(left.pending)
            .bind(message)
            .bind(keys)
            .bind(&job.id)
            .execute(&state.db)
            .await?;
    } else {
        sqlx::query(
            "UPDATE rekey_jobs SET state = 'done', finished_at = $1, waiting = 0, message = '',
                keys_done = keys_done + $2 WHERE id = $3",
        )
        .bind(now())
        .bind(keys)
        .bind(&job.id)
        .execute(&state.db)
        .await?;
        let detail = format!("nothing of its scope is under {} any more", job.from_key);
        state
            .audit
            .record_system("rekey.done", &job.id, "ok", &detail)
            .await;
    }
    Ok((moved, false))
}

/// Moves the metadata keys and link set keys in `job`'s scope to `to_arn` with KMS `ReEncrypt`
/// (their plaintext never leaves KMS); returns how many moved.
async fn move_keys(
    state: &AppState,
    job: &JobRow,
    to_arn: &str,
    pace: &mut Pace,
) -> ApiResult<i64> {
    let mut moved = 0;
    let metadata: Vec<(String, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT user_id, version, edk FROM metadata_keys
         WHERE key_arn = $1 AND ($2 IS NULL OR user_id = $2)",
    )
    .bind(&job.from_key)
    .bind(&job.account_id)
    .fetch_all(&state.db)
    .await?;
    for (user_id, version, edk) in metadata {
        pace.take(1).await;
        let context = crate::metakeys::context(&user_id, version);
        let (arn, fresh) = state
            .aws
            .re_encrypt(&job.from_key, &edk, &context, to_arn)
            .await?;
        let n = sqlx::query(
            "UPDATE metadata_keys SET key_arn = $1, edk = $2
             WHERE user_id = $3 AND version = $4 AND edk = $5",
        )
        .bind(&arn)
        .bind(&fresh)
        .bind(&user_id)
        .bind(version)
        .bind(&edk)
        .execute(&state.db)
        .await?
        .rows_affected();
        moved += i64::try_from(n).unwrap_or(0);
    }
    let sets: Vec<ShareRow> = sqlx::query_as(&format!(
        "SELECT s.*, {} FROM shares s WHERE s.set_key_arn = $1 AND s.set_key IS NOT NULL
            AND ($2 IS NULL OR s.owner_id = $2)",
        crate::shares::FILES
    ))
    .bind(&job.from_key)
    .bind(&job.account_id)
    .fetch_all(&state.db)
    .await?;
    for share in sets {
        let (Some(key), Some(digest)) = (&share.set_key, &share.set_digest) else {
            continue;
        };
        pace.take(1).await;
        let (arn, fresh) = state
            .aws
            .re_encrypt(&job.from_key, key, &share.set_context(digest), to_arn)
            .await?;
        let n = sqlx::query(
            "UPDATE shares SET set_key = $1, set_key_arn = $2 WHERE id = $3 AND set_key = $4",
        )
        .bind(&fresh)
        .bind(&arn)
        .bind(&share.id)
        .bind(key)
        .execute(&state.db)
        .await?
        .rows_affected();
        moved += i64::try_from(n).unwrap_or(0);
    }
    if moved > 0 {
        let detail = format!(
            "job {}: {moved} metadata and link set keys moved to {to_arn}",
            job.id
        );
        state
            .audit
            .record_system("rekey.keys", &job.id, "ok", &detail)
            .await;
    }
    Ok(moved)
}
