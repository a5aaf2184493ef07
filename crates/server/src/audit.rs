//! The audit log: an append-only, hash-chained table.
//!
//! Each row's `hash` is SHA-256 over the previous row's hash and this row's fields (a JSON array,
//! so field boundaries are unambiguous). Triggers refuse `UPDATE` and `DELETE`; someone who
//! bypasses them (dropping the triggers, editing the file) breaks the chain, and [`verify`] says
//! which rows. Concurrent appenders (the server and a `cipherdrop` command) still form one chain:
//! see [`AuditLog`].

use cipherdrop_api::AuditEntry;
use sha2::{Digest as _, Sha256};
use sqlx::{Row as _, SqlitePool};

use crate::db::now_ms;

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database refused or failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Another caller wrote this row's batch, and that write failed (one failure answers every
    /// caller in the batch).
    #[error("the batch holding this row was not written: {0}")]
    Batch(std::sync::Arc<sqlx::Error>),
    /// The writer of this row's batch went away before answering (a cancelled request).
    #[error("the audit row was lost before it was written")]
    Lost,
}

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event to append.
#[derive(Clone, Debug, Default)]
pub struct Event<'a> {
    /// Account name, `system` or `anonymous`.
    pub actor: &'a str,
    /// What happened.
    pub action: &'a str,
    /// Which object.
    pub object: Option<&'a str>,
    /// Client IP.
    pub ip: Option<&'a str>,
    /// `ok`, `denied` or `error`.
    pub outcome: &'a str,
    /// Extra detail (never a secret).
    pub detail: &'a str,
}

