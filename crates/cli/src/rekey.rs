//! `cipherdrop rekey`: moves stored files from one KMS key to another without re-uploading
//! them. It records a job in the database; a running `cipherdrop serve` (one replica) does the
//! work, and this command follows its progress until it ends.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use cipherdrop_server::rekey::{self, JobRow};
use clap::Args;

use crate::database::DbArgs;
use crate::process::runtime;

/// `cipherdrop rekey`.
#[derive(Args, Debug)]
pub struct RekeyArgs {
    /// The key the files are under now: its ARN or key id (the ARN stored with each file).
    #[arg(long, value_name = "KEY", required_unless_present = "status")]
    from: Option<String>,
    /// The key to move them to: a key id, ARN or alias. New uploads must already get their data
    /// keys elsewhere than --from (serve's --kms-key-id), or the job fails at once.
    #[arg(long, value_name = "KEY", required_unless_present_any = ["status", "dry_run"])]
    to: Option<String>,
    /// Only this account's files and keys.
    #[arg(long, value_name = "NAME")]
    account: Option<String>,
    /// Say what would move, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Most KMS requests per second the job makes (AWS's shared quota for cryptographic
    /// operations is thousands per second; the rest stays for uploads and downloads).
    #[arg(long, default_value_t = cipherdrop_api::REKEY_DEFAULT_RATE, value_parser = clap::value_parser!(u32).range(1..=i64::from(cipherdrop_api::REKEY_MAX_RATE)))]
    kms_rate: u32,
    /// Record the job and return; `--status` shows it later.
    #[arg(long)]
    detach: bool,
    /// List the jobs and their progress.
    #[arg(long, conflicts_with_all = ["from", "to", "dry_run", "detach"])]
    status: bool,
    /// The server's data folder.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    #[command(flatten)]
    db: DbArgs,
}

/// Runs `cipherdrop rekey`.
pub fn run(args: RekeyArgs) -> Result<()> {
    runtime()?.block_on(async {
        let db = args.db.open(&args.data_dir).await?;
        if args.status {
            let jobs = rekey::jobs(&db).await.map_err(|e| anyhow!(e.message))?;
            if jobs.is_empty() {
                println!("no key rotation jobs");
            }
            for job in jobs {
                println!("{}", line(&job));
            }
            return Ok(());
        }
        let given = args.from.as_deref().unwrap_or_default();
        let from = rekey::stored_key(&db, given)
            .await
            .map_err(|e| anyhow!(e.message))?
            .map_err(|why| anyhow!(why))?;
        if args.dry_run {
            let id = match &args.account {
                Some(name) => Some(
                    cipherdrop_server::admin::user_id(&db, name)
                        .await?
                        .ok_or_else(|| anyhow!("no account is called {name}"))?,
                ),
                None => None,
            };
            let left = rekey::remaining(&db, &from, id.as_deref(), None)
                .await
                .map_err(|e| anyhow!(e.message))?;
            println!(
                "would move {} files ({}) and {} metadata and link set keys from {from}{}; \
                 {} unfinished uploads would be waited for. Nothing was changed.",
                left.files,
                size(u64::try_from(left.bytes).unwrap_or(0)),
                left.keys,
                args.to.as_deref().map(|t| format!(" to {t}")).unwrap_or_default(),
                left.pending
            );
            return Ok(());
        }
        let to = args.to.as_deref().unwrap_or_default();
        let job = rekey::create_for(&db, &from, to, args.account.as_deref(), args.kms_rate)
            .await
            .map_err(|e| anyhow!(e.message))?;
        println!(
            "key rotation job {} recorded: from {from} to {to}; a running `cipherdrop serve` moves the files",
            job.id
        );
        if args.detach {
            return Ok(());
        }
        follow(&db, &job.id).await
    })
}

/// Prints the job's progress until it ends; an error if it failed.
async fn follow(db: &cipherdrop_server::db::Db, id: &str) -> Result<()> {
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    let (mut last, mut told) = (String::new(), false);
    loop {
        let job = rekey::job(db, id)
            .await
            .map_err(|e| anyhow!(e.message))?
            .ok_or_else(|| anyhow!("job {id} is gone"))?;
        let now = line(&job);
        if now != last {
            if terminal {
                eprint!("\r\x1b[2K{now}");
            } else {
                eprintln!("{now}");
            }
            last = now;
        }
        match job.state.as_str() {
            "done" => {
                if terminal {
                    eprintln!();
                }
                println!(
                    "done: {} files ({}) and {} keys moved to {}",
                    job.files_done,
                    size(u64::try_from(job.bytes_done).unwrap_or(0)),
                    job.keys_done,
                    job.to_key
                );
                return Ok(());
            }
            "failed" => {
                if terminal {
                    eprintln!();
                }
                bail!("key rotation job {id} failed: {}", job.message);
            }
            "queued" if !told && started.elapsed() > Duration::from_secs(15) => {
                eprintln!(
                    "\nno server has taken the job yet: it runs inside `cipherdrop serve` (with the same database)"
                );
                told = true;
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One line on a job: its state, files and bytes, and an estimate of the time left.
fn line(job: &JobRow) -> String {
    let job = job.clone().to_api(None);
    let eta = job
        .seconds_left(cipherdrop_server::db::now())
        .map(|secs| format!(", about {secs} s left"))
        .unwrap_or_default();
    let message = if job.message.is_empty() {
        String::new()
    } else {
        format!(" — {}", job.message)
    };
    format!(
        "{} {}: {}/{} files, {} of {}{}{}{eta}{message}",
        job.id,
        job.state,
        job.files_done,
        job.files_total,
        size(job.bytes_done),
        size(job.bytes_total),
        if job.files_failed > 0 {
            format!(", {} failed", job.files_failed)
        } else {
            String::new()
        },
        if job.keys_done > 0 {
            format!(", {} keys", job.keys_done)
        } else {
            String::new()
        },
    )
}

fn size(bytes: u64) -> String {
    let b = bytes as f64;
    match b {
        b if b >= 1024.0 * 1024.0 * 1024.0 => format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0)),
        b if b >= 1024.0 * 1024.0 => format!("{:.1} MiB", b / (1024.0 * 1024.0)),
        b if b >= 1024.0 => format!("{:.1} KiB", b / 1024.0),
        b => format!("{b} B"),
    }
}
