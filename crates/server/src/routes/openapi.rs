//! The OpenAPI 3.1 document of the API, served at `/api/openapi.json`: the schemas, and the paths
//! made from the router's own table (`table.rs`), so the two cannot drift. The endpoint tests walk
//! its paths.

use axum::Json;
use serde_json::{Value, json};

use super::table::Access;

fn op(
    summary: &str,
    access: Access,
    request: Option<&str>,
    response: Option<&str>,
    no_store: bool,
) -> Value {
    let mut responses = serde_json::Map::new();
    let ok = match response {
        Some(schema) => json!({
            "description": "OK",
            "headers": if no_store { json!({"Cache-Control": {"schema": {"type": "string", "const": "no-store"}}}) } else { json!({}) },
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
        }),
        None => json!({"description": "Done, no content"}),
    };
    responses.insert(if response.is_some() { "200" } else { "204" }.into(), ok);
    responses.insert(
        "default".into(),
        json!({
            "description": "Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        }),
    );
    let security = match access {
        Access::Public => json!([]),
        Access::Session => json!([{"session": []}]),
        Access::Token(scope) => json!([{"session": []}, {"token": [scope.as_str()]}]),
    };
    let mut o = serde_json::Map::new();
    o.insert("summary".into(), json!(summary));
    o.insert("responses".into(), Value::Object(responses));
    o.insert("security".into(), security);
    if let Some(schema) = request {
        o.insert(
            "requestBody".into(),
            json!({
                "required": true,
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
            }),
        );
    }
    Value::Object(o)
}

fn id_param() -> Value {
    json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}])
}

fn object(props: &[(&str, Value)], required: &[&str]) -> Value {
    let mut p = serde_json::Map::new();
    for (k, v) in props {
        p.insert((*k).to_owned(), v.clone());
    }
    json!({"type": "object", "properties": p, "required": required})
}

fn s() -> Value {
    json!({"type": "string"})
}
fn b64() -> Value {
    json!({"type": "string", "contentEncoding": "base64"})
}
fn int() -> Value {
    json!({"type": "integer", "minimum": 0})
}
fn map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}
fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The document: the schemas below, and a path entry for every route of the router's table.
pub fn spec() -> Value {
    let mut doc = base();
    let mut paths = serde_json::Map::new();
    for e in super::table::endpoints() {
        let d = &e.doc;
        let mut operation = op(d.summary, e.access, d.request, d.response, d.no_store);
        if let (Some(query), Some(o)) = (d.query, operation.as_object_mut()) {
            o.insert("parameters".into(), query());
        }
        let item = paths
            .entry(format!("/api{}", e.path))
            .or_insert_with(|| json!({}));
        if let Some(item) = item.as_object_mut() {
            if e.path.contains("{id}") {
                item.insert("parameters".into(), id_param());
            }
            item.insert(e.method.as_str().to_ascii_lowercase(), operation);
        }
    }
    if let Some(d) = doc.as_object_mut() {
        d.insert("paths".into(), Value::Object(paths));
    }
    doc
}

