//! Guess limits: failed-attempt counters per account (or share link) and per client network, and
//! the gate that bounds how many argon2 checks run at once.
//!
//! An attempt is counted **before** its password is checked, in one step with the check of the
//! counters ([`Limiter::begin`]), so a burst of concurrent requests can never have more checks
//! than the limit, on one replica or many (the counters are database rows); a success gives its
//! count back. IPv6 clients are counted per /64
//! (one customer's whole allocation), IPv4 clients per address. Refusals while limited are
//! counted, not audited one by one: [`Limiter::take_refusals`] hands out the counts for one
//! summary row each.

use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use crate::db::{Db, now_ms};
use crate::error::ApiError;

/// Longest subject kept as it is in a counter's key; a longer one (a client's made-up account
/// name) is counted under its SHA-256, so a stored key never grows with what a client sends.
const MAX_SUBJECT: usize = 128;

/// The key a client address is counted under: the address for IPv4 (and IPv4-mapped IPv6), its
/// /64 network for IPv6.
pub fn network_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Failed-attempt limits per subject (an account name, a share link) and per client network,
/// over a fixed window that starts at the first failure. The counters are rows of the `limits`
/// table, so every replica on one database counts against the same limits.
pub struct Limiter {
    db: Db,
    /// Prefix of this limiter's keys (`login`, `share`).
    scope: &'static str,
    per_subject: u32,
    per_network: u32,
    window: Duration,
}

/// Why an attempt may not proceed.
#[derive(Debug)]
pub enum Refused {
    /// The subject had too many failures in the window.
    Subject,
    /// The client's network had too many failures in the window.
    Network,
    /// The counters could not be read or written.
    Database(sqlx::Error),
}

impl Refused {
    /// The answer: 429 with `limited` for a limit, the database's error otherwise.
    pub fn into_error(self, limited: &str) -> ApiError {
        match self {
            Self::Subject | Self::Network => ApiError::rate_limited(limited),
            Self::Database(e) => ApiError::database(&e),
        }
    }
}

/// One counted attempt: already a failure unless [`Attempt::succeeded`] or [`Attempt::cancel`]
/// says otherwise, so dropping it (an error, a cancelled request) keeps it counted.
#[must_use]
pub struct Attempt<'a> {
    limiter: &'a Limiter,
    subject: String,
    network: String,
}

