//! Moving one stored file to another KMS key, its body untouched: the data key released by KMS
//! (audited), the header re-sealed with the data key wrapped under the target key, and a new
//! object built of the new header, the old body (copied by S3 where it can) and, for a signed
//! message, a new footer; then the file switched to it in one transaction, with its links' keys.
//!
//! Invariant: the file's row names exactly one complete, readable object at every moment. The
//! new object is recorded in `rekey_moves` before S3 is asked for it, so a crash at any step
//! leaves either the old object (and a leftover that [`clean_leftover`] deletes) or the new one
//! (the old one then waits in `retired_objects` until the download URLs issued for it expire).

use std::collections::HashMap;

use cipherdrop_core::{DataKey, DecryptLimits, EncryptedDataKey, Rekey, SigningKey, TAG_LEN};

use super::layout::{Plan, SINGLE_PUT};
use super::pace::Pace;
use crate::audit::Event;
use crate::aws::PartTarget;
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::objects::{ObjectRow, to_i64};
use crate::shares;
use crate::state::AppState;

/// Where a move can be stopped (a crash there, in tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The new object is recorded; S3 holds nothing of it yet.
    Recorded,
    /// Its multipart upload exists (or, small, its `PutObject` is done).
    Started,
    /// Its first part is stored.
    FirstPart,
    /// S3 has assembled it; the file still names the old one.
    Assembled,
    /// The file names the new object; the old one is retired.
    Switched,
}

/// What one move did.
#[derive(Debug, Default)]
pub struct Moved {
    /// The object's size before.
    pub old_size: u64,
    /// And after.
    pub new_size: u64,
    /// Bytes the server read from S3.
    pub read: u64,
    /// Bytes it sent to S3.
    pub written: u64,
    /// Bytes it had S3 copy.
    pub copied: u64,
    /// Link keys moved with it.
    pub links: usize,
}

/// Why a move ended without moving.
#[derive(Debug)]
pub enum Halt {
    /// Stopped at a [`Step`] (tests: a crash there).
    Stopped(Step),
    /// The file went away (deleted) or changed meanwhile; nothing to move.
    Gone,
    /// A failure, in words.
    Failed(ApiError),
}

impl From<ApiError> for Halt {
    fn from(e: ApiError) -> Self {
        Self::Failed(e)
    }
}

impl From<sqlx::Error> for Halt {
    fn from(e: sqlx::Error) -> Self {
        Self::Failed(e.into())
    }
}

/// The first bytes read: the header and, up to [`SINGLE_PUT`], the body that follows.
const PREFIX: u64 = SINGLE_PUT + 64 * 1024;

/// What a move needs besides the file.
pub struct Target<'a> {
    /// The job it belongs to (named in audit rows).
    pub job_id: &'a str,
    /// The ARN data keys are wrapped under now.
    pub key_arn: &'a str,
    /// Stops there, if set (tests).
    pub stop_at: Option<Step>,
}

