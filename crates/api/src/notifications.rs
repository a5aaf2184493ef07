//! Notification choices: for each event an account is told about, which channels tell it (the
//! page's badge, e-mail, its webhooks), and the address e-mail goes to.

use serde::{Deserialize, Serialize};

/// Event: a link's file will expire within a day.
pub const EVENT_LINK_EXPIRING: &str = "link.expiring";
/// Event: a file request will expire within a day.
pub const EVENT_REQUEST_EXPIRING: &str = "request.expiring";
/// Event: the account has used most of a storage limit.
pub const EVENT_QUOTA_NEAR: &str = "quota.near";
/// Longest e-mail address, in bytes (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;
/// "Near" a limit: this share of it used, in percent.
pub const QUOTA_NEAR_PERCENT: u64 = 90;

/// A way of telling an account about an event.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// The page's "new" badge (only where the page has one: used links, received files).
    Badge,
    /// An e-mail to the account's address (no file name, no content, no link).
    Email,
    /// A signed POST to each of the account's webhooks.
    Webhook,
}

impl Channel {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Badge => "badge",
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }
}

/// Every event an account can choose channels for, with the channels it has by default and
/// the ones it can have.
pub const NOTIFY_EVENTS: [(&str, &[Channel], &[Channel]); 5] = [
    (
        crate::EVENT_LINK_USED,
        &[Channel::Badge, Channel::Webhook],
        &[Channel::Badge, Channel::Email, Channel::Webhook],
    ),
    (
        crate::EVENT_REQUEST_RECEIVED,
        &[Channel::Badge, Channel::Webhook],
        &[Channel::Badge, Channel::Email, Channel::Webhook],
    ),
    (
        EVENT_LINK_EXPIRING,
        &[Channel::Webhook],
        &[Channel::Email, Channel::Webhook],
    ),
    (
        EVENT_REQUEST_EXPIRING,
        &[Channel::Webhook],
        &[Channel::Email, Channel::Webhook],
    ),
    (
        EVENT_QUOTA_NEAR,
        &[Channel::Webhook],
        &[Channel::Email, Channel::Webhook],
    ),
];

/// One event's channels (empty: none).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EventChoice {
    /// The event (`link.used`, …).
    pub event: String,
    /// Which channels tell the account of it.
    pub channels: Vec<Channel>,
}

/// `GET /api/notifications`, and `PUT`'s answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Notifications {
    /// Where e-mail goes: an address the account confirmed with the code mailed to it.
    pub email: Option<String>,
    /// An address given and waiting for its code.
    pub email_pending: Option<String>,
    /// Whether this server sends e-mail at all (an administrator set up SMTP).
    pub email_available: bool,
    /// Every event with its channels.
    pub events: Vec<EventChoice>,
}

/// `PUT /api/notifications`: a new address (absent: unchanged; empty: none; another: a code
/// is mailed to it, and it is used once confirmed) and the events' channels (events left out
/// keep theirs).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UpdateNotifications {
    /// Where e-mail should go.
    #[serde(default)]
    pub email: Option<String>,
    /// Channels per event.
    #[serde(default)]
    pub events: Vec<EventChoice>,
}

/// `POST /api/notifications/confirm`: the code mailed to the pending address.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ConfirmEmail {
    /// As mailed (case and dashes do not matter).
    pub code: String,
}
