//! `cipherdrop ls`, `get` and `rm`: the account's files, their names decrypted here; a download
//! decrypted as it streams from S3, its output shown only once the whole message verified.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use cipherdrop_api::ObjectDetails;
use cipherdrop_core::{DataKey, DecryptLimits, Decryptor};
use futures_util::StreamExt as _;
use serde::Serialize;
use zeroize::Zeroizing;

use super::remote::Remote;
use crate::crypt::Output;
use crate::crypt::cipher::AwsLcCipher;
use crate::exit::{EXIT_INTEGRITY, EXIT_NOT_FOUND, EXIT_UNAVAILABLE, fail};
use crate::process::client_runtime;

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
pub(super) fn ls(json: bool) -> Result<()> {
    let remote = Remote::logged_in()?;
    client_runtime()?.block_on(async {
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
pub(super) async fn download_to(
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
pub(super) fn destination(output: Option<&Path>, name: &str) -> Result<PathBuf> {
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
pub(super) fn get(target: &str, output: Option<&Path>) -> Result<()> {
    let remote = Remote::logged_in()?;
    client_runtime()?.block_on(async {
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
pub(super) fn rm(target: &str) -> Result<()> {
    let remote = Remote::logged_in()?;
    client_runtime()?.block_on(async {
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
