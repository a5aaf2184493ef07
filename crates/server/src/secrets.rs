//! The database's credentials from AWS: a Secrets Manager secret in the JSON that RDS rotation
//! writes, or a Parameter Store `SecureString` holding the password of a `postgres://` URL.
//!
//! Either is read at start-up, on a timer, and whenever PostgreSQL refuses a new connection (see
//! [`crate::db::Db::acquire`]); then new connections use what was read while open ones drain. In
//! the middle of a Secrets Manager rotation (after the password was set on the role, before the
//! new version became `AWSCURRENT`) the `AWSPENDING` version is tried after `AWSCURRENT`.
//!
//! A secret's value is never logged and never in an error: errors name the secret or parameter
//! and say what is wrong with it. Values read are zeroized once the connect options are made.

use std::time::Duration;

use futures_core::future::BoxFuture;
use sqlx::any::AnyConnectOptions;
use zeroize::Zeroizing;

use crate::db::Credentials;

/// Where the credentials are kept.
#[derive(Clone, Debug)]
pub enum Source {
    /// A Secrets Manager secret (id or ARN) with `engine`, `host`, `port`, `username`,
    /// `password` and `dbname`, as RDS rotation keeps it; or, with `url`, one with only
    /// `username` and `password`, as RDS keeps a master password it manages
    /// (`ManageMasterUserPassword`), the host, port and database then from `url`.
    Secret {
        /// Its id or ARN.
        id: String,
        /// `postgres://host:port/db`: where the database is, when the secret does not say.
        url: Option<String>,
    },
    /// An SSM parameter (a `SecureString`, decrypted with whatever KMS key it names) holding the
    /// password for the user of `url`.
    Parameter {
        /// Its name.
        name: String,
        /// `postgres://user@host:port/db`: everything but the password.
        url: String,
    },
}

/// How to reach Secrets Manager and SSM.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The region (default: the AWS configuration's).
    pub region: Option<String>,
    /// An endpoint instead of AWS's (moto, LocalStack).
    pub endpoint: Option<String>,
    /// Static credentials (access key id, secret) instead of the default chain's.
    pub credentials: Option<(String, String)>,
}

/// Why credentials could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The service refused or failed (the message names the secret, not its value).
    #[error("reading {what}: {message}")]
    Service {
        /// `secret ID` or `parameter NAME`.
        what: String,
        /// The service's words.
        message: String,
    },
    /// The value is not what it should be.
    #[error("{what}: {problem}")]
    Malformed {
        /// `secret ID` or `parameter NAME`.
        what: String,
        /// What is wrong with it (never the value).
        problem: String,
    },
}

/// Reads credentials from a [`Source`].
pub struct SecretCredentials {
    source: Source,
    secrets: aws_sdk_secretsmanager::Client,
    ssm: aws_sdk_ssm::Client,
}

impl std::fmt::Debug for SecretCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCredentials")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The secret as RDS rotation writes it (other fields, such as `dbInstanceIdentifier`, ignored);
/// an RDS-managed master secret has only `username` and `password`.
#[derive(serde::Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
struct RdsSecret {
    engine: Option<String>,
    host: Option<String>,
    #[zeroize(skip)]
    port: Option<serde_json::Value>,
    username: String,
    password: String,
    dbname: Option<String>,
}

impl SecretCredentials {
    /// Clients for `source` with the default AWS credential chain.
    pub async fn new(source: Source, settings: &Settings) -> Self {
        let (secrets, ssm) = clients(settings).await;
        Self {
            source,
            secrets,
            ssm,
        }
    }

    /// What this reads, for messages: `secret ID` or `parameter NAME`.
    pub fn what(&self) -> String {
        match &self.source {
            Source::Secret { id, .. } => format!("secret {id}"),
            Source::Parameter { name, .. } => format!("parameter {name}"),
        }
    }

    fn malformed(&self, problem: &str) -> SecretError {
        SecretError::Malformed {
            what: self.what(),
            problem: problem.to_owned(),
        }
    }

