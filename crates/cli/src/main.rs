//! The `cipherdrop` command: the whole tool in one binary. Its command families each have their
//! module, and this file only parses the command line and hands it to one of them: `crypt`
//! (encrypt, decrypt, test vectors, here and offline), `serve` (the app and its embedded
//! services), `user` and `audit` (administration on the data folder), `kms` and `s3` (the
//! embedded services on their own), `client` (a server's files from scripts). `exit` holds the
//! exit codes, `process` what a process needs (logs, signals, the runtime), `database` and
//! `parse` the flags and values `serve`, `user` and `audit` share.

mod audit;
mod backup;
mod client;
mod crypt;
mod database;
mod exit;
mod kms;
mod parse;
mod probe;
mod process;
mod rekey;
mod s3;
mod serve;
mod smtp;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Cipherdrop: files encrypted where they are read and written (AWS Encryption SDK message
/// format v2, envelope keys from KMS), the server that keeps them, and a client for scripts. The
/// help's header is the package's description.
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
    Encrypt(crypt::EncryptArgs),
    /// Decrypt a file (or stdin) with AWS KMS (strict or discovery) and/or a raw AES key. Output
    /// appears only if the whole message verifies.
    Decrypt(crypt::DecryptArgs),
    /// Run an `awses-decrypt` test-vector manifest (version 2 or 1, keys manifest version 3).
    Vectors {
        /// Path to manifest.json.
        manifest: PathBuf,
    },
    /// The embedded KMS-compatible service.
    #[command(subcommand)]
    Kms(kms::KmsCommand),
    /// The embedded S3-compatible store on its own.
    #[command(subcommand)]
    S3(s3::S3Command),
    /// Run the app: API, web bundle, and (by default) the embedded KMS and S3.
    Serve(Box<serve::ServeArgs>),
    /// Manage accounts (works on the data folder, with or without a running server).
    #[command(subcommand)]
    User(user::UserCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Move stored files from one KMS key to another without re-uploading them (a running
    /// server does the work; this follows it).
    Rekey(Box<rekey::RekeyArgs>),
    /// Copy the data folder (SQLite, the embedded KMS and S3) while the server runs, the KMS's
    /// master key kept apart.
    Backup(backup::BackupArgs),
    /// Put a backup into a new data folder, once every file, the master key, the audit chain and
    /// every stored object check.
    Restore(backup::RestoreArgs),
    /// Health check for a container: GET a loopback http:// URL (default the server's /healthz),
    /// exit 0 on a 2xx answer within 3 s, 1 otherwise.
    Probe {
        /// The replica's own URL.
        #[arg(default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
    #[command(flatten)]
    Client(client::Command),
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cipherdrop: {e:#}");
            exit::code_of(&e).map_or(ExitCode::FAILURE, ExitCode::from)
        }
    }
}

/// Runs the command: false when it ran but found what it checks wrong (a failed test vector, a
/// tampered audit log), which exits 1.
fn run(cli: Cli) -> Result<bool> {
    let done = match cli.command {
        Command::Encrypt(a) => crypt::encrypt(a),
        Command::Decrypt(a) => crypt::decrypt(a),
        Command::Vectors { manifest } => return crypt::vectors(&manifest),
        Command::Kms(cmd) => kms::run(cmd),
        Command::S3(cmd) => s3::run(cmd),
        Command::Serve(a) => serve::run(*a),
        Command::User(cmd) => user::run(cmd),
        Command::Audit(cmd) => return audit::run(cmd),
        Command::Rekey(a) => rekey::run(*a),
        Command::Backup(a) => backup::backup(a),
        Command::Restore(a) => backup::restore(a),
        Command::Probe { url } => {
            return probe::probe(&url, std::time::Duration::from_secs(3));
        }
        Command::Client(cmd) => client::run(cmd),
    };
    done.map(|()| true)
}
