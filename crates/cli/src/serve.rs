//! `cipherdrop serve`: the composition root of the backend. With no AWS settings it starts the
//! embedded KMS (loopback, `alias/cipherdrop` and an audit signing key made on first start) and
//! the embedded S3 (its own port, bucket made on first start); with `--kms-key-id` /
//! `--s3-bucket` it uses AWS or any compatible endpoint instead.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use cipherdrop_server::{AwsSettings, Config, Server};
use clap::Args;
use tokio::sync::watch;

use crate::audit::SIGNING_KEY_FILE;
use crate::database::DbArgs;
use crate::parse::{parse_net, parse_size, parse_suite};
use crate::process::{init_tracing, runtime, shutdown_signal};
use crate::user::login_link;

/// Alias of the key made in the embedded KMS.
pub const EMBEDDED_ALIAS: &str = "alias/cipherdrop";
/// Bucket made in the embedded S3.
pub const EMBEDDED_BUCKET: &str = "cipherdrop";

/// `cipherdrop serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address of the app and API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Folder for the database and the embedded services' data (created if missing).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// The URL browsers use to reach the app (default: http:// + the listen address).
    #[arg(long)]
    public_url: Option<String>,
    /// The built web bundle to serve (Trunk's output).
    #[arg(long, default_value = "dist")]
    web_dir: PathBuf,
    /// Address of the embedded S3 (browsers upload to it directly).
    #[arg(long, default_value = "127.0.0.1:8081")]
    s3_listen: SocketAddr,
    /// KMS key id, ARN or alias (default: the embedded KMS and its alias/cipherdrop).
    #[arg(long)]
    kms_key_id: Option<String>,
    /// KMS endpoint (default: AWS's for the region).
    #[arg(long, requires = "kms_key_id")]
    kms_endpoint: Option<String>,
    /// KMS region (default: the S3 region).
    #[arg(long)]
    kms_region: Option<String>,
    /// File of the embedded KMS's master key, which encrypts its keys at rest (default:
    /// DATA_DIR/kms/master.key, made on first start). Keep it apart from the data folder's backups.
    #[arg(long, value_name = "PATH", conflicts_with = "kms_key_id")]
    kms_master_key: Option<PathBuf>,
    /// S3 bucket (default: the embedded S3 and its bucket "cipherdrop").
    #[arg(long)]
    s3_bucket: Option<String>,
    /// S3 region.
    #[arg(long, default_value = "us-east-1")]
    s3_region: String,
    /// S3 endpoint, for S3-compatible stores (default: AWS's for the region).
    #[arg(long, requires = "s3_bucket")]
    s3_endpoint: Option<String>,
    /// Path-style S3 addressing (MinIO-like stores).
    #[arg(long, requires = "s3_bucket")]
    s3_path_style: bool,
    /// Largest plaintext accepted, in bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024 * 1024)]
    max_object_size: u64,
    /// Algorithm suite the page preselects for uploads: 0x0478, or 0x0578 (signed).
    #[arg(long, default_value = "0x0478", value_parser = parse_suite)]
    default_suite: u16,
    /// Lifetime of presigned URLs, in seconds.
    #[arg(long, default_value_t = 3600)]
    url_ttl_secs: u64,
    /// Pending uploads older than this many seconds are aborted.
    #[arg(long, default_value_t = 24 * 3600)]
    abandon_after_secs: u64,
    /// Seconds between sweeps for abandoned uploads.
    #[arg(long, default_value_t = 300)]
    sweep_interval_secs: u64,
    /// On SIGTERM, seconds /readyz fails while requests are still served, so that a load
    /// balancer stops sending new ones before the listener closes (its health check interval
    /// times the failures it needs).
    #[arg(long, env = "CIPHERDROP_DRAIN_SECS", default_value_t = 5)]
    drain_secs: u64,
    /// After the listener closes, seconds requests in flight may take before the process stops
    /// anyway.
    #[arg(long, default_value_t = 30)]
    shutdown_grace_secs: u64,
    /// Serve Prometheus metrics (`GET /metrics`) on this address, a listener of its own (off by
    /// default; never on the public one).
    #[arg(long, value_name = "ADDRESS")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// A reverse proxy (address or CIDR, repeatable) whose X-Forwarded-For names the client;
    /// from anyone else the header is ignored.
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = parse_net)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Password checks (argon2, 19 MiB each) running at once (default: the number of cores).
    #[arg(long)]
    max_concurrent_hashes: Option<usize>,
    /// Requests that may wait for a password check; more are refused with 429.
    #[arg(long, default_value_t = 64)]
    max_waiting_hashes: usize,
    /// Unfinished uploads an account may have at once (unless `cipherdrop user quota` gives it
    /// its own).
    #[arg(long, default_value_t = 20)]
    quota_pending_uploads: u64,
    /// Bytes an account's unfinished uploads may declare together (a number, or with K, M, G or
    /// T: binary units).
    #[arg(long, default_value = "128G", value_parser = parse_size)]
    quota_pending_bytes: u64,
    /// Bytes an account may store, unfinished uploads included.
    #[arg(long, default_value = "512G", value_parser = parse_size)]
    quota_stored_bytes: u64,
    /// KMS key (ECC_NIST_P384, SIGN_VERIFY) that signs checkpoints of the audit chain, in the
    /// same KMS as --kms-key-id (default with the embedded KMS: one made on first start; with an
    /// external KMS and none given, no checkpoints are written).
    #[arg(long, value_name = "KEY")]
    audit_signing_key_id: Option<String>,
    /// A checkpoint once this many audit rows came since the last one.
    #[arg(long, default_value_t = 1000)]
    audit_checkpoint_rows: u64,
    /// A checkpoint this often (seconds), if any audit row came since the last one.
    #[arg(long, default_value_t = 300)]
    audit_checkpoint_secs: u64,
    /// A bucket that gets a copy of each checkpoint (audit-checkpoints/{row}.json); on AWS one
    /// with Object Lock enabled.
    #[arg(long, value_name = "BUCKET")]
    audit_checkpoint_bucket: Option<String>,
    /// Object Lock (COMPLIANCE mode) on each copy for this many days.
    #[arg(long, value_name = "DAYS", requires = "audit_checkpoint_bucket")]
    audit_checkpoint_retain_days: Option<u32>,
    /// Let accounts' webhooks reach loopback, private and link-local addresses and plain http
    /// (a receiver on your own network); off by default.
    #[arg(long)]
    webhook_private_targets: bool,
    /// Push the audit log in batches to this bucket (on AWS one with Object Lock), as
    /// PREFIX{first}-{last}.jsonl exports that check without the database.
    #[arg(long, value_name = "BUCKET", conflicts_with = "audit_push_url")]
    audit_push_bucket: Option<String>,
    /// Key prefix of the pushed batches.
    #[arg(long, default_value = "audit-log/")]
    audit_push_prefix: String,
    /// Push the audit log in batches to this URL (POST, signed per Standard Webhooks with the
    /// secret in the environment variable CIPHERDROP_AUDIT_PUSH_SECRET, whsec_…).
    #[arg(long, value_name = "URL")]
    audit_push_url: Option<String>,
    /// Most rows in one pushed batch.
    #[arg(long, default_value_t = 1000)]
    audit_push_rows: u64,
    /// Seconds between looks for new audit rows to push.
    #[arg(long, default_value_t = 60)]
    audit_push_secs: u64,
    #[command(flatten)]
    smtp: crate::smtp::SmtpArgs,
    #[command(flatten)]
    db: DbArgs,
}

