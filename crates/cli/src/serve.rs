//! `cipherdrop serve`, `cipherdrop user` and `cipherdrop audit`: the composition root of the
//! backend. With no AWS settings it starts the embedded KMS (loopback, `alias/cipherdrop` and an
//! audit signing key made on first start) and the embedded S3 (its own port, bucket made on first
//! start); with `--kms-key-id` / `--s3-bucket` it uses AWS or any compatible endpoint instead.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use cipherdrop_server::{AwsSettings, Config, Server};
use clap::{Args, Subcommand};
use tokio::sync::watch;

use crate::kms::init_tracing;

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
    #[command(flatten)]
    db: DbArgs,
}

/// The file in the data folder that remembers the embedded KMS's audit signing key (its ARN).
const SIGNING_KEY_FILE: &str = "audit-signing-key";

/// Where the audit signing key is, for `cipherdrop audit`: a key in an external KMS, or the
/// embedded KMS's, which the data folder remembers.
#[derive(Args, Debug, Clone)]
pub struct SigningKeyArgs {
    /// The audit signing key (id, ARN or alias) in an external KMS; credentials from the AWS
    /// default chain (default: the embedded KMS's key, remembered in the data folder).
    #[arg(long, value_name = "KEY")]
    audit_signing_key_id: Option<String>,
    /// KMS endpoint of that key (default: AWS's for the region).
    #[arg(long, requires = "audit_signing_key_id")]
    kms_endpoint: Option<String>,
    /// KMS region of that key (default: the one in its ARN, else AWS_REGION, else us-east-1).
    #[arg(long)]
    kms_region: Option<String>,
    /// File of the embedded KMS's master key (default: DATA_DIR/kms/master.key).
    #[arg(long, value_name = "PATH", conflicts_with = "audit_signing_key_id")]
    kms_master_key: Option<PathBuf>,
}

/// `cipherdrop audit verify`.
#[derive(Args, Debug)]
pub struct AuditVerifyArgs {
    /// The server's data folder.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    key: SigningKeyArgs,
    /// Check the checkpoints' signatures with this public key (PEM or DER, as `cipherdrop audit
    /// public-key` or `aws kms get-public-key` give it) instead of asking KMS. Repeatable: keys
    /// that signed before a change of key.
    #[arg(long = "public-key", value_name = "FILE")]
    public_keys: Vec<PathBuf>,
    /// Check an export (`cipherdrop audit export`) instead of the database: no database or KMS,
    /// only --public-key.
    #[arg(long, value_name = "FILE", requires = "public_keys")]
    export: Option<PathBuf>,
}

