//! `cipherdrop-kms`: an embedded KMS-compatible service speaking the AWS KMS wire protocol.
//!
//! JSON 1.1 over HTTP (`X-Amz-Target: TrentService.<Operation>`), every request SigV4-verified
//! against the service's own credentials, so the official AWS SDKs, boto3, the AWS Encryption SDKs
//! and `aws-encryption-cli` use it exactly as they use AWS KMS. Keys are symmetric
//! (`SYMMETRIC_DEFAULT`) or asymmetric signing keys (`ECC_NIST_P384`, `Sign` / `Verify` /
//! `GetPublicKey`); a symmetric key can hold imported material instead (`Origin=EXTERNAL`,
//! `GetParametersForImport`, `ImportKeyMaterial`, `DeleteImportedKeyMaterial`). They persist in
//! a data folder (atomic writes, mode 0600), their backing keys and private keys encrypted under a
//! master key kept in a file of its own; every call is appended to an audit log.

mod audit;
mod blob;
mod error;
mod master;
mod ops;
mod service;
mod signing;
mod sigv4;
mod store;
mod wire;
mod wrapping;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};

pub use cipherdrop_keyfile::Credentials;
pub use error::{ErrorCode, KmsError};
pub use master::MASTER_KEY_FILE;
pub use service::{AuditInfo, Kms};
pub use sigv4::MAX_CLOCK_SKEW;

/// Default region in ARNs.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Default account id in ARNs.
pub const DEFAULT_ACCOUNT: &str = "111122223333";
/// Largest request body accepted (KMS requests are small; Encrypt carries at most 4 KiB).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The HTTP front: `POST /` with an `X-Amz-Target` header, as AWS KMS.
pub fn router(kms: Arc<Kms>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(kms)
}

async fn handle(
    State(kms): State<Arc<Kms>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("TrentService."))
        .unwrap_or("")
        .to_owned();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = sigv4::Request {
        method: method.as_str(),
        path_and_query: path,
        headers: &headers,
        body: &body,
    };
    let access_key = match sigv4::verify(
        &req,
        "kms",
        kms.region(),
        |ak| kms.secret_for(ak),
        std::time::SystemTime::now(),
    ) {
        Ok(ak) => ak,
        Err(e) => {
            kms.audit(
                None,
                &operation,
                &AuditInfo::default(),
                Err(e.code.as_str()),
            );
            return e.into_response();
        }
    };
    let mut info = AuditInfo::default();
    let result = if method != Method::POST {
        Err(KmsError::new(
            ErrorCode::UnknownOperation,
            "KMS operations are POST requests",
        ))
    } else {
        let parsed: Result<serde_json::Value, _> = if body.is_empty() {
            Ok(serde_json::json!({}))
        } else {
            serde_json::from_slice(&body)
        };
        match parsed {
            Ok(mut v) if v.is_object() => {
                let result = kms.call(&operation, &v, &mut info);
                wire::scrub(&mut v);
                result
            }
            _ => Err(KmsError::new(
                ErrorCode::Serialization,
                "the request body is not a JSON object",
            )),
        }
    };
    kms.audit(
        Some(&access_key),
        &operation,
        &info,
        result.as_ref().map(|_| ()).map_err(|e| e.code.as_str()),
    );
    match result {
        // The body buffer is wiped when the response is done with it.
        Ok(v) => (
            [("content-type", "application/x-amz-json-1.1")],
            Bytes::from_owner(v),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Serves `kms` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    kms: Arc<Kms>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(kms).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
