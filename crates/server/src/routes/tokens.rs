//! API tokens, from the page's session only (a token cannot make, list or revoke tokens): make
//! one (the answer is the only time its secret is shown), list, revoke.

use axum::Json;
use axum::extract::{Path, State};
use cipherdrop_api::{CreateTokenRequest, SecretB64, TokenCreated, TokenList, TokenSummary};

use super::no_store;
use crate::actor::{Actor, Did};
use crate::error::ApiResult;
use crate::extract::{Auth, ClientIp, St};
use crate::tokens::{self, TokenRow};
use axum::response::Response;

/// `POST /api/tokens`.
pub async fn create(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Json(req): Json<CreateTokenRequest>,
) -> ApiResult<Response> {
    let settings = tokens::settings(&req)?;
    let secret = tokens::new_secret();
    let row = tokens::insert(&state.db, &auth.user.id, &secret, settings).await?;
    let detail = format!(
        "{}: scopes {}, expires at {}",
        row.name, row.scopes, row.expires_at
    );
    Actor::Account(&auth)
        .audit(
            &state,
            ip,
            Did {
                action: "token.created",
                object: &row.id,
                outcome: "ok",
                detail: &detail,
            },
        )
        .await?;
    Ok(no_store(&TokenCreated {
        token: row.summary(),
        secret: SecretB64::new(secret),
    }))
}

/// `GET /api/tokens`: the account's tokens, newest first.
pub async fn list(State(state): St, auth: Auth) -> ApiResult<Json<TokenList>> {
    let rows = tokens::of_user(&state.db, &auth.user.id).await?;
    Ok(Json(TokenList {
        tokens: rows.iter().map(TokenRow::summary).collect(),
    }))
}

/// `DELETE /api/tokens/{id}`: from now on the token authenticates nothing.
pub async fn revoke(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Json<TokenSummary>> {
    let row = tokens::owned(&state.db, &auth.user.id, &id).await?;
    tokens::revoke(&state.db, &row.id).await?;
    Actor::Account(&auth)
        .audit(
            &state,
            ip,
            Did {
                action: "token.revoked",
                object: &row.id,
                outcome: "ok",
                detail: &row.name,
            },
        )
        .await?;
    Ok(Json(
        tokens::owned(&state.db, &auth.user.id, &id)
            .await?
            .summary(),
    ))
}
