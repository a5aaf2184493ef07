//! Background upkeep: aborts uploads abandoned for longer than the configured time (S3 would
//! otherwise keep, and bill for, their parts), purges expired sessions and login links, and
//! deletes files whose "delete after the last download" link has been used up and the objects
//! files moved away from in a key rotation, and writes one
//! audit row per rate-limited account, link or address for the attempts refused meanwhile.

use std::sync::Arc;

use crate::audit::Event;
use crate::db::now;
use crate::error::ApiError;
use crate::objects;
use crate::state::AppState;

/// Runs forever, once per sweep interval.
pub async fn run(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(state.config.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let outcome = match sweep(&state).await {
            Ok(_) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, "sweep failed; will retry");
                "error"
            }
        };
        crate::metrics::metrics()
            .sweeper_runs
            .get_or_create(&crate::metrics::OutcomeLabels { outcome })
            .inc();
    }
}

/// The cluster-wide lock that lets one replica sweep at a time ("cipherdrop sweeper" as a number).
const SWEEPER_LOCK: i64 = 0x6369_7068_7377_6570;

/// One pass, unless another replica is sweeping now; returns how many uploads it aborted.
///
/// Each step is whole on its own (S3 first, then the row; a step redone finds S3 already done),
/// so a replica killed mid-sweep leaves work for the next sweep, never half an object.
pub async fn sweep(state: &AppState) -> Result<usize, ApiError> {
    let Some(lock) = state.db.try_lock(SWEEPER_LOCK).await? else {
        tracing::debug!("another replica is sweeping");
        return Ok(0);
    };
    let swept = sweep_locked(state).await;
    lock.release().await;
    swept
}

async fn sweep_locked(state: &AppState) -> Result<usize, ApiError> {
    summarise_refusals(state).await;
    crate::accounts::purge_expired(&state.db).await?;
    let cutoff = now() - i64::try_from(state.config.abandon_after.as_secs()).unwrap_or(i64::MAX);
    let rows = objects::abandoned(&state.db, cutoff, 500).await?;
    let mut aborted = 0;
    for row in rows {
        let id = row.id.clone();
        let result = objects::abort_pending(state, &row).await;
        let swept = matches!(result, Ok(true));
        let done = match result {
            Ok(true) => Ok("abandoned upload swept"),
            Ok(false) => Ok("completed meanwhile; left alone"),
            Err(e) => Err(e),
        };
        record_system(state, "upload.aborted", &id, &done).await;
        if swept {
            aborted += 1;
        }
    }
    if aborted > 0 {
        tracing::info!(aborted, "aborted abandoned uploads");
    }
    delete_spent(state).await?;
    delete_retired(state).await?;
    delete_orphans(state).await?;
    Ok(aborted)
}

/// Deletes the files whose "delete after the last download" link gave out its last key.
async fn delete_spent(state: &AppState) -> Result<(), ApiError> {
    for row in objects::due_for_deletion(&state.db, 500).await? {
        let id = row.id;
        let result = state
            .aws
            .delete_object(&state.config.bucket, &row.s3_key)
            .await;
        if result.is_ok() {
            objects::delete_row(&state.db, &id).await?;
        }
        let done = result.map(|()| "deleted after its link's last download");
        record_system(state, "object.deleted", &id, &done).await;
    }
    Ok(())
}

/// Deletes the objects files have moved away from (a key rotation) once the download URLs
/// issued for them have expired.
async fn delete_retired(state: &AppState) -> Result<(), ApiError> {
    let due: Vec<(String, String)> = sqlx::query_as(
        "SELECT s3_key, object_id FROM retired_objects WHERE delete_after <= $1 LIMIT 500",
    )
    .bind(now())
    .fetch_all(&state.db)
    .await?;
    for (key, id) in due {
        let result = state.aws.delete_object(&state.config.bucket, &key).await;
        if result.is_ok() {
            sqlx::query("DELETE FROM retired_objects WHERE s3_key = $1")
                .bind(&key)
                .execute(&state.db)
                .await?;
        }
        let done = result.map(|()| "the object it moved away from (a key rotation)");
        record_system(state, "object.deleted", &id, &done).await;
    }
    Ok(())
}

/// One audit row per limited subject or address: how many attempts were refused unchecked since
/// the last sweep (a burst of refusals costs one row, not one each).
async fn summarise_refusals(state: &AppState) {
    for (limiter, action) in [
        (&state.limiter, "login"),
        (&state.share_limiter, "share.key"),
        (&state.release_limiter, "share.key"),
    ] {
        let refusals = match limiter.take_refusals().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the refused attempts");
                Vec::new()
            }
        };
        if let Err(e) = limiter.purge().await {
            tracing::warn!(error = %e, "could not drop expired attempt counters");
        }
        for (key, count) in refusals {
            let plural = if count == 1 { "" } else { "s" };
            let detail = format!("{count} attempt{plural} refused unchecked while rate-limited");
            let (actor, object, ip) = match key.split_once(':') {
                Some(("s", subject)) if action == "login" => (subject, None, None),
                Some(("s", share)) => ("anonymous", Some(share), None),
                Some((_, addr)) => ("anonymous", None, Some(addr)),
                None => ("anonymous", None, None),
            };
            state
                .audit
                .record(&Event {
                    actor,
                    action,
                    object,
                    ip,
                    outcome: "denied",
                    detail: &detail,
                })
                .await;
        }
    }
}

/// Most stored keys looked at per sweep.
const ORPHAN_SCAN: i32 = 1000;

/// Deletes stored objects that no complete row lists (a completion that lost a race with an
/// abort and then failed to clean up, a crash between S3 and the database), once they are older
/// than `abandon_after`, so an upload completing right now is never touched. One page of keys
/// per sweep, resuming where the last one stopped.
async fn delete_orphans(state: &AppState) -> Result<(), ApiError> {
    let cutoff = now() - i64::try_from(state.config.abandon_after.as_secs()).unwrap_or(i64::MAX);
    let resume = state
        .orphan_scan
        .lock()
        .map(|mut t| t.take())
        .unwrap_or_default();
    let (keys, next) = state
        .aws
        .list_keys(&state.config.bucket, "objects/", resume, ORPHAN_SCAN)
        .await?;
    if let Ok(mut t) = state.orphan_scan.lock() {
        *t = next;
    }
    for (key, modified) in keys {
        // `objects/ID`, or `objects/ID.SUFFIX` once a key rotation has moved the file.
        let Some(id) = key
            .strip_prefix("objects/")
            .map(|rest| rest.split_once('.').map_or(rest, |(id, _)| id))
        else {
            continue;
        };
        if modified > cutoff || objects::key_in_use(&state.db, &key).await? {
            continue;
        }
        let done = state
            .aws
            .delete_object(&state.config.bucket, &key)
            .await
            .map(|()| "stored object that no complete upload lists");
        record_system(state, "object.deleted", id, &done).await;
    }
    Ok(())
}

/// Audits what the sweeper did to `object`: the detail on success, the error's words on failure.
async fn record_system(
    state: &AppState,
    action: &str,
    object: &str,
    done: &Result<&str, ApiError>,
) {
    let (outcome, detail) = match done {
        Ok(detail) => ("ok", *detail),
        Err(e) => ("error", e.message.as_str()),
    };
    state
        .audit
        .record_system(action, object, outcome, detail)
        .await;
}
