//! The store behind the S3 protocol: `s3s_fs::FileSystem` for every operation it implements,
//! except CompleteMultipartUpload, which is ours (`complete.rs`) so that no dropped request or
//! crash loses an upload, and UploadPartCopy (`copy.rs`), which copies in large blocks.
//!
//! A completion runs in a task of its own (`tokio::spawn`; the handler only awaits its
//! `JoinHandle`), so a client hanging up does not stop it half-way. One async lock per upload id
//! serialises completions, their retries and aborts of that upload: a retry that arrives while
//! the first completion runs waits for it and then answers from its record.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, PoisonError, Weak};

use s3s::dto::*;
use s3s::{S3, S3Error, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;
use uuid::Uuid;

use crate::complete::{self, Completion, UploadState};
use crate::layout::{Layout, check_bucket, check_key};

/// One async lock per upload id, kept only while someone holds or waits for it.
#[derive(Default)]
struct UploadLocks(std::sync::Mutex<HashMap<Uuid, Weak<tokio::sync::Mutex<()>>>>);

impl UploadLocks {
    fn get(&self, id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(lock) = map.get(&id).and_then(Weak::upgrade) {
            return lock;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(id, Arc::downgrade(&lock));
        lock
    }
}

/// The embedded store's `S3` implementation.
pub(crate) struct Store {
    fs: FileSystem,
    layout: Layout,
    locks: Arc<UploadLocks>,
}

impl Store {
    /// Opens the store in `dir` (which must exist): `s3s-fs` removes its leftover temp files,
    /// then [`complete::recover`] finishes interrupted completions and removes leftovers of
    /// finished uploads and completion records past their retention.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        let fs = FileSystem::new(dir).map_err(|e| io::Error::other(format!("{e:?}")))?;
        // The same canonical root `FileSystem::new` computes.
        let root = std::env::current_dir()?.join(dir).canonicalize()?;
        let layout = Layout::new(root);
        complete::recover(&layout)?;
        Ok(Self {
            fs,
            layout,
            locks: Arc::default(),
        })
    }

    /// Where upload `id` stands (two `stat`s).
    fn upload_state(&self, id: Uuid) -> S3Result<UploadState> {
        complete::upload_state(&self.layout, id).map_err(S3Error::internal_error)
    }

    /// Parts and listings go to `s3s-fs` only while the upload is open: a completed upload whose
    /// upload id file is still there (a crash between its record and its cleanup) and a
    /// missing one both answer NoSuchUpload.
    fn require_open(&self, upload_id: &str) -> S3Result<()> {
        let id = parse_upload_id(upload_id)?;
        match self.upload_state(id)? {
            UploadState::Open => Ok(()),
            UploadState::Completed | UploadState::Unknown => Err(s3_error!(NoSuchUpload)),
        }
    }
}

fn parse_upload_id(s: &str) -> S3Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| s3_error!(NoSuchUpload))
}

/// Refuses a bucket or key that would not name one file inside its bucket (see
/// [`check_key`]).
impl Store {
    /// A write's bucket and key: valid names, and a bucket that exists (s3s-fs would make its
    /// folder; AWS answers `NoSuchBucket`).
    fn check_target(&self, bucket: &str, key: &str) -> S3Result<()> {
        check_names(bucket, key)?;
        let dir = self
            .layout
            .bucket(bucket)
            .map_err(|e| s3_error!(InvalidArgument, "{e}"))?;
        if !dir.is_dir() {
            return Err(s3_error!(NoSuchBucket));
        }
        Ok(())
    }
}

fn check_names(bucket: &str, key: &str) -> S3Result<()> {
    check_bucket(bucket)
        .and_then(|()| check_key(key))
        .map_err(|e| s3_error!(InvalidArgument, "{e}"))
}

fn check_copy_source(src: &CopySource) -> S3Result<()> {
    match src {
        CopySource::Bucket { bucket, key, .. } => check_names(bucket, key),
        _ => Err(s3_error!(NotImplemented)),
    }
}

