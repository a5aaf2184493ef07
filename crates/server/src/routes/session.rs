//! The session: login (password or one-time link), logout, `me`, and password change.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cipherdrop_api::ErrorCode;
use cipherdrop_api::{LinkLoginRequest, LoginRequest, Me, SetPasswordRequest};

use crate::accounts::{self, User};
use crate::audit::Event;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, ClientIp, St, cookie_name, session_cookie, session_token};
use crate::state::AppState;

fn me_body(state: &AppState, user: &User, must_set_password: bool) -> Me {
    Me {
        id: user.id.clone(),
        username: user.username.clone(),
        is_admin: user.is_admin,
        must_set_password,
        default_suite: state.config.default_suite,
    }
}

fn logged_in(state: &AppState, token: &str, body: Me) -> Response {
    (
        [
            (
                header::SET_COOKIE,
                session_cookie(&state.config.public_origin, token),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Json(body),
    )
        .into_response()
}

/// The name a login attempt is audited under: the name as typed if it could be an account's,
/// else a fixed word and its length (so no client string of any size reaches the log).
fn attempted_name(name: &str) -> String {
    if accounts::valid_name(name) {
        name.to_owned()
    } else {
        format!("(not a valid name, {} bytes)", name.len())
    }
}

/// `POST /api/login`.
///
/// The attempt is counted before the password is checked, in one step with the limits' check,
/// so concurrent guesses cannot outrun the limit; the check itself waits for a place among the
/// argon2 checks running at once ([`crate::limiter::HashGate`]).
pub async fn login(
    State(state): St,
    ip: ClientIp,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    let name = attempted_name(&req.username);
    let audit = |outcome: &'static str, detail: &'static str| {
        let (state, name, ip_text) = (&state, &name, ip.text());
        async move {
            state
                .audit
                .record(&Event {
                    actor: name,
                    action: "login",
                    ip: ip_text.as_deref(),
                    outcome,
                    detail,
                    ..Default::default()
                })
                .await;
        }
    };
    // Refusals while limited are counted, and summarised by the sweeper, not a row each.
    let attempt = state
        .limiter
        .begin(&name, ip.or_unspecified())
        .await
        .map_err(|r| r.into_error("too many failed logins; wait a few minutes and try again"))?;
    let Some(permit) = state.hashing.enter().await else {
        attempt.cancel().await;
        return Err(ApiError::busy());
    };
    // A name no account can have needs no lookup; an unknown one costs a check all the same.
    let found = if accounts::valid_name(&req.username) {
        accounts::find_user(&state.db, &req.username).await?
    } else {
        None
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let password = zeroize::Zeroizing::new(req.password.clone());
    let verified = permit
        .run(move || accounts::verify_now(&password, hash.as_deref()))
        .await
        .unwrap_or(false);
    drop(permit);
    let Some(user) = user.filter(|_| verified) else {
        audit("denied", "wrong name or password").await;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::BadCredentials,
            "wrong account name or password",
        ));
    };
    attempt.succeeded().await;
    let token = accounts::create_session(&state.db, &user.id, false).await?;
    audit("ok", "password").await;
    Ok(logged_in(&state, &token, me_body(&state, &user, false)))
}

/// `POST /api/login/link`: redeems a one-time login link.
pub async fn login_link(
    State(state): St,
    ip: ClientIp,
    Json(req): Json<LinkLoginRequest>,
) -> ApiResult<Response> {
    let ip_text = ip.text();
    // A redemption is a guess at a token: counted before the lookup within the same limits as
    // passwords (per client network; per token, under its hash), so a burst of made-up links
    // gets a few audit rows and then one counted summary row per sweep, not a row each.
    let subject = format!("link#{}", hex::encode(accounts::token_hash(&req.token)));
    let attempt = state
        .limiter
        .begin(&subject, ip.or_unspecified())
        .await
        .map_err(|r| {
            r.into_error("too many invalid login links; wait a few minutes and try again")
        })?;
    let Some(user) = accounts::redeem_login_link(&state.db, &req.token).await? else {
        state
            .audit
            .record(&Event {
                actor: "anonymous",
                action: "login",
                ip: ip_text.as_deref(),
                outcome: "denied",
                detail: "invalid, used or expired login link",
                ..Default::default()
            })
            .await;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::BadLink,
            "this login link is invalid, already used, or expired; ask for a new one",
        ));
    };
    attempt.succeeded().await;
    let token = accounts::create_session(&state.db, &user.id, true).await?;
    state
        .audit
        .record(&Event {
            actor: &user.username,
            action: "login",
            ip: ip_text.as_deref(),
            outcome: "ok",
            detail: "one-time link",
            ..Default::default()
        })
        .await;
    let (_, must) = accounts::session_user(&state.db, &token)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(logged_in(&state, &token, me_body(&state, &user, must)))
}

/// `POST /api/logout`.
pub async fn logout(State(state): St, req: axum::extract::Request) -> ApiResult<Response> {
    // Logging out with two session cookies ends neither: the answer clears the cookie anyway.
    if let Ok(Some(token)) = session_token(req.headers(), cookie_name(&state.config.public_origin))
    {
        accounts::end_session(&state.db, &token).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            session_cookie(&state.config.public_origin, ""),
        )],
    )
        .into_response())
}

/// `GET /api/me`.
pub async fn me(State(state): St, auth: Auth) -> Json<Me> {
    Json(me_body(&state, &auth.user, auth.must_set_password))
}

/// `POST /api/password`: needs the current password unless the session came from a one-time
/// link and no password is set. Ends every other session; answers with a fresh one.
pub async fn set_password(
    State(state): St,
    ip: ClientIp,
    auth: Auth,
    Json(req): Json<SetPasswordRequest>,
) -> ApiResult<Response> {
    // A session alone must not allow unlimited guesses at the password: the same limits as login.
    let attempt = if auth.must_set_password {
        None
    } else {
        Some(
            state
                .limiter
                .begin(&auth.user.username, ip.or_unspecified())
                .await
                .map_err(|r| {
                    r.into_error("too many wrong passwords; wait a few minutes and try again")
                })?,
        )
    };
    let Some(permit) = state.hashing.enter().await else {
        if let Some(a) = attempt {
            a.cancel().await;
        }
        return Err(ApiError::busy());
    };
    if let Some(attempt) = attempt {
        let (_, hash) = accounts::find_user(&state.db, &auth.user.username)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        let current = zeroize::Zeroizing::new(req.current_password.clone().unwrap_or_default());
        let verified = permit
            .run(move || accounts::verify_now(&current, hash.as_deref()))
            .await
            .unwrap_or(false);
        if !verified {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::BadCredentials,
                "the current password is wrong",
            ));
        }
        attempt.succeeded().await;
    }
    let new_password = zeroize::Zeroizing::new(req.new_password.clone());
    let hash = permit
        .run(move || accounts::hash_password_now(&new_password))
        .await
        .ok_or_else(ApiError::busy)??;
    drop(permit);
    accounts::set_password(&state.db, &auth.user.id, Some(&hash)).await?;
    state
        .audit
        .record(&Event {
            actor: &auth.user.username,
            action: "user.password_changed",
            ip: ip.text().as_deref(),
            outcome: "ok",
            ..Default::default()
        })
        .await;
    let token = accounts::create_session(&state.db, &auth.user.id, false).await?;
    Ok(logged_in(
        &state,
        &token,
        me_body(&state, &auth.user, false),
    ))
}
