//! The OpenAPI 3.1 document of the API, served at `/api/openapi.json`. The end-to-end tests walk
//! its paths, so a documented route that does not exist fails them.

use axum::Json;
use serde_json::{Value, json};

fn op(
    summary: &str,
    auth: bool,
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
    let security = if auth {
        json!([{"session": []}])
    } else {
        json!([])
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

/// The operations an API token may call, with the scope it needs (as `lib.rs` routes them; the
/// endpoint test checks each against the server).
const TOKEN_SCOPES: &[(&str, &str, &str)] = &[
    ("/api/me", "get", "any"),
    ("/api/usage", "get", "read"),
    ("/api/objects", "get", "read"),
    ("/api/objects/{id}", "get", "read"),
    ("/api/objects/{id}/key", "post", "read"),
    ("/api/metadata-key", "post", "read"),
    ("/api/objects/{id}/metadata", "put", "write"),
    ("/api/uploads", "post", "write"),
    ("/api/uploads/{id}", "get", "write"),
    ("/api/uploads/{id}/parts", "get", "write"),
    ("/api/uploads/{id}/complete", "post", "write"),
    ("/api/uploads/{id}/abort", "post", "write"),
    ("/api/uploads/{id}/key", "post", "write"),
    ("/api/objects/{id}", "delete", "write"),
    ("/api/objects/{id}/shares", "get", "share"),
    ("/api/objects/{id}/shares", "post", "share"),
    ("/api/objects/{id}/shares/seen", "post", "share"),
    ("/api/shares", "post", "share"),
    ("/api/shares/{id}", "patch", "share"),
    ("/api/shares/{id}/revoke", "post", "share"),
    ("/api/shares/{id}/history", "get", "share"),
];

/// The document.
pub fn spec() -> Value {
    let mut doc = base();
    for (path, method, scope) in TOKEN_SCOPES {
        if let Some(security) = doc
            .pointer_mut(&format!(
                "/paths/{}/{method}/security",
                path.replace('/', "~1")
            ))
            .and_then(Value::as_array_mut)
        {
            security.push(json!({"token": [scope]}));
        }
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
                "ErrorBody": object(&[("error", s()), ("message", s())], &["error", "message"]),
                "LoginRequest": object(&[("username", s()), ("password", s())], &["username", "password"]),
                "LinkLoginRequest": object(&[("token", s())], &["token"]),
                "SetPasswordRequest": object(&[("current_password", s()), ("new_password", json!({"type": "string", "minLength": crate::accounts::MIN_PASSWORD_LEN}))], &["new_password"]),
                "Usage": object(&[("pending_uploads", int()), ("pending_uploads_limit", int()), ("pending_bytes", int()), ("pending_bytes_limit", int()), ("stored_bytes", int()), ("stored_bytes_limit", int())], &["pending_uploads", "pending_uploads_limit", "pending_bytes", "pending_bytes_limit", "stored_bytes", "stored_bytes_limit"]),
                "CreateTokenRequest": object(&[("name", json!({"type": "string", "minLength": 1, "maxLength": cipherdrop_api::TOKEN_MAX_NAME})), ("scopes", json!({"type": "array", "items": {"type": "string", "enum": cipherdrop_api::TOKEN_SCOPES}})), ("expires_in_days", json!({"type": "integer", "minimum": 1, "maximum": cipherdrop_api::TOKEN_MAX_DAYS, "default": cipherdrop_api::TOKEN_DEFAULT_DAYS}))], &["name", "scopes"]),
                "TokenSummary": object(&[("id", s()), ("name", s()), ("scopes", json!({"type": "array", "items": s()})), ("created_at", int()), ("expires_at", int()), ("last_used_at", int()), ("revoked_at", int())], &["id", "name", "scopes", "created_at", "expires_at"]),
                "TokenCreated": object(&[("token", r("TokenSummary")), ("secret", s())], &["token", "secret"]),
                "TokenList": object(&[("tokens", json!({"type": "array", "items": r("TokenSummary")}))], &["tokens"]),
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
                "AuditPage": object(&[("entries", json!({"type": "array", "items": r("AuditEntry")})), ("next_after", int())], &["entries"]),
                "CreateShareRequest": object(&[("id", json!({"type": "string", "format": "uuid"})), ("sealed_key", b64()), ("expires_in_secs", json!({"type": "integer", "minimum": cipherdrop_api::SHARE_MIN_SECS, "maximum": cipherdrop_api::SHARE_MAX_SECS, "default": cipherdrop_api::SHARE_DEFAULT_SECS})), ("max_downloads", json!({"type": "integer", "minimum": 1, "maximum": cipherdrop_api::SHARE_MAX_DOWNLOADS})), ("passphrase", json!({"type": "string", "minLength": cipherdrop_api::SHARE_MIN_PASSPHRASE})), ("note", json!({"type": "string", "maxLength": 1000})), ("delete_after_last", json!({"type": "boolean"})), ("metadata", b64()), ("items", json!({"type": "array", "maxItems": cipherdrop_api::SHARE_MAX_FILES, "items": r("ShareItemRequest")}))], &["id"]),
                "ShareItemRequest": object(&[("object_id", json!({"type": "string", "format": "uuid"})), ("sealed_key", b64()), ("metadata", b64())], &["object_id", "sealed_key", "metadata"]),
                "ShareItemInfo": object(&[("object_id", s()), ("size", int()), ("plaintext_size", int()), ("suite", int()), ("metadata", b64())], &["object_id", "size", "plaintext_size", "suite", "metadata"]),
                "ShareItemKey": object(&[("object_id", s()), ("sealed_key", b64()), ("key_arn", s()), ("download_url", s())], &["object_id", "sealed_key", "key_arn", "download_url"]),
                "ShareSummary": object(&[("id", s()), ("object_id", s()), ("created_at", int()), ("expires_at", int()), ("max_downloads", int()), ("downloads", int()), ("has_passphrase", json!({"type": "boolean"})), ("note", s()), ("delete_after_last", json!({"type": "boolean"})), ("revoked_at", int()), ("retired", json!({"type": "boolean"})), ("last_used_at", int()), ("new_downloads", int()), ("files", int())], &["id", "object_id", "created_at", "expires_at", "downloads", "has_passphrase", "delete_after_last"]),
                "ShareCreated": object(&[("share", r("ShareSummary")), ("token", s())], &["share", "token"]),
                "ShareList": object(&[("shares", json!({"type": "array", "items": r("ShareSummary")}))], &["shares"]),
                "UpdateShareRequest": object(&[("expires_in_secs", int()), ("max_downloads", int()), ("unlimited", json!({"type": "boolean"}))], &[]),
                "ShareTokenRequest": object(&[("token", s()), ("passphrase", s())], &["token"]),
                "ShareInfo": object(&[("id", s()), ("size", int()), ("plaintext_size", int()), ("suite", int()), ("expires_at", int()), ("remaining", int()), ("needs_passphrase", json!({"type": "boolean"})), ("note", s()), ("metadata", b64()), ("items", json!({"type": "array", "items": r("ShareItemInfo")}))], &["id", "size", "plaintext_size", "suite", "expires_at", "needs_passphrase", "metadata"]),
                "ShareKeyResponse": object(&[("id", s()), ("sealed_key", b64()), ("key_arn", s()), ("download_url", s()), ("url_expires_at", int()), ("remaining", int()), ("items", json!({"type": "array", "items": r("ShareItemKey")}))], &["id", "sealed_key", "key_arn", "download_url", "url_expires_at"])
            }
        },
        "paths": {
            "/api/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI document"}}}},
            "/api/login": {"post": op("Log in with name and password (rate-limited per account and per address)", false, Some("LoginRequest"), Some("Me"), true)},
            "/api/login/link": {"post": op("Log in with a one-time link's token", false, Some("LinkLoginRequest"), Some("Me"), true)},
            "/api/logout": {"post": op("End the session", false, None, None, false)},
            "/api/me": {"get": op("The logged-in account", true, None, Some("Me"), false)},
            "/api/tokens": {
                "get": op("The account's API tokens (page session only)", true, None, Some("TokenList"), false),
                "post": op("Make an API token; the answer is the only time its secret is shown (page session only)", true, Some("CreateTokenRequest"), Some("TokenCreated"), true)},
            "/api/tokens/{id}": {"parameters": id_param(), "delete": op("Revoke an API token (page session only)", true, None, Some("TokenSummary"), false)},
            "/api/usage": {"get": op("The account's quotas and what it uses of them (ciphertext bytes; pending uploads count towards stored bytes)", true, None, Some("Usage"), false)},
            "/api/password": {"post": op("Choose a new password", true, Some("SetPasswordRequest"), Some("Me"), true)},
            "/api/uploads": {"post": op("Start an upload: data key, EDK, context, part size and presigned part URLs", true, Some("CreateUploadRequest"), Some("CreateUploadResponse"), true)},
            "/api/uploads/{id}": {"parameters": id_param(), "get": op("An upload's state and layout; while pending, the parts S3 holds (ListParts), which a resumed upload goes by", true, None, Some("UploadStatus"), false)},
            "/api/uploads/{id}/key": {"parameters": id_param(), "post": op("A pending upload's data key again, to resume it (owner only, audited)", true, None, Some("PendingKeyResponse"), true)},
            "/api/uploads/{id}/parts": {"parameters": id_param(), "get": {
                "parameters": [{"name": "first", "in": "query", "schema": int()}, {"name": "count", "in": "query", "schema": {"type": "integer", "maximum": 1000}}, {"name": "length", "in": "query", "description": "The length of part `first` (with count=1), for a part whose length only the message decides: the end of a 0x0578 message. Without it such parts get no URL.", "schema": int()}],
                "summary": "More presigned part URLs, each signing its part's length", "security": [{"session": []}],
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": r("UploadStatus")}}}}
            }},
            "/api/uploads/{id}/complete": {"parameters": id_param(), "post": op("Assemble the parts, verify the stored header, record the object", true, Some("CompleteUploadRequest"), Some("ObjectSummary"), false)},
            "/api/uploads/{id}/abort": {"parameters": id_param(), "post": op("Abort a pending upload", true, None, None, false)},
            "/api/objects": {"get": op("The caller's objects", true, None, Some("ObjectList"), false)},
            "/api/objects/{id}": {"parameters": id_param(),
                "get": op("An object, with a presigned download URL", true, None, Some("ObjectDetails"), true),
                "delete": op("Delete an object from S3 and the database", true, None, None, false)},
            "/api/objects/{id}/key": {"parameters": id_param(), "post": op("Release the object's data key (KMS Decrypt of the stored EDK and context)", true, None, Some("KeyResponse"), true)},
            "/api/objects/{id}/metadata": {"parameters": id_param(), "put": op("Store the file's name and type sealed again (under the account's newest metadata key) by its owner", true, Some("SetMetadataRequest"), None, false)},
            "/api/metadata-key": {"post": op("Release the account's metadata key (a version, or the newest, made on first use): one KMS call opens every file's name; audited", true, Some("MetadataKeyRequest"), Some("MetadataKeyResponse"), true)},
            "/api/metadata-key/rotate": {"post": op("Make a new version of the account's metadata key; names are sealed under it from now on (page session only, audited)", true, None, Some("MetadataKeyResponse"), true)},
            "/api/objects/{id}/shares": {"parameters": id_param(),
                "get": op("The object's share links (owner)", true, None, Some("ShareList"), false),
                "post": op("Make a share link; the answer is the only time its token is shown", true, Some("CreateShareRequest"), Some("ShareCreated"), true)},
            "/api/objects/{id}/shares/seen": {"parameters": id_param(), "post": op("Mark every download through the file's links as seen (the page's \"new downloads\" badge)", true, None, None, false)},
            "/api/shares": {"post": op("Make one link to several files (a selection or a folder): each file's data key sealed under the link key and its name sealed for the link; one counted release gives them all", true, Some("CreateShareRequest"), Some("ShareCreated"), true)},
            "/api/requests": {
                "get": op("The account's file requests, with what each holds (page session only)", true, None, Some("RequestList"), false),
                "post": op("Make a file request: an upload page for people without an account; the answer is the only time its token is shown (page session only)", true, Some("CreateRequestRequest"), Some("RequestCreated"), true)},
            "/api/requests/{id}": {"parameters": id_param(), "patch": op("Extend, close or reopen a file request (page session only)", true, Some("UpdateRequestRequest"), Some("RequestSummary"), false)},
            "/api/requests/{id}/files": {"parameters": id_param(), "get": op("The files that arrived through a request; marks them seen (page session only)", true, None, Some("ObjectList"), false)},
            "/api/requests/{id}/arriving": {"parameters": id_param(), "get": op("The uploads under way through a request (sizes and start times; page session only)", true, None, Some("ObjectList"), false)},
            "/api/requests/{id}/arriving/abort": {"parameters": id_param(), "post": op("Stop every upload under way through a request; their places go back to it (page session only)", true, None, Some("RequestSummary"), false)},
            "/api/request/uploads": {"post": op("A sender starts one file's upload through a request (token and passphrase in the body): the data key, the parts' URLs and the sender's secret for this upload, shown only now", false, Some("SenderUploadRequest"), Some("SenderUploadResponse"), true)},
            "/api/request/uploads/{id}/parts": {"parameters": id_param(), "post": op("More part URLs for the sender's own upload (its secret in the body)", false, Some("SenderPartsRequest"), Some("UploadStatus"), false)},
            "/api/request/uploads/{id}/complete": {"parameters": id_param(), "post": op("The sender's upload becomes the owner's file (header checked); the sender gets a receipt", false, Some("SenderCompleteRequest"), Some("SenderReceipt"), false)},
            "/api/request/uploads/{id}/abort": {"parameters": id_param(), "post": op("The sender gives up its own pending upload", false, Some("SenderAbortRequest"), None, false)},
            "/api/request": {"post": op("What a file request's sender sees before sending (token in the body)", false, Some("ShareTokenRequest"), Some("RequestInfo"), false)},
            "/api/shares/{id}": {"parameters": id_param(), "patch": op("Change a link's expiry or download limit", true, Some("UpdateShareRequest"), Some("ShareSummary"), true)},
            "/api/shares/{id}/revoke": {"parameters": id_param(), "post": op("Revoke a link: it releases no key from now on", true, None, Some("ShareSummary"), false)},
            "/api/shares/{id}/history": {"parameters": id_param(), "get": op("Every access to a link, from the audit log", true, None, Some("AuditPage"), false)},
            "/api/share": {"post": op("What a link's holder may see before any key is released (token in the body)", false, Some("ShareTokenRequest"), Some("ShareInfo"), true)},
            "/api/share/key": {"post": op("One counted, audited release of a link's sealed key (still sealed under the key in the link's fragment), with a presigned GET", false, Some("ShareTokenRequest"), Some("ShareKeyResponse"), true)},
            "/api/admin/audit": {"get": {
                "parameters": [{"name": "after", "in": "query", "schema": int()}, {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}}],
                "summary": "Page through the audit log (administrators)", "security": [{"session": []}],
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": r("AuditPage")}}}}
            }}
        }
    })
}

/// `GET /api/openapi.json`.
pub async fn document() -> Json<Value> {
    Json(spec())
}
