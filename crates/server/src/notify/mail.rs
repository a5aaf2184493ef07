//! E-mail notifications: a durable outbox, the messages' fixed words, and the worker that sends
//! them through [`crate::mailer`].
//!
//! Every message is fixed text: which kind of event, when, the counts, and a link to the app.
//! No file name (the server never has one), no content, no link secret; the only text an
//! account supplies is its address, which must parse as one bare mailbox, so it cannot add a
//! header. A message goes to the account's confirmed address as it is when sent.

use lettre::Message;
use lettre::message::{Mailbox, header::ContentType};
use sqlx::FromRow;

use crate::db::{now, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

use super::prefs::EVENT_EMAIL_CONFIRM;
use super::{GIVE_UP_AFTER_SECS, retry_at_ms};

/// The cluster-wide lock of the e-mail worker ("cdmailer").
const MAIL_LOCK: i64 = 0x6364_6d61_696c_6572;
/// Most confirmation e-mails an account makes the server send a day.
const CONFIRMATIONS_PER_DAY: i64 = 3;
/// Most e-mails waiting for one account; events past that are dropped (and logged).
const MAX_WAITING_PER_ACCOUNT: i64 = 1000;

/// Records an e-mail of `event` for `owner_id`, if it has a confirmed address and the server
/// sends e-mail; never fails the request that caused it.
pub async fn enqueue(state: &AppState, owner_id: &str, event: &str, payload: &serde_json::Value) {
    if state.mailer.is_none() {
        return;
    }
    let result = async {
        let address: Option<Option<String>> =
            sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
                .bind(owner_id)
                .fetch_optional(&state.db)
                .await?;
        if address.flatten().is_none() {
            return Ok(true);
        }
        let mut tx = state.db.begin().await?;
        let queued = insert(&mut tx, owner_id, event, payload).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(queued)
    }
    .await;
    match result {
        Ok(true) => {}
        Ok(false) => tracing::warn!(event, "an account has too many e-mails waiting: dropped"),
        Err(e) => tracing::warn!(error = %e, event, "could not record an e-mail"),
    }
}

/// Inserts an outbox row unless the account is over its cap (confirmations: three a day;
/// others: [`MAX_WAITING_PER_ACCOUNT`] waiting), counted in the insert; false when over it.
pub(super) async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    owner_id: &str,
    event: &str,
    payload: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let message_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let (cap_sql, cap) = if event == EVENT_EMAIL_CONFIRM {
        (
            "event = 'email.confirm' AND created_at > $8",
            CONFIRMATIONS_PER_DAY,
        )
    } else {
        (
            "delivered_at IS NULL AND gave_up_at IS NULL AND $8 = $8",
            MAX_WAITING_PER_ACCOUNT,
        )
    };
    let done = sqlx::query(&format!(
        "INSERT INTO mail_outbox (owner_id, message_id, event, payload, created_at, next_at_ms)
         SELECT $1, $2, $3, $4, $5, $6
         WHERE (SELECT COUNT(*) FROM mail_outbox WHERE owner_id = $7 AND {cap_sql}) < $9"
    ))
    .bind(owner_id)
    .bind(&message_id)
    .bind(event)
    .bind(payload.to_string())
    .bind(now())
    .bind(now_ms())
    .bind(owner_id)
    .bind(now() - 24 * 3600)
    .bind(cap)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One waiting e-mail with where it goes now.
#[derive(FromRow)]
struct Due {
    id: i64,
    message_id: String,
    event: String,
    payload: String,
    created_at: i64,
    attempts: i64,
    email: Option<String>,
}

/// Sends the e-mails that are due; returns how many went. One replica at a time.
pub async fn deliver_due(state: &AppState) -> ApiResult<usize> {
    let Some(mailer) = &state.mailer else {
        return Ok(0);
    };
    static IN_PROCESS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_here = IN_PROCESS.lock().await;
    let Some(lock) = state.db.try_lock(MAIL_LOCK).await? else {
        return Ok(0);
    };
    let result = async {
        let due: Vec<Due> = sqlx::query_as(
            "SELECT m.id, m.message_id, m.event, m.payload, m.created_at, m.attempts, u.email
             FROM mail_outbox m JOIN users u ON u.id = m.owner_id
             WHERE m.delivered_at IS NULL AND m.gave_up_at IS NULL AND m.next_at_ms <= $1
             ORDER BY m.id LIMIT 100",
        )
        .bind(now_ms())
        .fetch_all(&state.db)
        .await?;
        let mut sent = 0;
        for d in &due {
            let outcome = match compose(state, d) {
                Ok(message) => mailer.send(message).await,
                Err(why) => Err(why),
            };
            if record(state, d, outcome).await? {
                sent += 1;
            }
        }
        Ok::<_, ApiError>(sent)
    }
    .await;
    lock.release().await;
    result
}

/// The message for `d`, or why there is none.
fn compose(state: &AppState, d: &Due) -> Result<Message, String> {
    let payload: serde_json::Value =
        serde_json::from_str(&d.payload).map_err(|_| "a stored event is not JSON".to_owned())?;
    let to = if d.event == EVENT_EMAIL_CONFIRM {
        payload
            .get("to")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    } else {
        d.email.clone()
    }
    .ok_or_else(|| "the account has no confirmed address".to_owned())?;
    let to: Mailbox = to
        .parse()
        .map_err(|_| "the address is not one".to_owned())?;
    let from: Mailbox = state
        .mailer
        .as_ref()
        .map(|m| m.from())
        .unwrap_or_default()
        .parse()
        .map_err(|_| "the sender address is not one".to_owned())?;
    let (subject, body) = text(
        &state.config.public_origin,
        &d.event,
        d.created_at,
        &payload,
    );
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{}@cipherdrop>", d.message_id)))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}

/// Subject and body of an event's e-mail: fixed words, numbers, the time, the app's address.
fn text(origin: &str, event: &str, created_at: i64, p: &serde_json::Value) -> (String, String) {
    let when = crate::anchor::utc(created_at * 1000);
    let n = |k: &str| p.get(k).and_then(serde_json::Value::as_i64).unwrap_or(0);
    let (subject, what) = match event {
        cipherdrop_api::EVENT_LINK_USED => (
            "A link to your file was used".to_owned(),
            match p.get("max_downloads").and_then(serde_json::Value::as_i64) {
                Some(max) => format!(
                    "A link you shared was used at {when}: {} of its {max} downloads are taken.",
                    n("downloads")
                ),
                None => format!(
                    "A link you shared was used at {when} ({} times so far).",
                    n("downloads")
                ),
            },
        ),
        cipherdrop_api::EVENT_REQUEST_RECEIVED => (
            "A file arrived for your request".to_owned(),
            format!("Someone sent a file through one of your file requests at {when}."),
        ),
        cipherdrop_api::EVENT_LINK_EXPIRING => (
            "A link expires within a day".to_owned(),
            format!(
                "A link you shared stops working at {}.",
                crate::anchor::utc(n("expires_at") * 1000)
            ),
        ),
        cipherdrop_api::EVENT_REQUEST_EXPIRING => (
            "A file request expires within a day".to_owned(),
            format!(
                "One of your file requests stops taking files at {}.",
                crate::anchor::utc(n("expires_at") * 1000)
            ),
        ),
        cipherdrop_api::EVENT_QUOTA_NEAR => (
            "Your account is near its storage limit".to_owned(),
            format!(
                "Your account stores {} of its {} (at {when}).",
                crate::quotas::size_text(u64::try_from(n("stored_bytes")).unwrap_or(0)),
                crate::quotas::size_text(u64::try_from(n("limit_bytes")).unwrap_or(0)),
            ),
        ),
        EVENT_EMAIL_CONFIRM => (
            "Confirm this address".to_owned(),
            format!(
                "Someone asked Cipherdrop to send notifications to this address. If it was you, enter this code in Settings within a day:\n\n    {}\n\nIf it was not you, ignore this message: nothing will be sent here.",
                p.get("code")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
            ),
        ),
        _ => (
            "A notification".to_owned(),
            format!("Something happened at {when}."),
        ),
    };
    let body = format!(
        "{what}\n\nThe message names no file: names are encrypted in your browser, and the server never sees them. Open Cipherdrop to see which:\n{origin}/\n\nYou get this because your account chose e-mail for this event; change that in Settings.\n"
    );
    (format!("Cipherdrop: {subject}"), body)
}

/// Records an attempt's outcome; true when sent. A confirmation's code leaves the outbox once
/// it was sent or given up.
async fn record(state: &AppState, d: &Due, outcome: Result<(), String>) -> ApiResult<bool> {
    let attempts = d.attempts + 1;
    let scrub = d.event == EVENT_EMAIL_CONFIRM;
    match outcome {
        Ok(()) => {
            sqlx::query(
                "UPDATE mail_outbox SET attempts = $1, delivered_at = $2, last_error = NULL,
                 payload = CASE WHEN $3 = 1 THEN '{}' ELSE payload END WHERE id = $4",
            )
            .bind(attempts)
            .bind(now())
            .bind(i64::from(scrub))
            .bind(d.id)
            .execute(&state.db)
            .await?;
            Ok(true)
        }
        Err(why) => {
            tracing::info!(message = %d.message_id, %why, "e-mail delivery failed");
            let next = retry_at_ms(attempts);
            let give_up = next / 1000 > d.created_at + GIVE_UP_AFTER_SECS;
            sqlx::query(
                "UPDATE mail_outbox SET attempts = $1, last_error = $2, next_at_ms = $3,
                 gave_up_at = $4,
                 payload = CASE WHEN $5 = 1 THEN '{}' ELSE payload END WHERE id = $6",
            )
            .bind(attempts)
            .bind(why.chars().take(200).collect::<String>())
            .bind(next)
            .bind(give_up.then(now))
            .bind(i64::from(scrub && give_up))
            .bind(d.id)
            .execute(&state.db)
            .await?;
            Ok(false)
        }
    }
}
