//! Opening a file in the tab instead of saving it: which files can be shown and how, and the
//! decryption into memory that comes first.
//!
//! A file is shown only after the whole message decrypted and verified (every frame, and for
//! 0x0578 its signature): nothing unauthenticated reaches a viewer. The browser's own viewers do
//! the showing (`<img>`, `<video>`, `<audio>`, its PDF viewer in a frame, text in `<pre>`); the
//! media type they are given is chosen here from an allow-list, never the stored type as it
//! came, so a file cannot make itself an HTML or SVG document in this page's origin: HTML, SVG
//! and other markup are shown as their source text, where no script runs.

use cipherdrop_core::DataKey;

use crate::crypt::MemoryPlain;
use crate::download::decrypt_into;
use crate::error::{Cancel, TransferError};
use crate::transfer::read::read_bytes;

/// The largest file opened in the tab (it is held in memory while shown); larger ones are saved.
pub const MAX_PREVIEW_BYTES: u64 = 256 * 1024 * 1024;
/// The most text shown of a text file.
pub const MAX_TEXT_BYTES: u64 = 1024 * 1024;

/// How a file is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `<img>`.
    Image,
    /// The browser's PDF viewer in a frame.
    Pdf,
    /// `<video controls>`.
    Video,
    /// `<audio controls>`.
    Audio,
    /// Its text in `<pre>` (markup included, shown as source).
    Text,
}

/// Media types shown as what they are, with the type their viewer is given.
const MEDIA: [(&str, Kind); 17] = [
    ("image/png", Kind::Image),
    ("image/jpeg", Kind::Image),
    ("image/gif", Kind::Image),
    ("image/webp", Kind::Image),
    ("image/avif", Kind::Image),
    ("image/bmp", Kind::Image),
    ("application/pdf", Kind::Pdf),
    ("video/mp4", Kind::Video),
    ("video/webm", Kind::Video),
    ("video/ogg", Kind::Video),
    ("audio/mpeg", Kind::Audio),
    ("audio/ogg", Kind::Audio),
    ("audio/wav", Kind::Audio),
    ("audio/webm", Kind::Audio),
    ("audio/mp4", Kind::Audio),
    ("audio/flac", Kind::Audio),
    ("audio/x-wav", Kind::Audio),
];

/// Extensions for files whose browser reported no type.
const EXTENSIONS: [(&str, &str); 17] = [
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("pdf", "application/pdf"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("wav", "audio/wav"),
    ("txt", "text/plain"),
    ("md", "text/markdown"),
    ("csv", "text/csv"),
    ("json", "application/json"),
    ("log", "text/plain"),
    ("svg", "image/svg+xml"),
];

/// How `name` of `media_type` is shown, with the type its viewer gets; `None`: it can only be
/// saved.
pub fn kind_of(media_type: &str, name: &str) -> Option<(Kind, &'static str)> {
    let declared = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let t = if declared.is_empty() {
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        EXTENSIONS
            .iter()
            .find(|(e, _)| *e == ext)
            .map(|(_, t)| (*t).to_owned())
            .unwrap_or_default()
    } else {
        declared
    };
    if let Some((ty, kind)) = MEDIA.iter().find(|(ty, _)| *ty == t) {
        return Some((*kind, ty));
    }
    // Text and markup: shown as text whatever they are (HTML and SVG too, as source).
    let textual = t.starts_with("text/")
        || matches!(
            t.as_str(),
            "application/json" | "application/xml" | "image/svg+xml" | "application/xhtml+xml"
        );
    textual.then_some((Kind::Text, "text/plain;charset=utf-8"))
}

/// A `blob:` URL that is freed when dropped.
#[derive(Debug, PartialEq, Eq)]
pub struct ObjectUrl(String);

impl ObjectUrl {
    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for ObjectUrl {
    fn drop(&mut self) {
        crate::browser::revoke_url(&self.0);
    }
}

/// A file ready to be shown.
#[derive(Debug, PartialEq, Eq)]
pub enum Shown {
    /// Shown by a viewer from this URL.
    Media(Kind, ObjectUrl),
    /// Text (at most [`MAX_TEXT_BYTES`]; `true` when there was more).
    Text(String, bool),
}

/// Fetches the message at `url` (`total` ciphertext bytes, `plaintext` bytes once open),
/// decrypts and verifies all of it with `key`, and makes it ready for `kind`'s viewer.
pub async fn open(
    url: &str,
    total: u64,
    plaintext: u64,
    key: &DataKey,
    (kind, media_type): (Kind, &str),
    progress: &mut dyn FnMut(u64, u64),
    cancel: &Cancel,
) -> Result<Shown, TransferError> {
    if plaintext > MAX_PREVIEW_BYTES {
        return Err(TransferError::Sink(format!(
            "it is larger than {} MiB, the most this page holds to show a file: save it instead",
            MAX_PREVIEW_BYTES >> 20
        )));
    }
    let mut sink = MemoryPlain::default();
    decrypt_into(url, total, key, &mut sink, progress, cancel).await?;
    let blob = sink.into_blob()?;
    if kind == Kind::Text {
        let size = blob.size() as u64;
        let bytes = read_bytes(&blob, 0, size.min(MAX_TEXT_BYTES)).await?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        return Ok(Shown::Text(text, size > MAX_TEXT_BYTES));
    }
    Ok(Shown::Media(
        kind,
        ObjectUrl(crate::browser::object_url(&blob, media_type)),
    ))
}