/// The row hash.
pub fn row_hash(prev_hash: &str, e: &AuditEntry) -> String {
    let fields = serde_json::json!([
        e.id, e.time_ms, e.actor, e.action, e.object, e.ip, e.outcome, e.detail
    ]);
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(fields.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// The audit log of one database.
///
/// Appends are group-committed: each caller queues its row, and whoever holds the chain's head
/// writes every queued row in one multi-row `INSERT`, then wakes the callers whose rows it wrote;
/// so under load many appends share one database round trip, and each caller still returns only
/// after its own row is committed. The head (last id and hash) is kept in memory; the rows'
/// explicit ids make SQLite's primary key refuse a batch when another process (a `cipherdrop`
/// command) appended meanwhile, and then the head is read again and the batch rebuilt.
pub struct AuditLog {
    pool: SqlitePool,
    head: tokio::sync::Mutex<Option<(i64, String)>>,
    queue: std::sync::Mutex<Vec<Queued>>,
}

struct Queued {
    entry: AuditEntry,
    done: tokio::sync::oneshot::Sender<Result<(), std::sync::Arc<sqlx::Error>>>,
}

/// Longest actor, action, object, address and outcome kept, in bytes: every name and id the server
/// writes fits; anything longer came from a client and is cut.
pub const MAX_SHORT: usize = 128;
/// Longest detail kept, in bytes.
pub const MAX_DETAIL: usize = 1024;

/// `text`, cut to at most `max` bytes at a character boundary, marked with `…` when cut.
fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}

/// Rows per `INSERT` statement (10 parameters each, well under SQLite's limit).
const MAX_BATCH: usize = 500;

impl AuditLog {
    /// The audit log in `pool`'s database.
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            head: tokio::sync::Mutex::new(None),
            queue: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Appends one event; returns once its row is committed.
    pub async fn append(&self, event: &Event<'_>) -> Result<(), AuditError> {
        let (done, mut result) = tokio::sync::oneshot::channel();
        let entry = AuditEntry {
            id: 0,
            time_ms: now_ms(),
            actor: cap(event.actor, MAX_SHORT),
            action: cap(event.action, MAX_SHORT),
            object: event.object.map(|o| cap(o, MAX_SHORT)),
            ip: event.ip.map(|ip| cap(ip, MAX_SHORT)),
            outcome: cap(event.outcome, MAX_SHORT),
            detail: cap(event.detail, MAX_DETAIL),
            prev_hash: String::new(),
            hash: String::new(),
        };
        self.queue
            .lock()
            .map_err(|_| AuditError::Lost)?
            .push(Queued { entry, done });
        let mut head = self.head.lock().await;
        // Written by the holder before us?
        if let Ok(r) = result.try_recv() {
            return r.map_err(AuditError::Batch);
        }
        let batch = std::mem::take(&mut *self.queue.lock().map_err(|_| AuditError::Lost)?);
        let mut batch = batch.into_iter().peekable();
        while batch.peek().is_some() {
            let chunk: Vec<Queued> = batch.by_ref().take(MAX_BATCH).collect();
            let mut entries: Vec<AuditEntry> = chunk.iter().map(|q| q.entry.clone()).collect();
            let written = self.write(&mut head, &mut entries).await;
            let shared = written.map_err(std::sync::Arc::new);
            for q in chunk {
                let _ = q.done.send(shared.clone());
            }
        }
        drop(head);
        match result.await {
            Ok(r) => r.map_err(AuditError::Batch),
            Err(_) => Err(AuditError::Lost),
        }
    }

    /// Chains `entries` onto the head and inserts them in one statement.
    async fn write(
        &self,
        head: &mut Option<(i64, String)>,
        entries: &mut [AuditEntry],
    ) -> Result<(), sqlx::Error> {
        let mut last_error = None;
        for _ in 0..5 {
            let (mut id, mut prev) = match head.take() {
                Some(h) => h,
                None => read_head(&self.pool).await?,
            };
            for e in entries.iter_mut() {
                id += 1;
                e.id = id;
                e.prev_hash = prev;
                e.hash = row_hash(&e.prev_hash, e);
                prev = e.hash.clone();
            }
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO audit (id, time_ms, actor, action, object, ip, outcome, detail, prev_hash, hash) ",
            );
            insert.push_values(entries.iter(), |mut row, e| {
                row.push_bind(e.id)
                    .push_bind(e.time_ms)
                    .push_bind(&e.actor)
                    .push_bind(&e.action)
                    .push_bind(&e.object)
                    .push_bind(&e.ip)
                    .push_bind(&e.outcome)
                    .push_bind(&e.detail)
                    .push_bind(&e.prev_hash)
                    .push_bind(&e.hash);
            });
            // Not kept as a prepared statement: each batch size is different SQL, and caching
            // them all would hold up to 100 large statements per connection.
            match insert.build().persistent(false).execute(&self.pool).await {
                Ok(_) => {
                    *head = Some((id, prev));
                    return Ok(());
                }
                // Another process took these numbers: read the head again (it stays `None`).
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    last_error = Some(sqlx::Error::Database(e));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or(sqlx::Error::PoolTimedOut))
    }

    /// Appends, logging (not failing) if the database refuses: used after the fact, when the
    /// action itself already happened and must still be answered.
    pub async fn record(&self, event: &Event<'_>) {
        if let Err(e) = self.append(event).await {
            tracing::error!(error = %e, action = event.action, "could not append to the audit log");
        }
    }
}

/// The last row's id (or the highest id ever used, if rows were deleted from the end: numbers
/// are never reused, so the gap stays visible) and the last row's hash.
async fn read_head(pool: &SqlitePool) -> Result<(i64, String), sqlx::Error> {
    // One statement, so one snapshot: the last row and the sequence cannot disagree.
    let row = sqlx::query(
        "SELECT (SELECT id FROM audit ORDER BY id DESC LIMIT 1),
                (SELECT hash FROM audit ORDER BY id DESC LIMIT 1),
                (SELECT seq FROM sqlite_sequence WHERE name = 'audit')",
    )
    .fetch_one(pool)
    .await?;
    let last_id: Option<i64> = row.try_get(0)?;
    let hash: Option<String> = row.try_get(1)?;
    let seq: Option<i64> = row.try_get(2)?;
    Ok((
        last_id.unwrap_or(0).max(seq.unwrap_or(0)),
        hash.unwrap_or_else(|| GENESIS.to_owned()),
    ))
}

fn entry_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<AuditEntry, sqlx::Error> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        time_ms: row.try_get("time_ms")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        object: row.try_get("object")?,
        ip: row.try_get("ip")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Rows with `id > after`, at most `limit`.
pub async fn page(
    pool: &SqlitePool,
    after: i64,
    limit: u32,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?")
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(entry_from_row).collect()
}

/// Every row about `object` (an object or share id), oldest first, at most `limit`.
pub async fn for_object(
    pool: &SqlitePool,
    object: &str,
    limit: u32,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM audit WHERE object = ? ORDER BY id LIMIT ?")
        .bind(object)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(entry_from_row).collect()
}

/// What [`verify`] found.
#[derive(Debug, Default)]
pub struct Verification {
    /// Rows checked.
    pub rows: u64,
    /// Each problem, in order, as a sentence.
    pub problems: Vec<String>,
}

/// Walks the whole chain and reports every edited, deleted or reordered row.
pub async fn verify(pool: &SqlitePool) -> Result<Verification, sqlx::Error> {
    let mut report = Verification::default();
    let mut prev_hash = GENESIS.to_owned();
    let mut expected_id = 1i64;
    let mut after = 0i64;
    loop {
        let batch = page(pool, after, 1000).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        for e in &batch {
            report.rows += 1;
            if e.id != expected_id {
                report.problems.push(if e.id > expected_id {
                    format!("rows {expected_id}..={} are missing (deleted)", e.id - 1)
                } else {
                    format!("row {} is out of sequence", e.id)
                });
            }
            if e.prev_hash != prev_hash {
                report.problems.push(format!(
                    "row {}: does not chain to the row before it (a row before it was edited or deleted)",
                    e.id
                ));
            }
            if row_hash(&e.prev_hash, e) != e.hash {
                report
                    .problems
                    .push(format!("row {}: its contents were edited", e.id));
            }
            prev_hash.clone_from(&e.hash);
            expected_id = e.id + 1;
        }
    }
    let seq: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'audit'")
            .fetch_optional(pool)
            .await?;
    if let Some(seq) = seq
        && seq >= expected_id
    {
        report.problems.push(format!(
            "rows {expected_id}..={seq} at the end are missing (deleted)"
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_fields_are_cut_at_a_character_boundary() {
        assert_eq!(cap("short", 10), "short");
        let long = "é".repeat(1000);
        let cut = cap(&long, MAX_SHORT);
        assert!(
            cut.len() <= MAX_SHORT && cut.ends_with('…'),
            "{}",
            cut.len()
        );
        assert!(cap(&"x".repeat(5_000_000), MAX_DETAIL).len() <= MAX_DETAIL);
    }
}
