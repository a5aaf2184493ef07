//! In-browser benchmarks of the web app (headless Chromium, the real page and pipelines):
//! encrypt-only and decrypt-only throughput against raw WebCrypto in the same page, with the
//! sealing workers and with WebCrypto on the page's thread, and the page thread's longest stall;
//! `@aws-crypto/client-browser` on the same bytes at 4 KiB, 64 KiB and 1 MiB frames when its
//! bundle exists (`bash scripts/bench-js.sh`); encrypt-and-upload of 1 GiB against uploading the
//! same bytes unencrypted through the same presigned multipart path, with the tab's peak memory;
//! download-and-decrypt of 1 GiB into a file against the same download undecrypted, with the
//! tab's peak memory; and the resume overhead of a 1 GiB upload half sent. Reported, not asserted:
//! `cargo bench -p cipherdrop-e2e --bench web`.
//!
//! Sizes: `BENCH_MIB` (default 256) for encrypt-only, `BENCH_UPLOAD_MIB` (default 1024) for the
//! upload, the download and the resume. `BENCH_JS` runs one experiment in the logged-in page instead
//! (`BENCH_JS_SETUP`, `BENCH_JS_FILE_MIB` for a file; `BENCH_PROFILE=1` adds a CPU profile of the
//! page's thread).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::time::Duration;

use anyhow::{Context as _, Result};
use cipherdrop_e2e::browser::{Browser, cipherdrop_bin, web_dist};
use cipherdrop_testkit::load::machine;
use cipherdrop_testkit::load::{peak_rss_kib, reset_peak_rss};
use cipherdrop_testkit::server::{Client, PASSWORD, ServerProcess, add_user};
use serde_json::Value;

const MIB: f64 = 1024.0 * 1024.0;
const RUNS: usize = 3;

/// Page-side helpers: random test data as Blobs, and the raw WebCrypto reference.
const HELPERS: &str = r#"
window.__blobs = window.__blobs || {};
window.__makeBlob = async (name, mib) => {
  const parts = [];
  for (let i = 0; i < mib; i++) {
    const chunk = new Uint8Array(1 << 20);
    for (let o = 0; o < chunk.length; o += 65536) crypto.getRandomValues(chunk.subarray(o, o + 65536));
    parts.push(chunk);
  }
  window.__blobs[name] = new Blob(parts);
  return window.__blobs[name].size;
};
window.__rawWebCrypto = async (name) => {
  const buf = new Uint8Array(await window.__blobs[name].arrayBuffer());
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt']);
  const iv = new Uint8Array(12);
  const t0 = performance.now();
  for (let o = 0, n = 0; o < buf.length; o += 1 << 20, n++) {
    new DataView(iv.buffer).setUint32(8, n);
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv, tagLength: 128 }, key, buf.subarray(o, o + (1 << 20)));
  }
  return performance.now() - t0;
};
window.__rawWebCryptoDecrypt = async (name) => {
  // Sealed 1 MiB chunks made first (not timed), then opened one after another.
  const buf = new Uint8Array(await window.__blobs[name].arrayBuffer());
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const sealed = [];
  for (let o = 0, n = 0; o < buf.length; o += 1 << 20, n++) {
    const iv = new Uint8Array(12);
    new DataView(iv.buffer).setUint32(8, n);
    sealed.push([iv, await crypto.subtle.encrypt({ name: 'AES-GCM', iv, tagLength: 128 }, key, buf.subarray(o, o + (1 << 20)))]);
  }
  const t0 = performance.now();
  for (const [iv, c] of sealed) await crypto.subtle.decrypt({ name: 'AES-GCM', iv, tagLength: 128 }, key, c);
  return performance.now() - t0;
};
window.__rawWebCryptoFile = async (name) => {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt']);
  const iv = new Uint8Array(12);
  const t0 = performance.now();
  const reader = window.__blobs[name].stream().getReader({ mode: 'byob' });
  let buf = new Uint8Array(1 << 20), n = 0;
  for (;;) {
    let fill = 0, done = false;
    while (fill < buf.length) {
      const r = await reader.read(buf.subarray(fill));
      if (r.done) { done = true; break; }
      buf = new Uint8Array(r.value.buffer); fill += r.value.length;
    }
    if (fill > 0) { new DataView(iv.buffer).setUint32(8, n++); await crypto.subtle.encrypt({ name: 'AES-GCM', iv, tagLength: 128 }, key, buf.subarray(0, fill)); }
    if (done) break;
  }
  return performance.now() - t0;
};
window.__lag = async (work) => {
  // The longest the page's event loop was blocked while `work` ran (a 5 ms timer's worst gap).
  let last = performance.now(), worst = 0;
  const timer = setInterval(() => { const now = performance.now(); worst = Math.max(worst, now - last); last = now; }, 5);
  await work();
  clearInterval(timer);
  // A timer that never got a turn means the page was blocked to the end: count that gap too.
  return Math.max(worst, performance.now() - last);
};
window.__gc = () => { if (window.gc) { window.gc(); } };
"#;

