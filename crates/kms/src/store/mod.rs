//! Keys, aliases and their persistence: one JSON file per key plus an alias file, each written
//! atomically (temp file, fsync, rename, fsync of the folder) with mode 0600. A key file holds its
//! backing keys (or, for an asymmetric key, its private key) only sealed under the master key
//! (`master`); files of the older format, which held backing keys in base64, are read and
//! rewritten sealed at start. A file without a key spec is a symmetric key's, as every file was
//! before there were others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_keyfile::{sync_dir, write_atomic};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::master::MasterKey;
use crate::signing::{ECDSA_SHA_384, PrivateKey};

/// A key's lifecycle state, as AWS names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Refuses cryptographic operations until enabled.
    Disabled,
    /// Scheduled for deletion; refuses cryptographic operations.
    PendingDeletion,
    /// A key of imported material (`Origin` `EXTERNAL`) without its material: made so, or its
    /// material deleted or expired. Refuses cryptographic operations until the material is
    /// imported (again).
    PendingImport,
}

/// Where a key's material comes from, as AWS names it (`Origin`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Origin {
    /// Made by this service.
    #[default]
    AwsKms,
    /// Imported by the key's owner (`ImportKeyMaterial`).
    External,
}

impl Origin {
    /// The name AWS gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::AwsKms => "AWS_KMS",
            Origin::External => "EXTERNAL",
        }
    }

    /// Whether it is the default (then absent from the file, as in files from before imports).
    pub fn is_aws_kms(&self) -> bool {
        *self == Origin::AwsKms
    }
}

/// A multi-Region key's regions, the same in the record of each: which region holds the primary
/// key and which hold replicas. Its key id (`mrk-` and 32 hex digits, a version-8 UUID inside)
/// and backing keys are the same in every region; its ARN names the region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiRegion {
    /// The primary key's region.
    pub primary: String,
    /// The replicas' regions, in the order they were made.
    pub replicas: Vec<String>,
}

impl MultiRegion {
    /// Every region of the key, the primary's first.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.primary.as_str()).chain(self.replicas.iter().map(String::as_str))
    }
}

/// A fresh id of a multi-Region key: a random version-8 UUID, written `mrk-<32 hex digits>`.
pub fn new_mrk_id() -> Uuid {
    let mut bytes = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Whether `id` is a multi-Region key's.
pub fn is_mrk(id: Uuid) -> bool {
    id.get_version_num() == 8
}

/// A key id as AWS writes it: a UUID, or `mrk-` and 32 hex digits for a multi-Region key.
pub fn key_id_text(id: Uuid) -> String {
    if is_mrk(id) {
        format!("mrk-{}", id.simple())
    } else {
        id.to_string()
    }
}

/// The key a key id names (as written by [`key_id_text`], nothing else).
pub fn parse_key_id(text: &str) -> Option<Uuid> {
    match text.strip_prefix("mrk-") {
        Some(hex) if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Uuid::try_parse(hex).ok().filter(|id| is_mrk(*id))
        }
        Some(_) => None,
        None => Uuid::try_parse(text)
            .ok()
            .filter(|id| !is_mrk(*id) && text.len() == 36),
    }
}

/// What a key of imported material remembers of its import. The material itself is a backing
/// key like any other (version 1, sealed under the master key) while imported; once deleted or
/// expired, only its digest stays, so that only the same material can be imported again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Import {
    /// SHA-256 of the key id and the material (hex): which material the key was made for.
    pub digest: String,
    /// `KEY_MATERIAL_EXPIRES` or `KEY_MATERIAL_DOES_NOT_EXPIRE`, of the last import.
    pub expiration_model: String,
    /// When the material expires (seconds since the epoch), for `KEY_MATERIAL_EXPIRES`.
    pub valid_to: Option<f64>,
}

/// What kind of key a KMS key is, as AWS names it (`KeySpec`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KeySpec {
    /// AES-256-GCM backing keys; `ENCRYPT_DECRYPT`.
    #[default]
    SymmetricDefault,
    /// A P-384 key pair; `SIGN_VERIFY` with `ECDSA_SHA_384`.
    EccNistP384,
}

