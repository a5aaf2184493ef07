//! The server's configuration and the state every request handler shares.
//!
//! Kept apart from `lib.rs` so that the modules below the routes can name the state without
//! importing the crate root, which imports them: the module graph stays acyclic.

use std::path::PathBuf;
use std::time::Duration;

use crate::db::Db;

use crate::audit::AuditLog;
use crate::aws::Aws;
use crate::limiter::{HashGate, Limiter};
use crate::quotas::Quota;

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
    /// How often a replica looks for key-rotation jobs to run.
    pub rekey_interval: Duration,
    /// On a stop (SIGTERM), how long `/readyz` fails while requests are still served, so that a
    /// load balancer stops sending new ones before the listener closes.
    pub drain: Duration,
    /// After the listener closes, how long requests in flight may take before the process
    /// stops anyway.
    pub shutdown_grace: Duration,
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
    /// Wrong passphrases allowed per share link per window.
    pub share_failures_per_link: u32,
    /// Wrong passphrases allowed per client address per window.
    pub share_failures_per_ip: u32,
    /// Uploads a client address may start through file requests per window.
    pub sender_uploads_per_ip: u32,
    /// Key releases one share link gives per window (each costs KMS calls), whatever its
    /// download limit.
    pub share_releases_per_link: u32,
    /// Key releases of any links one client address gets per window.
    pub share_releases_per_ip: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client; from anyone else it is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// argon2 checks running at once (each holds 19 MiB).
    pub max_concurrent_hashes: usize,
    /// Requests waiting for an argon2 check; past that they are refused with 429.
    pub max_waiting_hashes: usize,
    /// Every account's limits, unless the account overrides them.
    pub quota: Quota,
    /// Signed checkpoints of the audit chain (`None`: none are written).
    pub audit_checkpoints: Option<crate::checkpoints::Settings>,
    /// Batches of the audit log pushed to a bucket or webhook (`None`: not pushed).
    pub audit_push: Option<crate::audit_push::Settings>,
    /// Whether accounts' webhooks may reach loopback, private and link-local addresses (and
    /// plain http): off, except on a private network whose receivers the administrator trusts.
    pub webhook_private_targets: bool,
    /// How often the webhook worker looks for deliveries that are due.
    pub notify_interval: Duration,
    /// The SMTP server e-mail notifications go through (`None`: no e-mail).
    pub smtp: Option<crate::mailer::SmtpSettings>,
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
            rekey_interval: Duration::from_secs(5),
            drain: Duration::ZERO,
            shutdown_grace: Duration::from_secs(30),
            request_timeout: Duration::from_secs(120),
            web_dir: None,
            login_failures_per_account: 5,
            login_failures_per_ip: 20,
            login_window: Duration::from_secs(15 * 60),
            share_failures_per_link: 5,
            share_failures_per_ip: 20,
            sender_uploads_per_ip: 200,
            share_releases_per_link: 300,
            share_releases_per_ip: 100,
            trusted_proxies: Vec::new(),
            max_concurrent_hashes: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_waiting_hashes: 64,
            quota: Quota::default(),
            audit_checkpoints: None,
            audit_push: None,
            webhook_private_targets: false,
            notify_interval: Duration::from_secs(2),
            smtp: None,
        }
    }
}

/// Everything a request handler needs.
pub struct AppState {
    pub(crate) config: Config,
    pub(crate) db: Db,
    pub(crate) audit: AuditLog,
    /// Writes the audit chain's signed checkpoints, if configured.
    pub(crate) checkpointer: Option<crate::checkpoints::Checkpointer>,
    pub(crate) aws: Aws,
    /// Failed logins: per account and per client network.
    pub(crate) limiter: Limiter,
    /// Wrong share passphrases: per link and per client network.
    pub(crate) share_limiter: Limiter,
    /// Uploads started through file requests, per client network (every start counts).
    pub(crate) sender_limiter: Limiter,
    /// Share links' key releases, per link and per client network (every release counts).
    pub(crate) release_limiter: Limiter,
    /// The argon2 checks running and waiting.
    pub(crate) hashing: HashGate,
    /// Where the sweeper's scan for orphaned objects resumes (an S3 continuation token).
    pub(crate) orphan_scan: std::sync::Mutex<Option<String>>,
    /// Held while this process runs key-rotation jobs (the cluster-wide lock keeps other
    /// replicas out; this keeps a second pass of this one out).
    pub(crate) rekey_gate: tokio::sync::Mutex<()>,
    /// The Content-Security-Policy header, made on first use (see [`AppState::csp`]).
    csp: tokio::sync::OnceCell<axum::http::HeaderValue>,
    /// Readiness: draining, and the last check of the database, KMS and S3.
    pub(crate) health: crate::health::Health,
    /// Sends e-mail notifications, if SMTP is set up.
    pub(crate) mailer: Option<crate::mailer::Mailer>,
}

