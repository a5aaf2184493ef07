//! The master key: 256 bits in a file of their own (made on first start, mode 0600, atomically),
//! under which every backing key (and every private key of an asymmetric key) is stored at rest,
//! AES-256-GCM with the key's id and material version as AAD, so a stored backing key opens only
//! as the backing key it was written for, and a private key only as its own key's private key.
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

use cipherdrop_keyfile::write_atomic;

/// The master key file's name in the data folder, unless another path is given.
pub const MASTER_KEY_FILE: &str = "master.key";

/// Domain separation of the AAD: this format of a sealed backing key.
const AAD_LABEL: &[u8] = b"cipherdrop-kms/backing-key/v1";
/// Domain separation of the AAD: this format of a sealed private key (of an asymmetric key).
const PRIVATE_KEY_AAD_LABEL: &[u8] = b"cipherdrop-kms/private-key/v1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Length of a sealed backing key: nonce, 32 bytes of ciphertext, tag.
#[cfg(test)]
const SEALED_LEN: usize = NONCE_LEN + 32 + TAG_LEN;

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
        self.seal_secret(AAD_LABEL, id, version, material)
    }

    /// Decrypts what [`seal`](Self::seal) made for the same key id and version; `None` if the
    /// master key is another one, or the bytes were altered or written for another key or version.
    pub fn open(&self, id: Uuid, version: u32, sealed: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
        self.open_secret(AAD_LABEL, id, version, sealed)
    }

    /// Encrypts the private key of asymmetric key `id` (its 48-byte P-384 scalar) like a backing
    /// key, under an AAD of its own: a sealed private key never opens as a backing key, nor the
    /// other way round, nor as another key's.
    pub fn seal_private_key(&self, id: Uuid, scalar: &[u8; 48]) -> Vec<u8> {
        self.seal_secret(PRIVATE_KEY_AAD_LABEL, id, 1, scalar)
    }

    /// Decrypts what [`seal_private_key`](Self::seal_private_key) made for the same key id.
    pub fn open_private_key(&self, id: Uuid, sealed: &[u8]) -> Option<Zeroizing<[u8; 48]>> {
        self.open_secret(PRIVATE_KEY_AAD_LABEL, id, 1, sealed)
    }

    /// `nonce ‖ AES-256-GCM(secret) ‖ tag`, AAD `label ‖ id ‖ version`. The secret is encrypted
    /// in place in the output buffer, sized up front (no reallocation leaves a copy behind).
    fn seal_secret(&self, label: &[u8], id: Uuid, version: u32, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut nonce);
        let mut out = Vec::with_capacity(NONCE_LEN + secret.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(secret);
        let cipher = Aes256Gcm::new((&*self.key).into());
        let buf = InOutBuf::from(out.get_mut(NONCE_LEN..).unwrap_or_default());
        match cipher.encrypt_inout_detached(&nonce.into(), &aad(label, id, version), buf) {
            Ok(tag) => out.extend_from_slice(&tag),
            // Unreachable for a few dozen bytes; an empty result never opens, so nothing is lost
            // silently.
            Err(_) => out.clear(),
        }
        out
    }

    /// Opens what [`seal_secret`](Self::seal_secret) made of an `N`-byte secret with the same
    /// label, id and version.
    fn open_secret<const N: usize>(
        &self,
        label: &[u8],
        id: Uuid,
        version: u32,
        sealed: &[u8],
    ) -> Option<Zeroizing<[u8; N]>> {
        if sealed.len() != NONCE_LEN + N + TAG_LEN {
            return None;
        }
        let (nonce, rest) = sealed.split_at_checked(NONCE_LEN)?;
        let (ct, tag) = rest.split_at_checked(N)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let tag: [u8; TAG_LEN] = tag.try_into().ok()?;
        let mut secret = Zeroizing::new([0u8; N]);
        secret.copy_from_slice(ct);
        let cipher = Aes256Gcm::new((&*self.key).into());
        cipher
            .decrypt_inout_detached(
                &nonce.into(),
                &aad(label, id, version),
                InOutBuf::from(&mut secret[..]),
                &tag.into(),
            )
            .ok()?;
        Some(secret)
    }
}

/// `label ‖ key id (16) ‖ version (u32 BE)`.
fn aad(label: &[u8], id: Uuid, version: u32) -> Vec<u8> {
    [label, id.as_bytes(), &version.to_be_bytes()].concat()
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
    fn sealed_private_keys_open_only_as_their_own_keys_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let m = MasterKey::create(&dir.path().join(MASTER_KEY_FILE)).unwrap();
        let (id, other) = (Uuid::new_v4(), Uuid::new_v4());
        let scalar = [5u8; 48];
        let a = m.seal_private_key(id, &scalar);
        assert_eq!(a.len(), NONCE_LEN + 48 + TAG_LEN);
        assert!(!a.windows(48).any(|w| w == scalar), "encrypted");
        assert_ne!(a, m.seal_private_key(id, &scalar), "a fresh nonce per seal");
        assert_eq!(*m.open_private_key(id, &a).unwrap(), scalar);
        assert!(m.open_private_key(other, &a).is_none(), "another key");
        for i in 0..a.len() {
            let mut t = a.clone();
            t[i] ^= 1;
            assert!(m.open_private_key(id, &t).is_none(), "byte {i}");
        }
        // The same 48 bytes sealed as a backing key's would be (another AAD) do not open as a
        // private key, and a private key does not open as a backing key.
        let as_backing = m.seal_secret(AAD_LABEL, id, 1, &scalar);
        assert!(m.open_private_key(id, &as_backing).is_none());
        assert!(m.open_secret::<48>(AAD_LABEL, id, 1, &a).is_none());
        assert!(m.open(id, 1, &a).is_none());
        let wrong = MasterKey::create(&dir.path().join("other.key")).unwrap();
        assert!(
            wrong.open_private_key(id, &a).is_none(),
            "another master key"
        );
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
