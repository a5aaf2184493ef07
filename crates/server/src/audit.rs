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

use crate::anchor::{Checkpoint, PublicKey};
use crate::db::Db;
use cipherdrop_api::AuditEntry;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;

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

/// What [`verify`] found.
#[derive(Debug, Default)]
pub struct Verification {
    /// Rows checked.
    pub rows: u64,
    /// Each problem, in order, as a sentence.
    pub problems: Vec<String>,
    /// What the signed checkpoints say.
    pub checkpoints: CheckpointReport,
}

/// How the chain stands against its signed checkpoints.
#[derive(Debug, Default)]
pub struct CheckpointReport {
    /// Checkpoints found.
    pub total: u64,
    /// Those that hold: the hash they name is the chain's at their row, and (when checked) the
    /// signing key's public key verifies their signature.
    pub verified: u64,
    /// Whether signatures were checked (a public key was given).
    pub signatures_checked: bool,
    /// The last row a checkpoint that holds covers (0: none).
    pub covered_to: i64,
    /// Rows after that row: not yet covered by any checkpoint.
    pub uncovered: u64,
    /// The first checkpoint (by row) that fails, described ("the checkpoint of row 1000 (made
    /// …)").
    pub first_failed: Option<String>,
    /// How many fail.
    pub failed: u64,
}

/// Checks a chain fed row by row, oldest first (from the database or an export), against itself
/// and its checkpoints.
struct ChainCheck<'k> {
    report: Verification,
    /// The stored hash of the row before (each row must name it).
    prev_hash: String,
    /// The chain's hash as its rows' contents make it, from the start: what a checkpoint signed.
    computed: String,
    expected_id: i64,
    /// Checkpoints not reached yet, by row.
    pending: std::collections::VecDeque<Checkpoint>,
    keys: Option<&'k [PublicKey]>,
}

impl<'k> ChainCheck<'k> {
    fn new(mut checkpoints: Vec<Checkpoint>, keys: Option<&'k [PublicKey]>) -> Self {
        checkpoints.sort_by_key(|c| c.audit_id);
        let mut report = Verification::default();
        report.checkpoints.total = checkpoints.len() as u64;
        report.checkpoints.signatures_checked = keys.is_some();
        Self {
            report,
            prev_hash: GENESIS.to_owned(),
            computed: GENESIS.to_owned(),
            expected_id: 1,
            pending: checkpoints.into(),
            keys,
        }
    }

