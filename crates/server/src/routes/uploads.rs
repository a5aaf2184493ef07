//! Uploads and objects: data keys from KMS, presigned multipart uploads, header verification on
//! completion, downloads, deletion, and key release to owners.
//!
//! An upload row becomes the object (same id) once S3 holds a message whose header matches what
//! was issued: suite, the one EDK and key ARN, the context, the frame length, and the exact size
//! the declared plaintext size implies.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    CONTEXT_OBJECT, CONTEXT_OWNER, CompleteUploadRequest, CreateUploadRequest,
    CreateUploadResponse, KeyResponse, MAX_METADATA_BYTES, ObjectDetails, ObjectList,
    ObjectSummary, PartUrl, SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384, UploadStatus,
};
use cipherdrop_core::{
    AlgorithmSuiteId, ContentType, DecryptLimits, EncryptedDataKey, EncryptionContext, Header,
    MAX_SIGNATURE_LEN, PUBLIC_KEY_FIELD, REGULAR_FRAME_OVERHEAD, Suite, TAG_LEN, framed_body_len,
};
use serde::Deserialize;
use sqlx::FromRow;
use zeroize::Zeroizing;

use crate::AppState;
use crate::accounts::token_hash;
use crate::audit::Event;
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::http::{Auth, ClientIp, St, session_token};

/// S3 keeps at most this many parts per upload.
pub const MAX_PARTS: u64 = 10_000;
/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Part URLs handed out with a new upload.
pub const FIRST_URLS: u32 = 64;
/// Most part URLs handed out per request.
pub const MAX_URLS_PER_REQUEST: u32 = 1000;
/// Frame lengths accepted (plaintext bytes per frame).
pub const FRAME_LENGTHS: std::ops::RangeInclusive<u32> = 1024..=(16 * 1024 * 1024);
/// The most header bytes read back from S3.
const MAX_HEADER_READ: u64 = 64 * 1024;

#[derive(FromRow)]
pub(crate) struct ObjectRow {
    pub(crate) id: String,
    pub(crate) owner_id: String,
    pub(crate) state: String,
    pub(crate) s3_key: String,
    pub(crate) s3_upload_id: String,
    pub(crate) suite: i64,
    pub(crate) frame_length: i64,
    pub(crate) plaintext_size: i64,
    pub(crate) ciphertext_size: i64,
    pub(crate) part_size: i64,
    pub(crate) part_count: i64,
    pub(crate) key_arn: String,
    pub(crate) edk: Vec<u8>,
    pub(crate) context: String,
    pub(crate) metadata: Option<Vec<u8>>,
    pub(crate) stored_size: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) completed_at: Option<i64>,
}

impl ObjectRow {
    fn context(&self) -> ApiResult<BTreeMap<String, String>> {
        serde_json::from_str(&self.context).map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "database_error",
                "stored context is unreadable",
            )
        })
    }
    pub(crate) fn kms_context(&self) -> ApiResult<HashMap<String, String>> {
        Ok(self.context()?.into_iter().collect())
    }
    fn summary(&self) -> ObjectSummary {
        ObjectSummary {
            id: self.id.clone(),
            size: to_u64(self.stored_size.unwrap_or(self.ciphertext_size)),
            plaintext_size: to_u64(self.plaintext_size),
            suite: u16::try_from(self.suite).unwrap_or(0),
            created_at: self.completed_at.unwrap_or(self.created_at),
            metadata: B64.encode(self.metadata.as_deref().unwrap_or_default()),
        }
    }
}

