//! `GET /healthz` (the process is up) and `GET /readyz` (it can serve: see [`crate::health`]),
//! outside `/api`, for load balancers; never cached.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::extract::St;

/// `GET /healthz`: 200 while the process runs.
pub async fn healthz() -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "status": "up" })),
    )
        .into_response()
}

/// `GET /readyz`: 200 when the database, KMS and S3 answered and the replica is not draining;
/// else 503, naming what failed.
pub async fn readyz(State(state): St) -> Response {
    let r = state
        .health
        .readiness(
            &state.db,
            &state.aws,
            &state.config.kms_key_id,
            &state.config.bucket,
        )
        .await;
    let status = if r.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(r)).into_response()
}