struct Bench {
    b: Browser,
}

impl Bench {
    async fn run(&self, script: &str) -> Result<Value> {
        self.b
            .client
            .execute(&format!("return (async () => {{ {script} }})();"), vec![])
            .await
            .with_context(|| format!("running {script}"))
    }

    /// Makes `window.__blobs[name]` a File of `mib` MiB of random bytes on disk, picked through
    /// a file input (as a user's file is: read from disk, not held in memory).
    async fn file_blob(&self, dir: &std::path::Path, name: &str, mib: usize) -> Result<()> {
        use std::io::Write as _;
        let path = dir.join(format!("{name}.bin"));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut chunk = vec![0u8; 1 << 20];
        for i in 0..mib {
            rand::Rng::fill_bytes(&mut rand::rng(), &mut chunk);
            chunk[0] = i as u8;
            f.write_all(&chunk)?;
        }
        f.flush()?;
        self.run(&format!(
            "let i = document.getElementById('bench-{name}'); \
             if (!i) {{ i = document.createElement('input'); i.type = 'file'; i.id = 'bench-{name}'; document.body.appendChild(i); }} \
             return 0;"
        ))
        .await?;
        self.b
            .client
            .find(fantoccini::Locator::Css(&format!("#bench-{name}")))
            .await?
            .send_keys(&path.display().to_string())
            .await?;
        self.run(&format!(
            "window.__blobs['{name}'] = document.getElementById('bench-{name}').files[0]; return window.__blobs['{name}'].size;"
        ))
        .await?;
        Ok(())
    }

    /// The number of sealing workers the page starts (one fewer than its
    /// `navigator.hardwareConcurrency`, from 1 to 4).
    async fn workers(&self) -> Result<u64> {
        self.run("return Math.min(Math.max((navigator.hardwareConcurrency || 1) - 1, 1), 4);")
            .await?
            .as_u64()
            .context("a number")
    }

    async fn ms(&self, script: &str) -> Result<f64> {
        self.run(script)
            .await?
            .as_f64()
            .with_context(|| format!("{script} gave no number"))
    }

    /// Runs `script` and returns (its result, the largest peak-RSS growth over idle of any of
    /// the browser's renderers, in MiB).
    async fn with_memory(&self, script: &str) -> Result<(Value, f64)> {
        self.run("window.__gc(); await new Promise(r => setTimeout(r, 200)); return 0;")
            .await?;
        let pids = self.b.renderer_pids();
        let mut idle = Vec::new();
        for &pid in &pids {
            let _ = reset_peak_rss(pid);
            idle.push(peak_rss_kib(pid).unwrap_or(0));
        }
        let value = self.run(script).await?;
        let grown = pids
            .iter()
            .zip(&idle)
            .map(|(&pid, &base)| peak_rss_kib(pid).unwrap_or(0).saturating_sub(base))
            .max()
            .unwrap_or(0);
        Ok((value, grown as f64 / 1024.0))
    }
}

/// Download and decrypt of a `mib` MiB file from the embedded S3 into a file (the origin's
/// private file system, the same writable stream as a picked file) against the same bytes
/// fetched and written undecrypted; the tab's peak memory while downloading.
async fn download(bench: &Bench, api: &Client, dir: &std::path::Path, mib: f64) -> Result<()> {
    bench.file_blob(dir, "down", mib as usize).await?;
    let v = bench
        .run("window.wasmBindings.bench_cipher(-1, '', false); return await window.wasmBindings.bench_upload(window.__blobs.down, 0x0478, 1048576, 4);")
        .await?;
    let id = v[1].as_str().context("id")?.to_owned();
    bench
        .run("delete window.__blobs.down; window.__gc(); return 0;")
        .await?;
    let ours = format!("return await window.wasmBindings.bench_download('{id}');");
    let plain = format!("return await window.wasmBindings.bench_plain_download('{id}');");
    bench.ms(&ours).await?; // warm-up
    let (mut dec, mut raw, mut mem) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let (v, m) = bench.with_memory(&ours).await?;
        dec.push(v.as_f64().context("ms")?);
        mem.push(m);
        raw.push(bench.ms(&plain).await?);
    }
    api.call(reqwest::Method::DELETE, &format!("/api/objects/{id}"), None)
        .await?;
    let (d, r) = (median(dec), median(raw));
    println!(
        "\n## Download and decrypt from the embedded S3 into a file, sealing workers (median of {RUNS})"
    );
    println!(
        "| size | download+decrypt MB/s | same bytes downloaded undecrypted MB/s | time ratio | peak tab memory over idle (download+decrypt) |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {mib} MiB | {:.0} | {:.0} | {:.2}× | {:.1} MiB |",
        rate(mib, d),
        rate(mib, r),
        d / r,
        median(mem)
    );
    Ok(())
}