impl Limiter {
    /// `per_subject` and `per_network` failures allowed per `window`, counted in `db` under
    /// keys starting with `scope`.
    pub fn new(
        db: Db,
        scope: &'static str,
        per_subject: u32,
        per_network: u32,
        window: Duration,
    ) -> Self {
        Self {
            db,
            scope,
            per_subject,
            per_network,
            window,
        }
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX)
    }

    /// Checks both limits and counts the attempt as a failure, in one transaction: each counter
    /// is one conditional upsert (counted only if under its limit, or its window is over), so
    /// concurrent attempts on any number of replicas can never pass a limit together.
    pub async fn begin(&self, subject: &str, ip: IpAddr) -> Result<Attempt<'_>, Refused> {
        let subject = if subject.len() > MAX_SUBJECT {
            format!("{}:s#{}", self.scope, hex::encode(Sha256::digest(subject)))
        } else {
            format!("{}:s:{subject}", self.scope)
        };
        let network = format!("{}:{}", self.scope, network_key(ip));
        let now = now_ms();
        let cutoff = now.saturating_sub(self.window_ms());
        let mut tx = self.db.begin().await.map_err(Refused::Database)?;
        let refused = if !count(&mut tx, &subject, self.per_subject, now, cutoff)
            .await
            .map_err(Refused::Database)?
        {
            Some((Refused::Subject, &subject))
        } else if !count(&mut tx, &network, self.per_network, now, cutoff)
            .await
            .map_err(Refused::Database)?
        {
            // The subject's count is given back with the rollback.
            tx.rollback().await.map_err(Refused::Database)?;
            tx = self.db.begin().await.map_err(Refused::Database)?;
            Some((Refused::Network, &network))
        } else {
            None
        };
        if let Some((_, key)) = &refused {
            sqlx::query("UPDATE limits SET refused = refused + 1 WHERE key = $1")
                .bind(*key)
                .execute(&mut *tx)
                .await
                .map_err(Refused::Database)?;
        }
        tx.commit().await.map_err(Refused::Database)?;
        match refused {
            Some((why, _)) => {
                crate::metrics::metrics().refused(self.scope);
                Err(why)
            }
            None => Ok(Attempt {
                limiter: self,
                subject,
                network,
            }),
        }
    }

    /// The refusals counted since the last call, per key (without the scope), for one audit row
    /// each. Run by one sweeper at a time; a refusal counted meanwhile is kept for the next call.
    pub async fn take_refusals(&self) -> Result<Vec<(String, u64)>, sqlx::Error> {
        let prefix = format!("{}:", self.scope);
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT key, refused FROM limits WHERE refused > 0 AND key LIKE $1")
                .bind(format!("{prefix}%"))
                .fetch_all(&self.db)
                .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (key, refused) in rows {
            sqlx::query("UPDATE limits SET refused = refused - $1 WHERE key = $2")
                .bind(refused)
                .bind(&key)
                .execute(&self.db)
                .await?;
            let short = key.strip_prefix(&prefix).unwrap_or(&key).to_owned();
            out.push((short, u64::try_from(refused).unwrap_or(0)));
        }
        Ok(out)
    }

    /// Drops this limiter's counters whose window is over and whose refusals were summarised.
    pub async fn purge(&self) -> Result<(), sqlx::Error> {
        // Scopes are plain words: no LIKE wildcard in the prefix.
        sqlx::query("DELETE FROM limits WHERE since_ms <= $1 AND refused = 0 AND key LIKE $2")
            .bind(now_ms().saturating_sub(self.window_ms()))
            .bind(format!("{}:%", self.scope))
            .execute(&self.db)
            .await?;
        Ok(())
    }

    async fn uncount(&self, key: &str, forget: bool) {
        let done = sqlx::query(
            "UPDATE limits SET failures = CASE WHEN $1 = 1 OR failures < 1 THEN 0
                                               ELSE failures - 1 END
             WHERE key = $2",
        )
        .bind(i64::from(forget))
        .bind(key)
        .execute(&self.db)
        .await;
        if let Err(e) = done {
            // The attempt stays counted: the safe side.
            tracing::warn!(error = %e, "could not give back a counted attempt");
        }
    }
}

/// Counts one failure under `key` unless it already has `limit` in a window that began after
/// `cutoff`; whether it did. One statement, so the check and the count are one step.
async fn count(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    key: &str,
    limit: u32,
    now: i64,
    cutoff: i64,
) -> Result<bool, sqlx::Error> {
    let n: Option<i64> = sqlx::query_scalar(
        "INSERT INTO limits (key, failures, since_ms, refused) VALUES ($1, 1, $2, 0)
         ON CONFLICT (key) DO UPDATE SET
            failures = CASE WHEN limits.since_ms <= $3 THEN 1 ELSE limits.failures + 1 END,
            since_ms = CASE WHEN limits.since_ms <= $3 THEN $2 ELSE limits.since_ms END
         WHERE limits.since_ms <= $3 OR limits.failures < $4
         RETURNING failures",
    )
    .bind(key)
    .bind(now)
    .bind(cutoff)
    .bind(i64::from(limit))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(n.is_some())
}

impl Attempt<'_> {
    /// The password was right: the subject's failures are forgotten and this attempt no longer
    /// counts against the network.
    pub async fn succeeded(self) {
        self.limiter.uncount(&self.subject, true).await;
        self.limiter.uncount(&self.network, false).await;
    }

    /// Nothing was checked (the server was too busy): the attempt does not count.
    pub async fn cancel(self) {
        self.limiter.uncount(&self.subject, false).await;
        self.limiter.uncount(&self.network, false).await;
    }
}

/// Work for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Bounds the argon2 checks running at once (each holds 19 MiB) and the requests waiting for
/// one; past that, requests are refused at once, so memory stays bounded whatever the load.
///
/// The checks run on the gate's own threads, one per place: the 19 MiB blocks are then reused by
/// the same few threads' allocators, where tokio's blocking pool (up to 512 threads, each with
/// its own malloc arena) left hundreds of MiB behind after a burst.
pub struct HashGate {
    jobs: std::sync::mpsc::Sender<Job>,
    running: Semaphore,
    max_waiting: usize,
    waiting: AtomicUsize,
    active: AtomicUsize,
    peak: AtomicUsize,
}

