//! What an audit checkpoint is, with no I/O beyond reading the stored ones: the signed message,
//! the row, and the public key that checks a signature locally (only the key's public half is
//! needed, so an export verifies offline). [`crate::checkpoints`] writes them; [`crate::audit`]
//! checks the chain against them. Kept apart from the writer (which reaches KMS and S3 through
//! `aws`) so the chain's checks import nothing above the database.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
use p384::ecdsa::{DerSignature, VerifyingKey};
use sha2::{Digest as _, Sha384};
use sqlx::Row as _;

use crate::db::Db;

/// The first line of every signed message.
pub const DOMAIN: &str = "cipherdrop/audit-checkpoint/v1";
/// The KMS signing algorithm of every checkpoint.
pub const ALGORITHM: &str = "ECDSA_SHA_384";
/// Where the bucket copies go.
pub const BUCKET_PREFIX: &str = "audit-checkpoints/";

/// One signed checkpoint: the chain's row `audit_id` had `hash`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// The last audit row covered.
    pub audit_id: i64,
    /// That row's hash (lowercase hex SHA-256): the chain's head then.
    pub hash: String,
    /// When it was made (Unix milliseconds).
    pub created_ms: i64,
    /// The key that signed, as KMS named it (informational: a verifier uses the key it trusts).
    pub key_arn: String,
    /// Always [`ALGORITHM`].
    pub algorithm: String,
    /// The DER signature of [`message`], base64 in JSON.
    #[serde(with = "base64_bytes")]
    pub signature: Vec<u8>,
}

mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        B64.decode(text).map_err(serde::de::Error::custom)
    }
}

/// The signed message of a checkpoint (see the module's documentation).
pub fn message(audit_id: i64, hash: &str, created_ms: i64) -> Vec<u8> {
    format!("{DOMAIN}\n{audit_id}\n{hash}\n{created_ms}\n").into_bytes()
}

impl Checkpoint {
    /// Its signed message.
    pub fn message(&self) -> Vec<u8> {
        message(self.audit_id, &self.hash, self.created_ms)
    }

    /// How reports name it: "the checkpoint of row 1000 (made 2025-01-02 03:04:05 UTC)".
    pub fn describe(&self) -> String {
        format!(
            "the checkpoint of row {} (made {})",
            self.audit_id,
            utc(self.created_ms)
        )
    }

    /// The key of its copy in the checkpoint bucket.
    pub fn object_key(&self) -> String {
        format!("{BUCKET_PREFIX}{:020}.json", self.audit_id)
    }
}

/// `ms` (Unix milliseconds) as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Why a public key was not read.
#[derive(Debug, thiserror::Error)]
#[error(
    "not a P-384 public key ({0}): expected PEM \"PUBLIC KEY\" or DER SubjectPublicKeyInfo, as KMS GetPublicKey gives it"
)]
pub struct KeyError(&'static str);

/// The public half of the signing key: all a verifier needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    der: Vec<u8>,
}

/// The DER of the AlgorithmIdentifier `{id-ecPublicKey, secp384r1}` inside the SubjectPublicKeyInfo.
pub(crate) const P384_ALGORITHM: [u8; 18] = [
    0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
    0x00, 0x22,
];

impl PublicKey {
    /// From DER SubjectPublicKeyInfo (what KMS `GetPublicKey` answers).
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        // SEQUENCE { AlgorithmIdentifier, BIT STRING { 0 unused bits, SEC1 point } }: every length
        // fits one byte for P-384, compressed or not.
        let rest = match der {
            [0x30, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => rest,
            _ => return Err(KeyError("not a DER SEQUENCE")),
        };
        let rest = rest
            .strip_prefix(&P384_ALGORITHM[..])
            .ok_or(KeyError("not an EC key on P-384"))?;
        let point = match rest {
            [0x03, len, 0x00, point @ ..] if usize::from(*len) == point.len() + 1 => point,
            _ => return Err(KeyError("no public point")),
        };
        let key =
            VerifyingKey::from_sec1_bytes(point).map_err(|_| KeyError("not a curve point"))?;
        Ok(Self {
            key,
            der: der.to_vec(),
        })
    }

