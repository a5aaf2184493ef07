//! An object's row, typed as it is read (its state, suite, sizes and layout), and what it says:
//! its summary, its context, and the check of what S3 holds against what was issued.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
pub use cipherdrop_api::ObjectState;
use cipherdrop_api::ObjectSummary;
use cipherdrop_core::{
    AlgorithmSuiteId, ContentType, DecryptLimits, Header, MessageLen, PartLayout, Suite, TAG_LEN,
};
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row as _};

use super::S3Ref;
use crate::error::{ApiError, ApiResult};

/// One row of `objects`, typed: a stored value out of its type's range (a damaged row) is an
/// error when the row is read, never a silent 0.
#[derive(Clone)]
pub struct ObjectRow {
    pub id: String,
    pub owner_id: String,
    pub state: ObjectState,
    pub s3_key: String,
    pub s3_upload_id: String,
    pub suite: Suite,
    pub frame_length: u32,
    pub plaintext_size: u64,
    /// The declared (longest) message length.
    pub ciphertext_size: u64,
    pub part_size: u64,
    pub part_count: u32,
    pub key_arn: String,
    pub edk: Vec<u8>,
    pub context: String,
    pub metadata: Option<Vec<u8>>,
    /// What S3 holds once complete.
    pub stored_size: Option<u64>,
    pub created_at: i64,
    pub completed_at: Option<i64>,
    /// The file request it came by, if a sender's.
    pub request_id: Option<String>,
}

/// A column that must fit `T` (sizes, counts, lengths: never negative).
fn ranged<T: TryFrom<i64>>(row: &AnyRow, column: &str) -> sqlx::Result<T> {
    let v: i64 = row.try_get(column)?;
    T::try_from(v).map_err(|_| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("{v} is out of range").into(),
    })
}

impl<'r> FromRow<'r, AnyRow> for ObjectRow {
    fn from_row(row: &'r AnyRow) -> sqlx::Result<Self> {
        let suite_id: u16 = ranged(row, "suite")?;
        let suite =
            Suite::from_id(AlgorithmSuiteId(suite_id)).map_err(|e| sqlx::Error::ColumnDecode {
                index: "suite".to_owned(),
                source: e.to_string().into(),
            })?;
        let stored_size: Option<i64> = row.try_get("stored_size")?;
        let stored_size = stored_size
            .map(|v| {
                u64::try_from(v).map_err(|_| sqlx::Error::ColumnDecode {
                    index: "stored_size".to_owned(),
                    source: format!("{v} is out of range").into(),
                })
            })
            .transpose()?;
        // Some queries select no request id (older callers); absent means none.
        let request_id = match row.try_get("request_id") {
            Err(sqlx::Error::ColumnNotFound(_)) => None,
            other => other?,
        };
        Ok(Self {
            id: row.try_get("id")?,
            owner_id: row.try_get("owner_id")?,
            state: {
                let name: &str = row.try_get("state")?;
                ObjectState::from_name(name).ok_or_else(|| sqlx::Error::ColumnDecode {
                    index: "state".to_owned(),
                    source: format!("no object state is called {name:?}").into(),
                })?
            },
            s3_key: row.try_get("s3_key")?,
            s3_upload_id: row.try_get("s3_upload_id")?,
            suite,
            frame_length: ranged(row, "frame_length")?,
            plaintext_size: ranged(row, "plaintext_size")?,
            ciphertext_size: ranged(row, "ciphertext_size")?,
            part_size: ranged(row, "part_size")?,
            part_count: ranged(row, "part_count")?,
            key_arn: row.try_get("key_arn")?,
            edk: row.try_get("edk")?,
            context: row.try_get("context")?,
            metadata: row.try_get("metadata")?,
            stored_size,
            created_at: row.try_get("created_at")?,
            completed_at: row.try_get("completed_at")?,
            request_id,
        })
    }
}

/// A non-negative database integer as `u64` (0 for anything else): for sums and counts the
/// database computes, which are never negative.
pub fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A size for the database.
pub fn to_i64(v: u64) -> ApiResult<i64> {
    i64::try_from(v).map_err(|_| ApiError::bad_request("size out of range"))
}

