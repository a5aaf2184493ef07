//! The last stage, put: each part PUT to S3 through its presigned URL, `parallel` at once, with
//! the shared policy of `cipherdrop_api::transfer` (URLs used while they have time left, network
//! failures, 5xx and 429 retried with backoff, an expired URL renewed, nothing spent while the
//! browser is offline); cancel aborts what is in flight. Every URL, fresh or renewed, comes
//! through the upload's [`Channel`], so a file request's sender renews through the sender's
//! route. Parts S3 already holds are only counted. What it did goes back to the page as
//! [`PutEvent`]s, through a closure the job hands in.

use std::rc::Rc;

use cipherdrop_api::CompletedPart;
use cipherdrop_api::transfer::{Failure, PART_ATTEMPTS, PartAttempts, Step, UrlCache};
use cipherdrop_core::PartLayout;
use futures::StreamExt as _;
use futures::future::LocalBoxFuture;
use futures::stream::FuturesUnordered;
use gloo_net::http::Request;
use js_sys::Uint8Array;
use web_sys::{AbortController, AbortSignal};

use super::endpoint::Channel;
use super::parts::{BufferPool, OnStored, Onward, Outgoing, Part, PartSink, blob_body};
use crate::browser::{is_online, now_ms, online_or_timeout, sleep};
use crate::error::{Cancel, TransferError};

/// What the put stage tells the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PutEvent {
    /// S3 stored (or already held) a part of this many bytes.
    Stored(u64),
    /// The browser went offline (`true`): the parts wait for the network; or came back.
    Offline(bool),
}

/// Where put events go.
pub(crate) type Events = Rc<dyn Fn(PutEvent)>;

/// A part S3 stored: what completing the upload needs, and its buffer to recycle.
struct Stored {
    completed: CompletedPart,
    buffer: Uint8Array,
}

/// The current Unix time in seconds (the server's `urls_expire_at` is in those).
fn unix_now() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// Ciphertext parts to S3 through presigned URLs: `parallel` at once, each retried by the shared
/// policy.
pub(crate) struct Put {
    channel: Channel,
    layout: PartLayout,
    urls: UrlCache,
    parallel: usize,
    in_flight: FuturesUnordered<LocalBoxFuture<'static, Result<Stored, TransferError>>>,
    done: Vec<CompletedPart>,
    abort: Option<AbortController>,
    events: Events,
    cancel: Cancel,
    pool: BufferPool,
}

impl Put {
    /// Sends the parts of the message `layout` describes through `channel`, starting with the
    /// URLs `first_urls` the server handed out (expiring at `expire_at`).
    pub(crate) fn new(
        channel: Channel,
        layout: PartLayout,
        first_urls: (Vec<cipherdrop_api::PartUrl>, i64),
        parallel: usize,
        events: Events,
        cancel: Cancel,
    ) -> Self {
        let mut urls = UrlCache::new();
        let (first, expire_at) = first_urls;
        urls.insert(first, expire_at, unix_now());
        Self {
            channel,
            layout,
            urls,
            parallel: parallel.max(1),
            in_flight: FuturesUnordered::new(),
            done: Vec::new(),
            abort: AbortController::new().ok(),
            events,
            cancel,
            pool: BufferPool::default(),
        }
    }

    /// Stops every request in flight.
    pub(crate) fn stop(&mut self) {
        if let Some(a) = &self.abort {
            a.abort();
        }
    }

    fn stored(&mut self, result: Result<Stored, TransferError>) -> Result<(), TransferError> {
        match result {
            Ok(Stored { completed, buffer }) => {
                self.done.push(completed);
                self.pool.recycle(&buffer);
                (self.events)(PutEvent::Stored(u64::from(buffer.length())));
                Ok(())
            }
            Err(e) => {
                self.stop();
                Err(e)
            }
        }
    }

