//! Where the server's database is, for `serve`, `user` and `audit`: the data folder's SQLite
//! file, or a PostgreSQL shared by replicas (its credentials given, or read from Secrets Manager
//! or Parameter Store).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::Args;

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
    /// rotation keeps (engine, host, port, username, password, dbname); or, with --database-url
    /// postgres://HOST:PORT/DB naming the rest, only username and password, as in the secret RDS
    /// makes for a master password it manages.
    #[arg(
        long,
        value_name = "ID|ARN",
        conflicts_with = "database_password_parameter"
    )]
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
            (Some(id), _, url) => Some(secrets::Source::Secret {
                id: id.clone(),
                url: url.clone(),
            }),
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
            let settings = self.secrets_settings();
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

    /// How to reach Secrets Manager and SSM (for the database's and other secrets).
    pub fn secrets_settings(&self) -> cipherdrop_server::secrets::Settings {
        cipherdrop_server::secrets::Settings {
            region: self.secrets_region.clone(),
            endpoint: self.secrets_endpoint.clone(),
            credentials: None,
        }
    }

    /// How often the credentials are read again, if they come from AWS.
    pub fn refresh(&self) -> Option<Duration> {
        (self.database_secret_id.is_some() || self.database_password_parameter.is_some())
            .then(|| Duration::from_secs(self.database_refresh_secs.max(1)))
    }

    /// Fails in words when the database is the data folder's SQLite file and there is none (a
    /// command that reads the database must not make an empty one).
    pub fn require_existing(&self, data_dir: &Path) -> Result<()> {
        let path = database_path(data_dir);
        if self.database_url.is_none() && self.database_secret_id.is_none() && !path.is_file() {
            bail!("no database at {}", path.display());
        }
        Ok(())
    }
}

/// The SQLite file in the data folder.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("cipherdrop.db")
}
