//! Background upkeep: aborts uploads abandoned for longer than the configured time (S3 would
//! otherwise keep, and bill for, their parts), purges expired sessions and login links, and
//! deletes files whose "delete after the last download" link has been used up.

use std::sync::Arc;

use sqlx::Row as _;

use crate::AppState;
use crate::audit::Event;
use crate::db::now;

/// Runs forever, once per sweep interval.
pub async fn run(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(state.config.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sweep(&state).await {
            tracing::warn!(error = %e, "sweep failed; will retry");
        }
    }
}

/// One pass; returns how many uploads it aborted.
pub async fn sweep(state: &AppState) -> Result<usize, sqlx::Error> {
    crate::accounts::purge_expired(&state.db).await?;
    let cutoff = now() - i64::try_from(state.config.abandon_after.as_secs()).unwrap_or(i64::MAX);
    let rows = sqlx::query(
        "SELECT id, s3_key, s3_upload_id FROM objects WHERE state = 'pending' AND created_at <= ? LIMIT 500",
    )
    .bind(cutoff)
    .fetch_all(&state.db)
    .await?;
    let mut aborted = 0;
    for row in rows {
        let id: String = row.try_get("id")?;
        let key: String = row.try_get("s3_key")?;
        let upload: String = row.try_get("s3_upload_id")?;
        let result = crate::uploads::abort_row(state, &id, &key, &upload).await;
        let (outcome, detail) = match &result {
            Ok(()) => ("ok", "abandoned upload swept".to_owned()),
            Err(e) => ("error", e.message.clone()),
        };
        state
            .audit
            .record(&Event {
                actor: "system",
                action: "upload.aborted",
                object: Some(&id),
                outcome,
                detail: &detail,
                ..Default::default()
            })
            .await;
        if result.is_ok() {
            aborted += 1;
        }
    }
    if aborted > 0 {
        tracing::info!(aborted, "aborted abandoned uploads");
    }
    delete_spent(state).await?;
    Ok(aborted)
}

/// Deletes the files whose "delete after the last download" link gave out its last key.
async fn delete_spent(state: &AppState) -> Result<(), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, s3_key FROM objects WHERE state = 'complete' AND delete_at IS NOT NULL AND delete_at <= ? LIMIT 500",
    )
    .bind(now())
    .fetch_all(&state.db)
    .await?;
    for row in rows {
        let id: String = row.try_get("id")?;
        let key: String = row.try_get("s3_key")?;
        let result = state.aws.delete_object(&state.config.bucket, &key).await;
        if result.is_ok() {
            sqlx::query("DELETE FROM objects WHERE id = ?")
                .bind(&id)
                .execute(&state.db)
                .await?;
        }
        let (outcome, detail) = match &result {
            Ok(()) => ("ok", "deleted after its link's last download".to_owned()),
            Err(e) => ("error", e.message.clone()),
        };
        state
            .audit
            .record(&Event {
                actor: "system",
                action: "object.deleted",
                object: Some(&id),
                outcome,
                detail: &detail,
                ..Default::default()
            })
            .await;
    }
    Ok(())
}
