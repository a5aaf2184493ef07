//! Request extractors and the session cookie: who is asking ([`Auth`]: a page session, or an API
//! token within the scope the route names), from where ([`ClientIp`]), and the cookie's name,
//! parsing and `Set-Cookie` form. A leaf: it knows the accounts, the tokens and the state,
//! nothing of the routes.

use cipherdrop_api::ErrorCode;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use axum::http::StatusCode;
use zeroize::Zeroizing;

use crate::accounts::{self, User};
use crate::audit::Event;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::{self, Scope, TokenRow};

/// Name of the session cookie when the app is served over plain http (development).
pub const SESSION_COOKIE: &str = "cipherdrop_session";
/// Name of the session cookie over https: the `__Host-` prefix makes browsers refuse it unless it
/// is `Secure`, for `Path=/` and without `Domain`, so a sibling subdomain cannot plant one.
pub const HOST_SESSION_COOKIE: &str = "__Host-cipherdrop_session";

/// The session cookie's name for an app served at `public_origin`.
pub fn cookie_name(public_origin: &str) -> &'static str {
    if public_origin.starts_with("https://") {
        HOST_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// Shared state as handlers see it.
pub type St = State<Arc<AppState>>;

/// The client's address: the TCP peer's, or, when the peer is a configured trusted proxy, the
/// one its `X-Forwarded-For` names.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<Arc<AppState>> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self(peer.map(|p| {
            client_address(p, &parts.headers, &state.config.trusted_proxies)
        })))
    }
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy; then `X-Forwarded-For`
/// (every such header, in order) is read from the right, skipping trusted proxies, and the first
/// other address is the client. A hop that does not parse ends the walk at the last trusted
/// address, so a client cannot smuggle a fake address past its own proxy.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => return client,
        }
    }
    client
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

/// The session cookie's token, if any (`name` from [`cookie_name`]). A request carrying two
/// session cookies is refused: one of them was planted (cookie tossing from a sibling subdomain
/// or another port of the host), and guessing which is the user's would log them in as someone
/// else.
pub fn session_token(headers: &HeaderMap, name: &str) -> Result<Option<String>, ApiError> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned());
    let first = found.next();
    if found.next().is_some() {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            cipherdrop_api::ErrorCode::DuplicateSessionCookie,
            "this request carries two session cookies, so one was planted by another site: clear this site's cookies and log in again",
        ));
    }
    Ok(first)
}

/// A logged-in account (401 otherwise): by the page's session cookie, or by an API token
/// (`Authorization: Bearer cdt_…`) on a route that names the [`Scope`] it needs (a request
/// extension the router sets) when the token has that scope. A route without a scope takes page
/// sessions only (403 `session_required` for a token); a token never gets a session.
pub struct Auth {
    /// The account.
    pub user: User,
    /// Logged in by one-time link and no password chosen yet.
    pub must_set_password: bool,
    /// The API token that authenticated the request, if it was not a page session.
    pub token: Option<TokenRow>,
}

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Self::from_parts(state, parts).await
    }
}

/// The API token of `headers`, if they carry one: exactly one `Authorization: Bearer …`.
pub fn bearer(headers: &HeaderMap) -> Result<Option<Zeroizing<String>>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::bad_request("send one Authorization header"));
    }
    let secret = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .ok_or_else(|| ApiError::bad_request("Authorization must be `Bearer <API token>`"))?;
    Ok(Some(Zeroizing::new(secret.to_owned())))
}

impl Auth {
    /// Who sends the request of `parts`: its API token, or else its session cookie.
    pub async fn from_parts(state: &Arc<AppState>, parts: &mut Parts) -> Result<Self, ApiError> {
        match bearer(&parts.headers)? {
            Some(secret) => Self::from_token(state, parts, &secret).await,
            None => Self::from_headers(state, &parts.headers).await,
        }
    }

    /// The account whose session cookie `headers` carry (401 otherwise).
    pub async fn from_headers(state: &AppState, headers: &HeaderMap) -> Result<Self, ApiError> {
        let name = cookie_name(&state.config.public_origin);
        let token = session_token(headers, name)?.ok_or_else(ApiError::unauthenticated)?;
        let (user, must_set_password) = accounts::session_user(&state.db, &token)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        Ok(Self {
            user,
            must_set_password,
            token: None,
        })
    }

