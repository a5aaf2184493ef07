//! `cipherdrop-keyfile`: the embedded KMS's and the embedded S3 store's SigV4 key pair file
//! (`credentials.json`, made with random tokens on first start) and the atomic writes behind it
//! and behind the KMS's key files: temp file of mode 0600 in the same folder, fsync, rename over
//! the target, fsync of the folder.
//!
//! The file format is the one both services have always written: the two fields, pretty-printed
//! JSON, `{"access_key_id": ..., "secret_access_key": ...}`.

use std::io::Write as _;
use std::path::Path;

use zeroize::Zeroizing;

/// A service's only SigV4 key pair. The secret is wiped on drop and never printed.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

/// The letters of a made access key id after `AKIA` (base32, as AWS's).
const KEY_ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// The letters of a made secret access key (base64, as AWS's).
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl Credentials {
    /// A key pair.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        }
    }

    /// Reads the key pair stored at `path`, or makes a fresh random one (`AKIA` and 16 letters,
    /// a 40-letter secret) and stores it there with [`write_atomic`].
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                serde_json::from_slice(&bytes).map_err(std::io::Error::other)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let c = Credentials::new(
                    format!("AKIA{}", random_token(16, KEY_ID_ALPHABET).as_str()),
                    random_token(40, SECRET_ALPHABET).as_str(),
                );
                let bytes =
                    Zeroizing::new(serde_json::to_vec_pretty(&c).map_err(std::io::Error::other)?);
                write_atomic(path, &bytes)?;
                Ok(c)
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for Credentials {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_access_key);
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// `len` random characters of `alphabet`, built in wiped buffers (the result is one allocation of
/// exactly `len` bytes, so no reallocation leaves a piece of a secret behind).
fn random_token(len: usize, alphabet: &[u8]) -> Zeroizing<String> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes[..]);
    let mut out = Zeroizing::new(String::with_capacity(len));
    for b in bytes.iter() {
        if let Some(c) = alphabet.get(usize::from(*b) % alphabet.len()) {
            out.push(char::from(*c));
        }
    }
    out
}

/// Writes `bytes` to `path` whole or not at all: a temp file (mode 0600, named
/// `<stem>.<32 hex>.tmp`) in the same folder, fsync, rename over the target, fsync of the folder.
/// The temp file is removed if a step fails; one left by a crash ends in `.tmp`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = path.with_extension(format!("{:032x}.tmp", rand::random::<u128>()));
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

/// Makes a folder's entries (a rename, a removal) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn made_once_then_read_back_from_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        let made = Credentials::load_or_create(&path).unwrap();
        assert!(made.access_key_id.starts_with("AKIA") && made.access_key_id.len() == 20);
        assert!(
            made.access_key_id[4..]
                .bytes()
                .all(|b| KEY_ID_ALPHABET.contains(&b))
        );
        assert_eq!(made.secret_access_key.len(), 40);
        assert!(
            made.secret_access_key
                .bytes()
                .all(|b| SECRET_ALPHABET.contains(&b))
        );
        let again = Credentials::load_or_create(&path).unwrap();
        assert_eq!(again.access_key_id, made.access_key_id);
        assert_eq!(again.secret_access_key, made.secret_access_key);
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        // The file format, byte for byte: what the KMS and the store wrote before this crate.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!(
                "{{\n  \"access_key_id\": \"{}\",\n  \"secret_access_key\": \"{}\"\n}}",
                made.access_key_id, made.secret_access_key
            )
        );
        // Nothing else is left in the folder.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// Files as the KMS (`crates/kms/src/credentials.rs`) and the store
    /// (`crates/s3/src/credentials.rs`) wrote them before they shared this crate load as they
    /// are, and are not rewritten.
    #[test]
    fn reads_the_files_the_kms_and_the_store_wrote_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        for (id, secret) in [
            // The KMS's data folder.
            (
                "AKIAQ7MZ4XNB2KTD5WEH",
                "x9Kd+2mQ/pL7vB0aR4tY8uN1cE6sW3hJ5gF0zXoA",
            ),
            // The store's data folder.
            (
                "AKIA3RJ6VYUB7LQ2NSOF",
                "Tg7/Wq1Zk+Hr9Pm2Ld4Xb6Nc8Vf0Js3Ya5Ke7Uo1",
            ),
        ] {
            let old = format!(
                "{{\n  \"access_key_id\": \"{id}\",\n  \"secret_access_key\": \"{secret}\"\n}}"
            );
            std::fs::write(&path, &old).unwrap();
            let c = Credentials::load_or_create(&path).unwrap();
            assert_eq!(
                (c.access_key_id.as_str(), c.secret_access_key.as_str()),
                (id, secret)
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), old);
        }
        // Compact JSON and a short secret (a hand-written file) load too.
        std::fs::write(
            &path,
            r#"{"access_key_id":"AKIAABCDEFGHIJKLMNOP","secret_access_key":"s3cr3t"}"#,
        )
        .unwrap();
        let c = Credentials::load_or_create(&path).unwrap();
        assert_eq!(c.secret_access_key, "s3cr3t");
        std::fs::write(&path, "not json").unwrap();
        assert!(Credentials::load_or_create(&path).is_err());
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let c = Credentials::new("AKIAEXAMPLE", "very-secret-value");
        let text = format!("{c:?}");
        assert!(
            text.contains("AKIAEXAMPLE") && !text.contains("very-secret-value"),
            "{text}"
        );
    }

    #[test]
    fn write_atomic_replaces_the_file_with_mode_0600_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        std::fs::write(&path, "old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_leaves_the_target_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // The rename fails: the target is a folder that is not empty.
        let target = dir.path().join("taken");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), "x").unwrap();
        assert!(write_atomic(&target, b"new").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["taken"]);
        assert!(target.join("inside").is_file());
        // No folder: nothing is written.
        assert!(write_atomic(&dir.path().join("missing/key.json"), b"new").is_err());
    }

    #[test]
    fn tokens_are_random_letters_of_the_alphabet() {
        let a = random_token(40, b"ab");
        let b = random_token(40, b"ab");
        assert_eq!((a.len(), a.capacity()), (40, 40));
        assert!(a.bytes().all(|c| c == b'a' || c == b'b'));
        assert_ne!(a, b);
    }
}