/// `cipherdrop audit export`.
#[derive(Args, Debug)]
pub struct AuditExportArgs {
    /// The server's data folder.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    key: SigningKeyArgs,
    /// The file to write (JSON lines: a header with the signing key's public key, the
    /// checkpoints, the chain's head, every row).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// `cipherdrop audit public-key`.
#[derive(Args, Debug)]
pub struct AuditKeyArgs {
    /// The server's data folder.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    #[command(flatten)]
    key: SigningKeyArgs,
    /// Write the PEM here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Where the database is: an SQLite file in the data folder (the default), or a PostgreSQL
/// shared by replicas, its credentials given, or read from Secrets Manager or Parameter Store.
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// PostgreSQL shared by every replica: postgres://USER[:PASSWORD]@HOST[:PORT]/DB. Better in
    /// the environment than on the command line when it holds the password. Default: an SQLite
    /// file in the data folder.
    #[arg(
        long,
        env = "CIPHERDROP_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// A Secrets Manager secret (id or ARN) holding the PostgreSQL connection in the JSON RDS
    /// rotation keeps (engine, host, port, username, password, dbname).
    #[arg(long, value_name = "ID|ARN", conflicts_with_all = ["database_url", "database_password_parameter"])]
    database_secret_id: Option<String>,
    /// An SSM SecureString parameter holding the password of --database-url's user.
    #[arg(long, value_name = "NAME", requires = "database_url")]
    database_password_parameter: Option<String>,
    /// Seconds between reads of the secret or parameter (a refused password is read again at
    /// once as well).
    #[arg(long, default_value_t = 300)]
    database_refresh_secs: u64,
    /// Most PostgreSQL connections this process opens.
    #[arg(long, default_value_t = 16)]
    database_max_connections: u32,
    /// Seconds a PostgreSQL connection is kept before it is replaced (when next idle, never
    /// mid-query), so a rotated password is in use on every connection soon after.
    #[arg(long, default_value_t = 1800)]
    database_max_lifetime_secs: u64,
    /// Region of Secrets Manager and SSM (default: the AWS configuration's).
    #[arg(long)]
    secrets_region: Option<String>,
    /// Endpoint of Secrets Manager and SSM (default: AWS's for the region).
    #[arg(long)]
    secrets_endpoint: Option<String>,
}

impl DbArgs {
    /// Opens the database: PostgreSQL if a URL or secret is given, else the data folder's
    /// SQLite file. A start-up error names the secret or parameter, never its value.
    pub async fn open(&self, data_dir: &Path) -> Result<cipherdrop_server::db::Db> {
        use cipherdrop_server::{db, secrets};
        let source = match (
            &self.database_secret_id,
            &self.database_password_parameter,
            &self.database_url,
        ) {
            (Some(id), _, _) => Some(secrets::Source::Secret(id.clone())),
            (None, Some(name), Some(url)) => Some(secrets::Source::Parameter {
                name: name.clone(),
                url: url.clone(),
            }),
            _ => None,
        };
        let size = db::PoolSize {
            max: self.database_max_connections.max(1),
            max_lifetime: Duration::from_secs(self.database_max_lifetime_secs.max(1)),
        };
        if let Some(source) = source {
            let settings = secrets::Settings {
                region: self.secrets_region.clone(),
                endpoint: self.secrets_endpoint.clone(),
            };
            let creds = Arc::new(secrets::SecretCredentials::new(source, &settings).await);
            let what = creds.what();
            let options = creds
                .options(false)
                .await
                .map_err(|e| anyhow::anyhow!("the database's credentials: {e}"))?
                .into_iter()
                .next()
                .with_context(|| format!("{what} gave no credentials"))?;
            return db::connect_postgres(options, size, Some(creds))
                .await
                .with_context(|| {
                    format!("connecting to PostgreSQL with the credentials in {what}")
                });
        }
        if let Some(url) = &self.database_url {
            let options = db::postgres_options(url).context("--database-url")?;
            return db::connect_postgres(options, size, None)
                .await
                .context("connecting to PostgreSQL (--database-url)");
        }
        db::open(&database_path(data_dir))
            .await
            .context("opening the database")
    }

    /// How often the credentials are read again, if they come from AWS.
    fn refresh(&self) -> Option<Duration> {
        (self.database_secret_id.is_some() || self.database_password_parameter.is_some())
            .then(|| Duration::from_secs(self.database_refresh_secs.max(1)))
    }
}

/// A size: bytes, or a number with K, M, G or T (binary units; a trailing "B" or "iB" is
/// allowed).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (t.get(..i), 10),
        Some((i, 'M' | 'm')) => (t.get(..i), 20),
        Some((i, 'G' | 'g')) => (t.get(..i), 30),
        Some((i, 'T' | 't')) => (t.get(..i), 40),
        _ => (Some(t), 0),
    };
    digits
        .and_then(|d| d.trim().parse::<u64>().ok())
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("{s:?} is not a size (for example 500M, 10G or 1073741824)"))
}

/// A quota setting of `cipherdrop user quota`: a value, or `default`.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// Back to the server's default.
    Default,
    /// The account's own limit.
    Value(u64),
}

impl Limit {
    fn column(self) -> Option<i64> {
        match self {
            Limit::Default => None,
            Limit::Value(v) => Some(i64::try_from(v).unwrap_or(i64::MAX)),
        }
    }
}

