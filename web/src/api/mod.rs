//! The Cipherdrop HTTP API as seen from the page: typed calls, user-readable errors, and data
//! keys decoded once, here, out of the answers into zeroizing buffers.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    AuditPage, CompleteUploadRequest, CreateShareRequest, CreateUploadRequest, ErrorBody,
    ErrorCode, KeyResponse, LinkLoginRequest, LoginRequest, Me, MetadataKeyRequest,
    MetadataKeyResponse, ObjectDetails, ObjectList, ObjectSummary, SecretB64, SetMetadataRequest,
    SetPasswordRequest, ShareCreated, ShareInfo, ShareKeyResponse, ShareList, ShareSummary,
    ShareTokenRequest, UpdateShareRequest, UploadStatus,
};
use cipherdrop_core::{DataKey, LinkKey, open_from_link};
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

mod notify;
mod requests;

pub use notify::*;
pub use requests::*;

/// Why an API call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The server answered with an error.
    Http {
        /// HTTP status.
        status: u16,
        /// Machine-readable code (`Unknown` when the answer carried none).
        code: ErrorCode,
        /// The server's explanation.
        message: String,
    },
    /// The request never got an answer (offline, server down, connection lost).
    Network(String),
    /// The answer was not what this page expects.
    Decode(String),
}

impl ApiError {
    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again later could help.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Http { status, .. } => *status >= 500 || *status == 429,
            Self::Network(_) => true,
            Self::Decode(_) => false,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http {
                code: ErrorCode::KmsUnavailable,
                message,
                ..
            } => write!(
                f,
                "The key service (KMS) is unavailable, so no key could be issued or released. \
                 Nothing was changed; try again in a moment. ({message})"
            ),
            Self::Http {
                code: ErrorCode::S3Unavailable,
                message,
                ..
            } => write!(
                f,
                "The storage service (S3) is unavailable. Nothing was changed; try again in a \
                 moment. ({message})"
            ),
            Self::Http {
                code: ErrorCode::Unauthenticated,
                ..
            } => {
                write!(f, "Your session has ended: please log in again.")
            }
            Self::Http { message, .. } => write!(f, "{message}"),
            Self::Network(e) => write!(
                f,
                "The server could not be reached (network lost or server down): {e}"
            ),
            Self::Decode(e) => write!(f, "Unexpected answer from the server: {e}"),
        }
    }
}

impl std::error::Error for ApiError {}

/// Result of an API call.
pub type ApiResult<T> = Result<T, ApiError>;

/// An answer that carried a data key, and that key, decoded (the answer's base64 field is left
/// empty).
pub struct WithKey<T> {
    /// The rest of the answer.
    pub answer: T,
    /// The plaintext data key (zeroized on drop, never printed).
    pub data_key: DataKey,
}

/// Moves a base64 data key out of an answer and decodes it; the text and the decoded bytes are
/// zeroized once the key is built.
fn take_data_key(b64: &mut SecretB64) -> ApiResult<DataKey> {
    let b64 = b64.take();
    let raw = Zeroizing::new(
        B64.decode(b64.as_bytes())
            .map_err(|_| ApiError::Decode("data key".into()))?,
    );
    DataKey::from_bytes(&raw).map_err(|_| ApiError::Decode("data key length".into()))
}

async fn error_of(resp: Response) -> ApiError {
    let status = resp.status();
    match resp.json::<ErrorBody>().await {
        Ok(body) => ApiError::Http {
            status,
            code: body.error,
            message: body.message,
        },
        Err(_) => ApiError::Http {
            status,
            code: ErrorCode::Unknown,
            message: format!("the server answered {status} {}", resp.status_text()),
        },
    }
}

async fn send(req: Result<Request, gloo_net::Error>) -> ApiResult<Response> {
    let req = req.map_err(|e| ApiError::Decode(e.to_string()))?;
    let resp = req
        .send()
        .await
        .map_err(|e| ApiError::Network(e.to_string()))?;
    if resp.ok() {
        Ok(resp)
    } else {
        Err(error_of(resp).await)
    }
}

async fn json<T: DeserializeOwned>(req: Result<Request, gloo_net::Error>) -> ApiResult<T> {
    send(req)
        .await?
        .json::<T>()
        .await
        .map_err(|e| ApiError::Decode(e.to_string()))
}

