//! Who did something, and the audit row that says so: an account (its page or an API token) or
//! the sender of a file request. Rows are built by name ([`Did`]), never by position.

use crate::audit::{AuditError, Event};
use crate::extract::{Auth, ClientIp};
use crate::state::AppState;

/// Who does something to an upload: an account (its page or a token), or the sender of a file
/// request (no account; named by the request).
#[derive(Clone, Copy)]
pub(crate) enum Actor<'a> {
    /// An account.
    Account(&'a Auth),
    /// A sender through request `.0`.
    Sender(&'a str),
}

/// What an actor did to what, and how it ended: one audit row.
#[derive(Clone, Copy)]
pub(crate) struct Did<'a> {
    /// What was done (`upload.completed`, `key.released`, ...).
    pub action: &'a str,
    /// The object, share or request it was done to.
    pub object: &'a str,
    /// `ok`, `denied` or `error`.
    pub outcome: &'a str,
    /// For people: what happened.
    pub detail: &'a str,
}

impl Actor<'_> {
    /// Appends the row; the caller answers only once it is committed (no key leaves without
    /// its row).
    pub(crate) async fn audit(
        self,
        state: &AppState,
        ip: ClientIp,
        did: Did<'_>,
    ) -> Result<(), AuditError> {
        let (actor, detail) = match self {
            // What a script did with an API token says which token.
            Actor::Account(auth) => (
                auth.user.username.as_str(),
                match &auth.token {
                    Some(t) => format!("{} [API token {} {}]", did.detail, t.name, t.id),
                    None => did.detail.to_owned(),
                },
            ),
            Actor::Sender(request) => ("sender", format!("{} [request {request}]", did.detail)),
        };
        state
            .audit
            .append(&Event {
                actor,
                action: did.action,
                object: Some(did.object),
                ip: ip.text().as_deref(),
                outcome: did.outcome,
                detail: &detail,
            })
            .await
    }

    /// [`Actor::audit`] after the fact: a failure is logged, not returned.
    pub(crate) async fn record(self, state: &AppState, ip: ClientIp, did: Did<'_>) {
        if let Err(e) = self.audit(state, ip, did).await {
            tracing::error!(error = %e, action = did.action, "could not append to the audit log");
        }
    }
}
