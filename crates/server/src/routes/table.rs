//! Every API route in one table: its path and method, the handler, the API-token scope that may
//! call it, and what the OpenAPI document says of it. The router and the document are both made
//! from this table, so neither can name a route the other lacks.

use std::sync::Arc;

use axum::Extension;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};

use super::{
    admin, metadata, notifications, objects, openapi, requests, session, share_link, shares,
    tokens, uploads, webhooks,
};
use crate::state::AppState;
use crate::tokens::Scope;

/// Who may call a route.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone (what it needs is in the body: a link's token, a password).
    Public,
    /// The page's session only.
    Session,
    /// The page's session, or an API token with this scope.
    Token(Scope),
}

/// What the OpenAPI document says of a route.
pub(crate) struct Doc {
    /// One line for people.
    pub summary: &'static str,
    /// The request body's schema, if it takes one.
    pub request: Option<&'static str>,
    /// The answer's schema; `None` for 204.
    pub response: Option<&'static str>,
    /// The answer carries a key, token or presigned URL: `Cache-Control: no-store`.
    pub no_store: bool,
    /// Query parameters, if any.
    pub query: Option<fn() -> serde_json::Value>,
}

/// One route.
pub(crate) struct Endpoint {
    /// Under `/api`.
    pub path: &'static str,
    /// The HTTP method.
    pub method: Method,
    /// Who may call it.
    pub access: Access,
    /// What the document says.
    pub doc: Doc,
    /// The handler, for `method` only.
    pub handler: MethodRouter<Arc<AppState>>,
}

fn filter(method: &Method) -> MethodFilter {
    match *method {
        Method::GET => MethodFilter::GET,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        _ => MethodFilter::POST,
    }
}

