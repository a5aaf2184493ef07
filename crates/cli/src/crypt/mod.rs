//! `cipherdrop encrypt`, `decrypt` and `vectors`: files encrypted and decrypted here in the AWS
//! Encryption SDK message format v2, under AWS KMS keys and raw AES keys, and the ESDK's
//! test-vector manifests run.
//!
//! `file` streams a file through core's encoder or decoder with atomic output, `keyring` gets
//! the data key from KMS or raw keys, `cipher` is the AWS-LC bulk cipher, `vectors` runs
//! manifests.

pub mod cipher;
mod file;
mod keyring;
mod vectors;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use cipherdrop_core::{DEFAULT_FRAME_LEN, DecryptLimits, EncryptionContext, Suite};
use clap::Args;

pub(crate) use file::Output;

/// The raw AES wrapping key: a file holding 16, 24 or 32 raw bytes or their base64.
#[derive(Args, Debug)]
struct KeyArgs {
    /// File with a raw wrapping key (16/24/32 raw bytes, or base64 of them).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Key namespace (the EDK provider id).
    #[arg(long, default_value = "cipherdrop")]
    key_namespace: String,
    /// Key name (part of the EDK provider info).
    #[arg(long, default_value = "default")]
    key_name: String,
}

/// Which AES-256-GCM implementation does the bulk work.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum CipherChoice {
    /// AWS-LC (assembly; the faster here, see BENCHMARKS.md).
    AwsLc,
    /// RustCrypto `aes-gcm` (pure Rust with AES-NI; what the browser and `cipherdrop-core` use).
    Rustcrypto,
}

#[derive(Args, Debug)]
struct IoArgs {
    /// Input file, or `-` for stdin.
    #[arg(short, long, default_value = "-")]
    input: PathBuf,
    /// Output file, or `-` for stdout.
    #[arg(short, long, default_value = "-")]
    output: PathBuf,
    /// The AES-256-GCM implementation (same bytes either way).
    #[arg(long, value_enum, default_value = "aws-lc")]
    cipher: CipherChoice,
}

impl KeyArgs {
    /// The raw keyring, if a key file was given.
    fn keyrings(&self) -> Result<Vec<cipherdrop_core::RawAesKeyring>> {
        self.key_file
            .iter()
            .map(|f| file::load_keyring(f, &self.key_namespace, &self.key_name))
            .collect()
    }
}

#[derive(Args, Debug)]
pub struct EncryptArgs {
    /// AWS KMS key to wrap the data key under: key ARN, alias/NAME, alias ARN or key id
    /// (repeatable; the first generates the data key). Credentials, region and endpoint come from
    /// the standard AWS chain (AWS_ENDPOINT_URL_KMS reaches another KMS-compatible service).
    #[arg(long = "kms-key-id", value_name = "KEY")]
    kms_key_ids: Vec<String>,
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    io: IoArgs,
    /// Algorithm suite: 0x0478 (committing) or 0x0578 (committing, ECDSA P-384 signed).
    #[arg(long, default_value = "0x0478")]
    suite: Suite,
    /// Plaintext bytes per frame.
    #[arg(long, default_value_t = DEFAULT_FRAME_LEN)]
    frame_length: u32,
    /// Encryption context pair, `key=value` (repeatable).
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
}