impl ObjectRow {
    /// The encryption context issued with the data key.
    pub fn context(&self) -> ApiResult<BTreeMap<String, String>> {
        serde_json::from_str(&self.context)
            .map_err(|e| ApiError::internal("reading the stored encryption context", &e))
    }

    /// The context as the KMS client takes it.
    pub fn kms_context(&self) -> ApiResult<HashMap<String, String>> {
        Ok(self.context()?.into_iter().collect())
    }

    /// The object's size in S3 (declared, until it is complete).
    pub fn size(&self) -> u64 {
        self.stored_size.unwrap_or(self.ciphertext_size)
    }

    /// The suite id.
    pub fn suite_id(&self) -> u16 {
        self.suite.id().0
    }

    /// How the upload is cut into parts, as it was announced.
    pub fn layout(&self) -> ApiResult<PartLayout> {
        PartLayout::announced(self.suite, self.ciphertext_size, self.part_size).ok_or_else(|| {
            ApiError::internal(
                "reading the upload's part layout",
                &format!(
                    "{} bytes in parts of {} do not fit S3's limits",
                    self.ciphertext_size, self.part_size
                ),
            )
        })
    }

    /// As the API lists it.
    pub fn summary(&self) -> ObjectSummary {
        ObjectSummary {
            id: self.id.clone(),
            size: self.size(),
            plaintext_size: self.plaintext_size,
            suite: self.suite_id(),
            created_at: self.completed_at.unwrap_or(self.created_at),
            metadata: B64.encode(self.metadata.as_deref().unwrap_or_default()),
            new_downloads: 0,
            request_id: self.request_id.clone(),
        }
    }

    /// 409 unless the row is pending.
    pub fn require_pending(&self) -> ApiResult<()> {
        if self.state == ObjectState::Pending {
            Ok(())
        } else {
            Err(ApiError::conflict(format!(
                "the upload is {}, not pending",
                self.state.as_str()
            )))
        }
    }

    /// Checks the header S3 now holds (`prefix`, the object's first bytes) against what was
    /// issued, and the object's `size` against the declared plaintext size. `Err` says what
    /// differs.
    pub fn check_stored(&self, prefix: &[u8], size: u64) -> Result<(), String> {
        let (header, body_start) = Header::parse(prefix, &DecryptLimits::default())
            .map_err(|e| format!("the object does not start with a valid ESDK v2 header ({e})"))?;
        if header.suite != self.suite {
            return Err(format!(
                "suite is 0x{:04X}, not the one issued",
                header.suite.id().0
            ));
        }
        match header.encrypted_data_keys.as_slice() {
            [edk]
                if edk.ciphertext == self.edk
                    && edk.kms_key_arn() == Some(self.key_arn.as_str()) => {}
            _ => return Err("the encrypted data keys are not exactly the one issued".into()),
        }
        let issued: BTreeMap<String, String> = serde_json::from_str(&self.context)
            .map_err(|_| "stored context unreadable".to_owned())?;
        let found: BTreeMap<String, String> = header
            .encryption_context
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        if found != issued {
            return Err("the encryption context differs from the one issued".into());
        }
        if header.content_type != ContentType::Framed || header.frame_length != self.frame_length {
            return Err("framing differs from the one declared".into());
        }
        let plain = self.plaintext_size;
        // The header as stored: its body and tag.
        let header_len = (body_start + TAG_LEN) as u64;
        let lengths = MessageLen::new(header.suite, header_len, plain, header.frame_length)
            .ok_or("frame count")?;
        if !lengths.admits(size) {
            return Err(format!(
                "the object is {size} bytes, which does not match {plain} plaintext bytes in frames of {}",
                header.frame_length
            ));
        }
        Ok(())
    }
}

impl ObjectRow {
    /// Where the upload is in S3.
    pub fn s3_ref(&self) -> S3Ref {
        S3Ref {
            id: self.id.clone(),
            s3_key: self.s3_key.clone(),
            s3_upload_id: self.s3_upload_id.clone(),
        }
    }
}
