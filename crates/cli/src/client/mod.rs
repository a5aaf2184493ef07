//! `cipherdrop` as a client of a Cipherdrop server, for scripts: `login`, `ls`, `put`, `get`,
//! `rm`, `share` with an API token, and `fetch` of a share link with no account.
//!
//! It stores exactly what the page stores: the same ESDK messages (core, with the AWS-LC cipher),
//! names sealed under the account's metadata key (`cipherdrop_core::metadata`; under the file's
//! data key for a token that may not read it), links in the two-of-two form (`/s/#t=…&k=…`). Files are encrypted and decrypted here; only ciphertext
//! crosses the network, straight to and from S3 through presigned URLs. Output appears only when
//! the whole message verified (a temporary file renamed at the end).
//!
//! `remote` is the server's API and the stored login, `files` lists, downloads and deletes,
//! `share` makes and fetches links, `put` uploads and resumes uploads. Exit codes are
//! `crate::exit`'s.

mod files;
mod put;
mod remote;
mod share;

use std::path::PathBuf;

use anyhow::Result;
use cipherdrop_core::Suite;
use clap::Subcommand;

/// The client commands.
#[derive(Subcommand, Debug)]
pub enum Command {
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
        #[arg(long, default_value = "7d", value_parser = share::parse_duration)]
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

/// Runs a client command.
pub fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Login { url } => remote::login(&url),
        Command::Ls { json } => files::ls(json),
        Command::Put {
            files,
            suite,
            frame_length,
            parallel,
            resume,
        } => put::put(
            &files,
            &put::PutOptions {
                suite,
                frame_length,
                parallel,
                resume,
            },
        ),
        Command::Get { target, output } => files::get(&target, output.as_deref()),
        Command::Rm { target } => files::rm(&target),
        Command::Share {
            target,
            expires,
            limit,
            passphrase_stdin,
            note,
        } => share::share(
            &target,
            share::ShareOptions {
                expires_in_secs: expires,
                limit,
                passphrase_stdin,
                note,
            },
        ),
        Command::Fetch {
            link,
            output,
            passphrase_stdin,
        } => share::fetch(&link, output.as_deref(), passphrase_stdin),
    }
}