/// Moves `row` (a complete file) under `target.key_arn`.
pub async fn move_object(
    state: &AppState,
    row: &ObjectRow,
    target: &Target<'_>,
    pace: &mut Pace,
) -> Result<Moved, Halt> {
    let stop = |step: Step| {
        if target.stop_at == Some(step) {
            Err(Halt::Stopped(step))
        } else {
            Ok(())
        }
    };
    clean_leftover(state, &row.id).await?;
    let bucket = state.config.bucket.as_str();
    let old_size = row.size();
    let mut moved = Moved {
        old_size,
        ..Moved::default()
    };

    // The data key, released under the object's own context and audited like any release.
    pace.take(1).await;
    let released = state
        .aws
        .decrypt_data_key(&row.key_arn, &row.edk, &row.kms_context()?)
        .await;
    state
        .audit
        .append(&Event {
            actor: "system",
            action: "key.released",
            object: Some(&row.id),
            outcome: if released.is_ok() { "ok" } else { "error" },
            detail: &match &released {
                Ok(_) => format!("to re-key job {}", target.job_id),
                Err(e) => e.message.clone(),
            },
            ..Default::default()
        })
        .await
        .map_err(|e| ApiError::internal("auditing a key release", &e))?;
    let data_key = DataKey::from_bytes(&released?)
        .map_err(|e| ApiError::internal("reading a released data key", &e))?;

    let prefix = state
        .aws
        .read_prefix(bucket, &row.s3_key, old_size.min(PREFIX))
        .await?;
    moved.read += prefix.len() as u64;
    let signing = row
        .suite
        .is_signed()
        .then(|| SigningKey::generate(&mut rand::rng()));
    let rekey = Rekey::new(&prefix, &data_key, signing, DecryptLimits::default())
        .map_err(|e| ApiError::internal("reading the stored header", &e))?;
    let old_header_len = rekey.old_header_len() as u64;
    let context: HashMap<String, String> = rekey
        .context()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    pace.take(1).await;
    let (key_arn, edk) = state
        .aws
        .wrap_data_key(target.key_arn, data_key.as_bytes(), &context)
        .await?;
    if key_arn != target.key_arn {
        return Err(ApiError::internal(
            "wrapping a data key",
            &format!("KMS wrapped it under {key_arn}, not {}", target.key_arn),
        )
        .into());
    }
    let new_edk = EncryptedDataKey::aws_kms(&key_arn, edk.clone())
        .map_err(|e| ApiError::internal("naming the new key", &e))?;
    let (header, resigner) = rekey
        .finish(vec![new_edk])
        .map_err(|e| ApiError::internal("sealing the new header", &e))?;
    // The header is sealed: the data key is no longer needed.
    drop(data_key);

    // A signed message: the whole old body through SHA-384 (no decryption) for the new footer.
    let (body_len, footer) = match resigner {
        None => (old_size - old_header_len, Vec::new()),
        Some(mut resigner) => {
            let mut stream = state
                .aws
                .read_from(bucket, &row.s3_key, old_header_len, None)
                .await?;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| ApiError::internal("reading the stored body", &e))?;
                moved.read += chunk.len() as u64;
                resigner
                    .push(&chunk)
                    .map_err(|e| ApiError::internal("re-signing the stored body", &e))?;
            }
            resigner
                .finish()
                .map_err(|e| ApiError::internal("re-signing the stored body", &e))?
        }
    };
    let body_at = |offset: u64| old_header_len + offset;

    let new_key = format!(
        "objects/{}.{}",
        row.id,
        hex::encode(rand::random::<[u8; 6]>())
    );
    sqlx::query(
        "INSERT INTO rekey_moves (object_id, job_id, new_s3_key, started_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&row.id)
    .bind(target.job_id)
    .bind(&new_key)
    .bind(now())
    .execute(&state.db)
    .await?;
    stop(Step::Recorded)?;

    let plan = Plan::new(header.len() as u64, body_len, footer.len() as u64);
    let held = |a: u64, b: u64| prefix.get(to_usize(body_at(a))?..to_usize(body_at(b))?);
    match &plan {
        Plan::Whole => {
            let body = held(0, body_len).ok_or_else(|| {
                ApiError::internal(
                    "reading the stored body",
                    &"the object is shorter than its row says",
                )
            })?;
            let mut whole = Vec::with_capacity(header.len() + body.len() + footer.len());
            whole.extend_from_slice(&header);
            whole.extend_from_slice(body);
            whole.extend_from_slice(&footer);
            moved.written += whole.len() as u64;
            state.aws.put_bytes(bucket, &new_key, whole).await?;
            stop(Step::Started)?;
        }
        Plan::Parts { head, copies, tail } => {
            let upload_id = state.aws.create_multipart(bucket, &new_key).await?;
            sqlx::query("UPDATE rekey_moves SET s3_upload_id = $1 WHERE object_id = $2")
                .bind(&upload_id)
                .bind(&row.id)
                .execute(&state.db)
                .await?;
            stop(Step::Started)?;
            let to = PartTarget {
                bucket,
                key: &new_key,
                upload_id: &upload_id,
            };
            let mut first = header.clone();
            first.extend_from_slice(held(0, *head).ok_or_else(|| {
                ApiError::internal(
                    "reading the stored body",
                    &"the object is shorter than its row says",
                )
            })?);
            moved.written += first.len() as u64;
            let mut parts = vec![(1, state.aws.upload_part_bytes(&to, 1, first).await?)];
            stop(Step::FirstPart)?;
            for &(a, b) in copies {
                let n = next_part(&parts);
                let etag = state
                    .aws
                    .upload_part_copy(&to, n, &row.s3_key, (body_at(a), body_at(b)))
                    .await?;
                parts.push((n, etag));
            }
            moved.copied += plan.copied();
            if let Some((a, b)) = tail {
                let mut last = state
                    .aws
                    .read_range(bucket, &row.s3_key, body_at(*a), body_at(*b))
                    .await?;
                moved.read += last.len() as u64;
                last.extend_from_slice(&footer);
                moved.written += last.len() as u64;
                let n = next_part(&parts);
                parts.push((n, state.aws.upload_part_bytes(&to, n, last).await?));
            }
            if !state
                .aws
                .complete_multipart(bucket, &new_key, &upload_id, &parts)
                .await?
            {
                return Err(
                    ApiError::internal("assembling the new object", &"S3 lost the upload").into(),
                );
            }
        }
    }
    stop(Step::Assembled)?;

    // What S3 now holds must be what the row will say.
    let new_size = header.len() as u64 + body_len + footer.len() as u64;
    let stored = state.aws.object_size(bucket, &new_key).await?;
    let switched = ObjectRow {
        s3_key: new_key.clone(),
        key_arn: key_arn.clone(),
        edk,
        context: serde_json::to_string(
            &context.iter().collect::<std::collections::BTreeMap<_, _>>(),
        )
        .map_err(|e| ApiError::internal("writing the new context", &e))?,
        stored_size: Some(new_size),
        ..row.clone()
    };
    let check = state
        .aws
        .read_prefix(bucket, &new_key, header.len() as u64 + TAG_LEN as u64)
        .await?;
    if stored != Some(new_size) || switched.check_stored(&check, new_size).is_err() {
        return Err(ApiError::internal(
            "checking the new object",
            &format!("S3 holds {stored:?} bytes, {new_size} expected, or a header other than the one written"),
        )
        .into());
    }
    moved.read += check.len() as u64;
    moved.new_size = new_size;
    moved.links = switch(state, row, &switched).await?;
    stop(Step::Switched)?;
    Ok(moved)
}

