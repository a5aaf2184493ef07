//! The server's configuration and the state every request handler shares.
//!
//! Kept apart from `lib.rs` so that the modules below the routes can name the state without
//! importing the crate root, which imports them: the module graph stays acyclic.

use std::path::PathBuf;
use std::time::Duration;

use sqlx::SqlitePool;

use crate::accounts::LoginLimiter;
use crate::audit::AuditLog;
use crate::aws::Aws;

/// How the server runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The origin browsers load the app from (for example `http://127.0.0.1:8080`): state-changing
    /// requests must come from it, and session cookies are `Secure` when it is https.
    pub public_origin: String,
    /// KMS key id, ARN or alias that wraps data keys.
    pub kms_key_id: String,
    /// The bucket holding ciphertext.
    pub bucket: String,
    /// Largest plaintext accepted, in bytes.
    pub max_object_size: u64,
    /// The suite the web page preselects (0x0478 or 0x0578); any upload may pick either.
    pub default_suite: u16,
    /// Lifetime of presigned URLs.
    pub url_ttl: Duration,
    /// Pending uploads older than this are aborted by the sweeper.
    pub abandon_after: Duration,
    /// How often the sweeper runs.
    pub sweep_interval: Duration,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// The built web bundle (Trunk's `dist`), served at `/`.
    pub web_dir: Option<PathBuf>,
    /// Failed logins allowed per account per window.
    pub login_failures_per_account: u32,
    /// Failed logins allowed per client address per window.
    pub login_failures_per_ip: u32,
    /// The rate-limit window.
    pub login_window: Duration,
}

impl Config {
    /// Defaults for everything but the origin, key and bucket.
    pub fn new(public_origin: &str, kms_key_id: &str, bucket: &str) -> Self {
        Self {
            public_origin: public_origin.trim_end_matches('/').to_owned(),
            kms_key_id: kms_key_id.to_owned(),
            bucket: bucket.to_owned(),
            max_object_size: 64 * 1024 * 1024 * 1024,
            default_suite: cipherdrop_api::SUITE_COMMIT_KEY,
            url_ttl: Duration::from_secs(3600),
            abandon_after: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(300),
            request_timeout: Duration::from_secs(120),
            web_dir: None,
            login_failures_per_account: 5,
            login_failures_per_ip: 20,
            login_window: Duration::from_secs(15 * 60),
        }
    }
}

/// Everything a request handler needs.
pub struct AppState {
    pub(crate) config: Config,
    pub(crate) db: SqlitePool,
    pub(crate) audit: AuditLog,
    pub(crate) aws: Aws,
    /// Failed logins: per account and per client address.
    pub(crate) limiter: LoginLimiter,
    /// Wrong share passphrases: per link and per client address.
    pub(crate) share_limiter: LoginLimiter,
}

impl AppState {
    /// The state over an open database and connected clients.
    pub fn new(config: Config, db: SqlitePool, aws: Aws) -> Self {
        let limiter = LoginLimiter::new(
            config.login_failures_per_account,
            config.login_failures_per_ip,
            config.login_window,
        );
        // Wrong share passphrases: 5 per link and 20 per address, in the login window.
        let share_limiter = LoginLimiter::new(5, 20, config.login_window);
        Self {
            audit: AuditLog::new(db.clone()),
            config,
            db,
            aws,
            limiter,
            share_limiter,
        }
    }

    /// When presigned URLs handed out now expire (Unix seconds).
    pub(crate) fn urls_expire_at(&self) -> i64 {
        crate::db::now() + i64::try_from(self.config.url_ttl.as_secs()).unwrap_or(0)
    }
}
