//! Formatting helpers for sizes, rates, durations, dates and bytes.

/// `1.5 MiB` style sizes, in binary units: the server's limits are binary (512 GiB, not
/// 549.76 GB), and sizes beside them must be in the same unit system.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut units = UNITS.iter().peekable();
    let mut unit = "KiB";
    while let Some(u) = units.next() {
        unit = u;
        if value < 1024.0 || units.peek().is_none() {
            break;
        }
        value /= 1024.0;
    }
    // Whole numbers (a limit of 512 GiB) without a decimal point.
    if value.fract() == 0.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// `12 s`, `3 min 4 s`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "—".into();
    }
    let s = seconds.round() as u64;
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

/// A Unix time (seconds) as local date and time.
pub fn date(unix_seconds: i64) -> String {
    crate::browser::local_date(unix_seconds)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex in groups of 16 bytes with a printable-ASCII column, like `xxd`.
pub fn hexdump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, row) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = row
            .iter()
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        out.push_str(&format!("{:04x}  {:<47}  {ascii}\n", i * 16, hex.join(" ")));
    }
    out
}

/// An account's quotas in words: what is used and what is left of each limit, and how much a
/// new upload may take (the smaller of what both byte limits leave).
pub fn usage(u: &cipherdrop_api::Usage) -> String {
    format!(
        "Stored: {} of {} ({} left). Unfinished uploads: {} of {} at once, holding {} of {}. Room for new uploads: {}.",
        size(u.stored_bytes),
        size(u.stored_bytes_limit),
        size(u.stored_bytes_limit.saturating_sub(u.stored_bytes)),
        u.pending_uploads,
        u.pending_uploads_limit,
        size(u.pending_bytes),
        size(u.pending_bytes_limit),
        size(u.room()),
    )
}
