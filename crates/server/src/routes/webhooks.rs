//! Webhooks, from the page's session only: make one (its signing secret shown only in the
//! answer), list them with their latest deliveries, delete one, send one a test event.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use cipherdrop_api::{CreateWebhookRequest, SecretB64, WebhookCreated, WebhookList};

use super::no_store;
use crate::actor::{Actor, Did};
use crate::error::ApiResult;
use crate::extract::{Auth, ClientIp, St};
use crate::notify;

/// `POST /api/webhooks`.
pub async fn create(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Json(req): Json<CreateWebhookRequest>,
) -> ApiResult<Response> {
    let (webhook, secret) = notify::create(&state, &auth.user.id, &req.url).await?;
    Actor::Account(&auth)
        .audit(
            &state,
            ip,
            Did {
                action: "webhook.created",
                object: &webhook.id,
                outcome: "ok",
                detail: "",
            },
        )
        .await?;
    Ok(no_store(&WebhookCreated {
        webhook,
        secret: SecretB64::new(secret),
    }))
}

/// `GET /api/webhooks`.
pub async fn list(State(state): St, auth: Auth) -> ApiResult<Json<WebhookList>> {
    Ok(Json(WebhookList {
        webhooks: notify::list(&state, &auth.user.id).await?,
    }))
}

/// `DELETE /api/webhooks/{id}`.
pub async fn delete(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    notify::delete(&state, &auth.user.id, &id).await?;
    Actor::Account(&auth)
        .audit(
            &state,
            ip,
            Did {
                action: "webhook.deleted",
                object: &id,
                outcome: "ok",
                detail: "",
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/webhooks/{id}/test`.
pub async fn test(State(state): St, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    notify::test(&state, &auth.user.id, &id).await?;
    Ok(StatusCode::ACCEPTED)
}
