//! The SMTP client e-mail notifications go out through: STARTTLS required or implicit TLS
//! (never plain text), the password read from Secrets Manager or Parameter Store (never on a
//! command line; read again after the server refuses it, so a rotated password is picked up).

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use zeroize::Zeroizing;

use crate::secrets::{PasswordSource, Settings};

/// How to reach the SMTP server.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    /// Its host name (checked against its certificate).
    pub host: String,
    /// Its port (587 for STARTTLS, 465 for implicit TLS, as usual).
    pub port: u16,
    /// TLS from the first byte (`smtps://`) instead of STARTTLS (`smtp://`, required).
    pub implicit_tls: bool,
    /// The user to log in as, if the server wants a login.
    pub username: Option<String>,
    /// Where its password is kept.
    pub password: Option<PasswordSource>,
    /// How to reach Secrets Manager and SSM.
    pub secrets: Settings,
    /// The sender (`Cipherdrop <noreply@example.com>`).
    pub from: String,
    /// A PEM certificate authority to trust besides the system's (a private relay's).
    pub ca_pem: Option<Vec<u8>>,
}

/// Whether `text` is one mailbox (`Name <a@example.com>` or a bare address).
pub fn is_mailbox(text: &str) -> bool {
    text.parse::<Mailbox>().is_ok()
}

/// The SMTP client: settings and the password last read.
pub struct Mailer {
    settings: SmtpSettings,
    password: tokio::sync::Mutex<Option<Zeroizing<String>>>,
}

impl Mailer {
    /// A mailer for `settings` (nothing is read or connected yet).
    pub fn new(settings: SmtpSettings) -> Self {
        Self {
            settings,
            password: tokio::sync::Mutex::new(None),
        }
    }

    /// The sender, as configured.
    pub fn from(&self) -> &str {
        &self.settings.from
    }

    async fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let s = &self.settings;
        let mut tls = TlsParameters::builder(s.host.clone());
        if let Some(pem) = &s.ca_pem {
            let ca = Certificate::from_pem(pem).map_err(|e| format!("the CA file: {e}"))?;
            tls = tls.add_root_certificate(ca);
        }
        let tls = tls.build_rustls().map_err(|e| format!("TLS: {e}"))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
            .port(s.port)
            .timeout(Some(std::time::Duration::from_secs(15)))
            .tls(if s.implicit_tls {
                Tls::Wrapper(tls)
            } else {
                Tls::Required(tls)
            });
        if let Some(user) = &s.username {
            let mut held = self.password.lock().await;
            if held.is_none() {
                let what = s
                    .password
                    .as_ref()
                    .map_or("no password".to_owned(), |p| p.what());
                let read = match &s.password {
                    Some(p) => p.read(&s.secrets).await.map_err(|e| e.to_string())?,
                    None => return Err(format!("a user name and {what}")),
                };
                *held = Some(read);
            }
            let password = held.as_ref().map(|p| p.to_string()).unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(builder.build())
    }

    /// Sends one message; an authentication refusal forgets the password, so the next attempt
    /// reads it again. The error is lettre's words (they quote the server, never the password).
    pub async fn send(&self, message: Message) -> Result<(), String> {
        let transport = self.transport().await?;
        match transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => {
                if e.status().is_some_and(|c| c.to_string() == "535") {
                    *self.password.lock().await = None;
                }
                Err(e.to_string())
            }
        }
    }
}
