//! `cipherdrop` as a client of a Cipherdrop server, for scripts: `login`, `ls`, `put`, `get`,
//! `rm`, `share` with an API token, and `fetch` of a share link with no account.
//!
//! It stores exactly what the page stores: the same ESDK messages (core, with the AWS-LC cipher),
//! names sealed under each file's data key (`cipherdrop_core::metadata`), links in the two-of-two
//! form (`/s/#t=…&k=…`). Files are encrypted and decrypted here; only ciphertext crosses the
//! network, straight to and from S3 through presigned URLs. Output appears only when the whole
//! message verified (a temporary file renamed at the end).
//!
//! Exit codes (also in `cipherdrop help`): 0 ok, 1 other errors, 3 authentication or permission
//! (token missing, expired, revoked, wrong scope), 4 not found (no such file, link gone), 5
//! integrity (the ciphertext failed verification), 6 network or service unavailable, 130
//! interrupted. `put` and its resumption are in `upload.rs`.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    CreateShareRequest, ErrorBody, KeyResponse, Me, MetadataKeyRequest, MetadataKeyResponse,
    ObjectDetails, ObjectList, ObjectSummary, ShareCreated, ShareInfo, ShareKeyResponse,
    ShareTokenRequest,
};
use cipherdrop_core::metadata::{self, FileMeta, SealedUnder};
use cipherdrop_core::{
    DataKey, DecryptLimits, Decryptor, LinkKey, LinkSecret, open_from_link, seal_for_link,
};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cipher::AwsLcCipher;
use crate::crypt::Output;

/// Exit code: authentication or permission.
pub const EXIT_AUTH: u8 = 3;
/// Exit code: not found or gone.
pub const EXIT_NOT_FOUND: u8 = 4;
/// Exit code: the ciphertext failed verification.
pub const EXIT_INTEGRITY: u8 = 5;
/// Exit code: network or service unavailable.
pub const EXIT_UNAVAILABLE: u8 = 6;

/// A failure with the exit code a script can rely on.
#[derive(Debug)]
pub struct Failure {
    /// The process's exit code.
    pub code: u8,
    /// What happened, in words.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub(crate) fn fail(code: u8, message: impl Into<String>) -> anyhow::Error {
    Failure {
        code,
        message: message.into(),
    }
    .into()
}

/// Where the server and the token come from: `CIPHERDROP_URL` and `CIPHERDROP_TOKEN`, or the
/// file `cipherdrop login` wrote.
#[derive(Serialize, Deserialize)]
struct Credentials {
    url: String,
    token: String,
}

impl Drop for Credentials {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.token);
    }
}

fn config_path() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .context("no HOME or XDG_CONFIG_HOME to keep the login in")?;
    Ok(base.join("cipherdrop").join("credentials.json"))
}

/// A version of the account's metadata key and the key.
type MetadataKey = (u32, Zeroizing<[u8; 32]>);

/// The server's API, as an account's token (or no one, for share links) calls it.
pub struct Remote {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    token: Option<Zeroizing<String>>,
    /// Versions of the account's metadata key released so far (each one KMS call, once).
    metadata_keys: std::sync::Mutex<HashMap<Option<u32>, MetadataKey>>,
}

