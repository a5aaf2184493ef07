//! `cipherdrop s3 serve`: the embedded S3-compatible store as its own process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Subcommand;

use crate::process::{init_tracing, runtime, shutdown_signal};

/// `cipherdrop s3`.
#[derive(Subcommand, Debug)]
pub enum S3Command {
    /// Serve the S3 API (SigV4 enforced, presigned URLs included) until interrupted.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
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

/// `cipherdrop s3 …`.
pub fn run(cmd: S3Command) -> Result<()> {
    match cmd {
        S3Command::Serve {
            listen,
            data_dir,
            bucket,
            cors_origin,
        } => serve(listen, &data_dir, &bucket, cors_origin),
    }
}

/// Serves the store until SIGINT or SIGTERM.
fn serve(
    listen: SocketAddr,
    data_dir: &Path,
    buckets: &[String],
    cors_origins: Vec<String>,
) -> Result<()> {
    init_tracing();
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let creds = cipherdrop_s3::Credentials::load_or_create(&data_dir.join("credentials.json"))
        .context("S3 credentials")?;
    let root = data_dir.join("buckets");
    for b in buckets {
        // s3s-fs keeps a bucket as a folder.
        std::fs::create_dir_all(root.join(b))?;
    }
    let router = cipherdrop_s3::router(&cipherdrop_s3::Options {
        data_dir: &root,
        credentials: &creds,
        cors_origins,
    })?;
    runtime()?.block_on(async move {
        let l = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        println!("cipherdrop-s3 listening on http://{}", l.local_addr()?);
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        cipherdrop_s3::serve(l, router, shutdown_signal()).await?;
        Ok(())
    })
}
