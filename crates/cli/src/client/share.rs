//! `cipherdrop share` and `fetch`: links made as the page makes them (the file's data key
//! sealed under a fresh link key that only the link's fragment holds), and a link's file
//! downloaded and decrypted with no account.

use std::path::Path;

use anyhow::{Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    CreateShareRequest, ShareCreated, ShareInfo, ShareKeyResponse, ShareTokenRequest,
};
use cipherdrop_core::metadata::{self, FileMeta};
use cipherdrop_core::{LinkKey, LinkSecret, open_from_link, seal_for_link};
use zeroize::Zeroizing;

use super::files::{destination, download_to};
use super::remote::{Remote, read_secret_line};
use crate::exit::{EXIT_AUTH, EXIT_INTEGRITY, fail};
use crate::process::client_runtime;

/// Options of `share`.
pub(super) struct ShareOptions {
    /// Lifetime in seconds.
    pub(super) expires_in_secs: i64,
    /// Download limit.
    pub(super) limit: Option<u32>,
    /// Read a passphrase from standard input.
    pub(super) passphrase_stdin: bool,
    /// A note for the recipient.
    pub(super) note: Option<String>,
}

/// `cipherdrop share ID|NAME`: makes a link as the page does (the data key sealed under a fresh
/// link key); prints it.
pub(super) fn share(target: &str, opts: ShareOptions) -> Result<()> {
    let remote = Remote::logged_in()?;
    let passphrase = if opts.passphrase_stdin {
        Some(read_secret_line("passphrase for the link: ")?)
    } else {
        None
    };
    client_runtime()?.block_on(async {
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
            view_only: false,
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
pub(super) fn fetch(link: &str, output: Option<&Path>, passphrase_stdin: bool) -> Result<()> {
    let (base, fragment) = link
        .split_once("/s/#")
        .ok_or_else(|| anyhow!("not a share link (…/s/#t=…&k=…)"))?;
    let secret = LinkSecret::parse(fragment)
        .ok_or_else(|| anyhow!("the link is incomplete: check that it was copied whole"))?;
    let remote = Remote::anonymous(base)?;
    client_runtime()?.block_on(async {
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
        // The sender asked that it be viewed, not saved: this tool saves, so it does not
        // (before the link is used: nothing is counted).
        if info.view_only {
            return Err(fail(
                EXIT_AUTH,
                "this link is view-only: open it in a browser (its sender asked that the file be viewed, not saved)",
            ));
        }
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
pub(super) fn parse_duration(s: &str) -> Result<i64, String> {
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
