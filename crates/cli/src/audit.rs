//! `cipherdrop audit`: the audit log's hash chain and signed checkpoints checked (from the
//! database, or from an export with no database or KMS), exported, and the signing key's public
//! key printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use cipherdrop_server::AwsSettings;
use clap::{Args, Subcommand};
use tokio::sync::watch;

use crate::database::DbArgs;
use crate::process::runtime;

/// The file in the data folder that remembers the embedded KMS's audit signing key (its ARN).
pub const SIGNING_KEY_FILE: &str = "audit-signing-key";

/// `cipherdrop audit`.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain and its signed checkpoints; reports every edited or deleted row and
    /// the first checkpoint that no longer matches, and exits 1 if any.
    Verify(Box<AuditVerifyArgs>),
    /// Write the chain, its checkpoints and the signing key's public key to a file (JSON lines)
    /// that `audit verify --export` checks with no database or KMS.
    Export(Box<AuditExportArgs>),
    /// Print the audit signing key's public key (PEM), for `audit verify --public-key`.
    PublicKey(AuditKeyArgs),
}

/// `cipherdrop audit …`: false when `verify` found the log tampered with.
pub fn run(cmd: AuditCommand) -> Result<bool> {
    match cmd {
        AuditCommand::Verify(a) => verify(&a),
        AuditCommand::Export(a) => export(&a).map(|()| true),
        AuditCommand::PublicKey(a) => public_key(&a).map(|()| true),
    }
}

/// Where the audit signing key is, for `cipherdrop audit`: a key in an external KMS, or the
/// embedded KMS's, which the data folder remembers.
#[derive(Args, Debug, Clone)]
pub struct SigningKeyArgs {
    /// The audit signing key (id, ARN or alias) in an external KMS; credentials from the AWS
    /// default chain (default: the embedded KMS's key, remembered in the data folder).
    #[arg(long, value_name = "KEY")]
    audit_signing_key_id: Option<String>,
    /// KMS endpoint of that key (default: AWS's for the region).
    #[arg(long, requires = "audit_signing_key_id")]
    kms_endpoint: Option<String>,
    /// KMS region of that key (default: the one in its ARN, else AWS_REGION, else us-east-1).
    #[arg(long)]
    kms_region: Option<String>,
    /// File of the embedded KMS's master key (default: DATA_DIR/kms/master.key).
    #[arg(long, value_name = "PATH", conflicts_with = "audit_signing_key_id")]
    kms_master_key: Option<PathBuf>,
}

/// `cipherdrop audit verify`.
#[derive(Args, Debug)]
pub struct AuditVerifyArgs {
    /// The server's data folder.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    key: SigningKeyArgs,
    /// Check the checkpoints' signatures with this public key (PEM or DER, as `cipherdrop audit
    /// public-key` or `aws kms get-public-key` give it) instead of asking KMS. Repeatable: keys
    /// that signed before a change of key.
    #[arg(long = "public-key", value_name = "FILE")]
    public_keys: Vec<PathBuf>,
    /// Check an export (`cipherdrop audit export`) instead of the database: no database or KMS,
    /// only --public-key.
    #[arg(long, value_name = "FILE", requires = "public_keys")]
    export: Option<PathBuf>,
    /// Compare the checkpoints with their locked copies in this bucket (`serve
    /// --audit-checkpoint-bucket`): a checkpoint deleted from the database, with the rows it
    /// covered rewritten, is found by its copy. S3 credentials from the AWS default chain (for
    /// the embedded S3 of a running `serve`: its endpoint, and the keys in DATA_DIR/s3/credentials.json).
    #[arg(long, value_name = "BUCKET", conflicts_with = "export")]
    checkpoint_bucket: Option<String>,
    /// S3 endpoint of that bucket (default: AWS's for the region).
    #[arg(long, value_name = "URL", requires = "checkpoint_bucket")]
    s3_endpoint: Option<String>,
    /// S3 region of that bucket (default: AWS_REGION, else us-east-1).
    #[arg(long, requires = "checkpoint_bucket")]
    s3_region: Option<String>,
}

/// `cipherdrop audit export`.
#[derive(Args, Debug)]
pub struct AuditExportArgs {
    /// The server's data folder.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    key: SigningKeyArgs,
    /// The file to write (JSON lines: a header with the signing key's public key, the
    /// checkpoints, the chain's head, every row).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Only the rows after this one (the last row of the export before): the file's chain is
    /// anchored to that row's hash, so exports made one after another check as one chain.
    #[arg(long, value_name = "ROW")]
    since: Option<i64>,
}

