//! An account's notification choices, from the page's session only: read them, change them
//! (a new e-mail address gets a code), confirm an address with its code.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use cipherdrop_api::{ConfirmEmail, UpdateNotifications};

use super::no_store;
use crate::actor::{Actor, Did};
use crate::error::ApiResult;
use crate::extract::{Auth, ClientIp, St};
use crate::notify::prefs;

/// `GET /api/notifications`.
pub async fn get(State(state): St, auth: Auth) -> ApiResult<Response> {
    Ok(no_store(&prefs::get(&state, &auth.user.id).await?))
}

/// `PUT /api/notifications`.
pub async fn update(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Json(req): Json<UpdateNotifications>,
) -> ApiResult<Response> {
    let now = prefs::update(&state, &auth.user.id, &req).await?;
    audit(&state, &auth, ip, "notifications.changed").await?;
    Ok(no_store(&now))
}

/// `POST /api/notifications/confirm`.
pub async fn confirm(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Json(req): Json<ConfirmEmail>,
) -> ApiResult<Response> {
    let now = prefs::confirm(&state, &auth.user.id, &req.code).await?;
    audit(&state, &auth, ip, "email.confirmed").await?;
    Ok(no_store(&now))
}

/// An audit row without the address (not every reader of the log needs it).
async fn audit(
    state: &crate::state::AppState,
    auth: &Auth,
    ip: ClientIp,
    action: &'static str,
) -> ApiResult<()> {
    Actor::Account(auth)
        .audit(
            state,
            ip,
            Did {
                action,
                object: &auth.user.id,
                outcome: "ok",
                detail: "",
            },
        )
        .await?;
    Ok(())
}