    /// From PEM (`-----BEGIN PUBLIC KEY-----`) or DER.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, KeyError> {
        let Some(text) = std::str::from_utf8(bytes)
            .ok()
            .filter(|t| t.contains("-----BEGIN PUBLIC KEY-----"))
        else {
            return Self::from_der(bytes);
        };
        let body: String = text
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN PUBLIC KEY-----"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END PUBLIC KEY-----"))
            .flat_map(|l| l.trim().chars())
            .collect();
        let der = B64
            .decode(body)
            .map_err(|_| KeyError("the PEM is not base64"))?;
        Self::from_der(&der)
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// As PEM, 64 characters a line.
    pub fn to_pem(&self) -> String {
        let b64 = B64.encode(&self.der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// Whether this key signed `checkpoint` (its message, ECDSA with SHA-384, DER).
    pub fn signed(&self, checkpoint: &Checkpoint) -> bool {
        if checkpoint.algorithm != ALGORITHM {
            return false;
        }
        let Ok(sig) = DerSignature::from_bytes(&checkpoint.signature) else {
            return false;
        };
        let digest = Sha384::digest(checkpoint.message());
        self.key.verify_prehash(&digest, &sig).is_ok()
    }
}

/// Every checkpoint, oldest first.
pub async fn list(db: &Db) -> Result<Vec<Checkpoint>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT audit_id, hash, created_ms, key_arn, algorithm, signature
         FROM audit_checkpoints ORDER BY audit_id",
    )
    .fetch_all(db)
    .await?;
    rows.iter().map(from_row).collect()
}

pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> Result<Checkpoint, sqlx::Error> {
    Ok(Checkpoint {
        audit_id: row.try_get("audit_id")?,
        hash: row.try_get("hash")?,
        created_ms: row.try_get("created_ms")?,
        key_arn: row.try_get("key_arn")?,
        algorithm: row.try_get("algorithm")?,
        signature: row.try_get("signature")?,
    })
}

/// The last row a checkpoint covers (0: none).
pub async fn covered(db: &Db) -> Result<i64, sqlx::Error> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(audit_id) FROM audit_checkpoints")
        .fetch_one(db)
        .await?;
    Ok(last.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn times_read_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_735_787_045_999), "2025-01-02 03:04:05 UTC");
    }

    #[test]
    fn the_message_is_fixed_and_domain_separated() {
        assert_eq!(
            message(1000, "ab", 5),
            b"cipherdrop/audit-checkpoint/v1\n1000\nab\n5\n".to_vec()
        );
    }

    #[test]
    fn public_keys_read_from_der_and_pem_sign_only_their_checkpoints() {
        use p384::ecdsa::signature::hazmat::PrehashSigner as _;
        let key = p384::ecdsa::SigningKey::from_bytes(&[7u8; 48].into()).unwrap();
        let point = key.verifying_key().to_sec1_point(false);
        let mut der = vec![0x30, 0x76];
        der.extend_from_slice(&P384_ALGORITHM);
        der.extend_from_slice(&[0x03, 0x62, 0x00]);
        der.extend_from_slice(point.as_bytes());
        let public = PublicKey::from_der(&der).unwrap();
        assert_eq!(
            PublicKey::from_pem_or_der(public.to_pem().as_bytes()).unwrap(),
            public
        );
        let mut checkpoint = Checkpoint {
            audit_id: 3,
            hash: "00".repeat(32),
            created_ms: 1,
            key_arn: "arn".into(),
            algorithm: ALGORITHM.into(),
            signature: Vec::new(),
        };
        let sig: DerSignature = key
            .sign_prehash(&Sha384::digest(checkpoint.message()))
            .unwrap();
        checkpoint.signature = sig.as_bytes().to_vec();
        assert!(public.signed(&checkpoint));
        checkpoint.created_ms += 1;
        assert!(!public.signed(&checkpoint));
        for bad in [
            &der[..der.len() - 1],
            &der[1..],
            b"-----BEGIN PUBLIC KEY-----\n!!\n",
        ] {
            assert!(PublicKey::from_pem_or_der(bad).is_err());
        }
    }
}
