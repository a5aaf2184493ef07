//! The `cipherdrop` command: encrypt and decrypt files in the ESDK v2 format, run test vectors.

mod cipher;
mod client;
mod crypt;
mod keyring;
mod kms;
mod serve;
mod upload;
mod vectors;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use cipherdrop_core::{DEFAULT_FRAME_LEN, DecryptLimits, EncryptionContext, Suite};
use clap::{Args, Parser, Subcommand};

/// Client-side envelope encryption in the AWS Encryption SDK message format v2.
#[derive(Parser, Debug)]
#[command(
    name = "cipherdrop",
    version,
    about,
    after_help = "Exit codes: 0 ok; 1 other errors; 2 usage; 3 authentication or permission (no \
                  login, token expired, revoked or without the scope); 4 not found or gone; 5 \
                  integrity (the ciphertext failed verification; nothing was written); 6 network \
                  or service unavailable (an upload's parts sent so far are kept: `put --resume` \
                  continues it); 130 interrupted by Ctrl-C (the same)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Encrypt a file (or stdin) under AWS KMS keys and/or raw AES keys.
    Encrypt(EncryptArgs),
    /// Decrypt a file (or stdin) with AWS KMS (strict or discovery) and/or a raw AES key. Output
    /// appears only if the whole message verifies.
    Decrypt(DecryptArgs),
    /// Run an `awses-decrypt` test-vector manifest (version 2 or 1, keys manifest version 3).
    Vectors {
        /// Path to manifest.json.
        manifest: PathBuf,
    },
    /// The embedded KMS-compatible service.
    #[command(subcommand)]
    Kms(KmsCommand),
    /// The embedded S3-compatible store on its own.
    #[command(subcommand)]
    S3(S3Command),
    /// Run the app: API, web bundle, and (by default) the embedded KMS and S3.
    Serve(Box<serve::ServeArgs>),
    /// Manage accounts (works on the data folder, with or without a running server).
    #[command(subcommand)]
    User(serve::UserCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Log in to a Cipherdrop server with an API token (read from standard input; make one in
    /// the page's Settings). Stored in the config folder, readable by you only.
    Login {
        /// The server's URL, e.g. https://files.example.
        url: String,
    },
    /// List your files on the server, with their names decrypted here.
    Ls {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Encrypt files here and upload them to the server (parts straight to S3); prints each id.
    Put {
        /// Files to upload (with --resume and none: every interrupted upload to this server).
        #[arg(required_unless_present = "resume")]
        files: Vec<PathBuf>,
        /// Continue an interrupted upload of each file where it stopped (the file must be the
        /// same; a file without one starts anew).
        #[arg(long)]
        resume: bool,
        /// Algorithm suite: 0x0478 (committing) or 0x0578 (committing, ECDSA P-384 signed).
        #[arg(long, default_value = "0x0478")]
        suite: Suite,
        /// Plaintext bytes per frame.
        #[arg(long, default_value_t = 65536)]
        frame_length: u32,
        /// Parts sent at once.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
    },
    /// Download a file by id or name and decrypt it here; the output appears only if it verified.
    Get {
        /// The file's id, or its name.
        target: String,
        /// Where to write it (`-` for standard output; default: its name, never over a file).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Delete a file by id or name.
    Rm {
        /// The file's id, or its name.
        target: String,
    },
    /// Make a share link for a file; prints the link (its secret is all after the #).
    Share {
        /// The file's id, or its name.
        target: String,
        /// Lifetime: seconds, or with m, h or d (1 hour to 30 days).
        #[arg(long, default_value = "7d", value_parser = client::parse_duration)]
        expires: i64,
        /// Download limit (1 to 1000; default none).
        #[arg(long)]
        limit: Option<u32>,
        /// Read a passphrase the recipient must give from standard input.
        #[arg(long)]
        passphrase_stdin: bool,
        /// A note shown to the recipient.
        #[arg(long)]
        note: Option<String>,
    },
    /// Download and decrypt a share link's file, no account needed.
    Fetch {
        /// The whole link, …/s/#t=…&k=…
        link: String,
        /// Where to write it (`-` for standard output; default: its name, never over a file).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Read the link's passphrase from standard input.
        #[arg(long)]
        passphrase_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
enum S3Command {
    /// Serve the S3 API (SigV4 enforced, presigned URLs included) until interrupted.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: std::net::SocketAddr,
        /// Folder for credentials.json and the buckets (created if missing).
        #[arg(long)]
        data_dir: PathBuf,
        /// Make this bucket if it does not exist (repeatable).
        #[arg(long)]
        bucket: Vec<String>,
        /// Origin allowed to call it from a browser (repeatable).
        #[arg(long)]
        cors_origin: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check the hash chain and its signed checkpoints; reports every edited or deleted row and
    /// the first checkpoint that no longer matches, and exits 1 if any.
    Verify(Box<serve::AuditVerifyArgs>),
    /// Write the chain, its checkpoints and the signing key's public key to a file (JSON lines)
    /// that `audit verify --export` checks with no database or KMS.
    Export(Box<serve::AuditExportArgs>),
    /// Print the audit signing key's public key (PEM), for `audit verify --public-key`.
    PublicKey(serve::AuditKeyArgs),
}

#[derive(Subcommand, Debug)]
enum KmsCommand {
    /// Serve the AWS KMS API (JSON 1.1, SigV4) on a loopback address until interrupted.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:4599")]
        listen: std::net::SocketAddr,
        #[command(flatten)]
        service: KmsArgs,
        /// File of the master key the keys are encrypted under at rest (default:
        /// DATA_DIR/master.key, made on first start). Keep it apart from the data folder's backups.
        #[arg(long, value_name = "PATH")]
        kms_master_key: Option<PathBuf>,
    },
    /// Print the service's SigV4 credentials as shell exports (for the AWS CLI, SDKs, boto3).
    Credentials {
        #[command(flatten)]
        service: KmsArgs,
    },
}

/// Where the embedded KMS keeps its data, and how it names its keys.
#[derive(Args, Debug)]
struct KmsArgs {
    /// Folder for keys, credentials and the audit log (created if missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// Region used in key ARNs.
    #[arg(long, default_value = cipherdrop_kms::DEFAULT_REGION)]
    region: String,
    /// Account id used in key ARNs.
    #[arg(long, default_value = cipherdrop_kms::DEFAULT_ACCOUNT)]
    account: String,
}

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
            .map(|f| crypt::load_keyring(f, &self.key_namespace, &self.key_name))
            .collect()
    }
}

#[derive(Args, Debug)]
struct EncryptArgs {
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
struct DecryptArgs {
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

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cipherdrop: {e:#}");
            match e.downcast_ref::<client::Failure>() {
                Some(f) => ExitCode::from(f.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Encrypt(a) => {
            let raw = a.key.keyrings()?;
            let kms = if a.kms_key_ids.is_empty() {
                None
            } else {
                Some(keyring::Kms::new()?)
            };
            let context: EncryptionContext = a.context.into_iter().collect();
            let materials = keyring::encryption_materials(
                kms.as_ref(),
                &a.kms_key_ids,
                &raw,
                a.suite,
                &context,
            )?;
            match a.io.cipher {
                CipherChoice::AwsLc => crypt::encrypt::<cipher::AwsLcCipher>(
                    materials,
                    a.frame_length,
                    &a.io.input,
                    &a.io.output,
                )?,
                CipherChoice::Rustcrypto => crypt::encrypt::<cipherdrop_core::AesGcmCipher>(
                    materials,
                    a.frame_length,
                    &a.io.input,
                    &a.io.output,
                )?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Decrypt(a) => {
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
                    crypt::decrypt::<cipher::AwsLcCipher>(&keys, limits, &expected, input, output)
                }
                CipherChoice::Rustcrypto => crypt::decrypt::<cipherdrop_core::AesGcmCipher>(
                    &keys, limits, &expected, input, output,
                ),
            };
            if let Err(e) = done {
                return Err(match keys.failure.take() {
                    Some(why) => anyhow::anyhow!("{why}"),
                    None => e,
                });
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Kms(KmsCommand::Serve {
            listen,
            service: k,
            kms_master_key,
        }) => {
            kms::serve(
                listen,
                &k.data_dir,
                kms_master_key.as_deref(),
                &k.region,
                &k.account,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kms(KmsCommand::Credentials { service: k }) => {
            kms::print_credentials(&k.data_dir, &k.region)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::S3(S3Command::Serve {
            listen,
            data_dir,
            bucket,
            cors_origin,
        }) => {
            serve::serve_s3(listen, &data_dir, &bucket, cors_origin)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(a) => {
            serve::serve(*a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User(cmd) => {
            serve::user(cmd)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::Verify(a)) => Ok(if serve::audit_verify(&a)? {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }),
        Command::Audit(AuditCommand::Export(a)) => {
            serve::audit_export(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::PublicKey(a)) => {
            serve::audit_public_key(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Login { url } => client::login(&url).map(|()| ExitCode::SUCCESS),
        Command::Ls { json } => client::ls(json).map(|()| ExitCode::SUCCESS),
        Command::Put {
            files,
            suite,
            frame_length,
            parallel,
            resume,
        } => upload::put(
            &files,
            &upload::PutOptions {
                suite,
                frame_length,
                parallel,
                resume,
            },
        )
        .map(|()| ExitCode::SUCCESS),
        Command::Get { target, output } => {
            client::get(&target, output.as_deref()).map(|()| ExitCode::SUCCESS)
        }
        Command::Rm { target } => client::rm(&target).map(|()| ExitCode::SUCCESS),
        Command::Share {
            target,
            expires,
            limit,
            passphrase_stdin,
            note,
        } => client::share(
            &target,
            client::ShareOptions {
                expires_in_secs: expires,
                limit,
                passphrase_stdin,
                note,
            },
        )
        .map(|()| ExitCode::SUCCESS),
        Command::Fetch {
            link,
            output,
            passphrase_stdin,
        } => client::fetch(&link, output.as_deref(), passphrase_stdin).map(|()| ExitCode::SUCCESS),
        Command::Vectors { manifest } => {
            let summary = vectors::run(&manifest)
                .with_context(|| format!("running {}", manifest.display()))?;
            println!(
                "{} passed, {} failed, {} skipped",
                summary.passed, summary.failed, summary.skipped
            );
            if summary.failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
            if summary.passed == 0 {
                bail!("no vector was run");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
