//! Middleware every request passes: the same-origin rule for state-changing requests, the body
//! limit, the request timeout and the security headers (a strict Content-Security-Policy built
//! from the served bundle's inline loader and the S3 endpoint, COOP, HSTS over https).

use cipherdrop_api::ErrorCode;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::error::ApiError;
use crate::extract::St;
use crate::state::AppState;

/// Runs a state-changing request's handler to its end on a task of its own, whatever becomes of
/// the connection: a client that goes away (or the request timeout) must not cut a handler off
/// between two of its steps (KMS, S3, the database, the audit log), which would leave a row
/// without its object, an object without its row, or a count that no longer matches what is
/// stored. Reads (`GET`, `HEAD`, `OPTIONS`) change nothing and stop with their connection.
async fn run_to_completion(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    match tokio::spawn(next.run(req)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "a request's handler failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "the server failed to answer this request",
            )
            .into_response()
        }
    }
}

/// The route template a request matched, handed from the router to [`count_request`] in the
/// answer's extensions (the router matches after the outer layers run).
#[derive(Clone)]
struct Route(String);

/// Tags an answer with the route template its request matched (a route layer).
pub async fn tag_route(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let mut response = next.run(req).await;
    if let Some(route) = route {
        response.extensions_mut().insert(Route(route));
    }
    response
}

/// Counts every request by route template, method and status, with its latency. A method
/// outside the standard ones is counted as `other`: a client must not make a series per word.
async fn count_request(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = match *req.method() {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS => req.method().as_str(),
        _ => "other",
    }
    .to_owned();
    let response = next.run(req).await;
    let route = response
        .extensions()
        .get::<Route>()
        .map_or("other", |r| r.0.as_str());
    crate::metrics::metrics().request(
        route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Largest API request body (a completion listing 10,000 parts fits).
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Wraps `app` in every layer: state-changing requests run to the end, same-origin rule, body
/// limit, timeout, security headers.
pub fn layers(app: Router<Arc<AppState>>, state: &Arc<AppState>) -> Router<Arc<AppState>> {
    app.layer(middleware::from_fn(run_to_completion))
        .layer(middleware::from_fn_with_state(state.clone(), same_origin))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            state.config.request_timeout,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(middleware::from_fn(count_request))
}

/// Refuses state-changing requests a browser sends from another origin.
///
/// Browsers mark every request with `Sec-Fetch-Site` and state-changing ones with `Origin`; a
/// request with neither comes from a program that holds its own cookie, which no other site can
/// make a browser send. Same approach as Go's `http.CrossOriginProtection`.
async fn same_origin(State(state): St, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let h = req.headers();
        let site = h.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let origin = h.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        if !same_origin_allowed(site, origin, &state.config.public_origin) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::CrossOrigin,
                "state-changing requests must come from the app's own origin",
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Whether a state-changing request with these headers may proceed (see [`same_origin`]).
pub fn same_origin_allowed(
    sec_fetch_site: Option<&str>,
    origin: Option<&str>,
    public_origin: &str,
) -> bool {
    match (sec_fetch_site, origin) {
        (Some("same-origin" | "none"), _) => true,
        (Some(_), _) => false,
        (None, Some(o)) => o == public_origin,
        (None, None) => true,
    }
}

/// Adds the page's security headers to every answer: the Content-Security-Policy, COOP, and HSTS
/// when the app is served over https.
async fn security_headers(State(state): St, req: Request, next: Next) -> Response {
    let csp = state.csp().await.clone();
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if state.config.public_origin.starts_with("https://") {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_origin_rule() {
        let me = "https://files.example";
        assert!(same_origin_allowed(Some("same-origin"), Some(me), me));
        assert!(same_origin_allowed(Some("none"), None, me));
        assert!(!same_origin_allowed(Some("same-site"), Some(me), me));
        assert!(!same_origin_allowed(Some("cross-site"), None, me));
        assert!(same_origin_allowed(None, Some(me), me));
        assert!(!same_origin_allowed(
            None,
            Some("https://files.example.evil"),
            me
        ));
        assert!(!same_origin_allowed(None, Some("null"), me));
        assert!(
            same_origin_allowed(None, None, me),
            "programs send neither header"
        );
    }
}
