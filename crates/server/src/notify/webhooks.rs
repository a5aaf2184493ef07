//! Webhooks: an account's endpoints, their durable outbox, and the delivery worker.
//!
//! An event (a link released its key, a request received a file, a test) becomes one `outbox`
//! row per live endpoint of the owner, in the database, with ids only (never a name, a content or
//! a link's secret). The worker, on one replica at a time (an advisory lock), sends each
//! endpoint's oldest waiting row and nothing after it until that one is delivered or given up, so
//! an endpoint sees its events in order; a 2xx delivers, anything else is retried with backoff
//! (5 s, 15 s, 45 s, … at most an hour apart) until a day after the event. Delivery is at least
//! once, with the same `webhook-id` on every attempt, so a receiver that deduplicates sees each
//! event once. Requests never wait for a receiver: they only insert rows.
//!
//! Each endpoint's signing secret is a KMS data key (context: purpose `webhook`, the owner, the
//! endpoint's id), shown to the owner once as `whsec_…` and kept only as its encrypted copy.
//! Targets must be public addresses (after DNS resolution; the connection goes to the address
//! checked, and redirects are not followed) unless the administrator allows private ones.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use cipherdrop_api::{DeliverySummary, ErrorCode, WEBHOOK_MAX_PER_ACCOUNT, WebhookSummary};
use sqlx::FromRow;
use zeroize::Zeroizing;

use crate::db::{now, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::webhook::Secret;

use super::target::{check_url, resolve};
use super::{GIVE_UP_AFTER_SECS, retry_at_ms};

/// Most waiting deliveries one endpoint may have; events past that are dropped (and logged):
/// an endpoint that is down for a day holds a bounded part of the database.
pub const MAX_WAITING_PER_ENDPOINT: i64 = 10_000;
/// One attempt's deadline (connect included).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries in flight at once (to different endpoints).
const PARALLEL: usize = 8;
/// The cluster-wide lock of the delivery worker ("cdnotify").
const NOTIFY_LOCK: i64 = 0x6364_6e6f_7469_6679;

/// The KMS encryption context of an endpoint's secret.
fn context(owner_id: &str, webhook_id: &str) -> HashMap<String, String> {
    HashMap::from([
        ("cipherdrop:purpose".to_owned(), "webhook".to_owned()),
        ("cipherdrop:owner".to_owned(), owner_id.to_owned()),
        ("cipherdrop:webhook".to_owned(), webhook_id.to_owned()),
    ])
}

/// One row of `webhooks`.
#[derive(FromRow, Clone)]
struct WebhookRow {
    id: String,
    url: String,
    created_at: i64,
}

/// `POST /api/webhooks`: a new endpoint and its secret (shown only now). The live endpoints of
/// an account are counted in the same statement as the insert.
pub async fn create(
    state: &AppState,
    owner_id: &str,
    url: &str,
) -> ApiResult<(WebhookSummary, Zeroizing<String>)> {
    let allow_private = state.config.webhook_private_targets;
    let parsed = check_url(url.trim(), allow_private)?;
    resolve(&parsed, allow_private)
        .await
        .map_err(|why| ApiError::bad_request(format!("the webhook URL cannot be used: {why}")))?;
    let id = uuid::Uuid::new_v4().to_string();
    let key_id = state.issuing_key(owner_id).await?;
    let issued = state
        .aws
        .generate_data_key(&key_id, &context(owner_id, &id))
        .await?;
    let secret = Secret::from_key(issued.plaintext);
    let mut tx = state.db.begin().await?;
    state.db.lock_account(&mut tx, owner_id).await?;
    let done = sqlx::query(
        "INSERT INTO webhooks (id, owner_id, url, key_arn, sealed_secret, created_at)
         SELECT $1, $2, $3, $4, $5, $6
         WHERE (SELECT COUNT(*) FROM webhooks WHERE owner_id = $7 AND deleted_at IS NULL) < $8",
    )
    .bind(&id)
    .bind(owner_id)
    .bind(parsed.as_str())
    .bind(&issued.key_arn)
    .bind(&issued.edk)
    .bind(now())
    .bind(owner_id)
    .bind(i64::from(WEBHOOK_MAX_PER_ACCOUNT))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            format!("an account has at most {WEBHOOK_MAX_PER_ACCOUNT} webhooks: delete one first"),
        ));
    }
    let row = owned(state, owner_id, &id).await?;
    Ok((summary(state, &row).await?, secret.text()))
}

