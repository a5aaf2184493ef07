//! The record stage, and what it writes: what the page keeps in IndexedDB about uploads under
//! way, so that one interrupted by a reload, a crash, a closed tab or a network that stayed down
//! continues later instead of starting over. The stage ([`Record`]) takes each part to send on
//! its way to S3, computes the SHA-256 of its ciphertext, and hands the part on with what to
//! write once S3 stored it.
//!
//! Per upload, the store `uploads` keeps an [`Unfinished`] record (written before the first part
//! is sent): the upload id, the file's name, size and last-modified time, the suite, frame and part
//! sizes, the message id, and for 0x0578 the signing key **sealed under the data key**
//! (`cipherdrop_core::resume`), which only the server's audited release gives back. The store
//! `parts` gets one entry per part S3 acknowledged (its ETag and the SHA-256 of its ciphertext),
//! so recording a part costs the same at part 10,000 as at part 1. Where the file came with a
//! `FileSystemFileHandle` (dropped on the page, in browsers that give one), the store `handles`
//! keeps it (structured-cloned, as the File System Access API allows), so that resuming asks only
//! for permission to read the file again instead of for the file. Nothing in any store opens or
//! signs anything by itself.
//!
//! The record is a convenience: on resume the server's `ListParts` says what S3 holds, and the
//! file chosen again is re-encrypted and compared with every part already sent before anything is
//! sent (see `transfer::resume`).

use std::collections::BTreeMap;
use std::rc::Rc;

use cipherdrop_core::MESSAGE_ID_LEN;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::parts::{BufferPool, Onward, Outgoing, sha256};
use crate::browser::js_error_message;
use crate::error::TransferError;

