//! A `cipherdrop serve` process and an API client that plays the browser's part: core encrypts,
//! parts go to the presigned URLs, the object comes back through a presigned GET and is
//! decrypted with the released data key.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::transfer::UrlCache;
use cipherdrop_api::{
    CompleteUploadRequest, CompletedPart, CreateUploadRequest, CreateUploadResponse, ErrorBody,
    KeyResponse, ObjectDetails, ObjectSummary, ShareCreated, ShareKeyResponse,
};
use cipherdrop_core::{
    AlgorithmSuiteId, DataKey, DecryptLimits, Decryptor, EncryptedDataKey, EncryptionContext,
    EncryptionMaterials, Encryptor, LinkKey, LinkSecret, PartLayout, SigningKey, Suite,
    open_from_link, seal_for_link,
};
use zeroize::Zeroizing;

/// A running `cipherdrop serve` (killed on drop).
pub struct ServerProcess {
    child: Child,
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    /// The app's URL.
    pub url: String,
    /// The embedded S3's URL, if embedded.
    pub s3_url: Option<String>,
    /// The embedded KMS's URL, if embedded.
    pub kms_url: Option<String>,
    /// The KMS key ARN (or id) in use.
    pub key: String,
    /// The first-start admin login token, if this start made the admin.
    pub admin_token: Option<String>,
    /// The data folder.
    pub data_dir: PathBuf,
    /// Where the server's log (stderr) goes.
    pub log_path: PathBuf,
}

impl ServerProcess {
    /// Starts `bin serve` on free loopback ports with `data_dir`, plus `extra` arguments, and no
    /// web bundle (`--web-dir` points at a folder that does not exist).
    pub fn start(
        bin: &Path,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        Self::start_with_web(bin, data_dir, &data_dir.join("no-web-bundle"), extra, env)
    }

    /// [`ServerProcess::start`] serving the web bundle in `web_dir` (e.g. trunk's `dist`).
    pub fn start_with_web(
        bin: &Path,
        data_dir: &Path,
        web_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        Self::spawn(
            bin,
            data_dir,
            web_dir,
            ("127.0.0.1:0", "127.0.0.1:0"),
            extra,
            env,
        )
    }

    /// [`ServerProcess::start`] on given ports (the app's, the embedded S3's), to start it again
    /// where clients and presigned URLs expect it after a kill; with the web bundle in
    /// `web_dir`, if given.
    pub fn start_at(
        bin: &Path,
        data_dir: &Path,
        web_dir: Option<&Path>,
        ports: (u16, u16),
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let (app, s3) = (
            format!("127.0.0.1:{}", ports.0),
            format!("127.0.0.1:{}", ports.1),
        );
        let none = data_dir.join("no-web-bundle");
        let web_dir = web_dir.unwrap_or(&none);
        Self::spawn(bin, data_dir, web_dir, (&app, &s3), extra, env)
    }