/// `cipherdrop audit public-key`.
#[derive(Args, Debug)]
pub struct AuditKeyArgs {
    /// The server's data folder.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    #[command(flatten)]
    key: SigningKeyArgs,
    /// Write the PEM here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `arn:aws:kms:REGION:ACCOUNT:key/ID` → (region, account).
fn arn_region_account(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.split(':');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("arn"), Some(_), Some("kms"), Some(region), Some(account)) => Some((region, account)),
        _ => None,
    }
}

/// `region`, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.
fn region_or_default(region: Option<String>) -> String {
    region
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_owned())
}

/// The audit signing key's ARN and public key, from KMS `GetPublicKey`: the external key named,
/// else the embedded KMS's (started on a loopback port for the call); `None` if neither is
/// configured.
async fn signing_public_key(
    data_dir: &Path,
    key: &SigningKeyArgs,
) -> Result<Option<(String, cipherdrop_server::checkpoints::PublicKey)>> {
    let public = |der: &[u8]| {
        cipherdrop_server::checkpoints::PublicKey::from_der(der)
            .context("the audit signing key's public key")
    };
    if let Some(id) = &key.audit_signing_key_id {
        let region = region_or_default(
            key.kms_region
                .clone()
                .or_else(|| arn_region_account(id).map(|(r, _)| r.to_owned())),
        );
        let aws = cipherdrop_server::Aws::connect(&AwsSettings {
            s3_region: region.clone(),
            kms_region: region,
            kms_endpoint: key.kms_endpoint.clone(),
            s3_endpoint: None,
            s3_path_style: false,
            kms_credentials: None,
            s3_credentials: None,
        })
        .await;
        let (arn, der) = aws
            .public_key(id)
            .await
            .map_err(|e| anyhow::anyhow!("KMS GetPublicKey of {id}: {}", e.message))?;
        return Ok(Some((arn, public(&der)?)));
    }
    let Ok(arn) = std::fs::read_to_string(data_dir.join(SIGNING_KEY_FILE)) else {
        return Ok(None);
    };
    let arn = arn.trim().to_owned();
    let (region, account) = arn_region_account(&arn)
        .with_context(|| format!("{} does not hold a KMS key ARN", SIGNING_KEY_FILE))?;
    let kms = Arc::new(
        crate::kms::open(
            &data_dir.join("kms"),
            key.kms_master_key.as_deref(),
            region,
            account,
        )
        .context("opening the embedded KMS")?,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let c = kms.credentials();
    let credentials = (c.access_key_id.clone(), c.secret_access_key.clone());
    let (stop, stopped) = watch::channel(false);
    let service = tokio::spawn(cipherdrop_kms::serve(listener, kms, async move {
        let mut rx = stopped;
        let _ = rx.wait_for(|s| *s).await;
    }));
    let aws = cipherdrop_server::Aws::connect(&AwsSettings {
        s3_region: region.to_owned(),
        kms_region: region.to_owned(),
        kms_endpoint: Some(endpoint),
        s3_endpoint: None,
        s3_path_style: false,
        kms_credentials: Some(credentials),
        s3_credentials: None,
    })
    .await;
    let answer = aws.public_key(&arn).await;
    let _ = stop.send(true);
    let _ = service.await;
    let (arn, der) =
        answer.map_err(|e| anyhow::anyhow!("embedded KMS GetPublicKey of {arn}: {}", e.message))?;
    Ok(Some((arn, public(&der)?)))
}

fn read_public_keys(files: &[PathBuf]) -> Result<Vec<cipherdrop_server::checkpoints::PublicKey>> {
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
            cipherdrop_server::checkpoints::PublicKey::from_pem_or_der(&bytes)
                .with_context(|| f.display().to_string())
        })
        .collect()
}

/// `cipherdrop audit verify`: the chain and every checkpoint, from the database (signatures
/// checked with --public-key files, or the key's public key from KMS) or from an export; exit
/// status 0 when everything holds.
fn verify(a: &AuditVerifyArgs) -> Result<bool> {
    let files = read_public_keys(&a.public_keys)?;
    if let Some(export) = &a.export {
        let file =
            std::fs::File::open(export).with_context(|| format!("opening {}", export.display()))?;
        let report = cipherdrop_server::audit::verify_export(std::io::BufReader::new(file), &files)
            .with_context(|| format!("reading {}", export.display()))?;
        return Ok(print_verification(
            &report,
            &format!("export {}", export.display()),
            None,
        ));
    }
    a.db.require_existing(&a.data_dir)?;
    runtime()?.block_on(async {
        let (keys, named) = if files.is_empty() {
            match signing_public_key(&a.data_dir, &a.key).await? {
                Some((arn, key)) => (Some(vec![key]), Some(arn)),
                None => (None, None),
            }
        } else {
            (Some(files), None)
        };
        let copies = checkpoint_copies(a).await?;
        let db = a.db.open(&a.data_dir).await?;
        let report = match copies {
            Some(copies) => {
                cipherdrop_server::audit::verify_against(&db, keys.as_deref(), copies).await
            }
            None => cipherdrop_server::audit::verify_with(&db, keys.as_deref()).await,
        };
        db.close().await;
        Ok(print_verification(&report?, "audit log", named.as_deref()))
    })
}

