//! The KMS's logs with every crate at TRACE hold no secret: a global subscriber that enables every
//! target at every level captures all events and spans of the process while the official
//! `aws-sdk-kms` runs GenerateDataKey, Encrypt, Decrypt and ReEncrypt against the service; the
//! capture of the service's own threads is searched for every plaintext, data key and blob (raw,
//! base64, hex, and as a printed byte array) and for the service's secret access key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_kms::primitives::Blob;
use cipherdrop_kms::Kms;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The name of the service runtime's threads; the capture of other threads is the client's.
const SERVICE_THREAD: &str = "kms-service";

/// Everything, at every level, as text: one line per event or span, prefixed by its thread.
#[derive(Clone, Default)]
struct Capture {
    service: Arc<Mutex<String>>,
    client: Arc<Mutex<String>>,
    next_id: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Capture {
    /// The buffer of the current thread's side, and the thread's name.
    fn sink(&self) -> (&Mutex<String>, String) {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        if name.starts_with(SERVICE_THREAD) {
            (&self.service, name)
        } else {
            (&self.client, name)
        }
    }

    fn line(&self, head: &str, record: impl FnOnce(&mut Fields<'_>)) {
        let (sink, thread) = self.sink();
        let mut line = format!("[{thread}] {head}:");
        record(&mut Fields(&mut line));
        line.push('\n');
        sink.lock().unwrap().push_str(&line);
    }
}

fn head(kind: &str, meta: &Metadata<'_>) -> String {
    format!("{kind} {} {}", meta.level(), meta.target())
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.line(&head("span", span.metadata()), |f| span.record(f));
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        self.line("record", |f| values.record(f));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        self.line(&head("event", event.metadata()), |f| event.record(f));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[test]
fn no_secret_reaches_the_logs_at_trace() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(capture.clone()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let service = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVICE_THREAD)
        .enable_all()
        .build()
        .unwrap();
    let kms = Arc::new(Kms::open(dir.path(), "us-east-1", "111122223333").unwrap());
    let listener = service
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = service.spawn(cipherdrop_kms::serve(listener, kms.clone(), async {
        stopped.await.ok();
    }));

    let creds = kms.credentials();
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = cipherdrop_testkit::kms_client(
        &format!("http://{addr}"),
        &creds.access_key_id,
        &creds.secret_access_key,
        false,
    );
    let mut secrets: Vec<Vec<u8>> = vec![creds.secret_access_key.as_bytes().to_vec()];
    client.block_on(async {
        let id = c
            .create_key()
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .key_id;
        let dk = c
            .generate_data_key()
            .key_id(&id)
            .number_of_bytes(32)
            .encryption_context("object", "o-1")
            .send()
            .await
            .unwrap();
        let data_key = dk.plaintext.unwrap().into_inner();
        let blob = dk.ciphertext_blob.unwrap().into_inner();
        let out = c
            .decrypt()
            .ciphertext_blob(Blob::new(blob.clone()))
            .encryption_context("object", "o-1")
            .send()
            .await
            .unwrap();
        assert_eq!(out.plaintext.unwrap().as_ref(), data_key.as_slice());
        // A refused Decrypt (wrong context) logs no more than a good one.
        assert!(
            c.decrypt()
                .ciphertext_blob(Blob::new(blob.clone()))
                .send()
                .await
                .is_err()
        );
        let plaintext = b"PLAINTEXT-MARKER the database password is hunter2".to_vec();
        let enc = c
            .encrypt()
            .key_id(&id)
            .plaintext(Blob::new(plaintext.clone()))
            .send()
            .await
            .unwrap();
        let enc_blob = enc.ciphertext_blob.unwrap().into_inner();
        let re = c
            .re_encrypt()
            .ciphertext_blob(Blob::new(enc_blob.clone()))
            .destination_key_id(&id)
            .send()
            .await
            .unwrap();
        let re_blob = re.ciphertext_blob.unwrap().into_inner();
        let out = c
            .decrypt()
            .ciphertext_blob(Blob::new(re_blob.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.plaintext.unwrap().as_ref(), plaintext.as_slice());
        let no_plaintext = c
            .generate_data_key_without_plaintext()
            .key_id(&id)
            .number_of_bytes(32)
            .send()
            .await
            .unwrap()
            .ciphertext_blob
            .unwrap()
            .into_inner();
        secrets.extend([data_key, blob, plaintext, enc_blob, re_blob, no_plaintext]);
    });
    stop.send(()).unwrap();
    service.block_on(server).unwrap().unwrap();
    drop(service);

    let service_log = capture.service.lock().unwrap().clone();
    let client_log = capture.client.lock().unwrap().clone();
    // The capture is real: the service's own threads logged at TRACE (the HTTP server, the SigV4
    // verification), and the client's too.
    assert!(
        service_log.contains(" TRACE ") && service_log.contains("aws_sigv4"),
        "{service_log}"
    );
    assert!(client_log.contains(" TRACE "), "{client_log}");
    for secret in &secrets {
        for form in cipherdrop_testkit::printed_forms(secret) {
            assert!(
                !service_log.contains(&form),
                "the service logged a secret ({form}):\n{service_log}"
            );
        }
    }
    // Nor, as it happens, the client's: the SDK redacts sensitive bodies unless told otherwise
    // (LOG_SENSITIVE_BODIES, LOG_SIGNABLE_BODY). Blobs are not sensitive to it.
    for secret in [&secrets[0], &secrets[1], &secrets[3]] {
        for form in cipherdrop_testkit::printed_forms(secret) {
            assert!(
                !client_log.contains(&form),
                "the client logged a secret ({form})"
            );
        }
    }
}
