//! Sealing workers: dedicated Web Workers (`seal-worker.js`) that run WebCrypto's AES-256-GCM
//! for the page, so the bulk cipher leaves the page's thread and several frames are sealed (or
//! opened) on several cores at once.
//!
//! Chromium seals inside the `encrypt` call on the calling thread (the workers probe in
//! BENCHMARKS.md: two workers at once reach 1.6–1.75× one thread), so a frame sealed on the page
//! blocks its input and rendering for its whole length, and the page alone uses one core.
//! Here the page keeps everything that must see the message in order (core's framing, the
//! SHA-384 of a signed message, packing into parts, the parts' PUTs and the upload's record)
//! and hands each frame to the next worker in turn; results come back in order because the
//! pipelines await them in order. Output is byte for byte what the page's own WebCrypto or
//! core's pure-Rust cipher produces: AES-GCM is deterministic given key, IV and AAD.
//!
//! A frame key reaches the workers once, as the page's non-extractable `CryptoKey`
//! (structured-cloned, so its bytes never become readable to script), and is forgotten by
//! them when the page drops it. Frames travel in transferred buffers, not copies: the page
//! reads each frame into a buffer of the pool's, which moves to the worker and comes back
//! holding the sealed frame, so the page's thread neither copies nor allocates per frame (a
//! copy and a fresh buffer per frame had cost half the speed and 25–35 ms pauses).
//!
//! Where workers cannot start (no `Worker`, a script that does not load, a refusal by the
//! page's CSP) the pool is never used and the pipelines seal on the page as before; if a worker
//! fails mid-transfer, that transfer fails with words (an upload keeps its parts and can be
//! resumed) and later ones seal on the page.

use std::cell::{Cell, RefCell};

use js_sys::{ArrayBuffer, Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;

/// Where the app serves the worker script (Trunk copies it next to `index.html`).
pub const SCRIPT: &str = "/seal-worker.js";
/// Workers at most, whatever the machine reports.
pub const MAX_WORKERS: u32 = 4;
/// Frames of this length and longer are sealed in the workers, shorter ones on the page, where
/// they measured faster (BENCHMARKS.md): a message per small frame costs more than sealing it,
/// and batching them (tried) paid for the messages in copies.
pub const WORKER_FRAMES_FROM: u32 = 512 * 1024;
/// How long the workers get to load and answer their first message.
const START_MS: u32 = 5_000;

#[wasm_bindgen(inline_js = r#"
export class Pool {
  constructor(workers, memory) {
    this.workers = workers; this.memory = memory;
    this.next = 0; this.ids = 0; this.kids = 0;
    this.pending = new Map(); this.broken = null; this.free = [];
    for (const w of workers) {
      w.onmessage = (e) => {
        const p = this.pending.get(e.data.id);
        if (!p) return;
        this.pending.delete(e.data.id);
        if (e.data.back) this.recycle(e.data.back);
        if (e.data.error !== undefined) p.reject(new DOMException('the frame did not ' + p.op, e.data.error));
        else p.resolve(e.data.out);
      };
      w.onerror = (e) => { e.preventDefault(); this.fail('an encryption worker stopped'); };
      w.onmessageerror = () => this.fail('an encryption worker could not read a message');
    }
  }
  fail(why) {
    if (this.broken) return;
    this.broken = why;
    for (const w of this.workers) w.terminate();
    const gone = new DOMException(why, 'WorkerError');
    for (const p of this.pending.values()) p.reject(gone);
    this.pending.clear();
    this.free = [];
  }
  get size() { return this.workers.length; }
  get is_broken() { return this.broken !== null; }
  add_key(key) {
    const kid = ++this.kids;
    for (const w of this.workers) w.postMessage({ op: 'key', kid, key });
    return kid;
  }
  forget(kid) { if (!this.broken) for (const w of this.workers) w.postMessage({ op: 'forget', kid }); }
  terminate() { this.fail('the encryption workers were stopped'); }
  // A buffer of exactly `len` bytes to fill and hand to `run`: a recycled one when there is one.
  buffer(len) {
    const i = this.free.findIndex((b) => b.byteLength === len);
    return new Uint8Array(i < 0 ? new ArrayBuffer(len) : this.free.splice(i, 1)[0]);
  }
  recycle(buf) {
    if (buf.byteLength > 0 && this.free.length < 4 * this.workers.length + 4) this.free.push(buf);
  }
  run(op, kid, iv, aad, data) {
    if (this.broken) return Promise.reject(new DOMException(this.broken, 'WorkerError'));
    const id = ++this.ids;
    // A view of wasm memory is copied (its buffer must never leave); any other buffer moves
    // to the worker, detached here, and comes back with the result.
    const own = data.buffer === this.memory.buffer ? data.slice() : data;
    const w = this.workers[this.next];
    this.next = (this.next + 1) % this.workers.length;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, op });
      w.postMessage({ op, id, kid, iv: iv.slice(), aad: aad.slice(), data: own }, [own.buffer]);
    });
  }
}
export function start_pool(url, n, ms, memory) {
  if (typeof Worker !== 'function' || n < 1) return Promise.resolve(null);
  const workers = [];
  try {
    for (let i = 0; i < n; i++) workers.push(new Worker(url));
  } catch (_) {
    workers.forEach((w) => w.terminate());
    return Promise.resolve(null);
  }
  const answered = Promise.all(workers.map((w) => new Promise((resolve, reject) => {
    w.onmessage = () => resolve();
    w.onerror = (e) => { e.preventDefault(); reject(); };
    w.postMessage({ op: 'ping', id: 0 });
  })));
  const late = new Promise((resolve) => setTimeout(() => resolve(false), ms));
  return Promise.race([answered.then(() => true, () => false), late]).then((ok) => {
    if (ok) return new Pool(workers, memory);
    workers.forEach((w) => w.terminate());
    return null;
  });
}
export function hardware_concurrency() {
  return (globalThis.navigator && navigator.hardwareConcurrency) || 1;
}
"#)]
extern "C" {
    /// A started pool of sealing workers.
    #[derive(Clone)]
    pub type Pool;
    fn start_pool(url: &str, n: u32, ms: u32, memory: &JsValue) -> Promise;
    fn hardware_concurrency() -> u32;
    #[wasm_bindgen(method, getter)]
    fn size(this: &Pool) -> u32;
    #[wasm_bindgen(method, getter)]
    fn is_broken(this: &Pool) -> bool;
    #[wasm_bindgen(method)]
    fn add_key(this: &Pool, key: &CryptoKey) -> u32;
    #[wasm_bindgen(method)]
    fn forget(this: &Pool, kid: u32);
    #[wasm_bindgen(method)]
    fn terminate(this: &Pool);
    #[wasm_bindgen(method)]
    fn buffer(this: &Pool, len: u32) -> Uint8Array;
    #[wasm_bindgen(method)]
    fn recycle(this: &Pool, buf: &ArrayBuffer);
    #[wasm_bindgen(method)]
    fn run(this: &Pool, op: &str, kid: u32, iv: &[u8], aad: &[u8], data: &Object) -> Promise;
}