fn to_usize(v: u64) -> Option<usize> {
    usize::try_from(v).ok()
}

fn next_part(parts: &[(u32, String)]) -> u32 {
    parts.last().map_or(1, |(n, _)| n + 1)
}

/// A link key of the file: `(share id, in share_items?, its KMS blob, the link's owner)`.
type LinkKey = (String, bool, Vec<u8>, String);

/// The file's link keys that KMS wraps under the file's key: the sealed key of each link to it
/// alone, and its item in each link to several files made before set keys. (A set key wraps
/// the items of newer links to several files; those move with the set key.)
async fn link_keys<'c, E>(conn: E, object_id: &str) -> ApiResult<Vec<LinkKey>>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let rows: Vec<(String, i64, Vec<u8>, String)> = sqlx::query_as(
        "SELECT id, 0, sealed_key, owner_id FROM shares
         WHERE object_id = $1 AND set_key IS NULL AND sealed_key IS NOT NULL
         UNION ALL
         SELECT i.share_id, 1, i.sealed_key, s.owner_id FROM share_items i
         JOIN shares s ON s.id = i.share_id WHERE i.object_id = $1 AND s.set_key IS NULL",
    )
    .bind(object_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(share, item, blob, owner)| (share, item == 1, blob, owner))
        .collect())
}

