//! Webhooks: an account's endpoints that are told, by signed `POST`s, when its links are used and
//! its requests receive files (ids only, never a name, a content or a link's secret).

use serde::{Deserialize, Serialize};

use crate::SecretB64;

/// Most live webhook endpoints per account.
pub const WEBHOOK_MAX_PER_ACCOUNT: u32 = 5;
/// Longest endpoint URL, in bytes.
pub const WEBHOOK_MAX_URL: usize = 2048;
/// Event: a share link released its key (a download or preview began).
pub const EVENT_LINK_USED: &str = "link.used";
/// Event: a file request received a file.
pub const EVENT_REQUEST_RECEIVED: &str = "request.received";
/// Event: sent by the owner to check an endpoint.
pub const EVENT_TEST: &str = "webhook.test";

/// `POST /api/webhooks`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CreateWebhookRequest {
    /// Where deliveries go (`https://`; `http://` only to a private network the administrator
    /// allows).
    pub url: String,
}

/// One delivery as the owner sees it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliverySummary {
    /// Its `webhook-id` (the same on every attempt).
    pub id: String,
    /// The event's type.
    pub event: String,
    /// When the event happened (Unix seconds).
    pub created_at: i64,
    /// Attempts so far.
    pub attempts: u32,
    /// When the endpoint took it (2xx), if it has.
    pub delivered_at: Option<i64>,
    /// What the last failed attempt met, in words.
    pub last_error: Option<String>,
    /// When the server stopped trying (a day after the event), if it has.
    pub gave_up_at: Option<i64>,
}

/// An endpoint as its owner sees it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookSummary {
    /// Its id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Deliveries waiting (not delivered, not given up).
    pub pending: u32,
    /// The latest deliveries, newest first (at most 20).
    pub deliveries: Vec<DeliverySummary>,
}

/// `POST /api/webhooks` answer: the only time the signing secret is shown.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookCreated {
    /// The endpoint.
    pub webhook: WebhookSummary,
    /// `whsec_…`: verify each delivery's `webhook-signature` with it (Standard Webhooks).
    pub secret: SecretB64,
}

/// `GET /api/webhooks`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookList {
    /// The account's endpoints, newest first.
    pub webhooks: Vec<WebhookSummary>,
}
