//! Prometheus metrics (the `prometheus-client` crate writes the exposition format), one set per
//! process: requests by route template and status, their latency, KMS and S3 calls by operation
//! and outcome (counted by an interceptor on the SDK clients, so no call is missed), audit events
//! by action and outcome (key releases, refused guesses and every other audited act), guess-limit
//! refusals by limiter, sweeper runs; and, read when scraped, the argon2 gate's queue, pending
//! uploads and the database pool. Every label is a route template, an operation or action name
//! or an outcome, from the code: never an id, a name, a token or anything a client sent.
//!
//! Served on a listener of its own (`--metrics-listen`), off by default: never on the public one.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A request's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route template (`/api/objects/{id}`), or `other` (the web bundle, unknown paths).
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The answer's status code.
    pub status: u16,
}

/// A request's labels without its status (for the latency histogram).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template.
    pub route: String,
    /// The HTTP method.
    pub method: String,
}

/// A KMS or S3 call's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// `kms`, `s3`, `secretsmanager` or `ssm`.
    pub service: String,
    /// The operation (`GenerateDataKey`, `PutObject`, ...).
    pub operation: String,
    /// `ok` or `error`.
    pub outcome: &'static str,
}

/// An audit event's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// The action (`key.released`, `login`, ...).
    pub action: String,
    /// `ok`, `denied`, `error`, ...
    pub outcome: String,
}

/// A guess limiter's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimiterLabels {
    /// `login`, `share`, `sender`, `release`.
    pub limiter: String,
}

/// A sweeper run's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `ok` or `error`.
    pub outcome: &'static str,
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    /// Requests answered.
    pub requests: Family<RequestLabels, Counter>,
    /// Seconds from request to answer.
    pub latency: Family<RouteLabels, Histogram>,
    /// KMS, S3, Secrets Manager and SSM calls.
    pub aws_calls: Family<CallLabels, Counter>,
    /// Audit events recorded.
    pub audit_events: Family<EventLabels, Counter>,
    /// Attempts a guess limit refused.
    pub limit_refusals: Family<LimiterLabels, Counter>,
    /// Sweeper passes.
    pub sweeper_runs: Family<OutcomeLabels, Counter>,
    /// Password checks running (set when scraped).
    pub hashes_running: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Password checks waiting for a place (set when scraped).
    pub hashes_waiting: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Uploads started and not completed or aborted (set when scraped).
    pub pending_uploads: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Database connections open (set when scraped).
    pub db_connections: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Database connections idle (set when scraped).
    pub db_idle: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Rotation jobs queued or running (set when scraped).
    pub rekey_open: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Webhook deliveries waiting in the outbox.
    pub outbox_waiting: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// E-mails waiting in their outbox.
    pub mail_waiting: Gauge<i64, std::sync::atomic::AtomicI64>,
}

impl Metrics {
    fn new() -> Self {
        let m = Self {
            registry: Registry::with_prefix("cipherdrop"),
            requests: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 16))
            }),
            aws_calls: Family::default(),
            audit_events: Family::default(),
            limit_refusals: Family::default(),
            sweeper_runs: Family::default(),
            hashes_running: Gauge::default(),
            hashes_waiting: Gauge::default(),
            pending_uploads: Gauge::default(),
            db_connections: Gauge::default(),
            db_idle: Gauge::default(),
            rekey_open: Gauge::default(),
            outbox_waiting: Gauge::default(),
            mail_waiting: Gauge::default(),
        };
        // The registry holds clones: each metric's handle shares its value with the one here.
        let mut registry = m.registry;
        let r = &mut registry;
        r.register(
            "http_requests",
            "Requests answered, by route template, method and status",
            m.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Seconds from request to answer, by route template and method",
            m.latency.clone(),
        );
        r.register(
            "aws_calls",
            "Calls to KMS, S3, Secrets Manager and SSM, by operation and outcome",
            m.aws_calls.clone(),
        );
        r.register(
            "audit_events",
            "Audit events recorded, by action and outcome (key.released: data key releases)",
            m.audit_events.clone(),
        );
        r.register(
            "guess_limit_refusals",
            "Attempts a guess limit refused, by limiter",
            m.limit_refusals.clone(),
        );
        r.register(
            "sweeper_runs",
            "Sweeper passes, by outcome",
            m.sweeper_runs.clone(),
        );
        r.register(
            "password_checks_running",
            "Password checks (argon2) running now",
            m.hashes_running.clone(),
        );
        r.register(
            "password_checks_waiting",
            "Password checks waiting for a place",
            m.hashes_waiting.clone(),
        );
        r.register(
            "pending_uploads",
            "Uploads started and not yet completed or aborted",
            m.pending_uploads.clone(),
        );
        r.register(
            "database_connections",
            "Database connections this replica holds open",
            m.db_connections.clone(),
        );
        r.register(
            "database_connections_idle",
            "Database connections idle in the pool",
            m.db_idle.clone(),
        );
        r.register(
            "rekey_jobs_open",
            "Key rotation jobs queued or running",
            m.rekey_open.clone(),
        );
        r.register(
            "webhook_outbox_waiting",
            "Webhook deliveries waiting (neither delivered nor given up)",
            m.outbox_waiting.clone(),
        );
        r.register(
            "mail_outbox_waiting",
            "E-mail notifications waiting (neither sent nor given up)",
            m.mail_waiting.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts one answered request.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method: method.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts one audit event.
    pub fn audit_event(&self, action: &str, outcome: &str) {
        self.audit_events
            .get_or_create(&EventLabels {
                action: action.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts one refusal of a guess limiter.
    pub fn refused(&self, limiter: &str) {
        self.limit_refusals
            .get_or_create(&LimiterLabels {
                limiter: limiter.to_owned(),
            })
            .inc();
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::warn!("encoding the metrics failed");
        }
        out
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Counts every call a KMS or S3 client makes, by service, operation and outcome (an SDK
/// interceptor: it sees each call once, after its retries).
#[derive(Debug)]
pub struct CountCalls;

impl aws_sdk_s3::config::Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_after_execution(
        &self,
        context: &aws_sdk_s3::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _runtime_components: &aws_sdk_s3::config::RuntimeComponents,
        cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let meta = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>();
        let (service, operation) = meta.map_or(("unknown", "unknown"), |m| (m.service(), m.name()));
        let ok = matches!(context.output_or_error(), Some(Ok(_)));
        metrics()
            .aws_calls
            .get_or_create(&CallLabels {
                service: service.to_ascii_lowercase(),
                operation: operation.to_owned(),
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
        Ok(())
    }
}