    /// Part `n`'s URL, which signs its length `len`: kept from a batch while it has time left,
    /// else a new batch; a part whose length only the message decides (the end of a 0x0578
    /// message) asked for with its length.
    async fn url_for(&mut self, n: u32, len: u32) -> Result<String, TransferError> {
        if let Some(url) = self.urls.take(n, unix_now()) {
            return Ok(url);
        }
        // (The server unreachable here is an interruption to resume from, not a refusal.)
        if self.layout.certain_len(n).is_some() {
            let (first, count) = UrlCache::batch_for(n, self.layout.count());
            let status = self.channel.part_urls(first, count).await?;
            self.urls
                .insert(status.parts, status.urls_expire_at, unix_now());
            if let Some(url) = self.urls.take(n, unix_now()) {
                return Ok(url);
            }
        }
        Ok(self.channel.part_url(n, len).await?)
    }

    /// Waits for the parts in flight; every part's number and ETag, in order.
    pub(crate) async fn finish(mut self) -> Result<Vec<CompletedPart>, TransferError> {
        while let Some(r) = self.in_flight.next().await {
            self.stored(r)?;
        }
        let mut parts = self.done;
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }
}

impl Onward for Put {
    fn pool(&self) -> BufferPool {
        self.pool.clone()
    }

    async fn take(&mut self, out: Outgoing) -> Result<(), TransferError> {
        let Outgoing {
            part,
            held,
            on_stored,
        } = out;
        let (number, len) = (part.number, part.bytes.length());
        if !self.layout.possible_len(number, u64::from(len)) {
            return Err(TransferError::Format(format!(
                "part {number} of {} cannot have {len} bytes: not the message announced",
                self.layout.count()
            )));
        }
        if let Some(etag) = held {
            // S3 has it (checked against the file before it came here).
            let completed = CompletedPart {
                part_number: number,
                etag,
            };
            let buffer = part.bytes;
            return self.stored(Ok(Stored { completed, buffer }));
        }
        while self.in_flight.len() >= self.parallel {
            if let Some(r) = self.in_flight.next().await {
                self.stored(r)?;
            }
        }
        if self.cancel.is_cancelled() {
            self.stop();
            return Err(TransferError::Cancelled);
        }
        let url = self.url_for(number, len).await?;
        let sending = Sending {
            channel: self.channel.clone(),
            signal: self.abort.as_ref().map(AbortController::signal),
            cancel: self.cancel.clone(),
            events: self.events.clone(),
        };
        self.in_flight
            .push(Box::pin(sending.put_part(part, url, on_stored)));
        Ok(())
    }
}

impl PartSink for Put {
    fn pool(&self) -> BufferPool {
        self.pool.clone()
    }

    async fn put(&mut self, part: Part) -> Result<(), TransferError> {
        self.take(Outgoing::send(part)).await
    }
}

/// What one part's PUT needs while it is in flight.
struct Sending {
    channel: Channel,
    signal: Option<AbortSignal>,
    cancel: Cancel,
    events: Events,
}

/// How one attempt at a PUT ended, when S3 did not store the part.
enum Attempt {
    /// S3 answered with an error status (its XML `<Code>`, if any).
    Refused(u16, String),
    /// No answer (the connection failed or was aborted).
    Lost(String),
    /// The request could not be made at all.
    Broken(TransferError),
}

impl Sending {
    /// Waits while the browser is offline, however long that takes, showing it: an upload
    /// pauses rather than spending its attempts, and goes on by itself when the network is back
    /// (an expired part URL is renewed; the server keeps what was sent until the upload's
    /// `abandon_at`).
    async fn while_offline(&self) -> Result<(), TransferError> {
        if is_online() {
            return Ok(());
        }
        (self.events)(PutEvent::Offline(true));
        while !is_online() {
            if self.cancel.is_cancelled() {
                (self.events)(PutEvent::Offline(false));
                return Err(TransferError::Cancelled);
            }
            online_or_timeout(1000.0).await;
        }
        (self.events)(PutEvent::Offline(false));
        Ok(())
    }

