//! An account's notification choices (per event, the channels that tell it) and its e-mail
//! address: given, a code mailed to it, used only once confirmed with that code, so an account
//! cannot make the server mail someone else's address with anything but that one code (at most
//! three a day).

use std::collections::BTreeSet;

use axum::http::StatusCode;
use cipherdrop_api::{
    Channel, EMAIL_MAX, ErrorCode, EventChoice, NOTIFY_EVENTS, Notifications, UpdateNotifications,
};
use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::db::{Db, now};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long a mailed code confirms its address.
const CODE_TTL_SECS: i64 = 24 * 3600;
/// The event of a confirmation e-mail (never a webhook, never a choice).
pub const EVENT_EMAIL_CONFIRM: &str = "email.confirm";

fn encode(channels: &BTreeSet<Channel>) -> String {
    channels
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn decode(text: &str) -> BTreeSet<Channel> {
    text.split(',')
        .filter_map(|c| serde_json::from_value(serde_json::Value::String(c.to_owned())).ok())
        .collect()
}

fn defaults(event: &str) -> BTreeSet<Channel> {
    NOTIFY_EVENTS
        .iter()
        .find(|(e, ..)| *e == event)
        .map(|(_, d, _)| d.iter().copied().collect())
        .unwrap_or_default()
}

/// The channels `owner_id` chose for `event` (its defaults if it chose none).
pub async fn channels(
    db: &Db,
    owner_id: &str,
    event: &str,
) -> Result<BTreeSet<Channel>, sqlx::Error> {
    let chosen: Option<String> =
        sqlx::query_scalar("SELECT channels FROM notify_prefs WHERE owner_id = $1 AND event = $2")
            .bind(owner_id)
            .bind(event)
            .fetch_optional(db)
            .await?;
    Ok(chosen.map_or_else(|| defaults(event), |c| decode(&c)))
}

/// Whether the page shows `event`'s badge to `owner_id`.
pub async fn badge(db: &Db, owner_id: &str, event: &str) -> ApiResult<bool> {
    Ok(channels(db, owner_id, event)
        .await?
        .contains(&Channel::Badge))
}

/// `GET /api/notifications`.
pub async fn get(state: &AppState, owner_id: &str) -> ApiResult<Notifications> {
    let (email, email_pending): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT email, email_pending FROM users WHERE id = $1")
            .bind(owner_id)
            .fetch_one(&state.db)
            .await?;
    let mut events = Vec::with_capacity(NOTIFY_EVENTS.len());
    for (event, ..) in NOTIFY_EVENTS {
        events.push(EventChoice {
            event: event.to_owned(),
            channels: channels(&state.db, owner_id, event)
                .await?
                .into_iter()
                .collect(),
        });
    }
    Ok(Notifications {
        email,
        email_pending,
        email_available: state.config.smtp.is_some(),
        events,
    })
}

/// Checks an address: at most [`EMAIL_MAX`] bytes, one mailbox as SMTP takes it (no name, no
/// line break, no second address: nothing that could become another header).
pub fn check_email(text: &str) -> ApiResult<String> {
    let text = text.trim();
    if text.len() > EMAIL_MAX || text.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "an e-mail address is at most {EMAIL_MAX} printable characters"
        )));
    }
    let address: lettre::Address = text
        .parse()
        .map_err(|_| ApiError::bad_request("that is not an e-mail address (name@example.com)"))?;
    Ok(address.to_string())
}

