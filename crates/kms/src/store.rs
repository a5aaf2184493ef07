//! Keys, aliases and their persistence: one JSON file per key plus an alias file, each written
//! atomically (temp file, fsync, rename, fsync of the folder) with mode 0600.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

/// A key's lifecycle state, as AWS names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Refuses cryptographic operations until enabled.
    Disabled,
    /// Scheduled for deletion; refuses cryptographic operations.
    PendingDeletion,
}

/// One backing key of a KMS key.
#[derive(Clone, Serialize, Deserialize)]
pub struct Material {
    /// 1 for the original, +1 per rotation.
    pub version: u32,
    /// Seconds since the epoch.
    pub created: f64,
    /// `None` for the original, else `ON_DEMAND` or `AUTOMATIC`.
    pub rotation_type: Option<String>,
    #[serde(with = "b64_key")]
    pub(crate) key: Zeroizing<[u8; 32]>,
}

mod b64_key {
    use super::*;
    pub fn serialize<S: serde::Serializer>(
        k: &Zeroizing<[u8; 32]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(&k[..]))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Zeroizing<[u8; 32]>, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = Zeroizing::new(
            B64.decode(text.as_bytes())
                .map_err(serde::de::Error::custom)?,
        );
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| serde::de::Error::custom("key length"))?;
        Ok(Zeroizing::new(arr))
    }
}

/// A KMS key: metadata and every backing key it ever had.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key id.
    pub id: Uuid,
    /// Free text.
    pub description: String,
    /// Seconds since the epoch.
    pub created: f64,
    /// Lifecycle state.
    pub state: KeyState,
    /// When a pending deletion takes effect.
    pub deletion_date: Option<f64>,
    /// The waiting period of a pending deletion.
    pub pending_window_days: Option<u32>,
    /// Whether automatic rotation is on.
    pub rotation_enabled: bool,
    /// Days between automatic rotations.
    pub rotation_period_days: u32,
    /// When the next automatic rotation is due.
    pub next_rotation: Option<f64>,
    /// Tags, in the order given.
    pub tags: Vec<(String, String)>,
    /// Backing keys, oldest first; the last one encrypts.
    pub materials: Vec<Material>,
}

impl KeyRecord {
    /// The backing key that encrypts now.
    pub fn current(&self) -> Option<&Material> {
        self.materials.last()
    }

    /// The backing key of a given version.
    pub fn material(&self, version: u32) -> Option<&Material> {
        self.materials.iter().find(|m| m.version == version)
    }

    /// Adds a fresh backing key.
    pub fn rotate(&mut self, now: f64, kind: &str) {
        let version = self.materials.last().map_or(1, |m| m.version + 1);
        self.materials.push(Material {
            version,
            created: now,
            rotation_type: Some(kind.to_owned()),
            key: fresh_key(),
        });
    }
}

/// A fresh random 256-bit backing key.
pub fn fresh_key() -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    rand::Rng::fill_bytes(&mut rand::rng(), &mut k[..]);
    k
}

/// An alias.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AliasRecord {
    /// The key it points at.
    pub target: Uuid,
    /// Seconds since the epoch.
    pub created: f64,
    /// Seconds since the epoch.
    pub updated: f64,
}

/// The folder layout: `keys/<id>.json`, `aliases.json`.
pub struct Disk {
    dir: PathBuf,
}

impl Disk {
    /// Opens (creating) the store folder.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.join("keys"))?;
        restrict_dir(dir)?;
        restrict_dir(&dir.join("keys"))?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// Loads every key and alias. Leftover temp files of an interrupted write are removed.
    pub fn load(
        &self,
    ) -> std::io::Result<(BTreeMap<Uuid, KeyRecord>, BTreeMap<String, AliasRecord>)> {
        let mut keys = BTreeMap::new();
        for entry in std::fs::read_dir(self.dir.join("keys"))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".tmp") {
                std::fs::remove_file(&path)?;
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let rec: KeyRecord = serde_json::from_slice(&std::fs::read(&path)?)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
            keys.insert(rec.id, rec);
        }
        let aliases_path = self.dir.join("aliases.json");
        let aliases = match std::fs::read(&aliases_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", aliases_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok((keys, aliases))
    }

    /// Writes one key atomically.
    pub fn save_key(&self, rec: &KeyRecord) -> std::io::Result<()> {
        let bytes = Zeroizing::new(serde_json::to_vec(rec).map_err(std::io::Error::other)?);
        write_atomic(
            &self.dir.join("keys").join(format!("{}.json", rec.id)),
            &bytes,
        )
    }

    /// Removes a deleted key's file.
    pub fn remove_key(&self, id: Uuid) -> std::io::Result<()> {
        std::fs::remove_file(self.dir.join("keys").join(format!("{id}.json")))?;
        sync_dir(&self.dir.join("keys"))
    }

    /// Writes the alias table atomically.
    pub fn save_aliases(&self, aliases: &BTreeMap<String, AliasRecord>) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(aliases).map_err(std::io::Error::other)?;
        write_atomic(&self.dir.join("aliases.json"), &bytes)
    }
}

/// Temp file (mode 0600) in the same folder, fsync, rename over the target, fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension(format!("{}.tmp", Uuid::new_v4().simple()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn restrict_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