/// Where the audit log is pushed, if anywhere; the webhook's secret from the environment.
fn audit_push(a: &ServeArgs) -> Result<Option<cipherdrop_server::audit_push::Settings>> {
    use cipherdrop_server::audit_push::{Settings, Target};
    let target = match (&a.audit_push_bucket, &a.audit_push_url) {
        (Some(bucket), _) => Target::Bucket {
            bucket: bucket.clone(),
            prefix: a.audit_push_prefix.clone(),
        },
        (None, Some(url)) => {
            let parsed = url::Url::parse(url).context("--audit-push-url is not a URL")?;
            if !matches!(parsed.scheme(), "https" | "http") {
                anyhow::bail!("--audit-push-url must be https (or http on a private network)");
            }
            let text =
                zeroize::Zeroizing::new(std::env::var("CIPHERDROP_AUDIT_PUSH_SECRET").context(
                    "--audit-push-url needs the receiver's secret in CIPHERDROP_AUDIT_PUSH_SECRET",
                )?);
            let secret = cipherdrop_server::webhook::Secret::parse(&text)
                .context("CIPHERDROP_AUDIT_PUSH_SECRET")?;
            Target::Webhook {
                url: url.clone(),
                secret,
            }
        }
        (None, None) => return Ok(None),
    };
    let mut settings = Settings::new(target);
    settings.batch_rows = a.audit_push_rows.max(1);
    settings.every = Duration::from_secs(a.audit_push_secs.max(1));
    Ok(Some(settings))
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(a: ServeArgs) -> Result<()> {
    init_tracing();
    std::fs::create_dir_all(&a.data_dir)
        .with_context(|| format!("creating {}", a.data_dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&a.data_dir, std::fs::Permissions::from_mode(0o700))?;
    }
    runtime()?.block_on(serve_async(a))
}

async fn serve_async(a: ServeArgs) -> Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("listening on {}", a.listen))?;
    let addr = listener.local_addr()?;
    let public_url = a
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();

    let mut settings = AwsSettings {
        s3_region: a.s3_region.clone(),
        kms_region: a.kms_region.clone().unwrap_or_else(|| a.s3_region.clone()),
        kms_endpoint: a.kms_endpoint.clone(),
        s3_endpoint: a.s3_endpoint.clone(),
        s3_path_style: a.s3_path_style,
        kms_credentials: None,
        s3_credentials: None,
    };
    let mut tasks = Vec::new();

    // Embedded KMS, on loopback only.
    let embedded_kms = a.kms_key_id.is_none();
    if embedded_kms {
        let kms = Arc::new(
            crate::kms::open(
                &a.data_dir.join("kms"),
                a.kms_master_key.as_deref(),
                &settings.kms_region,
                cipherdrop_kms::DEFAULT_ACCOUNT,
            )
            .context("opening the embedded KMS")?,
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        settings.kms_endpoint = Some(format!("http://{}", l.local_addr()?));
        let c = kms.credentials();
        settings.kms_credentials = Some((c.access_key_id.clone(), c.secret_access_key.clone()));
        tasks.push(tokio::spawn(cipherdrop_kms::serve(l, kms, stopped())));
    }

    // Embedded S3.
    let embedded_s3 = a.s3_bucket.is_none();
    let mut s3_url = None;
    if embedded_s3 {
        let dir = a.data_dir.join("s3");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let creds = cipherdrop_s3::Credentials::load_or_create(&dir.join("credentials.json"))
            .context("embedded S3 credentials")?;
        let router = cipherdrop_s3::router(&cipherdrop_s3::Options {
            data_dir: &dir.join("buckets"),
            credentials: &creds,
            cors_origins: vec![public_url.clone()],
        })?;
        let l = tokio::net::TcpListener::bind(a.s3_listen)
            .await
            .with_context(|| format!("listening on {} (embedded S3)", a.s3_listen))?;
        let url = format!("http://{}", l.local_addr()?);
        settings.s3_endpoint = Some(url.clone());
        settings.s3_path_style = true;
        settings.s3_credentials =
            Some((creds.access_key_id.clone(), creds.secret_access_key.clone()));
        s3_url = Some(url);
        tasks.push(tokio::spawn(cipherdrop_s3::serve(l, router, stopped())));
    }

    let aws = cipherdrop_server::Aws::connect(&settings).await;
    // With the embedded KMS, data keys come from its alias: pointing the alias at a new key
    // (`UpdateAlias`) makes new uploads use it, the first step of a key rotation.
    let (kms_key_id, key_shown) = match &a.kms_key_id {
        Some(k) => (k.clone(), k.clone()),
        None => {
            let arn = aws
                .ensure_key_alias(EMBEDDED_ALIAS)
                .await
                .map_err(|e| anyhow::anyhow!("embedded KMS: {}", e.message))?;
            (EMBEDDED_ALIAS.to_owned(), arn)
        }
    };
    let bucket = a
        .s3_bucket
        .clone()
        .unwrap_or_else(|| EMBEDDED_BUCKET.to_owned());
    if embedded_s3 {
        aws.ensure_bucket(&bucket)
            .await
            .map_err(|e| anyhow::anyhow!("embedded S3: {}", e.message))?;
        for b in [&a.audit_checkpoint_bucket, &a.audit_push_bucket]
            .into_iter()
            .flatten()
        {
            aws.ensure_bucket(b)
                .await
                .map_err(|e| anyhow::anyhow!("embedded S3: {}", e.message))?;
        }
    }
    let signing_key = match &a.audit_signing_key_id {
        Some(k) => Some(k.clone()),
        None if embedded_kms => embedded_signing_key(&aws, &a.data_dir).await,
        None => None,
    };

    let db = a.db.open(&a.data_dir).await?;
    let mut refresher = None;
    if let Some(every) = a.db.refresh() {
        let db = db.clone();
        refresher = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = db.refresh_credentials().await {
                    tracing::warn!(error = %e, "could not read the database credentials again");
                }
            }
        }));
    }
    let mut config = Config::new(&public_url, &kms_key_id, &bucket);
    config.max_object_size = a.max_object_size;
    config.default_suite = a.default_suite;
    config.url_ttl = Duration::from_secs(a.url_ttl_secs);
    config.abandon_after = Duration::from_secs(a.abandon_after_secs);
    config.sweep_interval = Duration::from_secs(a.sweep_interval_secs.max(1));
    config.drain = Duration::from_secs(a.drain_secs);
    config.shutdown_grace = Duration::from_secs(a.shutdown_grace_secs);
    config.trusted_proxies = a.trusted_proxies.clone();
    if let Some(n) = a.max_concurrent_hashes {
        config.max_concurrent_hashes = n.max(1);
    }
    config.max_waiting_hashes = a.max_waiting_hashes;
    config.quota = cipherdrop_server::Quota {
        pending_uploads: a.quota_pending_uploads,
        pending_bytes: a.quota_pending_bytes,
        stored_bytes: a.quota_stored_bytes,
    };
    config.audit_checkpoints = signing_key.as_ref().map(|key| {
        let mut c = cipherdrop_server::checkpoints::Settings::new(key);
        c.every_rows = a.audit_checkpoint_rows.max(1);
        c.every = Duration::from_secs(a.audit_checkpoint_secs.max(1));
        c.bucket = a.audit_checkpoint_bucket.clone();
        c.retain_days = a.audit_checkpoint_retain_days;
        c
    });
    config.audit_push = audit_push(&a)?;
    config.webhook_private_targets = a.webhook_private_targets;
    config.smtp = a.smtp.settings(a.db.secrets_settings())?;
    if a.web_dir.join("index.html").is_file() {
        config.web_dir = Some(a.web_dir.clone());
    } else {
        tracing::warn!(dir = %a.web_dir.display(), "no web bundle there: serving the API only");
    }
    let server = Server::new(config, db, aws);
    let first_login = server.bootstrap_admin().await?;
    let metrics = match a.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening for metrics on {addr}"))?;
            let addr = listener.local_addr()?;
            let server = server.clone();
            let stop = stopped();
            tasks.push(tokio::spawn(async move {
                server.serve_metrics(listener, stop).await
            }));
            Some(addr)
        }
        None => None,
    };

    // Lines a supervisor (or a test) can wait for; the first one is always this.
    println!("cipherdrop listening on {public_url}");
    if let Some(url) = &s3_url {
        println!("embedded S3 at {url} (bucket {bucket})");
    }
    match &settings.kms_endpoint {
        Some(ep) if embedded_kms => {
            println!("KMS key {key_shown} ({kms_key_id}, embedded KMS at {ep})");
        }
        _ => println!("KMS key {key_shown}"),
    }
    match &signing_key {
        Some(key) => println!(
            "audit checkpoints signed by {key} every {} rows or {} s",
            a.audit_checkpoint_rows.max(1),
            a.audit_checkpoint_secs.max(1)
        ),
        None => println!(
            "audit checkpoints off (no --audit-signing-key-id): the audit chain is anchored only in the database"
        ),
    }
    if let Some(addr) = metrics {
        println!("metrics at http://{addr}/metrics");
    }
    match first_login {
        Some(token) => println!(
            "first start: log in as admin with this one-time link (valid 24 hours):\n  {}",
            login_link(&public_url, &token)
        ),
        None => println!(
            "log in with your account; `cipherdrop user reset-password NAME` prints a new login link"
        ),
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();

    let result = server.serve(listener, shutdown_signal()).await;
    if let Some(r) = refresher {
        r.abort();
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    result.context("serving")
}

/// The embedded KMS's audit signing key: the one the data folder remembers, or a new
/// ECC_NIST_P384 signing key (remembered once KMS has shown its public key). `None`, with a
/// warning, if the KMS cannot make one: the server runs without checkpoints.
async fn embedded_signing_key(aws: &cipherdrop_server::Aws, data_dir: &Path) -> Option<String> {
    let path = data_dir.join(SIGNING_KEY_FILE);
    if let Ok(arn) = std::fs::read_to_string(&path) {
        return Some(arn.trim().to_owned());
    }
    let made = async {
        let arn = aws
            .create_signing_key("cipherdrop audit checkpoints")
            .await?;
        aws.public_key(&arn).await?;
        Ok::<_, cipherdrop_server::ApiError>(arn)
    }
    .await;
    match made {
        Ok(arn) => match std::fs::write(&path, format!("{arn}\n")) {
            Ok(()) => Some(arn),
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "could not remember the audit signing key; checkpoints off");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e.message, "the embedded KMS made no audit signing key; checkpoints off");
            None
        }
    }
}