/// `PUT /api/notifications`: every choice checked before any is stored.
pub async fn update(
    state: &AppState,
    owner_id: &str,
    req: &UpdateNotifications,
) -> ApiResult<Notifications> {
    // One entry per event at most: a request naming an event twice (or thousands of times)
    // is refused before anything is read or stored.
    let mut chosen: Vec<(String, String)> = Vec::new();
    if req.events.len() > NOTIFY_EVENTS.len() {
        return Err(ApiError::bad_request(format!(
            "there are {} events to choose channels for",
            NOTIFY_EVENTS.len()
        )));
    }
    for choice in &req.events {
        if chosen.iter().any(|(e, _)| *e == choice.event) {
            return Err(ApiError::bad_request(format!(
                "{} is named twice",
                choice.event
            )));
        }
        let Some((_, _, allowed)) = NOTIFY_EVENTS.iter().find(|(e, ..)| *e == choice.event) else {
            return Err(ApiError::bad_request(format!(
                "there is no event {:?} to choose channels for",
                choice.event.chars().take(40).collect::<String>()
            )));
        };
        let set: BTreeSet<Channel> = choice.channels.iter().copied().collect();
        if let Some(c) = set.iter().find(|c| !allowed.contains(c)) {
            return Err(ApiError::bad_request(format!(
                "{} cannot be told by {}",
                choice.event,
                c.as_str()
            )));
        }
        if set.contains(&Channel::Email) && state.config.smtp.is_none() {
            return Err(no_email());
        }
        chosen.push((choice.event.clone(), encode(&set)));
    }
    let address = match req.email.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(text) => Some(Some(check_email(text)?)),
    };
    let mut tx = state.db.begin().await?;
    state.db.lock_account(&mut tx, owner_id).await?;
    for (event, channels) in &chosen {
        sqlx::query(
            "INSERT INTO notify_prefs (owner_id, event, channels) VALUES ($1, $2, $3)
             ON CONFLICT (owner_id, event) DO UPDATE SET channels = excluded.channels",
        )
        .bind(owner_id)
        .bind(event)
        .bind(channels)
        .execute(&mut *tx)
        .await?;
    }
    let current: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(owner_id)
        .fetch_one(&mut *tx)
        .await?;
    let mut code = None;
    match address {
        None => {}
        Some(None) => {
            sqlx::query(
                "UPDATE users SET email = NULL, email_pending = NULL, email_code_hash = NULL
                 WHERE id = $1",
            )
            .bind(owner_id)
            .execute(&mut *tx)
            .await?;
        }
        Some(Some(a)) if current.as_deref() == Some(a.as_str()) => {
            // Back to the confirmed address: a change on its way is dropped.
            sqlx::query(
                "UPDATE users SET email_pending = NULL, email_code_hash = NULL WHERE id = $1",
            )
            .bind(owner_id)
            .execute(&mut *tx)
            .await?;
        }
        Some(Some(a)) => {
            let c = new_code();
            sqlx::query(
                "UPDATE users SET email_pending = $1, email_code_hash = $2, email_code_expires = $3
                 WHERE id = $4",
            )
            .bind(&a)
            .bind(Sha256::digest(normalize(&c).as_bytes()).to_vec())
            .bind(now() + CODE_TTL_SECS)
            .bind(owner_id)
            .execute(&mut *tx)
            .await?;
            code = Some((a, c));
        }
    }
    if let Some((to, c)) = &code {
        if state.config.smtp.is_none() {
            return Err(no_email());
        }
        // The cap is counted in the insert itself; refused, nothing of this update is kept.
        let payload = serde_json::json!({ "to": to, "code": c.as_str() });
        if !super::mail::insert(&mut tx, owner_id, EVENT_EMAIL_CONFIRM, &payload).await? {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "at most 3 confirmation e-mails a day: use a code already sent, or try tomorrow",
            ));
        }
    }
    tx.commit().await?;
    get(state, owner_id).await
}

/// `POST /api/notifications/confirm`: the pending address becomes the account's if `code` is
/// the one mailed to it (checked and applied in one statement).
pub async fn confirm(state: &AppState, owner_id: &str, code: &str) -> ApiResult<Notifications> {
    let hash = Sha256::digest(normalize(code).as_bytes()).to_vec();
    let done = sqlx::query(
        "UPDATE users SET email = email_pending, email_pending = NULL, email_code_hash = NULL
         WHERE id = $1 AND email_pending IS NOT NULL AND email_code_hash = $2
           AND email_code_expires > $3",
    )
    .bind(owner_id)
    .bind(hash)
    .bind(now())
    .execute(&state.db)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::bad_request(
            "that is not the code mailed to the new address (or it is more than a day old)",
        ));
    }
    get(state, owner_id).await
}

/// The refusal of anything e-mail on a server without SMTP.
fn no_email() -> ApiError {
    ApiError::bad_request("this server sends no e-mail (its administrator has not set up SMTP)")
}

/// A code of 10 characters from a 32-letter alphabet without look-alikes (50 bits), shown as
/// `ABCDE-FGHJK`.
fn new_code() -> Zeroizing<String> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = Zeroizing::new([0u8; 10]);
    rand::rng().fill_bytes(&mut bytes[..]);
    let mut out = Zeroizing::new(String::with_capacity(11));
    for (i, b) in bytes.iter().enumerate() {
        if i == 5 {
            out.push('-');
        }
        out.push(char::from(
            ALPHABET.get(usize::from(b & 31)).copied().unwrap_or(b'A'),
        ));
    }
    out
}

/// The code as compared: upper case, no dashes or spaces.
fn normalize(code: &str) -> Zeroizing<String> {
    Zeroizing::new(
        code.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .take(32)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn addresses_that_could_become_headers_are_refused() {
        assert_eq!(check_email(" a@example.com ").unwrap(), "a@example.com");
        for bad in [
            "a@example.com\r\nBcc: b@example.com",
            "a@example.com\nSubject: x",
            "A <a@example.com>",
            "a@example.com, b@example.com",
            "no-at-sign",
            "",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
        assert!(check_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn codes_are_typed_loosely_and_read_exactly() {
        let c = new_code();
        assert_eq!(c.len(), 11);
        assert_eq!(
            normalize(&c.to_lowercase()).as_str(),
            normalize(&c).as_str()
        );
        assert_eq!(normalize(" ab-cd e").as_str(), "ABCDE");
    }

    #[test]
    fn stored_channels_read_back() {
        let set: BTreeSet<Channel> = [Channel::Webhook, Channel::Badge].into_iter().collect();
        assert_eq!(encode(&set), "badge,webhook");
        assert_eq!(decode("badge,webhook"), set);
        assert!(decode("").is_empty());
    }
}
