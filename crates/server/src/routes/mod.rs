//! The HTTP handlers, one file per resource, and the few response helpers they share. Only
//! `lib.rs` imports this module (to build the router); nothing here is imported back below.

pub mod admin;
pub mod metadata;
pub mod objects;
pub mod openapi;
pub mod requests;
pub mod session;
pub mod share_link;
pub mod shares;
pub mod tokens;
pub mod uploads;

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::audit::{AuditError, Event};
use crate::extract::{Auth, ClientIp};
use crate::state::AppState;

/// A JSON answer that no cache may keep (it carries a key, a token or a presigned URL).
pub(crate) fn no_store<T: serde::Serialize>(body: &T) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// Audits what an account did to `object` (an object or share id). `append`: the caller
/// answers only once the row is committed.
pub(crate) async fn audit_account(
    state: &AppState,
    auth: &Auth,
    ip: ClientIp,
    action: &str,
    object: &str,
    outcome: &str,
    detail: &str,
) -> Result<(), AuditError> {
    // What a script did with an API token says which token.
    let detail = match &auth.token {
        Some(t) => format!("{detail} [API token {} {}]", t.name, t.id),
        None => detail.to_owned(),
    };
    state
        .audit
        .append(&Event {
            actor: &auth.user.username,
            action,
            object: Some(object),
            ip: ip.text().as_deref(),
            outcome,
            detail: &detail,
        })
        .await
}

/// Who does something to an upload: an account (its page or a token), or the sender of a file
/// request (no account; named by the request).
#[derive(Clone, Copy)]
pub(crate) enum Actor<'a> {
    /// An account.
    Account(&'a Auth),
    /// A sender through request `.0`.
    Sender(&'a str),
}

/// Appends an audit row for what `actor` did.
pub(crate) async fn audit_actor(
    state: &AppState,
    actor: Actor<'_>,
    ip: ClientIp,
    action: &str,
    object: &str,
    outcome: &str,
    detail: &str,
) -> Result<(), AuditError> {
    match actor {
        Actor::Account(auth) => {
            audit_account(state, auth, ip, action, object, outcome, detail).await
        }
        Actor::Sender(request) => {
            let detail = format!("{detail} [request {request}]");
            state
                .audit
                .append(&Event {
                    actor: "sender",
                    action,
                    object: Some(object),
                    ip: ip.text().as_deref(),
                    outcome,
                    detail: &detail,
                })
                .await
        }
    }
}

/// [`audit_actor`] after the fact: a failure is logged, not returned.
pub(crate) async fn record_actor(
    state: &AppState,
    actor: Actor<'_>,
    ip: ClientIp,
    action: &str,
    object: &str,
    outcome: &str,
    detail: &str,
) {
    if let Err(e) = audit_actor(state, actor, ip, action, object, outcome, detail).await {
        tracing::error!(error = %e, action, "could not append to the audit log");
    }
}
