//! Download-and-decrypt of one file, and the inspector's look at a stored object.
//!
//! The key comes from the server (KMS Decrypt of the stored EDK), the ciphertext straight from
//! S3 through a presigned URL; decryption streams frame by frame. The result is offered to the
//! user only after the whole message verified: through the File System Access API the browser
//! writes to a temporary file that is discarded on failure; otherwise plaintext is collected and
//! offered as one Blob at the end.

use std::cell::Cell;
use std::rc::Rc;

use cipherdrop_api::ObjectDetails;
use cipherdrop_core::{DataKey, DecryptLimits, Header, MessageLen};
use js_sys::ArrayBuffer;

use crate::api;
use crate::browser::{SaveFile, save_blob};
use crate::crypt::{MemoryPlain, PlainSink, decrypt_source, first_frame};
use crate::error::{Cancel, TransferError};
use crate::transfer::read::{Reader, Source, get, read_bytes};

/// Where a download is saved.
pub enum Destination {
    /// A file the user picked (File System Access API).
    Picked(SaveFile),
    /// A Blob offered as a browser download when everything verified.
    Blob,
}

struct PickedSink<'a>(&'a SaveFile);

impl PlainSink for PickedSink<'_> {
    async fn write(&mut self, plaintext: &ArrayBuffer) -> Result<(), TransferError> {
        self.0
            .write(plaintext)
            .await
            .map_err(|e| TransferError::Sink(format!("writing the file failed: {e}")))
    }
}

/// What a download saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saved {
    /// Plaintext bytes.
    pub bytes: u64,
    /// Times the connection broke off and the download went on from where it stopped.
    pub resumed: u32,
}

/// Downloads, decrypts and saves file `id` under `name`.
/// `progress` gets (ciphertext bytes read, ciphertext bytes in all).
pub async fn download(
    id: &str,
    name: &str,
    destination: Destination,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &Cancel,
) -> Result<Saved, TransferError> {
    let prepared = async {
        let details = api::details(id).await?;
        let key = api::release_key(id).await?;
        Ok::<_, TransferError>(Prepared { details, key })
    }
    .await;
    match prepared {
        Ok(Prepared { details, key }) => {
            let total = details.object.size;
            save_from(
                &details.download_url,
                total,
                &key,
                name,
                destination,
                progress,
                cancel,
            )
            .await
        }
        Err(e) => {
            if let Destination::Picked(file) = destination {
                file.discard().await;
            }
            Err(e)
        }
    }
}

/// What a download needs from the server.
struct Prepared {
    details: ObjectDetails,
    key: DataKey,
}

/// Fetches the message at `url` (`total` ciphertext bytes) and decrypts it with `key` into
/// `sink`. A connection that breaks off goes on from where it stopped (a `Range` GET).
pub async fn decrypt_into(
    url: &str,
    total: u64,
    key: &DataKey,
    sink: &mut impl PlainSink,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &Cancel,
) -> Result<Saved, TransferError> {
    let body = get(url, None).await?;
    let mut report = |n: u64| progress(n, total);
    let resumed = Rc::new(Cell::new(0));
    let source = Source::Download {
        body,
        url: url.to_owned(),
        total,
        resumed: resumed.clone(),
    };
    let opened = decrypt_source(
        source,
        key,
        DecryptLimits::default(),
        sink,
        &mut report,
        cancel,
    )
    .await?;
    Ok(Saved {
        bytes: opened.plaintext_len,
        resumed: resumed.get(),
    })
}

/// Where a download goes while it runs: a picked file (discarded unless everything verified) or
/// memory (offered as a Blob at the end).
pub enum Writing {
    /// The picked file.
    Picked(SaveFile),
    /// Plaintext collected in memory.
    Memory(MemoryPlain),
}

impl Writing {
    /// Starts writing to `destination`.
    pub fn new(destination: Destination) -> Self {
        match destination {
            Destination::Picked(f) => Self::Picked(f),
            Destination::Blob => Self::Memory(MemoryPlain::default()),
        }
    }

    /// Keeps what was written under `name` (the picked file, or a Blob offered as a download).
    pub async fn commit(self, name: &str) -> Result<(), TransferError> {
        match self {
            Self::Picked(file) => file
                .commit()
                .await
                .map_err(|e| TransferError::Sink(format!("saving the file failed: {e}"))),
            Self::Memory(m) => {
                save_blob(&m.into_blob()?, name);
                Ok(())
            }
        }
    }

