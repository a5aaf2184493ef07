//! Administration over HTTP (administrators only): paging through the audit log, the KMS keys
//! stored data is under, each account's own key, and key rotation jobs.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cipherdrop_api::{
    AccountKey, AuditPage, CreateRekeyRequest, KeyInUse, KeysOverview, REKEY_DEFAULT_RATE,
    REKEY_MAX_RATE, RekeyCreated, RekeyPreview, SetAccountKeyRequest,
};
use serde::Deserialize;

use crate::actor::{Actor, Did};
use crate::audit;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, ClientIp, St};
use crate::objects::to_u64;
use crate::rekey;

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
    admin_only(&auth, "read the audit log")?;
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

/// 403 unless the caller is an administrator, saying what only they may do.
fn admin_only(auth: &Auth, what: &str) -> ApiResult<()> {
    if auth.user.is_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "only administrators may {what}"
        )))
    }
}

/// Every account: (id, name, own key).
async fn accounts(
    state: &crate::state::AppState,
) -> ApiResult<Vec<(String, String, Option<String>)>> {
    Ok(
        sqlx::query_as("SELECT id, username, kms_key_id FROM users ORDER BY username")
            .fetch_all(&state.db)
            .await?,
    )
}

/// `GET /api/admin/keys`: the keys stored data is under, the accounts' keys, the jobs.
pub async fn keys(State(state): St, auth: Auth) -> ApiResult<Json<KeysOverview>> {
    admin_only(&auth, "manage keys")?;
    let users = accounts(&state).await?;
    let names: HashMap<String, String> = users
        .iter()
        .map(|(id, name, _)| (id.clone(), name.clone()))
        .collect();
    Ok(Json(KeysOverview {
        server_key: state.config.kms_key_id.clone(),
        keys: rekey::keys_in_use(&state.db)
            .await?
            .into_iter()
            .map(|(arn, files)| KeyInUse {
                arn,
                files: to_u64(files),
            })
            .collect(),
        accounts: users
            .into_iter()
            .map(|(_, username, kms_key_id)| AccountKey {
                username,
                kms_key_id,
            })
            .collect(),
        jobs: rekey::jobs(&state.db)
            .await?
            .into_iter()
            .map(|j| {
                let name = j.account_id.as_ref().and_then(|id| names.get(id).cloned());
                j.to_api(name)
            })
            .collect(),
    }))
}

/// `POST /api/admin/rekey`: what a rotation would move and, unless a dry run, the job recorded
/// (a server replica runs it).
pub async fn start_rekey(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Json(req): Json<CreateRekeyRequest>,
) -> ApiResult<Json<RekeyCreated>> {
    admin_only(&auth, "manage keys")?;
    let from = rekey::stored_key(&state.db, &req.from)
        .await?
        .map_err(ApiError::bad_request)?;
    let users = accounts(&state).await?;
    let account_id = match &req.account {
        Some(name) => Some(
            users
                .iter()
                .find(|(_, n, _)| n == name)
                .map(|(id, ..)| id.clone())
                .ok_or_else(|| ApiError::not_found("account"))?,
        ),
        None => None,
    };
    let left = rekey::remaining(&state.db, &from, account_id.as_deref(), None).await?;
    let preview = RekeyPreview {
        files: to_u64(left.files),
        bytes: to_u64(left.bytes),
        keys: to_u64(left.keys),
        pending: to_u64(left.pending),
    };
    if req.dry_run {
        return Ok(Json(RekeyCreated { preview, job: None }));
    }
    let rate = req.kms_rate.unwrap_or(REKEY_DEFAULT_RATE);
    if !(1..=REKEY_MAX_RATE).contains(&rate) {
        return Err(ApiError::bad_request(format!(
            "the KMS rate is 1 to {REKEY_MAX_RATE} requests per second"
        )));
    }
    let row = rekey::create(&state.db, &from, req.to.trim(), account_id.as_deref(), rate).await?;
    let detail = format!(
        "from {from} to {}{}, at most {rate} KMS requests per second",
        row.to_key,
        req.account
            .as_deref()
            .map(|a| format!(" for {a}"))
            .unwrap_or_default()
    );
    Actor::Account(&auth)
        .audit(
            &state,
            ip,
            Did {
                action: "rekey.created",
                object: &row.id,
                outcome: "ok",
                detail: &detail,
            },
        )
        .await?;
    Ok(Json(RekeyCreated {
        preview,
        job: Some(row.to_api(req.account.clone())),
    }))
}

/// `PUT /api/admin/users/{name}/key`: an account's own KMS key for new data keys, or the
/// server's again.
pub async fn set_account_key(
    State(state): St,
    auth: Auth,
    Path(name): Path<String>,
    Json(req): Json<SetAccountKeyRequest>,
) -> ApiResult<StatusCode> {
    admin_only(&auth, "manage keys")?;
    let key = req
        .kms_key_id
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty());
    crate::accounts::set_account_key(&state.db, &auth.user.username, &name, key).await?;
    Ok(StatusCode::NO_CONTENT)
}
