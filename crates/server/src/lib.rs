//! `cipherdrop-server`: the thin backend.
//!
//! It issues KMS data keys bound to opaque encryption contexts, presigns S3 multipart uploads so
//! the browser sends ciphertext straight to S3, checks each completed object's ESDK header against
//! what it issued, releases data keys only to their owners (KMS `Decrypt` of the *stored* EDK with
//! the *stored* context), and records every such event in a hash-chained audit log. It never sees
//! file plaintext and never receives the ciphertext bulk. KMS and S3 are reached only through
//! `aws-sdk-kms` and `aws-sdk-s3`.
#![recursion_limit = "256"] // the OpenAPI document is one `json!` literal

mod accounts;
mod actor;
mod anchor;
mod assets;
pub mod audit;
pub mod audit_push;
pub mod aws;
pub mod backup;
pub mod checkpoints;
mod csp;
pub mod db;
mod error;
mod extract;
pub mod health;
mod limiter;
pub mod mailer;
mod metakeys;
pub mod metrics;
mod middleware;
pub mod notify;
mod objects;
mod quotas;
pub mod rekey;
mod requests;
mod routes;
pub mod secrets;
mod shares;
mod state;
mod sweeper;
mod tokens;
mod uploads;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::db::Db;
use axum::Router;

pub use accounts::{AccountError, MIN_PASSWORD_LEN, User};
pub use aws::{Aws, AwsSettings};
pub use error::ApiError;
pub use extract::SESSION_COOKIE;
pub use quotas::{Overrides as QuotaOverrides, Quota};
pub use state::{AppState, Config};

/// Every route, under the middleware: the API at `/api`, the web bundle (if configured) at `/`.
///
/// A route that API tokens may use names the scope they need (`scoped`); every other route takes
/// page sessions only.
pub fn app(state: Arc<AppState>) -> Router {
    let mut api = Router::new();
    for endpoint in routes::table::endpoints() {
        api = api.route(endpoint.path, endpoint.handler);
    }
    let api = api
        .route_layer(axum::middleware::from_fn(middleware::tag_route))
        .fallback(|| async { ApiError::not_found("API route") });
    let mut app = Router::new()
        .route("/healthz", axum::routing::get(routes::health::healthz))
        .route("/readyz", axum::routing::get(routes::health::readyz))
        .route_layer(axum::middleware::from_fn(middleware::tag_route))
        .nest("/api", api);
    if let Some(dir) = &state.config.web_dir {
        app = app.fallback_service(assets::service(dir));
    }
    middleware::layers(app, &state).with_state(state)
}

/// The server: state plus how to serve it.
#[derive(Clone)]
pub struct Server {
    state: Arc<AppState>,
}

impl Server {
    /// Builds the server over an open database and connected clients.
    pub fn new(config: Config, db: Db, aws: Aws) -> Self {
        Self {
            state: Arc::new(AppState::new(config, db, aws)),
        }
    }

    /// The axum router (API, OpenAPI document, web bundle).
    pub fn router(&self) -> Router {
        app(self.state.clone())
    }

    /// The router of the metrics listener: `GET /metrics` only (Prometheus text). Serve it on
    /// an address of its own, never the public one.
    pub fn metrics_router(&self) -> Router {
        Router::new()
            .route("/metrics", axum::routing::get(routes::health::metrics))
            .with_state(self.state.clone())
    }

