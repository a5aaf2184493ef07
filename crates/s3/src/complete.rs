//! CompleteMultipartUpload that never loses an upload, working on `s3s-fs`'s files (see
//! `layout.rs`) with blocking I/O; `store.rs` runs it in a task of its own, under the upload's lock.
//!
//! `s3s-fs` 0.14.1 deletes the upload id, then each part as it copies it, and writes the object
//! last, all inside the request: a client that hangs up (or a kill) half-way leaves neither the
//! upload nor the object. Here nothing of the upload is deleted before the object is whole and
//! durable:
//!
//! 1. checks (upload owner, part order, sizes, each part's MD5 against the ETag the client gave,
//!    If-Match / If-None-Match) — nothing written yet;
//! 2. the parts are copied into `.tmp.complete-{uuid}.object.internal.part` in the root, which is
//!    fsynced;
//! 3. the object's attributes and internal info (`{"e_tag": md5(part md5s)-n}`, as `s3s-fs`
//!    computes it) are written (temp file, fsync, rename);
//! 4. the temp file is renamed onto `{bucket}/{key}` and the folders are fsynced;
//! 5. the record `.completed-{uuid}.json` (bucket, key, ETag, the parts' ETags, access key) is
//!    written the same way;
//! 6. only then are the upload id file, the parts and the upload's attribute file deleted.
//!
//! A crash before step 5 leaves the upload id and every part in place: the upload is completable
//! and a retry starts over (a half-written temp file is removed by `s3s_fs::FileSystem::new`).
//! A crash at or after step 5 leaves the record, so the object is complete. Whatever of step 6 is
//! left undone is finished by whichever comes first: a retried completion (it reads the record
//! first, finishes the deletions, then answers from the record) or the next start ([`recover`]
//! finishes the deletions of every record whose upload id file still exists, then removes parts
//! and upload attribute files whose upload id file is gone). Both only delete what the record
//! says is done, so either order, or both, is safe. While the record and the upload id file both
//! exist, `store.rs` answers NoSuchUpload to parts and aborts of that upload.
//!
//! Records are kept [`RECORD_RETENTION`] (24 h), long enough for any client's retries, and removed
//! by [`recover`] at the first start after that; a completion retried later answers NoSuchUpload.
//!
//! If the key already held an object, steps 3–4 replace its attributes before its bytes: a crash
//! between them serves the old bytes under the new ETag until the (still completable) upload is
//! completed again. For a new key — every key cipherdrop writes — nothing is visible before step 4.

use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::{ETag, ETagCondition};
use s3s::{S3Error, S3Result, s3_error};
use uuid::Uuid;

use crate::layout::Layout;

/// The smallest part but the last, as S3 has it.
pub(crate) const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// How long a completion record is kept, so a retried completion still answers 200.
pub(crate) const RECORD_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// Bytes copied per read while assembling.
pub(crate) const COPY_BUF: usize = 1 << 20;

/// A CompleteMultipartUpload request, as the blocking code needs it.
#[derive(Debug)]
pub(crate) struct Completion {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) upload_id: Uuid,
    /// The caller's access key (`None`: anonymous).
    pub(crate) access_key: Option<String>,
    /// The part list as given: part number and ETag.
    pub(crate) parts: Vec<(Option<i32>, Option<String>)>,
    pub(crate) if_match: Option<ETagCondition>,
    pub(crate) if_none_match: Option<ETagCondition>,
}

/// A completed upload: what CompleteMultipartUpload answers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Completed {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) e_tag: String,
}

/// `.completed-{uuid}.json`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Record {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) e_tag: String,
    /// The parts' ETags (lowercase hex MD5), part 1 first.
    pub(crate) parts: Vec<String>,
    pub(crate) access_key: Option<String>,
}

/// Where an upload stands.
pub(crate) enum UploadState {
    /// Upload id file present, no record: parts may be added, it may be completed or aborted.
    Open,
    /// Completed (its record exists).
    Completed,
    /// Neither: never existed, aborted, or completed so long ago its record is gone.
    Unknown,
}

