//! Checking the audit chain: every row's hash and link, the head, and the signed checkpoints
//! against the chain's hash at their rows (and against their locked copies in the checkpoint
//! bucket); exporting it as JSON lines and checking an export
//! with nothing but the signing key's public key.

use cipherdrop_api::AuditEntry;

use super::{GENESIS, page, row_hash};
use crate::anchor::{Checkpoint, PublicKey};
use crate::db::{Db, now_ms};

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
    /// Copies from the checkpoint bucket compared with the database's (`None`: not compared).
    pub copies: Option<u64>,
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

    /// The check of a chain that continues after `anchor` (a row already checked, in the export
    /// before), if given.
    fn continuing(mut self, anchor: Option<&Anchor>) -> Self {
        if let Some(a) = anchor {
            self.prev_hash.clone_from(&a.hash);
            self.computed.clone_from(&a.hash);
            self.expected_id = a.id + 1;
        }
        self
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
    walk(
        pool,
        ChainCheck::new(crate::anchor::list(pool).await?, keys),
    )
    .await
}

/// [`verify_with`], and the database's checkpoints against their locked copies in the checkpoint
/// bucket (`copies`, as [`crate::checkpoints::copies`] reads them): a copy the database no longer
/// has means its checkpoint was deleted (a writer who rewrote rows deletes the checkpoints that
/// cover them), and that copy is checked against the chain all the same; a copy that differs
/// from the database's checkpoint means one of them was edited.
pub async fn verify_against(
    pool: &Db,
    keys: Option<&[PublicKey]>,
    copies: Vec<Checkpoint>,
) -> Result<Verification, sqlx::Error> {
    let stored = crate::anchor::list(pool).await?;
    let copied = copies.len() as u64;
    let (checkpoints, problems) = reconcile(stored, copies);
    let mut check = ChainCheck::new(checkpoints, keys);
    check.report.problems = problems;
    check.report.checkpoints.copies = Some(copied);
    walk(pool, check).await
}

/// The database's checkpoints and the bucket's copies as one list, and what differs between
/// them, in words.
fn reconcile(stored: Vec<Checkpoint>, copies: Vec<Checkpoint>) -> (Vec<Checkpoint>, Vec<String>) {
    let mut problems = Vec::new();
    let mut all = stored;
    for copy in copies {
        match all.iter().find(|c| c.audit_id == copy.audit_id) {
            Some(c) if *c == copy => {}
            Some(c) => problems.push(format!(
                "{} differs from its locked copy in the checkpoint bucket (edited in the database)",
                c.describe()
            )),
            None => {
                problems.push(format!(
                    "{} is in the checkpoint bucket but no longer in the database (deleted)",
                    copy.describe()
                ));
                all.push(copy);
            }
        }
    }
    (all, problems)
}

/// Feeds the whole chain, oldest row first, and its head to `check`.
async fn walk(pool: &Db, mut check: ChainCheck<'_>) -> Result<Verification, sqlx::Error> {
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
        /// For an export of the rows after a given one (`audit export --since`): that row's id
        /// and stored hash, where this file's chain continues (the last row of the export
        /// before it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<Anchor>,
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

/// The row an export continues after.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Anchor {
    /// Its id.
    pub id: i64,
    /// Its stored hash: the first row of the file must name it.
    pub hash: String,
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
    /// `--since` names a row the audit log does not hold.
    #[error("row {0} is not in the audit log: nothing to continue after")]
    NoSuchRow(i64),
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
    /// The last row written (the next export continues after it), if any.
    pub last: Option<Anchor>,
}

/// Writes the chain as it stands (the head first read, and every row and checkpoint up to it) to
/// `out` as JSON lines (see [`ExportLine`]), with the signing key's ARN and public key if given;
/// with `since`, only the rows (and checkpoints) after that row, anchored to its hash, so that
/// exports made one after another check as one chain.
pub async fn export(
    pool: &Db,
    out: &mut (dyn std::io::Write + Send),
    key: Option<(&str, &PublicKey)>,
    since: Option<i64>,
) -> Result<Exported, ExportError> {
    export_batch(pool, out, key, since, None).await
}

/// [`export`] of at most `max_rows` rows: its head line names the last row it holds, so a batch
/// checks on its own ([`verify_export`]) and batches one after another check as one chain.
pub async fn export_batch(
    pool: &Db,
    out: &mut (dyn std::io::Write + Send),
    key: Option<(&str, &PublicKey)>,
    since: Option<i64>,
    max_rows: Option<u64>,
) -> Result<Exported, ExportError> {
    let anchor = match since {
        Some(id) if id > 0 => {
            let hash: Option<String> = sqlx::query_scalar("SELECT hash FROM audit WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            Some(Anchor {
                id,
                hash: hash.ok_or(ExportError::NoSuchRow(id))?,
            })
        }
        _ => None,
    };
    let after_id = anchor.as_ref().map_or(0, |a| a.id);
    let mut line = |l: &ExportLine| -> Result<(), ExportError> {
        serde_json::to_writer(&mut *out, l).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        Ok(())
    };
    let (mut head_id, mut head_hash): (i64, String) =
        sqlx::query_as("SELECT id, hash FROM audit_head WHERE one = 1")
            .fetch_one(pool)
            .await?;
    if let Some(n) = max_rows {
        let nth: Option<(i64, String)> = sqlx::query_as(
            "SELECT id, hash FROM audit WHERE id > $1 AND id <= $2 ORDER BY id LIMIT 1 OFFSET $3",
        )
        .bind(after_id)
        .bind(head_id)
        .bind(i64::try_from(n.max(1) - 1).unwrap_or(i64::MAX))
        .fetch_optional(pool)
        .await?;
        if let Some((id, hash)) = nth {
            (head_id, head_hash) = (id, hash);
        }
    }
    line(&ExportLine::Header {
        format: EXPORT_FORMAT.to_owned(),
        exported_ms: now_ms(),
        key_arn: key.map(|(arn, _)| arn.to_owned()),
        public_key: key.map(|(_, k)| k.to_pem()),
        since: anchor,
    })?;
    let mut done = Exported::default();
    for c in crate::anchor::list(pool).await? {
        if c.audit_id > after_id && c.audit_id <= head_id {
            line(&ExportLine::Checkpoint(c))?;
            done.checkpoints += 1;
        }
    }
    line(&ExportLine::Head {
        id: head_id,
        hash: head_hash.clone(),
    })?;
    let mut after = after_id;
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
    if done.rows > 0 {
        done.last = Some(Anchor {
            id: head_id,
            hash: head_hash,
        });
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
    let mut since: Option<Anchor> = None;
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
            ExportLine::Header {
                format, since: s, ..
            } if n == 1 => {
                if format != EXPORT_FORMAT {
                    return Err(malformed(format!("format {format:?}, not {EXPORT_FORMAT}")));
                }
                since = s;
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
                        .continuing(since.as_ref())
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
    let check = check
        .unwrap_or_else(|| ChainCheck::new(checkpoints, Some(keys)).continuing(since.as_ref()));
    Ok(check.finish(head_id, &head_hash))
}
