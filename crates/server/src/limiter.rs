//! Guess limits: failed-attempt counters per account (or share link) and per client network, and
//! the gate that bounds how many argon2 checks run at once.
//!
//! An attempt is counted **before** its password is checked, in the same critical section as the
//! check of the counters ([`Limiter::begin`]), so a burst of concurrent requests can never have
//! more checks than the limit; a success gives its count back. IPv6 clients are counted per /64
//! (one customer's whole allocation), IPv4 clients per address. Refusals while limited are
//! counted, not audited one by one: [`Limiter::take_refusals`] hands out the counts for one
//! summary row each.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// Most counters kept before expired ones are dropped.
const MAX_ENTRIES: usize = 100_000;

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

struct Counter {
    failures: u32,
    since: Instant,
    /// Attempts refused while limited, not yet summarised in the audit log.
    refused: u64,
}

/// Failed-attempt limits per subject (an account name, a share link) and per client network,
/// over a fixed window that starts at the first failure.
pub struct Limiter {
    per_subject: u32,
    per_network: u32,
    window: Duration,
    counters: Mutex<HashMap<String, Counter>>,
}

/// Why an attempt may not proceed.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The subject had too many failures in the window.
    Subject,
    /// The client's network had too many failures in the window.
    Network,
}

/// One counted attempt: already a failure unless [`Attempt::succeeded`] or [`Attempt::cancel`]
/// says otherwise, so dropping it (an error, a cancelled request) keeps it counted.
pub struct Attempt<'a> {
    limiter: &'a Limiter,
    subject: String,
    network: String,
}

impl Limiter {
    /// `per_subject` and `per_network` failures allowed per `window`.
    pub fn new(per_subject: u32, per_network: u32, window: Duration) -> Self {
        Self {
            per_subject,
            per_network,
            window,
            counters: Mutex::new(HashMap::new()),
        }
    }

    /// Checks both limits and counts the attempt as a failure, in one step.
    pub fn begin(&self, subject: &str, ip: IpAddr) -> Result<Attempt<'_>, Refused> {
        let subject = format!("s:{subject}");
        let network = network_key(ip);
        let Ok(mut map) = self.counters.lock() else {
            return Err(Refused::Network);
        };
        if map.len() > MAX_ENTRIES {
            map.retain(|_, c| c.since.elapsed() < self.window || c.refused > 0);
        }
        let window = self.window;
        let current = |map: &HashMap<String, Counter>, k: &str| {
            map.get(k)
                .filter(|c| c.since.elapsed() < window)
                .map_or(0, |c| c.failures)
        };
        let refused = if current(&map, &subject) >= self.per_subject {
            Some((Refused::Subject, subject.clone()))
        } else if current(&map, &network) >= self.per_network {
            Some((Refused::Network, network.clone()))
        } else {
            None
        };
        if let Some((why, key)) = refused {
            if let Some(c) = map.get_mut(&key) {
                c.refused += 1;
            }
            return Err(why);
        }
        for k in [&subject, &network] {
            let c = map.entry(k.clone()).or_insert(Counter {
                failures: 0,
                since: Instant::now(),
                refused: 0,
            });
            if c.since.elapsed() >= window {
                c.failures = 0;
                c.since = Instant::now();
            }
            c.failures += 1;
        }
        Ok(Attempt {
            limiter: self,
            subject,
            network,
        })
    }

    /// The refusals counted since the last call, per key, for one audit row each.
    pub fn take_refusals(&self) -> Vec<(String, u64)> {
        let Ok(mut map) = self.counters.lock() else {
            return Vec::new();
        };
        map.iter_mut()
            .filter(|(_, c)| c.refused > 0)
            .map(|(k, c)| (k.clone(), std::mem::take(&mut c.refused)))
            .collect()
    }

    fn uncount(&self, key: &str, forget: bool) {
        if let Ok(mut map) = self.counters.lock()
            && let Some(c) = map.get_mut(key)
        {
            if forget {
                c.failures = 0;
            } else {
                c.failures = c.failures.saturating_sub(1);
            }
        }
    }
}

impl Attempt<'_> {
    /// The password was right: the subject's failures are forgotten and this attempt no longer
    /// counts against the network.
    pub fn succeeded(self) {
        self.limiter.uncount(&self.subject, true);
        self.limiter.uncount(&self.network, false);
    }

    /// Nothing was checked (the server was too busy): the attempt does not count.
    pub fn cancel(self) {
        self.limiter.uncount(&self.subject, false);
        self.limiter.uncount(&self.network, false);
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

    #[test]
    fn attempts_count_before_the_check_and_successes_give_back() {
        let l = Limiter::new(3, 5, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        // Three attempts in flight at once use up the account: the fourth is refused before any
        // of them has finished.
        let held: Vec<Attempt<'_>> = (0..3).map(|_| l.begin("bob", ip).unwrap()).collect();
        assert_eq!(l.begin("bob", ip).err(), Some(Refused::Subject));
        drop(held);
        assert_eq!(l.begin("bob", ip).err(), Some(Refused::Subject));
        // The network: 3 of 5 used; a success gives its count back.
        l.begin("alice", ip).unwrap().succeeded();
        l.begin("carol", ip).unwrap().cancel();
        l.begin("dave", ip).unwrap();
        l.begin("erin", ip).unwrap();
        assert_eq!(l.begin("frank", ip).err(), Some(Refused::Network));
        let refusals = l.take_refusals();
        assert!(refusals.contains(&("s:bob".to_owned(), 2)), "{refusals:?}");
        assert!(refusals.contains(&("ip:192.0.2.1".to_owned(), 1)));
        assert!(
            l.take_refusals().is_empty(),
            "each refusal is summarised once"
        );
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
