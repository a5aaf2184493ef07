//! `cipherdrop-s3`: an embedded S3-compatible object store for running cipherdrop with nothing
//! else installed.
//!
//! [`s3s`] speaks the S3 REST protocol and checks SigV4 on every request, presigned URLs
//! included (signature and `X-Amz-Expires`); [`s3s_fs`] keeps buckets as folders, objects as
//! files and multipart uploads as part files, so an upload survives a restart. In front of it sits
//! a CORS layer for the web app's origin that exposes `ETag`, since the browser reads each part's
//! ETag to complete a multipart upload.
//!
//! CompleteMultipartUpload is not `s3s-fs`'s (which loses the upload if the request is dropped
//! half-way) but ours (`store.rs`, `complete.rs`): it runs to the end whatever the client does,
//! deletes nothing of the upload before the object is whole and fsynced, and answers a retry with
//! the same ETag.

mod complete;
mod copy;
mod layout;
mod store;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};

pub use cipherdrop_keyfile::Credentials;

/// Methods the browser may use on objects.
const CORS_METHODS: &str = "GET, PUT, HEAD";
/// Response headers the browser may read.
const CORS_EXPOSE: &str = "ETag, Content-Length, Content-Range, x-amz-request-id";
/// How long a browser may cache a preflight answer, in seconds.
const CORS_MAX_AGE: &str = "3600";

/// Errors opening the store.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// The data folder could not be made or opened.
    #[error("opening the object store in {path}: {source}")]
    Open {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What the embedded store needs to start.
pub struct Options<'a> {
    /// Folder holding buckets (one folder each).
    pub data_dir: &'a Path,
    /// The only key pair it accepts.
    pub credentials: &'a Credentials,
    /// Origins allowed to call it from a browser (for example `http://127.0.0.1:8080`).
    pub cors_origins: Vec<String>,
}

#[derive(Clone)]
struct Shared {
    s3: S3Service,
    origins: Arc<[HeaderValue]>,
}

/// The HTTP front: CORS, then the SigV4-checking S3 service.
pub fn router(opts: &Options<'_>) -> Result<Router, S3Error> {
    let open_err = |source| S3Error::Open {
        path: opts.data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(opts.data_dir).map_err(open_err)?;
    let store = store::Store::open(opts.data_dir).map_err(open_err)?;
    let mut builder = S3ServiceBuilder::new(store);
    builder.set_auth(SimpleAuth::from_single(
        opts.credentials.access_key_id.as_str(),
        opts.credentials.secret_access_key.as_str(),
    ));
    let origins = opts
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let shared = Shared {
        s3: builder.build(),
        origins,
    };
    Ok(Router::new().fallback(handle).with_state(shared))
}

async fn handle(State(shared): State<Shared>, req: Request) -> Response {
    let origin = allowed_origin(&shared.origins, req.headers());
    if req.method() == Method::OPTIONS {
        return preflight(origin, req.headers());
    }
    let req = req.map(s3s::Body::http_body_unsync);
    let mut response = match shared.s3.call(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(e) => {
            tracing::warn!(error = ?e, "s3 request failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    };
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(CORS_EXPOSE),
        );
    }
    response
}

/// The request's `Origin` if it is one of the allowed ones.
fn allowed_origin(origins: &[HeaderValue], headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    origins.iter().any(|o| o == origin).then(|| origin.clone())
}

/// Answers a CORS preflight: allowed origins get the methods and the requested headers; others
/// get a 403 without CORS headers, so the browser refuses the real request.
fn preflight(origin: Option<HeaderValue>, headers: &HeaderMap) -> Response {
    let Some(origin) = origin else {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    };
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("content-type"));
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin),
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(CORS_METHODS),
            ),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, requested),
            (
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(CORS_EXPOSE),
            ),
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(CORS_MAX_AGE),
            ),
            (header::VARY, HeaderValue::from_static("Origin")),
        ],
    )
        .into_response()
}

/// Serves the store on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