#[derive(Args, Debug)]
pub struct DecryptArgs {
    /// Strict mode: only data keys under this AWS KMS key ARN are tried (repeatable).
    #[arg(
        long = "kms-key-id",
        value_name = "KEY_ARN",
        conflicts_with = "discovery"
    )]
    kms_key_ids: Vec<String>,
    /// Discovery mode: any AWS KMS key the caller may use decrypts (within the filter below).
    #[arg(long)]
    discovery: bool,
    /// With --discovery: only keys of this account (repeatable).
    #[arg(
        long = "discovery-account",
        value_name = "ACCOUNT",
        requires = "discovery"
    )]
    discovery_accounts: Vec<String>,
    /// With --discovery: only keys of this partition (aws, aws-cn, aws-us-gov…).
    #[arg(long, requires = "discovery")]
    discovery_partition: Option<String>,
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    io: IoArgs,
    /// Require these context pairs in the message (repeatable).
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// Largest number of encrypted data keys accepted.
    #[arg(long, default_value_t = DecryptLimits::default().max_encrypted_data_keys)]
    max_encrypted_data_keys: u16,
    /// Largest frame length accepted, in bytes (decrypt memory is about this).
    #[arg(long, default_value_t = DecryptLimits::default().max_frame_len)]
    max_frame_length: u64,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// `cipherdrop encrypt`.
pub fn encrypt(a: EncryptArgs) -> Result<()> {
    let raw = a.key.keyrings()?;
    let kms = if a.kms_key_ids.is_empty() {
        None
    } else {
        Some(keyring::Kms::new()?)
    };
    let context: EncryptionContext = a.context.into_iter().collect();
    let materials =
        keyring::encryption_materials(kms.as_ref(), &a.kms_key_ids, &raw, a.suite, &context)?;
    match a.io.cipher {
        CipherChoice::AwsLc => file::encrypt::<cipher::AwsLcCipher>(
            materials,
            a.frame_length,
            &a.io.input,
            &a.io.output,
        ),
        CipherChoice::Rustcrypto => file::encrypt::<cipherdrop_core::AesGcmCipher>(
            materials,
            a.frame_length,
            &a.io.input,
            &a.io.output,
        ),
    }
}

/// `cipherdrop decrypt`: the output appears only if the whole message verifies.
pub fn decrypt(a: DecryptArgs) -> Result<()> {
    let raw = a.key.keyrings()?;
    let mode = if a.discovery {
        keyring::KmsDecryptMode::Discovery {
            partition: a.discovery_partition,
            accounts: a.discovery_accounts,
        }
    } else if !a.kms_key_ids.is_empty() {
        keyring::KmsDecryptMode::Strict(keyring::strict_keys(&a.kms_key_ids)?)
    } else if raw.is_empty() {
        bail!("no key: give --kms-key-id (repeatable), --discovery, or --key-file");
    } else {
        keyring::KmsDecryptMode::Off
    };
    let kms = match mode {
        keyring::KmsDecryptMode::Off => None,
        _ => Some(keyring::Kms::new()?),
    };
    let keys = keyring::DecryptKeys {
        raw: &raw,
        kms: kms.as_ref(),
        mode,
        failure: std::cell::RefCell::new(None),
    };
    let limits = DecryptLimits {
        max_encrypted_data_keys: a.max_encrypted_data_keys,
        max_frame_len: a.max_frame_length,
        ..DecryptLimits::default()
    };
    let expected: EncryptionContext = a.context.into_iter().collect();
    let (input, output) = (&a.io.input, &a.io.output);
    let done = match a.io.cipher {
        CipherChoice::AwsLc => {
            file::decrypt::<cipher::AwsLcCipher>(&keys, limits, &expected, input, output)
        }
        CipherChoice::Rustcrypto => {
            file::decrypt::<cipherdrop_core::AesGcmCipher>(&keys, limits, &expected, input, output)
        }
    };
    done.map_err(|e| match keys.failure.take() {
        Some(why) => anyhow::anyhow!("{why}"),
        None => e,
    })
}

/// `cipherdrop vectors MANIFEST`: prints the counts; false when a vector failed.
pub fn vectors(manifest: &Path) -> Result<bool> {
    let summary =
        vectors::run(manifest).with_context(|| format!("running {}", manifest.display()))?;
    println!(
        "{} passed, {} failed, {} skipped",
        summary.passed, summary.failed, summary.skipped
    );
    if summary.failed > 0 {
        return Ok(false);
    }
    if summary.passed == 0 {
        bail!("no vector was run");
    }
    Ok(true)
}
