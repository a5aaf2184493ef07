//! The client's side of the upload protocol, written once for the page and the CLI: which
//! presigned part URL to use ([`UrlCache`]), what to do after a failed attempt at a part's PUT
//! ([`PartAttempts`]) or at a call to the server ([`CallAttempts`]), how long to wait first
//! ([`backoff_ms`]), and which failures leave an upload worth resuming ([`worth_resuming`]).
//!
//! Pure: no I/O, no clock, no randomness. Callers pass the time (Unix seconds, the server's
//! clock as in `urls_expire_at`) and a jitter in `0.0..1.0`, so a native async client and the
//! page's wasm use it alike.

use std::collections::BTreeMap;

use crate::PartUrl;

/// Counted attempts at one part's PUT before giving up (the first and five retries).
pub const PART_ATTEMPTS: u32 = 6;
/// Attempts at a call to the server while it cannot be reached (completing an upload).
pub const CALL_ATTEMPTS: u32 = 6;
/// Part URLs asked for at a time.
pub const URL_BATCH: u32 = 64;
/// A URL is used only while more than this (seconds) is left of it, or half its lifetime if
/// that is shorter; else a fresh one is asked for.
pub const URL_MARGIN_SECS: i64 = 60;
/// The first retry's delay (milliseconds); each further retry waits twice as long.
pub const BACKOFF_BASE_MS: u64 = 500;
/// The longest delay between two attempts (milliseconds).
pub const BACKOFF_MAX_MS: u64 = 30_000;

/// How long to wait before retry number `retry` (1 for the first retry): 0.5 s, 1 s, 2 s, 4 s,
/// 8 s … up to [`BACKOFF_MAX_MS`], spread over ±25% by `jitter` (`0.0..1.0`; 0.5 is the
/// middle), so that clients that failed together do not come back together.
pub fn backoff_ms(retry: u32, jitter: f64) -> u64 {
    let doublings = retry.saturating_sub(1).min(16);
    let base = BACKOFF_BASE_MS
        .saturating_mul(1 << doublings)
        .min(BACKOFF_MAX_MS);
    let spread = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
    // At most 1.25 × 30,000: exact in an f64 and back.
    (base as f64 * spread).round() as u64
}

/// What one failed attempt met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No answer, while the client believes it is online (a connection refused or lost).
    Network,
    /// No answer, and the client knows it is offline: a part's PUT waits for the network
    /// instead of spending its attempts.
    Offline,
    /// An HTTP answer with this status.
    Status(u16),
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Try again, after this many milliseconds (0: at once; a client that is offline waits for
    /// the network first).
    Retry {
        /// The delay.
        after_ms: u64,
    },
    /// The URL is no longer good (S3 answered 403: a presigned URL that expired while the part
    /// waited): ask the server for a fresh one, through the same route as every other call of
    /// the upload, and try it at once.
    Renew,
    /// Stop: the service stayed away through every attempt. What was sent is worth keeping.
    GiveUp,
    /// Stop: a refusal that trying again cannot change.
    Fail,
}

/// Whether a status means the service is busy or failing, not refusing: 5xx and 429.
fn transient(status: u16) -> bool {
    status >= 500 || status == 429
}

/// One part's attempts at its PUT: network failures, 5xx and 429 are retried with backoff
/// ([`PART_ATTEMPTS`] counted in all), failures while offline are not counted, and a 403 renews
/// the URL once: a 403 from the URL just renewed is a refusal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartAttempts {
    counted: u32,
    renewed: bool,
}

impl PartAttempts {
    /// No attempt yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attempts counted so far.
    pub fn counted(&self) -> u32 {
        self.counted
    }

    /// What to do after an attempt that met `failure`; `jitter` in `0.0..1.0`.
    pub fn failed(&mut self, failure: Failure, jitter: f64) -> Step {
        let just_renewed = std::mem::take(&mut self.renewed);
        match failure {
            Failure::Offline => Step::Retry { after_ms: 0 },
            Failure::Status(403) if !just_renewed => {
                self.renewed = true;
                Step::Renew
            }
            Failure::Network => self.count(jitter),
            Failure::Status(s) if transient(s) => self.count(jitter),
            Failure::Status(_) => Step::Fail,
        }
    }

    fn count(&mut self, jitter: f64) -> Step {
        self.counted += 1;
        if self.counted >= PART_ATTEMPTS {
            Step::GiveUp
        } else {
            Step::Retry {
                after_ms: backoff_ms(self.counted, jitter),
            }
        }
    }
}

/// Attempts at a call to the server that must get through (completing an upload): retried with
/// backoff while the server cannot be reached (no answer, or a 502, 503 or 504 from what stands
/// in front of it), [`CALL_ATTEMPTS`] in all; any other answer is the server's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallAttempts {
    made: u32,
}