/// The checkpoints' copies in `--checkpoint-bucket`, if one is given.
async fn checkpoint_copies(
    a: &AuditVerifyArgs,
) -> Result<Option<Vec<cipherdrop_server::checkpoints::Checkpoint>>> {
    let Some(bucket) = &a.checkpoint_bucket else {
        return Ok(None);
    };
    let region = region_or_default(a.s3_region.clone());
    let aws = cipherdrop_server::Aws::connect(&AwsSettings {
        s3_region: region.clone(),
        kms_region: region,
        kms_endpoint: None,
        s3_endpoint: a.s3_endpoint.clone(),
        s3_path_style: a.s3_endpoint.is_some(),
        kms_credentials: None,
        s3_credentials: None,
    })
    .await;
    let copies = cipherdrop_server::checkpoints::copies(&aws, bucket)
        .await
        .with_context(|| format!("the checkpoint bucket {bucket}"))?;
    Ok(Some(copies))
}

/// Prints a verification; true when everything holds.
fn print_verification(
    report: &cipherdrop_server::audit::Verification,
    what: &str,
    key: Option<&str>,
) -> bool {
    let cps = &report.checkpoints;
    if report.problems.is_empty() {
        println!("{what} intact: {} rows, hash chain verified", report.rows);
    } else {
        println!("{what} TAMPERED: {} rows checked", report.rows);
        for p in &report.problems {
            println!("  {p}");
        }
    }
    let uncovered = |n: u64| {
        let s = if n == 1 { "" } else { "s" };
        format!("{n} row{s} after the last checkpoint not yet covered")
    };
    if cps.total == 0 {
        if cps.signatures_checked {
            println!("no checkpoints yet: {}", uncovered(report.rows));
        } else {
            println!(
                "checkpoints: off (no audit signing key: `serve --audit-signing-key-id`); the chain is checked only against itself"
            );
        }
    } else if cps.signatures_checked {
        let by = key.map(|k| format!(" (signed by {k})")).unwrap_or_default();
        println!(
            "{} of {} checkpoints verified{by}; {}",
            cps.verified,
            cps.total,
            uncovered(cps.uncovered)
        );
    } else {
        println!(
            "{} of {} checkpoints match the chain, signatures NOT checked (no signing key known here: \
             give --public-key FILE or --audit-signing-key-id KEY); {}",
            cps.verified,
            cps.total,
            uncovered(cps.uncovered)
        );
    }
    if let Some(n) = cps.copies {
        let s = if n == 1 { "y" } else { "ies" };
        println!("compared with {n} locked cop{s} in the checkpoint bucket");
    }
    if let Some(first) = &cps.first_failed {
        println!("first checkpoint that no longer matches: {first}");
    }
    report.problems.is_empty()
}

/// `cipherdrop audit export`.
fn export(a: &AuditExportArgs) -> Result<()> {
    a.db.require_existing(&a.data_dir)?;
    runtime()?.block_on(async {
        let key = signing_public_key(&a.data_dir, &a.key).await?;
        let db = a.db.open(&a.data_dir).await?;
        let file = std::fs::File::create(&a.out)
            .with_context(|| format!("creating {}", a.out.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let done = cipherdrop_server::audit::export(
            &db,
            &mut out,
            key.as_ref().map(|(arn, k)| (arn.as_str(), k)),
            a.since,
        )
        .await;
        db.close().await;
        let done = done?;
        use std::io::Write as _;
        out.flush()?;
        println!(
            "wrote {} rows{} and {} checkpoints to {}{}",
            done.rows,
            a.since
                .map(|s| format!(" after row {s}"))
                .unwrap_or_default(),
            done.checkpoints,
            a.out.display(),
            if key.is_some() {
                ""
            } else {
                " (no signing key known here: its public key is not in the file)"
            }
        );
        Ok(())
    })
}

/// `cipherdrop audit public-key`.
fn public_key(a: &AuditKeyArgs) -> Result<()> {
    runtime()?.block_on(async {
        let Some((arn, key)) = signing_public_key(&a.data_dir, &a.key).await? else {
            bail!(
                "no audit signing key: none in {} and no --audit-signing-key-id",
                a.data_dir.join(SIGNING_KEY_FILE).display()
            );
        };
        match &a.out {
            Some(path) => {
                std::fs::write(path, key.to_pem())
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("public key of {arn} written to {}", path.display());
            }
            None => print!("{}", key.to_pem()),
        }
        Ok(())
    })
}
