//! A `cipherdrop serve` process and an API client that plays the browser's part: core encrypts,
//! parts go to the presigned URLs, the object comes back through a presigned GET and is
//! decrypted with the released data key.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, Result, anyhow, bail};

pub use crate::answers::*;
pub use crate::client::*;

/// A running `cipherdrop serve` (killed on drop).
pub struct ServerProcess {
    child: Child,
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    /// The app's URL.
    pub url: String,
    /// The embedded S3's URL, if embedded.
    pub s3_url: Option<String>,
    /// The embedded KMS's URL, if embedded.
    pub kms_url: Option<String>,
    /// The KMS key ARN (or id) in use.
    pub key: String,
    /// The first-start admin login token, if this start made the admin.
    pub admin_token: Option<String>,
    /// The data folder.
    pub data_dir: PathBuf,
    /// Where the server's log (stderr) goes.
    pub log_path: PathBuf,
}

impl ServerProcess {
    /// Starts `bin serve` on free loopback ports with `data_dir`, plus `extra` arguments, and no
    /// web bundle (`--web-dir` points at a folder that does not exist).
    pub fn start(
        bin: &Path,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        Self::start_with_web(bin, data_dir, &data_dir.join("no-web-bundle"), extra, env)
    }

    /// [`ServerProcess::start`] serving the web bundle in `web_dir` (e.g. trunk's `dist`).
    pub fn start_with_web(
        bin: &Path,
        data_dir: &Path,
        web_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        Self::spawn(
            bin,
            data_dir,
            web_dir,
            ("127.0.0.1:0", "127.0.0.1:0"),
            extra,
            env,
        )
    }

    /// [`ServerProcess::start`] on given ports (the app's, the embedded S3's), to start it again
    /// where clients and presigned URLs expect it after a kill; with the web bundle in
    /// `web_dir`, if given.
    pub fn start_at(
        bin: &Path,
        data_dir: &Path,
        web_dir: Option<&Path>,
        ports: (u16, u16),
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let (app, s3) = (
            format!("127.0.0.1:{}", ports.0),
            format!("127.0.0.1:{}", ports.1),
        );
        let none = data_dir.join("no-web-bundle");
        let web_dir = web_dir.unwrap_or(&none);
        Self::spawn(bin, data_dir, web_dir, (&app, &s3), extra, env)
    }

