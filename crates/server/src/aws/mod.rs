//! The only way the server reaches KMS and S3: `aws-sdk-kms` and `aws-sdk-s3`, against AWS, the
//! embedded services, or any compatible endpoint. SDK failures become [`ApiError`]s that say which
//! service failed and whether trying again may help; the service's own message goes to the log
//! under an error id, and only the id goes to the client.

use aws_sdk_s3::config::http::HttpResponse;
use cipherdrop_api::ErrorCode;
use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use axum::http::StatusCode;
use zeroize::Zeroizing;

use crate::error::ApiError;

mod kms;
mod s3;
pub use s3::PartTarget;

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
        kms = kms.interceptor(crate::metrics::CountCalls);
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
        s3 = s3.interceptor(crate::metrics::CountCalls);
        Self {
            kms: aws_sdk_kms::Client::from_conf(kms.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
        }
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
