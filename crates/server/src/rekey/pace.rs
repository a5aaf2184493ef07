//! Pacing KMS requests under a rate: a rotation of many files must leave room in the account's
//! shared KMS request quota for the uploads and downloads running meanwhile.

use std::time::Duration;

use tokio::time::Instant;

/// Spaces requests `1 / rate` seconds apart on average (a burst of one second's worth allowed
/// after a pause).
pub struct Pace {
    every: Duration,
    next: Instant,
}

impl Pace {
    /// At most `rate` requests per second (at least 1).
    pub fn new(rate: u32) -> Self {
        Self {
            every: Duration::from_secs(1) / rate.max(1),
            next: Instant::now(),
        }
    }

    /// Waits until `n` more requests fit under the rate.
    pub async fn take(&mut self, n: u32) {
        let now = Instant::now();
        let burst = self.every * 32;
        if self.next + burst < now {
            self.next = now - burst.min(Duration::from_secs(1));
        }
        tokio::time::sleep_until(self.next).await;
        self.next += self.every * n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_under_the_rate() {
        let mut pace = Pace::new(10);
        let start = Instant::now();
        for _ in 0..50 {
            pace.take(1).await;
        }
        // 50 requests at 10 per second: about 4.9 s of (virtual) time.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(4800), "{took:?}");
        assert!(took <= Duration::from_millis(5000), "{took:?}");
    }
}