    fn service<E: aws_sdk_ssm::error::ProvideErrorMetadata>(
        &self,
        stage: &str,
        e: &E,
    ) -> SecretError {
        let code = e.code().unwrap_or("an error");
        let message = e.message().unwrap_or("no message");
        SecretError::Service {
            what: format!("{}{stage}", self.what()),
            message: format!("{code}: {message}"),
        }
    }

    /// The connect options for each version worth trying, in order: `AWSCURRENT`, and when
    /// `refused` (the database refused what was read before) also `AWSPENDING` if there is one.
    pub async fn options(&self, refused: bool) -> Result<Vec<AnyConnectOptions>, SecretError> {
        match &self.source {
            Source::Secret { id, url } => {
                let url = url.as_deref();
                let mut out = vec![self.secret_version(id, "AWSCURRENT", url).await?];
                if refused {
                    match self.secret_version(id, "AWSPENDING", url).await {
                        Ok(o) => out.push(o),
                        Err(SecretError::Service { .. }) => {} // no rotation under way
                        Err(e) => return Err(e),
                    }
                }
                Ok(out)
            }
            Source::Parameter { name, url } => {
                let got = self
                    .ssm
                    .get_parameter()
                    .name(name)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|e| self.service("", &e.into_service_error()))?;
                let password = Zeroizing::new(
                    got.parameter
                        .and_then(|p| p.value)
                        .ok_or_else(|| self.malformed("has no value"))?,
                );
                let mut u = url::Url::parse(url)
                    .map_err(|_| self.malformed("goes with a --database-url that is not a URL"))?;
                u.set_password(Some(&password))
                    .map_err(|()| self.malformed("cannot be set on that URL"))?;
                let u = Zeroizing::new(String::from(u));
                Ok(vec![crate::db::postgres_options(&u).map_err(|_| {
                    self.malformed("makes an unusable database URL")
                })?])
            }
        }
    }

    async fn secret_version(
        &self,
        id: &str,
        stage: &str,
        url: Option<&str>,
    ) -> Result<AnyConnectOptions, SecretError> {
        let got = self
            .secrets
            .get_secret_value()
            .secret_id(id)
            .version_stage(stage)
            .send()
            .await
            .map_err(|e| self.service(&format!(" ({stage})"), &e.into_service_error()))?;
        let text = Zeroizing::new(
            got.secret_string
                .ok_or_else(|| self.malformed("has no SecretString"))?,
        );
        // serde's messages can quote the input: none of them is passed on.
        let s: RdsSecret = serde_json::from_str(&text).map_err(|_| {
            self.malformed(
                "is not the JSON RDS keeps ({\"username\",\"password\"}, with \"host\", \"port\" and \"dbname\" unless --database-url names them)",
            )
        })?;
        if let Some(engine) = &s.engine
            && !matches!(engine.as_str(), "postgres" | "aurora-postgresql")
        {
            return Err(self.malformed(&format!(
                "is for engine {:?}, not postgres",
                engine.chars().take(32).collect::<String>()
            )));
        }
        let mut u = match url {
            // Where the database is comes from the URL; who connects, from the secret.
            Some(url) => {
                let u = url::Url::parse(url)
                    .map_err(|_| self.malformed("goes with a --database-url that is not a URL"))?;
                if u.password().is_some() {
                    return Err(
                        self.malformed("goes with a --database-url that has a password of its own")
                    );
                }
                u
            }
            None => self.location(&s)?,
        };
        u.set_username(&s.username)
            .and_then(|()| u.set_password(Some(&s.password)))
            .map_err(|()| self.malformed("has a username that cannot be used"))?;
        let u = Zeroizing::new(String::from(u));
        crate::db::postgres_options(&u)
            .map_err(|_| self.malformed("makes an unusable database URL"))
    }

    /// `postgres://host:port/dbname` from a secret that names them.
    fn location(&self, s: &RdsSecret) -> Result<url::Url, SecretError> {
        let host = s.host.as_deref().ok_or_else(|| {
            self.malformed("names no host (an RDS-managed secret needs --database-url postgres://HOST:PORT/DB)")
        })?;
        let port = match &s.port {
            None => 5432,
            Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
            Some(serde_json::Value::String(t)) => t.parse().unwrap_or(0),
            Some(_) => 0,
        };
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| self.malformed("has a port that is not a port"))?;
        let mut u = url::Url::parse("postgres://localhost/")
            .map_err(|_| self.malformed("makes an unusable database URL"))?;
        u.set_host(Some(host))
            .map_err(|_| self.malformed("has a host that is not a host name"))?;
        let _ = u.set_port(Some(port));
        u.set_path(s.dbname.as_deref().unwrap_or("postgres"));
        Ok(u)
    }
}

