//! A streaming ZIP writer for a recipient's "download all": entries are *stored* (no compression:
//! the files are usually already compressed, and the page should spend its CPU on decryption),
//! written as their bytes arrive, so an archive of any size never sits in memory. Each entry's
//! CRC-32 and sizes follow its data in a data descriptor (general-purpose bit 3); ZIP64 records
//! are written where a size, an offset or the entry count needs them (APPNOTE 6.3.10, §4.3.9,
//! §4.4, §4.5.3); names are UTF-8 (bit 11).
//!
//! The writer does no I/O: it returns the bytes to emit in order (header, the caller's data
//! unchanged, descriptor, ..., central directory), and counts the data through [`ZipWriter::data`].
//! Names are made safe to extract: `\` becomes `/`, empty, `.` and `..` components and a leading
//! `/` or drive letter are dropped, and a repeated name gets a ` (2)` suffix.

use std::collections::HashSet;

/// Sizes, offsets and counts from which ZIP64 records are needed.
const ZIP64_AT: u64 = 0xFFFF_FFFF;
const ZIP64_COUNT_AT: u64 = 0xFFFF;
/// Version needed to extract: 2.0 (stored, data descriptor), 4.5 (ZIP64).
const VERSION: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// Version made by: Unix (3), 4.5, so the external attributes carry a Unix mode.
const MADE_BY: u16 = (3 << 8) | VERSION_ZIP64;
/// A regular file, `rw-r--r--`.
const FILE_MODE: u32 = 0o100_644 << 16;
/// Bit 3 (sizes and CRC in a data descriptor) and bit 11 (UTF-8 names).
const FLAGS: u16 = 0x0008 | 0x0800;
const MAX_NAME: usize = 0xFFFF - 64;

/// Why an archive cannot be written as asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZipError {
    /// An entry was started while another was open, or data or an end came with none open.
    Sequence,
    /// An entry's data was not the length declared when it started.
    SizeMismatch {
        /// The declared length.
        declared: u64,
        /// The length given.
        written: u64,
    },
}

impl std::fmt::Display for ZipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sequence => f.write_str("zip entries must be written one after another"),
            Self::SizeMismatch { declared, written } => {
                write!(f, "a zip entry declared {declared} bytes but had {written}")
            }
        }
    }
}

impl std::error::Error for ZipError {}

/// An entry already written, for the central directory.
struct Written {
    name: Vec<u8>,
    crc: u32,
    size: u64,
    offset: u64,
    zip64: bool,
    time: u16,
    date: u16,
}

/// The entry being written.
struct Open {
    entry: Written,
    declared: u64,
    hasher: crc32fast::Hasher,
}

/// A ZIP archive written front to back.
pub struct ZipWriter {
    offset: u64,
    written: Vec<Written>,
    names: HashSet<String>,
    open: Option<Open>,
    zip64_at: u64,
    zip64_count_at: u64,
}

