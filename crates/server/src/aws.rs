//! The only way the server reaches KMS and S3: `aws-sdk-kms` and `aws-sdk-s3`, against AWS, the
//! embedded services, or any compatible endpoint. SDK failures become [`ApiError`]s that say which
//! service failed and whether trying again may help; the service's own message goes to the log
//! under an error id, and only the id goes to the client.

use aws_sdk_s3::config::http::HttpResponse;
use cipherdrop_api::ErrorCode;
use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ObjectLockMode};
use axum::http::StatusCode;
use zeroize::Zeroizing;

use crate::error::ApiError;

/// Where KMS and S3 are and how to sign for them.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// S3's region.
    pub s3_region: String,
    /// KMS's region.
    pub kms_region: String,
    /// KMS endpoint override (embedded KMS, LocalStack, moto...).
    pub kms_endpoint: Option<String>,
    /// S3 endpoint override (embedded S3, MinIO...). Presigned URLs point here.
    pub s3_endpoint: Option<String>,
    /// Path-style S3 addressing (`endpoint/bucket/key`), for MinIO-like stores.
    pub s3_path_style: bool,
    /// Static KMS credentials; `None` uses the AWS default credential chain.
    pub kms_credentials: Option<(String, String)>,
    /// Static S3 credentials; `None` uses the AWS default credential chain.
    pub s3_credentials: Option<(String, String)>,
}

/// KMS and S3 clients.
#[derive(Clone, Debug)]
pub struct Aws {
    /// KMS client.
    pub kms: aws_sdk_kms::Client,
    /// S3 client.
    pub s3: aws_sdk_s3::Client,
}

/// A fresh data key from `GenerateDataKey`.
pub struct IssuedKey {
    /// The plaintext key (zeroized on drop).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The KMS ciphertext blob: the EDK.
    pub edk: Vec<u8>,
    /// The full key ARN.
    pub key_arn: String,
}

impl Aws {
    /// Builds both clients.
    pub async fn connect(settings: &AwsSettings) -> Self {
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(settings.s3_region.clone()))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(90))
                    .build(),
            );
        let shared = loader.load().await;
        let fixed = |(ak, sk): &(String, String)| {
            aws_credential_types::Credentials::new(
                ak.clone(),
                sk.clone(),
                None,
                None,
                "cipherdrop-static",
            )
        };
        let mut kms = aws_sdk_kms::config::Builder::from(&shared).region(
            aws_sdk_kms::config::Region::new(settings.kms_region.clone()),
        );
        if let Some(c) = &settings.kms_credentials {
            kms = kms.credentials_provider(fixed(c));
        }
        if let Some(ep) = &settings.kms_endpoint {
            kms = kms.endpoint_url(ep);
        }
        let mut s3 = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.s3_path_style)
            // Checksums only where S3 requires them: presigned part URLs must not carry a
            // checksum of an empty body, and S3-compatible stores vary in what they accept.
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            );
        if let Some(ep) = &settings.s3_endpoint {
            s3 = s3.endpoint_url(ep);
        }
        if let Some(c) = &settings.s3_credentials {
            s3 = s3.credentials_provider(fixed(c));
        }
        Self {
            kms: aws_sdk_kms::Client::from_conf(kms.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
        }
    }

    /// Makes sure `alias` names a KMS key, creating a key and the alias if it does not (used
    /// with the embedded KMS on first start); returns the key ARN.
    pub async fn ensure_key_alias(&self, alias: &str) -> Result<String, ApiError> {
        match self.kms.describe_key().key_id(alias).send().await {
            Ok(out) => {
                return out
                    .key_metadata
                    .and_then(|m| m.arn)
                    .ok_or_else(|| bad_gateway("KMS", "DescribeKey answered without an ARN"));
            }
            Err(e) if service_code(&e).as_deref() == Some("NotFoundException") => {}
            Err(e) => return Err(sdk_error("KMS", &e)),
        }
        let key = self
            .kms
            .create_key()
            .description("cipherdrop data keys")
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?
            .key_metadata
            .ok_or_else(|| bad_gateway("KMS", "CreateKey answered without metadata"))?;
        self.kms
            .create_alias()
            .alias_name(alias)
            .target_key_id(key.key_id())
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        key.arn
            .ok_or_else(|| bad_gateway("KMS", "CreateKey answered without an ARN"))
    }

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

    /// `GenerateDataKey` (AES-256) bound to `context`.
    pub async fn generate_data_key(
        &self,
        key_id: &str,
        context: &HashMap<String, String>,
    ) -> Result<IssuedKey, ApiError> {
        let out = self
            .kms
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        let plaintext = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        let (Some(edk), Some(key_arn)) = (out.ciphertext_blob, out.key_id) else {
            return Err(bad_gateway("KMS", "GenerateDataKey answered without a key"));
        };
        if plaintext.len() != 32 {
            return Err(bad_gateway(
                "KMS",
                "GenerateDataKey answered a key of the wrong size",
            ));
        }
        Ok(IssuedKey {
            plaintext,
            edk: edk.into_inner(),
            key_arn,
        })
    }

    /// `Decrypt` of a stored EDK with its stored context, pinned to the stored key ARN.
    pub async fn decrypt_data_key(
        &self,
        key_arn: &str,
        edk: &[u8],
        context: &HashMap<String, String>,
    ) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        self.decrypt_pinned(key_arn, edk, context, 32).await
    }

    /// `Encrypt` of a small secret under `key_arn`, bound to `context`; returns the ciphertext
    /// blob.
    pub async fn encrypt_blob(
        &self,
        key_arn: &str,
        plaintext: &[u8],
        context: &HashMap<String, String>,
    ) -> Result<Vec<u8>, ApiError> {
        let out = self
            .kms
            .encrypt()
            .key_id(key_arn)
            .plaintext(Blob::new(plaintext))
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        out.ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| bad_gateway("KMS", "Encrypt answered without a ciphertext"))
    }

    /// `Decrypt` of a blob with its context, pinned to `key_arn`; the plaintext must be `len`
    /// bytes.
    pub async fn decrypt_pinned(
        &self,
        key_arn: &str,
        blob: &[u8],
        context: &HashMap<String, String>,
        len: usize,
    ) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        let out = self
            .kms
            .decrypt()
            .key_id(key_arn)
            .ciphertext_blob(Blob::new(blob))
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        let plaintext = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        if plaintext.len() != len {
            return Err(bad_gateway(
                "KMS",
                "Decrypt answered a plaintext of the wrong size",
            ));
        }
        Ok(plaintext)
    }

    /// `CreateKey` of an ECC_NIST_P384 `SIGN_VERIFY` key (the embedded KMS's audit signing key,
    /// made on first start); returns its ARN.
    pub async fn create_signing_key(&self, description: &str) -> Result<String, ApiError> {
        self.kms
            .create_key()
            .description(description)
            .key_spec(KeySpec::EccNistP384)
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?
            .key_metadata
            .and_then(|m| m.arn)
            .ok_or_else(|| bad_gateway("KMS", "CreateKey answered without an ARN"))
    }

    /// `Sign` of `message` (`RAW`: KMS hashes it) with ECDSA_SHA_384; returns the ARN of the key
    /// that signed and the DER signature.
    pub async fn sign_p384(
        &self,
        key_id: &str,
        message: &[u8],
    ) -> Result<(String, Vec<u8>), ApiError> {
        let out = self
            .kms
            .sign()
            .key_id(key_id)
            .message(Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        match (out.key_id, out.signature) {
            (Some(arn), Some(sig)) => Ok((arn, sig.into_inner())),
            _ => Err(bad_gateway("KMS", "Sign answered without a signature")),
        }
    }

    /// `GetPublicKey`: the key's ARN and its public key (DER SubjectPublicKeyInfo).
    pub async fn public_key(&self, key_id: &str) -> Result<(String, Vec<u8>), ApiError> {
        let out = self
            .kms
            .get_public_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| sdk_error("KMS", &e))?;
        match (out.key_id, out.public_key) {
            (Some(arn), Some(der)) => Ok((arn, der.into_inner())),
            _ => Err(bad_gateway("KMS", "GetPublicKey answered without a key")),
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
        use aws_sdk_s3::primitives::{ByteStream, DateTime};
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
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes=0-{}", len.saturating_sub(1)))
            .send()
            .await
            .map_err(|e| sdk_error("S3", &e))?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| unavailable("S3", &e.to_string()))?;
        Ok(bytes.into_bytes().to_vec())
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

fn presigning(ttl: Duration) -> Result<PresigningConfig, ApiError> {
    PresigningConfig::expires_in(ttl).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The service's error code, if the service answered at all.
fn service_code<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> Option<String>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => {
            Some(s.err().code().unwrap_or("Unknown").to_owned())
        }
        _ => None,
    }
}

