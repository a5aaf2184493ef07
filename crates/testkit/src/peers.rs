//! Third-party peers the tests start as processes, because a real one is the point: a webhook
//! receiver that checks signatures with the reference Standard Webhooks library, and an SMTP
//! server (aiosmtpd) with STARTTLS and AUTH.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, Result};

/// `tests/py/webhook_receiver.py`, killed when dropped: a receiver that checks every delivery
/// with the reference Standard Webhooks library.
pub struct WebhookReceiver {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Where it writes `requests.log` and each delivered body (`{webhook-id}.json`).
    pub dir: tempfile::TempDir,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl WebhookReceiver {
    /// Starts one that verifies with `secret` (or `@FILE`: the secret read from FILE at each
    /// request) and answers 500 to its first `fail_first` good deliveries.
    pub fn start(secret: &str, fail_first: u32) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(crate::python())
            .arg(crate::repo_root().join("tests/py/webhook_receiver.py"))
            .arg(secret)
            .arg(dir.path())
            .arg(fail_first.to_string())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let port = line.trim().parse().context("the receiver's port")?;
        Ok(Self { child, port, dir })
    }

    /// Each request so far: (status, webhook-id), in order.
    pub fn requests(&self) -> Vec<(u16, String)> {
        std::fs::read_to_string(self.dir.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (status, id) = l.split_once(' ')?;
                Some((status.parse().ok()?, id.to_owned()))
            })
            .collect()
    }

    /// The body delivered with `webhook-id` `id`.
    pub fn body(&self, id: &str) -> Result<serde_json::Value> {
        Ok(serde_json::from_slice(&std::fs::read(
            self.dir.path().join(format!("{id}.json")),
        )?)?)
    }
}

/// A real SMTP server (aiosmtpd, `tests/py/smtp_server.py`): STARTTLS required with a
/// throwaway CA (`ca.pem` in [`SmtpServer::dir`]), AUTH required; killed when dropped.
pub struct SmtpServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Where it writes `ca.pem`, `messages.log` and each message taken (`{n}.eml`).
    pub dir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    /// Starts one that takes only `user` with `password` (or `@FILE`: read at each login).
    pub fn start(user: &str, password: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(crate::python())
            .arg(crate::repo_root().join("tests/py/smtp_server.py"))
            .arg(dir.path())
            .arg(user)
            .arg(password)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let port = line.trim().parse().context("the SMTP server's port")?;
        Ok(Self { child, port, dir })
    }

    /// The CA its certificate is signed by (PEM).
    pub fn ca_pem(&self) -> Result<Vec<u8>> {
        Ok(std::fs::read(self.dir.path().join("ca.pem"))?)
    }

    /// Each line of its log: `FROM TO,… N` for a message taken, `AUTH-FAILED USER` for a login
    /// refused.
    pub fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("messages.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The messages taken so far, in order (raw RFC 5322 text).
    pub fn messages(&self) -> Vec<String> {
        (1..)
            .map_while(|n| std::fs::read_to_string(self.dir.path().join(format!("{n}.eml"))).ok())
            .collect()
    }
}