impl AppState {
    /// The KMS key an account's new data keys come from: its own, or the server's.
    pub(crate) async fn issuing_key(&self, user_id: &str) -> Result<String, sqlx::Error> {
        let own: Option<Option<String>> =
            sqlx::query_scalar("SELECT kms_key_id FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.db)
                .await?;
        Ok(own
            .flatten()
            .unwrap_or_else(|| self.config.kms_key_id.clone()))
    }
}

impl AppState {
    /// The state over an open database and connected clients.
    pub fn new(config: Config, db: Db, aws: Aws) -> Self {
        let limiter = Limiter::new(
            db.clone(),
            "login",
            config.login_failures_per_account,
            config.login_failures_per_ip,
            config.login_window,
        );
        let share_limiter = Limiter::new(
            db.clone(),
            "share",
            config.share_failures_per_link,
            config.share_failures_per_ip,
            config.login_window,
        );
        let sender_limiter = Limiter::new(
            db.clone(),
            "send",
            u32::MAX,
            config.sender_uploads_per_ip,
            config.login_window,
        );
        let release_limiter = Limiter::new(
            db.clone(),
            "release",
            config.share_releases_per_link,
            config.share_releases_per_ip,
            config.login_window,
        );
        let hashing = HashGate::new(config.max_concurrent_hashes, config.max_waiting_hashes);
        let checkpointer = config.audit_checkpoints.clone().map(|settings| {
            crate::checkpoints::Checkpointer::new(db.clone(), aws.clone(), settings)
        });
        Self {
            hashing,
            checkpointer,
            csp: tokio::sync::OnceCell::new(),
            health: crate::health::Health::default(),
            mailer: config.smtp.clone().map(crate::mailer::Mailer::new),
            orphan_scan: std::sync::Mutex::new(None),
            rekey_gate: tokio::sync::Mutex::new(()),
            audit: AuditLog::new(db.clone()),
            config,
            db,
            aws,
            limiter,
            share_limiter,
            sender_limiter,
            release_limiter,
        }
    }

    /// The Content-Security-Policy of every answer: the S3 origin is read off a presigned URL (so
    /// it is right for AWS, path-style stores and the embedded S3 alike) and the inline loader's
    /// hash off the served `index.html`, once (restart after rebuilding the bundle).
    pub(crate) async fn csp(&self) -> &axum::http::HeaderValue {
        self.csp
            .get_or_init(|| async {
                let probe = self
                    .aws
                    .presign_get(&self.config.bucket, "csp-probe", Duration::from_secs(60))
                    .await
                    .ok();
                let s3 = probe.as_deref().and_then(crate::csp::origin_of);
                let hashes = self
                    .config
                    .web_dir
                    .as_ref()
                    .and_then(|d| std::fs::read_to_string(d.join("index.html")).ok())
                    .map(|html| crate::csp::inline_script_hashes(&html))
                    .unwrap_or_default();
                let policy = crate::csp::content_security_policy(s3, &hashes);
                axum::http::HeaderValue::from_str(&policy)
                    .unwrap_or_else(|_| axum::http::HeaderValue::from_static("default-src 'self'"))
            })
            .await
    }

    /// When presigned URLs handed out now expire (Unix seconds).
    pub(crate) fn urls_expire_at(&self) -> i64 {
        crate::db::now() + i64::try_from(self.config.url_ttl.as_secs()).unwrap_or(0)
    }
}