    fn row(&mut self, e: &AuditEntry) {
        let expected_id = self.expected_id;
        let report = &mut self.report;
        report.rows += 1;
        if e.id != expected_id {
            report.problems.push(if e.id > expected_id {
                format!("rows {expected_id}..={} are missing (deleted)", e.id - 1)
            } else {
                format!("row {} is out of sequence", e.id)
            });
        }
        if e.prev_hash != self.prev_hash {
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
        self.prev_hash.clone_from(&e.hash);
        self.expected_id = e.id + 1;
        self.computed = row_hash(&self.computed, e);
        while let Some(c) = self.pending.pop_front_if(|c| c.audit_id <= e.id) {
            let failure = if c.audit_id < e.id {
                Some(format!(
                    "row {}, which it covers, is missing (deleted)",
                    c.audit_id
                ))
            } else if !self.signed(&c) {
                Some(
                    "its signature does not verify with the signing key's public key (forged or edited)"
                        .to_owned(),
                )
            } else if c.hash != self.computed {
                Some(format!(
                    "it no longer matches the chain: a row at or before row {} was rewritten after it was signed",
                    c.audit_id
                ))
            } else {
                None
            };
            self.checkpoint(&c, failure);
        }
    }

    fn signed(&self, c: &Checkpoint) -> bool {
        self.keys
            .is_none_or(|keys| keys.iter().any(|k| k.signed(c)))
    }

    /// Records one checkpoint's outcome: the first failure in full, the rest counted.
    fn checkpoint(&mut self, c: &Checkpoint, failure: Option<String>) {
        let cps = &mut self.report.checkpoints;
        match failure {
            None => {
                cps.verified += 1;
                cps.covered_to = c.audit_id;
                cps.uncovered = 0;
            }
            Some(why) => {
                cps.failed += 1;
                if cps.first_failed.is_none() {
                    cps.first_failed = Some(c.describe());
                    self.report
                        .problems
                        .push(format!("{} fails: {why}", c.describe()));
                }
            }
        }
    }

    fn finish(mut self, head_id: i64, head_hash: &str) -> Verification {
        let expected_id = self.expected_id;
        if head_id >= expected_id {
            self.report.problems.push(format!(
                "rows {expected_id}..={head_id} at the end are missing (deleted)"
            ));
        } else if head_id < expected_id - 1 {
            self.report.problems.push(format!(
                "rows {}..={} were written past the chain's head (not by the server)",
                head_id + 1,
                expected_id - 1
            ));
        } else if head_hash != self.prev_hash {
            self.report.problems.push(format!(
                "row {head_id}: is not the row the chain's head recorded (replaced)"
            ));
        }
        while let Some(c) = self.pending.pop_front() {
            let why = format!(
                "row {}, which it covers, is no longer there (rows deleted from the end)",
                c.audit_id
            );
            self.checkpoint(&c, Some(why));
        }
        let cps = &mut self.report.checkpoints;
        if cps.failed > 1 {
            let more = cps.failed - 1;
            let s = if more == 1 { "" } else { "s" };
            self.report
                .problems
                .push(format!("{more} later checkpoint{s} fail as well"));
        }
        self.report
    }

    /// Rows after the last checkpoint that holds: counted as rows arrive.
    fn count_uncovered(&mut self) {
        self.report.checkpoints.uncovered += 1;
    }
}

/// Walks the whole chain and reports every edited, deleted or reordered row, and every
/// checkpoint whose hash is not the chain's at its row (signatures unchecked: see
/// [`verify_with`]).
pub async fn verify(pool: &Db) -> Result<Verification, sqlx::Error> {
    verify_with(pool, None).await
}

/// [`verify`], and with `keys` every checkpoint's signature too: a checkpoint holds if one of
/// `keys` (the signing key's public key; more after a change of key) verifies it.
pub async fn verify_with(
    pool: &Db,
    keys: Option<&[PublicKey]>,
) -> Result<Verification, sqlx::Error> {
    let mut check = ChainCheck::new(crate::anchor::list(pool).await?, keys);
    let mut after = 0i64;
    loop {
        let batch = page(pool, after, 1000).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        for e in &batch {
            check.count_uncovered();
            check.row(e);
        }
    }
    let (head_id, head_hash): (i64, String) =
        sqlx::query_as("SELECT id, hash FROM audit_head WHERE one = 1")
            .fetch_one(pool)
            .await?;
    Ok(check.finish(head_id, &head_hash))
}

/// The format name in an export's first line.
pub const EXPORT_FORMAT: &str = "cipherdrop-audit-export/v1";

/// One line of an export (JSON lines): the header, then every checkpoint, the chain's head, and
/// every row up to it, oldest first.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExportLine {
    /// What the file is.
    Header {
        /// [`EXPORT_FORMAT`].
        format: String,
        /// When it was written (Unix milliseconds).
        exported_ms: i64,
        /// The signing key, as KMS named it, if known.
        key_arn: Option<String>,
        /// Its public key (PEM), if known: for reading only; a verifier brings its own copy.
        public_key: Option<String>,
    },
    /// A signed checkpoint.
    Checkpoint(Checkpoint),
    /// The `audit_head` row.
    Head {
        /// The last id given out.
        id: i64,
        /// That row's hash.
        hash: String,
    },
    /// An audit row.
    Row(AuditEntry),
}

/// Why an export was not written or read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The database refused or failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The file could not be written or read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A line is not what an export holds there.
    #[error("line {line}: {why}")]
    Malformed {
        /// 1-based.
        line: u64,
        /// What is wrong.
        why: String,
    },
}

