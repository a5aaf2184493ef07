//! What a backup and a restore need from the database: a consistent copy of an SQLite database
//! made while the server uses it, and the stored objects a database names (to check that a
//! backup holds every one of them).

use std::path::Path;

use crate::db::{Backend, Db};

/// Why a snapshot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Only SQLite is copied this way: PostgreSQL has its own tools (RDS snapshots, pg_dump).
    #[error(
        "the database is PostgreSQL: back it up with its own tools (RDS automated backups and snapshots, or pg_dump), not cipherdrop backup"
    )]
    NotSqlite,
    /// The target is not a path SQLite can be given.
    #[error("{0} is not a path SQLite can write")]
    BadPath(String),
    /// SQLite refused.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Writes a consistent copy of the SQLite database to `to` (`VACUUM INTO`: one read transaction,
/// so writers go on while it runs and the copy is the database at one moment). `to` must not
/// exist.
pub async fn snapshot_sqlite(db: &Db, to: &Path) -> Result<(), SnapshotError> {
    if db.backend() != Backend::Sqlite {
        return Err(SnapshotError::NotSqlite);
    }
    let path = to
        .to_str()
        .ok_or_else(|| SnapshotError::BadPath(to.display().to_string()))?;
    sqlx::query("VACUUM INTO $1").bind(path).execute(db).await?;
    Ok(())
}

/// A stored object as the database knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its key in the bucket.
    pub s3_key: String,
    /// Its exact length (as S3 reported it when the upload completed).
    pub stored_size: u64,
}

/// Every object the database says is stored (complete uploads), by key.
pub async fn stored_objects(db: &Db) -> Result<Vec<StoredObject>, sqlx::Error> {
    let rows: Vec<(String, Option<i64>, i64)> = sqlx::query_as(
        "SELECT s3_key, stored_size, ciphertext_size FROM objects WHERE state = 'complete'
         ORDER BY s3_key",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(s3_key, stored, declared)| StoredObject {
            s3_key,
            stored_size: u64::try_from(stored.unwrap_or(declared)).unwrap_or(0),
        })
        .collect())
}