fn parse_size_limit(s: &str) -> Result<Limit, String> {
    if s == "default" {
        Ok(Limit::Default)
    } else {
        parse_size(s).map(Limit::Value)
    }
}

fn parse_count_limit(s: &str) -> Result<Limit, String> {
    if s == "default" {
        Ok(Limit::Default)
    } else {
        s.parse::<u64>()
            .map(Limit::Value)
            .map_err(|_| format!("{s:?} is neither a number nor \"default\""))
    }
}

/// `--trusted-proxy`: a network, or one address.
fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is neither an address nor a CIDR network"))
}

/// `cipherdrop user`.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add an account; prints a one-time login link unless --password-stdin is given.
    Add {
        /// Account name.
        name: String,
        /// Make it an administrator (may read the audit log).
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        common: UserArgs,
    },
    /// An account's API tokens for scripts.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Show an account's own quotas, or set them (`default`: the server's, from `serve` flags).
    Quota {
        /// Account name.
        name: String,
        /// Unfinished uploads at once (a number, or `default`).
        #[arg(long, value_name = "N|default", value_parser = parse_count_limit)]
        pending_uploads: Option<Limit>,
        /// Bytes unfinished uploads may declare together (a size such as 10G, or `default`).
        #[arg(long, value_name = "SIZE|default", value_parser = parse_size_limit)]
        pending_bytes: Option<Limit>,
        /// Bytes stored, unfinished uploads included (a size such as 1T, or `default`).
        #[arg(long, value_name = "SIZE|default", value_parser = parse_size_limit)]
        stored_bytes: Option<Limit>,
        /// The server's data folder.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Reset an account's password (ends its sessions); prints a one-time login link unless
    /// --password-stdin is given.
    ResetPassword {
        /// Account name.
        name: String,
        #[command(flatten)]
        common: UserArgs,
    },
}