fn base() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "cipherdrop",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Client-side envelope encryption: the server issues KMS data keys and presigned S3 URLs; browsers encrypt (AWS Encryption SDK message format v2) and upload ciphertext straight to S3. State-changing requests must be same-origin."
        },
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": crate::extract::SESSION_COOKIE},
                "token": {"type": "http", "scheme": "bearer", "description": "An API token (`cdt_…`) for scripts, with scopes read, write and share; an operation lists the scope it needs. Operations without a token requirement take the page's session only."}
            },
            "schemas": {
                "OpenApiDocument": {"type": "object", "description": "An OpenAPI 3.1 document"},
                "ErrorBody": object(&[("error", s()), ("message", s())], &["error", "message"]),
                "LoginRequest": object(&[("username", s()), ("password", s())], &["username", "password"]),
                "LinkLoginRequest": object(&[("token", s())], &["token"]),
                "SetPasswordRequest": object(&[("current_password", s()), ("new_password", json!({"type": "string", "minLength": crate::accounts::MIN_PASSWORD_LEN}))], &["new_password"]),
                "Usage": object(&[("pending_uploads", int()), ("pending_uploads_limit", int()), ("pending_bytes", int()), ("pending_bytes_limit", int()), ("stored_bytes", int()), ("stored_bytes_limit", int())], &["pending_uploads", "pending_uploads_limit", "pending_bytes", "pending_bytes_limit", "stored_bytes", "stored_bytes_limit"]),
                "CreateTokenRequest": object(&[("name", json!({"type": "string", "minLength": 1, "maxLength": cipherdrop_api::TOKEN_MAX_NAME})), ("scopes", json!({"type": "array", "items": {"type": "string", "enum": cipherdrop_api::TOKEN_SCOPES}})), ("expires_in_days", json!({"type": "integer", "minimum": 1, "maximum": cipherdrop_api::TOKEN_MAX_DAYS, "default": cipherdrop_api::TOKEN_DEFAULT_DAYS}))], &["name", "scopes"]),
                "TokenSummary": object(&[("id", s()), ("name", s()), ("scopes", json!({"type": "array", "items": s()})), ("created_at", int()), ("expires_at", int()), ("last_used_at", int()), ("revoked_at", int())], &["id", "name", "scopes", "created_at", "expires_at"]),
                "TokenCreated": object(&[("token", r("TokenSummary")), ("secret", s())], &["token", "secret"]),
                "TokenList": object(&[("tokens", json!({"type": "array", "items": r("TokenSummary")}))], &["tokens"]),
                "CreateWebhookRequest": object(&[("url", json!({"type": "string", "maxLength": cipherdrop_api::WEBHOOK_MAX_URL}))], &["url"]),
                "DeliverySummary": object(&[("id", s()), ("event", s()), ("created_at", int()), ("attempts", int()), ("delivered_at", int()), ("last_error", s()), ("gave_up_at", int())], &["id", "event", "created_at", "attempts"]),
                "WebhookSummary": object(&[("id", s()), ("url", s()), ("created_at", int()), ("pending", int()), ("deliveries", json!({"type": "array", "items": r("DeliverySummary")}))], &["id", "url", "created_at", "pending", "deliveries"]),
                "WebhookCreated": object(&[("webhook", r("WebhookSummary")), ("secret", s())], &["webhook", "secret"]),
                "WebhookList": object(&[("webhooks", json!({"type": "array", "items": r("WebhookSummary")}))], &["webhooks"]),
                "EventChoice": object(&[("event", json!({"type": "string", "enum": cipherdrop_api::NOTIFY_EVENTS.map(|(e, ..)| e)})), ("channels", json!({"type": "array", "items": {"type": "string", "enum": ["badge", "email", "webhook"]}}))], &["event", "channels"]),
                "Notifications": object(&[("email", s()), ("email_pending", s()), ("email_available", json!({"type": "boolean"})), ("events", json!({"type": "array", "items": r("EventChoice")}))], &["email_available", "events"]),
                "UpdateNotifications": object(&[("email", json!({"type": "string", "maxLength": cipherdrop_api::EMAIL_MAX})), ("events", json!({"type": "array", "items": r("EventChoice")}))], &[]),
                "ConfirmEmail": object(&[("code", s())], &["code"]),
                "Me": object(&[("id", s()), ("username", s()), ("is_admin", json!({"type": "boolean"})), ("must_set_password", json!({"type": "boolean"})), ("default_suite", json!({"type": "integer", "enum": [0x0478, 0x0578]}))], &["id", "username", "is_admin", "must_set_password", "default_suite"]),
                "CreateUploadRequest": object(&[("plaintext_size", int()), ("suite", json!({"type": "integer", "enum": [0x0478, 0x0578]})), ("frame_length", int()), ("public_key", b64())], &["plaintext_size", "suite", "frame_length"]),
                "PartUrl": object(&[("part_number", int()), ("url", s())], &["part_number", "url"]),
                "CreateUploadResponse": object(&[("upload_id", s()), ("object_id", s()), ("data_key", b64()), ("key_arn", s()), ("edk", b64()), ("encryption_context", map()), ("part_size", int()), ("part_count", int()), ("ciphertext_size", int()), ("parts", json!({"type": "array", "items": r("PartUrl")})), ("urls_expire_at", int()), ("abandon_at", int())], &["upload_id", "object_id", "data_key", "key_arn", "edk", "encryption_context", "part_size", "part_count", "ciphertext_size", "parts", "urls_expire_at"]),
                "UploadStatus": object(&[("upload_id", s()), ("object_id", s()), ("state", json!({"type": "string", "enum": ["pending", "complete", "aborted", "rejected"]})), ("part_size", int()), ("part_count", int()), ("parts", json!({"type": "array", "items": r("PartUrl")})), ("urls_expire_at", int()), ("suite", int()), ("frame_length", int()), ("plaintext_size", int()), ("ciphertext_size", int()), ("stored", json!({"type": "array", "items": r("StoredPart")})), ("abandon_at", int())], &["upload_id", "state", "part_size", "part_count", "parts"]),
                "StoredPart": object(&[("part_number", int()), ("size", int()), ("etag", s())], &["part_number", "size"]),
                "PendingKeyResponse": object(&[("data_key", b64()), ("key_arn", s()), ("edk", b64()), ("encryption_context", map())], &["data_key", "key_arn", "edk", "encryption_context"]),
                "CompletedPart": object(&[("part_number", int()), ("etag", s())], &["part_number", "etag"]),
                "CompleteUploadRequest": object(&[("parts", json!({"type": "array", "items": r("CompletedPart")})), ("metadata", b64())], &["parts", "metadata"]),
                "ObjectSummary": object(&[("id", s()), ("size", int()), ("plaintext_size", int()), ("suite", int()), ("created_at", int()), ("metadata", b64()), ("new_downloads", int()), ("request_id", s())], &["id", "size", "plaintext_size", "suite", "created_at", "metadata"]),
                "ObjectList": object(&[("objects", json!({"type": "array", "items": r("ObjectSummary")}))], &["objects"]),
                "ObjectDetails": {"allOf": [r("ObjectSummary"), object(&[("encryption_context", map()), ("key_arn", s()), ("download_url", s()), ("url_expires_at", int())], &["encryption_context", "key_arn", "download_url", "url_expires_at"])]},
                "MetadataKeyRequest": object(&[("version", json!({"type": "integer", "minimum": 1}))], &[]),
                "MetadataKeyResponse": object(&[("version", int()), ("current", int()), ("key", b64())], &["version", "current", "key"]),
                "SetMetadataRequest": object(&[("metadata", json!({"type": "string", "contentEncoding": "base64", "description": format!("At most {} bytes decoded", cipherdrop_api::MAX_METADATA_BYTES)}))], &["metadata"]),
                "CreateRequestRequest": object(&[("title", json!({"type": "string", "minLength": 1, "maxLength": cipherdrop_api::REQUEST_MAX_TITLE})), ("message", json!({"type": "string", "maxLength": cipherdrop_api::REQUEST_MAX_MESSAGE})), ("expires_in_secs", json!({"type": "integer", "minimum": cipherdrop_api::REQUEST_MIN_SECS, "maximum": cipherdrop_api::REQUEST_MAX_SECS, "default": cipherdrop_api::REQUEST_DEFAULT_SECS})), ("max_files", json!({"type": "integer", "minimum": 1, "maximum": cipherdrop_api::REQUEST_MAX_FILES})), ("max_bytes", json!({"type": "integer", "minimum": 1})), ("passphrase", json!({"type": "string", "minLength": cipherdrop_api::SHARE_MIN_PASSPHRASE})), ("ask_sender", json!({"type": "boolean"}))], &["title", "max_files", "max_bytes"]),
                "RequestSummary": object(&[("id", s()), ("title", s()), ("message", s()), ("created_at", int()), ("expires_at", int()), ("closed_at", int()), ("max_files", int()), ("max_bytes", int()), ("files", int()), ("bytes", int()), ("has_passphrase", json!({"type": "boolean"})), ("ask_sender", json!({"type": "boolean"})), ("new_files", int())], &["id", "title", "created_at", "expires_at", "max_files", "max_bytes", "files", "bytes", "has_passphrase", "ask_sender", "new_files"]),
                "RequestCreated": object(&[("request", r("RequestSummary")), ("token", s())], &["request", "token"]),
                "RequestList": object(&[("requests", json!({"type": "array", "items": r("RequestSummary")}))], &["requests"]),
                "UpdateRequestRequest": object(&[("expires_in_secs", int()), ("closed", json!({"type": "boolean"}))], &[]),
                "RequestInfo": object(&[("title", s()), ("message", s()), ("expires_at", int()), ("files_left", int()), ("bytes_left", int()), ("needs_passphrase", json!({"type": "boolean"})), ("ask_sender", json!({"type": "boolean"}))], &["title", "expires_at", "files_left", "bytes_left", "needs_passphrase", "ask_sender"]),
                "SenderUploadRequest": object(&[("token", s()), ("passphrase", s()), ("upload", r("CreateUploadRequest"))], &["token", "upload"]),
                "SenderUploadResponse": object(&[("upload", r("CreateUploadResponse")), ("sender_secret", s())], &["upload", "sender_secret"]),
                "SenderPartsRequest": object(&[("sender_secret", s()), ("first", int()), ("count", json!({"type": "integer", "maximum": 1000})), ("length", int())], &["sender_secret"]),
                "SenderCompleteRequest": object(&[("sender_secret", s()), ("parts", json!({"type": "array", "items": r("CompletedPart")})), ("metadata", b64())], &["sender_secret", "parts", "metadata"]),
                "SenderAbortRequest": object(&[("sender_secret", s())], &["sender_secret"]),
                "SenderReceipt": object(&[("reference", s()), ("size", int()), ("plaintext_size", int())], &["reference", "size", "plaintext_size"]),
                "KeyResponse": object(&[("data_key", b64()), ("key_arn", s())], &["data_key", "key_arn"]),
                "AuditEntry": object(&[("id", int()), ("time_ms", int()), ("actor", s()), ("action", s()), ("object", s()), ("ip", s()), ("outcome", s()), ("detail", s()), ("prev_hash", s()), ("hash", s())], &["id", "time_ms", "actor", "action", "outcome", "detail", "prev_hash", "hash"]),
                "KeyInUse": object(&[("arn", s()), ("files", int())], &["arn", "files"]),
                "AccountKey": object(&[("username", s()), ("kms_key_id", s())], &["username"]),
                "RekeyJob": object(&[("id", s()), ("from_key", s()), ("to_key", s()), ("account", s()), ("state", json!({"type": "string", "enum": ["queued", "running", "done", "failed"]})), ("kms_rate", int()), ("created_at", int()), ("started_at", int()), ("finished_at", int()), ("files_total", int()), ("bytes_total", int()), ("files_done", int()), ("bytes_done", int()), ("files_failed", int()), ("keys_done", int()), ("waiting", int()), ("message", s())], &["id", "from_key", "to_key", "state", "kms_rate", "created_at", "files_total", "bytes_total", "files_done", "bytes_done", "files_failed", "keys_done", "waiting", "message"]),
                "KeysOverview": object(&[("server_key", s()), ("keys", json!({"type": "array", "items": r("KeyInUse")})), ("accounts", json!({"type": "array", "items": r("AccountKey")})), ("jobs", json!({"type": "array", "items": r("RekeyJob")}))], &["server_key", "keys", "accounts", "jobs"]),
                "CreateRekeyRequest": object(&[("from", s()), ("to", json!({"type": "string", "maxLength": 2048})), ("account", s()), ("kms_rate", json!({"type": "integer", "minimum": 1, "maximum": cipherdrop_api::REKEY_MAX_RATE, "default": cipherdrop_api::REKEY_DEFAULT_RATE})), ("dry_run", json!({"type": "boolean"}))], &["from"]),
                "RekeyPreview": object(&[("files", int()), ("bytes", int()), ("keys", int()), ("pending", int())], &["files", "bytes", "keys", "pending"]),
                "RekeyCreated": object(&[("preview", r("RekeyPreview")), ("job", r("RekeyJob"))], &["preview"]),
                "SetAccountKeyRequest": object(&[("kms_key_id", json!({"type": "string", "maxLength": 2048}))], &[]),
                "AuditPage": object(&[("entries", json!({"type": "array", "items": r("AuditEntry")})), ("next_after", int())], &["entries"]),
                "CreateShareRequest": object(&[("id", json!({"type": "string", "format": "uuid"})), ("sealed_key", b64()), ("expires_in_secs", json!({"type": "integer", "minimum": cipherdrop_api::SHARE_MIN_SECS, "maximum": cipherdrop_api::SHARE_MAX_SECS, "default": cipherdrop_api::SHARE_DEFAULT_SECS})), ("max_downloads", json!({"type": "integer", "minimum": 1, "maximum": cipherdrop_api::SHARE_MAX_DOWNLOADS})), ("passphrase", json!({"type": "string", "minLength": cipherdrop_api::SHARE_MIN_PASSPHRASE})), ("note", json!({"type": "string", "maxLength": 1000})), ("delete_after_last", json!({"type": "boolean"})), ("metadata", b64()), ("items", json!({"type": "array", "maxItems": cipherdrop_api::SHARE_MAX_FILES, "items": r("ShareItemRequest")})), ("view_only", json!({"type": "boolean"}))], &["id"]),
                "ShareItemRequest": object(&[("object_id", json!({"type": "string", "format": "uuid"})), ("sealed_key", b64()), ("metadata", b64())], &["object_id", "sealed_key", "metadata"]),
                "ShareItemInfo": object(&[("object_id", s()), ("size", int()), ("plaintext_size", int()), ("suite", int()), ("metadata", b64())], &["object_id", "size", "plaintext_size", "suite", "metadata"]),
                "ShareItemKey": object(&[("object_id", s()), ("sealed_key", b64()), ("key_arn", s()), ("download_url", s())], &["object_id", "sealed_key", "key_arn", "download_url"]),
                "ShareSummary": object(&[("id", s()), ("object_id", s()), ("created_at", int()), ("expires_at", int()), ("max_downloads", int()), ("downloads", int()), ("has_passphrase", json!({"type": "boolean"})), ("note", s()), ("delete_after_last", json!({"type": "boolean"})), ("revoked_at", int()), ("retired", json!({"type": "boolean"})), ("last_used_at", int()), ("new_downloads", int()), ("files", int()), ("view_only", json!({"type": "boolean"}))], &["id", "object_id", "created_at", "expires_at", "downloads", "has_passphrase", "delete_after_last"]),
                "ShareCreated": object(&[("share", r("ShareSummary")), ("token", s())], &["share", "token"]),
                "ShareList": object(&[("shares", json!({"type": "array", "items": r("ShareSummary")}))], &["shares"]),
                "UpdateShareRequest": object(&[("expires_in_secs", int()), ("max_downloads", int()), ("unlimited", json!({"type": "boolean"}))], &[]),
                "ShareTokenRequest": object(&[("token", s()), ("passphrase", s())], &["token"]),
                "ShareInfo": object(&[("id", s()), ("size", int()), ("plaintext_size", int()), ("suite", int()), ("expires_at", int()), ("remaining", int()), ("needs_passphrase", json!({"type": "boolean"})), ("note", s()), ("metadata", b64()), ("items", json!({"type": "array", "items": r("ShareItemInfo")})), ("view_only", json!({"type": "boolean"}))], &["id", "size", "plaintext_size", "suite", "expires_at", "needs_passphrase", "metadata"]),
                "ShareKeyResponse": object(&[("id", s()), ("sealed_key", b64()), ("key_arn", s()), ("download_url", s()), ("url_expires_at", int()), ("remaining", int()), ("items", json!({"type": "array", "items": r("ShareItemKey")}))], &["id", "sealed_key", "key_arn", "download_url", "url_expires_at"])
            }
        }
    })
}

/// `GET /api/openapi.json`.
pub async fn document() -> Json<Value> {
    // Made once: building it walks the route table, handlers included.
    static SPEC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    Json(SPEC.get_or_init(spec).clone())
}
