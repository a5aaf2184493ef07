//! Smoke test of the WebDriver harness: headless Chromium loads the real web bundle from
//! `cipherdrop serve`, and a file the page saves lands in the download folder intact.
//!
//! Needs `cargo build -p cipherdrop-cli` (same profile), `trunk build` (for `dist/`) and
//! chromedriver with Chromium.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use cipherdrop_e2e::browser::{Browser, cipherdrop_bin, web_dist};
use cipherdrop_testkit::load::{peak_rss_kib, reset_peak_rss};
use cipherdrop_testkit::server::ServerProcess;

const SIZE: usize = 1 << 20;

/// The bytes the page generates: `(i * 31 + 7) mod 256`.
fn expected() -> Vec<u8> {
    (0..SIZE).map(|i| ((i * 31 + 7) & 0xff) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_loads_and_downloads_work() {
    let started = Instant::now();
    let bin = cipherdrop_bin().unwrap();
    let web = web_dist().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with_web(&bin, data.path(), &web, &[], &[]).unwrap();

    let browser = Browser::start().await.unwrap();
    eprintln!("browser up after {:?}", started.elapsed());
    browser.client.goto(&server.url).await.unwrap();
    browser
        .wait_until_js(
            "document.querySelector('h1') !== null && document.title.includes('Cipherdrop')",
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    browser
        .wait_for("h1", Duration::from_secs(5))
        .await
        .unwrap();
    eprintln!("app rendered after {:?}", started.elapsed());
    // The static explanation is painted before the app arrives, below the room #app holds for
    // the login view: that room is the view's own height (at a phone's and a desktop's width),
    // so nothing moves when the form appears (no layout shift).
    browser
        .wait_for("#login-form", Duration::from_secs(30))
        .await
        .unwrap();
    for (w, h) in [(412, 823), (1280, 900)] {
        browser.client.set_window_size(w, h).await.unwrap();
        let gap = browser
            .js_string(
                "const learn = document.querySelector('#learn'); const app = document.querySelector('#app'); \
                 const shown = learn.getBoundingClientRect().top; \
                 const kept = [...app.childNodes]; kept.forEach((n) => n.remove()); \
                 const reserved = learn.getBoundingClientRect().top; kept.forEach((n) => app.appendChild(n)); \
                 return String(Math.abs(shown - reserved)) + ' ' + String(!learn.hidden);",
            )
            .await
            .unwrap();
        let (gap, visible) = gap.split_once(' ').unwrap();
        assert!(
            gap.parse::<f64>().unwrap() <= 1.0,
            "at {w}px the login view moves the explanation by {gap}px"
        );
        assert_eq!(visible, "true", "a visitor sees the explanation");
    }
    browser.client.set_window_size(1280, 900).await.unwrap();

    browser
        .client
        .execute(
            "const n = arguments[0];
             const bytes = new Uint8Array(n);
             for (let i = 0; i < n; i++) bytes[i] = (i * 31 + 7) & 0xff;
             const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
             const a = document.createElement('a');
             a.href = url;
             a.download = 'smoke.bin';
             document.body.appendChild(a);
             a.click();
             a.remove();
             setTimeout(() => URL.revokeObjectURL(url), 60000);",
            vec![serde_json::json!(SIZE)],
        )
        .await
        .unwrap();
    let path = browser
        .wait_for_download("smoke.bin", Duration::from_secs(30))
        .await
        .unwrap();
    let got = std::fs::read(&path).unwrap();
    assert_eq!(got.len(), SIZE, "downloaded size");
    assert!(got == expected(), "downloaded bytes differ");
    eprintln!("download checked after {:?}", started.elapsed());

    // The other harness pieces the browser tests and benchmarks lean on.
    let renderers = browser.renderer_pids();
    assert!(!renderers.is_empty(), "no renderer processes found");
    for pid in &renderers {
        reset_peak_rss(*pid).unwrap();
        assert!(peak_rss_kib(*pid).unwrap() > 0);
    }
    let version = browser
        .cdp("Browser.getVersion", serde_json::json!({}))
        .await
        .unwrap();
    assert!(
        version["product"].as_str().unwrap().contains("Chrome"),
        "{version}"
    );
    // The page runs under a strict Content-Security-Policy: an injected inline script (what an
    // XSS would add) is refused and recorded; the app's own loader ran, so it is allowed by hash.
    let resp = reqwest::get(&server.url).await.unwrap();
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-"),
        "{csp}"
    );
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(resp.headers()["cross-origin-opener-policy"], "same-origin");
    assert!(browser.csp_violations().await.unwrap().is_empty());
    browser
        .client
        .execute(
            "const s = document.createElement('script');
             s.textContent = 'window.injected = true;';
             document.body.appendChild(s);",
            vec![],
        )
        .await
        .unwrap();
    browser
        .wait_until_js(
            "(sessionStorage.getItem('cipherdrop-csp-violations') || '').includes('script-src')",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let injected = browser
        .client
        .execute("return window.injected === true;", vec![])
        .await
        .unwrap();
    assert_eq!(injected, serde_json::json!(false), "the inline script ran");
    // The console reader the pages' "nothing refused, nothing warned" checks rely on sees the
    // refusal too (and the page's own load before it logged nothing).
    let console = browser.console_problems().await.unwrap();
    assert!(
        console.len() == 1
            && console[0].starts_with("\"SEVERE\"")
            && console[0].contains("Content Security Policy"),
        "{console:?}"
    );
    browser.clear_csp_violations().await.unwrap();
    browser.close().await;
    drop(server);
    eprintln!("done after {:?}", started.elapsed());
}
