//! SigV4 verification: the expected signature is computed by the official `aws-sigv4` crate over
//! the headers the client says it signed, and compared in constant time. Those headers must
//! include `host`, `x-amz-date` and `x-amz-target` (so a captured request cannot be sent to another
//! endpoint, at another time, or as another operation), and the credential scope must name this
//! service and its region.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::http::HeaderMap;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use crate::error::{ErrorCode, KmsError, KmsResult};

/// Largest clock difference accepted between the signer and us.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// Headers every request must sign, with the names AWS's errors give them: the endpoint, the
/// time (the clock-skew window rests on it) and the operation (`X-Amz-Target`).
pub const REQUIRED_SIGNED_HEADERS: [(&str, &str); 3] = [
    ("host", "'Host' or ':authority'"),
    ("x-amz-date", "'X-Amz-Date'"),
    ("x-amz-target", "'X-Amz-Target'"),
];

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct AuthHeader<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_auth(value: &str) -> Option<AuthHeader<'_>> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let header = AuthHeader {
        access_key: scope.next()?,
        date: scope.next()?,
        region: scope.next()?,
        service: scope.next()?,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    };
    (scope.next()? == "aws4_request").then_some(header)
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// A request as received, for verification.
pub struct Request<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path and query as received.
    pub path_and_query: &'a str,
    /// All headers.
    pub headers: &'a HeaderMap,
    /// The body bytes.
    pub body: &'a [u8],
}

