//! Where `s3s-fs` keeps things on disk, for the parts of the store that work on its files directly
//! (the durable multipart completion in `complete.rs`).
//!
//! `s3s-fs`'s own path helpers are `pub(crate)`, so this module restates its layout. That layout is
//! an implementation detail of `s3s-fs` 0.14.1, which the workspace pins (`s3s-fs = "0.14.1"` in
//! the root `Cargo.toml`, exact version in `Cargo.lock`); the test `tests/store.rs`
//! `s3s_fs_on_disk_layout_is_the_one_we_read` fails if a newer `s3s-fs` moves any of these files.
//!
//! In the store's root folder:
//! - `{bucket}/{key}`: the object's bytes (a bucket is a folder);
//! - `.upload-{uuid}.json`: a multipart upload in progress, holding the JSON access key
//!   (`Option<String>`) that created it;
//! - `.upload_id-{uuid}.part-{n}`: part `n` of that upload;
//! - `.bucket-{b64url(bucket)}.object-{b64url(key)}[.upload-{uuid}].metadata.json`: the object's
//!   attributes (content type, user metadata…), the `.upload-` form while an upload is in progress;
//! - `.bucket-{b64url(bucket)}.object-{b64url(key)}.internal.json`: `{"e_tag": "..."}` and checksums;
//! - `.tmp.*.internal.part`: temporary files, removed by `s3s_fs::FileSystem::new`.
//!
//! Ours, next to them: `.completed-{uuid}.json`, the record of a finished completion.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// A bucket name or object key this store refuses, because as a path it would not name one
/// file inside its bucket.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BadName(&'static str);

/// Checks an object key before it becomes a path: no empty key, no absolute path, no NUL, no `.`
/// or `..` segment. `s3s-fs` resolves `{bucket}/{key}` with `absolutize_virtually`, which keeps a
/// path inside the root but lets `../other-bucket/x` or `../.upload-….json` reach another
/// bucket or the store's own files; this refuses those keys outright.
pub(crate) fn check_key(key: &str) -> Result<(), BadName> {
    if key.is_empty() {
        return Err(BadName("empty object key"));
    }
    if key.starts_with('/') {
        return Err(BadName("object key starts with '/'"));
    }
    if key.contains('\0') {
        return Err(BadName("object key holds NUL"));
    }
    if key.split('/').any(|s| s == "." || s == "..") {
        return Err(BadName("object key holds a '.' or '..' segment"));
    }
    Ok(())
}

/// Checks a bucket name before it becomes a path (s3s already refuses names that are not valid
/// S3 bucket names; this keeps the file layer safe on its own).
pub(crate) fn check_bucket(bucket: &str) -> Result<(), BadName> {
    if bucket.is_empty() || bucket == "." || bucket == ".." {
        return Err(BadName("bad bucket name"));
    }
    if bucket.contains(['/', '\\', '\0']) || bucket.starts_with('.') {
        return Err(BadName("bad bucket name"));
    }
    Ok(())
}

