//! Notifications as the page calls them: the account's choices per event and its e-mail address
//! (with the mailed code that confirms it), and its webhooks (make one, its secret shown once;
//! list with the latest deliveries; send a test; delete).

use cipherdrop_api::{
    ConfirmEmail, CreateWebhookRequest, Notifications, UpdateNotifications, WebhookCreated,
    WebhookList,
};
use gloo_net::http::{Method, Request, RequestBuilder};

use super::{ApiResult, empty, json, post, send};

/// The account's choices and address.
pub async fn notifications() -> ApiResult<Notifications> {
    json(Request::get("/api/notifications").build()).await
}

/// Changes the choices and/or the address (a new one gets a code by e-mail).
pub async fn update_notifications(req: &UpdateNotifications) -> ApiResult<Notifications> {
    json(
        RequestBuilder::new("/api/notifications")
            .method(Method::PUT)
            .json(req),
    )
    .await
}

/// Confirms the pending address with the code mailed to it.
pub async fn confirm_email(code: &str) -> ApiResult<Notifications> {
    let body = ConfirmEmail {
        code: code.to_owned(),
    };
    json(post("/api/notifications/confirm", &body)).await
}

/// The account's webhooks with their latest deliveries.
pub async fn webhooks() -> ApiResult<WebhookList> {
    json(Request::get("/api/webhooks").build()).await
}

/// Makes a webhook; the answer holds its signing secret, shown only this once.
pub async fn create_webhook(url: &str) -> ApiResult<WebhookCreated> {
    let body = CreateWebhookRequest {
        url: url.to_owned(),
    };
    json(post("/api/webhooks", &body)).await
}

/// Sends a webhook a test event.
pub async fn test_webhook(id: &str) -> ApiResult<()> {
    send(empty(Method::POST, &format!("/api/webhooks/{id}/test")))
        .await
        .map(drop)
}

/// Deletes a webhook.
pub async fn delete_webhook(id: &str) -> ApiResult<()> {
    send(empty(Method::DELETE, &format!("/api/webhooks/{id}")))
        .await
        .map(drop)
}
