//! An owner's objects: the list, one object with a presigned download URL, deletion, the
//! release of its data key (KMS `Decrypt` of the stored EDK with the stored context), and its
//! move to the key the account's new uploads use (a one-file rotation job).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use cipherdrop_api::{KeyResponse, ObjectDetails, ObjectList, ObjectSummary, RekeyJob};

use super::no_store;
use crate::actor::{Actor, Did};
use crate::audit::Event;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, ClientIp, St, bearer, cookie_name, session_token};
use crate::objects::{self, SessionOwned};

/// `GET /api/objects`.
pub async fn list(State(state): St, auth: Auth) -> ApiResult<Json<ObjectList>> {
    let rows = objects::list_complete(&state.db, &auth.user.id).await?;
    // The "new downloads" badge, unless the account turned it off.
    let unseen =
        if crate::notify::prefs::badge(&state.db, &auth.user.id, cipherdrop_api::EVENT_LINK_USED)
            .await?
        {
            crate::shares::unseen_by_object(&state.db, &auth.user.id).await?
        } else {
            Default::default()
        };
    Ok(Json(ObjectList {
        objects: rows
            .iter()
            .map(|r| ObjectSummary {
                new_downloads: unseen.get(&r.id).copied().unwrap_or(0),
                ..r.summary()
            })
            .collect(),
    }))
}

/// `GET /api/objects/{id}`.
pub async fn details(State(state): St, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let row = objects::owned_complete(&state.db, &auth.user.id, &id).await?;
    let download_url = state
        .aws
        .presign_get(&state.config.bucket, &row.s3_key, state.config.url_ttl)
        .await?;
    Ok(no_store(&ObjectDetails {
        object: row.summary(),
        encryption_context: row.context()?,
        key_arn: row.key_arn.clone(),
        download_url,
        url_expires_at: state.urls_expire_at(),
    }))
}

/// `DELETE /api/objects/{id}`: from S3, then from the database.
pub async fn delete(
    State(state): St,
    ip: ClientIp,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let row = objects::owned_complete(&state.db, &auth.user.id, &id).await?;
    state
        .aws
        .delete_object(&state.config.bucket, &row.s3_key)
        .await?;
    objects::delete_row(&state.db, &row.id).await?;
    Actor::Account(&auth)
        .record(
            &state,
            ip,
            Did {
                action: "object.deleted",
                object: &row.id,
                outcome: "ok",
                detail: "",
            },
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/objects/{id}/rekey`: moves the owner's file to the KMS key the account's new
/// uploads use (its own key, or the server's), body untouched, by a one-file rotation job that a
/// replica runs within seconds; answers the job (202), the open one if there is one. Someone
/// else's file is not found (404); a file under that key already, or a key that cannot be used,
/// is refused in words (409) and nothing is recorded.
pub async fn rekey(
    State(state): St,
    ip: ClientIp,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<RekeyJob>)> {
    let row = objects::owned_complete(&state.db, &auth.user.id, &id).await?;
    let target = state.issuing_key(&auth.user.id).await?;
    let to_arn = state.aws.usable_key(&target).await?.map_err(|why| {
        ApiError::conflict(format!(
            "the key your new uploads use cannot take this file: {why}"
        ))
    })?;
    if to_arn == state.aws.local_key_id(&row.key_arn) || to_arn == row.key_arn {
        return Err(ApiError::conflict(format!(
            "this file is under {to_arn}, the key your new uploads use, already"
        )));
    }
    let (job, created) = crate::rekey::create_for_object(
        &state.db,
        &row,
        &to_arn,
        cipherdrop_api::REKEY_DEFAULT_RATE,
    )
    .await?;
    if created {
        let detail = format!("job {}: from {} to {to_arn}", job.id, row.key_arn);
        Actor::Account(&auth)
            .record(
                &state,
                ip,
                Did {
                    action: "object.rekey_requested",
                    object: &row.id,
                    outcome: "ok",
                    detail: &detail,
                },
            )
            .await;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(job.to_api(Some(auth.user.username.clone()))),
    ))
}

/// `POST /api/objects/{id}/key`: KMS `Decrypt` of the stored EDK with the stored context.
///
/// The hot path (a page session): one query checks the session and the ownership together;
/// only a refusal pays for telling "not logged in" (401) from "not yours" (404). An API token
/// (scope `read`) takes the usual path.
pub async fn release_key(
    State(state): St,
    ip: ClientIp,
    mut parts: Parts,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (found, by_token) = if bearer(&parts.headers)?.is_some() {
        let auth = Auth::from_parts(&state, &mut parts).await?;
        let row = match objects::owned_complete(&state.db, &auth.user.id, &id).await {
            Ok(row) => Some(SessionOwned {
                row,
                username: auth.user.username.clone(),
            }),
            Err(e) if e.status == StatusCode::NOT_FOUND => None,
            Err(e) => return Err(e),
        };
        (row, Some(auth))
    } else {
        let token = session_token(&parts.headers, cookie_name(&state.config.public_origin))?;
        let row = match token {
            Some(token) => objects::complete_for_session(&state.db, &token, &id).await?,
            None => None,
        };
        (row, None)
    };
    let Some(SessionOwned { row, username }) = found else {
        let auth = match by_token {
            Some(auth) => auth,
            None => Auth::from_headers(&state, &parts.headers).await?,
        };
        // Refusals are audited too: someone asked for a key that is not theirs.
        Actor::Account(&auth)
            .audit(
                &state,
                ip,
                Did {
                    action: "key.released",
                    object: &id,
                    outcome: "denied",
                    detail: "not the owner, or no such object",
                },
            )
            .await?;
        return Err(ApiError::not_found("object"));
    };
    let (result, outcome, detail) = crate::uploads::kms_release(&state, &row, "to owner").await?;
    // No key leaves without its audit row.
    state
        .audit
        .append(&Event {
            actor: &username,
            action: "key.released",
            object: Some(&row.id),
            ip: ip.text().as_deref(),
            outcome,
            detail: &detail,
        })
        .await?;
    Ok(no_store(&KeyResponse {
        data_key: result?,
        key_arn: row.key_arn,
    }))
}