fn post(path: &str, body: &impl Serialize) -> Result<Request, gloo_net::Error> {
    RequestBuilder::new(path)
        .method(gloo_net::http::Method::POST)
        .json(body)
}

fn empty(method: gloo_net::http::Method, path: &str) -> Result<Request, gloo_net::Error> {
    RequestBuilder::new(path).method(method).build()
}

/// The logged-in account, or `None` when not logged in.
pub async fn me() -> ApiResult<Option<Me>> {
    match json::<Me>(Request::get("/api/me").build()).await {
        Ok(me) => Ok(Some(me)),
        Err(e) if e.status() == Some(401) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Logs in with a password.
pub async fn login(username: &str, password: &str) -> ApiResult<Me> {
    let body = LoginRequest {
        username: username.to_owned(),
        password: password.to_owned(),
    };
    json(post("/api/login", &body)).await
}

/// Redeems a one-time login link's token.
pub async fn login_link(token: &str) -> ApiResult<Me> {
    let body = LinkLoginRequest {
        token: token.to_owned(),
    };
    json(post("/api/login/link", &body)).await
}

/// Ends the session.
pub async fn logout() -> ApiResult<()> {
    send(empty(gloo_net::http::Method::POST, "/api/logout"))
        .await
        .map(drop)
}

/// Sets a new password (the current one is needed unless a login link required a new one).
pub async fn set_password(current: Option<String>, new: String) -> ApiResult<()> {
    let body = SetPasswordRequest {
        current_password: current,
        new_password: new,
    };
    send(post("/api/password", &body)).await.map(drop)
}

/// Starts an upload: the server has KMS issue a data key and opens the multipart upload.
/// If the data key does not decode, the upload is aborted at once.
pub async fn create_upload(
    req: &CreateUploadRequest,
) -> ApiResult<WithKey<cipherdrop_api::CreateUploadResponse>> {
    let mut answer: cipherdrop_api::CreateUploadResponse = json(post("/api/uploads", req)).await?;
    match take_data_key(&mut answer.data_key) {
        Ok(data_key) => Ok(WithKey { answer, data_key }),
        Err(e) => {
            let _ = abort(&answer.upload_id).await;
            Err(e)
        }
    }
}

/// Presigned URLs for parts `first ..` (`count` of them).
pub async fn part_urls(upload_id: &str, first: u32, count: u32) -> ApiResult<UploadStatus> {
    json(
        Request::get(&format!(
            "/api/uploads/{upload_id}/parts?first={first}&count={count}"
        ))
        .build(),
    )
    .await
}

/// The URL of part `number` for the `len` bytes it has (the server signs that length, and gives
/// a URL only if the declared message allows it).
pub async fn part_url_sized(upload_id: &str, number: u32, len: u32) -> ApiResult<UploadStatus> {
    json(
        Request::get(&format!(
            "/api/uploads/{upload_id}/parts?first={number}&count=1&length={len}"
        ))
        .build(),
    )
    .await
}

/// An upload's layout and, while it is pending, the parts S3 holds.
pub async fn upload_status(upload_id: &str) -> ApiResult<UploadStatus> {
    json(Request::get(&format!("/api/uploads/{upload_id}")).build()).await
}

/// A pending upload's data key again, to resume it (an audited release, owner only).
pub async fn pending_key(
    upload_id: &str,
) -> ApiResult<WithKey<cipherdrop_api::PendingKeyResponse>> {
    let mut answer: cipherdrop_api::PendingKeyResponse = json(empty(
        gloo_net::http::Method::POST,
        &format!("/api/uploads/{upload_id}/key"),
    ))
    .await?;
    let data_key = take_data_key(&mut answer.data_key)?;
    Ok(WithKey { answer, data_key })
}

/// Completes an upload: the server checks the stored header before recording the file.
pub async fn complete(upload_id: &str, req: &CompleteUploadRequest) -> ApiResult<ObjectSummary> {
    json(post(&format!("/api/uploads/{upload_id}/complete"), req)).await
}

/// Abandons an upload: the server aborts the multipart upload.
pub async fn abort(upload_id: &str) -> ApiResult<()> {
    send(empty(
        gloo_net::http::Method::POST,
        &format!("/api/uploads/{upload_id}/abort"),
    ))
    .await
    .map(drop)
}

/// The account's files.
pub async fn list() -> ApiResult<ObjectList> {
    json(Request::get("/api/objects").build()).await
}

/// The account's quotas and what it uses of them.
pub async fn usage() -> ApiResult<cipherdrop_api::Usage> {
    json(Request::get("/api/usage").build()).await
}

/// One file, with a presigned download URL.
pub async fn details(id: &str) -> ApiResult<ObjectDetails> {
    json(Request::get(&format!("/api/objects/{id}")).build()).await
}

/// Has KMS decrypt the file's stored data key (owner only; audited).
pub async fn release_key(id: &str) -> ApiResult<DataKey> {
    let mut resp: KeyResponse = json(empty(
        gloo_net::http::Method::POST,
        &format!("/api/objects/{id}/key"),
    ))
    .await?;
    take_data_key(&mut resp.data_key)
}

/// A version of the account's metadata key (or the newest, made on first use): its version, the
/// newest version, and the key in a zeroizing buffer. One audited KMS call on the server.
pub async fn metadata_key(version: Option<u32>) -> ApiResult<(u32, u32, Zeroizing<[u8; 32]>)> {
    let resp = json(post("/api/metadata-key", &MetadataKeyRequest { version })).await?;
    take_metadata_key(resp)
}

/// A new version of the account's metadata key (new names are sealed under it).
pub async fn rotate_metadata_key() -> ApiResult<(u32, u32, Zeroizing<[u8; 32]>)> {
    let resp = json(empty(
        gloo_net::http::Method::POST,
        "/api/metadata-key/rotate",
    ))
    .await?;
    take_metadata_key(resp)
}

fn take_metadata_key(mut resp: MetadataKeyResponse) -> ApiResult<(u32, u32, Zeroizing<[u8; 32]>)> {
    let b64 = resp.key.take();
    let raw = Zeroizing::new(
        B64.decode(b64.as_bytes())
            .map_err(|_| ApiError::Decode("metadata key".into()))?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if raw.len() != key.len() {
        return Err(ApiError::Decode("metadata key length".into()));
    }
    key.copy_from_slice(&raw);
    Ok((resp.version, resp.current, key))
}

/// Stores a file's name and type sealed again (under the newest metadata key).
pub async fn set_metadata(id: &str, metadata: String) -> ApiResult<()> {
    send(
        RequestBuilder::new(&format!("/api/objects/{id}/metadata"))
            .method(gloo_net::http::Method::PUT)
            .json(&SetMetadataRequest { metadata }),
    )
    .await
    .map(drop)
}

/// Deletes a file (S3 object, then the record).
pub async fn delete(id: &str) -> ApiResult<()> {
    send(empty(
        gloo_net::http::Method::DELETE,
        &format!("/api/objects/{id}"),
    ))
    .await
    .map(drop)
}

/// Makes a share link for object `id`; the answer holds the token, shown only this once.
pub async fn create_share(id: &str, req: &CreateShareRequest) -> ApiResult<ShareCreated> {
    json(post(&format!("/api/objects/{id}/shares"), req)).await
}

/// Makes one link to several files (each item sealed by the page).
pub async fn create_share_set(req: &CreateShareRequest) -> ApiResult<ShareCreated> {
    json(post("/api/shares", req)).await
}

/// The object's share links.
pub async fn shares(id: &str) -> ApiResult<ShareList> {
    json(Request::get(&format!("/api/objects/{id}/shares")).build()).await
}

/// Marks every download through a file's links as seen (its "new downloads" badge goes).
pub async fn shares_seen(id: &str) -> ApiResult<()> {
    send(empty(
        gloo_net::http::Method::POST,
        &format!("/api/objects/{id}/shares/seen"),
    ))
    .await
    .map(drop)
}

/// Moves a file to the KMS key the account's new uploads use (a one-file rotation job a server
/// runs within seconds; nothing is uploaded).
pub async fn rekey_object(id: &str) -> ApiResult<cipherdrop_api::RekeyJob> {
    json(empty(
        gloo_net::http::Method::POST,
        &format!("/api/objects/{id}/rekey"),
    ))
    .await
}

/// Changes a link's expiry or limit.
pub async fn update_share(share_id: &str, req: &UpdateShareRequest) -> ApiResult<ShareSummary> {
    json(
        RequestBuilder::new(&format!("/api/shares/{share_id}"))
            .method(gloo_net::http::Method::PATCH)
            .json(req),
    )
    .await
}

/// Revokes a link.
pub async fn revoke_share(share_id: &str) -> ApiResult<ShareSummary> {
    json(empty(
        gloo_net::http::Method::POST,
        &format!("/api/shares/{share_id}/revoke"),
    ))
    .await
}

/// The account's API tokens.
pub async fn tokens() -> ApiResult<cipherdrop_api::TokenList> {
    json(Request::get("/api/tokens").build()).await
}

/// Makes an API token; the answer holds its secret, shown only this once.
pub async fn create_token(
    req: &cipherdrop_api::CreateTokenRequest,
) -> ApiResult<cipherdrop_api::TokenCreated> {
    json(post("/api/tokens", req)).await
}

/// Revokes an API token.
pub async fn revoke_token(id: &str) -> ApiResult<cipherdrop_api::TokenSummary> {
    json(empty(
        gloo_net::http::Method::DELETE,
        &format!("/api/tokens/{id}"),
    ))
    .await
}

/// A link's access history.
pub async fn share_history(share_id: &str) -> ApiResult<AuditPage> {
    json(Request::get(&format!("/api/shares/{share_id}/history")).build()).await
}

/// What a link's holder may see (the token goes in the body, never in a URL).
pub async fn share_info(token: &str) -> ApiResult<ShareInfo> {
    let body = ShareTokenRequest {
        token: token.to_owned(),
        passphrase: None,
    };
    json(post("/api/share", &body)).await
}

/// One counted release through a link: the server answers the data key sealed under the link
/// key, which only this page has (it came in the link's fragment); it is opened here.
pub async fn share_key(
    token: &str,
    passphrase: Option<String>,
    link_key: &LinkKey,
) -> ApiResult<WithKey<ShareKeyResponse>> {
    let body = ShareTokenRequest {
        token: token.to_owned(),
        passphrase,
    };
    let answer: ShareKeyResponse = json(post("/api/share/key", &body)).await?;
    let sealed = B64
        .decode(answer.sealed_key.as_bytes())
        .map_err(|_| ApiError::Decode("sealed key".into()))?;
    let data_key = open_from_link(&sealed, link_key, &answer.id).map_err(|_| {
        ApiError::Decode(
            "the link's key does not open the file's key: check that the link was copied whole"
                .into(),
        )
    })?;
    Ok(WithKey { answer, data_key })
}

/// The data keys of every file of a released link to several files, opened with the link key,
/// in the answer's order.
pub fn share_item_keys(answer: &ShareKeyResponse, link_key: &LinkKey) -> ApiResult<Vec<DataKey>> {
    answer
        .items
        .iter()
        .map(|item| {
            let sealed = B64
                .decode(item.sealed_key.as_bytes())
                .map_err(|_| ApiError::Decode("sealed key".into()))?;
            open_from_link(&sealed, link_key, &answer.id)
                .map_err(|_| ApiError::Decode("the link's key does not open a file's key".into()))
        })
        .collect()
}

/// The keys stored data is under, the accounts' own keys and the rotation jobs
/// (administrators).
pub async fn keys_overview() -> ApiResult<cipherdrop_api::KeysOverview> {
    json(Request::get("/api/admin/keys").build()).await
}

/// What a rotation would move and, unless a dry run, its job (administrators).
pub async fn start_rekey(
    req: &cipherdrop_api::CreateRekeyRequest,
) -> ApiResult<cipherdrop_api::RekeyCreated> {
    json(post("/api/admin/rekey", req)).await
}

/// Gives an account its own KMS key, or the server's again (administrators).
pub async fn set_account_key(username: &str, kms_key_id: Option<String>) -> ApiResult<()> {
    send(
        RequestBuilder::new(&format!("/api/admin/users/{username}/key"))
            .method(gloo_net::http::Method::PUT)
            .json(&cipherdrop_api::SetAccountKeyRequest { kms_key_id }),
    )
    .await
    .map(drop)
}