    fn spawn(
        bin: &Path,
        data_dir: &Path,
        web_dir: &Path,
        listen: (&str, &str),
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let log_path = data_dir.join(format!("server-{}.log", rand::random::<u32>()));
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", listen.0, "--s3-listen", listen.1])
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--web-dir")
            .arg(web_dir)
            .args(extra)
            .env("RUST_LOG", "debug,hyper=info,h2=info,aws_smithy_runtime=info,aws_sdk_s3=info,aws_sdk_kms=info,sqlx=info,s3s=info")
            // No load balancer to tell: a stop does not wait (a test that drains says so).
            .env("CIPHERDROP_DRAIN_SECS", "0")
            .stdout(Stdio::piped())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().context("spawning cipherdrop serve")?;
        let mut stdout = std::io::BufReader::new(child.stdout.take().context("stdout")?);
        let mut next_line = || -> Result<String> {
            let mut line = String::new();
            if stdout.read_line(&mut line)? == 0 {
                bail!(
                    "cipherdrop serve exited early:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            Ok(line.trim().to_owned())
        };
        let url = next_line()?
            .strip_prefix("cipherdrop listening on ")
            .ok_or_else(|| anyhow!("unexpected first line"))?
            .to_owned();
        let mut s3_url = None;
        let mut kms_url = None;
        let mut key = String::new();
        let mut admin_token = None;
        loop {
            let line = next_line()?;
            if let Some(rest) = line.strip_prefix("embedded S3 at ") {
                s3_url = rest.split_whitespace().next().map(str::to_owned);
            } else if let Some(rest) = line.strip_prefix("KMS key ") {
                key = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                kms_url = rest
                    .split("embedded KMS at ")
                    .nth(1)
                    .map(|s| s.trim_end_matches(')').to_owned());
            } else if line.starts_with("first start") {
                let link = next_line()?;
                admin_token = link.split("#login=").nth(1).map(str::to_owned);
                break;
            } else if line.starts_with("log in with") {
                break;
            }
        }
        Ok(Self {
            child,
            _stdout: stdout,
            url,
            s3_url,
            kms_url,
            key,
            admin_token,
            data_dir: data_dir.to_owned(),
            log_path,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no graceful anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait (graceful shutdown); returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A client for this server.
    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `tests/py/kms_interop.py` with the standard AWS environment variables pointing at
/// `endpoint` (KMS and S3) and `creds`; returns stdout.
pub fn python_aws(
    endpoint_kms: &str,
    endpoint_s3: Option<&str>,
    creds: (&str, &str),
    args: &[&str],
) -> Result<String> {
    let mut cmd = Command::new(crate::python());
    cmd.arg(crate::repo_root().join("tests/py/kms_interop.py"))
        .args(args)
        .env("AWS_ENDPOINT_URL_KMS", endpoint_kms)
        .env("AWS_ACCESS_KEY_ID", creds.0)
        .env("AWS_SECRET_ACCESS_KEY", creds.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    if let Some(s3) = endpoint_s3 {
        cmd.env("AWS_ENDPOINT_URL_S3", s3);
    }
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("python {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Decrypts `ciphertext` with the official Python ESDK (strict AWS KMS provider for `key_arn`).
pub fn esdk_decrypt(
    kms_url: &str,
    creds: (&str, &str),
    key_arn: &str,
    ciphertext: &[u8],
    dir: &Path,
) -> Result<Vec<u8>> {
    esdk_decrypt_with(kms_url, creds, &["decrypt", key_arn], ciphertext, dir)
}

/// Decrypts `ciphertext` with the official Python ESDK's multi-Region-aware discovery provider
/// for `region` (trusting keys of `account`): a multi-Region key's EDK made in another region is
/// decrypted through its replica in `region`, at `kms_url`.
pub fn esdk_decrypt_mrk_discovery(
    kms_url: &str,
    creds: (&str, &str),
    region: &str,
    account: &str,
    ciphertext: &[u8],
    dir: &Path,
) -> Result<Vec<u8>> {
    esdk_decrypt_with(
        kms_url,
        creds,
        &["decrypt-mrk", region, account],
        ciphertext,
        dir,
    )
}

/// `kms_interop.py COMMAND... IN OUT` on `ciphertext` in a file of `dir`; the plaintext.
fn esdk_decrypt_with(
    kms_url: &str,
    creds: (&str, &str),
    command: &[&str],
    ciphertext: &[u8],
    dir: &Path,
) -> Result<Vec<u8>> {
    let src = dir.join(format!("ct-{}.bin", rand::random::<u32>()));
    let dst = src.with_extension("out");
    std::fs::write(&src, ciphertext)?;
    let mut args = command.to_vec();
    args.extend([path_str(&src)?, path_str(&dst)?]);
    python_aws(kms_url, None, creds, &args)?;
    Ok(std::fs::read(&dst)?)
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))
}

/// The SigV4 credentials a `cipherdrop` service stored in `dir/credentials.json`.
pub fn stored_credentials(dir: &Path) -> Result<(String, String)> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("credentials.json"))?)?;
    let field = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no {k}"))
    };
    Ok((field("access_key_id")?, field("secret_access_key")?))
}

/// Runs one SQL statement on the server's database with Python's sqlite3 (an outside tool, as
/// an attacker with file access would); returns the rows as JSON.
pub fn sqlite(data_dir: &Path, sql: &str) -> Result<serde_json::Value> {
    let script = "import json, sqlite3, sys\n\
        db = sqlite3.connect(sys.argv[1])\n\
        rows = db.executescript(sys.argv[2]) if ';' in sys.argv[2] else db.execute(sys.argv[2])\n\
        out = [list(r) for r in rows] if not ';' in sys.argv[2] else []\n\
        db.commit()\n\
        print(json.dumps(out))";
    let out = Command::new(crate::python())
        .args(["-c", script])
        .arg(data_dir.join("cipherdrop.db"))
        .arg(sql)
        .output()?;
    if !out.status.success() {
        bail!("sqlite: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// `cipherdrop user add NAME --password-stdin`.
pub fn add_user(
    bin: &Path,
    data_dir: &Path,
    name: &str,
    password: &str,
    admin: bool,
) -> Result<()> {
    let mut cmd = Command::new(bin);
    cmd.args(["user", "add", name, "--password-stdin", "--data-dir"])
        .arg(data_dir);
    if admin {
        cmd.arg("--admin");
    }
    run_with_password(cmd, password)
}

/// Runs `cmd` (a `user add … --password-stdin`) with `password` on its standard input; fails
/// with its standard error.
pub fn run_with_password(mut cmd: Command, password: &str) -> Result<()> {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(format!("{password}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("user add: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// `cipherdrop audit verify`: (intact, printed report).
pub fn audit_verify(bin: &Path, data_dir: &Path) -> Result<(bool, String)> {
    let out = Command::new(bin)
        .args(["audit", "verify", "--data-dir"])
        .arg(data_dir)
        .output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// The environment that makes `cipherdrop serve` use exactly these AWS credentials (the default
/// chain, with no config files and no instance metadata to fall back on).
pub fn aws_env<'a>(
    access_key_id: &'a str,
    secret_access_key: &'a str,
) -> [(&'static str, &'a str); 5] {
    [
        ("AWS_ACCESS_KEY_ID", access_key_id),
        ("AWS_SECRET_ACCESS_KEY", secret_access_key),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
}

/// `bin kms serve` on `127.0.0.1:port` with `dir` (killed on drop).
pub fn kms_service(bin: &Path, dir: &Path, port: u16) -> Result<Service> {
    let mut cmd = Command::new(bin);
    cmd.args([
        "kms",
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
    ])
    .arg(dir);
    Service::start(cmd)
}

/// A free loopback port (bound, then released).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A long-running helper process (killed on drop) that printed its URL on its first stdout line.
pub struct Service {
    child: Child,
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    /// Its URL.
    pub url: String,
}

impl Service {
    /// Spawns `cmd` and waits for a first line ending in an `http://` URL.
    pub fn start(mut cmd: Command) -> Result<Self> {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
        let mut stdout = std::io::BufReader::new(child.stdout.take().context("stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .ok_or_else(|| anyhow!("no URL in {line:?}"))?
            .to_owned();
        Ok(Self {
            child,
            _stdout: stdout,
            url,
        })
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// moto's server, killed when dropped.
pub struct Moto {
    child: Child,
    /// Its endpoint (`http://127.0.0.1:PORT`).
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's server on a free loopback port, waited for until it answers.
pub fn start_moto() -> Result<Moto> {
    let port = free_port()?;
    let child = Command::new(crate::python())
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(moto);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bail!("moto did not start")
}

/// The password the test accounts get.
pub const PASSWORD: &str = "correct horse battery";

/// On a fresh server: the admin (first-start link, then a password) and users alice and bob,
/// each logged in with its own client.
pub async fn setup_accounts(
    server: &ServerProcess,
    bin: &Path,
) -> Result<(Client, Client, Client)> {
    let admin = server.client();
    admin
        .login_link(
            server
                .admin_token
                .as_deref()
                .context("no first-start link")?,
        )
        .await?;
    let (_, me) = admin.call(reqwest::Method::GET, "/api/me", None).await?;
    if me["username"] != "admin" || me["is_admin"] != true || me["must_set_password"] != true {
        bail!("unexpected first-start account: {me}");
    }
    admin.set_password(None, PASSWORD).await?;
    let mut users = Vec::new();
    for name in ["alice", "bob"] {
        add_user(bin, &server.data_dir, name, PASSWORD, false)?;
        let c = server.client();
        c.login(name, PASSWORD).await?;
        users.push(c);
    }
    let bob = users.pop().context("bob")?;
    let alice = users.pop().context("alice")?;
    Ok((admin, alice, bob))
}
