//! The HTTP handlers, one file per resource, and the few response helpers they share. Only
//! `lib.rs` imports this module (to build the router); nothing here is imported back below.

pub mod admin;
pub mod health;
pub mod metadata;
pub mod notifications;
pub mod objects;
pub mod openapi;
pub mod requests;
pub mod session;
pub mod share_link;
pub mod shares;
pub mod table;
pub mod tokens;
pub mod uploads;
pub mod webhooks;

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// A JSON answer that no cache may keep (it carries a key, a token or a presigned URL).
pub(crate) fn no_store<T: serde::Serialize>(body: &T) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
