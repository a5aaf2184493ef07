//! The server's S3 calls: the bucket, multipart uploads and their presigned part URLs, presigned
//! GETs, listing, sizes, ranged reads, deletes, the parts a re-key writes itself (bytes it holds,
//! or ranges S3 copies), and the audit checkpoints' locked copies.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ObjectLockMode};

use axum::http::StatusCode;
use cipherdrop_api::ErrorCode;

use super::{Aws, bad_gateway, describe, presigning, sdk_error, service_code, unavailable};
use crate::error::ApiError;

/// The multipart upload a server-made part goes to.
pub struct PartTarget<'a> {
    /// The bucket.
    pub bucket: &'a str,
    /// The new object's key.
    pub key: &'a str,
    /// Its multipart upload.
    pub upload_id: &'a str,
}

impl Aws {
    /// Makes sure the bucket exists, creating it if it does not.
    pub async fn ensure_bucket(&self, bucket: &str) -> Result<(), ApiError> {
        match self.s3.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => {
                self.s3
                    .create_bucket()
                    .bucket(bucket)
                    .send()
                    .await
                    .map_err(|e| sdk_error("S3", &e))?;
                Ok(())
            }
            Err(e) => Err(sdk_error("S3", &e)),
        }
    }

    /// `PutObject` of a small JSON document, with a SHA-256 checksum that the SDK computes and
    /// names in `x-amz-sdk-checksum-algorithm` (S3 requires that or `Content-MD5` on a write with
    /// Object Lock settings) and, given `retain_until` (Unix seconds), Object Lock in
    /// `COMPLIANCE` mode until then.
    pub async fn put_locked_json(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        retain_until: Option<i64>,
    ) -> Result<(), ApiError> {
        use aws_sdk_s3::primitives::DateTime;
        let mut put = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(body));
        if let Some(until) = retain_until {
            put = put
                .object_lock_mode(ObjectLockMode::Compliance)
                .object_lock_retain_until_date(DateTime::from_secs(until));
        }
        put.send().await.map_err(|e| sdk_error("S3", &e))?;
        Ok(())
    }

    /// `CreateMultipartUpload`; returns the S3 upload id.
    pub async fn create_multipart(&self, bucket: &str, key: &str) -> Result<String, ApiError> {
        let out = self
            .s3
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type("application/octet-stream")
            .send()
            .await
            .map_err(|e| sdk_error("S3", &e))?;
        out.upload_id
            .ok_or_else(|| bad_gateway("S3", "CreateMultipartUpload answered without an id"))
    }

    /// A presigned `UploadPart` URL that signs `content_length`, so S3 refuses a body of any
    /// other size.
    pub async fn presign_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        ttl: Duration,
    ) -> Result<String, ApiError> {
        let part = i32::try_from(part_number).map_err(|_| ApiError::bad_request("part number"))?;
        let length =
            i64::try_from(content_length).map_err(|_| ApiError::bad_request("part length"))?;
        let req = self
            .s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part)
            .content_length(length)
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| sdk_error("S3", &e))?;
        Ok(req.uri().to_owned())
    }

    /// A presigned `GetObject` URL.
    pub async fn presign_get(
        &self,
        bucket: &str,
        key: &str,
        ttl: Duration,
    ) -> Result<String, ApiError> {
        let req = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| sdk_error("S3", &e))?;
        Ok(req.uri().to_owned())
    }

    /// `CompleteMultipartUpload`. `Ok(false)` when S3 no longer knows the upload (it may have
    /// been completed by an earlier attempt whose answer was lost).
    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<bool, ApiError> {
        let mut done = Vec::with_capacity(parts.len());
        for (n, etag) in parts {
            let n = i32::try_from(*n).map_err(|_| ApiError::bad_request("part number"))?;
            done.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
        }
        let result = self
            .s3
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done))
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if service_code(&e).as_deref() == Some("NoSuchUpload") => Ok(false),
            Err(e) if service_code(&e).is_some() => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::PartsRejected,
                format!("S3 refused to assemble the parts: {}", describe(&e)),
            )),
            Err(e) => Err(sdk_error("S3", &e)),
        }
    }

    /// `AbortMultipartUpload`; an upload S3 no longer knows counts as aborted.
    pub async fn abort_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), ApiError> {
        match self
            .s3
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if service_code(&e).as_deref() == Some("NoSuchUpload") => Ok(()),
            Err(e) => Err(sdk_error("S3", &e)),
        }
    }

    /// `ListParts`, every page: each part S3 holds, as (number, size, ETag if reported), in
    /// order; `None` when S3 no longer knows the upload.
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<Vec<(u32, u64, Option<String>)>>, ApiError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        // At most 10,000 parts in pages of up to 1,000: the bound keeps a store that repeats its
        // marker from looping.
        for _ in 0..=10 {
            let out = match self
                .s3
                .list_parts()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if service_code(&e).as_deref() == Some("NoSuchUpload") => return Ok(None),
                Err(e) => return Err(sdk_error("S3", &e)),
            };
            for p in out.parts() {
                let (Some(n), Some(size)) = (p.part_number(), p.size()) else {
                    continue;
                };
                let (Ok(n), Ok(size)) = (u32::try_from(n), u64::try_from(size)) else {
                    continue;
                };
                parts.push((n, size, p.e_tag().map(str::to_owned)));
            }
            if !out.is_truncated().unwrap_or(false) {
                break;
            }
            marker = out.next_part_number_marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        parts.sort_by_key(|p| p.0);
        parts.dedup_by_key(|p| p.0);
        Ok(Some(parts))
    }

    /// One page (at most `max`) of the keys under `prefix`, each with its last-modified time (Unix
    /// seconds), and the token of the next page, if any.
    pub async fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<String>,
        max: i32,
    ) -> Result<(Vec<(String, i64)>, Option<String>), ApiError> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(max)
            .set_continuation_token(continuation)
            .send()
            .await
            .map_err(|e| sdk_error("S3", &e))?;
        let keys = out
            .contents()
            .iter()
            .filter_map(|o| Some((o.key()?.to_owned(), o.last_modified()?.secs())))
            .collect();
        let next = out
            .is_truncated()
            .unwrap_or(false)
            .then(|| out.next_continuation_token().map(str::to_owned))
            .flatten();
        Ok((keys, next))
    }

    /// The object's size, or `None` if it does not exist.
    pub async fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, ApiError> {
        match self.s3.head_object().bucket(bucket).key(key).send().await {
            Ok(out) => Ok(Some(
                out.content_length
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
            )),
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => Ok(None),
            Err(e) => Err(sdk_error("S3", &e)),
        }
    }

    /// The first `len` bytes of an object (fewer if it is shorter).
    pub async fn read_prefix(
        &self,
        bucket: &str,
        key: &str,
        len: u64,
    ) -> Result<Vec<u8>, ApiError> {
        self.read_range(bucket, key, 0, len).await
    }

    /// Bytes `start..end` of an object (fewer if it is shorter); `start < end`.
    pub async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<u8>, ApiError> {
        let bytes = self
            .read_from(bucket, key, start, Some(end))
            .await?
            .collect()
            .await
            .map_err(|e| unavailable("S3", &e.to_string()))?;
        Ok(bytes.into_bytes().to_vec())
    }

    /// An object's bytes from `start` (to `end`, exclusive, if given), as S3 sends them.
    pub async fn read_from(
        &self,
        bucket: &str,
        key: &str,
        start: u64,
        end: Option<u64>,
    ) -> Result<ByteStream, ApiError> {
        let range = match end {
            Some(end) => format!("bytes={start}-{}", end.saturating_sub(1)),
            None => format!("bytes={start}-"),
        };
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(range)
            .send()
            .await
            .map_err(|e| sdk_error("S3", &e))?;
        Ok(out.body)
    }

    /// `PutObject` of bytes the server holds.
    pub async fn put_bytes(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), ApiError> {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/octet-stream")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| sdk_error("S3", &e))?;
        Ok(())
    }

    /// `UploadPart` of bytes the server holds; returns the part's ETag.
    pub async fn upload_part_bytes(
        &self,
        target: &PartTarget<'_>,
        part_number: u32,
        body: Vec<u8>,
    ) -> Result<String, ApiError> {
        let part = i32::try_from(part_number).map_err(|_| ApiError::bad_request("part number"))?;
        let out = self
            .s3
            .upload_part()
            .bucket(target.bucket)
            .key(target.key)
            .upload_id(target.upload_id)
            .part_number(part)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| sdk_error("S3", &e))?;
        out.e_tag
            .ok_or_else(|| bad_gateway("S3", "UploadPart answered without an ETag"))
    }

    /// `UploadPartCopy` of bytes `start..end` of `source_key` (same bucket), S3 to S3: nothing
    /// passes through the server. Returns the part's ETag.
    pub async fn upload_part_copy(
        &self,
        target: &PartTarget<'_>,
        part_number: u32,
        source_key: &str,
        (start, end): (u64, u64),
    ) -> Result<String, ApiError> {
        let part = i32::try_from(part_number).map_err(|_| ApiError::bad_request("part number"))?;
        let out = self
            .s3
            .upload_part_copy()
            .bucket(target.bucket)
            .key(target.key)
            .upload_id(target.upload_id)
            .part_number(part)
            .copy_source(format!("{}/{}", target.bucket, source_key))
            .copy_source_range(format!("bytes={start}-{}", end.saturating_sub(1)))
            .send()
            .await
            .map_err(|e| sdk_error("S3", &e))?;
        out.copy_part_result
            .and_then(|r| r.e_tag)
            .ok_or_else(|| bad_gateway("S3", "UploadPartCopy answered without an ETag"))
    }

    /// `DeleteObject` (deleting a missing object succeeds).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), ApiError> {
        self.s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error("S3", &e))?;
        Ok(())
    }
}
