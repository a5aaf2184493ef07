//! The audit log: an append-only, hash-chained table.
//!
//! Each row's `hash` is SHA-256 over the previous row's hash and this row's fields (a JSON array,
//! so field boundaries are unambiguous). Triggers refuse `UPDATE` and `DELETE`; someone who
//! bypasses them (dropping the triggers, editing the file) breaks the chain, and [`verify`] says
//! which rows. Concurrent appenders (the server and a `cipherdrop` command) still form one chain:
//! see [`AuditLog`].
//!
//! Whoever can write the database can also rewrite the chain consistently (edit a row, re-hash
//! every later one, move the head): signed checkpoints ([`crate::checkpoints`]) anchor it outside
//! the database, and [`verify_with`] checks the chain against them, from the database or from an
//! [`export`] with nothing but the signing key's public key.

use crate::db::Db;
use cipherdrop_api::AuditEntry;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;

use crate::db::now_ms;

mod verify;

pub use verify::*;

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
/// Appends are group-committed: each caller queues its row, and whoever holds this process's
/// writer lock writes every queued row in one multi-row `INSERT`, then wakes the callers whose
/// rows it wrote; so under load many appends share one database round trip, and each caller still
/// returns only after its own row is committed. Across processes (replicas on one PostgreSQL, a
/// `cipherdrop` command beside the server) the chain stays one: each batch's transaction first
/// takes the `audit_head` row (`UPDATE … RETURNING`, which holds it until commit), chains its rows
/// onto it, and moves it.
pub struct AuditLog {
    db: Db,
    writer: tokio::sync::Mutex<()>,
    queue: std::sync::Mutex<Vec<Queued>>,
    /// The id of the last row this process wrote (what the checkpoint timer counts from).
    appended: tokio::sync::watch::Sender<i64>,
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

/// Rows per `INSERT` statement (10 parameters each, well under SQLite's and PostgreSQL's limits).
const MAX_BATCH: usize = 500;

impl AuditLog {
    /// The audit log in `pool`'s database.
    pub fn new(db: Db) -> Self {
        Self {
            db,
            writer: tokio::sync::Mutex::new(()),
            queue: std::sync::Mutex::new(Vec::new()),
            appended: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Tells the id of the last row this process wrote, after each batch is committed.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        self.appended.subscribe()
    }

    /// Appends one event; returns once its row is committed.
    pub async fn append(&self, event: &Event<'_>) -> Result<(), AuditError> {
        crate::metrics::metrics().audit_event(event.action, event.outcome);
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
        let writer = self.writer.lock().await;
        // Written by the holder before us?
        if let Ok(r) = result.try_recv() {
            return r.map_err(AuditError::Batch);
        }
        let batch = std::mem::take(&mut *self.queue.lock().map_err(|_| AuditError::Lost)?);
        let mut batch = batch.into_iter().peekable();
        while batch.peek().is_some() {
            let chunk: Vec<Queued> = batch.by_ref().take(MAX_BATCH).collect();
            let mut entries: Vec<AuditEntry> = chunk.iter().map(|q| q.entry.clone()).collect();
            let written = self.write(&mut entries).await;
            if let (Ok(()), Some(last)) = (&written, entries.last()) {
                self.appended.send_replace(last.id);
            }
            let shared = written.map_err(std::sync::Arc::new);
            for q in chunk {
                let _ = q.done.send(shared.clone());
            }
        }
        drop(writer);
        match result.await {
            Ok(r) => r.map_err(AuditError::Batch),
            Err(_) => Err(AuditError::Lost),
        }
    }

    /// Chains `entries` onto the head and inserts them in one statement, in one transaction.
    async fn write(&self, entries: &mut [AuditEntry]) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin().await?;
        // Taking the head row first also makes this SQLite transaction a writer from its first
        // statement, so it waits its turn instead of failing to upgrade a read.
        let (mut id, mut prev): (i64, String) =
            sqlx::query_as("UPDATE audit_head SET id = id WHERE one = 1 RETURNING id, hash")
                .fetch_one(&mut *tx)
                .await?;
        for e in entries.iter_mut() {
            id += 1;
            e.id = id;
            e.prev_hash = prev;
            e.hash = row_hash(&e.prev_hash, e);
            prev = e.hash.clone();
        }
        let mut sql = String::from(
            "INSERT INTO audit (id, time_ms, actor, action, object, ip, outcome, detail, prev_hash, hash) VALUES ",
        );
        for i in 0..entries.len() {
            let n = i * 10;
            let row: Vec<String> = (1..=10).map(|k| format!("${}", n + k)).collect();
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&row.join(", "));
            sql.push(')');
        }
        let mut insert = sqlx::query(&sql);
        for e in entries.iter() {
            insert = insert
                .bind(e.id)
                .bind(e.time_ms)
                .bind(&e.actor)
                .bind(&e.action)
                .bind(&e.object)
                .bind(&e.ip)
                .bind(&e.outcome)
                .bind(&e.detail)
                .bind(&e.prev_hash)
                .bind(&e.hash);
        }
        // Not kept as a prepared statement: each batch size is different SQL, and caching
        // them all would hold up to 500 large statements per connection.
        insert.persistent(false).execute(&mut *tx).await?;
        sqlx::query("UPDATE audit_head SET id = $1, hash = $2 WHERE one = 1")
            .bind(id)
            .bind(&prev)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// Appends, logging (not failing) if the database refuses: used after the fact, when the
    /// action itself already happened and must still be answered.
    pub async fn record(&self, event: &Event<'_>) {
        if let Err(e) = self.append(event).await {
            tracing::error!(error = %e, action = event.action, "could not append to the audit log");
        }
    }

    /// [`AuditLog::record`]s what the server did on its own (actor `system`, no client address)
    /// to `object`.
    pub async fn record_system(&self, action: &str, object: &str, outcome: &str, detail: &str) {
        self.record(&Event {
            actor: "system",
            action,
            object: Some(object),
            outcome,
            detail,
            ..Default::default()
        })
        .await;
    }
}

fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<AuditEntry, sqlx::Error> {
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
pub async fn page(pool: &Db, after: i64, limit: u32) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM audit WHERE id > $1 ORDER BY id LIMIT $2")
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(entry_from_row).collect()
}

/// Every row about `object` (an object or share id), oldest first, at most `limit`.
pub async fn for_object(
    pool: &Db,
    object: &str,
    limit: u32,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM audit WHERE object = $1 ORDER BY id LIMIT $2")
        .bind(object)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(entry_from_row).collect()
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
