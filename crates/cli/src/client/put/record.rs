//! The record of an upload under way, which `put --resume` takes up:
//! `$XDG_STATE_HOME/cipherdrop/uploads/{upload id}.json` (what re-creates the message) and
//! `.parts` (one line per part S3 acknowledged), mode 0600, in a folder of mode 0700. It holds
//! no key in the clear: the data key comes back only through the server's audited release.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};
use serde::{Deserialize, Serialize};

use crate::client::remote::write_private;

/// A part S3 acknowledged, as the record keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct PartRecord {
    pub(super) etag: String,
    pub(super) size: u64,
    /// SHA-256 of the part's ciphertext, hex.
    pub(super) sha256: String,
}

/// What re-creates an interrupted upload's message byte for byte (the file, the message id, the
/// suite and frame length, a 0x0578 signing key sealed under the data key), and the parts S3
/// acknowledged.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) server: String,
    pub(super) upload_id: String,
    pub(super) path: PathBuf,
    pub(super) size: u64,
    /// The file's modification time, "seconds.nanoseconds" since the Unix epoch.
    pub(super) modified: String,
    pub(super) suite: u16,
    pub(super) frame_length: u32,
    /// Hex.
    pub(super) message_id: String,
    /// The 0x0578 signing key, sealed under the data key for this upload id, base64.
    pub(super) signing_key: Option<String>,
    /// When the server sweeps the upload if it is still pending (Unix seconds).
    pub(super) abandon_at: i64,
    /// Kept in the record's log of parts, not in its header.
    #[serde(skip)]
    pub(super) parts: BTreeMap<u32, PartRecord>,
}

/// The folder of records.
pub(super) struct Records {
    dir: PathBuf,
}

/// A server-given upload id is a file name here: a UUID's characters only.
fn safe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

impl Records {
    pub(super) fn open() -> Result<Self> {
        let base = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .context("no HOME or XDG_STATE_HOME to keep upload records in")?;
        let dir = base.join("cipherdrop").join("uploads");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self { dir })
    }

    /// The record's two files: the header (`.json`, written whole) and the log of acknowledged
    /// parts (`.parts`, one JSON line appended per part, so a long upload's record costs O(1)
    /// per part).
    fn paths_of(&self, upload_id: &str) -> Result<(PathBuf, PathBuf)> {
        if !safe_id(upload_id) {
            return Err(anyhow!("the server named an upload {upload_id:?}"));
        }
        Ok((
            self.dir.join(format!("{upload_id}.json")),
            self.dir.join(format!("{upload_id}.parts")),
        ))
    }

    fn load(&self, header: &Path) -> Result<Record> {
        let mut r: Record = serde_json::from_slice(&std::fs::read(header)?)?;
        let (_, log) = self.paths_of(&r.upload_id)?;
        if let Ok(text) = std::fs::read_to_string(&log) {
            // A line cut short by a crash is the last one: what it would have said is that a
            // part was acknowledged, and without it the part is simply sent again.
            for line in text.lines() {
                if let Ok(l) = serde_json::from_str::<PartLine>(line) {
                    r.parts.insert(l.n, l.part);
                }
            }
        }
        Ok(r)
    }

    /// Every readable record for `server` (one that cannot be read is skipped, with a warning).
    pub(super) fn all(&self, server: &str) -> Result<Vec<Record>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match self.load(&path) {
                Ok(r) if r.server == server => found.push(r),
                Ok(_) => {}
                Err(e) => eprintln!("skipping the upload record {}: {e}", path.display()),
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    pub(super) fn find(&self, server: &str, path: &Path) -> Result<Option<Record>> {
        Ok(self.all(server)?.into_iter().find(|r| r.path == path))
    }

    /// Writes the record whole or not at all (temporary files renamed over it): the log first,
    /// so a header never names parts that are not in it.
    pub(super) fn save(&self, r: &Record) -> Result<()> {
        let (header, log) = self.paths_of(&r.upload_id)?;
        let mut lines = Vec::new();
        for (&n, part) in &r.parts {
            serde_json::to_writer(
                &mut lines,
                &PartLine {
                    n,
                    part: part.clone(),
                },
            )?;
            lines.push(b'\n');
        }
        for (path, bytes) in [(log, lines), (header, serde_json::to_vec_pretty(r)?)] {
            let tmp = path.with_extension("tmp");
            write_private(&tmp, &bytes)?;
            std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }

    /// Appends one acknowledged part to the record's log.
    pub(super) fn append(&self, upload_id: &str, n: u32, part: &PartRecord) -> Result<()> {
        use std::io::Write as _;
        let (_, log) = self.paths_of(upload_id)?;
        let mut line = serde_json::to_vec(&PartLine {
            n,
            part: part.clone(),
        })?;
        line.push(b'\n');
        let mut opts = std::fs::OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        opts.open(&log)
            .and_then(|mut f| f.write_all(&line))
            .with_context(|| format!("writing {}", log.display()))
    }

    pub(super) fn remove(&self, upload_id: &str) {
        if let Ok((header, log)) = self.paths_of(upload_id) {
            let _ = std::fs::remove_file(header);
            let _ = std::fs::remove_file(log);
        }
    }
}

/// One line of a record's log of parts.
#[derive(Serialize, Deserialize)]
struct PartLine {
    n: u32,
    #[serde(flatten)]
    part: PartRecord,
}

/// The file's size and modification time, as the record compares them.
pub(super) fn identity(meta: &std::fs::Metadata) -> Result<(u64, String)> {
    let modified = meta
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok((
        meta.len(),
        format!("{}.{:09}", modified.as_secs(), modified.subsec_nanos()),
    ))
}

/// SHA-256, hex.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}