thread_local! {
    /// The pool being started or started (a promise of it, or of null where workers failed).
    static POOL: RefCell<Option<Promise>> = const { RefCell::new(None) };
    /// Workers to start: `None` for the machine's count (capped), `Some(0)` for none.
    static WANTED: Cell<Option<u32>> = const { Cell::new(None) };
    /// The worker script (tests point it elsewhere to see the fallback).
    static URL: RefCell<String> = RefCell::new(SCRIPT.to_owned());
}

/// How many workers to start: one core fewer than the machine has
/// (`navigator.hardwareConcurrency`; the page's own thread reads, frames and packs), at least
/// one and at most [`MAX_WORKERS`], unless [`configure`] said otherwise.
pub fn wanted() -> u32 {
    WANTED.with(Cell::get).unwrap_or_else(|| {
        hardware_concurrency()
            .saturating_sub(1)
            .clamp(1, MAX_WORKERS)
    })
}

/// Sets the number of workers (`Some(0)`: none, seal on the page; `None`: the default) and the
/// script, stopping a pool already started; the next key starts a new one. For tests and
/// benchmarks.
pub fn configure(workers: Option<u32>, script: Option<&str>) {
    WANTED.with(|w| w.set(workers));
    URL.with(|u| *u.borrow_mut() = script.unwrap_or(SCRIPT).to_owned());
    if let Some(old) = POOL.with(|p| p.borrow_mut().take()) {
        wasm_bindgen_futures::spawn_local(async move {
            if let Ok(pool) = JsFuture::from(old).await
                && let Some(pool) = pool.dyn_ref::<Pool>()
            {
                pool.terminate();
            }
        });
    }
}

/// The pool, started on first use; `None` where workers are off, failed to start, or broke.
pub async fn pool() -> Option<Pool> {
    let n = wanted();
    if n == 0 {
        return None;
    }
    let promise = POOL.with(|p| {
        p.borrow_mut()
            .get_or_insert_with(|| {
                URL.with(|u| start_pool(&u.borrow(), n, START_MS, &wasm_bindgen::memory()))
            })
            .clone()
    });
    let pool = JsFuture::from(promise)
        .await
        .ok()?
        .dyn_into::<Pool>()
        .ok()?;
    (!pool.is_broken()).then_some(pool)
}

/// A frame key the pool's workers hold, forgotten by them when dropped.
pub struct PooledKey {
    pool: Pool,
    kid: u32,
}

impl PooledKey {
    /// Hands `key` (non-extractable) to every worker of `pool`.
    pub fn new(pool: Pool, key: &CryptoKey) -> Self {
        let kid = pool.add_key(key);
        Self { pool, kid }
    }

    /// Frames worth having in flight: two per worker (one sealing, one waiting), which the
    /// measurements in BENCHMARKS.md found best.
    pub fn parallelism(&self) -> usize {
        (self.pool.size() as usize * 2).max(4)
    }

    /// A buffer of exactly `len` bytes to read a frame into (a recycled one where possible).
    pub fn buffer(&self, len: u32) -> Uint8Array {
        self.pool.buffer(len)
    }

    /// Gives a buffer the page is done with back for [`PooledKey::buffer`].
    pub fn recycle(&self, buf: &ArrayBuffer) {
        self.pool.recycle(buf);
    }

    /// Starts sealing (`op` "seal") or opening ("open") `data` on the next worker. Unless it is
    /// a view of wasm memory (then copied), `data`'s buffer moves to the worker and is
    /// detached here.
    pub fn run(&self, op: &str, iv: &[u8], aad: &[u8], data: &Object) -> Promise {
        self.pool.run(op, self.kid, iv, aad, data)
    }
}

impl Drop for PooledKey {
    fn drop(&mut self) {
        self.pool.forget(self.kid);
    }
}