/// What [`export`] wrote.
#[derive(Debug, Default)]
pub struct Exported {
    /// Rows.
    pub rows: u64,
    /// Checkpoints.
    pub checkpoints: u64,
}

/// Writes the chain as it stands (the head first read, and every row and checkpoint up to it) to
/// `out` as JSON lines (see [`ExportLine`]), with the signing key's ARN and public key if given.
pub async fn export(
    pool: &Db,
    out: &mut dyn std::io::Write,
    key: Option<(&str, &PublicKey)>,
) -> Result<Exported, ExportError> {
    let mut line = |l: &ExportLine| -> Result<(), ExportError> {
        serde_json::to_writer(&mut *out, l).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        Ok(())
    };
    let (head_id, head_hash): (i64, String) =
        sqlx::query_as("SELECT id, hash FROM audit_head WHERE one = 1")
            .fetch_one(pool)
            .await?;
    line(&ExportLine::Header {
        format: EXPORT_FORMAT.to_owned(),
        exported_ms: now_ms(),
        key_arn: key.map(|(arn, _)| arn.to_owned()),
        public_key: key.map(|(_, k)| k.to_pem()),
    })?;
    let mut done = Exported::default();
    for c in crate::anchor::list(pool).await? {
        if c.audit_id <= head_id {
            line(&ExportLine::Checkpoint(c))?;
            done.checkpoints += 1;
        }
    }
    line(&ExportLine::Head {
        id: head_id,
        hash: head_hash,
    })?;
    let mut after = 0i64;
    'pages: loop {
        let batch = page(pool, after, 1000).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        for e in batch {
            if e.id > head_id {
                // Appended since the head was read: the next export has them.
                break 'pages;
            }
            line(&ExportLine::Row(e))?;
            done.rows += 1;
        }
    }
    Ok(done)
}

/// Checks an [`export`] with nothing but the signing key's public key (`keys`: every key that
/// may have signed), as [`verify_with`] checks the database.
pub fn verify_export(
    input: impl std::io::BufRead,
    keys: &[PublicKey],
) -> Result<Verification, ExportError> {
    let mut checkpoints = Vec::new();
    let mut head: Option<(i64, String)> = None;
    let mut check: Option<ChainCheck<'_>> = None;
    let mut n = 0u64;
    for text in input.lines() {
        let text = text?;
        n += 1;
        if text.trim().is_empty() {
            continue;
        }
        let malformed = |why: String| ExportError::Malformed { line: n, why };
        let parsed: ExportLine =
            serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        match parsed {
            ExportLine::Header { format, .. } if n == 1 => {
                if format != EXPORT_FORMAT {
                    return Err(malformed(format!("format {format:?}, not {EXPORT_FORMAT}")));
                }
            }
            _ if n == 1 => return Err(malformed("not an audit export (no header)".into())),
            ExportLine::Header { .. } => return Err(malformed("a second header".into())),
            ExportLine::Checkpoint(c) if check.is_none() => checkpoints.push(c),
            ExportLine::Checkpoint(_) => {
                return Err(malformed("a checkpoint after the rows began".into()));
            }
            ExportLine::Head { .. } if head.is_some() => {
                return Err(malformed("a second head".into()));
            }
            ExportLine::Head { id, hash } => head = Some((id, hash)),
            ExportLine::Row(e) => {
                let c = check.get_or_insert_with(|| {
                    ChainCheck::new(std::mem::take(&mut checkpoints), Some(keys))
                });
                c.count_uncovered();
                c.row(&e);
            }
        }
    }
    if n == 0 {
        return Err(ExportError::Malformed {
            line: 0,
            why: "the file is empty".into(),
        });
    }
    let Some((head_id, head_hash)) = head else {
        return Err(ExportError::Malformed {
            line: n,
            why: "no head line: the export is cut short".into(),
        });
    };
    let check = check.unwrap_or_else(|| ChainCheck::new(checkpoints, Some(keys)));
    Ok(check.finish(head_id, &head_hash))
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