/// Checks the request's SigV4 signature for `service` in `region` against the known credentials;
/// returns the caller's access key.
pub fn verify<'a>(
    req: &Request<'_>,
    service: &str,
    region: &str,
    lookup_secret: impl Fn(&str) -> Option<&'a str>,
    now: SystemTime,
) -> KmsResult<String> {
    let auth = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            KmsError::new(
                ErrorCode::MissingAuthenticationToken,
                "Missing Authentication Token",
            )
        })?;
    let auth = parse_auth(auth).ok_or_else(|| {
        KmsError::new(
            ErrorCode::InvalidSignature,
            "Authorization header is not AWS4-HMAC-SHA256",
        )
    })?;
    for (name, shown) in REQUIRED_SIGNED_HEADERS {
        if !auth
            .signed_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
        {
            return Err(KmsError::new(
                ErrorCode::InvalidSignature,
                format!("{shown} must be a 'SignedHeader' in the AWS Authorization."),
            ));
        }
    }
    let secret = lookup_secret(auth.access_key).ok_or_else(|| {
        KmsError::new(
            ErrorCode::UnrecognizedClient,
            "The security token included in the request is invalid.",
        )
    })?;
    if auth.service != service {
        return Err(KmsError::new(
            ErrorCode::InvalidSignature,
            format!("Credential should be scoped to correct service: '{service}'."),
        ));
    }
    if auth.region != region {
        return Err(KmsError::new(
            ErrorCode::InvalidSignature,
            format!(
                "Credential should be scoped to a valid region, not '{}'. This service's region is '{region}'.",
                auth.region
            ),
        ));
    }
    let amz_date = req
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| KmsError::new(ErrorCode::InvalidSignature, "missing X-Amz-Date"))?;
    let time = parse_amz_date(amz_date)
        .filter(|_| amz_date.starts_with(auth.date))
        .ok_or_else(|| KmsError::new(ErrorCode::InvalidSignature, "bad X-Amz-Date"))?;
    let skew = now.duration_since(time).unwrap_or_else(|e| e.duration());
    if skew > MAX_CLOCK_SKEW {
        return Err(KmsError::new(
            ErrorCode::InvalidSignature,
            format!(
                "Signature expired: {amz_date} is more than 15 minutes away from the server time."
            ),
        ));
    }
    // Only the headers the client signed, in the form received.
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        for value in req.headers.get_all(*name) {
            let v = value.to_str().map_err(|_| {
                KmsError::new(ErrorCode::InvalidSignature, "non-ASCII signed header")
            })?;
            headers.push((name, v));
        }
    }
    let host = req
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let uri = format!("http://{host}{}", req.path_and_query);
    // The body goes in as its SHA-256, not as bytes: aws-sigv4 can log the bytes of a body it
    // signs (LOG_SIGNABLE_BODY at trace), and a KMS body holds plaintexts.
    let body_hash = hex::encode(sha2::Sha256::digest(req.body));
    let signable = SignableRequest::new(
        req.method,
        uri,
        headers.into_iter(),
        SignableBody::Precomputed(body_hash),
    )
    .map_err(|_| {
        KmsError::new(
            ErrorCode::InvalidSignature,
            "request cannot be canonicalized",
        )
    })?;
    let identity = Credentials::new(auth.access_key, secret, None, None, "cipherdrop-kms").into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = Some(Vec::new());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(KmsError::internal)?
        .into();
    let expected = sign(signable, &params).map_err(|_| {
        KmsError::new(
            ErrorCode::InvalidSignature,
            "request cannot be canonicalized",
        )
    })?;
    if bool::from(
        expected
            .signature()
            .as_bytes()
            .ct_eq(auth.signature.as_bytes()),
    ) {
        Ok(auth.access_key.to_owned())
    } else {
        Err(KmsError::new(
            ErrorCode::InvalidSignature,
            "The request signature we calculated does not match the signature you provided.",
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const AK: &str = "AKIAEXAMPLEEXAMPLE00";
    const SK: &str = "secret-secret-secret-secret-secret-secret";

    /// Headers of a request signed by `aws-sigv4` over `signed` (it adds `host` from the URI and
    /// `x-amz-date` itself), for `region` and `service`; `X-Amz-Target` is then set to `target`.
    fn signed(signed: &[(&str, &str)], region: &str, service: &str, target: &str) -> HeaderMap {
        let identity = Credentials::new(AK, SK, None, None, "t").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let req = SignableRequest::new(
            "POST",
            "http://kms.local/",
            signed.iter().copied(),
            SignableBody::Bytes(b"{}"),
        )
        .unwrap();
        let (instructions, _) = sign(req, &params).unwrap().into_parts();
        let mut headers = HeaderMap::new();
        headers.insert("host", "kms.local".parse().unwrap());
        let name = |n: &str| axum::http::HeaderName::from_bytes(n.as_bytes()).unwrap();
        for (n, value) in signed {
            headers.insert(name(n), value.parse().unwrap());
        }
        headers.insert("x-amz-target", target.parse().unwrap());
        for (n, value) in instructions.headers() {
            headers.insert(name(n), value.parse().unwrap());
        }
        headers
    }

    fn check(headers: &HeaderMap, region: &str) -> KmsResult<String> {
        let req = Request {
            method: "POST",
            path_and_query: "/",
            headers,
            body: b"{}",
        };
        verify(
            &req,
            "kms",
            region,
            |ak| (ak == AK).then_some(SK),
            SystemTime::now(),
        )
    }

    #[test]
    fn host_date_and_target_must_be_signed() {
        let list = "TrentService.ListKeys";
        // Signed over the target: accepted; the same signature with another target: refused.
        let good = signed(&[("x-amz-target", list)], "us-east-1", "kms", list);
        assert_eq!(check(&good, "us-east-1").unwrap(), AK);
        let mut swapped = good.clone();
        swapped.insert("x-amz-target", "TrentService.CreateKey".parse().unwrap());
        assert_eq!(
            check(&swapped, "us-east-1").unwrap_err().code,
            ErrorCode::InvalidSignature
        );
        // Signed without the target: a valid signature, refused whatever the target says.
        for target in [list, "TrentService.CreateKey"] {
            let h = signed(&[], "us-east-1", "kms", target);
            let e = check(&h, "us-east-1").unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidSignature);
            assert_eq!(
                e.message,
                "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."
            );
        }
        // `aws-sigv4` always signs host and x-amz-date, so those are written by hand: the
        // refusal comes before any signature is computed.
        for (signed_headers, missing) in [
            ("x-amz-date;x-amz-target", "'Host' or ':authority'"),
            ("host;x-amz-target", "'X-Amz-Date'"),
            ("content-type;host;x-amz-date", "'X-Amz-Target'"),
            ("", "'Host' or ':authority'"),
        ] {
            let mut h = good.clone();
            let auth = format!(
                "AWS4-HMAC-SHA256 Credential={AK}/20250101/us-east-1/kms/aws4_request, SignedHeaders={signed_headers}, Signature=00"
            );
            h.insert("authorization", auth.parse().unwrap());
            let e = check(&h, "us-east-1").unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidSignature, "{signed_headers}");
            assert_eq!(
                e.message,
                format!("{missing} must be a 'SignedHeader' in the AWS Authorization.")
            );
        }
    }

    #[test]
    fn the_credential_scope_names_this_region_and_kms() {
        let list = "TrentService.ListKeys";
        let other_region = signed(&[("x-amz-target", list)], "eu-west-1", "kms", list);
        let e = check(&other_region, "us-east-1").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidSignature);
        assert_eq!(
            e.message,
            "Credential should be scoped to a valid region, not 'eu-west-1'. This service's region is 'us-east-1'."
        );
        assert_eq!(check(&other_region, "eu-west-1").unwrap(), AK);
        let other_service = signed(&[("x-amz-target", list)], "us-east-1", "s3", list);
        let e = check(&other_service, "us-east-1").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidSignature);
        assert_eq!(
            e.message,
            "Credential should be scoped to correct service: 'kms'."
        );
    }

    #[test]
    fn amz_dates_parse() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_440_938_160
        );
        assert!(parse_amz_date("20151330T123600Z").is_none());
        assert!(parse_amz_date("2015-08-30").is_none());
    }
}