    /// Waits `ms`, in short steps so that a cancel takes effect at once.
    async fn wait(&self, ms: u64) -> Result<(), TransferError> {
        let until = now_ms() + ms as f64;
        while now_ms() < until {
            if self.cancel.is_cancelled() {
                return Err(TransferError::Cancelled);
            }
            sleep(100.0).await;
        }
        Ok(())
    }

    /// One PUT of `bytes` to `url`: the ETag S3 answered.
    async fn attempt(&self, url: &str, bytes: &Uint8Array) -> Result<String, Attempt> {
        let body = blob_body(bytes).map_err(Attempt::Broken)?;
        let request = Request::put(url)
            .abort_signal(self.signal.as_ref())
            .body(body)
            .map_err(|e| Attempt::Broken(TransferError::Sink(e.to_string())))?;
        let resp = request
            .send()
            .await
            .map_err(|e| Attempt::Lost(e.to_string()))?;
        if resp.ok() {
            return Ok(resp.headers().get("etag").unwrap_or_default());
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        Err(Attempt::Refused(status, s3_error_code(&body)))
    }

    /// PUTs one part until S3 stores it, the policy gives up, or S3 refuses it; an expired URL
    /// is renewed through the upload's channel. Once stored, `on_stored` runs with its ETag.
    async fn put_part(
        self,
        part: Part,
        mut url: String,
        on_stored: Option<OnStored>,
    ) -> Result<Stored, TransferError> {
        let (number, len) = (part.number, part.bytes.length());
        let mut attempts = PartAttempts::new();
        loop {
            if self.cancel.is_cancelled() {
                return Err(TransferError::Cancelled);
            }
            self.while_offline().await?;
            let (failure, last) = match self.attempt(&url, &part.bytes).await {
                Ok(etag) if etag.is_empty() => {
                    return Err(TransferError::Sink(
                        "S3 accepted a part but sent no ETag (is ETag exposed by the bucket's \
                         CORS rule?)"
                            .into(),
                    ));
                }
                Ok(etag) => {
                    if let Some(then) = on_stored {
                        then(etag.clone()).await;
                    }
                    let completed = CompletedPart {
                        part_number: number,
                        etag,
                    };
                    let buffer = part.bytes;
                    return Ok(Stored { completed, buffer });
                }
                Err(Attempt::Broken(e)) => return Err(e),
                Err(Attempt::Refused(status, code)) => (
                    Failure::Status(status),
                    format!("S3 refused part {number}: {status} {code}"),
                ),
                Err(Attempt::Lost(e)) => {
                    if self.cancel.is_cancelled() {
                        return Err(TransferError::Cancelled);
                    }
                    // The network went away: wait for it (above) instead of counting this.
                    let failure = if is_online() {
                        Failure::Network
                    } else {
                        Failure::Offline
                    };
                    let last = format!("the connection to S3 failed for part {number}: {e}");
                    (failure, last)
                }
            };
            match attempts.failed(failure, js_sys::Math::random()) {
                Step::Retry { after_ms } => self.wait(after_ms).await?,
                // A URL can expire while a slow upload waits: a fresh one, from whichever route
                // carries this upload (a sender's upload renews through the sender's).
                Step::Renew => url = self.channel.part_url(number, len).await?,
                Step::GiveUp => {
                    return Err(TransferError::GaveUp(format!(
                        "{last} (gave up after {PART_ATTEMPTS} attempts)."
                    )));
                }
                Step::Fail => return Err(TransferError::Sink(last)),
            }
        }
    }
}

/// The `<Code>` of an S3 XML error body, if any.
fn s3_error_code(body: &str) -> String {
    body.split("<Code>")
        .nth(1)
        .and_then(|s| s.split("</Code>").next())
        .unwrap_or_default()
        .to_owned()
}
