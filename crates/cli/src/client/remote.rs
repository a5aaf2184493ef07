//! The server's API as the client commands call it: the login (`cipherdrop login` stores the
//! URL and token; `CIPHERDROP_URL` and `CIPHERDROP_TOKEN` override it), JSON calls whose
//! refusals become exit codes, and the account's keys: a file's data key, the metadata key that
//! seals names.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::transfer;
use cipherdrop_api::{
    ErrorBody, KeyResponse, Me, MetadataKeyRequest, MetadataKeyResponse, ObjectList, ObjectSummary,
};
use cipherdrop_core::DataKey;
use cipherdrop_core::metadata::{self, FileMeta, SealedUnder};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::exit::{EXIT_AUTH, EXIT_NOT_FOUND, EXIT_UNAVAILABLE, Failure, chain, fail};
use crate::process::client_runtime;

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
pub(super) struct Remote {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    token: Option<Zeroizing<String>>,
    /// Versions of the account's metadata key released so far (each one KMS call, once).
    metadata_keys: std::sync::Mutex<HashMap<Option<u32>, MetadataKey>>,
}

impl Remote {
    /// A client of `base` (no token).
    pub(super) fn anonymous(base: &str) -> Result<Self> {
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
    pub(super) fn logged_in() -> Result<Self> {
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

    /// Sends a request; the JSON answer, or a [`Failure`] in words that says what the request
    /// met.
    pub(super) async fn call<T: serde::de::DeserializeOwned>(
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
        let met = transfer::Failure::Status(status.as_u16());
        let code = match status.as_u16() {
            401 | 403 => EXIT_AUTH,
            404 | 410 => EXIT_NOT_FOUND,
            // Busy or failing (5xx, 429): what an upload is kept to resume from.
            _ if transfer::worth_resuming(met) => EXIT_UNAVAILABLE,
            _ => 1,
        };
        Err(Failure {
            code,
            message,
            met: Some(met),
        }
        .into())
    }

    /// The account's files.
    pub(super) async fn list(&self) -> Result<Vec<ObjectSummary>> {
        Ok(self
            .call::<ObjectList>(reqwest::Method::GET, "/api/objects", None::<&()>)
            .await?
            .objects)
    }

    /// A file's data key (one audited KMS release).
    pub(super) async fn key(&self, id: &str) -> Result<DataKey> {
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
    pub(super) async fn seal_for_owner(
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
    pub(super) async fn meta(&self, o: &ObjectSummary) -> Result<FileMeta> {
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
    pub(super) async fn resolve(&self, target: &str) -> Result<(ObjectSummary, FileMeta)> {
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
pub(super) fn decode_key(b64: &mut cipherdrop_api::SecretB64) -> Result<DataKey> {
    let b64 = b64.take();
    let raw = Zeroizing::new(B64.decode(b64.as_bytes())?);
    Ok(DataKey::from_bytes(&raw)?)
}

/// The server did not answer: exit 6.
fn unreachable(base: &str, e: &reqwest::Error) -> anyhow::Error {
    Failure {
        code: EXIT_UNAVAILABLE,
        message: format!("cannot reach {base}: {}", chain(e)),
        met: Some(transfer::Failure::Network),
    }
    .into()
}

/// Reads one line of standard input (a token, a passphrase), prompting on a terminal.
pub(super) fn read_secret_line(prompt: &str) -> Result<Zeroizing<String>> {
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
pub(super) fn login(url: &str) -> Result<()> {
    let token = read_secret_line("API token (from the page's Settings): ")?;
    let mut remote = Remote::anonymous(url)?;
    remote.token = Some(token.clone());
    let me: Me =
        client_runtime()?.block_on(remote.call(reqwest::Method::GET, "/api/me", None::<&()>))?;
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
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
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
