//! A throwaway PostgreSQL cluster for tests: Debian's server binaries, `initdb` into a temp dir,
//! `postgres` on a free loopback port, run as an unprivileged user when the tests run as root
//! (PostgreSQL refuses to run as root), stopped and deleted on drop. No system service is used.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// The superuser's name in every throwaway cluster.
pub const SUPERUSER: &str = "postgres";

/// A running throwaway cluster.
pub struct Postgres {
    child: Option<Child>,
    bin: PathBuf,
    data: PathBuf,
    /// The folder holding the cluster (deleted on drop).
    _dir: tempfile::TempDir,
    /// The loopback port it listens on.
    pub port: u16,
    /// The superuser's password.
    pub superuser_password: String,
    /// Settings given to `postgres -c` (besides the address and port).
    settings: Vec<String>,
    /// Run as this uid/gid (when the tests run as root).
    run_as: Option<(u32, u32)>,
    log: PathBuf,
}

/// The folder of Debian's PostgreSQL server binaries (`/usr/lib/postgresql/N/bin`, the newest).
pub fn bin_dir() -> Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("no /usr/lib/postgresql: run scripts/bootstrap.sh (it installs postgresql)")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, b)| b)
        .context("no PostgreSQL server binaries under /usr/lib/postgresql")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Postgres {
    /// `initdb` and start a cluster tuned for tests (no fsync: a crash of the test machine
    /// loses nothing a test needs; clean stops and restarts keep everything).
    pub fn start() -> Result<Self> {
        Self::start_with(&[
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
        ])
    }

    /// `initdb` and start a cluster with PostgreSQL's own durable defaults (for benchmarks).
    pub fn start_durable() -> Result<Self> {
        Self::start_with(&[])
    }

    fn start_with(settings: &[&str]) -> Result<Self> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new().prefix("cipherdrop-pg").tempdir()?;
        let data = dir.path().join("data");
        let run_as = is_root().then_some((65534, 65534));
        std::fs::create_dir(&data)?;
        let superuser_password = format!("pg-{:032x}", rand::random::<u128>());
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, &superuser_password)?;
        #[cfg(unix)]
        if let Some((uid, gid)) = run_as {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
            std::os::unix::fs::chown(&data, Some(uid), Some(gid))?;
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid))?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        }
        let out = Self::command(run_as, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "--auth=scram-sha-256", "--no-locale"])
            .args(["-E", "UTF8", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .context("running initdb")?;
        if !out.status.success() {
            bail!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let _ = std::fs::remove_file(&pwfile);
        let log = dir.path().join("postgres.log");
        let mut pg = Self {
            child: None,
            bin,
            data,
            _dir: dir,
            port: free_port()?,
            superuser_password,
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
            run_as,
            log,
        };
        pg.run()?;
        Ok(pg)
    }

    fn command(run_as: Option<(u32, u32)>, program: &Path) -> Command {
        // setpriv: drop to the unprivileged user, and have the kernel kill PostgreSQL if the
        // test process dies, so no cluster outlives its test.
        let mut cmd = Command::new("setpriv");
        if let Some((uid, gid)) = run_as {
            cmd.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups");
        }
        cmd.arg("--pdeathsig=KILL").arg(program);
        cmd
    }

    /// Starts `postgres` (again, after [`Postgres::stop`]) on the same port and data.
    pub fn run(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        #[cfg(unix)]
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(&self.log, Some(uid), Some(gid))?;
        }
        let mut cmd = Self::command(self.run_as, &self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            .args(["-c", "max_connections=200"]);
        for s in &self.settings {
            cmd.args(["-c", s]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting postgres")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.sql_as_superuser("postgres", "SELECT 1").is_ok() {
                return Ok(());
            }
            if let Some(c) = &mut self.child
                && let Ok(Some(status)) = c.try_wait()
            {
                self.child = None;
                bail!("postgres exited ({status}):\n{}", self.logs());
            }
            if Instant::now() > deadline {
                bail!("postgres did not become ready:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Fast shutdown (SIGINT: sessions are ended, everything committed is kept); waits.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The server's log.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A `postgres://` URL for `user` with `password` on database `db`.
    pub fn url(&self, user: &str, password: &str, db: &str) -> String {
        format!("postgres://{user}:{password}@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs `sql` as the superuser on database `db` with psql; its output (unaligned, tuples only).
    pub fn sql_as_superuser(&self, db: &str, sql: &str) -> Result<String> {
        let out = Command::new("psql")
            .arg(self.url(SUPERUSER, &self.superuser_password, db))
            .args(["-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!("psql: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Makes a login role owning a new database of the same name; returns its URL.
    pub fn create_app_database(&self, name: &str, password: &str) -> Result<String> {
        self.sql_as_superuser(
            "postgres",
            &format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'"),
        )?;
        self.sql_as_superuser("postgres", &format!("CREATE DATABASE {name} OWNER {name}"))?;
        Ok(self.url(name, password, name))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
