//! `cipherdrop-server`: the thin backend.
//!
//! It issues KMS data keys bound to opaque encryption contexts, presigns S3 multipart uploads so
//! the browser sends ciphertext straight to S3, checks each completed object's ESDK header against
//! what it issued, releases data keys only to their owners (KMS `Decrypt` of the *stored* EDK with
//! the *stored* context), and records every such event in a hash-chained audit log. It never sees
//! file plaintext and never receives the ciphertext bulk. KMS and S3 are reached only through
//! `aws-sdk-kms` and `aws-sdk-s3`.

mod accounts;
pub mod audit;
pub mod aws;
pub mod db;
mod error;
mod handlers;
mod http;
mod openapi;
mod shares;
mod sweeper;
mod uploads;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;

pub use accounts::{AccountError, MIN_PASSWORD_LEN, User};
pub use aws::{Aws, AwsSettings};
pub use error::ApiError;

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
    pub(crate) audit: audit::AuditLog,
    pub(crate) aws: Aws,
    pub(crate) limiter: accounts::LoginLimiter,
    /// Wrong share passphrases: per link and per client address.
    pub(crate) share_limiter: accounts::LoginLimiter,
}

/// The server: state plus how to serve it.
#[derive(Clone)]
pub struct Server {
    state: Arc<AppState>,
}

impl Server {
    /// Builds the server over an open database and connected clients.
    pub fn new(config: Config, db: SqlitePool, aws: Aws) -> Self {
        let limiter = accounts::LoginLimiter::new(
            config.login_failures_per_account,
            config.login_failures_per_ip,
            config.login_window,
        );
        // Wrong share passphrases: 5 per link and 20 per address, in the login window.
        let share_limiter = accounts::LoginLimiter::new(5, 20, config.login_window);
        Self {
            state: Arc::new(AppState {
                config,
                audit: audit::AuditLog::new(db.clone()),
                db,
                aws,
                limiter,
                share_limiter,
            }),
        }
    }

    /// The axum router (API, OpenAPI document, web bundle).
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    /// On first start (no accounts yet): makes the `admin` account and returns a one-time login
    /// token for it.
    pub async fn bootstrap_admin(
        &self,
    ) -> Result<Option<zeroize::Zeroizing<String>>, AccountError> {
        if accounts::any_user(&self.state.db).await? {
            return Ok(None);
        }
        let user = accounts::create_user(&self.state.db, "admin", None, true).await?;
        self.state
            .audit
            .record(&audit::Event {
                actor: "system",
                action: "user.created",
                outcome: "ok",
                detail: "admin (first start)",
                ..Default::default()
            })
            .await;
        Ok(Some(
            accounts::create_login_link(&self.state.db, &user.id).await?,
        ))
    }

    /// Serves on `listener` until `shutdown` resolves, running the sweeper alongside; in-flight
    /// requests finish first.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let sweeper = tokio::spawn(sweeper::run(self.state.clone()));
        let result = axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        sweeper.abort();
        self.state.db.close().await;
        result
    }
}

/// Account administration for the `cipherdrop user` commands (direct database access).
pub mod admin {
    use super::*;

    /// Adds an account. With a password it can log in at once; without, the returned one-time
    /// link token lets its owner choose one.
    pub async fn add_user(
        db: &SqlitePool,
        username: &str,
        password: Option<&str>,
        is_admin: bool,
    ) -> Result<Option<zeroize::Zeroizing<String>>, AccountError> {
        let hash = match password {
            Some(p) => Some(accounts::hash_password(p).await?),
            None => None,
        };
        let user = accounts::create_user(db, username, hash.as_deref(), is_admin).await?;
        let detail = format!(
            "{username} (command line{})",
            if is_admin { ", admin" } else { "" }
        );
        audit::AuditLog::new(db.clone())
            .record(&audit::Event {
                actor: "system",
                action: "user.created",
                outcome: "ok",
                detail: &detail,
                ..Default::default()
            })
            .await;
        if hash.is_some() {
            Ok(None)
        } else {
            Ok(Some(accounts::create_login_link(db, &user.id).await?))
        }
    }

    /// Replaces an account's password (ending its sessions), or, without one, returns a one-time
    /// link token that lets its owner choose a new one.
    pub async fn reset_password(
        db: &SqlitePool,
        username: &str,
        password: Option<&str>,
    ) -> Result<Option<zeroize::Zeroizing<String>>, AccountError> {
        let Some((user, _)) = accounts::find_user(db, username).await? else {
            return Err(AccountError::NoSuchUser(username.to_owned()));
        };
        let detail = format!("{username} (command line)");
        audit::AuditLog::new(db.clone())
            .record(&audit::Event {
                actor: "system",
                action: "user.password_reset",
                outcome: "ok",
                detail: &detail,
                ..Default::default()
            })
            .await;
        match password {
            Some(p) => {
                let hash = accounts::hash_password(p).await?;
                accounts::set_password(db, &user.id, Some(&hash)).await?;
                Ok(None)
            }
            None => {
                accounts::set_password(db, &user.id, None).await?;
                Ok(Some(accounts::create_login_link(db, &user.id).await?))
            }
        }
    }
}