/// Switches the file to `new` (same id) with its link keys re-encrypted under the new key, in
/// one transaction, and retires the old object. The link keys are re-encrypted before it; a
/// link made meanwhile is re-encrypted inside it, under the owner's lock (which a new link
/// takes too), so none is left under the old key. A file deleted or moved meanwhile is
/// [`Halt::Gone`] (and the new object deleted). Returns how many link keys moved.
async fn switch(state: &AppState, old: &ObjectRow, new: &ObjectRow) -> Result<usize, Halt> {
    let mut fresh: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    for (share, _, blob, owner) in link_keys(&state.db, &old.id).await? {
        let context = shares::link_context(&old.id, &owner, &share);
        let (_, moved) = state
            .aws
            .re_encrypt(&old.key_arn, &blob, &context, &new.key_arn)
            .await?;
        fresh.insert(blob, moved);
    }
    let mut tx = state.db.begin().await?;
    state.db.lock_account(&mut tx, &old.owner_id).await?;
    // The first statement writes: on SQLite the transaction holds the write lock from here.
    let done = sqlx::query(
        "UPDATE objects SET s3_key = $1, key_arn = $2, edk = $3, context = $4, stored_size = $5
         WHERE id = $6 AND s3_key = $7 AND state = 'complete'",
    )
    .bind(&new.s3_key)
    .bind(&new.key_arn)
    .bind(&new.edk)
    .bind(&new.context)
    .bind(to_i64(new.size())?)
    .bind(&old.id)
    .bind(&old.s3_key)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        drop(tx);
        forget_move(state, &old.id, &new.s3_key).await?;
        return Err(Halt::Gone);
    }
    let keys = link_keys(&mut *tx, &old.id).await?;
    for (share, item, blob, owner) in &keys {
        let moved = match fresh.get(blob) {
            Some(moved) => moved.clone(),
            None => {
                let context = shares::link_context(&old.id, owner, share);
                state
                    .aws
                    .re_encrypt(&old.key_arn, blob, &context, &new.key_arn)
                    .await?
                    .1
            }
        };
        let sql = if *item {
            "UPDATE share_items SET sealed_key = $1
             WHERE share_id = $2 AND object_id = $3 AND sealed_key = $4"
        } else {
            "UPDATE shares SET sealed_key = $1
             WHERE id = $2 AND object_id = $3 AND sealed_key = $4"
        };
        sqlx::query(sql)
            .bind(moved)
            .bind(share.as_str())
            .bind(&old.id)
            .bind(blob.as_slice())
            .execute(&mut *tx)
            .await?;
    }
    let keep = i64::try_from(state.config.url_ttl.as_secs()).unwrap_or(i64::MAX / 2) + 60;
    sqlx::query(
        "INSERT INTO retired_objects (s3_key, object_id, delete_after) VALUES ($1, $2, $3)",
    )
    .bind(&old.s3_key)
    .bind(&old.id)
    .bind(now().saturating_add(keep))
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM rekey_moves WHERE object_id = $1")
        .bind(&old.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(keys.len())
}

/// Deletes the new object of a move that will not happen, and its record.
async fn forget_move(state: &AppState, object_id: &str, new_key: &str) -> ApiResult<()> {
    let upload: Option<Option<String>> = sqlx::query_scalar(
        "SELECT s3_upload_id FROM rekey_moves WHERE object_id = $1 AND new_s3_key = $2",
    )
    .bind(object_id)
    .bind(new_key)
    .fetch_optional(&state.db)
    .await?;
    let bucket = state.config.bucket.as_str();
    if let Some(Some(upload_id)) = &upload {
        state
            .aws
            .abort_multipart(bucket, new_key, upload_id)
            .await?;
    }
    state.aws.delete_object(bucket, new_key).await?;
    sqlx::query("DELETE FROM rekey_moves WHERE object_id = $1 AND new_s3_key = $2")
        .bind(object_id)
        .bind(new_key)
        .execute(&state.db)
        .await?;
    Ok(())
}

/// Cleans up after a move of `object_id` that a crash interrupted: its new object (or
/// multipart upload) is deleted unless the file already names it.
pub async fn clean_leftover(state: &AppState, object_id: &str) -> ApiResult<()> {
    let left: Option<String> =
        sqlx::query_scalar("SELECT new_s3_key FROM rekey_moves WHERE object_id = $1")
            .bind(object_id)
            .fetch_optional(&state.db)
            .await?;
    let Some(new_key) = left else {
        return Ok(());
    };
    let in_use: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM objects WHERE s3_key = $1")
        .bind(&new_key)
        .fetch_one(&state.db)
        .await?;
    if in_use > 0 {
        sqlx::query("DELETE FROM rekey_moves WHERE object_id = $1")
            .bind(object_id)
            .execute(&state.db)
            .await?;
        return Ok(());
    }
    forget_move(state, object_id, &new_key).await
}

/// Cleans up every interrupted move (a replica starting a pass).
pub async fn clean_leftovers(state: &AppState) -> ApiResult<usize> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT object_id FROM rekey_moves")
        .fetch_all(&state.db)
        .await?;
    for id in &ids {
        clean_leftover(state, id).await?;
    }
    Ok(ids.len())
}

/// For an audit row: the sizes and what the server read, wrote and had S3 copy.
pub fn describe(m: &Moved) -> String {
    format!(
        "{} -> {} bytes; read {}, wrote {}, S3 copied {}; {} link key{}",
        m.old_size,
        m.new_size,
        m.read,
        m.written,
        m.copied,
        m.links,
        if m.links == 1 { "" } else { "s" }
    )
}