/// A route; a token scope is handed to the handler's `Auth` as an extension.
fn ep<H, T>(method: Method, path: &'static str, access: Access, doc: Doc, handler: H) -> Endpoint
where
    H: Handler<T, Arc<AppState>>,
    T: 'static,
{
    let mut handler = on(filter(&method), handler);
    if let Access::Token(scope) = access {
        handler = handler.layer(Extension(scope));
    }
    Endpoint {
        path,
        method,
        access,
        doc,
        handler,
    }
}

/// A document entry with a body and an answer.
const fn doc(
    summary: &'static str,
    request: Option<&'static str>,
    response: Option<&'static str>,
    no_store: bool,
) -> Doc {
    Doc {
        summary,
        request,
        response,
        no_store,
        query: None,
    }
}

/// Every API route, one a line.
#[rustfmt::skip]
pub(crate) fn endpoints() -> Vec<Endpoint> {
    use Access::{Public, Session, Token};
    use Scope::{Any, Read, Share, Write};
    let (get, post, put, patch, delete) = (
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    );
    vec![
        ep(get.clone(), "/openapi.json", Public, doc("This document", None, Some("OpenApiDocument"), false), openapi::document),
        ep(post.clone(), "/login", Public, doc("Log in with name and password (rate-limited per account and per address)", Some("LoginRequest"), Some("Me"), true), session::login),
        ep(post.clone(), "/login/link", Public, doc("Log in with a one-time link's token", Some("LinkLoginRequest"), Some("Me"), true), session::login_link),
        ep(post.clone(), "/logout", Public, doc("End the session", None, None, false), session::logout),
        ep(get.clone(), "/me", Token(Any), doc("The logged-in account", None, Some("Me"), false), session::me),
        ep(get.clone(), "/usage", Token(Read), doc("The account's quotas and what it uses of them (ciphertext bytes; pending uploads count towards stored bytes)", None, Some("Usage"), false), uploads::usage),
        ep(post.clone(), "/password", Session, doc("Choose a new password", Some("SetPasswordRequest"), Some("Me"), true), session::set_password),
        ep(get.clone(), "/tokens", Session, doc("The account's API tokens (page session only)", None, Some("TokenList"), false), tokens::list),
        ep(post.clone(), "/tokens", Session, doc("Make an API token; the answer is the only time its secret is shown (page session only)", Some("CreateTokenRequest"), Some("TokenCreated"), true), tokens::create),
        ep(delete.clone(), "/tokens/{id}", Session, doc("Revoke an API token (page session only)", None, Some("TokenSummary"), false), tokens::revoke),
        ep(get.clone(), "/webhooks", Session, doc("The account's webhooks with their latest deliveries (page session only)", None, Some("WebhookList"), false), webhooks::list),
        ep(post.clone(), "/webhooks", Session, doc("Make a webhook; the answer is the only time its signing secret is shown (page session only)", Some("CreateWebhookRequest"), Some("WebhookCreated"), true), webhooks::create),
        ep(delete.clone(), "/webhooks/{id}", Session, doc("Delete a webhook; its waiting deliveries are dropped (page session only)", None, None, false), webhooks::delete),
        ep(post.clone(), "/webhooks/{id}/test", Session, doc("Send a webhook a test event (page session only)", None, None, false), webhooks::test),
        ep(get.clone(), "/notifications", Session, doc("Per event, the channels that tell the account (badge, email, webhook), and its e-mail address (page session only)", None, Some("Notifications"), true), notifications::get),
        ep(put.clone(), "/notifications", Session, doc("Change the channels per event and the e-mail address (a new address is used once confirmed with the code mailed to it; at most 3 codes a day) (page session only)", Some("UpdateNotifications"), Some("Notifications"), true), notifications::update),
        ep(post.clone(), "/notifications/confirm", Session, doc("Confirm the pending e-mail address with the code mailed to it (page session only)", Some("ConfirmEmail"), Some("Notifications"), true), notifications::confirm),
        ep(post.clone(), "/uploads", Token(Write), doc("Start an upload: data key, EDK, context, part size and presigned part URLs", Some("CreateUploadRequest"), Some("CreateUploadResponse"), true), uploads::create),
        ep(get.clone(), "/uploads/{id}", Token(Write), doc("An upload's state and layout; while pending, the parts S3 holds (ListParts), which a resumed upload goes by", None, Some("UploadStatus"), false), uploads::status),
        ep(get.clone(), "/uploads/{id}/parts", Token(Write), Doc { query: Some(part_query), ..doc("More presigned part URLs, each signing its part's length", None, Some("UploadStatus"), false) }, uploads::part_urls),
        ep(post.clone(), "/uploads/{id}/complete", Token(Write), doc("Assemble the parts, verify the stored header, record the object", Some("CompleteUploadRequest"), Some("ObjectSummary"), false), uploads::complete),
        ep(post.clone(), "/uploads/{id}/abort", Token(Write), doc("Abort a pending upload", None, None, false), uploads::abort),
        ep(post.clone(), "/uploads/{id}/key", Token(Write), doc("A pending upload's data key again, to resume it (owner only, audited)", None, Some("PendingKeyResponse"), true), uploads::release_pending_key),
        ep(get.clone(), "/objects", Token(Read), doc("The caller's objects", None, Some("ObjectList"), false), objects::list),
        ep(get.clone(), "/objects/{id}", Token(Read), doc("An object, with a presigned download URL", None, Some("ObjectDetails"), true), objects::details),
        ep(delete.clone(), "/objects/{id}", Token(Write), doc("Delete an object from S3 and the database", None, None, false), objects::delete),
        ep(post.clone(), "/objects/{id}/key", Token(Read), doc("Release the object's data key (KMS Decrypt of the stored EDK and context)", None, Some("KeyResponse"), true), objects::release_key),
        ep(post.clone(), "/objects/{id}/rekey", Token(Write), doc("Move the file to the KMS key the account's new uploads use, body untouched: a one-file rotation job (202, the open one if any)", None, Some("RekeyJob"), false), objects::rekey),
        ep(put.clone(), "/objects/{id}/metadata", Token(Write), doc("Store the file's name and type sealed again (under the account's newest metadata key) by its owner", Some("SetMetadataRequest"), None, false), metadata::set),
        ep(post.clone(), "/metadata-key", Token(Read), doc("Release the account's metadata key (a version, or the newest, made on first use): one KMS call opens every file's name; audited", Some("MetadataKeyRequest"), Some("MetadataKeyResponse"), true), metadata::release),
        ep(post.clone(), "/metadata-key/rotate", Session, doc("Make a new version of the account's metadata key; names are sealed under it from now on (page session only, audited)", None, Some("MetadataKeyResponse"), true), metadata::rotate),
        ep(get.clone(), "/objects/{id}/shares", Token(Share), doc("The object's share links (owner)", None, Some("ShareList"), false), shares::list),
        ep(post.clone(), "/objects/{id}/shares", Token(Share), doc("Make a share link; the answer is the only time its token is shown", Some("CreateShareRequest"), Some("ShareCreated"), true), shares::create),
        ep(post.clone(), "/objects/{id}/shares/seen", Token(Share), doc("Mark every download through the file's links as seen (the page's \"new downloads\" badge)", None, None, false), shares::seen),
        ep(post.clone(), "/shares", Token(Share), doc("Make one link to several files (a selection or a folder): each file's data key sealed under the link key and its name sealed for the link; one counted release gives them all", Some("CreateShareRequest"), Some("ShareCreated"), true), shares::create_set),
        ep(patch.clone(), "/shares/{id}", Token(Share), doc("Change a link's expiry or download limit", Some("UpdateShareRequest"), Some("ShareSummary"), true), shares::update),
        ep(post.clone(), "/shares/{id}/revoke", Token(Share), doc("Revoke a link: it releases no key from now on", None, Some("ShareSummary"), false), shares::revoke),
        ep(get.clone(), "/shares/{id}/history", Token(Share), doc("Every access to a link, from the audit log", None, Some("AuditPage"), false), shares::history),
        ep(get.clone(), "/requests", Session, doc("The account's file requests, with what each holds (page session only)", None, Some("RequestList"), false), requests::list),
        ep(post.clone(), "/requests", Session, doc("Make a file request: an upload page for people without an account; the answer is the only time its token is shown (page session only)", Some("CreateRequestRequest"), Some("RequestCreated"), true), requests::create),
        ep(patch, "/requests/{id}", Session, doc("Extend, close or reopen a file request (page session only)", Some("UpdateRequestRequest"), Some("RequestSummary"), false), requests::update),
        ep(get.clone(), "/requests/{id}/files", Session, doc("The files that arrived through a request; marks them seen (page session only)", None, Some("ObjectList"), false), requests::files),
        ep(get.clone(), "/requests/{id}/arriving", Session, doc("The uploads under way through a request (sizes and start times; page session only)", None, Some("ObjectList"), false), requests::arriving),
        ep(post.clone(), "/requests/{id}/arriving/abort", Session, doc("Stop every upload under way through a request; their places go back to it (page session only)", None, Some("RequestSummary"), false), requests::stop_arriving),
        ep(post.clone(), "/share", Public, doc("What a link's holder may see before any key is released (token in the body)", Some("ShareTokenRequest"), Some("ShareInfo"), true), share_link::info),
        ep(post.clone(), "/share/key", Public, doc("One counted, audited release of a link's sealed key (still sealed under the key in the link's fragment), with a presigned GET", Some("ShareTokenRequest"), Some("ShareKeyResponse"), true), share_link::release_key),
        ep(post.clone(), "/request", Public, doc("What a file request's sender sees before sending (token in the body)", Some("ShareTokenRequest"), Some("RequestInfo"), false), requests::info),
        ep(post.clone(), "/request/uploads", Public, doc("A sender starts one file's upload through a request (token and passphrase in the body): the data key, the parts' URLs and the sender's secret for this upload, shown only now", Some("SenderUploadRequest"), Some("SenderUploadResponse"), true), requests::sender_create),
        ep(post.clone(), "/request/uploads/{id}/parts", Public, doc("More part URLs for the sender's own upload (its secret in the body)", Some("SenderPartsRequest"), Some("UploadStatus"), false), requests::sender_parts),
        ep(post.clone(), "/request/uploads/{id}/complete", Public, doc("The sender's upload becomes the owner's file (header checked); the sender gets a receipt", Some("SenderCompleteRequest"), Some("SenderReceipt"), false), requests::sender_complete),
        ep(post.clone(), "/request/uploads/{id}/abort", Public, doc("The sender gives up its own pending upload", Some("SenderAbortRequest"), None, false), requests::sender_abort),
        ep(get.clone(), "/admin/keys", Session, doc("The KMS keys stored data is under, each account's own key, and key rotation jobs with their progress (administrators)", None, Some("KeysOverview"), false), admin::keys),
        ep(post, "/admin/rekey", Session, doc("Move stored files from one KMS key to another, bodies untouched: what would move and, unless a dry run, the job a server runs (administrators, audited)", Some("CreateRekeyRequest"), Some("RekeyCreated"), false), admin::start_rekey),
        ep(put, "/admin/users/{name}/key", Session, doc("Give an account its own KMS key for new data keys, or the server's again (administrators, audited)", Some("SetAccountKeyRequest"), None, false), admin::set_account_key),
        ep(get, "/admin/audit", Session, Doc { query: Some(audit_query), ..doc("Page through the audit log (administrators)", None, Some("AuditPage"), false) }, admin::audit_page),
    ]
}

fn part_query() -> serde_json::Value {
    serde_json::json!([
        {"name": "first", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        {"name": "count", "in": "query", "schema": {"type": "integer", "maximum": 1000}},
        {"name": "length", "in": "query", "description": "The length of part `first` (with count=1), for a part whose length only the message decides: the end of a 0x0578 message. Without it such parts get no URL.", "schema": {"type": "integer", "minimum": 0}}
    ])
}

fn audit_query() -> serde_json::Value {
    serde_json::json!([
        {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}}
    ])
}
