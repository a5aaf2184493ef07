//! SigV4 verification: the expected signature is computed by the official `aws-sigv4` crate over
//! the headers the client says it signed, and compared in constant time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::http::HeaderMap;
use subtle::ConstantTimeEq as _;

use crate::error::{ErrorCode, KmsError, KmsResult};

/// Largest clock difference accepted between the signer and us.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

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

/// Checks the request's SigV4 signature for `service` against the known credentials; returns the
/// caller's access key.
pub fn verify<'a>(
    req: &Request<'_>,
    service: &str,
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
    let signable = SignableRequest::new(
        req.method,
        uri,
        headers.into_iter(),
        SignableBody::Bytes(req.body),
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
        .region(auth.region)
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
