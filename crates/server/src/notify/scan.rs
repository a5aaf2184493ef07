//! Events nobody's request causes: links and file requests that expire within a day (found by
//! a scan once a minute), and an account that has used most of a storage limit (looked at after
//! each completed upload). Each is recorded once: the statement that claims it (a flag set, a
//! time moved on) is the one that finds it, so replicas scanning at once never record it twice.

use cipherdrop_api::{
    EVENT_LINK_EXPIRING, EVENT_QUOTA_NEAR, EVENT_REQUEST_EXPIRING, QUOTA_NEAR_PERCENT,
};

use crate::db::now;
use crate::error::ApiResult;
use crate::state::AppState;

/// "Within a day".
const DAY: i64 = 24 * 3600;

/// Records the expiry events that are due; returns how many.
pub async fn expiring(state: &AppState) -> ApiResult<usize> {
    let t = now();
    // Only what lives longer than a day is announced (a link made for an hour is not news),
    // and only what can still be used.
    let links: Vec<(String, String, String, i64)> = sqlx::query_as(
        "UPDATE shares SET expiry_notified = 1
         WHERE expiry_notified = 0 AND revoked_at IS NULL AND expires_at > $1
           AND expires_at <= $2 AND expires_at - created_at > $3
           AND (max_downloads IS NULL OR downloads < max_downloads)
         RETURNING id, owner_id, object_id, expires_at",
    )
    .bind(t)
    .bind(t + DAY)
    .bind(DAY)
    .fetch_all(&state.db)
    .await?;
    let requests: Vec<(String, String, i64)> = sqlx::query_as(
        "UPDATE requests SET expiry_notified = 1
         WHERE expiry_notified = 0 AND closed_at IS NULL AND expires_at > $1
           AND expires_at <= $2 AND expires_at - created_at > $3
         RETURNING id, owner_id, expires_at",
    )
    .bind(t)
    .bind(t + DAY)
    .bind(DAY)
    .fetch_all(&state.db)
    .await?;
    for (id, owner, file, expires_at) in &links {
        let payload = serde_json::json!({ "link": id, "file": file, "expires_at": expires_at });
        super::enqueue(state, owner, EVENT_LINK_EXPIRING, payload).await;
    }
    for (id, owner, expires_at) in &requests {
        let payload = serde_json::json!({ "request": id, "expires_at": expires_at });
        super::enqueue(state, owner, EVENT_REQUEST_EXPIRING, payload).await;
    }
    Ok(links.len() + requests.len())
}

/// After an upload of `owner_id` completed: if the account now stores at least
/// [`QUOTA_NEAR_PERCENT`] of its limit, records `quota.near`, at most once a day. Never fails
/// the upload: errors are logged.
pub async fn quota_after_upload(state: &AppState, owner_id: &str) {
    let result = async {
        let quota = crate::quotas::of(&state.db, state.config.quota, owner_id).await?;
        let usage = crate::quotas::usage(&state.db, quota, owner_id).await?;
        let limit = usage.stored_bytes_limit;
        if u128::from(usage.stored_bytes) * 100 < u128::from(limit) * u128::from(QUOTA_NEAR_PERCENT)
        {
            return Ok(());
        }
        let t = now();
        let claimed = sqlx::query(
            "UPDATE users SET quota_notified_at = $1
             WHERE id = $2 AND (quota_notified_at IS NULL OR quota_notified_at <= $3)",
        )
        .bind(t)
        .bind(owner_id)
        .bind(t - DAY)
        .execute(&state.db)
        .await?;
        if claimed.rows_affected() == 1 {
            let payload = serde_json::json!({
                "stored_bytes": usage.stored_bytes, "limit_bytes": limit,
                "percent": u128::from(usage.stored_bytes) * 100 / u128::from(limit.max(1)),
            });
            super::enqueue(state, owner_id, EVENT_QUOTA_NEAR, payload).await;
        }
        Ok::<_, crate::error::ApiError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e.message, "could not look at an account's storage");
    }
}