    /// Serves [`Server::metrics_router`] on `listener` until `shutdown` resolves.
    pub async fn serve_metrics(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.metrics_router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// The most argon2 checks that ran at once since the start (bounded by
    /// `Config::max_concurrent_hashes`).
    pub fn peak_hashing(&self) -> usize {
        self.state.hashing.peak()
    }

    /// One pass of the sweeper now (what the background task does every sweep interval);
    /// returns how many abandoned uploads it aborted.
    pub async fn sweep(&self) -> Result<usize, ApiError> {
        sweeper::sweep(&self.state).await
    }

    /// Sends the webhook deliveries that are due now (what the worker does every notify
    /// interval); returns how many were delivered.
    pub async fn deliver_webhooks(&self) -> Result<usize, ApiError> {
        notify::deliver_due(&self.state).await
    }

    /// Sends the e-mails that are due now (what the worker does every notify interval); returns
    /// how many went.
    pub async fn deliver_mail(&self) -> Result<usize, ApiError> {
        notify::mail::deliver_due(&self.state).await
    }

    /// Looks for links and requests that expire within a day now (what the worker does once a
    /// minute); returns how many events it recorded.
    pub async fn notify_scan(&self) -> Result<usize, ApiError> {
        notify::expiring(&self.state).await
    }

    /// One pass of the key rotation jobs now (what the background task does every rekey
    /// interval), stopping at `stop_at` as a crash there would; returns how many files moved.
    pub async fn rekey_pass(&self, stop_at: Option<rekey::Step>) -> Result<usize, ApiError> {
        rekey::pass(&self.state, stop_at).await
    }

    /// Pushes the audit rows its target does not have yet now (what the push timer does);
    /// returns how many.
    pub async fn push_audit(&self) -> Result<u64, audit_push::PushError> {
        match &self.state.config.audit_push {
            Some(settings) => audit_push::push_now(&self.state.db, &self.state.aws, settings).await,
            None => Ok(0),
        }
    }

    /// Signs a checkpoint of the audit chain's head now (what the checkpoint timer does), unless
    /// checkpoints are off or one covers the head already; returns the one recorded.
    pub async fn checkpoint_now(
        &self,
    ) -> Result<Option<checkpoints::Checkpoint>, checkpoints::CheckpointError> {
        match &self.state.checkpointer {
            Some(c) => c.checkpoint_now().await,
            None => Ok(None),
        }
    }

    /// On first start (no accounts yet): makes the `admin` account and returns a one-time login
    /// token for it.
    pub async fn bootstrap_admin(
        &self,
    ) -> Result<Option<zeroize::Zeroizing<String>>, AccountError> {
        if accounts::any_user(&self.state.db).await? {
            return Ok(None);
        }
        let user = match accounts::create_user(&self.state.db, "admin", None, true).await {
            Ok(user) => user,
            // Another replica starting at the same moment made it.
            Err(AccountError::Exists(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
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

    /// Serves on `listener` until `shutdown` resolves, running the sweeper and the audit
    /// checkpoints alongside. Then `/readyz` fails for [`Config::drain`] while requests are
    /// still served (a load balancer stops sending new ones), the listener closes, requests in
    /// flight finish (for at most [`Config::shutdown_grace`]), and a last checkpoint is signed.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let sweeper = tokio::spawn(sweeper::run(self.state.clone()));
        let rekeyer = tokio::spawn(rekey::run(self.state.clone()));
        let notifier = tokio::spawn(notify::run(self.state.clone()));
        let checkpointer = tokio::spawn(checkpoint_timer(self.state.clone()));
        let pusher = self.state.config.audit_push.clone().map(|settings| {
            let (db, aws) = (self.state.db.clone(), self.state.aws.clone());
            tokio::spawn(audit_push::run(db, aws, settings))
        });
        let closed = Arc::new(tokio::sync::Notify::new());
        let stopping = {
            let (state, closed) = (self.state.clone(), closed.clone());
            async move {
                shutdown.await;
                state.health.start_draining();
                tracing::info!(
                    drain_secs = state.config.drain.as_secs_f64(),
                    "stopping: /readyz fails from now on; the listener closes after the drain"
                );
                tokio::time::sleep(state.config.drain).await;
                tracing::info!("listener closed; finishing the requests in flight");
                closed.notify_one();
            }
        };
        let serving = axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stopping)
        .into_future();
        let grace = self.state.config.shutdown_grace;
        let result = tokio::select! {
            r = serving => r,
            () = async {
                closed.notified().await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(
                    grace_secs = grace.as_secs_f64(),
                    "requests still in flight after the shutdown grace period: stopping anyway"
                );
                Ok(())
            }
        };
        sweeper.abort();
        rekeyer.abort();
        notifier.abort();
        checkpointer.abort();
        if let Some(p) = pusher {
            p.abort();
        }
        last_checkpoint(&self.state).await;
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
        db: &Db,
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

    pub use crate::accounts::{account_key, set_account_key};

    /// An account's id, by name.
    pub async fn user_id(db: &Db, username: &str) -> Result<Option<String>, sqlx::Error> {
        Ok(accounts::find_user(db, username).await?.map(|(u, _)| u.id))
    }

    /// Replaces an account's password (ending its sessions), or, without one, returns a one-time
    /// link token that lets its owner choose a new one.
    pub async fn reset_password(
        db: &Db,
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

    /// Sets an account's quota overrides (`None`: the server's default); audited.
    pub async fn set_quota(
        db: &Db,
        username: &str,
        overrides: quotas::Overrides,
    ) -> Result<(), AccountError> {
        quotas::set_overrides(db, username, overrides).await?;
        let text = |v: Option<i64>| v.map_or("default".to_owned(), |n| n.to_string());
        let detail = format!(
            "{username}: pending uploads {}, pending bytes {}, stored bytes {} (command line)",
            text(overrides.quota_pending_uploads),
            text(overrides.quota_pending_bytes),
            text(overrides.quota_stored_bytes)
        );
        audit::AuditLog::new(db.clone())
            .record(&audit::Event {
                actor: "system",
                action: "user.quota",
                outcome: "ok",
                detail: &detail,
                ..Default::default()
            })
            .await;
        Ok(())
    }

    /// Makes an API token for `username` (audited); returns it and its secret, shown once.
    pub async fn create_token(
        db: &Db,
        username: &str,
        req: &cipherdrop_api::CreateTokenRequest,
    ) -> Result<(cipherdrop_api::TokenSummary, zeroize::Zeroizing<String>), ApiError> {
        let (user, _) = accounts::find_user(db, username)
            .await?
            .ok_or_else(|| ApiError::bad_request(format!("no account named {username:?}")))?;
        let settings = tokens::settings(req)?;
        let secret = tokens::new_secret();
        let row = tokens::insert(db, &user.id, &secret, settings).await?;
        let detail = format!(
            "{username}: {} (scopes {}, expires at {}; command line)",
            row.name, row.scopes, row.expires_at
        );
        audit::AuditLog::new(db.clone())
            .record(&audit::Event {
                actor: "system",
                action: "token.created",
                object: Some(&row.id),
                outcome: "ok",
                detail: &detail,
                ..Default::default()
            })
            .await;
        Ok((row.summary(), secret))
    }

    /// An account's API tokens, newest first.
    pub async fn tokens(
        db: &Db,
        username: &str,
    ) -> Result<Vec<cipherdrop_api::TokenSummary>, ApiError> {
        let (user, _) = accounts::find_user(db, username)
            .await?
            .ok_or_else(|| ApiError::bad_request(format!("no account named {username:?}")))?;
        Ok(tokens::of_user(db, &user.id)
            .await?
            .iter()
            .map(tokens::TokenRow::summary)
            .collect())
    }

    /// Revokes an account's API token (audited).
    pub async fn revoke_token(db: &Db, username: &str, id: &str) -> Result<(), ApiError> {
        let (user, _) = accounts::find_user(db, username)
            .await?
            .ok_or_else(|| ApiError::bad_request(format!("no account named {username:?}")))?;
        let row = tokens::owned(db, &user.id, id).await?;
        tokens::revoke(db, &row.id).await?;
        audit::AuditLog::new(db.clone())
            .record(&audit::Event {
                actor: "system",
                action: "token.revoked",
                object: Some(&row.id),
                outcome: "ok",
                detail: &format!("{username}: {} (command line)", row.name),
                ..Default::default()
            })
            .await;
        Ok(())
    }

    /// An account's quota overrides.
    pub async fn quota(db: &Db, username: &str) -> Result<quotas::Overrides, AccountError> {
        quotas::overrides(db, username).await
    }
}

/// Writes checkpoints for as long as the server runs: after every `every_rows` rows this process
/// appends (counted from the last checkpoint, whoever wrote it), and every `every` if any row came
/// since. A failure waits until the next period.
async fn checkpoint_timer(state: Arc<AppState>) {
    let Some(checkpointer) = &state.checkpointer else {
        return;
    };
    let settings = checkpointer.settings();
    let rows = i64::try_from(settings.every_rows.max(1)).unwrap_or(i64::MAX);
    let every = settings.every.max(std::time::Duration::from_secs(1));
    let mut appended = state.audit.subscribe();
    let mut covered_to = checkpoints::covered(&state.db).await.unwrap_or(0);
    let mut next = tokio::time::Instant::now() + every;
    let mut failed_until: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            changed = appended.changed() => {
                let head = *appended.borrow_and_update();
                let waiting = failed_until.is_some_and(|t| tokio::time::Instant::now() < t);
                if changed.is_err() {
                    // The log is gone (the server is stopping): the timer alone is left.
                    tokio::time::sleep_until(next).await;
                } else if waiting || head - covered_to < rows {
                    continue;
                }
            }
        }
        match checkpointer.checkpoint_now().await {
            Ok(_) => failed_until = None,
            Err(e) => {
                tracing::warn!(error = %e, "could not write an audit checkpoint; will retry");
                failed_until = Some(tokio::time::Instant::now() + every);
            }
        }
        if let Ok(c) = checkpoints::covered(&state.db).await {
            covered_to = c;
        }
        next = tokio::time::Instant::now() + every;
    }
}

/// A last checkpoint as the server stops (at most 10 seconds: KMS may be the reason it stops).
async fn last_checkpoint(state: &AppState) {
    let Some(checkpointer) = &state.checkpointer else {
        return;
    };
    match tokio::time::timeout(
        std::time::Duration::from_secs(10),
        checkpointer.checkpoint_now(),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not write the last audit checkpoint"),
        Err(_) => tracing::warn!("the last audit checkpoint took too long; left for next start"),
    }
}
