//! Notifications: what an account is told, through which channels, and the workers that tell it.
//!
//! An event (a link released its key, a request received a file, a link or request expires
//! within a day, the account is near a storage limit) goes to the channels the account chose
//! for it ([`prefs`]): the page's badge (the lists' "new" counts), e-mail ([`mail`]) and its
//! webhooks ([`webhooks`]). E-mail and webhooks go through durable outboxes in the database:
//! requests only insert rows, never wait for a receiver, and a worker on one replica at a time
//! sends them, at least once, retrying with backoff until a day after the event. Nothing sent
//! names a file, holds content or carries a link's secret: ids and counts only.

pub mod mail;
pub mod prefs;
mod scan;
mod target;
pub mod webhooks;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cipherdrop_api::Channel;

use crate::db::now_ms;
use crate::state::AppState;

pub use scan::{expiring, quota_after_upload};
pub use webhooks::{create, delete, deliver_due, list, test};

/// How long the server keeps trying one delivery (a webhook's or an e-mail's).
const GIVE_UP_AFTER_SECS: i64 = 24 * 3600;
/// How often the expiry scan runs (the events say "within a day": a minute late is on time).
const SCAN_EVERY: Duration = Duration::from_secs(60);

/// When to try again after `attempts` failed ones: 5 s, 15 s, 45 s, … at most an hour apart.
fn retry_at_ms(attempts: i64) -> i64 {
    let delay_s = 5i64
        .saturating_mul(3i64.saturating_pow(u32::try_from(attempts - 1).unwrap_or(20).min(20)))
        .min(3600);
    now_ms() + delay_s * 1000
}

/// Records `event` for `owner_id` on every channel it chose that needs a message (e-mail,
/// webhooks; the badge is read from the lists themselves). Never fails the request that caused
/// it: a database error is logged.
pub async fn enqueue(state: &AppState, owner_id: &str, event: &str, payload: serde_json::Value) {
    let channels = match prefs::channels(&state.db, owner_id, event).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, event, "could not read notification choices");
            return;
        }
    };
    if channels.contains(&Channel::Webhook) {
        webhooks::enqueue(state, owner_id, event, &payload).await;
    }
    if channels.contains(&Channel::Email) {
        mail::enqueue(state, owner_id, event, &payload).await;
    }
}

/// Runs forever: webhook and e-mail deliveries once per [`crate::Config::notify_interval`], the
/// expiry scan once a minute.
pub async fn run(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(state.config.notify_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut scanned: Option<Instant> = None;
    loop {
        tick.tick().await;
        if scanned.is_none_or(|t| t.elapsed() >= SCAN_EVERY) {
            scanned = Some(Instant::now());
            if let Err(e) = expiring(&state).await {
                tracing::warn!(error = %e.message, "the expiry scan failed; will retry");
            }
        }
        if let Err(e) = deliver_due(&state).await {
            tracing::warn!(error = %e.message, "webhook deliveries failed; will retry");
        }
        if let Err(e) = mail::deliver_due(&state).await {
            tracing::warn!(error = %e.message, "e-mail deliveries failed; will retry");
        }
    }
}
