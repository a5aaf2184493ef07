//! `serve`'s SMTP options: where e-mail notifications go out, with the password read from
//! Secrets Manager or Parameter Store, never given on the command line.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use cipherdrop_server::mailer::SmtpSettings;
use cipherdrop_server::secrets::{PasswordSource, Settings};
use clap::Args;

/// E-mail notifications (off unless --smtp-url is given).
#[derive(Args, Debug, Clone)]
pub struct SmtpArgs {
    /// The SMTP server: smtp://[USER@]HOST[:PORT] (STARTTLS required, port 587 by default) or
    /// smtps://[USER@]HOST[:PORT] (TLS from the start, 465). Never plain text, never a password
    /// here.
    #[arg(long, value_name = "URL")]
    smtp_url: Option<String>,
    /// The sender: "Cipherdrop <noreply@example.com>" or a bare address.
    #[arg(long, value_name = "MAILBOX", requires = "smtp_url")]
    smtp_from: Option<String>,
    /// A Secrets Manager secret (id or ARN) holding the SMTP password (the value itself, or JSON
    /// with a "password" field).
    #[arg(
        long,
        value_name = "ID",
        requires = "smtp_url",
        conflicts_with = "smtp_password_parameter"
    )]
    smtp_password_secret_id: Option<String>,
    /// An SSM SecureString parameter holding the SMTP password.
    #[arg(long, value_name = "NAME", requires = "smtp_url")]
    smtp_password_parameter: Option<String>,
    /// A PEM file of a certificate authority to trust for the SMTP server (a private relay's),
    /// besides the system's.
    #[arg(long, value_name = "PEM", requires = "smtp_url")]
    smtp_ca_file: Option<PathBuf>,
}

impl SmtpArgs {
    /// The settings, or `None` without --smtp-url; errors say which option is wrong.
    pub fn settings(&self, secrets: Settings) -> Result<Option<SmtpSettings>> {
        let Some(text) = &self.smtp_url else {
            return Ok(None);
        };
        let url = url::Url::parse(text).context("--smtp-url is not a URL")?;
        let implicit_tls = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => bail!("--smtp-url: {other}:// is not smtp:// (STARTTLS) or smtps:// (TLS)"),
        };
        if url.password().is_some() {
            bail!(
                "--smtp-url must not hold a password: give --smtp-password-secret-id or --smtp-password-parameter"
            );
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .context("--smtp-url names no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let username = (!url.username().is_empty()).then(|| percent_decode(url.username()));
        let password = match (&self.smtp_password_secret_id, &self.smtp_password_parameter) {
            (Some(id), _) => Some(PasswordSource::Secret(id.clone())),
            (None, Some(name)) => Some(PasswordSource::Parameter(name.clone())),
            (None, None) => None,
        };
        if username.is_some() != password.is_some() {
            bail!(
                "--smtp-url's user name and --smtp-password-secret-id/--smtp-password-parameter go together"
            );
        }
        let from = self
            .smtp_from
            .clone()
            .context("--smtp-url needs --smtp-from (the sender's address)")?;
        if !cipherdrop_server::mailer::is_mailbox(&from) {
            bail!("--smtp-from is not a mailbox (Name <a@example.com>)");
        }
        let ca_pem = match &self.smtp_ca_file {
            Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
            None => None,
        };
        Ok(Some(SmtpSettings {
            host,
            port: url.port().unwrap_or(if implicit_tls { 465 } else { 587 }),
            implicit_tls,
            username,
            password,
            secrets,
            from,
            ca_pem,
        }))
    }
}

/// `%40` and the like in a URL's user name.
fn percent_decode(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(url: &str, from: Option<&str>, parameter: Option<&str>) -> SmtpArgs {
        SmtpArgs {
            smtp_url: Some(url.to_owned()),
            smtp_from: from.map(str::to_owned),
            smtp_password_secret_id: None,
            smtp_password_parameter: parameter.map(str::to_owned),
            smtp_ca_file: None,
        }
    }

    #[test]
    fn tls_always_and_no_password_on_the_command_line() {
        let from = Some("Cipherdrop <noreply@example.com>");
        let s = args(
            "smtp://ses%40user@email-smtp.eu-west-1.amazonaws.com",
            from,
            Some("/smtp"),
        )
        .settings(Settings::default())
        .unwrap()
        .unwrap();
        assert_eq!((s.port, s.implicit_tls), (587, false));
        assert_eq!(s.username.as_deref(), Some("ses@user"));
        assert_eq!(s.host, "email-smtp.eu-west-1.amazonaws.com");
        let s = args("smtps://relay.example.com", from, None)
            .settings(Settings::default())
            .unwrap()
            .unwrap();
        assert_eq!((s.port, s.implicit_tls, s.username), (465, true, None));
        for (url, from, parameter, words) in [
            (
                "smtp://u:hunter2@relay.example.com",
                from,
                Some("/p"),
                "must not hold a password",
            ),
            ("http://relay.example.com", from, None, "is not smtp://"),
            ("smtp://u@relay.example.com", from, None, "go together"),
            ("smtp://relay.example.com", from, Some("/p"), "go together"),
            ("smtp://relay.example.com", None, None, "needs --smtp-from"),
            (
                "smtp://relay.example.com",
                Some("a@b.c\r\nBcc: x@y.z"),
                None,
                "not a mailbox",
            ),
        ] {
            let e = args(url, from, parameter)
                .settings(Settings::default())
                .unwrap_err();
            assert!(e.to_string().contains(words), "{url}: {e}");
            assert!(!e.to_string().contains("hunter2"));
        }
        let none = SmtpArgs {
            smtp_url: None,
            ..args("", None, None)
        };
        assert!(none.settings(Settings::default()).unwrap().is_none());
    }
}
