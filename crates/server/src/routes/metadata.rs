//! The account's metadata key and re-sealed names: `POST /api/metadata-key` (a version, or the
//! newest, made on first use; one KMS call, audited), `POST /api/metadata-key/rotate` (a new
//! version; page session only), `PUT /api/objects/{id}/metadata` (the owner's page stores a name
//! it sealed again).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    MAX_METADATA_BYTES, MetadataKeyRequest, MetadataKeyResponse, SecretB64, SetMetadataRequest,
};

use zeroize::Zeroizing;

use super::no_store;
use crate::actor::{Actor, Did};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, ClientIp, St};
use crate::metakeys::{self, Released};
use crate::objects;

fn answer(r: &Released) -> Response {
    no_store(&MetadataKeyResponse {
        version: r.version,
        current: r.current,
        key: SecretB64::new(Zeroizing::new(B64.encode(&r.key[..]))),
    })
}

/// `POST /api/metadata-key`.
pub async fn release(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Json(req): Json<MetadataKeyRequest>,
) -> ApiResult<Response> {
    let released = metakeys::release(&state, &auth.user.id, req.version).await?;
    // No key leaves without its audit row.
    let detail = format!("version {} of {}", released.version, released.current);
    Actor::Account(&auth)
        .audit(
            &state,
            ip,
            Did {
                action: "metadata_key.released",
                object: &auth.user.id,
                outcome: "ok",
                detail: &detail,
            },
        )
        .await?;
    Ok(answer(&released))
}

/// `POST /api/metadata-key/rotate`: names sealed from now on use a new key.
pub async fn rotate(State(state): St, auth: Auth, ip: ClientIp) -> ApiResult<Response> {
    let released = metakeys::rotate(&state, &auth.user.id).await?;
    let detail = format!("version {} made", released.version);
    Actor::Account(&auth)
        .audit(
            &state,
            ip,
            Did {
                action: "metadata_key.rotated",
                object: &auth.user.id,
                outcome: "ok",
                detail: &detail,
            },
        )
        .await?;
    Ok(answer(&released))
}

/// `PUT /api/objects/{id}/metadata`: 204, or 404 for anything but the owner's complete file.
pub async fn set(
    State(state): St,
    auth: Auth,
    Path(id): Path<String>,
    Json(req): Json<SetMetadataRequest>,
) -> ApiResult<StatusCode> {
    let metadata = B64
        .decode(&req.metadata)
        .map_err(|_| ApiError::bad_request("metadata must be base64"))?;
    if metadata.is_empty() || metadata.len() > MAX_METADATA_BYTES {
        return Err(ApiError::bad_request(format!(
            "encrypted metadata is 1 to {MAX_METADATA_BYTES} bytes"
        )));
    }
    if !objects::set_metadata(&state.db, &auth.user.id, &id, &metadata).await? {
        return Err(ApiError::not_found("object"));
    }
    Ok(StatusCode::NO_CONTENT)
}
