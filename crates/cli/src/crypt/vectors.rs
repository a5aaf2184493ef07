//! Runs `awses-decrypt` manifests (the AWS Encryption SDK test-vector framework) with raw AES keys.

// `serde_json::Value[&str]` never panics (a missing key reads as `Null`).
#![allow(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_core::{DecryptLimits, Error, KeyFn, KeyProvider, RawAesKeyring, decrypt};
use serde_json::Value;

/// Outcome counts of one manifest.
#[derive(Debug, Default)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

fn resolve(base: &Path, uri: &str) -> Result<PathBuf> {
    let rel = uri
        .strip_prefix("file://")
        .ok_or_else(|| anyhow!("unsupported URI {uri:?} (only file:// is)"))?;
    Ok(base.join(rel))
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Why a test cannot run here, if it cannot.
fn keyrings_for(test: &Value, keys: &Value) -> Result<Result<Vec<RawAesKeyring>, String>> {
    let mut rings = Vec::new();
    let master_keys = test["master-keys"]
        .as_array()
        .ok_or_else(|| anyhow!("no master-keys"))?;
    for mk in master_keys {
        let kind = mk["type"].as_str().unwrap_or("");
        match kind {
            "raw" if mk["encryption-algorithm"].as_str() == Some("aes") => {
                let id = mk["key"]
                    .as_str()
                    .ok_or_else(|| anyhow!("raw key without a key id"))?;
                let key = &keys["keys"][id];
                if key["encoding"].as_str() != Some("base64") {
                    return Ok(Err(format!("key {id} is not base64")));
                }
                let material = B64
                    .decode(key["material"].as_str().unwrap_or(""))
                    .with_context(|| format!("key {id} material"))?;
                let name = key["key-id"].as_str().unwrap_or(id);
                let ns = mk["provider-id"]
                    .as_str()
                    .ok_or_else(|| anyhow!("raw key without provider-id"))?;
                rings.push(RawAesKeyring::new(ns, name, &material)?);
            }
            "aws-kms" | "aws-kms-mrk-aware" | "aws-kms-mrk-aware-discovery" => {
                return Ok(Err("needs AWS KMS".into()));
            }
            other => {
                let alg = mk["encryption-algorithm"].as_str().unwrap_or("");
                return Ok(Err(format!("keyring {other}/{alg} is not supported")));
            }
        }
    }
    Ok(Ok(rings))
}

pub fn run(manifest_path: &Path) -> Result<Summary> {
    let base = manifest_path.parent().unwrap_or(Path::new("."));
    let manifest = read_json(manifest_path)?;
    let kind = manifest["manifest"]["type"].as_str().unwrap_or("");
    let version = manifest["manifest"]["version"].as_u64().unwrap_or(0);
    if kind != "awses-decrypt" || !matches!(version, 1 | 2) {
        bail!("not an awses-decrypt manifest of version 1 or 2 (type {kind:?}, version {version})");
    }
    let keys_uri = manifest["keys"]
        .as_str()
        .ok_or_else(|| anyhow!("manifest has no keys URI"))?;
    let keys = read_json(&resolve(base, keys_uri)?)?;
    if keys["manifest"]["version"].as_u64() != Some(3) {
        bail!("keys manifest must be version 3");
    }
    let tests = manifest["tests"]
        .as_object()
        .ok_or_else(|| anyhow!("manifest has no tests"))?;
    let mut summary = Summary::default();
    for (id, test) in tests {
        let rings = match keyrings_for(test, &keys)? {
            Ok(r) => r,
            Err(why) => {
                eprintln!("skip {id}: {why}");
                summary.skipped += 1;
                continue;
            }
        };
        let ciphertext = std::fs::read(resolve(base, test["ciphertext"].as_str().unwrap_or(""))?)
            .with_context(|| format!("{id}: ciphertext"))?;
        // Version 1 manifests keep the plaintext at the test's top level.
        let expected = test["result"]["output"]["plaintext"]
            .as_str()
            .or_else(|| test["plaintext"].as_str());
        let provider = KeyFn(|h: &cipherdrop_core::Header| {
            let mut last = Error::NoMatchingKey;
            for r in &rings {
                match r.data_key(h) {
                    Ok(k) => return Ok(k),
                    Err(Error::NoMatchingKey) => {}
                    Err(e) => last = e,
                }
            }
            Err(last)
        });
        let outcome = decrypt(provider, &ciphertext, DecryptLimits::default());
        let ok = match (expected, outcome) {
            (Some(uri), Ok((pt, _))) => {
                let want = std::fs::read(resolve(base, uri)?)
                    .with_context(|| format!("{id}: plaintext"))?;
                if pt == want {
                    true
                } else {
                    eprintln!("FAIL {id}: plaintext differs");
                    false
                }
            }
            (Some(_), Err(e)) => {
                eprintln!("FAIL {id}: {e}");
                false
            }
            (None, Err(_)) => true,
            (None, Ok(_)) => {
                let why = test["result"]["error"]["error-description"]
                    .as_str()
                    .unwrap_or("");
                eprintln!("FAIL {id}: decrypted, but must fail ({why})");
                false
            }
        };
        if ok {
            summary.passed += 1;
        } else {
            summary.failed += 1;
        }
    }
    Ok(summary)
}