#[async_trait::async_trait]
impl S3 for Store {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        check_names(&req.input.bucket, &req.input.key)?;
        check_copy_source(&req.input.copy_source)?;
        self.fs.copy_object(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.fs.delete_bucket(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        check_names(&req.input.bucket, &req.input.key)?;
        self.fs.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        for o in &req.input.delete.objects {
            check_names(&req.input.bucket, &o.key)?;
        }
        self.fs.delete_objects(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        check_names(&req.input.bucket, &req.input.key)?;
        self.fs.get_object(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        check_names(&req.input.bucket, &req.input.key)?;
        self.fs.head_object(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.check_target(&req.input.bucket, &req.input.key)?;
        self.fs.put_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.check_target(&req.input.bucket, &req.input.key)?;
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.require_open(&req.input.upload_id)?;
        self.fs.upload_part(req).await
    }

    /// Ours (see `copy.rs`), under the upload's lock like a completion.
    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        check_copy_source(&req.input.copy_source)?;
        check_names(&req.input.bucket, &req.input.key)?;
        self.require_open(&req.input.upload_id)?;
        let CopySource::Bucket { bucket, key, .. } = &req.input.copy_source else {
            return Err(s3_error!(NotImplemented));
        };
        let job = crate::copy::PartCopy {
            upload_id: parse_upload_id(&req.input.upload_id)?,
            part_number: req.input.part_number,
            access_key: req.credentials.as_ref().map(|c| c.access_key.clone()),
            source_bucket: bucket.to_string(),
            source_key: key.to_string(),
            range: req.input.copy_source_range.clone(),
        };
        let layout = self.layout.clone();
        let lock = self.locks.get(job.upload_id);
        let guard = lock.lock_owned().await;
        let e_tag = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            crate::copy::copy_part(&layout, &job)
        })
        .await
        .map_err(S3Error::internal_error)??;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(e_tag)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.require_open(&req.input.upload_id)?;
        self.fs.list_parts(req).await
    }

    /// Waits for a completion of the same upload that is running; a completed upload (its
    /// leftovers deleted now if a crash left any) or a missing one answers NoSuchUpload.
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let id = parse_upload_id(&req.input.upload_id)?;
        let lock = self.locks.get(id);
        let _guard = lock.lock().await;
        match self.upload_state(id)? {
            UploadState::Open => self.fs.abort_multipart_upload(req).await,
            UploadState::Unknown => Err(s3_error!(NoSuchUpload)),
            UploadState::Completed => {
                let layout = self.layout.clone();
                tokio::task::spawn_blocking(move || {
                    if let Some(r) = complete::read_record(&layout, id)? {
                        complete::finish_cleanup(&layout, id, &r.bucket, &r.key)?;
                    }
                    io::Result::Ok(())
                })
                .await
                .map_err(S3Error::internal_error)?
                .map_err(S3Error::internal_error)?;
                Err(s3_error!(NoSuchUpload))
            }
        }
    }

    /// See `complete.rs` for the steps and why a crash at any of them loses nothing.
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let access_key = req.credentials.as_ref().map(|c| c.access_key.clone());
        let input = req.input;
        let parts = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.part_number, p.e_tag.map(|e| e.value().to_owned())))
            .collect();
        let job = Completion {
            bucket: input.bucket,
            key: input.key,
            upload_id: parse_upload_id(&input.upload_id)?,
            access_key,
            parts,
            if_match: input.if_match,
            if_none_match: input.if_none_match,
        };
        let layout = self.layout.clone();
        let lock = self.locks.get(job.upload_id);
        // Detached from this request: if the client hangs up and this future is dropped, the
        // task still runs to the end (the lock guard moves into the blocking work with it).
        let task = tokio::spawn(async move {
            let guard = lock.lock_owned().await;
            tokio::task::spawn_blocking(move || {
                let _guard = guard;
                complete::complete(&layout, &job)
            })
            .await
        });
        let done = match task.await {
            Ok(Ok(result)) => result?,
            Ok(Err(e)) | Err(e) => return Err(S3Error::internal_error(e)),
        };
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(done.bucket),
            key: Some(done.key),
            e_tag: Some(ETag::Strong(done.e_tag)),
            ..Default::default()
        }))
    }
}