impl Default for ZipWriter {
    fn default() -> Self {
        Self::new()
    }
}

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn u64le(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// `v` as a 32-bit field, or the ZIP64 marker when it does not fit under `limit`.
fn u32_or_marker(v: u64, limit: u64) -> u32 {
    if v >= limit {
        u32::MAX
    } else {
        u32::try_from(v).unwrap_or(u32::MAX)
    }
}

/// `name` made safe to extract anywhere (see the module docs); never empty.
pub fn safe_name(name: &str) -> String {
    let unified = name.replace('\\', "/");
    let mut parts: Vec<&str> = unified
        .split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .collect();
    // A drive letter ("C:") as the first component.
    if parts
        .first()
        .is_some_and(|p| p.len() == 2 && p.ends_with(':'))
    {
        parts.remove(0);
    }
    let joined: String = parts
        .join("/")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if joined.is_empty() {
        return "file".to_owned();
    }
    let mut cut = joined.len().min(MAX_NAME);
    while !joined.is_char_boundary(cut) {
        cut -= 1;
    }
    joined[..cut].to_owned()
}

/// Seconds since 1970 (UTC) as MS-DOS (time, date); before 1980 is 1980-01-01 00:00.
pub fn dos_time(unix_secs: i64) -> (u16, u16) {
    const DAY: i64 = 86_400;
    if unix_secs < 315_532_800 {
        return (0, (1 << 5) | 1);
    }
    let days = unix_secs.div_euclid(DAY);
    let secs = unix_secs.rem_euclid(DAY);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let year = (year - 1980).clamp(0, 127);
    let date = (year << 9) | (month << 5) | day;
    let time = ((secs / 3600) << 11) | (((secs % 3600) / 60) << 5) | ((secs % 60) / 2);
    (
        u16::try_from(time).unwrap_or(0),
        u16::try_from(date).unwrap_or(0),
    )
}

impl ZipWriter {
    /// An empty archive.
    pub fn new() -> Self {
        Self {
            offset: 0,
            written: Vec::new(),
            names: HashSet::new(),
            open: None,
            zip64_at: ZIP64_AT,
            zip64_count_at: ZIP64_COUNT_AT,
        }
    }

    /// An archive that writes ZIP64 records from these sizes and counts on: for tests that
    /// check ZIP64 archives without writing 4 GiB.
    #[doc(hidden)]
    pub fn with_zip64_from(size_or_offset: u64, count: u64) -> Self {
        Self {
            zip64_at: size_or_offset.min(ZIP64_AT),
            zip64_count_at: count.min(ZIP64_COUNT_AT),
            ..Self::new()
        }
    }

    /// Bytes written so far (everything returned, and the data counted).
    pub fn len(&self) -> u64 {
        self.offset
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.offset == 0
    }

    /// The name an entry gets for `name`: safe, and unique in this archive.
    fn unique(&mut self, name: &str) -> String {
        let base = safe_name(name);
        let mut candidate = base.clone();
        let mut n = 2;
        while self.names.contains(&candidate) {
            candidate = match base.rfind('.') {
                Some(dot) if dot > base.rfind('/').map_or(0, |s| s + 1) => {
                    format!("{} ({n}){}", &base[..dot], &base[dot..])
                }
                _ => format!("{base} ({n})"),
            };
            n += 1;
        }
        self.names.insert(candidate.clone());
        candidate
    }

    /// Starts an entry of `size` bytes called `name`, modified at `unix_secs`; returns its local
    /// header and the name it was given.
    pub fn start(
        &mut self,
        name: &str,
        size: u64,
        unix_secs: i64,
    ) -> Result<(Vec<u8>, String), ZipError> {
        if self.open.is_some() {
            return Err(ZipError::Sequence);
        }
        let given = self.unique(name);
        let zip64 = size >= self.zip64_at || self.offset >= self.zip64_at;
        let (time, date) = dos_time(unix_secs);
        let mut h = Vec::with_capacity(30 + given.len() + 20);
        u32le(&mut h, 0x0403_4b50);
        u16le(&mut h, if zip64 { VERSION_ZIP64 } else { VERSION });
        u16le(&mut h, FLAGS);
        u16le(&mut h, 0); // stored
        u16le(&mut h, time);
        u16le(&mut h, date);
        u32le(&mut h, 0); // CRC-32: in the data descriptor
        let marker = if zip64 { u32::MAX } else { 0 };
        u32le(&mut h, marker);
        u32le(&mut h, marker);
        u16le(&mut h, u16::try_from(given.len()).unwrap_or(u16::MAX));
        u16le(&mut h, if zip64 { 20 } else { 0 });
        h.extend_from_slice(given.as_bytes());
        if zip64 {
            u16le(&mut h, 0x0001);
            u16le(&mut h, 16);
            u64le(&mut h, 0);
            u64le(&mut h, 0);
        }
        self.open = Some(Open {
            entry: Written {
                name: given.clone().into_bytes(),
                crc: 0,
                size: 0,
                offset: self.offset,
                zip64,
                time,
                date,
            },
            declared: size,
            hasher: crc32fast::Hasher::new(),
        });
        self.offset += h.len() as u64;
        Ok((h, given))
    }

    /// Counts `bytes` of the open entry's data (which the caller emits unchanged).
    pub fn data(&mut self, bytes: &[u8]) -> Result<(), ZipError> {
        let open = self.open.as_mut().ok_or(ZipError::Sequence)?;
        open.hasher.update(bytes);
        open.entry.size += bytes.len() as u64;
        if open.entry.size > open.declared {
            return Err(ZipError::SizeMismatch {
                declared: open.declared,
                written: open.entry.size,
            });
        }
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Ends the open entry; returns its data descriptor.
    pub fn end(&mut self) -> Result<Vec<u8>, ZipError> {
        let open = self.open.take().ok_or(ZipError::Sequence)?;
        let Open {
            mut entry,
            declared,
            hasher,
        } = open;
        if entry.size != declared {
            return Err(ZipError::SizeMismatch {
                declared,
                written: entry.size,
            });
        }
        entry.crc = hasher.finalize();
        let mut d = Vec::with_capacity(24);
        u32le(&mut d, 0x0807_4b50);
        u32le(&mut d, entry.crc);
        if entry.zip64 {
            u64le(&mut d, entry.size);
            u64le(&mut d, entry.size);
        } else {
            let s = u32::try_from(entry.size).unwrap_or(u32::MAX);
            u32le(&mut d, s);
            u32le(&mut d, s);
        }
        self.offset += d.len() as u64;
        self.written.push(entry);
        Ok(d)
    }

    /// The central directory and end records; the archive is complete after them.
    pub fn finish(self) -> Result<Vec<u8>, ZipError> {
        if self.open.is_some() {
            return Err(ZipError::Sequence);
        }
        let at = self.zip64_at;
        let cd_start = self.offset;
        let mut out = Vec::new();
        for e in &self.written {
            let big_size = e.size >= at;
            let big_offset = e.offset >= at;
            let mut extra = Vec::new();
            if big_size || big_offset {
                let mut fields = Vec::new();
                if big_size {
                    u64le(&mut fields, e.size);
                    u64le(&mut fields, e.size);
                }
                if big_offset {
                    u64le(&mut fields, e.offset);
                }
                u16le(&mut extra, 0x0001);
                u16le(&mut extra, u16::try_from(fields.len()).unwrap_or(0));
                extra.extend(fields);
            }
            u32le(&mut out, 0x0201_4b50);
            u16le(&mut out, MADE_BY);
            u16le(
                &mut out,
                if e.zip64 || !extra.is_empty() {
                    VERSION_ZIP64
                } else {
                    VERSION
                },
            );
            u16le(&mut out, FLAGS);
            u16le(&mut out, 0);
            u16le(&mut out, e.time);
            u16le(&mut out, e.date);
            u32le(&mut out, e.crc);
            u32le(&mut out, u32_or_marker(e.size, at));
            u32le(&mut out, u32_or_marker(e.size, at));
            u16le(&mut out, u16::try_from(e.name.len()).unwrap_or(u16::MAX));
            u16le(&mut out, u16::try_from(extra.len()).unwrap_or(0));
            u16le(&mut out, 0); // comment
            u16le(&mut out, 0); // disk
            u16le(&mut out, 0); // internal attributes
            u32le(&mut out, FILE_MODE);
            u32le(&mut out, u32_or_marker(e.offset, at));
            out.extend_from_slice(&e.name);
            out.extend(extra);
        }
        let cd_size = out.len() as u64;
        let count = self.written.len() as u64;
        let zip64 = count >= self.zip64_count_at || cd_start >= at || cd_size >= at;
        if zip64 {
            let record_at = cd_start + cd_size;
            u32le(&mut out, 0x0606_4b50);
            u64le(&mut out, 44);
            u16le(&mut out, MADE_BY);
            u16le(&mut out, VERSION_ZIP64);
            u32le(&mut out, 0);
            u32le(&mut out, 0);
            u64le(&mut out, count);
            u64le(&mut out, count);
            u64le(&mut out, cd_size);
            u64le(&mut out, cd_start);
            u32le(&mut out, 0x0706_4b50);
            u32le(&mut out, 0);
            u64le(&mut out, record_at);
            u32le(&mut out, 1);
        }
        let count16 = if zip64 {
            u16::MAX
        } else {
            u16::try_from(count).unwrap_or(u16::MAX)
        };
        u32le(&mut out, 0x0605_4b50);
        u16le(&mut out, 0);
        u16le(&mut out, 0);
        u16le(&mut out, count16);
        u16le(&mut out, count16);
        u32le(
            &mut out,
            if zip64 {
                u32::MAX
            } else {
                u32_or_marker(cd_size, at)
            },
        );
        u32le(
            &mut out,
            if zip64 {
                u32::MAX
            } else {
                u32_or_marker(cd_start, at)
            },
        );
        u16le(&mut out, 0);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn archive(w: &mut ZipWriter, files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in files {
            let (h, _) = w.start(name, data.len() as u64, 1_764_633_600).unwrap();
            out.extend(h);
            for chunk in data.chunks(7) {
                w.data(chunk).unwrap();
                out.extend_from_slice(chunk);
            }
            out.extend(w.end().unwrap());
        }
        out
    }

    fn u32_at(b: &[u8], i: usize) -> u32 {
        u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
    }
    fn u16_at(b: &[u8], i: usize) -> u16 {
        u16::from_le_bytes(b[i..i + 2].try_into().unwrap())
    }

    /// Reads the central directory back: (name, crc, size, local header offset) per entry.
    fn central(zip: &[u8]) -> Vec<(String, u32, u64, u64)> {
        let eocd = zip.len() - 22;
        assert_eq!(u32_at(zip, eocd), 0x0605_4b50);
        let mut count = u64::from(u16_at(zip, eocd + 10));
        let mut at = u64::from(u32_at(zip, eocd + 16));
        if count == 0xFFFF {
            let locator = eocd - 20;
            assert_eq!(u32_at(zip, locator), 0x0706_4b50);
            let rec = usize::try_from(u64::from_le_bytes(
                zip[locator + 8..locator + 16].try_into().unwrap(),
            ))
            .unwrap();
            assert_eq!(u32_at(zip, rec), 0x0606_4b50);
            count = u64::from_le_bytes(zip[rec + 32..rec + 40].try_into().unwrap());
            at = u64::from_le_bytes(zip[rec + 48..rec + 56].try_into().unwrap());
        }
        let mut i = usize::try_from(at).unwrap();
        let mut out = Vec::new();
        for _ in 0..count {
            assert_eq!(u32_at(zip, i), 0x0201_4b50);
            let crc = u32_at(zip, i + 16);
            let mut size = u64::from(u32_at(zip, i + 24));
            let (n, x) = (
                usize::from(u16_at(zip, i + 28)),
                usize::from(u16_at(zip, i + 30)),
            );
            let mut offset = u64::from(u32_at(zip, i + 42));
            let name = String::from_utf8(zip[i + 46..i + 46 + n].to_vec()).unwrap();
            let mut extra = &zip[i + 46 + n..i + 46 + n + x];
            if !extra.is_empty() {
                assert_eq!(u16_at(extra, 0), 1);
                extra = &extra[4..];
                if size == u64::from(u32::MAX) {
                    size = u64::from_le_bytes(extra[..8].try_into().unwrap());
                    extra = &extra[16..];
                }
                if offset == u64::from(u32::MAX) {
                    offset = u64::from_le_bytes(extra[..8].try_into().unwrap());
                }
            }
            out.push((name, crc, size, offset));
            i += 46 + n + x;
        }
        out
    }

    #[test]
    fn entries_read_back_with_their_crc_size_and_offset() {
        for mut w in [ZipWriter::new(), ZipWriter::with_zip64_from(10, 2)] {
            let files: [(&str, &[u8]); 3] = [
                ("a.txt", b"hello, zip"),
                ("empty", b""),
                ("dir/sub/b.bin", &[7u8; 100]),
            ];
            let mut zip = archive(&mut w, &files);
            let body_len = zip.len() as u64;
            assert_eq!(w.len(), body_len);
            zip.extend(w.finish().unwrap());
            let entries = central(&zip);
            assert_eq!(entries.len(), 3);
            for ((name, crc, size, offset), (want, data)) in entries.iter().zip(files) {
                assert_eq!(name, want);
                assert_eq!(*crc, crc32fast::hash(data));
                assert_eq!(*size, data.len() as u64);
                let o = usize::try_from(*offset).unwrap();
                assert_eq!(u32_at(&zip, o), 0x0403_4b50);
                let (n, x) = (
                    usize::from(u16_at(&zip, o + 26)),
                    usize::from(u16_at(&zip, o + 28)),
                );
                let start = o + 30 + n + x;
                assert_eq!(&zip[start..start + data.len()], data);
                assert_eq!(u32_at(&zip, start + data.len()), 0x0807_4b50);
            }
        }
    }

    #[test]
    fn names_are_made_safe_and_unique() {
        for (given, safe) in [
            ("../../etc/passwd", "etc/passwd"),
            ("/abs/path.txt", "abs/path.txt"),
            ("C:\\Users\\x\\..\\y.doc", "Users/x/y.doc"),
            ("./a/./b", "a/b"),
            ("..", "file"),
            ("", "file"),
            ("tab\there", "tabhere"),
            ("ünïcødé/名前.pdf", "ünïcødé/名前.pdf"),
        ] {
            assert_eq!(safe_name(given), safe, "{given}");
        }
        let mut w = ZipWriter::new();
        let mut names = Vec::new();
        for n in [
            "report.pdf",
            "report.pdf",
            "report.pdf",
            "dir.v2/notes",
            "dir.v2/notes",
        ] {
            let (_, given) = w.start(n, 0, 0).unwrap();
            w.end().unwrap();
            names.push(given);
        }
        assert_eq!(
            names,
            [
                "report.pdf",
                "report (2).pdf",
                "report (3).pdf",
                "dir.v2/notes",
                "dir.v2/notes (2)"
            ]
        );
        assert!(safe_name(&"x".repeat(70_000)).len() <= MAX_NAME);
    }

    #[test]
    fn wrong_sizes_and_order_are_refused() {
        let mut w = ZipWriter::new();
        assert_eq!(w.data(b"x").unwrap_err(), ZipError::Sequence);
        assert_eq!(w.end().unwrap_err(), ZipError::Sequence);
        w.start("a", 3, 0).unwrap();
        assert_eq!(w.start("b", 1, 0).unwrap_err(), ZipError::Sequence);
        w.data(b"ab").unwrap();
        assert_eq!(
            w.end().unwrap_err(),
            ZipError::SizeMismatch {
                declared: 3,
                written: 2
            }
        );
        let mut w = ZipWriter::new();
        w.start("a", 1, 0).unwrap();
        assert!(w.data(b"ab").is_err());
        let mut w = ZipWriter::new();
        w.start("a", 1, 0).unwrap();
        assert_eq!(w.finish().unwrap_err(), ZipError::Sequence);
    }

    #[test]
    fn dos_times() {
        // 2026-12-02 13:45:58 UTC.
        let (t, d) = dos_time(1_796_219_158);
        assert_eq!((d >> 9, (d >> 5) & 15, d & 31), (46, 12, 2));
        assert_eq!((t >> 11, (t >> 5) & 63, (t & 31) * 2), (13, 45, 58));
        // 2000-02-29 00:00:00, a leap day.
        let (t, d) = dos_time(951_782_400);
        assert_eq!((d >> 9, (d >> 5) & 15, d & 31, t), (20, 2, 29, 0));
        assert_eq!(dos_time(0), (0, 33));
        assert_eq!(dos_time(-5), (0, 33));
    }
}