/// The resume overhead: an upload of `mib` MiB through the page's file picker with every part
/// past the first half blocked (CDP), the tab reloaded once half is in S3, the same file chosen
/// again under "Unfinished uploads"; the time from choosing it to the first new part stored
/// (the file checked against the parts S3 holds, the message rebuilt up to there), and to the
/// end. Leaves the page reloaded (the helpers gone): run it last.
async fn resume_overhead(bench: &Bench, dir: &std::path::Path, mib: f64) -> Result<()> {
    const PART: u64 = 5 << 20;
    let b = &bench.b;
    bench.file_blob(dir, "resume", mib as usize).await?;
    let path = dir.join("resume.bin");
    let bytes = (mib * MIB) as u64;
    let parts = bytes / PART + 2;
    let half = parts / 2;
    let blocked: Vec<String> = (half + 1..=parts)
        .map(|n| format!("*partNumber={n}&*"))
        .collect();
    b.cdp("Network.enable", serde_json::json!({})).await?;
    b.cdp(
        "Network.setBlockedURLs",
        serde_json::json!({ "urls": blocked }),
    )
    .await?;
    let progress = "document.querySelector('li.upload[data-name=\"resume.bin\"] progress')";
    let stored_over = |at_least: u64| {
        format!(
            "(() => {{ const p = {progress}; return p !== null && Number(p.value) >= {at_least}; }})()"
        )
    };
    b.type_into("#file-input", &path.display().to_string())
        .await?;
    b.wait_until_js(&stored_over(half * PART), Duration::from_secs(600))
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.client.refresh().await?;
    b.cdp("Network.setBlockedURLs", serde_json::json!({ "urls": [] }))
        .await?;
    let input = "li.unfinished-upload[data-name=\"resume.bin\"] input.resume-input";
    b.wait_for(input, Duration::from_secs(60)).await?;
    let started = std::time::Instant::now();
    b.type_into(input, &path.display().to_string()).await?;
    b.wait_until_js(&stored_over(half * PART + 1), Duration::from_secs(600))
        .await?;
    let first = started.elapsed();
    let (state, message) = b
        .upload_outcome("resume.bin", Duration::from_secs(600))
        .await?;
    let done = started.elapsed();
    println!(
        "\n## Resume: {mib} MiB, 0x0478, {half} of {} parts in S3, the tab reloaded, the same file chosen again",
        parts - 1
    );
    println!("| from choosing the file to | s |");
    println!("|---|---|");
    println!(
        "| the first new part stored in S3 (the resume overhead) | {:.1} |",
        first.as_secs_f64()
    );
    println!(
        "| the upload complete ({state}: {message}) | {:.1} |",
        done.as_secs_f64()
    );
    Ok(())
}