/// Records an event an account caused on an object (after the fact: a failure is logged).
async fn audit_object(
    state: &AppState,
    actor: &str,
    action: &str,
    object: &str,
    ip: Option<&str>,
    outcome: &str,
    detail: &str,
) {
    state
        .audit
        .record(&Event {
            actor,
            action,
            object: Some(object),
            ip,
            outcome,
            detail,
        })
        .await;
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
fn to_i64(v: u64) -> ApiResult<i64> {
    i64::try_from(v).map_err(|_| ApiError::bad_request("size out of range"))
}

/// The caller's row (404 for anyone else's, so ids do not leak).
async fn owned(state: &AppState, auth: &Auth, id: &str) -> ApiResult<ObjectRow> {
    let row: Option<ObjectRow> = sqlx::query_as("SELECT * FROM objects WHERE id = ?")
        .bind(id)
        .fetch_optional(&state.db)
        .await?;
    match row {
        Some(r) if r.owner_id == auth.user.id => Ok(r),
        _ => Err(ApiError::not_found("object or upload")),
    }
}

pub(crate) fn no_store<T: serde::Serialize>(body: &T) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// The exact size of the header the browser will write for these materials.
fn header_len(
    suite: Suite,
    context: &EncryptionContext,
    edk: &EncryptedDataKey,
    frame: u32,
) -> ApiResult<u64> {
    let header = Header {
        suite,
        message_id: [0; cipherdrop_core::MESSAGE_ID_LEN],
        encryption_context: context.clone(),
        encrypted_data_keys: vec![edk.clone()],
        content_type: ContentType::Framed,
        frame_length: frame,
        commitment: [0; cipherdrop_core::COMMITMENT_LEN],
    };
    let body = header
        .encode_body()
        .map_err(|e| ApiError::bad_request(format!("header: {e}")))?;
    Ok((body.len() + TAG_LEN) as u64)
}

/// Part size: at least S3's minimum, large enough for at most [`MAX_PARTS`] parts, a whole
/// number of MiB.
pub fn part_layout(ciphertext_size: u64) -> (u64, u64) {
    const MIB: u64 = 1024 * 1024;
    let needed = ciphertext_size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    let part_size = needed.max(MIN_PART_SIZE);
    (part_size, ciphertext_size.div_ceil(part_size).max(1))
}

async fn presign_parts(
    state: &AppState,
    row: &ObjectRow,
    first: u32,
    count: u32,
) -> ApiResult<Vec<PartUrl>> {
    let last = u32::try_from(row.part_count).unwrap_or(0);
    let mut parts = Vec::new();
    let end = first.saturating_add(count).min(last.saturating_add(1));
    for n in first.max(1)..end {
        let url = state
            .aws
            .presign_part(
                &state.config.bucket,
                &row.s3_key,
                &row.s3_upload_id,
                n,
                state.config.url_ttl,
            )
            .await?;
        parts.push(PartUrl {
            part_number: n,
            url,
        });
    }
    Ok(parts)
}

fn expires_at(state: &AppState) -> i64 {
    now() + i64::try_from(state.config.url_ttl.as_secs()).unwrap_or(0)
}

/// `POST /api/uploads`.
pub async fn create(
    State(state): St,
    ip: ClientIp,
    auth: Auth,
    Json(req): Json<CreateUploadRequest>,
) -> ApiResult<Response> {
    let suite = match req.suite {
        SUITE_COMMIT_KEY | SUITE_COMMIT_KEY_ECDSA_P384 => {
            Suite::from_id(AlgorithmSuiteId(req.suite))
                .map_err(|e| ApiError::bad_request(e.to_string()))?
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "suite 0x{other:04X} is not accepted; use 0x0478 or 0x0578"
            )));
        }
    };
    if !FRAME_LENGTHS.contains(&req.frame_length) {
        return Err(ApiError::bad_request(format!(
            "frame length must be {} to {} bytes",
            FRAME_LENGTHS.start(),
            FRAME_LENGTHS.end()
        )));
    }
    if req.plaintext_size > state.config.max_object_size {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "files up to {} bytes are accepted here; this one has {}",
                state.config.max_object_size, req.plaintext_size
            ),
        ));
    }
    let object_id = uuid::Uuid::new_v4().to_string();
    let mut context = EncryptionContext::new();
    context.insert(CONTEXT_OBJECT, object_id.clone());
    context.insert(CONTEXT_OWNER, auth.user.id.clone());
    match (suite.is_signed(), &req.public_key) {
        (true, Some(key)) => {
            let ok = B64
                .decode(key)
                .is_ok_and(|b| b.len() == 49 && matches!(b.first(), Some(2 | 3)));
            if !ok {
                return Err(ApiError::bad_request(
                    "public_key must be a base64 compressed P-384 point (49 bytes)",
                ));
            }
            context.insert(PUBLIC_KEY_FIELD, key.clone());
        }
        (true, None) => return Err(ApiError::bad_request("suite 0x0578 needs public_key")),
        (false, Some(_)) => return Err(ApiError::bad_request("suite 0x0478 takes no public_key")),
        (false, None) => {}
    }
    let kms_context: HashMap<String, String> = context
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let ip_text = ip.text();
    let event = |action: &'static str, outcome: &'static str, detail: String| {
        let state = state.clone();
        let actor = auth.user.username.clone();
        let object = object_id.clone();
        let ip_text = ip_text.clone();
        async move {
            audit_object(
                &state,
                &actor,
                action,
                &object,
                ip_text.as_deref(),
                outcome,
                &detail,
            )
            .await;
        }
    };

    let issued = state
        .aws
        .generate_data_key(&state.config.kms_key_id, &kms_context)
        .await;
    if let Err(e) = &issued {
        event("key.issued", "error", e.message.clone()).await;
    }
    let issued = issued?;
    let edk = EncryptedDataKey::aws_kms(&issued.key_arn, issued.edk.clone())
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "kms_error", e.to_string()))?;
    let body = framed_body_len(req.plaintext_size, req.frame_length)
        .ok_or_else(|| ApiError::bad_request("too many frames for this frame length"))?;
    let footer = if suite.is_signed() {
        2 + MAX_SIGNATURE_LEN as u64
    } else {
        0
    };
    let ciphertext_size = header_len(suite, &context, &edk, req.frame_length)? + body + footer;
    let (part_size, part_count) = part_layout(ciphertext_size);
    if part_count > MAX_PARTS || part_size > MAX_PART_SIZE {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "too large for S3 multipart",
        ));
    }
    let s3_key = format!("objects/{object_id}");
    let s3_upload_id = state
        .aws
        .create_multipart(&state.config.bucket, &s3_key)
        .await;
    if let Err(e) = &s3_upload_id {
        event("upload.created", "error", e.message.clone()).await;
    }
    let s3_upload_id = s3_upload_id?;
    let context_json = serde_json::to_string(&context.iter().collect::<BTreeMap<_, _>>())
        .map_err(|_| ApiError::bad_request("context"))?;
    let inserted = sqlx::query(
        "INSERT INTO objects (id, owner_id, state, s3_key, s3_upload_id, suite, frame_length,
            plaintext_size, ciphertext_size, part_size, part_count, key_arn, edk, context, created_at)
         VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&object_id)
    .bind(&auth.user.id)
    .bind(&s3_key)
    .bind(&s3_upload_id)
    .bind(i64::from(req.suite))
    .bind(i64::from(req.frame_length))
    .bind(to_i64(req.plaintext_size)?)
    .bind(to_i64(ciphertext_size)?)
    .bind(to_i64(part_size)?)
    .bind(to_i64(part_count)?)
    .bind(&issued.key_arn)
    .bind(&issued.edk)
    .bind(&context_json)
    .bind(now())
    .execute(&state.db)
    .await;
    if let Err(e) = inserted {
        let _ = state
            .aws
            .abort_multipart(&state.config.bucket, &s3_key, &s3_upload_id)
            .await;
        return Err(e.into());
    }
    let row = owned(&state, &auth, &object_id).await?;
    let parts = presign_parts(&state, &row, 1, FIRST_URLS).await?;
    event("key.issued", "ok", format!("key {}", issued.key_arn)).await;
    event(
        "upload.created",
        "ok",
        format!(
            "{} plaintext bytes, suite 0x{:04X}, {part_count} parts",
            req.plaintext_size, req.suite
        ),
    )
    .await;
    let data_key = Zeroizing::new(B64.encode(&issued.plaintext[..]));
    Ok(no_store(&CreateUploadResponse {
        upload_id: object_id.clone(),
        object_id,
        data_key: data_key.to_string(),
        key_arn: issued.key_arn.clone(),
        edk: B64.encode(&issued.edk),
        encryption_context: context
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        part_size,
        part_count: u32::try_from(part_count).unwrap_or(0),
        ciphertext_size,
        parts,
        urls_expire_at: expires_at(&state),
    }))
}

