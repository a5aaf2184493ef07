//! "Download all" for a link to several files: each file is fetched, decrypted and verified in
//! turn, and its plaintext streams through core's `ZipWriter` (stored entries, ZIP64 when needed)
//! into the destination, so the archive is assembled in this tab and never whole in memory when
//! the browser lets the page write to a file. As for one file, the archive is kept only if every
//! file in it verified.

use cipherdrop_core::DataKey;
use cipherdrop_core::zip::{ZipError, ZipWriter};
use js_sys::{ArrayBuffer, Uint8Array};

use crate::crypt::PlainSink;
use crate::download::{Destination, Saved, Writing, decrypt_into};
use crate::error::{Cancel, TransferError};

/// One file to put in the archive.
pub struct Entry<'a> {
    /// Its name in the archive (a relative path; made safe by the writer).
    pub name: &'a str,
    /// Presigned GET of its ciphertext.
    pub url: &'a str,
    /// Ciphertext bytes.
    pub size: u64,
    /// Plaintext bytes (the entry's declared size).
    pub plaintext_size: u64,
    /// Its data key.
    pub key: &'a DataKey,
}

fn zip_error(e: &ZipError) -> TransferError {
    TransferError::Format(format!("building the zip failed: {e}"))
}

fn buffer(bytes: &[u8]) -> ArrayBuffer {
    Uint8Array::from(bytes).buffer()
}

/// The archive's sink: counts (and checksums) each entry's plaintext, then passes it on.
struct ZipSink<'a> {
    writer: ZipWriter,
    out: &'a mut Writing,
}

impl ZipSink<'_> {
    async fn emit(&mut self, bytes: &[u8]) -> Result<(), TransferError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.out.write(&buffer(bytes)).await
    }
}

impl PlainSink for ZipSink<'_> {
    async fn write(&mut self, plaintext: &ArrayBuffer) -> Result<(), TransferError> {
        let bytes = Uint8Array::new(plaintext).to_vec();
        self.writer.data(&bytes).map_err(|e| zip_error(&e))?;
        self.out.write(plaintext).await
    }
}

/// Downloads, decrypts and verifies every entry into one zip saved as `zip_name`; `progress`
/// gets (ciphertext bytes read, ciphertext bytes in all). Returns the plaintext bytes stored.
pub async fn save_zip(
    entries: &[Entry<'_>],
    zip_name: &str,
    destination: Destination,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &Cancel,
) -> Result<Saved, TransferError> {
    let mut out = Writing::new(destination);
    let result = write_all(entries, &mut out, progress, cancel).await;
    match result {
        Ok(saved) => {
            out.commit(zip_name).await?;
            Ok(saved)
        }
        Err(e) => {
            out.discard().await;
            Err(e)
        }
    }
}

async fn write_all(
    entries: &[Entry<'_>],
    out: &mut Writing,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &Cancel,
) -> Result<Saved, TransferError> {
    let total: u64 = entries.iter().map(|e| e.size).sum();
    let now = (js_sys::Date::now() / 1000.0) as i64;
    let mut sink = ZipSink {
        writer: ZipWriter::new(),
        out,
    };
    let mut done = 0u64;
    let mut saved = Saved {
        bytes: 0,
        resumed: 0,
    };
    for entry in entries {
        let (header, _) = sink
            .writer
            .start(entry.name, entry.plaintext_size, now)
            .map_err(|e| zip_error(&e))?;
        sink.emit(&header).await?;
        let mut report = |n: u64, _: u64| progress(done + n, total);
        let one = decrypt_into(
            entry.url,
            entry.size,
            entry.key,
            &mut sink,
            &mut report,
            cancel,
        )
        .await?;
        let descriptor = sink.writer.end().map_err(|e| zip_error(&e))?;
        sink.emit(&descriptor).await?;
        done += entry.size;
        saved.bytes += one.bytes;
        saved.resumed += one.resumed;
    }
    let end = std::mem::take(&mut sink.writer)
        .finish()
        .map_err(|e| zip_error(&e))?;
    sink.emit(&end).await?;
    Ok(saved)
}