/// The store's root folder and the names of the files in it.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of `root`, which must already be canonical (as `s3s_fs::FileSystem::new`
    /// makes it).
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// The root folder.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The file marking upload `id` as in progress; it holds the creator's access key.
    pub(crate) fn upload_info(&self, id: Uuid) -> PathBuf {
        self.root.join(format!(".upload-{id}.json"))
    }

    /// The prefix of every part file of upload `id` (followed by the part number).
    pub(crate) fn part_prefix(id: Uuid) -> String {
        format!(".upload_id-{id}.part-")
    }

    /// Part `n` of upload `id`.
    pub(crate) fn part(&self, id: Uuid, n: i32) -> PathBuf {
        self.root.join(format!("{}{n}", Self::part_prefix(id)))
    }

    /// The bucket's folder.
    pub(crate) fn bucket(&self, bucket: &str) -> Result<PathBuf, BadName> {
        check_bucket(bucket)?;
        Ok(self.root.join(bucket))
    }

    /// The object's file; `key` is checked first, so the path stays inside the bucket's folder.
    pub(crate) fn object(&self, bucket: &str, key: &str) -> Result<PathBuf, BadName> {
        check_key(key)?;
        if key.ends_with('/') {
            return Err(BadName("object key names a folder"));
        }
        Ok(self.bucket(bucket)?.join(key))
    }

    fn object_stem(bucket: &str, key: &str) -> String {
        format!(
            ".bucket-{}.object-{}",
            URL_SAFE_NO_PAD.encode(bucket),
            URL_SAFE_NO_PAD.encode(key)
        )
    }

    /// The object's attributes, or those of upload `upload` while it is in progress.
    pub(crate) fn metadata(&self, bucket: &str, key: &str, upload: Option<Uuid>) -> PathBuf {
        let stem = Self::object_stem(bucket, key);
        match upload {
            Some(id) => self.root.join(format!("{stem}.upload-{id}.metadata.json")),
            None => self.root.join(format!("{stem}.metadata.json")),
        }
    }

    /// The object's internal info (`{"e_tag": ...}`).
    pub(crate) fn internal_info(&self, bucket: &str, key: &str) -> PathBuf {
        self.root
            .join(format!("{}.internal.json", Self::object_stem(bucket, key)))
    }

    /// Our record that upload `id` was completed.
    pub(crate) fn completion_record(&self, id: Uuid) -> PathBuf {
        self.root.join(format!(".completed-{id}.json"))
    }

    /// A temporary file of upload `id`'s completion. The `.tmp.` prefix and `.internal.part`
    /// suffix make `s3s_fs::FileSystem::new` remove it if a crash leaves it behind; the upload id
    /// in the name keeps it apart from `s3s-fs`'s numbered ones, and the per-upload lock keeps
    /// two completions of one upload from sharing it.
    pub(crate) fn temp(&self, id: Uuid, what: &str) -> PathBuf {
        self.root
            .join(format!(".tmp.complete-{id}.{what}.internal.part"))
    }

    /// The upload id of a part file's or an upload's attribute file's name, if it is one.
    pub(crate) fn upload_of_leftover(name: &str) -> Option<Uuid> {
        if let Some(rest) = name.strip_prefix(".upload_id-") {
            let (id, _) = rest.split_once(".part-")?;
            return Uuid::parse_str(id).ok();
        }
        let stem = name.strip_suffix(".metadata.json")?;
        let (_, id) = stem.rsplit_once(".upload-")?;
        Uuid::parse_str(id).ok()
    }

    /// The upload id of a completion record's name, if it is one.
    pub(crate) fn upload_of_record(name: &str) -> Option<Uuid> {
        let id = name.strip_prefix(".completed-")?.strip_suffix(".json")?;
        Uuid::parse_str(id).ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_would_leave_their_bucket_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "..",
            "../other/x",
            "a/../../x",
            "a/./b",
            ".",
            "a\0b",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "a/b/c", "requests/x/..y", "...", ".hidden", "dir/"] {
            assert!(check_key(good).is_ok(), "{good:?} refused");
        }
        let layout = Layout::new(PathBuf::from("/root"));
        assert!(layout.object("b", "dir/").is_err());
        assert!(layout.object("..", "x").is_err());
        assert!(layout.object("a/b", "x").is_err());
        assert_eq!(
            layout.object("b", "a/b").unwrap(),
            PathBuf::from("/root/b/a/b")
        );
    }

    #[test]
    fn leftover_names_parse_back_to_their_upload() {
        let id = Uuid::new_v4();
        let layout = Layout::new(PathBuf::from("/root"));
        let name = |p: PathBuf| p.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(
            Layout::upload_of_leftover(&name(layout.part(id, 12))),
            Some(id)
        );
        assert_eq!(
            Layout::upload_of_leftover(&name(layout.metadata("b", "k", Some(id)))),
            Some(id)
        );
        assert_eq!(
            Layout::upload_of_leftover(&name(layout.metadata("b", "k", None))),
            None
        );
        assert_eq!(
            Layout::upload_of_record(&name(layout.completion_record(id))),
            Some(id)
        );
        assert_eq!(
            Layout::upload_of_leftover(&name(layout.upload_info(id))),
            None
        );
    }
}
