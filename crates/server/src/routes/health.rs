//! `GET /healthz` (the process is up) and `GET /readyz` (it can serve: see [`crate::health`]),
//! outside `/api`, for load balancers; never cached. And `GET /metrics` of the metrics
//! listener (see [`crate::metrics`]).

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

/// `GET /metrics` (the metrics listener only): the gauges read now, then every metric.
pub async fn metrics(State(state): St) -> Response {
    let m = crate::metrics::metrics();
    let (running, waiting) = state.hashing.load();
    m.hashes_running
        .set(i64::try_from(running).unwrap_or(i64::MAX));
    m.hashes_waiting
        .set(i64::try_from(waiting).unwrap_or(i64::MAX));
    m.db_connections.set(i64::from(state.db.pool().size()));
    m.db_idle
        .set(i64::try_from(state.db.pool().num_idle()).unwrap_or(i64::MAX));
    let counts: Result<(i64, i64, i64, i64), sqlx::Error> = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM objects WHERE state = 'pending'),
                (SELECT COUNT(*) FROM rekey_jobs WHERE state IN ('queued', 'running')),
                (SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL),
                (SELECT COUNT(*) FROM mail_outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL)",
    )
    .fetch_one(&state.db)
    .await;
    match counts {
        Ok((pending, rekey, outbox, mail)) => {
            m.pending_uploads.set(pending);
            m.rekey_open.set(rekey);
            m.outbox_waiting.set(outbox);
            m.mail_waiting.set(mail);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: counting pending uploads failed"),
    }
    (
        [
            (
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        m.encode(),
    )
        .into_response()
}