impl KeySpec {
    /// The name AWS gives it (`KeySpec`, and the deprecated `CustomerMasterKeySpec`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeySpec::SymmetricDefault => "SYMMETRIC_DEFAULT",
            KeySpec::EccNistP384 => "ECC_NIST_P384",
        }
    }

    /// Whether it is the symmetric spec (whose files do not name it).
    pub fn is_symmetric(&self) -> bool {
        *self == KeySpec::SymmetricDefault
    }

    /// The `KeyUsage` keys of this spec have.
    pub fn key_usage(self) -> &'static str {
        match self {
            KeySpec::SymmetricDefault => "ENCRYPT_DECRYPT",
            KeySpec::EccNistP384 => "SIGN_VERIFY",
        }
    }

    /// The `EncryptionAlgorithms` of a key of this spec (symmetric keys only).
    pub fn encryption_algorithms(self) -> Option<[&'static str; 1]> {
        self.is_symmetric().then_some(["SYMMETRIC_DEFAULT"])
    }

    /// The `SigningAlgorithms` of a key of this spec (signing keys only).
    pub fn signing_algorithms(self) -> Option<[&'static str; 1]> {
        (!self.is_symmetric()).then_some([ECDSA_SHA_384])
    }
}

/// One backing key of a KMS key, in memory. It has no `Serialize`: it reaches a file only sealed,
/// as a [`StoredMaterial`].
#[derive(Clone)]
pub struct Material {
    /// 1 for the original, +1 per rotation.
    pub version: u32,
    /// Seconds since the epoch.
    pub created: f64,
    /// `None` for the original, else `ON_DEMAND` or `AUTOMATIC`.
    pub rotation_type: Option<String>,
    pub(crate) key: Zeroizing<[u8; 32]>,
}

/// One backing key as a key file holds it.
#[derive(Serialize, Deserialize)]
pub struct StoredMaterial {
    version: u32,
    created: f64,
    rotation_type: Option<String>,
    /// `nonce ‖ AES-256-GCM(backing key) ‖ tag` under the master key, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed_key: Option<String>,
    /// The older format: the backing key itself, base64. Read (to migrate it), never written.
    #[serde(
        default,
        rename = "key",
        skip_serializing,
        deserialize_with = "b64_key"
    )]
    plain_key: Option<Zeroizing<[u8; 32]>>,
}

/// The older format's base64 backing key, read into wiped buffers.
fn b64_key<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Zeroizing<[u8; 32]>>, D::Error> {
    let text = Zeroizing::new(String::deserialize(d)?);
    let mut buf = Zeroizing::new([0u8; 48]);
    let n = B64
        .decode_slice(text.as_bytes(), &mut buf[..])
        .map_err(serde::de::Error::custom)?;
    let mut key = Zeroizing::new([0u8; 32]);
    match buf.get(..n) {
        Some(bytes) if n == 32 => key.copy_from_slice(bytes),
        _ => return Err(serde::de::Error::custom("key length")),
    }
    Ok(Some(key))
}

/// A KMS key: metadata and every backing key it ever had (in memory `Material`, in its file
/// `StoredMaterial`), or its private key (in memory `PrivateKey`, in its file the base64 of the
/// sealed scalar); the file's fields are these, in this order.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyRecord<M = Material, P = PrivateKey> {
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
    /// Backing keys, oldest first; the last one encrypts. None for an asymmetric key.
    pub materials: Vec<M>,
    /// `SYMMETRIC_DEFAULT` (then absent from the file, as in files from before there were other
    /// specs) or `ECC_NIST_P384`.
    #[serde(default, skip_serializing_if = "KeySpec::is_symmetric")]
    pub key_spec: KeySpec,
    /// The private key of an asymmetric key (never rotated); `None` for a symmetric key.
    #[serde(
        default,
        rename = "sealed_private_key",
        skip_serializing_if = "Option::is_none"
    )]
    pub private_key: Option<P>,
    /// `AWS_KMS` (then absent from the file) or `EXTERNAL`.
    #[serde(default, skip_serializing_if = "Origin::is_aws_kms")]
    pub origin: Origin,
    /// For an `EXTERNAL` key once material was imported: which, and until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<Import>,
    /// For a multi-Region key: its primary's and its replicas' regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_region: Option<MultiRegion>,
}