/// Prints the 25 functions with the most self time in a CDP CPU profile (`BENCH_PROFILE`).
fn print_profile(profile: &Value) {
    let mut names = std::collections::HashMap::new();
    for node in profile["nodes"].as_array().into_iter().flatten() {
        let f = &node["callFrame"];
        let url = f["url"].as_str().unwrap_or("");
        let name = format!(
            "{} ({}:{})",
            f["functionName"].as_str().unwrap_or("?"),
            url.rsplit('/').next().unwrap_or(url),
            f["lineNumber"]
        );
        names.insert(node["id"].as_u64().unwrap_or(0), name);
    }
    let mut counts: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    let samples = profile["samples"].as_array().cloned().unwrap_or_default();
    for id in &samples {
        if let Some(n) = names.get(&id.as_u64().unwrap_or(0)) {
            *counts.entry(n.as_str()).or_default() += 1;
        }
    }
    let mut top: Vec<_> = counts.into_iter().collect();
    top.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    let total = samples.len().max(1) as f64;
    for (name, n) in top.into_iter().take(25) {
        println!("{:5.1}%  {name}", 100.0 * n as f64 / total);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rate(bytes_mib: f64, ms: f64) -> f64 {
    bytes_mib * MIB / 1e6 / (ms / 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mib: f64 = std::env::var("BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256.0);
    let up_mib: f64 = std::env::var("BENCH_UPLOAD_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024.0);
    let bin = cipherdrop_bin()?;
    let web = web_dist()?;
    let data = tempfile::tempdir()?;
    let files = tempfile::tempdir()?;
    let server = ServerProcess::start_with_web(
        &bin,
        data.path(),
        &web,
        &["--max-object-size", &(8u64 << 30).to_string()],
        &[("RUST_LOG", "warn")],
    )?;
    add_user(&bin, data.path(), "bench", PASSWORD, false)?;
    let api = Client::new(&server.url);
    api.login("bench", PASSWORD).await?;
    let b = Browser::start().await?;
    b.client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(1800)),
            Some(Duration::from_secs(60)),
            None,
        ))
        .await?;
    b.log_in(&server.url, "bench", PASSWORD).await?;
    let bench = Bench { b };
    bench.run(&format!("{HELPERS}; return 0;")).await?;
    if let Ok(js) = std::env::var("BENCH_JS") {
        // An ad-hoc experiment in the logged-in page (helpers loaded): prints its result.
        if let Ok(setup) = std::env::var("BENCH_JS_SETUP") {
            bench.run(&setup).await?;
        }
        if let Some(mib) = std::env::var("BENCH_JS_FILE_MIB")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            bench.file_blob(files.path(), "x", mib).await?;
        }
        let profiling = std::env::var("BENCH_PROFILE").is_ok();
        if profiling {
            bench
                .b
                .cdp("Profiler.enable", serde_json::json!({}))
                .await?;
            bench
                .b
                .cdp(
                    "Profiler.setSamplingInterval",
                    serde_json::json!({"interval": 200}),
                )
                .await?;
            bench.b.cdp("Profiler.start", serde_json::json!({})).await?;
        }
        let (value, grown) = bench.with_memory(&js).await?;
        println!("{value}\npeak renderer growth: {grown:.1} MiB");
        if profiling {
            // The page thread's busiest functions by self time (samples of 0.2 ms).
            let profile = bench.b.cdp("Profiler.stop", serde_json::json!({})).await?;
            print_profile(&profile["profile"]);
        }
        bench.b.close().await;
        return Ok(());
    }
    println!("# Web app benchmarks ({}; headless Chromium)", machine());

    // 1. Encrypt only: the page's pipeline from a Blob (sealing workers, and WebCrypto on the
    // page's own thread) vs raw WebCrypto over the same bytes, interleaved run by run.
    bench.file_blob(files.path(), "enc", mib as usize).await?;
    let workers = bench.workers().await?;
    // The page's encryption with the cipher chosen (`bench_cipher`), as it is or inside
    // `window.__lag` (which answers the longest main-thread stall instead of the time).
    let encrypt = |suite: &str, frame: u32, cipher: i32, lag: bool| {
        let call =
            format!("window.wasmBindings.bench_encrypt(window.__blobs.enc, {suite}, {frame})");
        let call = if lag {
            format!("window.__lag(() => {call})")
        } else {
            call
        };
        format!("window.wasmBindings.bench_cipher({cipher}, '', false); return await {call};")
    };
    let ours = |suite: &str, frame: u32, cipher: i32| encrypt(suite, frame, cipher, false);
    let (w78, p78, w58) = (
        ours("0x0478", 1 << 20, -1),
        ours("0x0478", 1 << 20, 0),
        ours("0x0578", 1 << 20, -1),
    );
    bench.ms(&w78).await?; // warm-up
    bench.ms(&p78).await?;
    bench
        .ms("return await window.__rawWebCrypto('enc');")
        .await?;
    let (mut ow, mut op, mut raw, mut raw_file, mut signed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        ow.push(bench.ms(&w78).await?);
        raw.push(
            bench
                .ms("return await window.__rawWebCrypto('enc');")
                .await?,
        );
        op.push(bench.ms(&p78).await?);
        raw_file.push(
            bench
                .ms("return await window.__rawWebCryptoFile('enc');")
                .await?,
        );
        signed.push(bench.ms(&w58).await?);
    }
    let (o, pg, r, s, rf) = (
        median(ow),
        median(op),
        median(raw),
        median(signed),
        median(raw_file),
    );
    let (lag_w, lag_p, lag_s) = (
        bench.ms(&encrypt("0x0478", 1 << 20, -1, true)).await?,
        bench.ms(&encrypt("0x0478", 1 << 20, 0, true)).await?,
        bench.ms(&encrypt("0x0578", 1 << 20, -1, true)).await?,
    );
    println!(
        "\n## Encrypt only, a {mib} MiB file picked from disk, frame 1 MiB (median of {RUNS}, interleaved)"
    );
    println!("| contender | MB/s | % of raw WebCrypto | longest main-thread stall |");
    println!("|---|---|---|---|");
    println!(
        "| raw WebCrypto AES-256-GCM, 1 MiB chunks, sequential, bytes already in memory, the page's thread | {:.0} | 100% | |",
        rate(mib, r)
    );
    println!(
        "| raw WebCrypto, 1 MiB chunks read from the file (BYOB stream), sequential | {:.0} | {:.0}% | |",
        rate(mib, rf),
        100.0 * r / rf
    );
    println!(
        "| Cipherdrop page, 0x0478, {workers} sealing workers (reads the file, ESDK framing, 5 MiB parts) | {:.0} | {:.0}% | {lag_w:.0} ms |",
        rate(mib, o),
        100.0 * r / o
    );
    println!(
        "| Cipherdrop page, 0x0478, WebCrypto on the page's thread (no workers) | {:.0} | {:.0}% | {lag_p:.0} ms |",
        rate(mib, pg),
        100.0 * r / pg
    );
    println!(
        "| Cipherdrop page, 0x0578 (signed: SHA-384 of the message on the page), {workers} workers | {:.0} | {:.0}% | {lag_s:.0} ms |",
        rate(mib, s),
        100.0 * r / s
    );
    let (_, mem_enc) = bench.with_memory(&w78).await?;
    println!("peak tab memory over idle while encrypting {mib} MiB (workers): {mem_enc:.1} MiB");
    let dec = |cipher: i32, from_blob: bool| {
        format!(
            "window.wasmBindings.bench_cipher({cipher}, '', false); \
             return await window.wasmBindings.bench_decrypt(window.__blobs.enc, 0x0478, 1048576, {from_blob});"
        )
    };
    let (mut dw, mut dp, mut db, mut raw_dec) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        dw.push(bench.ms(&dec(-1, false)).await?);
        raw_dec.push(
            bench
                .ms("return await window.__rawWebCryptoDecrypt('enc');")
                .await?,
        );
        dp.push(bench.ms(&dec(0, false)).await?);
        db.push(bench.ms(&dec(-1, true)).await?);
    }
    let (d, dpg, dbl, rd) = (median(dw), median(dp), median(db), median(raw_dec));
    println!(
        "\n## Decrypt only, the same {mib} MiB as an ESDK message, frame 1 MiB (median of {RUNS}, interleaved)"
    );
    println!("| contender | MB/s | % of raw WebCrypto |");
    println!("|---|---|---|");
    println!(
        "| raw WebCrypto AES-256-GCM decrypt, 1 MiB chunks, sequential, in memory, the page's thread | {:.0} | 100% |",
        rate(mib, rd)
    );
    println!(
        "| Cipherdrop page, 0x0478, {workers} sealing workers (the download pipeline, a byte stream from memory) | {:.0} | {:.0}% |",
        rate(mib, d),
        100.0 * rd / d
    );
    println!(
        "| Cipherdrop page, 0x0478, WebCrypto on the page's thread (a byte stream from memory) | {:.0} | {:.0}% |",
        rate(mib, dpg),
        100.0 * rd / dpg
    );
    println!(
        "| Cipherdrop page, 0x0478, {workers} sealing workers, the stream of a Blob (Chromium's Blob storage reads it) | {:.0} | {:.0}% |",
        rate(mib, dbl),
        100.0 * rd / dbl
    );

    // 2. @aws-crypto/client-browser on the same bytes (one-shot API: input in memory), at
    // three frame sizes, interleaved with the page (workers).
    let bundle = cipherdrop_testkit::repo_root().join("target/bench-js/aws-crypto-bench.bundle.js");
    if bundle.exists() {
        let code = std::fs::read_to_string(&bundle)?;
        bench.b.client.execute(&code, vec![]).await?;
        let version = bench
            .run("return globalThis.awsCryptoBench.version;")
            .await?;
        println!(
            "\n## @aws-crypto/client-browser {version} against the page (sealing workers), 0x0478 (median of {RUNS}, interleaved)"
        );
        println!(
            "| frame | bytes (the most it could take) | Cipherdrop MB/s | @aws-crypto MB/s | its time ÷ ours | peak tab memory over idle: ours / @aws-crypto |"
        );
        println!("|---|---|---|---|---|---|");
        for frame in [4096u32, 65536, 1 << 20] {
            // Its one-shot API overflows the call stack on many frames: halve the input until
            // it copes, and time both contenders on the same bytes.
            let mut size = mib;
            loop {
                let probe = format!(
                    "const bytes = new Uint8Array(await window.__blobs.enc.slice(0, {bytes}).arrayBuffer()); \
                     try {{ await globalThis.awsCryptoBench.encrypt(bytes, {frame}, '0x0478'); return 1; }} \
                     catch (e) {{ return 0; }}",
                    bytes = (size * MIB) as u64
                );
                if bench.run(&probe).await?.as_u64() == Some(1) || size <= 16.0 {
                    break;
                }
                size /= 2.0;
            }
            let bytes = (size * MIB) as u64;
            let js = format!(
                "const bytes = new Uint8Array(await window.__blobs.enc.slice(0, {bytes}).arrayBuffer()); \
                 const r = await globalThis.awsCryptoBench.encrypt(bytes, {frame}, '0x0478'); return r.ms;"
            );
            let mine = format!(
                "window.wasmBindings.bench_cipher(-1, '', false); \
                 return await window.wasmBindings.bench_encrypt(window.__blobs.enc.slice(0, {bytes}), 0x0478, {frame});"
            );
            let (mut times, mut mems, mut us, mut our_mems) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..RUNS {
                let (v, m) = bench.with_memory(&js).await?;
                times.push(v.as_f64().context("ms")?);
                mems.push(m);
                let (v, m) = bench.with_memory(&mine).await?;
                us.push(v.as_f64().context("ms")?);
                our_mems.push(m);
            }
            let (t, u) = (median(times), median(us));
            println!(
                "| {} KiB | {size} MiB | {:.0} | {:.0} | {:.2} | {:.1} / {:.1} MiB |",
                frame / 1024,
                rate(size, u),
                rate(size, t),
                t / u,
                median(our_mems),
                median(mems)
            );
        }
    } else {
        println!(
            "\n(@aws-crypto/client-browser skipped: run `bash scripts/bench-js.sh` to build its bundle)"
        );
    }
    bench
        .run("delete window.__blobs.enc; window.__gc(); return 0;")
        .await?;

    // 3. Encrypt and upload vs the same bytes unencrypted through the same path; memory.
    bench
        .run("window.wasmBindings.bench_cipher(-1, '', false); return 0;")
        .await?;
    println!(
        "\n## Encrypt and upload to the embedded S3, 4 parts in parallel, sealing workers (median of {RUNS})"
    );
    println!(
        "| size | encrypt+upload MB/s | plain upload MB/s | time ratio | peak tab memory over idle (encrypt+upload) |"
    );
    println!("|---|---|---|---|---|");
    for size in [256.0f64.min(up_mib), up_mib] {
        bench.file_blob(files.path(), "up", size as usize).await?;
        let mut enc = Vec::new();
        let mut plain = Vec::new();
        let mut mem = Vec::new();
        for _ in 0..RUNS {
            let (v, m) = bench
                .with_memory("const r = await window.wasmBindings.bench_upload(window.__blobs.up, 0x0478, 1048576, 4); return r;")
                .await?;
            enc.push(v[0].as_f64().context("ms")?);
            mem.push(m);
            let id = v[1].as_str().context("id")?.to_owned();
            api.call(reqwest::Method::DELETE, &format!("/api/objects/{id}"), None)
                .await?;
            plain.push(
                bench
                    .ms("return await window.wasmBindings.bench_plain_upload(window.__blobs.up, 4);")
                    .await?,
            );
        }
        let (e, p) = (median(enc), median(plain));
        println!(
            "| {size} MiB | {:.0} | {:.0} | {:.2}× | {:.1} MiB |",
            rate(size, e),
            rate(size, p),
            e / p,
            median(mem)
        );
        bench
            .run("delete window.__blobs.up; window.__gc(); return 0;")
            .await?;
    }
    download(&bench, &api, files.path(), up_mib).await?;
    resume_overhead(&bench, files.path(), up_mib).await?;
    println!("\n({} at the end)", machine());
    bench.b.close().await;
    Ok(())
}
