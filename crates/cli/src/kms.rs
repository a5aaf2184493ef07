//! `cipherdrop kms serve` and `cipherdrop kms credentials`: the embedded KMS as its own process.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use cipherdrop_kms::Kms;

/// Runs the service until SIGINT or SIGTERM; the master key is `master_key`, by default
/// `data_dir/master.key`.
pub fn serve(
    listen: SocketAddr,
    data_dir: &Path,
    master_key: Option<&Path>,
    region: &str,
    account: &str,
) -> Result<()> {
    if !listen.ip().is_loopback() {
        eprintln!("warning: the embedded KMS listens on {listen}, not a loopback address");
    }
    init_tracing();
    let kms = Arc::new(
        open(data_dir, master_key, region, account)
            .with_context(|| format!("opening the KMS data in {}", data_dir.display()))?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        // One line a supervisor (or a test) can wait for.
        println!("cipherdrop-kms listening on http://{addr}");
        cipherdrop_kms::serve(listener, kms, shutdown_signal()).await?;
        Ok::<_, anyhow::Error>(())
    })
}

/// Opens the KMS data in `data_dir` with the master key in `master_key` (default
/// `data_dir/master.key`).
pub fn open(
    data_dir: &Path,
    master_key: Option<&Path>,
    region: &str,
    account: &str,
) -> std::io::Result<Kms> {
    let default = data_dir.join(cipherdrop_kms::MASTER_KEY_FILE);
    Kms::open_with_master_key(data_dir, region, account, master_key.unwrap_or(&default))
}

/// Logs to stderr, at `info` unless `RUST_LOG` says otherwise.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

/// Prints `export AWS_...=...` lines for the service in `data_dir`.
pub fn print_credentials(data_dir: &Path, region: &str) -> Result<()> {
    if !data_dir.join("credentials.json").exists() {
        bail!(
            "no KMS credentials in {} (start `cipherdrop kms serve` once)",
            data_dir.display()
        );
    }
    // Only the credentials: the keys (and their master key) are not needed for them.
    let c = cipherdrop_kms::Credentials::load_or_create(&data_dir.join("credentials.json"))?;
    println!("export AWS_ACCESS_KEY_ID={}", c.access_key_id);
    println!("export AWS_SECRET_ACCESS_KEY={}", c.secret_access_key);
    println!("export AWS_REGION={region}");
    println!("export AWS_DEFAULT_REGION={region}");
    Ok(())
}