impl<M, P> KeyRecord<M, P> {
    /// The same metadata with each backing key converted by `f` and the private key by `g`.
    fn convert<N, Q, E>(
        &self,
        f: impl FnMut(&M) -> Result<N, E>,
        g: impl FnOnce(&P) -> Result<Q, E>,
    ) -> Result<KeyRecord<N, Q>, E> {
        Ok(KeyRecord {
            id: self.id,
            description: self.description.clone(),
            created: self.created,
            state: self.state,
            deletion_date: self.deletion_date,
            pending_window_days: self.pending_window_days,
            rotation_enabled: self.rotation_enabled,
            rotation_period_days: self.rotation_period_days,
            next_rotation: self.next_rotation,
            tags: self.tags.clone(),
            materials: self.materials.iter().map(f).collect::<Result<_, E>>()?,
            key_spec: self.key_spec,
            private_key: self.private_key.as_ref().map(g).transpose()?,
            origin: self.origin,
            import: self.import.clone(),
            multi_region: self.multi_region.clone(),
        })
    }
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

    /// Deletes imported material (`DeleteImportedKeyMaterial`, or its `ValidTo` passed): the
    /// backing key is gone, the digest stays; the key waits for an import unless it is pending
    /// deletion.
    pub fn drop_imported_material(&mut self) {
        self.materials.clear();
        if self.state != KeyState::PendingDeletion {
            self.state = KeyState::PendingImport;
        }
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

/// Keys and aliases as loaded.
pub type Loaded = (BTreeMap<Uuid, KeyRecord>, BTreeMap<String, AliasRecord>);

/// The folder layout: `keys/<id>.json`, `aliases.json`; and the master key the key files are
/// sealed under.
pub struct Disk {
    dir: PathBuf,
    master: MasterKey,
}

impl Disk {
    /// Opens (creating) the store folder and loads every key and alias. Leftover temp files of an
    /// interrupted write are removed.
    ///
    /// The master key is read from `master_key`. If that file does not exist it is made, unless a
    /// key file holds sealed backing keys: then opening fails (those keys need the master key
    /// they were sealed under, and a new one would not open them). A master key that does not
    /// open a sealed backing key fails too, naming the file. Key files of the older, unsealed
    /// format are rewritten sealed (atomically) before this returns.
    pub fn open(dir: &Path, master_key: &Path) -> std::io::Result<(Self, Loaded)> {
        std::fs::create_dir_all(dir.join("keys"))?;
        restrict_dir(dir)?;
        restrict_dir(&dir.join("keys"))?;

        let mut stored = Vec::new();
        for entry in std::fs::read_dir(dir.join("keys"))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".tmp") {
                std::fs::remove_file(&path)?;
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            // An older file holds backing keys in base64: its bytes are wiped once parsed.
            let bytes = Zeroizing::new(std::fs::read(&path)?);
            let rec: KeyRecord<StoredMaterial, String> = serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
            stored.push((path, rec));
        }

        let sealed = stored
            .iter()
            .filter(|(_, r)| {
                r.private_key.is_some() || r.materials.iter().any(|m| m.sealed_key.is_some())
            })
            .count();
        let master = match MasterKey::load(master_key)? {
            Some(m) => m,
            None if sealed > 0 => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "the KMS master key {} does not exist, but {sealed} key file(s) in {} are \
                         encrypted under a master key: restore that file (or give its path); \
                         a new master key would not open them",
                        master_key.display(),
                        dir.join("keys").display()
                    ),
                ));
            }
            None => MasterKey::create(master_key)?,
        };

        let disk = Self {
            dir: dir.to_owned(),
            master,
        };
        let mut keys = BTreeMap::new();
        let mut migrated = 0usize;
        for (path, rec) in &stored {
            check_shape(rec, path)?;
            let mut plain = false;
            let rec = rec.convert(
                |m| {
                    let key = disk.unseal(rec.id, m, path)?;
                    plain |= m.sealed_key.is_none();
                    Ok::<_, std::io::Error>(Material {
                        version: m.version,
                        created: m.created,
                        rotation_type: m.rotation_type.clone(),
                        key,
                    })
                },
                |sealed| disk.unseal_private_key(rec.id, sealed, path),
            )?;
            if plain {
                disk.save_key(&rec)?;
                migrated += 1;
            }
            keys.insert(rec.id, rec);
        }
        if migrated > 0 {
            tracing::info!(
                migrated,
                master_key = %disk.master.path().display(),
                "KMS key files of the older format rewritten with their backing keys encrypted"
            );
        }

        let aliases_path = dir.join("aliases.json");
        let aliases = match std::fs::read(&aliases_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", aliases_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok((disk, (keys, aliases)))
    }

    /// The backing key a file holds: opened with the master key, or (older format) as it is.
    fn unseal(
        &self,
        id: Uuid,
        m: &StoredMaterial,
        path: &Path,
    ) -> std::io::Result<Zeroizing<[u8; 32]>> {
        let bad = |why: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: backing key version {} of key {id} {why}",
                    path.display(),
                    m.version
                ),
            )
        };
        match (&m.sealed_key, &m.plain_key) {
            (Some(text), _) => {
                let sealed = B64
                    .decode(text.as_bytes())
                    .map_err(|_| bad("is not base64"))?;
                self.master.open(id, m.version, &sealed).ok_or_else(|| {
                    bad(&format!(
                        "does not open with the master key {}: it is another master key, or \
                             the file was altered or holds another key's backing key",
                        self.master.path().display()
                    ))
                })
            }
            (None, Some(key)) => Ok(key.clone()),
            (None, None) => Err(bad("is missing")),
        }
    }

    /// The private key a file holds, opened with the master key.
    fn unseal_private_key(&self, id: Uuid, text: &str, path: &Path) -> std::io::Result<PrivateKey> {
        let bad = |why: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: the private key of key {id} {why}", path.display()),
            )
        };
        let sealed = B64
            .decode(text.as_bytes())
            .map_err(|_| bad("is not base64"))?;
        let scalar = self.master.open_private_key(id, &sealed).ok_or_else(|| {
            bad(&format!(
                "does not open with the master key {}: it is another master key, or the file \
                 was altered or holds another key's private key",
                self.master.path().display()
            ))
        })?;
        PrivateKey::from_scalar(&scalar).ok_or_else(|| bad("is not a P-384 private key"))
    }

    /// Writes one key atomically, its backing keys (or private key) sealed under fresh nonces.
    pub fn save_key(&self, rec: &KeyRecord) -> std::io::Result<()> {
        let stored = rec.convert(
            |m| {
                Ok::<_, std::io::Error>(StoredMaterial {
                    version: m.version,
                    created: m.created,
                    rotation_type: m.rotation_type.clone(),
                    sealed_key: Some(B64.encode(self.master.seal(rec.id, m.version, &m.key))),
                    plain_key: None,
                })
            },
            |k| Ok(B64.encode(self.master.seal_private_key(rec.id, &k.scalar()))),
        )?;
        let bytes = serde_json::to_vec(&stored).map_err(std::io::Error::other)?;
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

/// A key file's record must be what its key spec says: a symmetric key has backing keys and no
/// private key; an asymmetric key a private key and no backing keys. A key of imported material
/// is symmetric and has its one backing key exactly when it is not waiting for its import.
fn check_shape(rec: &KeyRecord<StoredMaterial, String>, path: &Path) -> std::io::Result<()> {
    let ok = match (rec.key_spec, rec.origin) {
        (KeySpec::SymmetricDefault, Origin::AwsKms) => {
            rec.private_key.is_none() && rec.import.is_none()
        }
        (KeySpec::SymmetricDefault, Origin::External) => {
            rec.private_key.is_none()
                && match rec.state {
                    KeyState::Enabled | KeyState::Disabled => {
                        rec.materials.len() == 1 && rec.import.is_some()
                    }
                    KeyState::PendingImport => rec.materials.is_empty(),
                    KeyState::PendingDeletion => rec.materials.len() <= 1,
                }
        }
        (KeySpec::EccNistP384, Origin::AwsKms) => {
            rec.private_key.is_some() && rec.materials.is_empty()
        }
        (KeySpec::EccNistP384, Origin::External) => false,
    };
    if ok {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "{}: key {} of spec {} holds {} backing key(s) and {} private key",
            path.display(),
            rec.id,
            rec.key_spec.as_str(),
            rec.materials.len(),
            if rec.private_key.is_some() { "a" } else { "no" }
        ),
    ))
}

fn restrict_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