#[wasm_bindgen(inline_js = r#"
function open_db() {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open('cipherdrop', 2);
    r.onupgradeneeded = () => {
      const d = r.result;
      if (!d.objectStoreNames.contains('uploads')) { d.createObjectStore('uploads'); }
      if (!d.objectStoreNames.contains('parts')) { d.createObjectStore('parts'); }
      if (!d.objectStoreNames.contains('handles')) { d.createObjectStore('handles'); }
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'));
  });
}
function finished(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
  });
}
function result(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
export async function idb_put(store, key, value) {
  const d = await open_db();
  try {
    const tx = d.transaction(store, 'readwrite');
    tx.objectStore(store).put(value, key);
    await finished(tx);
  } finally { d.close(); }
}
export async function idb_list() {
  const d = await open_db();
  try {
    const tx = d.transaction(['uploads', 'parts', 'handles'], 'readonly');
    const [uploads, keys, parts, handles] = await Promise.all([
      result(tx.objectStore('uploads').getAll()),
      result(tx.objectStore('parts').getAllKeys()),
      result(tx.objectStore('parts').getAll()),
      result(tx.objectStore('handles').getAllKeys()),
    ]);
    return JSON.stringify({ uploads, parts: keys.map((k, i) => [k, parts[i]]), handles });
  } finally { d.close(); }
}
// The file behind the upload's stored handle, once the user allows reading it again (the
// request needs the click that called this); null without a handle, a permission or the file.
export async function idb_file_of(id) {
  const d = await open_db();
  let handle;
  try {
    const tx = d.transaction('handles', 'readonly');
    handle = await result(tx.objectStore('handles').get(id));
  } finally { d.close(); }
  if (!handle || typeof handle.getFile !== 'function') return null;
  try {
    let state = typeof handle.queryPermission === 'function'
      ? await handle.queryPermission({ mode: 'read' }) : 'granted';
    if (state === 'prompt') state = await handle.requestPermission({ mode: 'read' });
    return state === 'granted' ? await handle.getFile() : null;
  } catch (_) { return null; }
}
// Starts asking for the FileSystemFileHandle of every file dropped (Chromium; must be called
// while the drop event runs): a promise of an array with a handle or null per file item.
export function dropped_handles(dt) {
  const asks = [];
  for (const item of (dt && dt.items) ? Array.from(dt.items) : []) {
    if (item.kind !== 'file') continue;
    asks.push(typeof item.getAsFileSystemHandle === 'function'
      ? item.getAsFileSystemHandle().then((h) => (h && h.kind === 'file' ? h : null), () => null)
      : Promise.resolve(null));
  }
  return Promise.all(asks);
}
export async function idb_remove(id) {
  const d = await open_db();
  try {
    const tx = d.transaction(['uploads', 'parts', 'handles'], 'readwrite');
    tx.objectStore('uploads').delete(id);
    tx.objectStore('handles').delete(id);
    tx.objectStore('parts').delete(IDBKeyRange.bound(id + '/', id + '/\uffff'));
    await finished(tx);
  } finally { d.close(); }
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn idb_put(store: &str, key: &str, value: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn idb_list() -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn idb_file_of(id: &str) -> Result<JsValue, JsValue>;
    /// Starts asking for the handles of the files of a drop (see the JS above).
    pub fn dropped_handles(dt: &web_sys::DataTransfer) -> js_sys::Promise;
    #[wasm_bindgen(catch)]
    async fn idb_remove(id: &str) -> Result<JsValue, JsValue>;
}

/// A part S3 acknowledged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentPart {
    /// Its ETag, as S3 answered the PUT.
    pub etag: String,
    /// Its length.
    pub size: u64,
    /// SHA-256 of its ciphertext, hex.
    pub sha256: String,
}

/// An upload under way, as this browser recorded it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unfinished {
    /// The upload (and object) id.
    pub upload_id: String,
    /// The account that started it (another account on this browser does not list it).
    pub owner: String,
    /// The file's name.
    pub name: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its `lastModified` (ms since the epoch).
    pub last_modified: f64,
    /// The algorithm suite.
    pub suite: u16,
    /// Plaintext bytes per frame.
    pub frame_length: u32,
    /// Bytes per part.
    pub part_size: u64,
    /// Parts in all.
    pub part_count: u32,
    /// The declared ciphertext size.
    pub ciphertext_size: u64,
    /// The message id, hex: with the data key, it makes the same bytes again.
    pub message_id: String,
    /// The 0x0578 signing key, sealed under the data key for this upload, base64.
    pub signing_key: Option<String>,
    /// When the server aborts the upload if it is still pending (Unix seconds).
    pub abandon_at: i64,
    /// The parts S3 acknowledged (kept in the `parts` store).
    #[serde(skip)]
    pub parts: BTreeMap<u32, SentPart>,
    /// Whether the `handles` store has the file's handle.
    #[serde(skip)]
    pub has_handle: bool,
}

impl Unfinished {
    /// Ciphertext bytes S3 acknowledged.
    pub fn sent(&self) -> u64 {
        self.parts.values().map(|p| p.size).sum()
    }

    /// The recorded message id, if it is one.
    pub fn message_id(&self) -> Option<[u8; MESSAGE_ID_LEN]> {
        unhex(&self.message_id)?.try_into().ok()
    }
}

/// A message id as the record keeps it: lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Records (or replaces) an upload's record, without its parts.
pub async fn save(u: &Unfinished) -> Result<(), String> {
    let json = serde_json::to_string(u).map_err(|e| e.to_string())?;
    idb_put("uploads", &u.upload_id, &json.into())
        .await
        .map(drop)
        .map_err(|e| js_error_message(&e))
}

/// Keeps the file's `FileSystemFileHandle` with the upload's record.
pub async fn save_handle(upload_id: &str, handle: &JsValue) -> Result<(), String> {
    idb_put("handles", upload_id, handle)
        .await
        .map(drop)
        .map_err(|e| js_error_message(&e))
}

