//! Streaming file encryption and decryption with atomic output (temp file, fsync, rename).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_core::{
    DecryptLimits, Decryptor, EncryptionContext, EncryptionMaterials, Encryptor, FrameCipher,
    KeyProvider, RawAesKeyring,
};
use zeroize::Zeroizing;

/// Read size: constant memory is this plus one frame, whatever the file size.
const CHUNK: usize = 1 << 20;

/// Loads a wrapping key file: 16/24/32 raw bytes, or base64 of them.
pub fn load_keyring(path: &Path, namespace: &str, name: &str) -> Result<RawAesKeyring> {
    let raw = Zeroizing::new(
        std::fs::read(path).with_context(|| format!("reading key file {}", path.display()))?,
    );
    let key = if matches!(raw.len(), 16 | 24 | 32) {
        raw
    } else {
        let text = std::str::from_utf8(&raw)
            .map_err(|_| anyhow!("key file is neither 16/24/32 raw bytes nor base64"))?;
        Zeroizing::new(
            B64.decode(text.trim())
                .map_err(|_| anyhow!("key file is neither 16/24/32 raw bytes nor base64"))?,
        )
    };
    Ok(RawAesKeyring::new(namespace, name, &key)?)
}

fn open_input(path: &Path) -> Result<Box<dyn Read>> {
    if path == Path::new("-") {
        return Ok(Box::new(io::stdin().lock()));
    }
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(Box::new(f))
}

/// Where output goes: stdout; a device or pipe that already exists (`/dev/null`, a FIFO),
/// written in place like stdout; or a temporary file beside the target that is renamed over it
/// on success (never over a device: renaming over `/dev/null` would replace it with a file).
pub(crate) enum Output {
    Stdout(io::StdoutLock<'static>),
    Special(BufWriter<File>),
    File {
        tmp: BufWriter<tempfile::NamedTempFile>,
        target: PathBuf,
    },
}

impl Output {
    pub(crate) fn create(path: &Path) -> Result<Self> {
        if path == Path::new("-") {
            return Ok(Output::Stdout(io::stdout().lock()));
        }
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            return Ok(Output::Special(BufWriter::with_capacity(CHUNK, f)));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".cipherdrop-")
            .suffix(".partial")
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        Ok(Output::File {
            tmp: BufWriter::with_capacity(CHUNK, tmp),
            target: path.to_owned(),
        })
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        match self {
            Output::Stdout(s) => s.write_all(bytes)?,
            Output::Special(f) => f.write_all(bytes)?,
            Output::File { tmp, .. } => tmp.write_all(bytes)?,
        }
        Ok(())
    }

    /// Makes the output visible: flush, fsync and rename over the target.
    pub(crate) fn commit(self) -> Result<()> {
        match self {
            Output::Stdout(mut s) => s.flush()?,
            Output::Special(mut f) => f.flush()?,
            Output::File { tmp, target } => {
                let tmp = tmp.into_inner().map_err(|e| e.into_error())?;
                tmp.as_file().sync_all()?;
                tmp.persist(&target)
                    .map_err(|e| e.error)
                    .with_context(|| format!("renaming output to {}", target.display()))?;
            }
        }
        Ok(())
    }
}

/// Reads `input` to the end in chunks, handing each to `step`.
fn pump(input: &Path, mut step: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let mut reader = open_input(input)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading input"),
        };
        step(buf.get(..n).unwrap_or_default())?;
    }
}

/// Encrypts `input` into `output` with `materials`.
pub fn encrypt<C: FrameCipher>(
    materials: EncryptionMaterials,
    frame_length: u32,
    input: &Path,
    output: &Path,
) -> Result<()> {
    let mut rng = rand::rng();
    let mut enc = Encryptor::<C>::new(materials, frame_length, &mut rng)?;
    let mut out = Output::create(output)?;
    let mut buf = Vec::with_capacity(CHUNK + 4096);
    pump(input, |chunk| {
        enc.push(chunk, &mut buf)?;
        out.write(&buf)?;
        buf.clear();
        Ok(())
    })?;
    enc.finish(&mut buf)?;
    out.write(&buf)?;
    out.commit()
}

/// Decrypts `input` into `output` with the data key `keys` give; output appears only if the whole
/// message verifies and holds the `expected` context pairs.
pub fn decrypt<C: FrameCipher>(
    keys: &impl KeyProvider,
    limits: DecryptLimits,
    expected: &EncryptionContext,
    input: &Path,
    output: &Path,
) -> Result<()> {
    let mut dec = Decryptor::<_, C>::new(keys, limits);
    let mut out = Output::create(output)?;
    let mut buf = Zeroizing::new(Vec::with_capacity(CHUNK));
    let mut context_checked = false;
    pump(input, |chunk| {
        dec.push(chunk, &mut buf)?;
        if !context_checked && let Some(h) = dec.header() {
            for (k, v) in expected.iter() {
                if h.encryption_context.get(k) != Some(v) {
                    bail!("the message's encryption context does not contain {k}={v}");
                }
            }
            context_checked = true;
        }
        out.write(&buf)?;
        buf.clear();
        Ok(())
    })?;
    dec.finish()?;
    out.commit()
}
