//! `cipherdrop backup` and `cipherdrop restore`: the data folder of a one-machine deployment
//! (SQLite, the embedded KMS and S3) copied while the server runs, the embedded KMS's master key
//! kept apart, and put back on a fresh machine only once everything in it checks: every file's
//! digest, the master key opening the KMS's keys, the audit chain, every stored object there.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use aws_lc_rs::digest;
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::database::database_path;
use crate::process::runtime;
use crate::serve::EMBEDDED_BUCKET;

/// The manifest's name in a backup folder; written last, so a folder without one is unfinished.
const MANIFEST: &str = "manifest.json";
/// The manifest's format.
const FORMAT: u32 = 1;
/// The SQLite files of a live database, replaced in a backup by one consistent copy.
const LIVE_DATABASE: [&str; 4] = [
    "cipherdrop.db",
    "cipherdrop.db-wal",
    "cipherdrop.db-shm",
    "cipherdrop.db-journal",
];

/// `cipherdrop backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The server's data folder (it may be running).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// The backup folder to make (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Where `serve` finds the embedded KMS's master key, if not in the data folder.
    #[arg(long, value_name = "PATH")]
    kms_master_key: Option<PathBuf>,
    /// Write a copy of the master key here: somewhere apart from the backup (another medium or
    /// a secrets store). Required when the master key is in the data folder.
    #[arg(long, value_name = "PATH")]
    kms_master_key_out: Option<PathBuf>,
}

/// `cipherdrop restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup folder.
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The data folder to make (must not exist, or be empty).
    #[arg(long)]
    data_dir: PathBuf,
    /// The embedded KMS's master key the backup's keys are encrypted under; installed as the
    /// restored folder's `kms/master.key`.
    #[arg(long, value_name = "PATH")]
    kms_master_key: Option<PathBuf>,
}

#[derive(Serialize, Deserialize, Debug)]
struct Manifest {
    format: u32,
    made_at_ms: u128,
    version: String,
    /// Objects the database names, all in the backup (or `None`: in an external bucket).
    objects: Option<u64>,
    /// The master key's fingerprint, when the backup has the embedded KMS.
    kms_master_key: Option<String>,
    files: Vec<FileEntry>,
}

#[derive(Serialize, Deserialize, Debug)]
struct FileEntry {
    path: String,
    size: u64,
    sha256: String,
}

/// Removes a folder this command made unless it is kept: a failed run leaves nothing behind.
struct Made {
    path: PathBuf,
    keep: bool,
}

