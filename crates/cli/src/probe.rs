//! `cipherdrop probe URL`: the container's health check. A slim image has no curl; this asks a
//! loopback `http://` URL with a deadline and succeeds on a 2xx answer, nothing more.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

/// The most of the answer read: the status line is all that counts.
const MAX_ANSWER: u64 = 4096;

/// GETs `url` (plain `http://host:port/path`) within `timeout`: Ok(true) for 2xx, Ok(false) for
/// another status, an error when nothing answered.
pub fn probe(url: &str, timeout: Duration) -> Result<bool> {
    let rest = url
        .strip_prefix("http://")
        .context("probe takes an http:// URL (the replica's own listener, not the balancer's)")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    if authority.is_empty() || path.chars().any(|c| c.is_control() || c == ' ') {
        bail!("{url:?} is not a URL probe can ask");
    }
    let addrs: Vec<SocketAddr> = if authority.contains(':') {
        authority.to_socket_addrs()
    } else {
        (authority, 80).to_socket_addrs()
    }
    .with_context(|| format!("resolving {authority}"))?
    .collect();
    let addr = addrs
        .first()
        .with_context(|| format!("{authority} has no address"))?;
    let mut stream = TcpStream::connect_timeout(addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: cipherdrop-probe\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    // What came before a reset still counts: the status line is all that is needed.
    if let Err(e) = stream.take(MAX_ANSWER).read_to_end(&mut answer)
        && answer.is_empty()
    {
        return Err(e).with_context(|| format!("reading the answer of {addr}"));
    }
    let line = answer.split(|b| *b == b'\n').next().unwrap_or_default();
    let status = std::str::from_utf8(line)
        .ok()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("{addr} did not answer HTTP"))?;
    Ok((200..300).contains(&status))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use std::net::TcpListener;

    fn serve_once(answer: &'static str) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(answer.as_bytes());
        });
        format!("http://{addr}/healthz")
    }

    #[test]
    fn two_hundred_is_healthy_and_anything_else_is_not() {
        let t = Duration::from_secs(5);
        let ok = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert!(probe(&ok, t).unwrap());
        let down = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert!(!probe(&down, t).unwrap());
        let garbage = serve_once("SSH-2.0-OpenSSH\r\n");
        assert!(probe(&garbage, t).is_err());
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(probe(&format!("http://{closed}/"), t).is_err());
        assert!(probe("https://example.com/", t).is_err());
        assert!(probe("http://127.0.0.1:1/a b", t).is_err());
    }
}