/// An ETag as a client writes it (quoted or not) in the form we store: lowercase, no quotes.
pub(crate) fn normalize_etag(e: &str) -> String {
    e.trim_matches('"').to_ascii_lowercase()
}

pub(crate) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> S3Error {
    S3Error::internal_error(e)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `dest` through a fsynced temp file and a rename (the caller fsyncs the
/// folder).
fn write_atomic(
    layout: &Layout,
    id: Uuid,
    what: &str,
    dest: &Path,
    bytes: &[u8],
) -> io::Result<()> {
    let tmp = layout.temp(id, what);
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, dest)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// The record of upload `id`, if it was completed.
pub(crate) fn read_record(layout: &Layout, id: Uuid) -> io::Result<Option<Record>> {
    match fs::read(layout.completion_record(id)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(io::Error::other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where upload `id` stands.
pub(crate) fn upload_state(layout: &Layout, id: Uuid) -> io::Result<UploadState> {
    if layout.completion_record(id).try_exists()? {
        return Ok(UploadState::Completed);
    }
    if layout.upload_info(id).try_exists()? {
        return Ok(UploadState::Open);
    }
    Ok(UploadState::Unknown)
}

/// Step 6: deletes what is left of completed upload `id` (idempotent).
pub(crate) fn finish_cleanup(layout: &Layout, id: Uuid, bucket: &str, key: &str) -> io::Result<()> {
    remove_if_exists(&layout.upload_info(id))?;
    let prefix = Layout::part_prefix(id);
    for entry in fs::read_dir(layout.root())? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
        {
            remove_if_exists(&entry.path())?;
        }
    }
    remove_if_exists(&layout.metadata(bucket, key, Some(id)))
}

impl Completion {
    /// The part list's ETags, part 1 first, once the list is well formed: numbered 1..n in
    /// order, every part with an ETag.
    fn part_etags(&self) -> S3Result<Vec<String>> {
        if self.parts.is_empty() {
            return Err(s3_error!(InvalidPart, "You must specify at least one part"));
        }
        let mut etags = Vec::with_capacity(self.parts.len());
        for (i, (number, etag)) in self.parts.iter().enumerate() {
            let number = number.ok_or_else(|| s3_error!(InvalidRequest, "missing part number"))?;
            if usize::try_from(number).ok() != Some(i + 1) {
                return Err(s3_error!(InvalidPartOrder));
            }
            let etag = etag
                .as_deref()
                .ok_or_else(|| s3_error!(InvalidPart, "part {number} has no ETag"))?;
            etags.push(normalize_etag(etag));
        }
        Ok(etags)
    }
}

/// Completes `c` (the caller holds the upload's lock).
pub(crate) fn complete(layout: &Layout, c: &Completion) -> S3Result<Completed> {
    let id = c.upload_id;
    if let Some(record) = read_record(layout, id).map_err(internal)? {
        return answer_retry(layout, c, record);
    }

    let owner: Option<String> = match fs::read(layout.upload_info(id)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(internal)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(s3_error!(NoSuchUpload)),
        Err(e) => return Err(internal(e)),
    };
    if owner != c.access_key {
        return Err(s3_error!(AccessDenied));
    }

    let bad_name = |e: crate::layout::BadName| s3_error!(InvalidArgument, "{e}");
    let bucket_dir = layout.bucket(&c.bucket).map_err(bad_name)?;
    let object = layout.object(&c.bucket, &c.key).map_err(bad_name)?;
    if !bucket_dir.is_dir() {
        return Err(s3_error!(NoSuchBucket));
    }
    let etags = c.part_etags()?;
    check_conditions(layout, c, &object)?;

    // Fail fast on missing or small parts before copying anything.
    let count = etags.len();
    for n in 1..=count {
        let size = match fs::metadata(layout.part(id, part_number(n)?)) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(s3_error!(InvalidPart, "part {n} was not uploaded"));
            }
            Err(e) => return Err(internal(e)),
        };
        if n < count && size < MIN_PART_SIZE {
            return Err(s3_error!(EntityTooSmall));
        }
    }

    // Step 2.
    let tmp = TempFile(layout.temp(id, "object"));
    let md5s = assemble(layout, id, &etags, &tmp.0)?;
    let mut whole = Md5::new();
    for m in &md5s {
        whole.update(m);
    }
    let e_tag = format!("{}-{}", hex(&whole.finalize()), md5s.len());

    // Step 3.
    match fs::read(layout.metadata(&c.bucket, &c.key, Some(id))) {
        Ok(attrs) => write_atomic(
            layout,
            id,
            "metadata",
            &layout.metadata(&c.bucket, &c.key, None),
            &attrs,
        )
        .map_err(internal)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            remove_if_exists(&layout.metadata(&c.bucket, &c.key, None)).map_err(internal)?;
        }
        Err(e) => return Err(internal(e)),
    }
    let info = serde_json::to_vec(&serde_json::json!({ "e_tag": e_tag })).map_err(internal)?;
    write_atomic(
        layout,
        id,
        "info",
        &layout.internal_info(&c.bucket, &c.key),
        &info,
    )
    .map_err(internal)?;

    // Step 4.
    place_object(layout, &tmp, &object, &bucket_dir).map_err(internal)?;

    // Step 5.
    let record = Record {
        bucket: c.bucket.clone(),
        key: c.key.clone(),
        e_tag: e_tag.clone(),
        parts: etags,
        access_key: c.access_key.clone(),
    };
    let bytes = serde_json::to_vec(&record).map_err(internal)?;
    write_atomic(layout, id, "record", &layout.completion_record(id), &bytes)
        .and_then(|()| sync_dir(layout.root()))
        .map_err(internal)?;

    // Step 6. The object is complete and recorded: a failure here is finished later (by a
    // retry or the next start) and does not change the answer.
    if let Err(e) = finish_cleanup(layout, id, &c.bucket, &c.key) {
        tracing::warn!(upload = %id, error = %e, "completed upload: leftovers not deleted yet");
    }
    Ok(Completed {
        bucket: c.bucket.clone(),
        key: c.key.clone(),
        e_tag,
    })
}

/// A completion of an upload that has a record: finish its deletions, then answer what S3
/// answers — the same result if the part list is the one completed, NoSuchUpload otherwise.
fn answer_retry(layout: &Layout, c: &Completion, record: Record) -> S3Result<Completed> {
    finish_cleanup(layout, c.upload_id, &record.bucket, &record.key).map_err(internal)?;
    if record.access_key != c.access_key {
        return Err(s3_error!(AccessDenied));
    }
    let same = record.bucket == c.bucket
        && record.key == c.key
        && c.part_etags().is_ok_and(|etags| etags == record.parts);
    if !same {
        return Err(s3_error!(NoSuchUpload));
    }
    Ok(Completed {
        bucket: record.bucket,
        key: record.key,
        e_tag: record.e_tag,
    })
}

fn part_number(n: usize) -> S3Result<i32> {
    i32::try_from(n).map_err(|_| s3_error!(InvalidPart, "too many parts"))
}

/// If-None-Match: * and If-Match, checked against the object now at the key.
fn check_conditions(layout: &Layout, c: &Completion, object: &Path) -> S3Result<()> {
    let exists = object.try_exists().map_err(internal)?;
    if c.if_none_match.as_ref().is_some_and(ETagCondition::is_any) && exists {
        return Err(s3_error!(PreconditionFailed, "Object already exists"));
    }
    if let Some(cond) = &c.if_match {
        if !exists {
            return Err(s3_error!(PreconditionFailed, "Object does not exist"));
        }
        if let Some(expected) = cond.as_etag() {
            let current = current_etag(layout, &c.bucket, &c.key, object).map_err(internal)?;
            if !expected.strong_cmp(&ETag::Strong(current)) {
                return Err(s3_error!(PreconditionFailed, "ETag does not match"));
            }
        }
    }
    Ok(())
}

/// The ETag `s3s-fs` answers for an object: the stored one, else the file's MD5.
fn current_etag(layout: &Layout, bucket: &str, key: &str, object: &Path) -> io::Result<String> {
    match fs::read(layout.internal_info(bucket, key)) {
        Ok(bytes) => {
            let info: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(io::Error::other)?;
            if let Some(e) = info.get("e_tag").and_then(serde_json::Value::as_str) {
                return Ok(e.to_owned());
            }
        }
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let mut f = File::open(object)?;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        let n = f.read(&mut buf)?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        md5.update(chunk);
    }
    Ok(hex(&md5.finalize()))
}

/// A temp file removed on drop unless it was renamed away.
pub(crate) struct TempFile(pub(crate) PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Copies the parts into `tmp` in order, checking each against its ETag; fsyncs `tmp`. Returns
/// the parts' MD5s.
fn assemble(layout: &Layout, id: Uuid, etags: &[String], tmp: &Path) -> S3Result<Vec<[u8; 16]>> {
    let mut out = File::create(tmp).map_err(internal)?;
    let mut buf = vec![0u8; COPY_BUF];
    let mut md5s = Vec::with_capacity(etags.len());
    let count = etags.len();
    for (i, want) in etags.iter().enumerate() {
        let n = i + 1;
        let mut part = match File::open(layout.part(id, part_number(n)?)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(s3_error!(InvalidPart, "part {n} was not uploaded"));
            }
            Err(e) => return Err(internal(e)),
        };
        let mut md5 = Md5::new();
        let mut size: u64 = 0;
        loop {
            let read = part.read(&mut buf).map_err(internal)?;
            let Some(chunk) = buf.get(..read).filter(|c| !c.is_empty()) else {
                break;
            };
            md5.update(chunk);
            out.write_all(chunk).map_err(internal)?;
            size += chunk.len() as u64;
        }
        let got = md5.finalize();
        if hex(&got) != *want {
            return Err(s3_error!(
                InvalidPart,
                "part {n}'s ETag is not the one given"
            ));
        }
        if n < count && size < MIN_PART_SIZE {
            return Err(s3_error!(EntityTooSmall));
        }
        md5s.push(got);
    }
    out.sync_all().map_err(internal)?;
    Ok(md5s)
}

/// Renames the assembled file onto the object's path and fsyncs every folder from the object's
/// up to the root (a nested key may have made new ones; the root holds the attribute files).
fn place_object(
    layout: &Layout,
    tmp: &TempFile,
    object: &Path,
    bucket_dir: &Path,
) -> io::Result<()> {
    let parent = object.parent().unwrap_or(bucket_dir);
    fs::create_dir_all(parent)?;
    fs::rename(&tmp.0, object)?;
    let mut dir = Some(parent);
    while let Some(d) = dir {
        sync_dir(d)?;
        if d == layout.root() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// At start: finishes step 6 of every completion a crash interrupted, removes parts and upload
/// attribute files whose upload id file is gone (left by an interrupted completion or abort),
/// and removes completion records older than [`RECORD_RETENTION`]. Problems with single files
/// are logged and skipped; only an unreadable root is an error.
pub(crate) fn recover(layout: &Layout) -> io::Result<()> {
    let now = SystemTime::now();
    let mut records = Vec::new();
    let mut leftovers = Vec::new();
    for entry in fs::read_dir(layout.root())? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Some(id) = Layout::upload_of_record(&name) {
            let modified = entry.metadata().and_then(|m| m.modified()).ok();
            records.push((id, entry.path(), modified));
        } else if let Some(id) = Layout::upload_of_leftover(&name) {
            leftovers.push((id, entry.path()));
        }
    }

    for (id, path, modified) in records {
        if layout.upload_info(id).exists() {
            match read_record(layout, id) {
                Ok(Some(r)) => {
                    if let Err(e) = finish_cleanup(layout, id, &r.bucket, &r.key) {
                        tracing::warn!(upload = %id, error = %e, "finishing a completed upload");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(upload = %id, error = %e, "unreadable completion record"),
            }
        }
        let expired = modified
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > RECORD_RETENTION);
        if expired && let Err(e) = fs::remove_file(&path) {
            tracing::warn!(upload = %id, error = %e, "removing an old completion record");
        }
    }

    for (id, path) in leftovers {
        if !layout.upload_info(id).exists()
            && let Err(e) = remove_if_exists(&path)
        {
            tracing::warn!(upload = %id, error = %e, "removing a leftover part");
        }
    }
    Ok(())
}
