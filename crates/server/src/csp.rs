//! The Content-Security-Policy: built from the S3 endpoint's origin and the hashes of the inline
//! loader scripts in the served `index.html`, so no `unsafe-inline` is ever needed.

/// The policy: scripts only from the app itself (plus the exact inline loaders, by hash) and
/// WebAssembly compilation; connections only to the app and the S3 endpoint; media and frames
/// only from `blob:` URLs the page made of files it decrypted (the PDF viewer's frame, video and
/// audio; their types are chosen from an allow-list, never HTML or SVG); no framing of the page,
/// no plugins, no `<base>` games, forms only to the app.
pub fn content_security_policy(s3_origin: Option<&str>, inline_script_hashes: &[String]) -> String {
    let mut script = String::from("'self' 'wasm-unsafe-eval'");
    for h in inline_script_hashes {
        script.push_str(&format!(" 'sha256-{h}'"));
    }
    let connect = match s3_origin {
        Some(o) => format!("'self' {o}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'self'; script-src {script}; style-src 'self'; img-src 'self' data: blob:; \
         media-src blob:; frame-src blob:; connect-src {connect}; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// SHA-256 (base64) of every inline `<script>` (one without `src`) in an HTML page, as CSP
/// hash sources name them.
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let Some(tail) = rest.get(start..) else { break };
        let Some(open_end) = tail.find('>') else {
            break;
        };
        let open_tag = tail.get(..open_end).unwrap_or_default();
        let Some(body_and_rest) = tail.get(open_end + 1..) else {
            break;
        };
        let Some(close) = body_and_rest.find("</script>") else {
            break;
        };
        if !open_tag.contains("src=") {
            let body = body_and_rest.get(..close).unwrap_or_default();
            let digest = sha2::Sha256::digest(body.as_bytes());
            hashes.push(base64::engine::general_purpose::STANDARD.encode(digest));
        }
        rest = body_and_rest.get(close..).unwrap_or_default();
    }
    hashes
}

/// The scheme, host and port of a URL (`https://bucket.s3.amazonaws.com/key?…` →
/// `https://bucket.s3.amazonaws.com`).
pub fn origin_of(url: &str) -> Option<&str> {
    let after_scheme = url.find("://")? + 3;
    let end = url
        .get(after_scheme..)?
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    url.get(..end)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_policy_names_the_loader_by_hash_and_s3_by_origin() {
        let html = "<html><script type=\"module\">\nimport init from '/a.js';\n</script>\
            <script src=\"/b.js\"></script><link rel=modulepreload href=/c.js></html>";
        let hashes = inline_script_hashes(html);
        assert_eq!(hashes.len(), 1, "only the inline one");
        use base64::Engine as _;
        use sha2::Digest as _;
        let expected = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(b"\nimport init from '/a.js';\n"));
        assert_eq!(hashes[0], expected);
        let s3 = origin_of("http://127.0.0.1:8081/cipherdrop/objects/x?X-Amz-Signature=1");
        assert_eq!(s3, Some("http://127.0.0.1:8081"));
        assert_eq!(
            origin_of("https://b.s3.amazonaws.com"),
            Some("https://b.s3.amazonaws.com")
        );
        let csp = content_security_policy(s3, &hashes);
        assert!(csp.contains(&format!(
            "script-src 'self' 'wasm-unsafe-eval' 'sha256-{expected}';"
        )));
        assert!(csp.contains("connect-src 'self' http://127.0.0.1:8081;"));
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    }
}