impl Remote {
    /// A client of `base` (no token).
    pub fn anonymous(base: &str) -> Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(600))
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
            token: None,
            metadata_keys: std::sync::Mutex::default(),
        })
    }

    /// The logged-in client: the environment's URL and token, else the stored login.
    pub fn logged_in() -> Result<Self> {
        let (url, token) = match (
            std::env::var("CIPHERDROP_URL"),
            std::env::var("CIPHERDROP_TOKEN"),
        ) {
            (Ok(u), Ok(t)) => (u, Zeroizing::new(t)),
            _ => {
                let path = config_path()?;
                let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|_| {
                    fail(
                        EXIT_AUTH,
                        "not logged in: run `cipherdrop login URL` (or set CIPHERDROP_URL and \
                         CIPHERDROP_TOKEN)",
                    )
                })?);
                let c: Credentials = serde_json::from_str(&text)
                    .with_context(|| format!("reading {}", path.display()))?;
                (c.url.clone(), Zeroizing::new(c.token.clone()))
            }
        };
        let mut r = Self::anonymous(&url)?;
        r.token = Some(token);
        Ok(r)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => req.bearer_auth(t.as_str()),
            None => req,
        }
    }

    /// Sends a request; the JSON answer, or a [`Failure`] in words.
    pub(crate) async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T> {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| unreachable(&self.base, &e))?;
        let status = resp.status();
        if status.is_success() {
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| unreachable(&self.base, &e))?;
            let text = if bytes.is_empty() {
                &b"null"[..]
            } else {
                &bytes[..]
            };
            return serde_json::from_slice(text)
                .map_err(|e| anyhow!("unexpected answer from the server: {e}"));
        }
        let body: Option<ErrorBody> = resp.json().await.ok();
        let message = body.map_or_else(|| format!("the server answered {status}"), |b| b.message);
        Err(fail(
            match status.as_u16() {
                401 | 403 => EXIT_AUTH,
                404 | 410 => EXIT_NOT_FOUND,
                429 | 500..=599 => EXIT_UNAVAILABLE,
                _ => 1,
            },
            message,
        ))
    }

    /// The account's files.
    async fn list(&self) -> Result<Vec<ObjectSummary>> {
        Ok(self
            .call::<ObjectList>(reqwest::Method::GET, "/api/objects", None::<&()>)
            .await?
            .objects)
    }

    /// A file's data key (one audited KMS release).
    async fn key(&self, id: &str) -> Result<DataKey> {
        let mut k: KeyResponse = self
            .call(
                reqwest::Method::POST,
                &format!("/api/objects/{id}/key"),
                None::<&()>,
            )
            .await?;
        decode_key(&mut k.data_key)
    }

    /// Version `version` of the account's metadata key (`None`: the newest), released once.
    async fn metadata_key(&self, version: Option<u32>) -> Result<MetadataKey> {
        let lock = || {
            self.metadata_keys
                .lock()
                .map_err(|_| anyhow!("metadata key cache poisoned"))
        };
        if let Some(found) = lock()?.get(&version) {
            return Ok(found.clone());
        }
        let mut k: MetadataKeyResponse = self
            .call(
                reqwest::Method::POST,
                "/api/metadata-key",
                Some(&MetadataKeyRequest { version }),
            )
            .await?;
        let raw = Zeroizing::new(
            B64.decode(k.key.take().as_bytes())
                .map_err(|_| anyhow!("the server sent a metadata key that is not base64"))?,
        );
        let key = Zeroizing::new(
            <[u8; 32]>::try_from(&raw[..])
                .map_err(|_| anyhow!("the server sent a metadata key of the wrong length"))?,
        );
        let mut cache = lock()?;
        cache.insert(Some(k.version), (k.version, key.clone()));
        if k.version == k.current {
            cache.insert(None, (k.version, key.clone()));
        }
        Ok((k.version, key))
    }

    /// Seals a new file's name for its owner: under the account's metadata key, or, for a token
    /// that may not read it (write scope only), under the file's own data key as before
    /// metadata keys (the owner's page moves it to the account key on its next visit).
    pub(crate) async fn seal_for_owner(
        &self,
        meta: &FileMeta,
        object_id: &str,
        data_key: &DataKey,
    ) -> Result<String> {
        let mut rng = rand::rng();
        match self.metadata_key(None).await {
            Ok((version, key)) => Ok(metadata::seal_for_account(
                meta, &key, version, object_id, &mut rng,
            )),
            Err(e)
                if e.downcast_ref::<Failure>()
                    .is_some_and(|f| f.code == EXIT_AUTH) =>
            {
                Ok(metadata::seal(
                    meta,
                    data_key.as_bytes(),
                    object_id,
                    &mut rng,
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// A file's name and type, decrypted here: with the account's metadata key (one release for
    /// every file), or, for an old-form name, the file's data key. A name that does not decrypt
    /// is shown as such, so one damaged record does not hide the others.
    async fn meta(&self, o: &ObjectSummary) -> Result<FileMeta> {
        let opened = match metadata::sealed_under(&o.metadata) {
            Ok(SealedUnder::AccountKey(version)) => {
                let (_, key) = self.metadata_key(Some(version)).await?;
                metadata::open_for_account(&o.metadata, &key, version, &o.id)
            }
            Ok(SealedUnder::FileKey) => {
                let key = self.key(&o.id).await?;
                metadata::open(&o.metadata, key.as_bytes(), &o.id)
            }
            Err(e) => Err(e),
        };
        Ok(opened.unwrap_or_else(|e| FileMeta {
            name: format!("({e})"),
            media_type: String::new(),
            sender: None,
        }))
    }

    /// The file a script names: by id, or by its (decrypted) name when exactly one has it.
    async fn resolve(&self, target: &str) -> Result<(ObjectSummary, FileMeta)> {
        let all = self.list().await?;
        if let Some(o) = all.iter().find(|o| o.id == target) {
            let meta = self.meta(o).await?;
            return Ok((o.clone(), meta));
        }
        let mut found = Vec::new();
        for o in &all {
            let meta = self.meta(o).await?;
            if meta.name == target {
                found.push((o.clone(), meta));
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(fail(
                EXIT_NOT_FOUND,
                format!("no file with id or name {target:?}"),
            )),
            n => Err(fail(
                1,
                format!("{n} files are named {target:?}: give the id (see `cipherdrop ls`)"),
            )),
        }
    }
}

/// Moves a data key out of an answer and decodes it (the text and bytes are zeroized).
pub(crate) fn decode_key(b64: &mut cipherdrop_api::SecretB64) -> Result<DataKey> {
    let b64 = b64.take();
    let raw = Zeroizing::new(B64.decode(b64.as_bytes())?);
    Ok(DataKey::from_bytes(&raw)?)
}

/// An error and every error under it, in one line.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn unreachable(base: &str, e: &reqwest::Error) -> anyhow::Error {
    fail(
        EXIT_UNAVAILABLE,
        format!("cannot reach {base}: {}", chain(e)),
    )
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Reads one line of standard input (a token, a passphrase), prompting on a terminal.
fn read_secret_line(prompt: &str) -> Result<Zeroizing<String>> {
    if std::io::stdin().is_terminal() {
        eprint!("{prompt}");
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().read_line(&mut line)?;
    let s = Zeroizing::new(line.trim().to_owned());
    if s.is_empty() {
        bail!("nothing on standard input");
    }
    Ok(s)
}

/// `cipherdrop login URL`: reads an API token (made in the page's Settings) from standard input,
/// checks it, and stores both in the config folder (mode 0600).
pub fn login(url: &str) -> Result<()> {
    let token = read_secret_line("API token (from the page's Settings): ")?;
    let mut remote = Remote::anonymous(url)?;
    remote.token = Some(token.clone());
    let me: Me = runtime()?.block_on(remote.call(reqwest::Method::GET, "/api/me", None::<&()>))?;
    let path = config_path()?;
    let dir = path.parent().context("config folder")?;
    std::fs::create_dir_all(dir)?;
    let creds = Credentials {
        url: remote.base.clone(),
        token: token.to_string(),
    };
    let text = Zeroizing::new(serde_json::to_string(&creds)?);
    write_private(&path, text.as_bytes())?;
    println!("logged in to {} as {}", remote.base, me.username);
    Ok(())
}

/// Writes `bytes` to `path`, readable by its owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    Ok(())
}

/// One line of `ls --json`.
#[derive(Serialize)]
struct Listed {
    id: String,
    name: String,
    media_type: String,
    size: u64,
    stored_size: u64,
    created_at: i64,
    suite: String,
}

/// `cipherdrop ls`: every file with its decrypted name.
pub fn ls(json: bool) -> Result<()> {
    let remote = Remote::logged_in()?;
    runtime()?.block_on(async {
        let mut out = Vec::new();
        for o in remote.list().await? {
            let meta = remote.meta(&o).await?;
            out.push(Listed {
                id: o.id.clone(),
                name: meta.name,
                media_type: meta.media_type,
                size: o.plaintext_size,
                stored_size: o.size,
                created_at: o.created_at,
                suite: format!("0x{:04X}", o.suite),
            });
        }
        if json {
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            for l in out {
                println!("{}  {:>14}  {}  {}", l.id, l.size, l.created_at, l.name);
            }
        }
        Ok(())
    })
}

/// Streams the ciphertext at `url` through the decryptor into `output`; the output appears only
/// if the whole message verified.
async fn download_to(
    http: &reqwest::Client,
    url: &str,
    key: DataKey,
    output: &Path,
) -> Result<u64> {
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| fail(EXIT_UNAVAILABLE, format!("S3: {e}")))?;
    if !resp.status().is_success() {
        return Err(fail(
            if resp.status().as_u16() == 403 {
                EXIT_NOT_FOUND
            } else {
                EXIT_UNAVAILABLE
            },
            format!("S3 refused the download: {}", resp.status()),
        ));
    }
    let mut dec = Decryptor::<_, AwsLcCipher>::new(key, DecryptLimits::default());
    let mut out = Output::create(output)?;
    let mut plain = Zeroizing::new(Vec::new());
    let mut total = 0u64;
    let mut stream = resp.bytes_stream();
    let integrity = |e: cipherdrop_core::Error| {
        fail(
            EXIT_INTEGRITY,
            format!("integrity check failed, nothing was written: {e}"),
        )
    };
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| fail(EXIT_UNAVAILABLE, format!("download interrupted: {e}")))?;
        dec.push(&chunk, &mut plain).map_err(integrity)?;
        total += plain.len() as u64;
        out.write(&plain)?;
        plain.clear();
    }
    dec.finish().map_err(integrity)?;
    out.commit()?;
    Ok(total)
}

/// Where a download goes: `output`, or the file's own name (never over an existing file).
fn destination(output: Option<&Path>, name: &str) -> Result<PathBuf> {
    if let Some(o) = output {
        return Ok(o.to_owned());
    }
    let base = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "download.bin".to_owned());
    let path = PathBuf::from(base);
    if path.exists() {
        bail!(
            "{} exists: give -o PATH (or -o - for standard output)",
            path.display()
        );
    }
    Ok(path)
}

/// `cipherdrop get ID|NAME [-o PATH]`.
pub fn get(target: &str, output: Option<&Path>) -> Result<()> {
    let remote = Remote::logged_in()?;
    runtime()?.block_on(async {
        let (o, meta) = remote.resolve(target).await?;
        let key = remote.key(&o.id).await?;
        let details: ObjectDetails = remote
            .call(
                reqwest::Method::GET,
                &format!("/api/objects/{}", o.id),
                None::<&()>,
            )
            .await?;
        let to = destination(output, &meta.name)?;
        download_to(&remote.http, &details.download_url, key, &to).await?;
        if to != Path::new("-") {
            eprintln!("{} → {} (verified)", meta.name, to.display());
        }
        Ok(())
    })
}

/// `cipherdrop rm ID|NAME`.
pub fn rm(target: &str) -> Result<()> {
    let remote = Remote::logged_in()?;
    runtime()?.block_on(async {
        let (o, meta) = remote.resolve(target).await?;
        let _: serde_json::Value = remote
            .call(
                reqwest::Method::DELETE,
                &format!("/api/objects/{}", o.id),
                None::<&()>,
            )
            .await?;
        eprintln!("deleted {} ({})", meta.name, o.id);
        Ok(())
    })
}

/// Options of `share`.
pub struct ShareOptions {
    /// Lifetime in seconds.
    pub expires_in_secs: i64,
    /// Download limit.
    pub limit: Option<u32>,
    /// Read a passphrase from standard input.
    pub passphrase_stdin: bool,
    /// A note for the recipient.
    pub note: Option<String>,
}

/// `cipherdrop share ID|NAME`: makes a link as the page does (the data key sealed under a fresh
/// link key); prints it.
pub fn share(target: &str, opts: ShareOptions) -> Result<()> {
    let remote = Remote::logged_in()?;
    let passphrase = if opts.passphrase_stdin {
        Some(read_secret_line("passphrase for the link: ")?)
    } else {
        None
    };
    runtime()?.block_on(async {
        let (o, meta) = remote.resolve(target).await?;
        let key = remote.key(&o.id).await?;
        let mut rng = rand::rng();
        let link_key = LinkKey::generate(&mut rng);
        let id = uuid::Uuid::new_v4().to_string();
        let sealed = seal_for_link(&key, &link_key, &id, &mut rng)?;
        let req = CreateShareRequest {
            items: Vec::new(),
            metadata: metadata::seal(&meta, link_key.as_bytes(), &id, &mut rng),
            id,
            sealed_key: B64.encode(sealed),
            expires_in_secs: Some(opts.expires_in_secs),
            max_downloads: opts.limit,
            passphrase: passphrase.as_ref().map(|p| p.to_string()),
            note: opts.note.clone(),
            delete_after_last: false,
        };
        let created: ShareCreated = remote
            .call(
                reqwest::Method::POST,
                &format!("/api/objects/{}/shares", o.id),
                Some(&req),
            )
            .await?;
        let secret = LinkSecret {
            token: Zeroizing::new(created.token.clone()),
            key: link_key,
        };
        println!("{}/s/#{}", remote.base, secret.fragment().as_str());
        Ok(())
    })
}

/// `cipherdrop fetch LINK [-o PATH]`: a share link, no account.
pub fn fetch(link: &str, output: Option<&Path>, passphrase_stdin: bool) -> Result<()> {
    let (base, fragment) = link
        .split_once("/s/#")
        .ok_or_else(|| anyhow!("not a share link (…/s/#t=…&k=…)"))?;
    let secret = LinkSecret::parse(fragment)
        .ok_or_else(|| anyhow!("the link is incomplete: check that it was copied whole"))?;
    let remote = Remote::anonymous(base)?;
    runtime()?.block_on(async {
        let ask = ShareTokenRequest {
            token: secret.token.to_string(),
            passphrase: None,
        };
        let info: ShareInfo = remote
            .call(reqwest::Method::POST, "/api/share", Some(&ask))
            .await?;
        let meta =
            metadata::open(&info.metadata, secret.key.as_bytes(), &info.id).unwrap_or(FileMeta {
                name: "shared-file.bin".into(),
                media_type: String::new(),
                sender: None,
            });
        let passphrase = match (info.needs_passphrase, passphrase_stdin) {
            (false, _) => None,
            (true, true) => Some(read_secret_line("passphrase: ")?),
            (true, false) => {
                return Err(fail(
                    EXIT_AUTH,
                    "this link needs a passphrase: give --passphrase-stdin",
                ));
            }
        };
        let to = destination(output, &meta.name)?;
        let release: ShareKeyResponse = remote
            .call(
                reqwest::Method::POST,
                "/api/share/key",
                Some(&ShareTokenRequest {
                    token: secret.token.to_string(),
                    passphrase: passphrase.as_ref().map(|p| p.to_string()),
                }),
            )
            .await?;
        let sealed = B64.decode(&release.sealed_key)?;
        let key = open_from_link(&sealed, &secret.key, &release.id).map_err(|_| {
            fail(
                EXIT_INTEGRITY,
                "the link's key does not open the file's key: check that the link was copied whole",
            )
        })?;
        download_to(&remote.http, &release.download_url, key, &to).await?;
        if to != Path::new("-") {
            eprintln!("{} → {} (verified)", meta.name, to.display());
        }
        Ok(())
    })
}

/// A lifetime: seconds, or a number with `m`, `h` or `d`.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, 'm')) => (t.get(..i), 60),
        Some((i, 'h')) => (t.get(..i), 3600),
        Some((i, 'd')) => (t.get(..i), 86_400),
        _ => (Some(t), 1),
    };
    digits
        .and_then(|d| d.parse::<i64>().ok())
        .and_then(|n| n.checked_mul(unit))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{s:?} is not a duration (for example 3600, 90m, 24h or 7d)"))
}