    /// The account of API token `secret`, if it is live and has the route's scope; the use is
    /// recorded (last-used time, audit row).
    async fn from_token(
        state: &Arc<AppState>,
        parts: &mut Parts,
        secret: &str,
    ) -> Result<Self, ApiError> {
        let row = tokens::by_secret(&state.db, secret)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        if let Some(refusal) = row.refusal() {
            return Err(refusal);
        }
        let Some(scope) = parts.extensions.get::<Scope>().copied() else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::SessionRequired,
                "API tokens cannot do this: log in to the page",
            ));
        };
        if !row.allows(scope) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::InsufficientScope,
                format!(
                    "this token may {}, not {}",
                    row.scopes.replace(',', ", "),
                    scope.as_str()
                ),
            ));
        }
        let user = accounts::user_by_id(&state.db, &row.user_id)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        tokens::touch(&state.db, &row.id).await?;
        let Ok(ip) = ClientIp::from_request_parts(parts, state).await;
        let detail = format!("{}: {} {}", row.name, parts.method, parts.uri.path());
        state
            .audit
            .record(&Event {
                actor: &user.username,
                action: "token.used",
                object: Some(&row.id),
                ip: ip.text().as_deref(),
                outcome: "ok",
                detail: &detail,
            })
            .await;
        Ok(Self {
            user,
            must_set_password: false,
            token: Some(row),
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
    let name = cookie_name(public_origin);
    format!("{name}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
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
        assert!(plain.starts_with("cipherdrop_session=tok;"));
        let secure = session_cookie("https://files.example", "tok");
        assert!(
            secure.starts_with("__Host-cipherdrop_session=tok; Path=/;")
                && secure.ends_with("; Secure")
        );
        assert!(!secure.contains("Domain"), "a __Host- cookie has no Domain");
        assert!(session_cookie("https://files.example", "").contains("Max-Age=0"));
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let xff = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append("x-forwarded-for", v.parse().unwrap());
            }
            h
        };
        // A client that is not a proxy cannot choose its address.
        let h = xff(&["203.0.113.9"]);
        assert_eq!(
            client_address(ip("198.51.100.1"), &h, &trusted),
            ip("198.51.100.1")
        );
        // Behind a trusted proxy: the right-most untrusted hop, whatever the client prepended.
        let h = xff(&["1.2.3.4, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &trusted),
            ip("203.0.113.9")
        );
        // Garbage ends the walk at the last trusted address; no header: the proxy itself.
        let h = xff(&["203.0.113.9, not-an-ip"]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.1"));
        assert_eq!(
            client_address(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
        // Nothing trusted (the default): the peer, always.
        assert_eq!(client_address(ip("10.0.0.1"), &h, &[]), ip("10.0.0.1"));
    }

    #[test]
    fn the_session_token_is_read_from_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1".parse().unwrap());
        h.append(
            header::COOKIE,
            format!("b=2; {SESSION_COOKIE}=tok").parse().unwrap(),
        );
        assert_eq!(
            session_token(&h, SESSION_COOKIE).unwrap().as_deref(),
            Some("tok")
        );
        assert_eq!(
            session_token(&HeaderMap::new(), SESSION_COOKIE).unwrap(),
            None
        );
        // Over https only the __Host- cookie counts: a plain one planted by a sibling is ignored.
        assert_eq!(session_token(&h, HOST_SESSION_COOKIE).unwrap(), None);
        // Two session cookies, in one header or two: refused.
        h.append(
            header::COOKIE,
            format!("{SESSION_COOKIE}=other").parse().unwrap(),
        );
        assert!(session_token(&h, SESSION_COOKIE).is_err());
        let mut one = HeaderMap::new();
        one.append(
            header::COOKIE,
            format!("{SESSION_COOKIE}=a; {SESSION_COOKIE}=b")
                .parse()
                .unwrap(),
        );
        assert!(session_token(&one, SESSION_COOKIE).is_err());
    }
}