async fn owned(state: &AppState, owner_id: &str, id: &str) -> ApiResult<WebhookRow> {
    sqlx::query_as(
        "SELECT id, url, created_at FROM webhooks
         WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(owner_id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| ApiError::not_found("webhook"))
}

async fn summary(state: &AppState, row: &WebhookRow) -> ApiResult<WebhookSummary> {
    type Delivery = (
        String,
        String,
        i64,
        i64,
        Option<i64>,
        Option<String>,
        Option<i64>,
    );
    let rows: Vec<Delivery> = sqlx::query_as(
        "SELECT message_id, event, created_at, attempts, delivered_at, last_error, gave_up_at
         FROM outbox WHERE webhook_id = $1 ORDER BY id DESC LIMIT 20",
    )
    .bind(&row.id)
    .fetch_all(&state.db)
    .await?;
    let pending: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox
         WHERE webhook_id = $1 AND delivered_at IS NULL AND gave_up_at IS NULL",
    )
    .bind(&row.id)
    .fetch_one(&state.db)
    .await?;
    Ok(WebhookSummary {
        id: row.id.clone(),
        url: row.url.clone(),
        created_at: row.created_at,
        pending: u32::try_from(pending).unwrap_or(u32::MAX),
        deliveries: rows
            .into_iter()
            .map(
                |(id, event, created_at, attempts, delivered_at, last_error, gave_up_at)| {
                    DeliverySummary {
                        id,
                        event,
                        created_at,
                        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                        delivered_at,
                        last_error,
                        gave_up_at,
                    }
                },
            )
            .collect(),
    })
}

/// `GET /api/webhooks`: the account's endpoints with their latest deliveries.
pub async fn list(state: &AppState, owner_id: &str) -> ApiResult<Vec<WebhookSummary>> {
    let rows: Vec<WebhookRow> = sqlx::query_as(
        "SELECT id, url, created_at FROM webhooks
         WHERE owner_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC, id",
    )
    .bind(owner_id)
    .fetch_all(&state.db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(summary(state, r).await?);
    }
    Ok(out)
}

/// `DELETE /api/webhooks/{id}`: no more deliveries to it (waiting ones are dropped).
pub async fn delete(state: &AppState, owner_id: &str, id: &str) -> ApiResult<String> {
    let row = owned(state, owner_id, id).await?;
    sqlx::query("UPDATE webhooks SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
        .bind(now())
        .bind(&row.id)
        .execute(&state.db)
        .await?;
    Ok(row.url)
}

/// `POST /api/webhooks/{id}/test`: a test event to that endpoint alone.
pub async fn test(state: &AppState, owner_id: &str, id: &str) -> ApiResult<()> {
    let row = owned(state, owner_id, id).await?;
    let payload = serde_json::json!({ "webhook": row.id });
    insert(state, &row.id, cipherdrop_api::EVENT_TEST, &payload).await
}

/// Records `event` for every live endpoint of `owner_id` (ids only in `payload`). Never fails
/// the request that caused it: a database error is logged.
pub(super) async fn enqueue(
    state: &AppState,
    owner_id: &str,
    event: &str,
    payload: &serde_json::Value,
) {
    let ids: Result<Vec<String>, sqlx::Error> =
        sqlx::query_scalar("SELECT id FROM webhooks WHERE owner_id = $1 AND deleted_at IS NULL")
            .bind(owner_id)
            .fetch_all(&state.db)
            .await;
    let ids = match ids {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, event, "could not look up webhooks");
            return;
        }
    };
    for id in ids {
        if let Err(e) = insert(state, &id, event, payload).await {
            tracing::warn!(error = %e.message, event, "could not record a webhook event");
        }
    }
}

async fn insert(
    state: &AppState,
    webhook_id: &str,
    event: &str,
    payload: &serde_json::Value,
) -> ApiResult<()> {
    let message_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let done = sqlx::query(
        "INSERT INTO outbox (webhook_id, message_id, event, payload, created_at, next_at_ms)
         SELECT $1, $2, $3, $4, $5, $6
         WHERE (SELECT COUNT(*) FROM outbox WHERE webhook_id = $7
                AND delivered_at IS NULL AND gave_up_at IS NULL) < $8",
    )
    .bind(webhook_id)
    .bind(&message_id)
    .bind(event)
    .bind(payload.to_string())
    .bind(now())
    .bind(now_ms())
    .bind(webhook_id)
    .bind(MAX_WAITING_PER_ENDPOINT)
    .execute(&state.db)
    .await?;
    if done.rows_affected() == 0 {
        tracing::warn!(
            webhook = webhook_id,
            event,
            "a webhook has too many deliveries waiting: this event is dropped"
        );
    }
    Ok(())
}

/// One waiting delivery with its endpoint.
#[derive(FromRow)]
struct Due {
    id: i64,
    message_id: String,
    event: String,
    payload: String,
    created_at: i64,
    attempts: i64,
    webhook_id: String,
    owner_id: String,
    url: String,
    key_arn: String,
    sealed_secret: Vec<u8>,
}