/// `cipherdrop user token`.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a token; prints its secret (shown only this once).
    Create {
        /// Account name.
        name: String,
        /// What the token is for.
        #[arg(long = "name", value_name = "LABEL")]
        label: String,
        /// A scope: read (list, download), write (upload, delete), share (links). Repeatable.
        #[arg(long = "scope", required = true, value_parser = ["read", "write", "share"])]
        scopes: Vec<String>,
        /// Lifetime in days (1 to 365).
        #[arg(long, default_value_t = cipherdrop_api::TOKEN_DEFAULT_DAYS)]
        expires_days: u32,
        /// The server's data folder.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// List an account's tokens (never their secrets).
    List {
        /// Account name.
        name: String,
        /// The server's data folder.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Revoke a token by id.
    Revoke {
        /// Account name.
        name: String,
        /// The token's id (from `list`).
        id: String,
        /// The server's data folder.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
}

/// `cipherdrop user token …`.
fn user_token(cmd: TokenCommand) -> Result<()> {
    let data_dir = match &cmd {
        TokenCommand::Create { data_dir, .. }
        | TokenCommand::List { data_dir, .. }
        | TokenCommand::Revoke { data_dir, .. } => data_dir.clone(),
    };
    runtime()?.block_on(async {
        let db = cipherdrop_server::db::open(&database_path(&data_dir)).await?;
        let done = async {
            match cmd {
                TokenCommand::Create {
                    name,
                    label,
                    scopes,
                    expires_days,
                    ..
                } => {
                    let req = cipherdrop_api::CreateTokenRequest {
                        name: label,
                        scopes,
                        expires_in_days: Some(expires_days),
                    };
                    let (token, secret) =
                        cipherdrop_server::admin::create_token(&db, &name, &req).await?;
                    println!(
                        "API token {} for {name} ({}; expires at unix {}), shown only now:\n  {}",
                        token.id,
                        token.scopes.join(", "),
                        token.expires_at,
                        secret.as_str()
                    );
                }
                TokenCommand::List { name, .. } => {
                    for t in cipherdrop_server::admin::tokens(&db, &name).await? {
                        let state = if t.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "live"
                        };
                        println!(
                            "{}  {:<24} {:<18} expires {}  last used {}  {state}",
                            t.id,
                            t.name,
                            t.scopes.join(","),
                            t.expires_at,
                            t.last_used_at.map_or("never".to_owned(), |u| u.to_string())
                        );
                    }
                }
                TokenCommand::Revoke { name, id, .. } => {
                    cipherdrop_server::admin::revoke_token(&db, &name, &id).await?;
                    println!("token {id} of {name} revoked");
                }
            }
            Ok::<_, cipherdrop_server::ApiError>(())
        }
        .await;
        db.close().await;
        done.map_err(|e| anyhow::anyhow!("{}", e.message))
    })
}

/// Options shared by the `user` commands.
#[derive(Args, Debug)]
pub struct UserArgs {
    /// The server's data folder.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// The app's URL, for the printed link.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    public_url: String,
    #[command(flatten)]
    db: DbArgs,
}

fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("cipherdrop.db")
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn login_link(public_url: &str, token: &str) -> String {
    // In the fragment: browsers never send it to the server, so no log line can hold it.
    format!("{}/#login={token}", public_url.trim_end_matches('/'))
}

/// Runs the server until SIGINT or SIGTERM.
pub fn serve(a: ServeArgs) -> Result<()> {
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
    let kms_key_id = match &a.kms_key_id {
        Some(k) => k.clone(),
        None => aws
            .ensure_key_alias(EMBEDDED_ALIAS)
            .await
            .map_err(|e| anyhow::anyhow!("embedded KMS: {}", e.message))?,
    };
    let bucket = a
        .s3_bucket
        .clone()
        .unwrap_or_else(|| EMBEDDED_BUCKET.to_owned());
    if embedded_s3 {
        aws.ensure_bucket(&bucket)
            .await
            .map_err(|e| anyhow::anyhow!("embedded S3: {}", e.message))?;
        if let Some(b) = &a.audit_checkpoint_bucket {
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
    if a.web_dir.join("index.html").is_file() {
        config.web_dir = Some(a.web_dir.clone());
    } else {
        tracing::warn!(dir = %a.web_dir.display(), "no web bundle there: serving the API only");
    }
    let server = Server::new(config, db, aws);
    let first_login = server.bootstrap_admin().await?;

    // Lines a supervisor (or a test) can wait for; the first one is always this.
    println!("cipherdrop listening on {public_url}");
    if let Some(url) = &s3_url {
        println!("embedded S3 at {url} (bucket {bucket})");
    }
    match &settings.kms_endpoint {
        Some(ep) if embedded_kms => println!("KMS key {kms_key_id} (embedded KMS at {ep})"),
        _ => println!("KMS key {kms_key_id}"),
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

    let result = server.serve(listener, crate::kms::shutdown_signal()).await;
    if let Some(r) = refresher {
        r.abort();
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    result.context("serving")
}

/// `cipherdrop s3 serve`: the embedded S3 as its own process.
pub fn serve_s3(
    listen: SocketAddr,
    data_dir: &Path,
    buckets: &[String],
    cors_origins: Vec<String>,
) -> Result<()> {
    init_tracing();
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let creds = cipherdrop_s3::Credentials::load_or_create(&data_dir.join("credentials.json"))
        .context("S3 credentials")?;
    let root = data_dir.join("buckets");
    for b in buckets {
        // s3s-fs keeps a bucket as a folder.
        std::fs::create_dir_all(root.join(b))?;
    }
    let router = cipherdrop_s3::router(&cipherdrop_s3::Options {
        data_dir: &root,
        credentials: &creds,
        cors_origins,
    })?;
    runtime()?.block_on(async move {
        let l = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        println!("cipherdrop-s3 listening on http://{}", l.local_addr()?);
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        cipherdrop_s3::serve(l, router, crate::kms::shutdown_signal()).await?;
        Ok(())
    })
}

fn read_password(stdin: bool) -> Result<Option<zeroize::Zeroizing<String>>> {
    if !stdin {
        return Ok(None);
    }
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin().read_line(&mut line)?;
    let p = zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    if p.is_empty() {
        bail!("no password on standard input");
    }
    Ok(Some(p))
}

/// `cipherdrop user quota`: sets what is given, then prints the account's own quotas.
fn user_quota(name: &str, data_dir: &Path, settings: [Option<Limit>; 3]) -> Result<()> {
    runtime()?.block_on(async {
        let db = cipherdrop_server::db::open(&database_path(data_dir)).await?;
        let mut o = cipherdrop_server::admin::quota(&db, name).await?;
        let [uploads, pending, stored] = settings;
        if settings.iter().any(Option::is_some) {
            if let Some(l) = uploads {
                o.quota_pending_uploads = l.column();
            }
            if let Some(l) = pending {
                o.quota_pending_bytes = l.column();
            }
            if let Some(l) = stored {
                o.quota_stored_bytes = l.column();
            }
            cipherdrop_server::admin::set_quota(&db, name, o).await?;
        }
        let text = |v: Option<i64>| v.map_or("the server's default".to_owned(), |n| n.to_string());
        println!(
            "{name}: pending uploads {}; pending bytes {}; stored bytes {}",
            text(o.quota_pending_uploads),
            text(o.quota_pending_bytes),
            text(o.quota_stored_bytes)
        );
        db.close().await;
        Ok(())
    })
}

/// `cipherdrop user ...`.
pub fn user(cmd: UserCommand) -> Result<()> {
    let (name, admin, common, add) = match cmd {
        UserCommand::Token(cmd) => return user_token(cmd),
        UserCommand::Quota {
            name,
            pending_uploads,
            pending_bytes,
            stored_bytes,
            data_dir,
        } => {
            return user_quota(
                &name,
                &data_dir,
                [pending_uploads, pending_bytes, stored_bytes],
            );
        }
        UserCommand::Add {
            name,
            admin,
            common,
        } => (name, admin, common, true),
        UserCommand::ResetPassword { name, common } => (name, false, common, false),
    };
    let password = read_password(common.password_stdin)?;
    runtime()?.block_on(async {
        let db = common.db.open(&common.data_dir).await?;
        let pw = password.as_deref().map(String::as_str);
        let token = if add {
            cipherdrop_server::admin::add_user(&db, &name, pw, admin).await?
        } else {
            cipherdrop_server::admin::reset_password(&db, &name, pw).await?
        };
        match token {
            Some(t) => println!(
                "one-time login link for {name} (valid 24 hours):\n  {}",
                login_link(&common.public_url, &t)
            ),
            None => println!("{name}: password set"),
        }
        db.close().await;
        Ok(())
    })
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

/// `arn:aws:kms:REGION:ACCOUNT:key/ID` → (region, account).
fn arn_region_account(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.split(':');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("arn"), Some(_), Some("kms"), Some(region), Some(account)) => Some((region, account)),
        _ => None,
    }
}

/// The audit signing key's ARN and public key, from KMS `GetPublicKey`: the external key named,
/// else the embedded KMS's (started on a loopback port for the call); `None` if neither is
/// configured.
async fn signing_public_key(
    data_dir: &Path,
    key: &SigningKeyArgs,
) -> Result<Option<(String, cipherdrop_server::checkpoints::PublicKey)>> {
    let public = |der: &[u8]| {
        cipherdrop_server::checkpoints::PublicKey::from_der(der)
            .context("the audit signing key's public key")
    };
    if let Some(id) = &key.audit_signing_key_id {
        let region = key
            .kms_region
            .clone()
            .or_else(|| arn_region_account(id).map(|(r, _)| r.to_owned()))
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".to_owned());
        let aws = cipherdrop_server::Aws::connect(&AwsSettings {
            s3_region: region.clone(),
            kms_region: region,
            kms_endpoint: key.kms_endpoint.clone(),
            s3_endpoint: None,
            s3_path_style: false,
            kms_credentials: None,
            s3_credentials: None,
        })
        .await;
        let (arn, der) = aws
            .public_key(id)
            .await
            .map_err(|e| anyhow::anyhow!("KMS GetPublicKey of {id}: {}", e.message))?;
        return Ok(Some((arn, public(&der)?)));
    }
    let Ok(arn) = std::fs::read_to_string(data_dir.join(SIGNING_KEY_FILE)) else {
        return Ok(None);
    };
    let arn = arn.trim().to_owned();
    let (region, account) = arn_region_account(&arn)
        .with_context(|| format!("{} does not hold a KMS key ARN", SIGNING_KEY_FILE))?;
    let kms = Arc::new(
        crate::kms::open(
            &data_dir.join("kms"),
            key.kms_master_key.as_deref(),
            region,
            account,
        )
        .context("opening the embedded KMS")?,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let c = kms.credentials();
    let credentials = (c.access_key_id.clone(), c.secret_access_key.clone());
    let (stop, stopped) = watch::channel(false);
    let service = tokio::spawn(cipherdrop_kms::serve(listener, kms, async move {
        let mut rx = stopped;
        let _ = rx.wait_for(|s| *s).await;
    }));
    let aws = cipherdrop_server::Aws::connect(&AwsSettings {
        s3_region: region.to_owned(),
        kms_region: region.to_owned(),
        kms_endpoint: Some(endpoint),
        s3_endpoint: None,
        s3_path_style: false,
        kms_credentials: Some(credentials),
        s3_credentials: None,
    })
    .await;
    let answer = aws.public_key(&arn).await;
    let _ = stop.send(true);
    let _ = service.await;
    let (arn, der) =
        answer.map_err(|e| anyhow::anyhow!("embedded KMS GetPublicKey of {arn}: {}", e.message))?;
    Ok(Some((arn, public(&der)?)))
}

fn read_public_keys(files: &[PathBuf]) -> Result<Vec<cipherdrop_server::checkpoints::PublicKey>> {
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
            cipherdrop_server::checkpoints::PublicKey::from_pem_or_der(&bytes)
                .with_context(|| f.display().to_string())
        })
        .collect()
}

fn open_existing(data_dir: &Path, db: &DbArgs) -> Result<()> {
    let path = database_path(data_dir);
    if db.database_url.is_none() && db.database_secret_id.is_none() && !path.is_file() {
        bail!("no database at {}", path.display());
    }
    Ok(())
}

/// `cipherdrop audit verify`: the chain and every checkpoint, from the database (signatures
/// checked with --public-key files, or the key's public key from KMS) or from an export; exit
/// status 0 when everything holds.
pub fn audit_verify(a: &AuditVerifyArgs) -> Result<bool> {
    let files = read_public_keys(&a.public_keys)?;
    if let Some(export) = &a.export {
        let file =
            std::fs::File::open(export).with_context(|| format!("opening {}", export.display()))?;
        let report = cipherdrop_server::audit::verify_export(std::io::BufReader::new(file), &files)
            .with_context(|| format!("reading {}", export.display()))?;
        return Ok(print_verification(
            &report,
            &format!("export {}", export.display()),
            None,
        ));
    }
    open_existing(&a.data_dir, &a.db)?;
    runtime()?.block_on(async {
        let (keys, named) = if files.is_empty() {
            match signing_public_key(&a.data_dir, &a.key).await? {
                Some((arn, key)) => (Some(vec![key]), Some(arn)),
                None => (None, None),
            }
        } else {
            (Some(files), None)
        };
        let db = a.db.open(&a.data_dir).await?;
        let report = cipherdrop_server::audit::verify_with(&db, keys.as_deref()).await;
        db.close().await;
        Ok(print_verification(&report?, "audit log", named.as_deref()))
    })
}

/// Prints a verification; true when everything holds.
fn print_verification(
    report: &cipherdrop_server::audit::Verification,
    what: &str,
    key: Option<&str>,
) -> bool {
    let cps = &report.checkpoints;
    if report.problems.is_empty() {
        println!("{what} intact: {} rows, hash chain verified", report.rows);
    } else {
        println!("{what} TAMPERED: {} rows checked", report.rows);
        for p in &report.problems {
            println!("  {p}");
        }
    }
    let uncovered = |n: u64| {
        let s = if n == 1 { "" } else { "s" };
        format!("{n} row{s} after the last checkpoint not yet covered")
    };
    if cps.total == 0 {
        if cps.signatures_checked {
            println!("no checkpoints yet: {}", uncovered(report.rows));
        } else {
            println!(
                "checkpoints: off (no audit signing key: `serve --audit-signing-key-id`); the chain is checked only against itself"
            );
        }
    } else if cps.signatures_checked {
        let by = key.map(|k| format!(" (signed by {k})")).unwrap_or_default();
        println!(
            "{} of {} checkpoints verified{by}; {}",
            cps.verified,
            cps.total,
            uncovered(cps.uncovered)
        );
    } else {
        println!(
            "{} of {} checkpoints match the chain, signatures NOT checked (no signing key known here: \
             give --public-key FILE or --audit-signing-key-id KEY); {}",
            cps.verified,
            cps.total,
            uncovered(cps.uncovered)
        );
    }
    if let Some(first) = &cps.first_failed {
        println!("first checkpoint that no longer matches: {first}");
    }
    report.problems.is_empty()
}

/// `cipherdrop audit export`.
pub fn audit_export(a: &AuditExportArgs) -> Result<()> {
    open_existing(&a.data_dir, &a.db)?;
    runtime()?.block_on(async {
        let key = signing_public_key(&a.data_dir, &a.key).await?;
        let db = a.db.open(&a.data_dir).await?;
        let file = std::fs::File::create(&a.out)
            .with_context(|| format!("creating {}", a.out.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let done = cipherdrop_server::audit::export(
            &db,
            &mut out,
            key.as_ref().map(|(arn, k)| (arn.as_str(), k)),
        )
        .await;
        db.close().await;
        let done = done?;
        use std::io::Write as _;
        out.flush()?;
        println!(
            "wrote {} rows and {} checkpoints to {}{}",
            done.rows,
            done.checkpoints,
            a.out.display(),
            if key.is_some() {
                ""
            } else {
                " (no signing key known here: its public key is not in the file)"
            }
        );
        Ok(())
    })
}

/// `cipherdrop audit public-key`.
pub fn audit_public_key(a: &AuditKeyArgs) -> Result<()> {
    runtime()?.block_on(async {
        let Some((arn, key)) = signing_public_key(&a.data_dir, &a.key).await? else {
            bail!(
                "no audit signing key: none in {} and no --audit-signing-key-id",
                a.data_dir.join(SIGNING_KEY_FILE).display()
            );
        };
        match &a.out {
            Some(path) => {
                std::fs::write(path, key.to_pem())
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("public key of {arn} written to {}", path.display());
            }
            None => print!("{}", key.to_pem()),
        }
        Ok(())
    })
}

/// `--default-suite`: one of the two committing v2 suites.
fn parse_suite(s: &str) -> Result<u16, String> {
    match s.parse::<cipherdrop_core::Suite>() {
        Ok(suite) => Ok(suite.id().0),
        Err(e) => Err(format!("{e} (0x0478 or 0x0578)")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("10M").unwrap(), 10 << 20);
        assert_eq!(parse_size("10MiB").unwrap(), 10 << 20);
        assert_eq!(parse_size("2 G").unwrap(), 2 << 30);
        assert_eq!(parse_size("1t").unwrap(), 1 << 40);
        assert_eq!(parse_size("0").unwrap(), 0);
        for bad in ["", "M", "-1G", "1.5G", "10X", "99999999999T", "default"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(matches!(parse_size_limit("default"), Ok(Limit::Default)));
        assert!(matches!(parse_count_limit("7"), Ok(Limit::Value(7))));
        assert!(parse_count_limit("7G").is_err());
    }
}
