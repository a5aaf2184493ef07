//! Request extractors and the session cookie: who is asking ([`Auth`]), from where
//! ([`ClientIp`]), and the cookie's name, parsing and `Set-Cookie` form. A leaf: it knows the
//! accounts and the state, nothing of the routes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::accounts::{self, User};
use crate::error::ApiError;
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "cipherdrop_session";

/// Shared state as handlers see it.
pub type St = State<Arc<AppState>>;

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

    /// The address for rate limits (unknown addresses share one bucket).
    pub fn or_unspecified(self) -> IpAddr {
        self.0.unwrap_or(IpAddr::from([0, 0, 0, 0]))
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
    fn the_session_token_is_read_from_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1".parse().unwrap());
        h.append(
            header::COOKIE,
            format!("b=2; {SESSION_COOKIE}=tok").parse().unwrap(),
        );
        assert_eq!(session_token(&h).as_deref(), Some("tok"));
        assert_eq!(session_token(&HeaderMap::new()), None);
    }
}
