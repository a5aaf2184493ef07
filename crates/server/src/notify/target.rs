//! Where webhooks may go: URLs checked for form, hosts resolved and every address checked to be
//! public (unless the administrator allows private targets), before an endpoint is made and
//! again before every attempt.

use std::net::{IpAddr, SocketAddr};

use cipherdrop_api::WEBHOOK_MAX_URL;

use crate::error::{ApiError, ApiResult};

/// Whether `ip` is an address on the public internet (not loopback, private, link-local,
/// shared, documentation, multicast or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Checks an endpoint URL's form (scheme, length, no credentials in it).
pub(super) fn check_url(url: &str, allow_private: bool) -> ApiResult<url::Url> {
    if url.len() > WEBHOOK_MAX_URL || url.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "a webhook URL is at most {WEBHOOK_MAX_URL} printable characters"
        )));
    }
    let parsed =
        url::Url::parse(url).map_err(|_| ApiError::bad_request("the webhook URL is not a URL"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(ApiError::bad_request("a webhook URL must be https")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ApiError::bad_request(
            "a webhook URL cannot carry a user name or password",
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request("a webhook URL names a host"));
    }
    Ok(parsed)
}

/// Resolves the URL's host and checks every address: the one to connect to, or why not.
pub(super) async fn resolve(url: &url::Url, allow_private: bool) -> Result<SocketAddr, String> {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| "its host name does not resolve".to_owned())?
        .collect();
    let first = *addrs
        .first()
        .ok_or_else(|| "its host name has no address".to_owned())?;
    if !allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(
            "it resolves to a private, loopback or link-local address, which webhooks may not reach"
                .to_owned(),
        );
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "2001:db8::1",
            "198.18.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_lookup() {
        assert!(check_url("https://hooks.example.com/in", false).is_ok());
        assert!(check_url("http://hooks.example.com/in", false).is_err());
        assert!(check_url("http://hooks.example.com/in", true).is_ok());
        assert!(check_url("ftp://hooks.example.com/", true).is_err());
        assert!(check_url("https://user:pw@hooks.example.com/", false).is_err());
        assert!(
            check_url(
                &format!("https://e.com/{}", "a".repeat(WEBHOOK_MAX_URL)),
                false
            )
            .is_err()
        );
        assert!(check_url("https://e.com/\n", false).is_err());
    }
}