fn describe<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => {
            let status = e
                .raw_response()
                .and_then(|r| (r as &dyn std::any::Any).downcast_ref::<HttpResponse>())
                .map(|r| r.status().as_u16());
            let status = status.map(|c| format!(" (HTTP {c})")).unwrap_or_default();
            match s.err().code() {
                Some(code) => format!("{code}: {}{status}", s.err().message().unwrap_or("")),
                // No error code: the answer itself did not parse, and the chain says why.
                None => format!("{}{status}", aws_smithy_error_chain(s.err())),
            }
        }
        other => aws_smithy_error_chain(other),
    }
}

fn aws_smithy_error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Maps an SDK failure: no answer (connection refused, timeout) is 503, an answer that refuses is
/// 502 with the service's code and message.
fn sdk_error<E, R>(service: &str, e: &aws_sdk_s3::error::SdkError<E, R>) -> ApiError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_s3::error::SdkError;
    match e {
        SdkError::ServiceError(_) => bad_gateway(service, &describe(e)),
        _ => unavailable(service, &describe(e)),
    }
}

/// A fresh id for one upstream failure: the log line with the service's own words carries it,
/// and so does the answer, which carries nothing else of them (AWS messages can name accounts,
/// roles and keys).
fn error_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn unavailable(service: &str, detail: &str) -> ApiError {
    let id = error_id();
    tracing::warn!(error_id = %id, service, detail, "service unavailable");
    let code = if service == "KMS" {
        ErrorCode::KmsUnavailable
    } else {
        ErrorCode::S3Unavailable
    };
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        code,
        format!(
            "{service} cannot be reached right now; nothing was changed, try again later (error id {id})"
        ),
    )
}

fn bad_gateway(service: &str, detail: &str) -> ApiError {
    let id = error_id();
    tracing::warn!(error_id = %id, service, detail, "service refused");
    let code = if service == "KMS" {
        ErrorCode::KmsError
    } else {
        ErrorCode::S3Error
    };
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        code,
        format!("{service} refused the request (error id {id}; the server's log has the details)"),
    )
}