    fn spawn(
        bin: &Path,
        data_dir: &Path,
        web_dir: &Path,
        listen: (&str, &str),
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let log_path = data_dir.join(format!("server-{}.log", rand::random::<u32>()));
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", listen.0, "--s3-listen", listen.1])
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--web-dir")
            .arg(web_dir)
            .args(extra)
            .env("RUST_LOG", "debug,hyper=info,h2=info,aws_smithy_runtime=info,aws_sdk_s3=info,aws_sdk_kms=info,sqlx=info,s3s=info")
            .stdout(Stdio::piped())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().context("spawning cipherdrop serve")?;
        let mut stdout = std::io::BufReader::new(child.stdout.take().context("stdout")?);
        let mut next_line = || -> Result<String> {
            let mut line = String::new();
            if stdout.read_line(&mut line)? == 0 {
                bail!(
                    "cipherdrop serve exited early:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            Ok(line.trim().to_owned())
        };
        let url = next_line()?
            .strip_prefix("cipherdrop listening on ")
            .ok_or_else(|| anyhow!("unexpected first line"))?
            .to_owned();
        let mut s3_url = None;
        let mut kms_url = None;
        let mut key = String::new();
        let mut admin_token = None;
        loop {
            let line = next_line()?;
            if let Some(rest) = line.strip_prefix("embedded S3 at ") {
                s3_url = rest.split_whitespace().next().map(str::to_owned);
            } else if let Some(rest) = line.strip_prefix("KMS key ") {
                key = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                kms_url = rest
                    .split("embedded KMS at ")
                    .nth(1)
                    .map(|s| s.trim_end_matches(')').to_owned());
            } else if line.starts_with("first start") {
                let link = next_line()?;
                admin_token = link.split("#login=").nth(1).map(str::to_owned);
                break;
            } else if line.starts_with("log in with") {
                break;
            }
        }
        Ok(Self {
            child,
            _stdout: stdout,
            url,
            s3_url,
            kms_url,
            key,
            admin_token,
            data_dir: data_dir.to_owned(),
            log_path,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no graceful anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait (graceful shutdown); returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A client for this server.
    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An API answer that was not a success.
#[derive(Debug)]
pub struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// The error body, when it had one.
    pub body: Option<ErrorBody>,
    /// S3's own answer, when S3 refused (a presigned request).
    pub s3: Option<String>,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {:?}", self.status, self.body)
    }
}
impl std::error::Error for ApiFailure {}

/// The status of a failed call (panics if the error is something else).
pub fn status_of(e: &anyhow::Error) -> u16 {
    e.downcast_ref::<ApiFailure>()
        .map(|f| f.status)
        .unwrap_or_else(|| panic!("not an API failure: {e:#}"))
}

/// The error code of a failed call, as the wire spells it (`s3` when S3 itself refused).
pub fn code_of(e: &anyhow::Error) -> String {
    let failure = e.downcast_ref::<ApiFailure>();
    if failure.is_some_and(|f| f.s3.is_some()) {
        return "s3".to_owned();
    }
    failure
        .and_then(|f| f.body.as_ref())
        .map(|b| b.error.as_str().to_owned())
        .unwrap_or_default()
}

/// The message of a failed call's error body (empty if it had none): the server's own words,
/// unlike the error's `Debug`, which may carry a backtrace.
pub fn message_of(e: &anyhow::Error) -> String {
    e.downcast_ref::<ApiFailure>()
        .and_then(|f| f.body.as_ref().map(|b| b.message.clone()).or(f.s3.clone()))
        .unwrap_or_default()
}

/// A share link as its owner's page made it: the server's answer and the link's secret.
pub struct Link {
    /// The server's answer (settings and token).
    pub created: ShareCreated,
    /// The token and the link key, as the fragment carries them.
    pub secret: LinkSecret,
}

impl Link {
    /// The token (what the recipient's page sends the server).
    pub fn token(&self) -> &str {
        &self.created.token
    }

    /// The link's id.
    pub fn id(&self) -> &str {
        &self.created.share.id
    }

    /// The whole link, as the owner's page shows it.
    pub fn url(&self, base: &str) -> String {
        format!("{base}/s/#{}", self.secret.fragment().as_str())
    }

    /// What the recipient's page does with a release: opens the sealed key with the link key.
    pub fn open(&self, release: &ShareKeyResponse) -> Result<DataKey> {
        let sealed = B64.decode(&release.sealed_key)?;
        Ok(open_from_link(&sealed, &self.secret.key, &release.id)?)
    }

    /// The name of one file of a link to several files, opened with the link key.
    pub fn item_name(&self, item: &cipherdrop_api::ShareItemInfo) -> Result<String> {
        let meta = cipherdrop_core::metadata::open(
            &item.metadata,
            self.secret.key.as_bytes(),
            &item.object_id,
        )
        .map_err(|e| anyhow!("{e}"))?;
        Ok(meta.name)
    }

    /// Downloads one file of a release of a link to several files and decrypts it.
    pub async fn fetch_item(
        &self,
        release: &ShareKeyResponse,
        item: &cipherdrop_api::ShareItemKey,
    ) -> Result<Vec<u8>> {
        let ciphertext = reqwest::get(&item.download_url)
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let key = open_from_link(
            &B64.decode(&item.sealed_key)?,
            &self.secret.key,
            &release.id,
        )?;
        let (plaintext, _) = cipherdrop_core::decrypt(key, &ciphertext, DecryptLimits::default())?;
        Ok(plaintext)
    }

    /// Downloads a release's ciphertext and decrypts it with the opened key.
    pub async fn fetch(&self, release: &ShareKeyResponse) -> Result<Vec<u8>> {
        let ciphertext = reqwest::get(&release.download_url)
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let (plaintext, _) =
            cipherdrop_core::decrypt(self.open(release)?, &ciphertext, DecryptLimits::default())?;
        Ok(plaintext)
    }
}

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

/// Encrypts with the materials an upload handed out (what the browser does).
pub fn encrypt_for(
    up: &CreateUploadResponse,
    signing: Option<SigningKey>,
    frame_length: u32,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let suite = if signing.is_some() {
        Suite::CommitKeyEcdsaP384
    } else {
        Suite::CommitKey
    };
    let context: EncryptionContext = up
        .encryption_context
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let data_key = DataKey::from_bytes(&B64.decode(&up.data_key)?)?;
    let edk = EncryptedDataKey::aws_kms(&up.key_arn, B64.decode(&up.edk)?)?;
    let materials = EncryptionMaterials::new(suite, context, data_key, vec![edk], signing)?;
    let mut rng = rand::rng();
    let mut enc =
        Encryptor::<cipherdrop_core::AesGcmCipher>::new(materials, frame_length, &mut rng)?;
    let mut out = Vec::with_capacity(usize::try_from(up.ciphertext_size)?);
    enc.push(plaintext, &mut out)?;
    enc.finish(&mut out)?;
    Ok(out)
}

/// Runs `tests/py/kms_interop.py` with the standard AWS environment variables pointing at
/// `endpoint` (KMS and S3) and `creds`; returns stdout.
pub fn python_aws(
    endpoint_kms: &str,
    endpoint_s3: Option<&str>,
    creds: (&str, &str),
    args: &[&str],
) -> Result<String> {
    let mut cmd = Command::new(crate::python());
    cmd.arg(crate::repo_root().join("tests/py/kms_interop.py"))
        .args(args)
        .env("AWS_ENDPOINT_URL_KMS", endpoint_kms)
        .env("AWS_ACCESS_KEY_ID", creds.0)
        .env("AWS_SECRET_ACCESS_KEY", creds.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    if let Some(s3) = endpoint_s3 {
        cmd.env("AWS_ENDPOINT_URL_S3", s3);
    }
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("python {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Decrypts `ciphertext` with the official Python ESDK (strict AWS KMS provider for `key_arn`).
pub fn esdk_decrypt(
    kms_url: &str,
    creds: (&str, &str),
    key_arn: &str,
    ciphertext: &[u8],
    dir: &Path,
) -> Result<Vec<u8>> {
    let src = dir.join(format!("ct-{}.bin", rand::random::<u32>()));
    let dst = src.with_extension("out");
    std::fs::write(&src, ciphertext)?;
    python_aws(
        kms_url,
        None,
        creds,
        &["decrypt", key_arn, path_str(&src)?, path_str(&dst)?],
    )?;
    Ok(std::fs::read(&dst)?)
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))
}

/// The SigV4 credentials a `cipherdrop` service stored in `dir/credentials.json`.
pub fn stored_credentials(dir: &Path) -> Result<(String, String)> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("credentials.json"))?)?;
    let field = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no {k}"))
    };
    Ok((field("access_key_id")?, field("secret_access_key")?))
}

/// Runs one SQL statement on the server's database with Python's sqlite3 (an outside tool, as
/// an attacker with file access would); returns the rows as JSON.
pub fn sqlite(data_dir: &Path, sql: &str) -> Result<serde_json::Value> {
    let script = "import json, sqlite3, sys\n\
        db = sqlite3.connect(sys.argv[1])\n\
        rows = db.executescript(sys.argv[2]) if ';' in sys.argv[2] else db.execute(sys.argv[2])\n\
        out = [list(r) for r in rows] if not ';' in sys.argv[2] else []\n\
        db.commit()\n\
        print(json.dumps(out))";
    let out = Command::new(crate::python())
        .args(["-c", script])
        .arg(data_dir.join("cipherdrop.db"))
        .arg(sql)
        .output()?;
    if !out.status.success() {
        bail!("sqlite: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// `cipherdrop user add NAME --password-stdin`.
pub fn add_user(
    bin: &Path,
    data_dir: &Path,
    name: &str,
    password: &str,
    admin: bool,
) -> Result<()> {
    let mut cmd = Command::new(bin);
    cmd.args(["user", "add", name, "--password-stdin", "--data-dir"])
        .arg(data_dir);
    if admin {
        cmd.arg("--admin");
    }
    run_with_password(cmd, password)
}

/// Runs `cmd` (a `user add … --password-stdin`) with `password` on its standard input; fails
/// with its standard error.
pub fn run_with_password(mut cmd: Command, password: &str) -> Result<()> {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(format!("{password}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("user add: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// `cipherdrop audit verify`: (intact, printed report).
pub fn audit_verify(bin: &Path, data_dir: &Path) -> Result<(bool, String)> {
    let out = Command::new(bin)
        .args(["audit", "verify", "--data-dir"])
        .arg(data_dir)
        .output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// The environment that makes `cipherdrop serve` use exactly these AWS credentials (the default
/// chain, with no config files and no instance metadata to fall back on).
pub fn aws_env<'a>(
    access_key_id: &'a str,
    secret_access_key: &'a str,
) -> [(&'static str, &'a str); 5] {
    [
        ("AWS_ACCESS_KEY_ID", access_key_id),
        ("AWS_SECRET_ACCESS_KEY", secret_access_key),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
}

/// `bin kms serve` on `127.0.0.1:port` with `dir` (killed on drop).
pub fn kms_service(bin: &Path, dir: &Path, port: u16) -> Result<Service> {
    let mut cmd = Command::new(bin);
    cmd.args([
        "kms",
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
    ])
    .arg(dir);
    Service::start(cmd)
}

/// A free loopback port (bound, then released).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A long-running helper process (killed on drop) that printed its URL on its first stdout line.
pub struct Service {
    child: Child,
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    /// Its URL.
    pub url: String,
}

impl Service {
    /// Spawns `cmd` and waits for a first line ending in an `http://` URL.
    pub fn start(mut cmd: Command) -> Result<Self> {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
        let mut stdout = std::io::BufReader::new(child.stdout.take().context("stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .ok_or_else(|| anyhow!("no URL in {line:?}"))?
            .to_owned();
        Ok(Self {
            child,
            _stdout: stdout,
            url,
        })
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// moto's server on a free loopback port, waited for until it answers.
pub fn start_moto() -> Result<(Child, String)> {
    let port = free_port()?;
    let child = Command::new(crate::python())
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok((child, url));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bail!("moto did not start")
}

/// The password the test accounts get.
pub const PASSWORD: &str = "correct horse battery";

/// On a fresh server: the admin (first-start link, then a password) and users alice and bob,
/// each logged in with its own client.
pub async fn setup_accounts(
    server: &ServerProcess,
    bin: &Path,
) -> Result<(Client, Client, Client)> {
    let admin = server.client();
    admin
        .login_link(
            server
                .admin_token
                .as_deref()
                .context("no first-start link")?,
        )
        .await?;
    let (_, me) = admin.call(reqwest::Method::GET, "/api/me", None).await?;
    if me["username"] != "admin" || me["is_admin"] != true || me["must_set_password"] != true {
        bail!("unexpected first-start account: {me}");
    }
    admin.set_password(None, PASSWORD).await?;
    let mut users = Vec::new();
    for name in ["alice", "bob"] {
        add_user(bin, &server.data_dir, name, PASSWORD, false)?;
        let c = server.client();
        c.login(name, PASSWORD).await?;
        users.push(c);
    }
    let bob = users.pop().context("bob")?;
    let alice = users.pop().context("alice")?;
    Ok((admin, alice, bob))
}
