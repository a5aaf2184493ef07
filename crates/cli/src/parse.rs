//! Values people write on the command line of `serve` and `user`: sizes with units, networks,
//! algorithm suites.

/// A size: bytes, or a number with K, M, G or T (binary units; a trailing "B" or "iB" is
/// allowed).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (t.get(..i), 10),
        Some((i, 'M' | 'm')) => (t.get(..i), 20),
        Some((i, 'G' | 'g')) => (t.get(..i), 30),
        Some((i, 'T' | 't')) => (t.get(..i), 40),
        _ => (Some(t), 0),
    };
    digits
        .and_then(|d| d.trim().parse::<u64>().ok())
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("{s:?} is not a size (for example 500M, 10G or 1073741824)"))
}

/// `--trusted-proxy`: a network, or one address.
pub fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is neither an address nor a CIDR network"))
}

/// `--default-suite`: one of the two committing v2 suites.
pub fn parse_suite(s: &str) -> Result<u16, String> {
    match s.parse::<cipherdrop_core::Suite>() {
        Ok(suite) => Ok(suite.id().0),
        Err(e) => Err(format!("{e} (0x0478 or 0x0578)")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("10M").unwrap(), 10 << 20);
        assert_eq!(parse_size("10MiB").unwrap(), 10 << 20);
        assert_eq!(parse_size("2 G").unwrap(), 2 << 30);
        assert_eq!(parse_size("1t").unwrap(), 1 << 40);
        assert_eq!(parse_size("0").unwrap(), 0);
        for bad in ["", "M", "-1G", "1.5G", "10X", "99999999999T", "default"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
