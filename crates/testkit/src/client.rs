//! The API client that plays the browser's part: core encrypts, parts go to the presigned URLs
//! (cut by core's `PartLayout`, URLs kept by `api::transfer`'s `UrlCache`), the object comes
//! back through a presigned GET and is decrypted with the released data key.

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::transfer::UrlCache;
use cipherdrop_api::{
    CompleteUploadRequest, CompletedPart, CreateUploadRequest, CreateUploadResponse, KeyResponse,
    ObjectDetails, ObjectSummary, ShareCreated, ShareKeyResponse,
};
use cipherdrop_core::{
    AlgorithmSuiteId, DataKey, DecryptLimits, Decryptor, LinkKey, LinkSecret, PartLayout,
    SigningKey, Suite, seal_for_link,
};
use zeroize::Zeroizing;

use crate::answers::{ApiFailure, Link, encrypt_for};

/// An API client with its own cookie jar (one browser, one account).
#[derive(Clone)]
pub struct Client {
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The app's URL.
    pub base: String,
}

impl Client {
    /// A fresh client (no session).
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .pool_max_idle_per_host(512)
                .build()
                .unwrap_or_default(),
            base: base.to_owned(),
        }
    }

    /// A client that authenticates with an API token (`Authorization: Bearer`), no cookies.
    pub fn with_token(base: &str, token: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")) {
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        Self {
            http: reqwest::Client::builder()
                .default_headers(headers)
                .pool_max_idle_per_host(64)
                .build()
                .unwrap_or_default(),
            base: base.to_owned(),
        }
    }

    /// Sends `method path` with an optional JSON body; JSON back (or `null` for no content).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(reqwest::header::HeaderMap, serde_json::Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            return Err(ApiFailure {
                status: status.as_u16(),
                body: serde_json::from_slice(&bytes).ok(),
                s3: None,
            }
            .into());
        }
        let value = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        };
        Ok((headers, value))
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T> {
        let (_, v) = self.call(method, path, body.as_ref()).await?;
        Ok(serde_json::from_value(v)?)
    }

    /// Starts an upload of `plaintext_size` bytes, 0x0478 in 4 KiB frames (the plain case).
    pub async fn open_upload(&self, plaintext_size: u64) -> Result<CreateUploadResponse> {
        self.create_upload(&CreateUploadRequest {
            plaintext_size,
            suite: cipherdrop_api::SUITE_COMMIT_KEY,
            frame_length: 4096,
            public_key: None,
        })
        .await
    }

    /// Redeems a one-time login link token.
    pub async fn login_link(&self, token: &str) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            "/api/login/link",
            Some(&serde_json::json!({ "token": token })),
        )
        .await?;
        Ok(())
    }

    /// Logs in with a password.
    pub async fn login(&self, username: &str, password: &str) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            "/api/login",
            Some(&serde_json::json!({ "username": username, "password": password })),
        )
        .await?;
        Ok(())
    }

    /// Sets a new password.
    pub async fn set_password(&self, current: Option<&str>, new: &str) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            "/api/password",
            Some(&serde_json::json!({ "current_password": current, "new_password": new })),
        )
        .await?;
        Ok(())
    }

    /// `POST /api/uploads`.
    pub async fn create_upload(&self, req: &CreateUploadRequest) -> Result<CreateUploadResponse> {
        self.json(
            reqwest::Method::POST,
            "/api/uploads",
            Some(serde_json::to_value(req)?),
        )
        .await
    }

    /// `POST /api/uploads/{id}/complete`.
    pub async fn complete(
        &self,
        id: &str,
        parts: &[CompletedPart],
        metadata: &[u8],
    ) -> Result<ObjectSummary> {
        let req = CompleteUploadRequest {
            parts: parts.to_vec(),
            metadata: B64.encode(metadata),
        };
        self.json(
            reqwest::Method::POST,
            &format!("/api/uploads/{id}/complete"),
            Some(serde_json::to_value(req)?),
        )
        .await
    }

    /// `GET /api/objects/{id}`.
    pub async fn details(&self, id: &str) -> Result<ObjectDetails> {
        self.json(reqwest::Method::GET, &format!("/api/objects/{id}"), None)
            .await
    }

    /// `POST /api/objects/{id}/key`.
    pub async fn key(&self, id: &str) -> Result<KeyResponse> {
        self.json(
            reqwest::Method::POST,
            &format!("/api/objects/{id}/key"),
            None,
        )
        .await
    }

    /// `POST /api/uploads/{id}/key`: a pending upload's data key again, to resume it.
    pub async fn pending_key(&self, id: &str) -> Result<cipherdrop_api::PendingKeyResponse> {
        self.json(
            reqwest::Method::POST,
            &format!("/api/uploads/{id}/key"),
            None,
        )
        .await
    }

    /// Makes a share link for `object` the way the owner's page does: releases the data key to
    /// the owner, seals it under a fresh link key for a fresh link id, and sends the sealed key
    /// with the settings in `body` (which may override `id` and `sealed_key`, to attack).
    pub async fn share(&self, object: &str, body: serde_json::Value) -> Result<Link> {
        let key = self.key(object).await?;
        let data_key = DataKey::from_bytes(&B64.decode(key.data_key.expose())?)?;
        let link_key = LinkKey::generate(&mut rand::rng());
        let id = uuid::Uuid::new_v4().to_string();
        let sealed = seal_for_link(&data_key, &link_key, &id, &mut rand::rng())?;
        let mut request = serde_json::json!({"id": id, "sealed_key": B64.encode(sealed)});
        if let (Some(r), serde_json::Value::Object(extra)) = (request.as_object_mut(), body) {
            r.extend(extra);
        }
        let created: ShareCreated = self
            .json(
                reqwest::Method::POST,
                &format!("/api/objects/{object}/shares"),
                Some(request),
            )
            .await?;
        Ok(Link {
            secret: LinkSecret {
                token: Zeroizing::new(created.token.clone()),
                key: link_key,
            },
            created,
        })
    }

    /// `PUT /api/admin/users/{username}/key` (an administrator's client): the account's own KMS
    /// key, or the server's again (`None`).
    pub async fn set_account_key(&self, username: &str, kms_key_id: Option<&str>) -> Result<()> {
        let body = serde_json::json!({ "kms_key_id": kms_key_id });
        self.call(
            reqwest::Method::PUT,
            &format!("/api/admin/users/{username}/key"),
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// `POST /api/metadata-key`: a version of the account's metadata key (`None`: the newest),
    /// as (version, key).
    pub async fn metadata_key(&self, version: Option<u32>) -> Result<(u32, [u8; 32])> {
        let (_, v) = self
            .call(
                reqwest::Method::POST,
                "/api/metadata-key",
                Some(&serde_json::json!({ "version": version })),
            )
            .await?;
        let version = u32::try_from(v["version"].as_u64().context("no version")?)?;
        let key: [u8; 32] = B64
            .decode(v["key"].as_str().context("no key")?)?
            .try_into()
            .map_err(|_| anyhow!("a metadata key is 32 bytes"))?;
        Ok((version, key))
    }

    /// `POST /api/requests` with `body` (title, limits): the new request's token.
    pub async fn open_request(&self, body: serde_json::Value) -> Result<String> {
        let (_, made) = self
            .call(reqwest::Method::POST, "/api/requests", Some(&body))
            .await?;
        made["token"]
            .as_str()
            .map(str::to_owned)
            .context("a request without a token")
    }

    /// A file request's sender's whole upload of `plaintext` (suite 0x0478, 4 KiB frames; the
    /// parts beyond the first URLs asked for with the sender's secret): the receipt, the
    /// sender's secret and the upload id, or the first refusal.
    pub async fn send_to_request(
        &self,
        token: &str,
        passphrase: Option<&str>,
        plaintext: &[u8],
    ) -> Result<(cipherdrop_api::SenderReceipt, String, String)> {
        let body = serde_json::json!({"token": token, "passphrase": passphrase, "upload": {
            "plaintext_size": plaintext.len(), "suite": cipherdrop_api::SUITE_COMMIT_KEY,
            "frame_length": 4096}});
        let (_, v) = self
            .call(reqwest::Method::POST, "/api/request/uploads", Some(&body))
            .await?;
        let answer: cipherdrop_api::SenderUploadResponse = serde_json::from_value(v)?;
        let (up, secret) = (answer.upload, answer.sender_secret);
        let ciphertext = encrypt_for(&up, None, 4096, plaintext)?;
        let layout = layout_of(&up, cipherdrop_api::SUITE_COMMIT_KEY)?;
        let mut urls = UrlCache::new();
        urls.insert(up.parts.clone(), up.urls_expire_at, unix_now());
        let mut parts = Vec::new();
        for (n, chunk) in cut(&layout, &ciphertext)? {
            let url = match urls.take(n, unix_now()) {
                Some(url) => url,
                None => {
                    // More URLs through the sender's own route, with the sender's secret.
                    let (first, count) = UrlCache::batch_for(n, layout.count());
                    let (_, v) = self
                        .call(
                            reqwest::Method::POST,
                            &format!("/api/request/uploads/{}/parts", up.upload_id),
                            Some(&serde_json::json!({
                                "sender_secret": secret, "first": first, "count": count
                            })),
                        )
                        .await?;
                    let batch: cipherdrop_api::UploadStatus = serde_json::from_value(v)?;
                    urls.insert(batch.parts, batch.urls_expire_at, unix_now());
                    urls.take(n, unix_now()).context("no part URL")?
                }
            };
            let etag = self.put_part(&url, chunk.to_vec()).await?;
            parts.push(serde_json::json!({"part_number": n, "etag": etag}));
        }
        let (_, v) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/request/uploads/{}/complete", up.upload_id),
                Some(&serde_json::json!({"sender_secret": secret, "parts": parts, "metadata": "AQID"})),
            )
            .await?;
        Ok((serde_json::from_value(v)?, secret, up.upload_id))
    }

    /// `POST /api/shares`: one link to several files, made as the page makes it: each data key
    /// sealed under one fresh link key, each `(object, name)`'s name sealed for the link.
    pub async fn share_set(&self, files: &[(&str, &str)], body: serde_json::Value) -> Result<Link> {
        let link_key = LinkKey::generate(&mut rand::rng());
        let id = uuid::Uuid::new_v4().to_string();
        let mut items = Vec::new();
        for (object, name) in files {
            let key = self.key(object).await?;
            let data_key = DataKey::from_bytes(&B64.decode(key.data_key.expose())?)?;
            let sealed = seal_for_link(&data_key, &link_key, &id, &mut rand::rng())?;
            let meta = cipherdrop_core::metadata::FileMeta {
                name: (*name).to_owned(),
                media_type: String::new(),
                sender: None,
            };
            let metadata = cipherdrop_core::metadata::seal(
                &meta,
                link_key.as_bytes(),
                object,
                &mut rand::rng(),
            );
            items.push(serde_json::json!({
                "object_id": object, "sealed_key": B64.encode(sealed), "metadata": metadata
            }));
        }
        let mut request = serde_json::json!({"id": id, "items": items});
        if let (Some(r), serde_json::Value::Object(extra)) = (request.as_object_mut(), body) {
            r.extend(extra);
        }
        let created: ShareCreated = self
            .json(reqwest::Method::POST, "/api/shares", Some(request))
            .await?;
        Ok(Link {
            secret: LinkSecret {
                token: Zeroizing::new(created.token.clone()),
                key: link_key,
            },
            created,
        })
    }

    /// `POST /api/share/key` with a link's token: one counted release of its sealed key.
    pub async fn share_key(
        &self,
        token: &str,
        passphrase: Option<&str>,
    ) -> Result<ShareKeyResponse> {
        let body = serde_json::json!({ "token": token, "passphrase": passphrase });
        let (headers, v) = self
            .call(reqwest::Method::POST, "/api/share/key", Some(&body))
            .await?;
        if headers.get("cache-control").map(|v| v.as_bytes()) != Some(b"no-store") {
            bail!("a key release must be served no-store");
        }
        Ok(serde_json::from_value(v)?)
    }

    /// `GET /api/uploads/{id}/parts?first=&count=`: fresh presigned part URLs.
    pub async fn part_urls(
        &self,
        id: &str,
        first: u32,
        count: u32,
    ) -> Result<Vec<cipherdrop_api::PartUrl>> {
        Ok(self.part_batch(id, first, count).await?.parts)
    }

    /// `GET /api/uploads/{id}/parts?first=&count=`: the answer whole (the URLs and their expiry).
    pub async fn part_batch(
        &self,
        id: &str,
        first: u32,
        count: u32,
    ) -> Result<cipherdrop_api::UploadStatus> {
        self.json(
            reqwest::Method::GET,
            &format!("/api/uploads/{id}/parts?first={first}&count={count}"),
            None,
        )
        .await
    }

    /// `GET /api/uploads/{id}/parts?first=n&count=1&length=len`: the URL of a part whose length
    /// only the message decides, signing the length it has.
    pub async fn part_url_sized(
        &self,
        id: &str,
        n: u32,
        len: usize,
    ) -> Result<Vec<cipherdrop_api::PartUrl>> {
        let (_, v) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/uploads/{id}/parts?first={n}&count=1&length={len}"),
                None,
            )
            .await?;
        Ok(serde_json::from_value(v["parts"].clone())?)
    }

    /// Part `n`'s URL when none is kept in `urls`, asked for as the page and the CLI ask: a
    /// batch from `n` on (kept in `urls`), or for a part whose length only the message decides
    /// (the end of a 0x0578 message), a URL that signs its length `len`.
    async fn part_url_for(
        &self,
        id: &str,
        layout: &PartLayout,
        urls: &mut UrlCache,
        n: u32,
        len: usize,
    ) -> Result<String> {
        if layout.certain_len(n).is_some() {
            let (first, count) = UrlCache::batch_for(n, layout.count());
            let batch = self.part_batch(id, first, count).await?;
            urls.insert(batch.parts, batch.urls_expire_at, unix_now());
            if let Some(url) = urls.take(n, unix_now()) {
                return Ok(url);
            }
        }
        let sized = self.part_url_sized(id, n, len).await?;
        sized
            .into_iter()
            .next()
            .map(|p| p.url)
            .ok_or_else(|| anyhow!("no URL for part {n}"))
    }

    /// `PUT` a part to its presigned URL; returns its ETag.
    pub async fn put_part(&self, url: &str, bytes: Vec<u8>) -> Result<String> {
        let resp = self.http.put(url).body(bytes).send().await?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(ApiFailure {
                status: status.as_u16(),
                body: None,
                s3: Some(text),
            }
            .into());
        }
        resp.headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no ETag on the part's answer"))
    }

    /// Encrypts `plaintext` for a new upload and puts every part; returns the upload and the
    /// completed parts, ready for [`Client::complete`]. Parts are cut by core's `PartLayout` and
    /// their URLs kept and asked for by `cipherdrop_api::transfer`'s `UrlCache`, as the page and
    /// the CLI do; each part is sent once, with no retry, so a test sees the first refusal.
    /// (The retry policy is the page's and the CLI's, and tested there.)
    pub async fn upload_parts(
        &self,
        plaintext: &[u8],
        suite: u16,
        frame_length: u32,
    ) -> Result<(CreateUploadResponse, Vec<CompletedPart>)> {
        let mut rng = rand::rng();
        let signing = (suite == cipherdrop_api::SUITE_COMMIT_KEY_ECDSA_P384)
            .then(|| SigningKey::generate(&mut rng));
        let up = self
            .create_upload(&CreateUploadRequest {
                plaintext_size: plaintext.len() as u64,
                suite,
                frame_length,
                public_key: signing.as_ref().map(SigningKey::public_key_base64),
            })
            .await?;
        let ciphertext = encrypt_for(&up, signing, frame_length, plaintext)?;
        let layout = layout_of(&up, suite)?;
        let mut urls = UrlCache::new();
        urls.insert(up.parts.clone(), up.urls_expire_at, unix_now());
        let mut parts = Vec::new();
        for (n, chunk) in cut(&layout, &ciphertext)? {
            let url = match urls.take(n, unix_now()) {
                Some(url) => url,
                None => {
                    self.part_url_for(&up.upload_id, &layout, &mut urls, n, chunk.len())
                        .await?
                }
            };
            let etag = self.put_part(&url, chunk.to_vec()).await?;
            parts.push(CompletedPart {
                part_number: n,
                etag,
            });
        }
        Ok((up, parts))
    }

    /// Uploads `plaintext` end to end; returns the object id.
    pub async fn upload(&self, plaintext: &[u8], suite: u16, frame_length: u32) -> Result<String> {
        let (up, parts) = self.upload_parts(plaintext, suite, frame_length).await?;
        self.complete(&up.upload_id, &parts, b"encrypted-name-and-type")
            .await?;
        Ok(up.object_id)
    }

    /// Fetches the ciphertext through the presigned GET.
    pub async fn download_ciphertext(&self, id: &str) -> Result<Vec<u8>> {
        let details = self.details(id).await?;
        let resp = self.http.get(&details.download_url).send().await?;
        if !resp.status().is_success() {
            bail!("presigned GET answered {}", resp.status());
        }
        Ok(resp.bytes().await?.to_vec())
    }

    /// Downloads and decrypts an object with its released data key.
    pub async fn download(&self, id: &str) -> Result<Vec<u8>> {
        let ciphertext = self.download_ciphertext(id).await?;
        let key = self.key(id).await?;
        let data_key = DataKey::from_bytes(&B64.decode(&key.data_key)?)?;
        let mut dec = Decryptor::<_>::new(data_key, DecryptLimits::default());
        let mut out = Vec::new();
        dec.push(&ciphertext, &mut out)?;
        dec.finish()?;
        Ok(out)
    }
}

/// The part layout an upload of `suite` announced: core's arithmetic, as the server, the page
/// and the CLI use it.
pub fn layout_of(up: &CreateUploadResponse, suite: u16) -> Result<PartLayout> {
    let suite = Suite::from_id(AlgorithmSuiteId(suite))?;
    PartLayout::announced(suite, up.ciphertext_size, up.part_size).ok_or_else(|| {
        anyhow!(
            "the upload announced parts that cannot be: {}-byte parts of a {}-byte message",
            up.part_size,
            up.ciphertext_size
        )
    })
}

/// `message` cut into the parts `layout` numbers, in order (a signed message may end short of
/// the length it declared). An error for a message longer than declared.
pub fn cut<'a>(layout: &PartLayout, message: &'a [u8]) -> Result<Vec<(u32, &'a [u8])>> {
    let len = message.len() as u64;
    (1..=layout.parts_for(len))
        .map(|n| {
            let range = layout
                .range(n)
                .context("the message is longer than the upload declared")?;
            let (start, end) = (
                usize::try_from(range.start)?,
                usize::try_from(range.end.min(len))?,
            );
            Ok((n, message.get(start..end).context("a part past the end")?))
        })
        .collect()
}

/// The current Unix time in seconds (what `urls_expire_at` is in).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