impl CallAttempts {
    /// No attempt yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an earlier attempt failed (so a refusal may be the answer to one that got
    /// through, with only its answer lost).
    pub fn retried(&self) -> bool {
        self.made > 0
    }

    /// What to do after an attempt that met `failure`; `jitter` in `0.0..1.0`.
    pub fn failed(&mut self, failure: Failure, jitter: f64) -> Step {
        match failure {
            Failure::Network | Failure::Offline | Failure::Status(502..=504) => {
                self.made += 1;
                if self.made >= CALL_ATTEMPTS {
                    Step::GiveUp
                } else {
                    Step::Retry {
                        after_ms: backoff_ms(self.made + 1, jitter),
                    }
                }
            }
            Failure::Status(_) => Step::Fail,
        }
    }
}

/// Whether an upload that stopped on `failure` is worth keeping to resume: the network or a
/// service stayed away (no answer, 5xx, 429), rather than a refusal.
pub fn worth_resuming(failure: Failure) -> bool {
    match failure {
        Failure::Network | Failure::Offline => true,
        Failure::Status(s) => transient(s),
    }
}

/// A part URL kept for later.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cached {
    url: String,
    /// The last second it is used at.
    usable_until: i64,
}

/// The last second a URL handed out at `issued_at` and expiring at `expires_at` is used at:
/// [`URL_MARGIN_SECS`] before it expires, or half its lifetime if that is shorter.
pub fn usable_until(expires_at: i64, issued_at: i64) -> i64 {
    let lifetime = expires_at.saturating_sub(issued_at).max(0);
    expires_at.saturating_sub(URL_MARGIN_SECS.min(lifetime / 2))
}

/// Presigned part URLs handed out by the server, each used once while it has time left.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UrlCache {
    urls: BTreeMap<u32, Cached>,
}