/// Which part URLs to presign.
#[derive(Deserialize)]
pub struct PartQuery {
    #[serde(default)]
    first: Option<u32>,
    #[serde(default)]
    count: Option<u32>,
}

fn status_of(state: &AppState, row: &ObjectRow, parts: Vec<PartUrl>) -> UploadStatus {
    UploadStatus {
        upload_id: row.id.clone(),
        object_id: row.id.clone(),
        state: row.state.clone(),
        part_size: to_u64(row.part_size),
        part_count: u32::try_from(row.part_count).unwrap_or(0),
        parts,
        urls_expire_at: expires_at(state),
    }
}

/// `GET /api/uploads/{id}`.
pub async fn status(
    State(state): St,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<UploadStatus>> {
    let row = owned(&state, &auth, &id).await?;
    Ok(Json(status_of(&state, &row, Vec::new())))
}

/// `GET /api/uploads/{id}/parts?first=&count=`: more presigned part URLs.
pub async fn part_urls(
    State(state): St,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<PartQuery>,
) -> ApiResult<Json<UploadStatus>> {
    let row = owned(&state, &auth, &id).await?;
    if row.state != "pending" {
        return Err(ApiError::conflict(format!(
            "the upload is {}, not pending",
            row.state
        )));
    }
    let count = q.count.unwrap_or(FIRST_URLS).min(MAX_URLS_PER_REQUEST);
    let parts = presign_parts(&state, &row, q.first.unwrap_or(1), count).await?;
    Ok(Json(status_of(&state, &row, parts)))
}

/// Checks the header S3 now holds against what was issued, and the object's size against the
/// declared plaintext size. `Err` says what differs.
fn check_object(row: &ObjectRow, prefix: &[u8], size: u64) -> Result<(), String> {
    let (header, body_start) = Header::parse(prefix, &DecryptLimits::default())
        .map_err(|e| format!("the object does not start with a valid ESDK v2 header ({e})"))?;
    if i64::from(header.suite.id().0) != row.suite {
        return Err(format!(
            "suite is 0x{:04X}, not the one issued",
            header.suite.id().0
        ));
    }
    match header.encrypted_data_keys.as_slice() {
        [edk] if edk.ciphertext == row.edk && edk.kms_key_arn() == Some(row.key_arn.as_str()) => {}
        _ => return Err("the encrypted data keys are not exactly the one issued".into()),
    }
    let issued: BTreeMap<String, String> =
        serde_json::from_str(&row.context).map_err(|_| "stored context unreadable".to_owned())?;
    let found: BTreeMap<String, String> = header
        .encryption_context
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if found != issued {
        return Err("the encryption context differs from the one issued".into());
    }
    if header.content_type != ContentType::Framed
        || i64::from(header.frame_length) != row.frame_length
    {
        return Err("framing differs from the one declared".into());
    }
    let frame = u32::try_from(row.frame_length).map_err(|_| "frame length".to_owned())?;
    let plain = to_u64(row.plaintext_size);
    let body = framed_body_len(plain, frame).ok_or("frame count")?;
    let header_total = (body_start + TAG_LEN) as u64;
    let mut bodies = vec![body];
    if plain > 0 && plain.is_multiple_of(u64::from(frame)) {
        bodies.push(body - REGULAR_FRAME_OVERHEAD as u64);
    }
    let footers = if header.suite.is_signed() {
        // A DER ECDSA P-384 signature is at most 104 bytes; shorter ones are rare but valid.
        (2 + 8)..=(2 + MAX_SIGNATURE_LEN as u64)
    } else {
        0..=0
    };
    let fits = bodies.iter().any(|b| {
        size.checked_sub(header_total + b)
            .is_some_and(|footer| footers.contains(&footer))
    });
    if !fits {
        return Err(format!(
            "the object is {size} bytes, which does not match {plain} plaintext bytes in frames of {frame}"
        ));
    }
    Ok(())
}

/// `POST /api/uploads/{id}/complete`.
pub async fn complete(
    State(state): St,
    ip: ClientIp,
    auth: Auth,
    Path(id): Path<String>,
    Json(req): Json<CompleteUploadRequest>,
) -> ApiResult<Json<ObjectSummary>> {
    let row = owned(&state, &auth, &id).await?;
    if row.state != "pending" {
        return Err(ApiError::conflict(format!(
            "the upload is {}, not pending",
            row.state
        )));
    }
    let metadata = B64
        .decode(&req.metadata)
        .map_err(|_| ApiError::bad_request("metadata must be base64"))?;
    if metadata.len() > MAX_METADATA_BYTES {
        return Err(ApiError::bad_request(format!(
            "encrypted metadata is limited to {MAX_METADATA_BYTES} bytes"
        )));
    }
    let expected = to_u64(row.part_count);
    let n = req.parts.len() as u64;
    let count_ok = n == expected
        || (row.suite == i64::from(SUITE_COMMIT_KEY_ECDSA_P384) && n + 1 == expected && n > 0);
    let numbered = req
        .parts
        .iter()
        .enumerate()
        .all(|(i, p)| p.part_number as usize == i + 1);
    if !count_ok || !numbered {
        return Err(ApiError::bad_request(format!(
            "list parts 1 to {expected} in order, each with the ETag S3 answered"
        )));
    }
    let parts: Vec<(u32, String)> = req
        .parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone()))
        .collect();
    let bucket = &state.config.bucket;
    let ip_text = ip.text();
    let completed = state
        .aws
        .complete_multipart(bucket, &row.s3_key, &row.s3_upload_id, &parts)
        .await?;
    let size = state.aws.object_size(bucket, &row.s3_key).await?;
    let Some(size) = size else {
        if completed {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "s3_error",
                "S3 completed the upload but has no object",
            ));
        }
        return Err(ApiError::conflict(
            "S3 no longer knows this upload (it was aborted or expired); start a new upload",
        ));
    };
    let prefix = state
        .aws
        .read_prefix(bucket, &row.s3_key, size.min(MAX_HEADER_READ))
        .await?;
    if let Err(reason) = check_object(&row, &prefix, size) {
        state.aws.delete_object(bucket, &row.s3_key).await?;
        sqlx::query("UPDATE objects SET state = 'rejected' WHERE id = ? AND state = 'pending'")
            .bind(&row.id)
            .execute(&state.db)
            .await?;
        audit_object(
            &state,
            &auth.user.username,
            "upload.completed",
            &row.id,
            ip_text.as_deref(),
            "denied",
            &reason,
        )
        .await;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "header_mismatch",
            format!("the uploaded object was deleted: {reason}"),
        ));
    }
    sqlx::query(
        "UPDATE objects SET state = 'complete', metadata = ?, stored_size = ?, completed_at = ?
         WHERE id = ? AND state = 'pending'",
    )
    .bind(&metadata)
    .bind(to_i64(size)?)
    .bind(now())
    .bind(&row.id)
    .execute(&state.db)
    .await?;
    audit_object(
        &state,
        &auth.user.username,
        "upload.completed",
        &row.id,
        ip_text.as_deref(),
        "ok",
        &format!("{size} bytes, header verified"),
    )
    .await;
    let row = owned(&state, &auth, &id).await?;
    Ok(Json(row.summary()))
}

