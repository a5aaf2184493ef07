//! The one channel every server call of an upload goes through: starting it, more part URLs (and
//! the renewal of one that expired), completing and abandoning it. [`Endpoint`] says whose upload
//! it is, which decides the routes: the logged-in account's (its session carries each call) or a
//! file request's sender's (the request's token starts it; the upload's own secret, in each
//! request's body, carries every later call). No stage calls the API's upload routes directly,
//! so a sender's upload can never stray onto a route that only an account may use.

use std::rc::Rc;

use cipherdrop_api::transfer::{CallAttempts, Failure, Step};
use cipherdrop_api::{
    CompleteUploadRequest, CreateUploadRequest, CreateUploadResponse, ObjectState, ObjectSummary,
    SenderReceipt, UploadStatus,
};
use cipherdrop_core::DataKey;
use zeroize::Zeroizing;

use crate::api::{self, ApiError, WithKey};
use crate::browser::{is_online, online_or_timeout};
use crate::error::{Cancel, TransferError};

/// Whose upload it is: where it starts, and so which routes carry all of it.
#[derive(Clone, Debug, PartialEq)]
pub enum Endpoint {
    /// The logged-in account's.
    Account,
    /// A file request's sender's, through the request `token` (with its passphrase, if it has
    /// one).
    Sender {
        /// The request's token (from the link's fragment).
        token: String,
        /// The request's passphrase, if it has one.
        passphrase: Option<String>,
    },
}

/// An upload the server opened: its channel, the server's answer, and the data key.
pub(crate) struct Started {
    /// Every later call of the upload.
    pub(crate) channel: Channel,
    /// The answer (its base64 data key field left empty).
    pub(crate) answer: CreateUploadResponse,
    /// The plaintext data key, decoded once, zeroized on drop.
    pub(crate) data_key: DataKey,
}

impl Endpoint {
    /// Starts an upload: the server has KMS issue a data key and opens the multipart upload.
    pub(crate) async fn start(&self, req: &CreateUploadRequest) -> Result<Started, ApiError> {
        let (WithKey { answer, data_key }, route) = match self {
            Self::Account => (api::create_upload(req).await?, Route::Account),
            Self::Sender { token, passphrase } => {
                let (with_key, secret) =
                    api::sender_create_upload(token, passphrase.clone(), req).await?;
                (with_key, Route::Sender(Rc::new(secret)))
            }
        };
        let channel = Channel {
            upload_id: Rc::from(answer.upload_id.as_str()),
            route,
        };
        Ok(Started {
            channel,
            answer,
            data_key,
        })
    }
}

/// The routes of one upload.
#[derive(Clone)]
enum Route {
    /// The account's session.
    Account,
    /// The upload's sender secret.
    Sender(Rc<Zeroizing<String>>),
}

/// What the server answered to a completed upload.
pub(crate) enum Arrived {
    /// The account's new file.
    Object(ObjectSummary),
    /// A sender's receipt.
    Receipt(SenderReceipt),
}

/// One upload's calls to the server, through the routes of whoever started it.
#[derive(Clone)]
pub(crate) struct Channel {
    upload_id: Rc<str>,
    route: Route,
}

impl Channel {
    /// The account's upload `upload_id` (one resumed from this browser's record).
    pub(crate) fn account(upload_id: &str) -> Self {
        Self {
            upload_id: Rc::from(upload_id),
            route: Route::Account,
        }
    }

    /// The upload's id.
    pub(crate) fn upload_id(&self) -> &str {
        &self.upload_id
    }

    /// Part URLs `first ..` (`count` of them; the server leaves out parts whose length only the
    /// message decides).
    pub(crate) async fn part_urls(&self, first: u32, count: u32) -> Result<UploadStatus, ApiError> {
        let id = &self.upload_id;
        match &self.route {
            Route::Account => api::part_urls(id, first, count).await,
            Route::Sender(secret) => api::sender_part_urls(id, secret, first, count, None).await,
        }
    }

    /// A fresh URL for part `n`, signed for the `len` bytes it has: for a part whose length only
    /// the message decides, and to renew a URL that expired while its part waited.
    pub(crate) async fn part_url(&self, n: u32, len: u32) -> Result<String, ApiError> {
        let id = &self.upload_id;
        let status = match &self.route {
            Route::Account => api::part_url_sized(id, n, len).await?,
            Route::Sender(secret) => api::sender_part_urls(id, secret, n, 1, Some(len)).await?,
        };
        status
            .parts
            .into_iter()
            .find(|p| p.part_number == n)
            .map(|p| p.url)
            .ok_or_else(|| ApiError::Decode(format!("the server gave no URL for part {n}")))
    }

    /// One attempt at completing the upload.
    async fn complete_once(&self, req: &CompleteUploadRequest) -> Result<Arrived, ApiError> {
        let id = &self.upload_id;
        match &self.route {
            Route::Account => api::complete(id, req).await.map(Arrived::Object),
            Route::Sender(secret) => api::sender_complete(id, secret, req)
                .await
                .map(Arrived::Receipt),
        }
    }

    /// Completes the upload, trying again while the server cannot be reached (a restart, a lost
    /// connection): when an earlier attempt got through and only its answer was lost, the
    /// account's upload is complete already, and that is the answer.
    pub(crate) async fn complete(
        &self,
        req: &CompleteUploadRequest,
        cancel: &Cancel,
    ) -> Result<Arrived, TransferError> {
        let mut attempts = CallAttempts::new();
        loop {
            let e = match self.complete_once(req).await {
                Ok(arrived) => return Ok(arrived),
                Err(e) => e,
            };
            let lost_answer = attempts.retried() && e.status() == Some(409);
            if lost_answer && matches!(self.route, Route::Account) {
                let status = api::upload_status(&self.upload_id).await?;
                if status.state != ObjectState::Complete {
                    return Err(e.into());
                }
                let details = api::details(&self.upload_id).await?;
                return Ok(Arrived::Object(details.object));
            }
            match attempts.failed(failure_of(&e), js_sys::Math::random()) {
                Step::Retry { after_ms } => {
                    online_or_timeout(after_ms as f64).await;
                    if cancel.is_cancelled() {
                        return Err(TransferError::Cancelled);
                    }
                }
                Step::Renew | Step::GiveUp | Step::Fail => return Err(e.into()),
            }
        }
    }

    /// Abandons the upload (the server aborts the multipart upload).
    pub(crate) async fn abort(&self) -> Result<(), ApiError> {
        let id = &self.upload_id;
        match &self.route {
            Route::Account => api::abort(id).await,
            Route::Sender(secret) => api::sender_abort(id, secret).await,
        }
    }
}

/// What a failed API call met, in the terms of the shared policy.
pub(crate) fn failure_of(e: &ApiError) -> Failure {
    match e {
        ApiError::Http { status, .. } => Failure::Status(*status),
        ApiError::Network(_) if !is_online() => Failure::Offline,
        ApiError::Network(_) => Failure::Network,
        // An answer the page cannot read is not the network's fault: a refusal in effect.
        ApiError::Decode(_) => Failure::Status(0),
    }
}