impl UrlCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `parts`, handed out at `now` and expiring at `expires_at` (replacing any older
    /// URL of the same parts).
    pub fn insert(&mut self, parts: impl IntoIterator<Item = PartUrl>, expires_at: i64, now: i64) {
        let usable_until = usable_until(expires_at, now);
        for p in parts {
            let cached = Cached {
                url: p.url,
                usable_until,
            };
            self.urls.insert(p.part_number, cached);
        }
    }

    /// Part `n`'s URL, taken out of the cache, if it is still to be used at `now`; else `None`
    /// (ask for a fresh one: [`UrlCache::batch_for`]).
    pub fn take(&mut self, n: u32, now: i64) -> Option<String> {
        let cached = self.urls.remove(&n)?;
        (now <= cached.usable_until).then_some(cached.url)
    }

    /// URLs kept.
    pub fn len(&self) -> usize {
        self.urls.len()
    }

    /// Whether no URL is kept.
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// What to ask for when part `n` of `count` has no URL: `(first, how many)`, part `n` and
    /// up to [`URL_BATCH`] in all after it.
    pub fn batch_for(n: u32, count: u32) -> (u32, u32) {
        let left = count.saturating_sub(n).saturating_add(1);
        (n, left.clamp(1, URL_BATCH))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn url(n: u32) -> PartUrl {
        PartUrl {
            part_number: n,
            url: format!("https://s3/part/{n}"),
        }
    }

    #[test]
    fn backoff_doubles_from_half_a_second_within_a_quarter_and_is_capped() {
        let middle: Vec<u64> = (1..=6).map(|r| backoff_ms(r, 0.5)).collect();
        assert_eq!(middle, [500, 1000, 2000, 4000, 8000, 16000]);
        assert_eq!(backoff_ms(3, 0.0), 1500);
        assert_eq!(backoff_ms(3, 1.0), 2500);
        assert_eq!(backoff_ms(3, 7.0), 2500, "jitter is clamped");
        assert_eq!(backoff_ms(40, 0.5), BACKOFF_MAX_MS);
        assert_eq!(backoff_ms(0, 0.5), 500);
    }

    #[test]
    fn a_part_retries_what_may_pass_and_gives_up_after_six() {
        let mut a = PartAttempts::new();
        for (i, failure) in [
            Failure::Network,
            Failure::Status(503),
            Failure::Status(429),
            Failure::Status(500),
            Failure::Network,
        ]
        .into_iter()
        .enumerate()
        {
            let expected = backoff_ms(i as u32 + 1, 0.5);
            assert_eq!(a.failed(failure, 0.5), Step::Retry { after_ms: expected });
        }
        assert_eq!(a.failed(Failure::Status(502), 0.5), Step::GiveUp);
        assert_eq!(a.counted(), PART_ATTEMPTS);
    }

    #[test]
    fn offline_costs_no_attempt() {
        let mut a = PartAttempts::new();
        for _ in 0..100 {
            assert_eq!(a.failed(Failure::Offline, 0.5), Step::Retry { after_ms: 0 });
        }
        assert_eq!(a.counted(), 0);
    }

    #[test]
    fn a_403_renews_the_url_once_and_a_fresh_url_refused_is_a_refusal() {
        let mut a = PartAttempts::new();
        assert_eq!(a.failed(Failure::Status(403), 0.5), Step::Renew);
        assert_eq!(a.failed(Failure::Status(403), 0.5), Step::Fail);
        // A 403 after other failures since the renewal: the renewed URL may have expired in turn.
        let mut a = PartAttempts::new();
        assert_eq!(a.failed(Failure::Status(403), 0.5), Step::Renew);
        assert!(matches!(
            a.failed(Failure::Network, 0.5),
            Step::Retry { .. }
        ));
        assert_eq!(a.failed(Failure::Status(403), 0.5), Step::Renew);
        assert_eq!(a.counted(), 1);
    }

    #[test]
    fn other_refusals_fail_at_once() {
        for status in [400, 401, 404, 409, 413] {
            assert_eq!(
                PartAttempts::new().failed(Failure::Status(status), 0.5),
                Step::Fail
            );
        }
    }

    #[test]
    fn a_call_is_retried_only_while_the_server_cannot_be_reached() {
        let mut c = CallAttempts::new();
        assert!(!c.retried());
        assert_eq!(
            c.failed(Failure::Network, 0.5),
            Step::Retry { after_ms: 1000 }
        );
        assert!(c.retried());
        assert!(matches!(
            c.failed(Failure::Status(503), 0.5),
            Step::Retry { .. }
        ));
        assert!(matches!(
            c.failed(Failure::Offline, 0.5),
            Step::Retry { .. }
        ));
        assert_eq!(c.failed(Failure::Status(409), 0.5), Step::Fail);
        assert_eq!(c.failed(Failure::Status(500), 0.5), Step::Fail);
        assert_eq!(c.failed(Failure::Status(429), 0.5), Step::Fail);
        assert!(matches!(
            c.failed(Failure::Network, 0.5),
            Step::Retry { .. }
        ));
        assert!(matches!(
            c.failed(Failure::Network, 0.5),
            Step::Retry { .. }
        ));
        assert_eq!(c.failed(Failure::Network, 0.5), Step::GiveUp);
    }

    #[test]
    fn only_a_service_that_stayed_away_is_worth_resuming() {
        assert!(worth_resuming(Failure::Network));
        assert!(worth_resuming(Failure::Offline));
        assert!(worth_resuming(Failure::Status(503)));
        assert!(worth_resuming(Failure::Status(429)));
        assert!(!worth_resuming(Failure::Status(403)));
        assert!(!worth_resuming(Failure::Status(400)));
    }

    #[test]
    fn urls_are_used_once_while_a_minute_or_half_their_life_is_left() {
        let mut cache = UrlCache::new();
        // Fifteen minutes: used until a minute before.
        cache.insert([url(1), url(2), url(3)], 1_000 + 900, 1_000);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.take(1, 1_000 + 840).unwrap(), "https://s3/part/1");
        assert_eq!(cache.take(1, 1_000), None, "each URL is taken once");
        assert_eq!(cache.take(2, 1_000 + 841), None);
        assert_eq!(cache.len(), 1);
        // Three seconds (a test server): used for the first half.
        let mut cache = UrlCache::new();
        cache.insert([url(7)], 2_003, 2_000);
        assert_eq!(usable_until(2_003, 2_000), 2_002);
        assert!(cache.clone().take(7, 2_002).is_some());
        assert!(cache.take(7, 2_003).is_none());
        // Already expired when handed out: never used.
        assert_eq!(usable_until(100, 200), 100);
        // A newer URL of the same part replaces the older.
        let mut cache = UrlCache::new();
        cache.insert([url(1)], 10, 0);
        cache.insert(
            [PartUrl {
                part_number: 1,
                url: "fresh".into(),
            }],
            1_000,
            500,
        );
        assert_eq!(cache.take(1, 600).unwrap(), "fresh");
        assert!(cache.is_empty());
    }

    #[test]
    fn a_batch_starts_at_the_part_and_stops_at_the_last() {
        assert_eq!(UrlCache::batch_for(1, 3), (1, 3));
        assert_eq!(UrlCache::batch_for(5, 1_000), (5, URL_BATCH));
        assert_eq!(UrlCache::batch_for(1_000, 1_000), (1_000, 1));
        assert_eq!(UrlCache::batch_for(7, 3), (7, 1), "never asks for none");
    }
}
