//! Small pieces of browser glue that `web-sys` lacks: saving files, timers and the clock, BYOB
//! stream reads, the clipboard, and thrown JavaScript values in words.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(inline_js = r#"
export function has_save_picker() { return typeof globalThis.showSaveFilePicker === 'function'; }
export async function open_save_file(name) {
  const handle = await globalThis.showSaveFilePicker({ suggestedName: name });
  return await handle.createWritable();
}
export async function open_private_file(name) {
  const dir = await navigator.storage.getDirectory();
  const handle = await dir.getFileHandle(name, { create: true });
  return await handle.createWritable();
}
export async function write_chunk(w, data) { await w.write(data); }
export async function close_file(w) { await w.close(); }
export async function abort_file(w) { try { await w.abort(); } catch (_) { } }
export function save_blob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url; a.download = name; a.style.display = 'none';
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
export function object_url(blob, type) { return URL.createObjectURL(new Blob([blob], { type })); }
export function revoke_url(url) { URL.revokeObjectURL(url); }
export function sleep_ms(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }
export function now_ms() { return performance.now(); }
export function js_error_message(e) {
  if (e instanceof Error) { return e.name + ': ' + e.message; }
  return String(e);
}
export function is_online() { return navigator.onLine !== false; }
export function online_or_after(ms) {
  return new Promise((resolve) => {
    if (navigator.onLine !== false) { resolve(); return; }
    const done = () => { clearTimeout(t); removeEventListener('online', done); resolve(); };
    const t = setTimeout(done, ms);
    addEventListener('online', done);
  });
}
export function js_error_name(e) { return (e && e.name) ? String(e.name) : ''; }
export function yield_now() {
  return new Promise((resolve) => { const c = new MessageChannel(); c.port1.onmessage = () => resolve(); c.port2.postMessage(0); });
}
export async function copy_text(text) {
  try { await navigator.clipboard.writeText(text); return true; } catch (_) { return false; }
}
export function byob_reader(stream) {
  try { return stream.getReader({ mode: 'byob' }); } catch (_) { return null; }
}
export async function byob_read(reader, view) {
  const { done, value } = await reader.read(view);
  return done ? null : value;
}
export async function byob_fill(reader, view) {
  const base = view.byteOffset, len = view.byteLength;
  let buf = view.buffer, got = 0;
  while (got < len) {
    const { done, value } = await reader.read(new Uint8Array(buf, base + got, len - got));
    if (!value) throw new TypeError('the stream was cancelled');
    buf = value.buffer;
    got += value.byteLength;
    if (done) break;
  }
  return new Uint8Array(buf, base, got);
}
export function memory_stream(parts) {
  const own = parts.map((p) => p.slice());
  let i = 0;
  return new ReadableStream({
    type: 'bytes',
    pull(c) {
      if (i < own.length) return c.enqueue(own[i++]);
      c.close();
      // A read waiting on a closed byte stream ends only once its request is answered.
      if (c.byobRequest) c.byobRequest.respond(0);
    },
  });
}
"#)]
extern "C" {
    /// Whether the File System Access save dialog exists in this browser.
    pub fn has_save_picker() -> bool;
    #[wasm_bindgen(catch)]
    async fn open_save_file(name: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn open_private_file(name: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn write_chunk(w: &JsValue, data: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn close_file(w: &JsValue) -> Result<JsValue, JsValue>;
    async fn abort_file(w: &JsValue);
    /// Offers `blob` as a download called `name` (the classic `<a download>` way).
    pub fn save_blob(blob: &web_sys::Blob, name: &str);
    /// A `blob:` URL for `blob` as media type `type` (the type set here, not the blob's own).
    pub fn object_url(blob: &web_sys::Blob, r#type: &str) -> String;
    /// Frees a `blob:` URL.
    pub fn revoke_url(url: &str);
    fn sleep_ms(ms: f64) -> Promise;
    /// Milliseconds on the page's monotonic clock.
    pub fn now_ms() -> f64;
    /// A readable one-line description of a thrown JavaScript value.
    pub fn js_error_message(e: &JsValue) -> String;
    /// The `name` of a thrown DOMException or Error (`AbortError`, `OperationError`, ...).
    pub fn js_error_name(e: &JsValue) -> String;
    fn yield_now() -> Promise;
    /// Whether the browser believes it is online (`navigator.onLine`).
    pub fn is_online() -> bool;
    fn online_or_after(ms: f64) -> Promise;
    /// Copies `text` to the clipboard; whether it worked.
    pub async fn copy_text(text: &str) -> JsValue;
    /// A bring-your-own-buffer reader of `stream`, or `null` where the browser has none for it
    /// (a stream that is not a byte stream).
    pub fn byob_reader(stream: &web_sys::ReadableStream) -> JsValue;
    /// Reads into `view` (which is detached): the filled view, or `null` at the end.
    #[wasm_bindgen(catch)]
    pub async fn byob_read(reader: &JsValue, view: &js_sys::Uint8Array)
    -> Result<JsValue, JsValue>;
    /// Reads into `view` until it is full or the stream ends (`view`'s buffer moves on each
    /// read): a view of the bytes read, over the buffer as it came back. After an error the
    /// buffer is gone.
    #[wasm_bindgen(catch)]
    pub async fn byob_fill(reader: &JsValue, view: &js_sys::Uint8Array)
    -> Result<JsValue, JsValue>;
    /// A byte stream of copies of `parts` (made now), handed out one by one as the reader
    /// pulls: a response body whose bytes are already in memory (the decrypt benchmark's).
    pub fn memory_stream(parts: &js_sys::Array) -> web_sys::ReadableStream;
}

/// A Unix time (seconds) as local date and time.
pub fn local_date(unix_seconds: i64) -> String {
    let d = js_sys::Date::new(&JsValue::from_f64(unix_seconds as f64 * 1000.0));
    String::from(d.to_locale_string("default", &JsValue::UNDEFINED))
}

/// Waits until the browser is back online (its `online` event) or `ms` pass, whichever is first.
pub async fn online_or_timeout(ms: f64) {
    let _ = JsFuture::from(online_or_after(ms)).await;
}

/// Waits `ms` milliseconds without blocking the page.
pub async fn sleep(ms: f64) {
    let _ = JsFuture::from(sleep_ms(ms)).await;
}

/// Lets the page's other tasks (input, timers, rendering) run before continuing: a long
/// chain of crypto promises otherwise keeps them waiting.
pub async fn yield_to_page() {
    let _ = JsFuture::from(yield_now()).await;
}

/// A file being written through the File System Access API. Nothing appears on disk unless
/// [`SaveFile::commit`] succeeds: the browser writes to a temporary file and swaps it in on close.
pub struct SaveFile(JsValue);

impl SaveFile {
    /// Asks the user where to save (must run during a click's user activation).
    /// `Ok(None)` when they cancel the dialog.
    pub async fn pick(name: &str) -> Result<Option<Self>, String> {
        match open_save_file(name).await {
            Ok(w) => Ok(Some(Self(w))),
            Err(e) if js_error_name(&e) == "AbortError" => Ok(None),
            Err(e) => Err(js_error_message(&e)),
        }
    }

    /// A file of this origin's private file system (no dialog): the same writable stream as a
    /// picked file, for benchmarks and tests that save as a download does.
    pub async fn private(name: &str) -> Result<Self, String> {
        open_private_file(name)
            .await
            .map(Self)
            .map_err(|e| js_error_message(&e))
    }

    /// Appends `data` (a buffer source or Blob).
    pub async fn write(&self, data: &JsValue) -> Result<(), String> {
        write_chunk(&self.0, data)
            .await
            .map(drop)
            .map_err(|e| js_error_message(&e))
    }

    /// Makes the written bytes the file's content.
    pub async fn commit(self) -> Result<(), String> {
        close_file(&self.0)
            .await
            .map(drop)
            .map_err(|e| js_error_message(&e))
    }

    /// Throws away everything written: the target file is left as it was.
    pub async fn discard(self) {
        abort_file(&self.0).await;
    }
}
