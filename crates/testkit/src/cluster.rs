//! Several `cipherdrop serve` replicas as a team would run them: one throwaway PostgreSQL, the
//! embedded KMS and S3 each a process of its own (`cipherdrop kms serve`, `cipherdrop s3 serve`),
//! and any number of replicas sharing all three. For the cluster tests and benchmark.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};

use crate::postgres::Postgres;
use crate::server::{ServerProcess, Service, aws_env, free_port, kms_service, stored_credentials};

/// The app's PostgreSQL role, database and first password.
pub const DB_NAME: &str = "cipherdrop";
/// See [`DB_NAME`].
pub const DB_PASSWORD: &str = "first-password-0123456789";
/// The bucket the replicas share.
pub const BUCKET: &str = "cipherdrop";

/// The shared services; replicas are started with [`Cluster::replica`].
pub struct Cluster {
    /// The database.
    pub pg: Postgres,
    /// The app role's URL, with its first password.
    pub db_url: String,
    /// The KMS process.
    pub kms: Service,
    /// The S3 process.
    pub s3: Service,
    /// The KMS key's ARN.
    pub key: String,
    /// The one SigV4 key pair both services accept.
    pub creds: (String, String),
    bin: PathBuf,
    dir: tempfile::TempDir,
    started: std::sync::atomic::AtomicUsize,
}

impl Cluster {
    /// PostgreSQL (tuned for tests) with the app's role and database, the KMS with a key, S3
    /// with the bucket.
    pub async fn start(bin: &Path) -> Result<Self> {
        Self::start_on(bin, Postgres::start()?).await
    }

    /// [`Cluster::start`] on PostgreSQL with its durable defaults (for benchmarks).
    pub async fn start_durable(bin: &Path) -> Result<Self> {
        Self::start_on(bin, Postgres::start_durable()?).await
    }

    async fn start_on(bin: &Path, pg: Postgres) -> Result<Self> {
        let db_url = pg.create_app_database(DB_NAME, DB_PASSWORD)?;
        let dir = tempfile::tempdir()?;
        let kms_dir = dir.path().join("kms");
        let kms = kms_service(bin, &kms_dir, free_port()?)?;
        let creds = stored_credentials(&kms_dir)?;
        // The S3 process gets the same key pair, so one AWS credential chain serves both.
        let s3_dir = dir.path().join("s3");
        std::fs::create_dir_all(&s3_dir)?;
        std::fs::write(
            s3_dir.join("credentials.json"),
            serde_json::to_vec(&serde_json::json!({
                "access_key_id": creds.0, "secret_access_key": creds.1
            }))?,
        )?;
        let mut cmd = Command::new(bin);
        cmd.args(["s3", "serve", "--listen", "127.0.0.1:0", "--bucket", BUCKET])
            .arg("--data-dir")
            .arg(&s3_dir);
        let s3 = Service::start(cmd)?;
        let client = crate::kms_client(&kms.url, &creds.0, &creds.1, true);
        let key = client
            .create_key()
            .description("cipherdrop cluster tests")
            .send()
            .await
            .context("CreateKey")?
            .key_metadata
            .map(|m| m.arn.unwrap_or(m.key_id))
            .context("no key metadata")?;
        Ok(Self {
            pg,
            db_url,
            kms,
            s3,
            key,
            creds,
            bin: bin.to_owned(),
            dir,
            started: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The arguments that point a replica at the shared KMS and S3.
    pub fn service_args(&self) -> Vec<String> {
        [
            "--kms-key-id",
            &self.key,
            "--kms-endpoint",
            &self.kms.url,
            "--s3-bucket",
            BUCKET,
            "--s3-endpoint",
            &self.s3.url,
            "--s3-path-style",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    /// The environment of every replica: the AWS key pair (and nothing else to fall back on).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        aws_env(&self.creds.0, &self.creds.1)
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect()
    }

    /// Starts a replica on the shared database (`--database-url` through the environment, as an
    /// operator should pass a password), with `extra` arguments.
    pub fn replica(&self, extra: &[&str]) -> Result<ServerProcess> {
        self.replica_with(extra, &[("CIPHERDROP_DATABASE_URL", &self.db_url)])
    }

    /// Starts a replica with `extra` arguments and `env` on top of the AWS key pair: for
    /// replicas whose database credentials come from elsewhere.
    pub fn replica_with(&self, extra: &[&str], env: &[(&str, &str)]) -> Result<ServerProcess> {
        let n = self
            .started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut args = self.service_args();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let base = self.env();
        let mut all: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.extend_from_slice(env);
        ServerProcess::start(
            &self.bin,
            &self.dir.path().join(format!("replica-{n}")),
            &args,
            &all,
        )
    }

    /// `cipherdrop user add NAME --password-stdin` on the shared database.
    pub fn add_user(&self, name: &str, password: &str) -> Result<()> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["user", "add", name, "--password-stdin"])
            .env("CIPHERDROP_DATABASE_URL", &self.db_url);
        crate::server::run_with_password(cmd, password)
    }

    /// `cipherdrop audit verify` on the shared database: (intact, printed report).
    pub fn audit_verify(&self) -> Result<(bool, String)> {
        let out = Command::new(&self.bin)
            .args(["audit", "verify"])
            .env("CIPHERDROP_DATABASE_URL", &self.db_url)
            .output()?;
        Ok((
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ))
    }

    /// Runs `sql` on the app's database as the superuser; psql's unaligned output.
    pub fn sql(&self, sql: &str) -> Result<String> {
        self.pg.sql_as_superuser(DB_NAME, sql)
    }
}
