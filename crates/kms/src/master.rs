//! The master key: 256 bits in a file of their own (made on first start, mode 0600, atomically),
//! under which every backing key is stored at rest, AES-256-GCM with the key's id and material
//! version as AAD, so a stored backing key opens only as the backing key it was written for.
//!
//! The file holds the key in base64 (one line) or as 32 raw bytes. It is kept apart from the key
//! files it protects: by default `<data dir>/master.key`, but any path can be given, and backups of
//! the data folder should leave it out.

use std::path::{Path, PathBuf};

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::store::write_atomic;

/// The master key file's name in the data folder, unless another path is given.
pub const MASTER_KEY_FILE: &str = "master.key";

/// Domain separation of the AAD: this format of a sealed backing key.
const AAD_LABEL: &[u8] = b"cipherdrop-kms/backing-key/v1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Length of a sealed backing key: nonce, 32 bytes of ciphertext, tag.
pub const SEALED_LEN: usize = NONCE_LEN + 32 + TAG_LEN;

/// The master key (wiped on drop, never printed).
pub struct MasterKey {
    key: Zeroizing<[u8; 32]>,
    path: PathBuf,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// Reads the master key at `path`; `None` if there is no such file.
    pub fn load(path: &Path) -> std::io::Result<Option<Self>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("reading the KMS master key {}: {e}", path.display()),
                ));
            }
        };
        let key = parse(&bytes).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the KMS master key file {} does not hold a 256-bit key (32 bytes, or their base64)",
                    path.display()
                ),
            )
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            if std::fs::metadata(path)?.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    "the KMS master key file is readable by other users; chmod 600 it"
                );
            }
        }
        Ok(Some(Self {
            key,
            path: path.to_owned(),
        }))
    }

    /// Makes a fresh random master key and stores it at `path` (atomically, mode 0600; the
    /// folder is created if missing). Fails if a file is already there.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        if path.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists already", path.display()),
            ));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut key = Zeroizing::new([0u8; 32]);
        rand::Rng::fill_bytes(&mut rand::rng(), &mut key[..]);
        // Exactly 45 bytes (44 of base64, a newline): no reallocation leaves a copy behind.
        let mut text = Zeroizing::new(String::with_capacity(45));
        B64.encode_string(&key[..], &mut text);
        text.push('\n');
        write_atomic(path, text.as_bytes())?;
        tracing::info!(path = %path.display(), "made a new KMS master key");
        Ok(Self {
            key,
            path: path.to_owned(),
        })
    }

    /// Where the key was read from or written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Encrypts backing key `material` (version `version` of key `id`) under a fresh random nonce:
    /// `nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&self, id: Uuid, version: u32, material: &[u8; 32]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut nonce);
        let mut out = Vec::with_capacity(SEALED_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(material);
        let cipher = Aes256Gcm::new((&*self.key).into());
        let buf = InOutBuf::from(out.get_mut(NONCE_LEN..).unwrap_or_default());
        match cipher.encrypt_inout_detached(&nonce.into(), &aad(id, version), buf) {
            Ok(tag) => out.extend_from_slice(&tag),
            // Unreachable for 32 bytes; an empty result never opens, so nothing is lost silently.
            Err(_) => out.clear(),
        }
        out
    }

    /// Decrypts what [`seal`](Self::seal) made for the same key id and version; `None` if the
    /// master key is another one, or the bytes were altered or written for another key or version.
    pub fn open(&self, id: Uuid, version: u32, sealed: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
        if sealed.len() != SEALED_LEN {
            return None;
        }
        let (nonce, rest) = sealed.split_at_checked(NONCE_LEN)?;
        let (ct, tag) = rest.split_at_checked(32)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let tag: [u8; TAG_LEN] = tag.try_into().ok()?;
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(ct);
        let cipher = Aes256Gcm::new((&*self.key).into());
        cipher
            .decrypt_inout_detached(
                &nonce.into(),
                &aad(id, version),
                InOutBuf::from(&mut key[..]),
                &tag.into(),
            )
            .ok()?;
        Some(key)
    }
}

/// `label ‖ key id (16) ‖ version (u32 BE)`.
fn aad(id: Uuid, version: u32) -> Vec<u8> {
    [AAD_LABEL, id.as_bytes(), &version.to_be_bytes()].concat()
}

/// 32 raw bytes, or their base64 (surrounding whitespace ignored).
fn parse(bytes: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let mut key = Zeroizing::new([0u8; 32]);
    if let Ok(raw) = <&[u8; 32]>::try_from(bytes) {
        key.copy_from_slice(raw);
        return Some(key);
    }
    let text = bytes.trim_ascii();
    // Decoded into a wiped buffer with room to spare, so an over-long text fails cleanly.
    let mut buf = Zeroizing::new([0u8; 48]);
    let n = B64.decode_slice(text, &mut buf[..]).ok()?;
    (n == 32).then(|| {
        key.copy_from_slice(buf.get(..32).unwrap_or_default());
        key
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_for_their_key_and_version_and_master() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m").join(MASTER_KEY_FILE);
        let m = MasterKey::create(&path).unwrap();
        assert!(MasterKey::create(&path).is_err(), "never overwritten");
        let (id, other) = (Uuid::new_v4(), Uuid::new_v4());
        let material = [7u8; 32];
        let a = m.seal(id, 1, &material);
        let b = m.seal(id, 1, &material);
        assert_eq!(a.len(), SEALED_LEN);
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN], "a fresh nonce per seal");
        assert_eq!(*m.open(id, 1, &a).unwrap(), material);
        assert!(m.open(other, 1, &a).is_none(), "another key");
        assert!(m.open(id, 2, &a).is_none(), "another version");
        for i in 0..a.len() {
            let mut t = a.clone();
            t[i] ^= 1;
            assert!(m.open(id, 1, &t).is_none(), "byte {i}");
        }
        assert!(m.open(id, 1, &a[..SEALED_LEN - 1]).is_none());

        // The file: base64 of the key, mode 0600; read back it is the same key.
        let again = MasterKey::load(&path).unwrap().unwrap();
        assert_eq!(*again.open(id, 1, &a).unwrap(), material);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another master key does not open it.
        let other_path = dir.path().join("other.key");
        let wrong = MasterKey::create(&other_path).unwrap();
        assert!(wrong.open(id, 1, &a).is_none());
    }

    #[test]
    fn the_file_holds_raw_bytes_or_base64_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        assert!(MasterKey::load(&path).unwrap().is_none());
        std::fs::write(&path, [9u8; 32]).unwrap();
        let raw = MasterKey::load(&path).unwrap().unwrap();
        std::fs::write(&path, format!("  {}\n", B64.encode([9u8; 32]))).unwrap();
        let text = MasterKey::load(&path).unwrap().unwrap();
        let sealed = raw.seal(Uuid::nil(), 1, &[1; 32]);
        assert!(text.open(Uuid::nil(), 1, &sealed).is_some());
        for bad in [
            &b""[..],
            &[9u8; 31][..],
            &[9u8; 33][..],
            B64.encode([9u8; 31]).as_bytes(),
            B64.encode([9u8; 33]).as_bytes(),
            b"not base64 at all, not at all, not at all!!",
        ] {
            std::fs::write(&path, bad).unwrap();
            let e = MasterKey::load(&path).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            assert!(e.to_string().contains("master key"), "{e}");
        }
        assert!(!format!("{raw:?}").contains("9, 9"));
    }
}