impl Credentials for SecretCredentials {
    fn current(&self, refused: bool) -> BoxFuture<'_, Result<Vec<AnyConnectOptions>, String>> {
        Box::pin(async move { self.options(refused).await.map_err(|e| e.to_string()) })
    }
}

/// Secrets Manager and SSM clients with the default AWS credential chain.
async fn clients(settings: &Settings) -> (aws_sdk_secretsmanager::Client, aws_sdk_ssm::Client) {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_timeout(Duration::from_secs(20))
            .build(),
    );
    if let Some(r) = &settings.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(ep) = &settings.endpoint {
        loader = loader.endpoint_url(ep);
    }
    if let Some((id, secret)) = &settings.credentials {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            id.clone(),
            secret.clone(),
            None,
            None,
            "cipherdrop-settings",
        ));
    }
    let shared = loader.load().await;
    (
        aws_sdk_secretsmanager::Client::new(&shared),
        aws_sdk_ssm::Client::new(&shared),
    )
}

/// Where a password is kept (the SMTP server's): a Secrets Manager secret whose value is the
/// password itself or JSON with a `password` field (as SES SMTP credentials are often kept), or
/// an SSM `SecureString` parameter.
#[derive(Clone, Debug)]
pub enum PasswordSource {
    /// A Secrets Manager secret id or ARN.
    Secret(String),
    /// An SSM parameter name.
    Parameter(String),
}

impl PasswordSource {
    /// `secret ID` or `parameter NAME`, for messages.
    pub fn what(&self) -> String {
        match self {
            Self::Secret(id) => format!("secret {id}"),
            Self::Parameter(name) => format!("parameter {name}"),
        }
    }

    /// Reads the password (its current version). Errors name the secret, never its value.
    pub async fn read(&self, settings: &Settings) -> Result<Zeroizing<String>, SecretError> {
        #[derive(serde::Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
        struct WithPassword {
            password: String,
        }
        let (secrets, ssm) = clients(settings).await;
        let service = |message: String| SecretError::Service {
            what: self.what(),
            message,
        };
        let malformed = |problem: &str| SecretError::Malformed {
            what: self.what(),
            problem: problem.to_owned(),
        };
        let text = match self {
            Self::Secret(id) => Zeroizing::new(
                secrets
                    .get_secret_value()
                    .secret_id(id)
                    .send()
                    .await
                    .map_err(|e| service(service_words(&e.into_service_error())))?
                    .secret_string
                    .ok_or_else(|| malformed("has no SecretString"))?,
            ),
            Self::Parameter(name) => Zeroizing::new(
                ssm.get_parameter()
                    .name(name)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|e| service(service_words(&e.into_service_error())))?
                    .parameter
                    .and_then(|p| p.value)
                    .ok_or_else(|| malformed("has no value"))?,
            ),
        };
        if text.trim_start().starts_with('{') {
            let parsed: WithPassword = serde_json::from_str(&text)
                .map_err(|_| malformed("is JSON without a \"password\" string"))?;
            return Ok(Zeroizing::new(parsed.password.clone()));
        }
        if text.is_empty() {
            return Err(malformed("is empty"));
        }
        Ok(text)
    }
}

/// A service error's code and message (never a value).
fn service_words<E: aws_sdk_ssm::error::ProvideErrorMetadata>(e: &E) -> String {
    format!(
        "{}: {}",
        e.code().unwrap_or("an error"),
        e.message().unwrap_or("no message")
    )
}
