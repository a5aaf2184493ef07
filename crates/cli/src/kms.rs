//! `cipherdrop kms serve` and `cipherdrop kms credentials`: the embedded KMS as its own process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use cipherdrop_kms::Kms;
use clap::{Args, Subcommand};

use crate::process::{init_tracing, runtime, shutdown_signal};

/// `cipherdrop kms`.
#[derive(Subcommand, Debug)]
pub enum KmsCommand {
    /// Serve the AWS KMS API (JSON 1.1, SigV4) on a loopback address until interrupted.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:4599")]
        listen: SocketAddr,
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
pub struct KmsArgs {
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

/// `cipherdrop kms …`.
pub fn run(cmd: KmsCommand) -> Result<()> {
    match cmd {
        KmsCommand::Serve {
            listen,
            service: k,
            kms_master_key,
        } => serve(
            listen,
            &k.data_dir,
            kms_master_key.as_deref(),
            &k.region,
            &k.account,
        ),
        KmsCommand::Credentials { service: k } => print_credentials(&k.data_dir, &k.region),
    }
}

/// Runs the service until SIGINT or SIGTERM; the master key is `master_key`, by default
/// `data_dir/master.key`.
fn serve(
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
    runtime()?.block_on(async move {
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

/// Prints `export AWS_...=...` lines for the service in `data_dir`.
fn print_credentials(data_dir: &Path, region: &str) -> Result<()> {
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
