//! The test kit every suite shares: a `cipherdrop serve` process and a client that plays the
//! browser with core (`server`), replicas on PostgreSQL (`cluster`, `postgres`), load drivers
//! (`load`), the official ESDK's Python and CLI, repository paths and test data.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod answers;
pub mod byok;
mod client;
pub mod cluster;
pub mod load;
pub mod peers;
pub mod postgres;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The official `aws-encryption-cli` (its own venv, made by the bootstrap), or
/// `$CIPHERDROP_ECLI`. Panics with a clear message when it is missing: these tests must run.
pub fn aws_encryption_cli() -> PathBuf {
    let p = std::env::var_os("CIPHERDROP_ECLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/ecli-venv/bin/aws-encryption-cli"));
    assert!(
        p.is_file(),
        "{} is missing: run scripts/bootstrap.sh",
        p.display()
    );
    p
}

/// The Python interpreter of the bootstrap venv (with the official `aws-encryption-sdk`), or
/// `$CIPHERDROP_PYTHON`. Panics with a clear message when it is missing: these tests must run.
pub fn python() -> PathBuf {
    let p = std::env::var_os("CIPHERDROP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/venv/bin/python"));
    let ok = Command::new(&p)
        .args(["-c", "import aws_encryption_sdk"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} cannot import aws_encryption_sdk: run scripts/bootstrap.sh",
        p.display()
    );
    p
}

/// Runs `tests/py/esdk_batch.py` on a job list; returns its stdout lines.
pub fn run_python_batch(jobs: &serde_json::Value, dir: &Path) -> Vec<String> {
    let jobs_path = dir.join(format!("jobs-{}.json", rand::random::<u64>()));
    std::fs::write(&jobs_path, serde_json::to_vec(jobs).unwrap()).unwrap();
    let out = Command::new(python())
        .arg(repo_root().join("tests/py/esdk_batch.py"))
        .arg(&jobs_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "official ESDK batch failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_owned).collect()
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    use rand::{Rng as _, SeedableRng as _};
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An `aws-sdk-kms` client for a KMS at `endpoint` (the embedded one, moto's) with a static key
/// pair, in us-east-1; `retries: false` turns the SDK's retries off, so a test sees each failure.
pub fn kms_client(
    endpoint: &str,
    access_key_id: &str,
    secret_access_key: &str,
    retries: bool,
) -> aws_sdk_kms::Client {
    use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
    let mut conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "cipherdrop-tests",
        ))
        .endpoint_url(endpoint);
    if !retries {
        conf = conf.retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled());
    }
    aws_sdk_kms::Client::from_conf(conf.build())
}

/// Makes a new symmetric KMS key and points `alias` at it, as an operator starts a key rotation
/// of servers whose `--kms-key-id` is that alias; returns the new key's ARN.
pub async fn point_alias_at_new_key(kms: &aws_sdk_kms::Client, alias: &str) -> String {
    let arn = kms
        .create_key()
        .send()
        .await
        .ok()
        .and_then(|o| o.key_metadata)
        .and_then(|m| m.arn)
        .unwrap_or_default();
    assert!(!arn.is_empty(), "CreateKey failed");
    kms.update_alias()
        .alias_name(alias)
        .target_key_id(&arn)
        .send()
        .await
        .map(drop)
        .unwrap_or_else(|e| panic!("UpdateAlias failed: {e:?}"));
    arn
}

/// Every form a secret could be printed in: base64, hex in both cases, the bytes as Rust prints
/// a slice, and the text itself when it is UTF-8. Tests search logs and files for each.
pub fn printed_forms(secret: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    let mut out = vec![
        base64::engine::general_purpose::STANDARD.encode(secret),
        hex(secret),
        hex(secret).to_uppercase(),
        format!("{secret:?}"),
    ];
    if let Ok(text) = std::str::from_utf8(secret) {
        out.push(text.to_owned());
    }
    out
}

/// The file under `dir` whose bytes are `content` (an object as the embedded S3 stores it, to
/// tamper with).
pub fn find_stored(dir: &Path, content: &[u8]) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(p) = find_stored(&path, content) {
                return Some(p);
            }
        } else if entry.metadata().map(|m| m.len()).ok() == Some(content.len() as u64)
            && std::fs::read(&path).ok().as_deref() == Some(content)
        {
            return Some(path);
        }
    }
    None
}
