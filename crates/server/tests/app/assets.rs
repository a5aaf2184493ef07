//! The web bundle: precompressed files by `Accept-Encoding` (brotli first, then gzip, else the
//! file itself), hashed assets immutable for a year, the page and every client-side route
//! revalidated, and a stale hashed name never cached as the page.

use crate::util::TestApp;

const WASM: &str = "/app-0123456789abcdef_bg.wasm";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundle_is_served_precompressed_and_cached_by_name() {
    let web = tempfile::tempdir().unwrap();
    let page = "<!doctype html><html><head><title>t</title></head><body></body></html>";
    let wasm: Vec<u8> = (0..200_000u32).map(|i| (i % 7) as u8).collect();
    std::fs::write(web.path().join("index.html"), page).unwrap();
    std::fs::write(web.path().join(&WASM[1..]), &wasm).unwrap();
    // Stand-ins for what the build's hook writes: different bytes, so the test sees which one
    // was sent.
    let (br, gz) = (b"brotli variant".to_vec(), b"gzip variant".to_vec());
    std::fs::write(web.path().join(format!("{}.br", &WASM[1..])), &br).unwrap();
    std::fs::write(web.path().join(format!("{}.gz", &WASM[1..])), &gz).unwrap();
    let dir = web.path().to_owned();
    let app = TestApp::start_with(move |c| c.web_dir = Some(dir)).await;
    let http = reqwest::Client::new();
    let get = |path: &str, accept: Option<&str>| {
        let mut req = http.get(format!("{}{path}", app.url));
        if let Some(a) = accept {
            req = req.header("accept-encoding", a);
        }
        req.send()
    };
    let header = |r: &reqwest::Response, h: &str| {
        r.headers()
            .get(h)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };

    for (accept, encoding, body) in [
        (Some("br, gzip"), "br", br.clone()),
        (Some("gzip, deflate, br;q=0"), "gzip", gz.clone()),
        (Some("gzip"), "gzip", gz.clone()),
        (None, "", wasm.clone()),
        (Some("identity"), "", wasm.clone()),
    ] {
        let r = get(WASM, accept).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-encoding"), encoding, "{accept:?}");
        assert_eq!(header(&r, "content-type"), "application/wasm");
        assert_eq!(
            header(&r, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert!(header(&r, "vary").contains("accept-encoding"));
        assert!(r.bytes().await.unwrap() == body, "{accept:?}");
    }
    // The page, a client-side route and a hashed name that is not a file: the page, revalidated.
    for path in ["/", "/index.html", "/s/", "/r/", "/app-ffffffffffffffff.js"] {
        let r = get(path, Some("br, gzip")).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            header(&r, "content-type").starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        assert_eq!(r.text().await.unwrap(), page, "{path}");
    }
    // The API keeps its own caching rules.
    let r = get("/api/openapi.json", None).await.unwrap();
    assert_ne!(
        header(&r, "cache-control"),
        "public, max-age=31536000, immutable"
    );
}
