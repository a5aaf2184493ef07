//! Administration over HTTP: paging through the audit log (administrators only).

use axum::Json;
use axum::extract::{Query, State};
use cipherdrop_api::AuditPage;
use serde::Deserialize;

use crate::audit;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, St};

/// Paging of the audit log.
#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: u32,
}
fn default_limit() -> u32 {
    100
}

/// `GET /api/admin/audit?after=&limit=` (admins only).
pub async fn audit_page(
    State(state): St,
    auth: Auth,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    if !auth.user.is_admin {
        return Err(ApiError::forbidden(
            "only administrators may read the audit log",
        ));
    }
    let limit = q.limit.clamp(1, 1000);
    let entries = audit::page(&state.db, q.after, limit).await?;
    let next_after = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(AuditPage {
        entries,
        next_after,
    }))
}