/// The file behind an upload's stored handle, read again with the user's permission (ask from
/// a click); `None` without a handle, a permission or the file.
pub async fn file_of(upload_id: &str) -> Option<web_sys::File> {
    idb_file_of(upload_id)
        .await
        .ok()
        .and_then(|f| f.dyn_into::<web_sys::File>().ok())
}

/// Records one acknowledged part.
pub async fn save_part(upload_id: &str, n: u32, part: &SentPart) -> Result<(), String> {
    let json = serde_json::to_string(part).map_err(|e| e.to_string())?;
    idb_put("parts", &part_key(upload_id, n), &json.into())
        .await
        .map(drop)
        .map_err(|e| js_error_message(&e))
}

/// The `parts` store's key of part `n`: ordered as text (the JS module reads ranges of them).
fn part_key(upload_id: &str, n: u32) -> String {
    format!("{upload_id}/{n:05}")
}

/// Forgets an upload and its parts.
pub async fn remove(upload_id: &str) {
    let _ = idb_remove(upload_id).await;
}

/// The unfinished uploads `owner` started in this browser, oldest first, with their parts.
pub async fn list(owner: &str) -> Result<Vec<Unfinished>, String> {
    #[derive(Deserialize)]
    struct All {
        uploads: Vec<String>,
        parts: Vec<(String, String)>,
        #[serde(default)]
        handles: Vec<String>,
    }
    let text = idb_list().await.map_err(|e| js_error_message(&e))?;
    let all: All =
        serde_json::from_str(&text.as_string().unwrap_or_default()).map_err(|e| e.to_string())?;
    let mut found: Vec<Unfinished> = all
        .uploads
        .iter()
        .filter_map(|u| serde_json::from_str::<Unfinished>(u).ok())
        .filter(|u| u.owner == owner)
        .map(|mut u| {
            u.has_handle = all.handles.contains(&u.upload_id);
            u
        })
        .collect();
    for (key, value) in all.parts {
        let Some((id, n)) = key.rsplit_once('/') else {
            continue;
        };
        let (Ok(n), Ok(part)) = (n.parse::<u32>(), serde_json::from_str::<SentPart>(&value)) else {
            continue;
        };
        if let Some(u) = found.iter_mut().find(|u| u.upload_id == id) {
            u.parts.insert(n, part);
        }
    }
    found.sort_by_key(|u| u.abandon_at);
    Ok(found)
}

/// The record stage: with an upload to record (`upload_id`), each part to send gets its
/// ciphertext's SHA-256 now (the buffer is recycled once sent) and, handed on with it, the entry
/// to write once S3 stored the part; without one, parts pass as they are.
pub(crate) struct Record<N> {
    upload_id: Option<Rc<str>>,
    next: N,
}

impl<N: Onward> Record<N> {
    /// Records the parts of `upload_id` (`None`: nothing is recorded) and hands them to `next`.
    pub(crate) fn new(upload_id: Option<&str>, next: N) -> Self {
        Self {
            upload_id: upload_id.map(Rc::from),
            next,
        }
    }

    /// The next stage.
    pub(crate) fn next_mut(&mut self) -> &mut N {
        &mut self.next
    }

    /// The next stage, this one done.
    pub(crate) fn into_next(self) -> N {
        self.next
    }
}

impl<N: Onward> Onward for Record<N> {
    async fn take(&mut self, mut out: Outgoing) -> Result<(), TransferError> {
        if let (Some(id), None) = (&self.upload_id, &out.held) {
            let sha256 = sha256(&out.part.bytes).await?;
            let (id, n) = (id.clone(), out.part.number);
            let size = u64::from(out.part.bytes.length());
            out.on_stored = Some(Box::new(move |etag| {
                Box::pin(async move {
                    let sent = SentPart { etag, size, sha256 };
                    // Without the entry the part is only sent again on resume.
                    let _ = save_part(&id, n, &sent).await;
                })
            }));
        }
        self.next.take(out).await
    }

    fn pool(&self) -> BufferPool {
        self.next.pool()
    }
}
