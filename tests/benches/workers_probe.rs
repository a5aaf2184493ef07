//! The probe the workers design starts from: raw `crypto.subtle.encrypt` (AES-256-GCM, 1 MiB
//! calls) in headless Chromium from the page with one and with four calls in flight, and from one,
//! two and four dedicated workers at once (each with one call in flight), all in the same run.
//! If WebCrypto seals on the calling thread, workers add cores; if it runs on one shared thread
//! per renderer, they do not. Reported, not asserted:
//! `cargo bench --profile dev -p cipherdrop-e2e --bench workers_probe` (`PROBE_MIB`, default 256).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cipherdrop_e2e::browser::Browser;
use cipherdrop_testkit::load::machine;
use cipherdrop_testkit::server::free_port;

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>probe</title><script>
// Gets ready to seal `mib` MiB in 1 MiB calls with `inFlight` calls in flight; resolves to a
// function that does it and resolves to the milliseconds it took (key and data made first).
async function seal(mib, inFlight) {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt']);
  const buf = new Uint8Array(1 << 20);
  for (let o = 0; o < buf.length; o += 65536) crypto.getRandomValues(buf.subarray(o, o + 65536));
  await crypto.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, key, buf);
  return async () => {
    const t0 = performance.now();
    let next = 0;
    const lane = async () => {
      while (next < mib) {
        const iv = new Uint8Array(12); new DataView(iv.buffer).setUint32(8, next++);
        await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, buf);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, lane));
    return performance.now() - t0;
  };
}
const WORKER = `${seal.toString()}
onmessage = async (e) => {
  const go = await seal(e.data.mib, e.data.inFlight);
  postMessage('ready');
  onmessage = async () => postMessage(await go());
};`;
const url = URL.createObjectURL(new Blob([WORKER], { type: 'text/javascript' }));
// `workers` workers at once (0: the page itself), each sealing `mib` MiB with `inFlight` calls
// in flight; the wall time in ms from the common start to the last one done.
window.probe = async (workers, mib, inFlight) => {
  if (workers === 0) {
    return await (await seal(mib, inFlight))();
  }
  const ws = Array.from({ length: workers }, () => new Worker(url));
  await Promise.all(ws.map((w) => new Promise((r) => { w.onmessage = r; w.postMessage({ mib, inFlight }); })));
  const t0 = performance.now();
  await Promise.all(ws.map((w) => new Promise((r) => { w.onmessage = r; w.postMessage('go'); })));
  const ms = performance.now() - t0;
  ws.forEach((w) => w.terminate());
  return ms;
};
</script>"#;

struct Served(Child);
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mib: u32 = std::env::var("PROBE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("probe.html"), PAGE).unwrap();
    let port = free_port().unwrap();
    let _served = Served(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let b = Browser::start().await.unwrap();
    b.client
        .goto(&format!("http://127.0.0.1:{port}/probe.html"))
        .await
        .unwrap();
    println!("{}", machine());
    println!(
        "raw crypto.subtle.encrypt, AES-256-GCM, 1 MiB calls, {mib} MiB in all per case (MB/s; median of 3)\n"
    );
    println!("| where | calls in flight | MB/s | × the page with one call |");
    println!("|---|---|---|---|");
    let cases: [(u32, u32, &str); 5] = [
        (0, 1, "the page"),
        (0, 4, "the page"),
        (1, 1, "1 worker"),
        (2, 1, "2 workers at once"),
        (4, 1, "4 workers at once"),
    ];
    let mut base = 0.0;
    for (workers, in_flight, label) in cases {
        let per = mib / workers.max(1);
        let mut runs = Vec::new();
        for _ in 0..3 {
            let ms = b
                .client
                .execute(
                    &format!("return window.probe({workers}, {per}, {in_flight});"),
                    vec![],
                )
                .await
                .unwrap()
                .as_f64()
                .unwrap();
            runs.push(f64::from(per * workers.max(1)) * 1_048_576.0 / (ms / 1000.0) / 1e6);
        }
        runs.sort_by(f64::total_cmp);
        let mbs = runs[1];
        if base == 0.0 {
            base = mbs;
        }
        let per_flight = if workers == 0 {
            in_flight.to_string()
        } else {
            format!("{in_flight} each")
        };
        println!("| {label} | {per_flight} | {mbs:.0} | {:.2} |", mbs / base);
    }
    b.close().await;
}
