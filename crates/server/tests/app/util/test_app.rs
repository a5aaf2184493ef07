//! [`TestApp`]: the whole backend in this process, as `cipherdrop serve` composes it with its
//! embedded services, but on free loopback ports, over a temporary folder, with every log line
//! captured.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use cipherdrop_server::db::Db;
use cipherdrop_server::{AwsSettings, Config, Server};
use cipherdrop_testkit::server::Client;
use tokio::sync::watch;

/// The password every test account gets.
pub const PASSWORD: &str = cipherdrop_testkit::server::PASSWORD;

/// The server, its embedded KMS and S3, each serving on a free loopback port until dropped.
pub struct TestApp {
    /// The app's URL (also its public origin).
    pub url: String,
    /// The embedded S3's URL.
    pub s3_url: String,
    /// The KMS key's ARN.
    pub key_arn: String,
    kms_url: String,
    kms_credentials: (String, String),
    /// The embedded KMS itself (to link it with another region's).
    pub kms_service: Arc<cipherdrop_kms::Kms>,
    s3_credentials: (String, String),
    /// The server's database.
    pub db: Db,
    pub(crate) server: Server,
    admin_token: Option<String>,
    stop: watch::Sender<bool>,
    dir: tempfile::TempDir,
}

/// Every log line of every app in this test binary (one global subscriber, at debug level for
/// our crates, as the process tests capture `cipherdrop serve`).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,hyper=info,h2=info,aws_smithy_runtime=info,aws_sdk_s3=info,aws_sdk_kms=info,sqlx=info,s3s=info",
            ))
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .try_init();
        buffer
    })
    .clone()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("log buffer poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl TestApp {
    /// Starts everything with the default configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts everything, letting `configure` change the server's configuration first.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        captured_logs();
        let dir = tempfile::tempdir().unwrap();
        let (stop, stopped) = watch::channel(false);
        let until_stopped = move || {
            let mut rx = stopped.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };

        let kms = Arc::new(
            cipherdrop_kms::Kms::open(
                &dir.path().join("kms"),
                "us-east-1",
                cipherdrop_kms::DEFAULT_ACCOUNT,
            )
            .unwrap(),
        );
        let kms_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let kms_url = format!("http://{}", kms_listener.local_addr().unwrap());
        let kms_credentials = (
            kms.credentials().access_key_id.clone(),
            kms.credentials().secret_access_key.clone(),
        );
        let kms_service = kms.clone();
        tokio::spawn(cipherdrop_kms::serve(kms_listener, kms, until_stopped()));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let s3_credentials =
            cipherdrop_s3::Credentials::load_or_create(&dir.path().join("s3-credentials.json"))
                .unwrap();
        let s3_router = cipherdrop_s3::router(&cipherdrop_s3::Options {
            data_dir: &dir.path().join("s3"),
            credentials: &s3_credentials,
            cors_origins: vec![url.clone()],
        })
        .unwrap();
        let s3_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let s3_url = format!("http://{}", s3_listener.local_addr().unwrap());
        tokio::spawn(cipherdrop_s3::serve(
            s3_listener,
            s3_router,
            until_stopped(),
        ));

        let s3_pair = (
            s3_credentials.access_key_id.clone(),
            s3_credentials.secret_access_key.clone(),
        );
        let aws = cipherdrop_server::Aws::connect(&AwsSettings {
            s3_region: "us-east-1".into(),
            kms_region: "us-east-1".into(),
            kms_endpoint: Some(kms_url.clone()),
            s3_endpoint: Some(s3_url.clone()),
            s3_path_style: true,
            kms_credentials: Some(kms_credentials.clone()),
            s3_credentials: Some((
                s3_credentials.access_key_id.clone(),
                s3_credentials.secret_access_key.clone(),
            )),
        })
        .await;
        let key_arn = aws.ensure_key_alias("alias/cipherdrop").await.unwrap();
        aws.ensure_bucket("cipherdrop").await.unwrap();
        let db = cipherdrop_server::db::open(&dir.path().join("cipherdrop.db"))
            .await
            .unwrap();
        let mut config = Config::new(&url, &key_arn, "cipherdrop");
        configure(&mut config);
        let server = Server::new(config, db.clone(), aws);
        let admin_token = server
            .bootstrap_admin()
            .await
            .unwrap()
            .map(|t| t.to_string());
        tokio::spawn(server.clone().serve(listener, until_stopped()));
        Self {
            url,
            s3_url,
            key_arn,
            kms_url,
            kms_credentials,
            kms_service,
            s3_credentials: s3_pair,
            db,
            server,
            admin_token,
            stop,
            dir,
        }
    }

    /// A client of the embedded KMS with the server's own credentials.
    pub fn kms(&self) -> aws_sdk_kms::Client {
        let (ak, sk) = &self.kms_credentials;
        cipherdrop_testkit::kms_client(&self.kms_url, ak, sk, false)
    }

    /// The official Python ESDK's decryption of `ciphertext` with a KMS keyring of `key_arn`,
    /// through the embedded KMS with the server's credentials (a process, off the runtime's
    /// threads, which serve the KMS it calls).
    pub async fn esdk_decrypt(&self, key_arn: &str, ciphertext: &[u8]) -> anyhow::Result<Vec<u8>> {
        let (url, (ak, sk), arn, ct, dir) = (
            self.kms_url.clone(),
            self.kms_credentials.clone(),
            key_arn.to_owned(),
            ciphertext.to_vec(),
            self.dir().to_owned(),
        );
        tokio::task::spawn_blocking(move || {
            cipherdrop_testkit::server::esdk_decrypt(&url, (&ak, &sk), &arn, &ct, &dir)
        })
        .await?
    }

    /// A client of the embedded S3 with the server's own credentials (someone with S3 access
    /// acting behind the server's back).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let (ak, sk) = &self.s3_credentials;
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                ak, sk, None, None, "tests",
            ))
            .endpoint_url(&self.s3_url)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// The keys stored in the embedded S3's bucket (through the server's own S3 client settings).
    pub async fn stored_keys(&self) -> Vec<String> {
        let out = self
            .s3()
            .list_objects_v2()
            .bucket("cipherdrop")
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    /// The temporary folder holding the database and the embedded services' data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A client with no session.
    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }

    /// The first-start admin's one-time login token (used by [`TestApp::admin`]).
    pub fn admin_token(&self) -> &str {
        self.admin_token
            .as_deref()
            .expect("the first start made an admin")
    }

    /// The admin, logged in by the first-start link, with [`PASSWORD`] set.
    pub async fn admin(&self) -> Client {
        let admin = self.client();
        admin.login_link(self.admin_token()).await.unwrap();
        let (_, me) = admin
            .call(reqwest::Method::GET, "/api/me", None)
            .await
            .unwrap();
        assert_eq!(me["username"], "admin");
        assert_eq!(me["must_set_password"], true);
        admin.set_password(None, PASSWORD).await.unwrap();
        admin
    }

    /// A new account `name` with [`PASSWORD`], logged in.
    pub async fn user(&self, name: &str) -> Client {
        cipherdrop_server::admin::add_user(&self.db, name, Some(PASSWORD), false)
            .await
            .unwrap();
        let c = self.client();
        c.login(name, PASSWORD).await.unwrap();
        c
    }

    /// The admin, alice and bob, each logged in with its own client.
    pub async fn accounts(&self) -> (Client, Client, Client) {
        let admin = self.admin().await;
        (admin, self.user("alice").await, self.user("bob").await)
    }

    /// Whether the audit chain is intact, and its problems.
    pub async fn audit_verify(&self) -> (bool, String) {
        let report = cipherdrop_server::audit::verify(&self.db).await.unwrap();
        (report.problems.is_empty(), report.problems.join("\n"))
    }

    /// The database's files as an attacker with them would read them: every page and the WAL.
    pub fn stored_bytes(&self) -> Vec<u8> {
        ["cipherdrop.db", "cipherdrop.db-wal"]
            .iter()
            .flat_map(|f| std::fs::read(self.dir().join(f)).unwrap_or_default())
            .collect()
    }

    /// [`TestApp::stored_bytes`] as text (lossy), to search for secrets.
    pub fn stored_text(&self) -> String {
        String::from_utf8_lossy(&self.stored_bytes()).into_owned()
    }

    /// Everything logged so far by every app in this test binary.
    pub fn logs(&self) -> String {
        let logs = captured_logs();
        let bytes = logs.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The most argon2 checks that ran at once so far.
    pub fn peak_hashing(&self) -> usize {
        self.server.peak_hashing()
    }

    /// The audit rows with `action`, as JSON objects.
    pub async fn audit_rows(&self, action: &str) -> Vec<serde_json::Value> {
        cipherdrop_server::audit::page(&self.db, 0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == action)
            .map(|e| serde_json::to_value(e).unwrap())
            .collect()
    }

    /// How many `operation` calls (e.g. `Decrypt`) the embedded KMS recorded in its audit trail.
    pub fn kms_calls(&self, operation: &str) -> usize {
        std::fs::read_to_string(self.dir().join("kms").join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["eventName"] == operation)
            .count()
    }

    /// Runs `statement` on the app's database (an attacker with write access to it).
    pub async fn sql(&self, statement: &str) {
        sqlx::query(statement).execute(&self.db).await.unwrap();
    }

    /// The first column of every row `query` returns, as text.
    pub async fn sql_texts(&self, query: &str) -> Vec<String> {
        sqlx::query_scalar(query).fetch_all(&self.db).await.unwrap()
    }

    /// Runs the sweeper once now.
    pub async fn sweep(&self) -> usize {
        self.server.sweep().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let _ = std::io::stderr().flush();
    }
}
