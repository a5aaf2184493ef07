//! File requests as the page calls them: the owner's (make, list, extend, close, what arrived)
//! and a sender's (look, start an upload with the request's token, part URLs, complete, abort;
//! the token and the upload's sender secret always in the body).

use cipherdrop_api::{
    CompleteUploadRequest, CreateUploadRequest, ObjectList, ShareTokenRequest, UploadStatus,
};
use gloo_net::http::{Request, RequestBuilder};
use zeroize::Zeroizing;

use super::{ApiResult, WithKey, empty, json, post, send, take_data_key};

/// The account's file requests, newest first.
pub async fn requests() -> ApiResult<cipherdrop_api::RequestList> {
    json(Request::get("/api/requests").build()).await
}

/// Makes a file request; the answer holds its token, shown only now.
pub async fn create_request(
    req: &cipherdrop_api::CreateRequestRequest,
) -> ApiResult<cipherdrop_api::RequestCreated> {
    json(post("/api/requests", req)).await
}

/// Extends, closes or reopens a file request.
pub async fn update_request(
    id: &str,
    req: &cipherdrop_api::UpdateRequestRequest,
) -> ApiResult<cipherdrop_api::RequestSummary> {
    json(
        RequestBuilder::new(&format!("/api/requests/{id}"))
            .method(gloo_net::http::Method::PATCH)
            .json(req),
    )
    .await
}

/// Stops every upload under way through the owner's request; its places go back to it.
pub async fn stop_arriving(id: &str) -> ApiResult<cipherdrop_api::RequestSummary> {
    json(empty(
        gloo_net::http::Method::POST,
        &format!("/api/requests/{id}/arriving/abort"),
    ))
    .await
}

/// The files that arrived by a request (the server marks them seen).
pub async fn request_files(id: &str) -> ApiResult<ObjectList> {
    json(Request::get(&format!("/api/requests/{id}/files")).build()).await
}

/// What a file request's sender sees (the token goes in the body, never in a URL).
pub async fn request_info(token: &str) -> ApiResult<cipherdrop_api::RequestInfo> {
    let body = ShareTokenRequest {
        token: token.to_owned(),
        passphrase: None,
    };
    json(post("/api/request", &body)).await
}

/// A sender starts one file's upload through a request. If the data key does not decode, the
/// upload is aborted at once.
pub async fn sender_create_upload(
    token: &str,
    passphrase: Option<String>,
    upload: &CreateUploadRequest,
) -> ApiResult<(
    WithKey<cipherdrop_api::CreateUploadResponse>,
    Zeroizing<String>,
)> {
    let body = cipherdrop_api::SenderUploadRequest {
        token: token.to_owned(),
        passphrase,
        upload: upload.clone(),
    };
    let answer: cipherdrop_api::SenderUploadResponse =
        json(post("/api/request/uploads", &body)).await?;
    let secret = Zeroizing::new(answer.sender_secret);
    let mut upload = answer.upload;
    match take_data_key(&mut upload.data_key) {
        Ok(data_key) => Ok((
            WithKey {
                answer: upload,
                data_key,
            },
            secret,
        )),
        Err(e) => {
            let _ = sender_abort(&upload.upload_id, &secret).await;
            Err(e)
        }
    }
}

/// Part URLs for a sender's upload (`length`: part `first`'s length, for a part whose length
/// only the message decides).
pub async fn sender_part_urls(
    upload_id: &str,
    secret: &str,
    first: u32,
    count: u32,
    length: Option<u32>,
) -> ApiResult<UploadStatus> {
    let body = cipherdrop_api::SenderPartsRequest {
        sender_secret: secret.to_owned(),
        first: Some(first),
        count: Some(count),
        length: length.map(u64::from),
    };
    json(post(
        &format!("/api/request/uploads/{upload_id}/parts"),
        &body,
    ))
    .await
}

/// Completes a sender's upload; the answer is a receipt.
pub async fn sender_complete(
    upload_id: &str,
    secret: &str,
    req: &CompleteUploadRequest,
) -> ApiResult<cipherdrop_api::SenderReceipt> {
    let body = cipherdrop_api::SenderCompleteRequest {
        sender_secret: secret.to_owned(),
        parts: req.parts.clone(),
        metadata: req.metadata.clone(),
    };
    json(post(
        &format!("/api/request/uploads/{upload_id}/complete"),
        &body,
    ))
    .await
}

/// Abandons a sender's upload.
pub async fn sender_abort(upload_id: &str, secret: &str) -> ApiResult<()> {
    let body = cipherdrop_api::SenderAbortRequest {
        sender_secret: secret.to_owned(),
    };
    send(post(
        &format!("/api/request/uploads/{upload_id}/abort"),
        &body,
    ))
    .await
    .map(drop)
}
