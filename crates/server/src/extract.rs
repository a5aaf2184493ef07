//! The HTTP surface: routes, the same-origin rule for state-changing requests, the session
//! extractor, limits, timeouts and security headers.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::accounts::{self, User};
use crate::error::ApiError;
use crate::{AppState, handlers, openapi, shares, uploads};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "cipherdrop_session";
/// Largest API request body (a completion listing 10,000 parts fits).
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Shared state as handlers see it.
pub type St = State<Arc<AppState>>;

/// Every route.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/login", post(handlers::login))
        .route("/login/link", post(handlers::login_link))
        .route("/logout", post(handlers::logout))
        .route("/me", get(handlers::me))
        .route("/password", post(handlers::set_password))
        .route("/uploads", post(uploads::create))
        .route("/uploads/{id}", get(uploads::status))
        .route("/uploads/{id}/parts", get(uploads::part_urls))
        .route("/uploads/{id}/complete", post(uploads::complete))
        .route("/uploads/{id}/abort", post(uploads::abort))
        .route("/objects", get(uploads::list))
        .route(
            "/objects/{id}",
            get(uploads::details).delete(uploads::delete),
        )
        .route("/objects/{id}/key", post(uploads::release_key))
        .route(
            "/objects/{id}/shares",
            get(shares::list).post(shares::create),
        )
        .route("/shares/{id}", axum::routing::patch(shares::update))
        .route("/shares/{id}/revoke", post(shares::revoke))
        .route("/shares/{id}/history", get(shares::history))
        .route("/share", post(shares::info))
        .route("/share/key", post(shares::release_key))
        .route("/admin/audit", get(handlers::audit_page))
        .fallback(|| async { ApiError::not_found("API route") });
    let mut app = Router::new().nest("/api", api);
    if let Some(dir) = &state.config.web_dir {
        let index = dir.join("index.html");
        app = app.fallback_service(
            tower_http::services::ServeDir::new(dir)
                .fallback(tower_http::services::ServeFile::new(index)),
        );
    }
    app.layer(middleware::from_fn_with_state(state.clone(), same_origin))
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
        .with_state(state)
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
                "cross_origin",
                "state-changing requests must come from the app's own origin",
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// The client's address.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

impl ClientIp {
    /// As text for the audit log.
    pub fn text(self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

/// The session cookie's token, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// A logged-in account (401 otherwise).
pub struct Auth {
    /// The account.
    pub user: User,
    /// Logged in by one-time link and no password chosen yet.
    pub must_set_password: bool,
}

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Self::from_headers(state, &parts.headers).await
    }
}

impl Auth {
    /// The account whose session cookie `headers` carry (401 otherwise).
    pub async fn from_headers(state: &AppState, headers: &HeaderMap) -> Result<Self, ApiError> {
        let token = session_token(headers).ok_or_else(ApiError::unauthenticated)?;
        let (user, must_set_password) = accounts::session_user(&state.db, &token)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        Ok(Self {
            user,
            must_set_password,
        })
    }
}

/// The `Set-Cookie` value for a session token (empty token: clear the cookie); `Secure` when the
/// app is served over https.
pub fn session_cookie(public_origin: &str, token: &str) -> String {
    let secure = if public_origin.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let max_age = if token.is_empty() {
        0
    } else {
        accounts::SESSION_TTL.as_secs()
    };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    )
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cookies_are_http_only_strict_and_secure_behind_https() {
        let plain = session_cookie("http://127.0.0.1:8080", "tok");
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        assert!(session_cookie("https://files.example", "tok").ends_with("; Secure"));
        assert!(session_cookie("https://files.example", "").contains("Max-Age=0"));
    }

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
