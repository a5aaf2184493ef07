//! UploadPartCopy, done here rather than by `s3s-fs`, which copies through tokio's blocking pool
//! 4 KiB at a time (about 11 MB/s in a debug build, so a key rotation's copy of a 1 GiB body took
//! minutes): the source range is read in 1 MiB blocks on one blocking thread into a temporary
//! file, which is renamed to the part's name (`.upload_id-{id}.part-{n}`, as `s3s-fs` names and
//! reads parts); the part's ETag is the range's MD5, as S3's and `s3s-fs`'s are.

use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, Write as _};

use s3s::crypto::{Checksum as _, Md5};
use s3s::{S3Result, s3_error};
use uuid::Uuid;

use crate::complete::{COPY_BUF, TempFile, hex, internal};
use crate::layout::Layout;

/// One UploadPartCopy.
pub(crate) struct PartCopy {
    pub(crate) upload_id: Uuid,
    pub(crate) part_number: i32,
    /// Who asks: the upload's creator only.
    pub(crate) access_key: Option<String>,
    pub(crate) source_bucket: String,
    pub(crate) source_key: String,
    /// `bytes=FIRST-LAST` (inclusive), or the whole object.
    pub(crate) range: Option<String>,
}

/// `bytes=FIRST-LAST` (LAST may be empty: to the end) of an object of `len` bytes, as
/// (start, length); S3's errors for anything else.
fn parse_range(range: Option<&str>, len: u64) -> S3Result<(u64, u64)> {
    let Some(range) = range else {
        return Ok((0, len));
    };
    let spec = range
        .strip_prefix("bytes=")
        .ok_or_else(|| s3_error!(InvalidArgument, "the copy range must be bytes=FIRST-LAST"))?;
    let (first, last) = spec
        .split_once('-')
        .ok_or_else(|| s3_error!(InvalidArgument, "the copy range must be bytes=FIRST-LAST"))?;
    let start: u64 = first
        .parse()
        .map_err(|_| s3_error!(InvalidArgument, "bad copy range start"))?;
    let end = if last.is_empty() {
        len.saturating_sub(1)
    } else {
        last.parse()
            .map_err(|_| s3_error!(InvalidArgument, "bad copy range end"))?
    };
    if start > end || end >= len {
        return Err(s3_error!(InvalidRange));
    }
    Ok((start, end - start + 1))
}

/// Copies the range into the part; returns its MD5 (hex), the part's ETag. The caller holds
/// the upload's lock, so no completion runs meanwhile.
pub(crate) fn copy_part(layout: &Layout, c: &PartCopy) -> S3Result<String> {
    let owner: Option<String> = match fs::read(layout.upload_info(c.upload_id)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(internal)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(s3_error!(NoSuchUpload)),
        Err(e) => return Err(internal(e)),
    };
    if owner != c.access_key {
        return Err(s3_error!(AccessDenied));
    }
    if !(1..=10_000).contains(&c.part_number) {
        return Err(s3_error!(InvalidArgument, "part numbers are 1 to 10,000"));
    }
    let bad_name = |e: crate::layout::BadName| s3_error!(InvalidArgument, "{e}");
    let source = layout
        .object(&c.source_bucket, &c.source_key)
        .map_err(bad_name)?;
    let mut src = match File::open(&source) {
        Ok(f) if f.metadata().map_err(internal)?.is_file() => f,
        Ok(_) => return Err(s3_error!(NoSuchKey)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(s3_error!(NoSuchKey)),
        Err(e) => return Err(internal(e)),
    };
    let len = src.metadata().map_err(internal)?.len();
    let (start, mut left) = parse_range(c.range.as_deref(), len)?;
    src.seek(io::SeekFrom::Start(start)).map_err(internal)?;
    let tmp = TempFile(layout.temp(c.upload_id, &format!("copy-{}", c.part_number)));
    let mut out = File::create(&tmp.0).map_err(internal)?;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; COPY_BUF];
    while left > 0 {
        let n = usize::try_from(left.min(COPY_BUF as u64)).map_err(internal)?;
        let block = buf.get_mut(..n).ok_or_else(|| s3_error!(InternalError))?;
        src.read_exact(block).map_err(internal)?;
        md5.update(block);
        out.write_all(block).map_err(internal)?;
        left -= n as u64;
    }
    out.flush().map_err(internal)?;
    drop(out);
    let part = layout.part(c.upload_id, c.part_number);
    fs::rename(&tmp.0, &part).map_err(internal)?;
    Ok(hex(&md5.finalize()))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_are_read_as_s3_reads_them() {
        assert_eq!(parse_range(None, 10).ok(), Some((0, 10)));
        assert_eq!(parse_range(Some("bytes=2-5"), 10).ok(), Some((2, 4)));
        assert_eq!(parse_range(Some("bytes=2-"), 10).ok(), Some((2, 8)));
        for bad in ["bytes=5-2", "bytes=0-10", "2-5", "bytes=x-1", "bytes=1"] {
            assert!(parse_range(Some(bad), 10).is_err(), "{bad}");
        }
    }
}
