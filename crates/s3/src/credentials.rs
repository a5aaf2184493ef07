//! The embedded store's SigV4 key pair: generated on first start, stored as `credentials.json`
//! (`{"access_key_id": ..., "secret_access_key": ...}`, mode 0600), the file format the store has
//! always used.

use std::io::Write as _;
use std::path::Path;

use zeroize::Zeroizing;

/// The only key pair the embedded store accepts. The secret is wiped on drop and never printed.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl Credentials {
    /// A key pair.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        }
    }

    /// Reads the key pair stored at `path`, or makes a fresh random one and stores it there
    /// (atomically, mode 0600).
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                serde_json::from_slice(&bytes).map_err(std::io::Error::other)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let c = Credentials::new(
                    format!(
                        "AKIA{}",
                        random_token(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567").as_str()
                    ),
                    random_token(
                        40,
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                    )
                    .as_str(),
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

/// `len` random characters of `alphabet`, built in wiped buffers.
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

/// Temp file (mode 0600) in the same folder, fsync, rename over the target, fsync the folder.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = path.with_extension(format!("{:016x}.tmp", rand::random::<u64>()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_read_back_from_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        let made = Credentials::load_or_create(&path).unwrap();
        assert!(made.access_key_id.starts_with("AKIA") && made.access_key_id.len() == 20);
        assert_eq!(made.secret_access_key.len(), 40);
        let again = Credentials::load_or_create(&path).unwrap();
        assert_eq!(again.access_key_id, made.access_key_id);
        assert_eq!(again.secret_access_key, made.secret_access_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "readable by others");
        }
        // The file format: the two fields, pretty-printed; nothing else left in the folder.
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "access_key_id": made.access_key_id,
                "secret_access_key": made.secret_access_key,
            })
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn reads_a_file_written_before_the_store_had_its_own_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        std::fs::write(
            &path,
            "{\n  \"access_key_id\": \"AKIAABCDEFGHIJKLMNOP\",\n  \"secret_access_key\": \"s3cr3t\"\n}",
        )
        .unwrap();
        let c = Credentials::load_or_create(&path).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.as_str()),
            ("AKIAABCDEFGHIJKLMNOP", "s3cr3t")
        );
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
}
