//! `cipherdrop kms serve` and `cipherdrop kms credentials`: the embedded KMS as its own process,
//! serving one region, or several linked regions (for multi-Region keys) on one listener each.

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
        /// Also serve REGION on ADDRESS, linked with the main region for multi-Region keys
        /// (ReplicateKey, UpdatePrimaryRegion); its data in DATA_DIR/regions/REGION, with its own
        /// master key there. Repeatable.
        #[arg(long, value_name = "REGION=ADDRESS", value_parser = parse_replica_region)]
        replica_region: Vec<(String, SocketAddr)>,
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
            replica_region,
        } => serve(
            listen,
            &k.data_dir,
            kms_master_key.as_deref(),
            &k.region,
            &k.account,
            &replica_region,
        ),
        KmsCommand::Credentials { service: k } => print_credentials(&k.data_dir, &k.region),
    }
}

/// `REGION=ADDRESS` of `--replica-region`.
fn parse_replica_region(text: &str) -> Result<(String, SocketAddr), String> {
    let (region, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not REGION=ADDRESS"))?;
    let valid = !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(format!("{region:?} is not a region name (as us-west-2)"));
    }
    let addr = addr
        .parse()
        .map_err(|e| format!("{addr:?} is not an address: {e}"))?;
    Ok((region.to_owned(), addr))
}

/// Runs the service until SIGINT or SIGTERM; the master key is `master_key`, by default
/// `data_dir/master.key`. Each replica region is served on its own listener from
/// `data_dir/regions/REGION` (with the main region's credentials: one account), linked with the
/// main region for multi-Region keys.
fn serve(
    listen: SocketAddr,
    data_dir: &Path,
    master_key: Option<&Path>,
    region: &str,
    account: &str,
    replicas: &[(String, SocketAddr)],
) -> Result<()> {
    for addr in std::iter::once(&listen).chain(replicas.iter().map(|(_, a)| a)) {
        if !addr.ip().is_loopback() {
            eprintln!("warning: the embedded KMS listens on {addr}, not a loopback address");
        }
    }
    let mut seen = std::collections::BTreeSet::from([region]);
    for (r, _) in replicas {
        if !seen.insert(r.as_str()) {
            bail!("region {r} is given twice");
        }
    }
    init_tracing();
    let kms = Arc::new(
        open(data_dir, master_key, region, account)
            .with_context(|| format!("opening the KMS data in {}", data_dir.display()))?,
    );
    let mut services = vec![(region.to_owned(), listen, kms.clone())];
    for (r, addr) in replicas {
        let dir = data_dir.join("regions").join(r);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let creds = dir.join("credentials.json");
        if !creds.exists() {
            cipherdrop_keyfile::write_atomic(
                &creds,
                &std::fs::read(data_dir.join("credentials.json"))?,
            )?;
        }
        let service = open(&dir, None, r, account)
            .with_context(|| format!("opening the KMS data of {r} in {}", dir.display()))?;
        services.push((r.clone(), *addr, Arc::new(service)));
    }
    Kms::link_regions(
        &services
            .iter()
            .map(|(_, _, k)| k.clone())
            .collect::<Vec<_>>(),
    );
    runtime()?.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (r, addr, service)) in services.into_iter().enumerate() {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr}"))?;
            let addr = listener.local_addr()?;
            // One line per region a supervisor (or a test) can wait for; the main region's
            // first, as it always was.
            if i == 0 {
                println!("cipherdrop-kms listening on http://{addr}");
            } else {
                println!("cipherdrop-kms {r} listening on http://{addr}");
            }
            tasks.spawn(cipherdrop_kms::serve(listener, service, shutdown_signal()));
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_replica_region;

    #[test]
    fn replica_regions_are_region_equals_address() {
        let (region, addr) = parse_replica_region("eu-west-1=127.0.0.1:4600").unwrap();
        assert_eq!((region.as_str(), addr.port()), ("eu-west-1", 4600));
        for bad in [
            "eu-west-1",
            "=127.0.0.1:1",
            "EU-WEST-1=127.0.0.1:1",
            "eu west=127.0.0.1:1",
            "eu-west-1=localhost",
            "eu-west-1=127.0.0.1",
            "../x=127.0.0.1:1",
        ] {
            assert!(parse_replica_region(bad).is_err(), "{bad}");
        }
    }
}