impl Drop for Made {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Fails unless `dir` does not exist or is an empty folder.
fn require_fresh(dir: &Path, what: &str) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("{what} {} is not a folder", dir.display()))?
            .next()
            .is_none();
        if !empty {
            bail!(
                "{what} {} is not empty: give a new folder (nothing was changed)",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Makes `dir` for this command: it must not exist, or be an empty folder.
fn make_fresh(dir: &Path, what: &str) -> Result<Made> {
    require_fresh(dir, what)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    restrict(dir)?;
    Ok(Made {
        path: dir.to_owned(),
        keep: false,
    })
}

fn restrict(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// A fingerprint of the master key file that says which key it is and nothing of it.
fn fingerprint(master_key: &Path) -> Result<String> {
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(master_key).with_context(|| format!("reading {}", master_key.display()))?,
    );
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"cipherdrop kms master key fingerprint\0");
    ctx.update(&bytes);
    let full = ctx.finish();
    Ok(hex::encode(full.as_ref().get(..16).unwrap_or_default()))
}

/// Copies `from` to `to` (made 0600), returning its length and SHA-256.
fn copy_digest(from: &Path, to: &Path) -> Result<(u64, String)> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut input =
        std::fs::File::open(from).with_context(|| format!("reading {}", from.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut output = options
        .open(to)
        .with_context(|| format!("writing {}", to.display()))?;
    let digested = digest_stream(&mut input, Some(&mut output))?;
    output.sync_all()?;
    Ok(digested)
}

/// Every regular file under `root`, as paths relative to it, sorted.
fn files_under(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(rel) = dirs.pop() {
        for entry in std::fs::read_dir(root.join(&rel))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = rel.join(entry.file_name());
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_file() {
                out.push(path);
            } else {
                bail!("{} is not a file or folder", root.join(path).display());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Whether the data folder's file `rel` belongs in a backup: not the live database (a snapshot
/// stands in), not the master key (kept apart), not a half-written file, not an unfinished
/// upload's parts in the embedded S3 (the sweeper aborts those).
fn belongs(rel: &Path) -> bool {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let top = rel.to_str().unwrap_or_default();
    if LIVE_DATABASE.contains(&top) || rel == Path::new("kms").join(cipherdrop_kms::MASTER_KEY_FILE)
    {
        return false;
    }
    if name.ends_with(".tmp") || (name.starts_with(".tmp.") && name.ends_with(".internal.part")) {
        return false;
    }
    let in_s3 = rel.starts_with("s3/buckets");
    !(in_s3
        && (name.starts_with(".upload_id-")
            || name.starts_with(".upload-")
            || name.contains(".upload-") && name.ends_with(".metadata.json")))
}

/// Checks that every object `db` names is under `s3` (the embedded S3's buckets folder) with
/// its length; the count.
async fn objects_present(db: &cipherdrop_server::db::Db, buckets: &Path) -> Result<u64> {
    let objects = cipherdrop_server::backup::stored_objects(db).await?;
    let mut missing = Vec::new();
    for o in &objects {
        let path = buckets.join(EMBEDDED_BUCKET).join(&o.s3_key);
        match std::fs::metadata(&path) {
            Ok(m) if m.len() == o.stored_size => {}
            _ => missing.push(o.s3_key.clone()),
        }
    }
    if !missing.is_empty() {
        bail!(
            "{} stored object(s) the database names are missing or of another length: {}",
            missing.len(),
            missing
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(objects.len() as u64)
}

/// `cipherdrop backup`.
pub fn backup(a: BackupArgs) -> Result<()> {
    let db_path = database_path(&a.data_dir);
    if !db_path.is_file() {
        bail!("no database at {} (nothing was changed)", db_path.display());
    }
    let in_folder = a.data_dir.join("kms").join(cipherdrop_kms::MASTER_KEY_FILE);
    let master = a
        .kms_master_key
        .clone()
        .or_else(|| in_folder.is_file().then(|| in_folder.clone()));
    if let Some(m) = &master
        && !m.is_file()
    {
        bail!("no KMS master key at {} (nothing was changed)", m.display());
    }
    if master.as_deref() == Some(in_folder.as_path()) && a.kms_master_key_out.is_none() {
        bail!(
            "the embedded KMS's master key is in the data folder: give --kms-master-key-out PATH, \
             somewhere apart from the backup, so that a restore can open the keys (nothing was changed)"
        );
    }
    if let Some(out) = &a.kms_master_key_out
        && out.exists()
    {
        bail!("{} exists already (nothing was changed)", out.display());
    }
    let mut made = make_fresh(&a.out, "the backup folder")?;

    runtime()?.block_on(async {
        let db = cipherdrop_server::db::open(&db_path)
            .await
            .context("opening the database")?;
        let snapshot = a.out.join("cipherdrop.db");
        let copied = cipherdrop_server::backup::snapshot_sqlite(&db, &snapshot).await;
        db.close().await;
        copied.context("copying the database")
    })?;

    let mut files = Vec::new();
    for rel in files_under(&a.data_dir)? {
        if !belongs(&rel) {
            continue;
        }
        let (size, sha256) = match copy_digest(&a.data_dir.join(&rel), &a.out.join(&rel)) {
            Ok(done) => done,
            // A file gone since the listing (a finished upload's parts, a rotated temp file).
            Err(_) if !a.data_dir.join(&rel).exists() => continue,
            Err(e) => return Err(e),
        };
        files.push(FileEntry {
            path: rel
                .to_str()
                .context("a file name that is not UTF-8")?
                .to_owned(),
            size,
            sha256,
        });
    }

    // Every object the copied database names must be in the copy (a file deleted between the
    // database's copy and the objects' is refused: run the backup again).
    let buckets = a.out.join("s3").join("buckets");
    let objects = if a.data_dir.join("s3").join("buckets").is_dir() {
        let snapshot = a.out.join("cipherdrop.db");
        Some(runtime()?.block_on(async {
            let db = cipherdrop_server::db::open(&snapshot).await?;
            let n = objects_present(&db, &buckets).await;
            db.close().await;
            n
        })?)
    } else {
        None
    };
    let _ = std::fs::remove_file(a.out.join("cipherdrop.db-wal"));
    let _ = std::fs::remove_file(a.out.join("cipherdrop.db-shm"));
    // (Digested after that check, which opened it.)
    let (size, sha256) = digest_of(&a.out.join("cipherdrop.db"))?;
    files.insert(
        0,
        FileEntry {
            path: "cipherdrop.db".to_owned(),
            size,
            sha256,
        },
    );

    let kms_master_key = match &master {
        Some(m) => {
            if let Some(out) = &a.kms_master_key_out {
                copy_digest(m, out).with_context(|| format!("writing {}", out.display()))?;
            }
            Some(fingerprint(m)?)
        }
        None => None,
    };
    let manifest = Manifest {
        format: FORMAT,
        made_at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        objects,
        kms_master_key,
        files,
    };
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    std::fs::write(a.out.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    made.keep = true;
    println!(
        "backup in {}: {} files, {bytes} bytes, {} stored objects{}",
        a.out.display(),
        manifest.files.len(),
        objects.map_or_else(|| "no".to_owned(), |n| n.to_string()),
        match (&manifest.kms_master_key, &a.kms_master_key_out) {
            (Some(_), Some(out)) => format!("; the KMS master key apart in {}", out.display()),
            (Some(_), None) => "; the KMS master key is not in it (keep yours apart)".to_owned(),
            (None, _) => String::new(),
        }
    );
    if objects.is_none() {
        println!(
            "the objects are in an external bucket: back it up with S3 versioning or replication"
        );
    }
    Ok(())
}

fn digest_of(path: &Path) -> Result<(u64, String)> {
    digest_stream(&mut std::fs::File::open(path)?, None)
}

/// Reads `input` to its end (writing it to `output`, if given): its length and SHA-256.
fn digest_stream(
    input: &mut impl std::io::Read,
    mut output: Option<&mut std::fs::File>,
) -> Result<(u64, String)> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        ctx.update(chunk);
        if let Some(out) = output.as_mut() {
            out.write_all(chunk)?;
        }
        size += n as u64;
    }
    Ok((size, hex::encode(ctx.finish().as_ref())))
}

/// `cipherdrop restore`.
pub fn restore(a: RestoreArgs) -> Result<()> {
    let text = std::fs::read(a.from.join(MANIFEST)).with_context(|| {
        format!(
            "{} has no {MANIFEST}: not a finished backup (nothing was changed)",
            a.from.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("{MANIFEST} is not a backup's manifest"))?;
    if manifest.format != FORMAT {
        bail!(
            "backup format {} is not one this version reads",
            manifest.format
        );
    }
    // The master key first: a wrong one changes nothing.
    match (&manifest.kms_master_key, &a.kms_master_key) {
        (Some(_), None) => bail!(
            "the backup's KMS keys are encrypted under a master key: give it with --kms-master-key (nothing was changed)"
        ),
        (Some(expected), Some(m)) if &fingerprint(m)? != expected => bail!(
            "{} is not the KMS master key this backup's keys are encrypted under (nothing was changed)",
            m.display()
        ),
        _ => {}
    }
    // Staged beside the target, moved into place only when everything checks.
    require_fresh(&a.data_dir, "the data folder")?;
    let stage_path = staging_path(&a.data_dir)?;
    let mut stage = make_fresh(&stage_path, "the staging folder")?;
    for f in &manifest.files {
        let rel = Path::new(&f.path);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            bail!(
                "the manifest names {:?}, outside the backup (nothing was changed)",
                f.path
            );
        }
        let (size, sha256) = copy_digest(&a.from.join(rel), &stage_path.join(rel))
            .with_context(|| format!("the backup's {}", f.path))?;
        if size != f.size || sha256 != f.sha256 {
            bail!(
                "the backup's {} is not what its manifest says (changed or damaged; nothing was changed)",
                f.path
            );
        }
    }
    if let Some(m) = &a.kms_master_key
        && manifest.kms_master_key.is_some()
    {
        let installed = stage_path.join("kms").join(cipherdrop_kms::MASTER_KEY_FILE);
        copy_digest(m, &installed)?;
        crate::kms::open(
            &stage_path.join("kms"),
            Some(&installed),
            "us-east-1",
            cipherdrop_kms::DEFAULT_ACCOUNT,
        )
        .context("the embedded KMS does not open with this master key (nothing was changed)")?;
    }
    let (rows, objects) = runtime()?.block_on(async {
        let db = cipherdrop_server::db::open(&database_path(&stage_path))
            .await
            .context("opening the backup's database")?;
        let checked = async {
            let chain = cipherdrop_server::audit::verify(&db).await?;
            if let Some(p) = chain.problems.first() {
                bail!("the backup's audit chain does not verify: {p} (nothing was changed)");
            }
            let buckets = stage_path.join("s3").join("buckets");
            let objects = if manifest.objects.is_some() {
                Some(objects_present(&db, &buckets).await?)
            } else {
                None
            };
            Ok((chain.rows, objects))
        }
        .await;
        db.close().await;
        checked
    })?;
    if a.data_dir.exists() {
        std::fs::remove_dir(&a.data_dir)?; // empty, checked above
    }
    std::fs::rename(&stage_path, &a.data_dir).with_context(|| {
        format!(
            "moving {} to {}",
            stage_path.display(),
            a.data_dir.display()
        )
    })?;
    stage.keep = true;
    println!(
        "restored into {}: {} files, {rows} audit rows verified, {} stored objects present{}",
        a.data_dir.display(),
        manifest.files.len(),
        objects.map_or_else(|| "no".to_owned(), |n| n.to_string()),
        if manifest.kms_master_key.is_some() {
            "; the KMS master key installed as kms/master.key"
        } else {
            ""
        }
    );
    println!(
        "start it: cipherdrop serve --data-dir {}",
        a.data_dir.display()
    );
    Ok(())
}

/// A fresh folder name beside `data_dir` (the same file system, so the last step is a rename).
fn staging_path(data_dir: &Path) -> Result<PathBuf> {
    let name = data_dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("the data folder needs a name")?;
    Ok(data_dir.with_file_name(format!(".{name}.restoring-{:08x}", rand::random::<u32>())))
}