/// A place among the checks running now.
pub struct HashPermit<'a> {
    gate: &'a HashGate,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl HashGate {
    /// `running` checks at once, `max_waiting` more queued.
    pub fn new(running: usize, max_waiting: usize) -> Self {
        let running = running.max(1);
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = std::sync::Arc::new(Mutex::new(queue));
        for i in 0..running {
            let queue = queue.clone();
            // The threads end when the gate (the only sender) is dropped.
            let _ = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
        }
        Self {
            jobs,
            running: Semaphore::new(running),
            max_waiting,
            waiting: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Waits for a place, or `None` at once when the queue is full.
    pub async fn enter(&self) -> Option<HashPermit<'_>> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let permit = self.running.acquire().await.ok();
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let permit = permit?;
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Some(HashPermit {
            gate: self,
            _permit: permit,
        })
    }

    /// The most checks that ran at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// The checks running now, and those waiting for a place.
    pub fn load(&self) -> (usize, usize) {
        (
            self.active.load(Ordering::SeqCst),
            self.waiting.load(Ordering::SeqCst),
        )
    }
}

impl HashPermit<'_> {
    /// Runs `work` (an argon2 hash or check) on one of the gate's threads; `None` if the thread
    /// could not take it (the gate is shutting down).
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.gate.jobs.send(job).ok()?;
        result.await.ok()
    }
}

impl Drop for HashPermit<'_> {
    fn drop(&mut self) {
        self.gate.active.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_key(a), network_key(b));
        assert_ne!(network_key(a), network_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(network_key(mapped), "ip:192.0.2.7");
    }

    #[tokio::test]
    async fn attempts_count_before_the_check_and_successes_give_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(&dir.path().join("db.sqlite"))
            .await
            .unwrap();
        let l = Limiter::new(db.clone(), "login", 3, 5, Duration::from_secs(60));
        let other = Limiter::new(db, "share", 1, 1, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        // Three attempts in flight at once use up the account: the fourth is refused before any
        // of them has finished.
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(l.begin("bob", ip).await.unwrap());
        }
        assert!(matches!(l.begin("bob", ip).await, Err(Refused::Subject)));
        drop(held);
        assert!(matches!(l.begin("bob", ip).await, Err(Refused::Subject)));
        // The network: 3 of 5 used; a success gives its count back.
        l.begin("alice", ip).await.unwrap().succeeded().await;
        l.begin("carol", ip).await.unwrap().cancel().await;
        let _d = l.begin("dave", ip).await.unwrap();
        let _e = l.begin("erin", ip).await.unwrap();
        assert!(matches!(l.begin("frank", ip).await, Err(Refused::Network)));
        // Frank's refusal did not count against his name.
        let mut refusals = l.take_refusals().await.unwrap();
        refusals.sort();
        assert_eq!(
            refusals,
            vec![("ip:192.0.2.1".to_owned(), 1), ("s:bob".to_owned(), 2)]
        );
        assert!(
            l.take_refusals().await.unwrap().is_empty(),
            "each refusal is summarised once"
        );
        // Another limiter's counters are its own, and a long name is kept as its hash.
        let long = "x".repeat(10_000);
        let _kept = other.begin(&long, ip).await.unwrap();
        assert!(matches!(
            other.begin(&long, ip).await,
            Err(Refused::Subject)
        ));
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM limits")
            .fetch_all(&l.db)
            .await
            .unwrap();
        assert!(keys.iter().all(|k| k.len() <= 200), "{keys:?}");
    }

    #[tokio::test]
    async fn the_gate_bounds_running_and_waiting_checks() {
        let gate = std::sync::Arc::new(HashGate::new(2, 3));
        let a = gate.enter().await.unwrap();
        let _b = gate.enter().await.unwrap();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let g = gate.clone();
                tokio::spawn(async move { g.enter().await.is_some() })
            })
            .collect();
        while gate.waiting.load(Ordering::SeqCst) < 3 {
            tokio::task::yield_now().await;
        }
        assert!(gate.enter().await.is_none(), "the queue is full");
        drop(a);
        drop(_b);
        for w in waiters {
            assert!(w.await.unwrap());
        }
        assert_eq!(gate.peak(), 2);
    }
}
