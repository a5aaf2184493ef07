//! Logging in, the account it gives, and API tokens.

use serde::{Deserialize, Serialize};

use crate::{SUITE_COMMIT_KEY, SecretB64};

/// `POST /api/login`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoginRequest {
    /// Account name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// `POST /api/login/link`: redeem a one-time login link's token (sent in the body, never a URL).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkLoginRequest {
    /// The token from the link's fragment.
    pub token: String,
}

/// `POST /api/password`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetPasswordRequest {
    /// The current password; may be omitted right after a one-time link login.
    #[serde(default)]
    pub current_password: Option<String>,
    /// The new password (at least 12 characters).
    pub new_password: String,
}

/// `GET /api/me` and the answer to a login.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Me {
    /// Account id (opaque).
    pub id: String,
    /// Account name.
    pub username: String,
    /// Whether the account may read the audit log.
    pub is_admin: bool,
    /// Whether the account must choose a password (logged in by one-time link).
    pub must_set_password: bool,
    /// The algorithm suite the page preselects for uploads (the server's default).
    #[serde(default = "default_suite")]
    pub default_suite: u16,
}

fn default_suite() -> u16 {
    SUITE_COMMIT_KEY
}

/// The scopes an API token may have.
pub const TOKEN_SCOPES: [&str; 3] = ["read", "write", "share"];
/// Longest API token lifetime, in days.
pub const TOKEN_MAX_DAYS: u32 = 365;
/// Default API token lifetime, in days.
pub const TOKEN_DEFAULT_DAYS: u32 = 30;
/// Most live API tokens per account.
pub const TOKEN_MAX_PER_ACCOUNT: u32 = 50;
/// Longest API token name, in characters.
pub const TOKEN_MAX_NAME: usize = 64;

/// `POST /api/tokens` (page session only): a token for scripts.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CreateTokenRequest {
    /// What it is for (1 to 64 characters).
    pub name: String,
    /// Some of `read` (list, download), `write` (upload, delete), `share` (links).
    pub scopes: Vec<String>,
    /// Lifetime in days (1 ..= 365; default 30).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// One API token as its owner sees it (never the secret).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenSummary {
    /// Token id (not the secret).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds of the last request it authenticated.
    pub last_used_at: Option<i64>,
    /// Unix seconds, if revoked.
    pub revoked_at: Option<i64>,
}

/// The answer to creating a token: the only time its secret is shown.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenCreated {
    /// The token's settings.
    pub token: TokenSummary,
    /// The secret (`cdt_…`), sent as `Authorization: Bearer …`.
    pub secret: SecretB64,
}

/// `GET /api/tokens`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenList {
    /// Newest first.
    pub tokens: Vec<TokenSummary>,
}
