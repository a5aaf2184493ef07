//! Per-account metadata keys: one KMS data key per account and version, kept only as its EDK
//! (encryption context: purpose, owner, version), released to the owner's page once per
//! session. The page seals every file's name and type under it, so showing the file list costs
//! one KMS call whatever the number of files; a rotation adds a version, and the page re-seals
//! names under the newest as it reads them.

use std::collections::HashMap;

use zeroize::Zeroizing;

use crate::db::{Db, now};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The most versions an account may make (a rotation adds a row; this bounds them).
pub const MAX_VERSIONS: i64 = 100;

/// A released key: its version, the account's newest version, the plaintext.
pub struct Released {
    /// Its version.
    pub version: u32,
    /// The newest version (what new names are sealed under).
    pub current: u32,
    /// The key (zeroized on drop).
    pub key: Zeroizing<Vec<u8>>,
}

/// The KMS encryption context of `user_id`'s metadata key `version`.
pub(crate) fn context(user_id: &str, version: i64) -> HashMap<String, String> {
    HashMap::from([
        ("cipherdrop:purpose".to_owned(), "metadata".to_owned()),
        ("cipherdrop:owner".to_owned(), user_id.to_owned()),
        ("cipherdrop:version".to_owned(), version.to_string()),
    ])
}

async fn newest(db: &Db, user_id: &str) -> ApiResult<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT MAX(version) FROM metadata_keys WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(db)
            .await?,
    )
}

fn version_u32(v: i64) -> ApiResult<u32> {
    u32::try_from(v).map_err(|_| ApiError::internal("reading a metadata key", &"version"))
}

/// Makes version `version` of the account's key (KMS `GenerateDataKey`), unless another request
/// (on any replica) made it first: then that one is released instead.
async fn create(state: &AppState, user_id: &str, version: i64) -> ApiResult<Zeroizing<Vec<u8>>> {
    let key_id = state.issuing_key(user_id).await?;
    let issued = state
        .aws
        .generate_data_key(&key_id, &context(user_id, version))
        .await?;
    let done = sqlx::query(
        "INSERT INTO metadata_keys (user_id, version, key_arn, edk, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, version) DO NOTHING",
    )
    .bind(user_id)
    .bind(version)
    .bind(&issued.key_arn)
    .bind(&issued.edk)
    .bind(now())
    .execute(&state.db)
    .await?;
    if done.rows_affected() == 1 {
        Ok(issued.plaintext)
    } else {
        decrypt(state, user_id, version)
            .await?
            .ok_or_else(|| ApiError::internal("making a metadata key", &"lost row"))
    }
}

/// KMS `Decrypt` of the stored version, pinned to its key; `None` if there is no such version.
async fn decrypt(
    state: &AppState,
    user_id: &str,
    version: i64,
) -> ApiResult<Option<Zeroizing<Vec<u8>>>> {
    let row: Option<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT key_arn, edk FROM metadata_keys WHERE user_id = $1 AND version = $2",
    )
    .bind(user_id)
    .bind(version)
    .fetch_optional(&state.db)
    .await?;
    let Some((key_arn, edk)) = row else {
        return Ok(None);
    };
    Ok(Some(
        state
            .aws
            .decrypt_data_key(&key_arn, &edk, &context(user_id, version))
            .await?,
    ))
}

/// Version `version` of the account's key, or the newest (made on first use). One KMS call.
pub async fn release(state: &AppState, user_id: &str, version: Option<u32>) -> ApiResult<Released> {
    let current = newest(&state.db, user_id).await?;
    let (wanted, current) = match (version, current) {
        // The first: version 1 exactly (not "the next", which a concurrent first use just made).
        (None, None) => {
            let key = create(state, user_id, 1).await?;
            return Ok(Released {
                version: 1,
                current: 1,
                key,
            });
        }
        (None, Some(c)) => (c, c),
        (Some(v), Some(c)) if i64::from(v) <= c => (i64::from(v), c),
        _ => return Err(ApiError::not_found("metadata key version")),
    };
    let key = decrypt(state, user_id, wanted)
        .await?
        .ok_or_else(|| ApiError::not_found("metadata key version"))?;
    Ok(Released {
        version: version_u32(wanted)?,
        current: version_u32(current)?,
        key,
    })
}

/// Makes the next version of the account's key (the first, if none); one KMS call. Two
/// rotations at once make one version (both answer with it).
pub async fn rotate(state: &AppState, user_id: &str) -> ApiResult<Released> {
    let next = newest(&state.db, user_id).await?.unwrap_or(0) + 1;
    if next > MAX_VERSIONS {
        return Err(ApiError::conflict(format!(
            "this account's metadata key was rotated {MAX_VERSIONS} times already, the most allowed"
        )));
    }
    let key = create(state, user_id, next).await?;
    let v = version_u32(next)?;
    Ok(Released {
        version: v,
        current: v,
        key,
    })
}
