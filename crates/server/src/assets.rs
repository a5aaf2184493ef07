//! The web bundle as the server hands it out: each file precompressed (brotli and gzip, made at
//! build time by Trunk's post-build hook, `scripts/compress.mjs`, and chosen by `Accept-Encoding`),
//! hashed assets (Trunk names them `name-<16 hex>.ext`) cached for a year as immutable, and the page
//! itself (`index.html`, also the answer for every client-side route such as `/s/`) revalidated on
//! every load, so a new deployment is picked up at once.

use std::path::Path;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::services::{ServeDir, ServeFile};

/// Hashed assets: their name changes with their content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The page: always asked again (a 304 when unchanged).
const REVALIDATE: &str = "no-cache";

/// The bundle in `dir`, with `index.html` for every path that is not a file.
pub fn service(dir: &Path) -> Router {
    let index = ServeFile::new(dir.join("index.html"))
        .precompressed_br()
        .precompressed_gzip();
    let files = ServeDir::new(dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(index);
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_policy))
}

/// Whether `path` names a hashed asset: a segment with `-` and 16 hex digits before a `.`, a `_`
/// or its end (`/app-0123456789abcdef_bg.wasm`, `/snippets/app-0123456789abcdef/inline0.js`).
pub fn is_hashed(path: &str) -> bool {
    path.split('/').any(|segment| {
        segment.match_indices('-').any(|(i, _)| {
            let rest = segment.get(i + 1..).unwrap_or_default();
            let hex = rest.get(..16).unwrap_or_default();
            hex.len() == 16
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
                && matches!(rest.as_bytes().get(16), None | Some(b'.' | b'_'))
        })
    })
}

async fn cache_policy(req: Request, next: Next) -> Response {
    let hashed = is_hashed(req.uri().path());
    let mut resp = next.run(req).await;
    // A hashed name that is not a file gets the page (a stale link): that answer must not stick.
    let page = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    let policy = if hashed && !page && resp.status().is_success() {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    resp
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn hashed_names_are_recognised() {
        for yes in [
            "/cipherdrop-web-493371de201579d2.js",
            "/cipherdrop-web-e0f7beb0a232be45_bg.wasm",
            "/style-3d966d1168d86cd4.css",
            "/snippets/cipherdrop-web-a7d062208f62ebcf/inline0.js",
        ] {
            assert!(is_hashed(yes), "{yes}");
        }
        for no in [
            "/",
            "/index.html",
            "/s/",
            "/style.css",
            "/app-493371de201579d.js",
            "/app-493371de201579d2x.js",
            "/app-493371de201579g2.js",
        ] {
            assert!(!is_hashed(no), "{no}");
        }
    }
}