    /// Drops what was written.
    pub async fn discard(self) {
        if let Self::Picked(file) = self {
            file.discard().await;
        }
    }
}

impl PlainSink for Writing {
    async fn write(&mut self, plaintext: &ArrayBuffer) -> Result<(), TransferError> {
        match self {
            Self::Picked(file) => PickedSink(file).write(plaintext).await,
            Self::Memory(m) => m.write(plaintext).await,
        }
    }
}

/// Fetches the message at `url`, decrypts it with `key` and saves it under `name`, only if the
/// whole message verified.
pub async fn save_from(
    url: &str,
    total: u64,
    key: &DataKey,
    name: &str,
    destination: Destination,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &Cancel,
) -> Result<Saved, TransferError> {
    let mut writing = Writing::new(destination);
    match decrypt_into(url, total, key, &mut writing, progress, cancel).await {
        Ok(saved) => {
            writing.commit(name).await?;
            Ok(saved)
        }
        Err(e) => {
            writing.discard().await;
            Err(e)
        }
    }
}

/// Fetches and decrypts a small message (a secret text) into memory.
pub async fn fetch_text(url: &str, key: &DataKey) -> Result<String, TransferError> {
    let body = get(url, None).await?;
    let mut sink = MemoryPlain::default();
    decrypt_source(
        Source::Stream(body),
        key,
        DecryptLimits::default(),
        &mut sink,
        &mut |_| {},
        &Cancel::default(),
    )
    .await?;
    let blob = sink.into_blob()?;
    let bytes = read_bytes(&blob, 0, blob.size() as u64).await?;
    String::from_utf8(bytes)
        .map_err(|_| TransferError::Integrity("the secret is not UTF-8 text".into()))
}

/// Bytes `range` of the object at presigned `url`, in wasm memory.
async fn get_range(url: &str, range: std::ops::Range<u64>) -> Result<Vec<u8>, TransferError> {
    let mut reader = Reader::chunks(Source::Stream(get(url, Some(range)).await?))?;
    let mut out = Vec::new();
    while let Some(chunk) = reader.next_chunk().await? {
        out.extend_from_slice(&chunk.to_vec());
    }
    Ok(out)
}

/// Bytes of a stored object the inspector reads: its first 16 KiB at most.
const STORED_HEAD: u64 = 16 * 1024;

/// What the inspector shows about a stored object.
#[derive(Clone, Debug)]
pub struct StoredView {
    /// The server's record (with a presigned URL).
    pub details: ObjectDetails,
    /// The first bytes of the stored S3 object.
    pub stored_head: Vec<u8>,
    /// The header parsed from them.
    pub header: Option<Header>,
    /// Header length in bytes.
    pub header_len: usize,
    /// Why the header did not parse, if it did not.
    pub header_error: Option<String>,
}

/// Reads what the server stores about `id` and the first bytes S3 stores, without any key.
pub async fn stored_view(id: &str) -> Result<StoredView, TransferError> {
    let details = api::details(id).await?;
    let end = details.object.size.min(STORED_HEAD);
    let stored_head = get_range(&details.download_url, 0..end).await?;
    let mut view = StoredView {
        details,
        stored_head,
        header: None,
        header_len: 0,
        header_error: None,
    };
    match Header::parse(&view.stored_head, &DecryptLimits::default()) {
        Ok((header, len)) => {
            view.header = Some(header);
            view.header_len = len;
        }
        Err(e) => view.header_error = Some(e.to_string()),
    }
    Ok(view)
}

/// Decrypts just the first frame of the stored object in this tab (releases the key: audited)
/// and returns its first `n` bytes.
pub async fn first_plaintext(view: &StoredView, n: usize) -> Result<Vec<u8>, TransferError> {
    // Enough of the message to hold its first frame: a message of one frame of plaintext (a
    // full regular frame, or a final frame and the footer when the file is shorter). Without a
    // header, the bytes already read (the decoder reports why they are not a message).
    let reach = view.header.as_ref().and_then(|h| {
        MessageLen::new(
            h.suite,
            view.header_len as u64,
            u64::from(h.frame_length),
            h.frame_length,
        )
    });
    let end = reach.map_or(view.stored_head.len() as u64, |len| len.max());
    let end = view.details.object.size.min(end);
    let bytes = get_range(&view.details.download_url, 0..end).await?;
    let key = api::release_key(&view.details.object.id).await?;
    let mut out = first_frame(&bytes, &key).await?;
    out.truncate(n);
    Ok(out)
}