/// Aborts a pending upload in S3 and marks it aborted.
pub(crate) async fn abort_row(
    state: &AppState,
    id: &str,
    s3_key: &str,
    s3_upload_id: &str,
) -> ApiResult<()> {
    state
        .aws
        .abort_multipart(&state.config.bucket, s3_key, s3_upload_id)
        .await?;
    sqlx::query("UPDATE objects SET state = 'aborted' WHERE id = ? AND state = 'pending'")
        .bind(id)
        .execute(&state.db)
        .await?;
    Ok(())
}

/// `POST /api/uploads/{id}/abort`.
pub async fn abort(
    State(state): St,
    ip: ClientIp,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let row = owned(&state, &auth, &id).await?;
    if row.state != "pending" {
        return Err(ApiError::conflict(format!(
            "the upload is {}, not pending",
            row.state
        )));
    }
    abort_row(&state, &row.id, &row.s3_key, &row.s3_upload_id).await?;
    audit_object(
        &state,
        &auth.user.username,
        "upload.aborted",
        &row.id,
        ip.text().as_deref(),
        "ok",
        "by owner",
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/objects`.
pub async fn list(State(state): St, auth: Auth) -> ApiResult<Json<ObjectList>> {
    let rows: Vec<ObjectRow> = sqlx::query_as(
        "SELECT * FROM objects WHERE owner_id = ? AND state = 'complete' ORDER BY completed_at DESC, id",
    )
    .bind(&auth.user.id)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(ObjectList {
        objects: rows.iter().map(ObjectRow::summary).collect(),
    }))
}

async fn owned_complete(state: &AppState, auth: &Auth, id: &str) -> ApiResult<ObjectRow> {
    let row = owned(state, auth, id).await?;
    if row.state == "complete" {
        Ok(row)
    } else {
        Err(ApiError::not_found("object"))
    }
}

/// `GET /api/objects/{id}`.
pub async fn details(State(state): St, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let row = owned_complete(&state, &auth, &id).await?;
    let download_url = state
        .aws
        .presign_get(&state.config.bucket, &row.s3_key, state.config.url_ttl)
        .await?;
    Ok(no_store(&ObjectDetails {
        object: row.summary(),
        encryption_context: row.context()?,
        key_arn: row.key_arn.clone(),
        download_url,
        url_expires_at: expires_at(&state),
    }))
}

/// `DELETE /api/objects/{id}`: from S3, then from the database.
pub async fn delete(
    State(state): St,
    ip: ClientIp,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let row = owned_complete(&state, &auth, &id).await?;
    state
        .aws
        .delete_object(&state.config.bucket, &row.s3_key)
        .await?;
    sqlx::query("DELETE FROM objects WHERE id = ?")
        .bind(&row.id)
        .execute(&state.db)
        .await?;
    audit_object(
        &state,
        &auth.user.username,
        "object.deleted",
        &row.id,
        ip.text().as_deref(),
        "ok",
        "",
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// An object row with its owner's name, as key release reads it.
#[derive(FromRow)]
struct OwnedRow {
    #[sqlx(flatten)]
    row: ObjectRow,
    username: String,
}

/// `POST /api/objects/{id}/key`: KMS `Decrypt` of the stored EDK with the stored context.
///
/// The hot path: one query checks the session and the ownership together; only a refusal pays
/// for telling "not logged in" (401) from "not yours" (404).
pub async fn release_key(
    State(state): St,
    ip: ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let found: Option<OwnedRow> = match session_token(&headers) {
        Some(token) => {
            sqlx::query_as(
                "SELECT o.*, u.username FROM sessions s
                 JOIN users u ON u.id = s.user_id
                 JOIN objects o ON o.owner_id = u.id
                 WHERE s.token_hash = ? AND s.expires_at > ? AND o.id = ? AND o.state = 'complete'",
            )
            .bind(token_hash(&token))
            .bind(now())
            .bind(&id)
            .fetch_optional(&state.db)
            .await?
        }
        None => None,
    };
    let Some(OwnedRow { row, username }) = found else {
        let auth = Auth::from_headers(&state, &headers).await?;
        // Refusals are audited too: someone asked for a key that is not theirs.
        state
            .audit
            .append(&Event {
                actor: &auth.user.username,
                action: "key.released",
                object: Some(&id),
                ip: ip.text().as_deref(),
                outcome: "denied",
                detail: "not the owner, or no such object",
            })
            .await?;
        return Err(ApiError::not_found("object"));
    };
    let result = state
        .aws
        .decrypt_data_key(&row.key_arn, &row.edk, &row.kms_context()?)
        .await;
    let (outcome, detail) = match &result {
        Ok(_) => ("ok", "to owner".to_owned()),
        Err(e) => ("error", e.message.clone()),
    };
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
    let key = result?;
    let data_key = Zeroizing::new(B64.encode(&key[..]));
    Ok(no_store(&KeyResponse {
        data_key: data_key.to_string(),
        key_arn: row.key_arn,
    }))
}