/// Sends every endpoint's oldest waiting delivery that is due, until none is; returns how many
/// were delivered. One replica at a time.
pub async fn deliver_due(state: &AppState) -> ApiResult<usize> {
    // (SQLite's lock is always granted: one pass at a time in this process as well.)
    static IN_PROCESS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_here = IN_PROCESS.lock().await;
    let Some(lock) = state.db.try_lock(NOTIFY_LOCK).await? else {
        return Ok(0);
    };
    let mut delivered = 0;
    let result = async {
        // Bounded: each round sends at most one row per endpoint.
        for _ in 0..64 {
            let due: Vec<Due> = sqlx::query_as(
                "SELECT o.id, o.message_id, o.event, o.payload, o.created_at, o.attempts,
                        w.id AS webhook_id, w.owner_id, w.url, w.key_arn, w.sealed_secret
                 FROM outbox o JOIN webhooks w ON w.id = o.webhook_id
                 WHERE w.deleted_at IS NULL AND o.next_at_ms <= $1
                   AND o.id = (SELECT MIN(o2.id) FROM outbox o2 WHERE o2.webhook_id = o.webhook_id
                               AND o2.delivered_at IS NULL AND o2.gave_up_at IS NULL)
                 ORDER BY o.id LIMIT 256",
            )
            .bind(now_ms())
            .fetch_all(&state.db)
            .await?;
            if due.is_empty() {
                break;
            }
            let mut sent = 0;
            for chunk in due.chunks(PARALLEL) {
                let outcomes =
                    futures_util::future::join_all(chunk.iter().map(|d| attempt(state, d))).await;
                for (d, outcome) in chunk.iter().zip(outcomes) {
                    if record(state, d, outcome).await? {
                        sent += 1;
                    }
                }
            }
            delivered += sent;
            if sent == 0 {
                break;
            }
        }
        Ok::<_, ApiError>(())
    }
    .await;
    lock.release().await;
    result.map(|()| delivered)
}

/// One attempt: Ok on a 2xx, else what went wrong, in words.
async fn attempt(state: &AppState, d: &Due) -> Result<(), String> {
    let allow_private = state.config.webhook_private_targets;
    let url = check_url(&d.url, allow_private).map_err(|e| e.message)?;
    let addr = resolve(&url, allow_private).await?;
    let key = state
        .aws
        .decrypt_data_key(
            &d.key_arn,
            &d.sealed_secret,
            &context(&d.owner_id, &d.webhook_id),
        )
        .await
        .map_err(|e| format!("its secret could not be read ({})", e.message))?;
    let secret = Secret::from_key(key);
    let payload: serde_json::Value =
        serde_json::from_str(&d.payload).map_err(|_| "a stored event is not JSON".to_owned())?;
    let body = serde_json::to_vec(&serde_json::json!({
        "type": d.event,
        "timestamp": crate::anchor::utc(d.created_at * 1000).replacen(' ', "T", 1).replace(" UTC", "Z"),
        "data": payload,
    }))
    .map_err(|e| e.to_string())?;
    let timestamp = now();
    let signature = secret.sign(&d.message_id, timestamp, &body);
    let host = url.host_str().unwrap_or_default().to_owned();
    // The connection goes to the address just checked (no second lookup), redirects are not
    // followed, and the answer's body is never read.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .connect_timeout(Duration::from_secs(5))
        .timeout(ATTEMPT_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "no answer in time".to_owned()
            } else {
                "could not connect".to_owned()
            }
        })?;
    let status = answer.status();
    drop(answer);
    if status.is_success() {
        Ok(())
    } else if status.is_redirection() {
        Err(format!("answered {status}: redirects are not followed"))
    } else {
        Err(format!("answered {status}"))
    }
}

/// Records an attempt's outcome; true when delivered.
async fn record(state: &AppState, d: &Due, outcome: Result<(), String>) -> ApiResult<bool> {
    let attempts = d.attempts + 1;
    match outcome {
        Ok(()) => {
            sqlx::query("UPDATE outbox SET attempts = $1, delivered_at = $2, last_error = NULL WHERE id = $3")
                .bind(attempts)
                .bind(now())
                .bind(d.id)
                .execute(&state.db)
                .await?;
            Ok(true)
        }
        Err(why) => {
            let why: String = why.chars().take(200).collect();
            tracing::info!(webhook = %d.webhook_id, message = %d.message_id, %why, "webhook delivery failed");
            let next = retry_at_ms(attempts);
            let give_up = next / 1000 > d.created_at + GIVE_UP_AFTER_SECS;
            sqlx::query(
                "UPDATE outbox SET attempts = $1, last_error = $2, next_at_ms = $3,
                 gave_up_at = $4 WHERE id = $5",
            )
            .bind(attempts)
            .bind(&why)
            .bind(next)
            .bind(give_up.then(now))
            .bind(d.id)
            .execute(&state.db)
            .await?;
            Ok(false)
        }
    }
}
