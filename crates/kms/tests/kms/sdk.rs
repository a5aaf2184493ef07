//! The official `aws-sdk-kms` client against the embedded KMS on 127.0.0.1:0: every operation,
//! every error, SigV4 enforcement, persistence across restarts, concurrency.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState};
use cipherdrop_kms::Kms;

pub(crate) struct Server {
    pub(crate) kms: Arc<Kms>,
    pub(crate) addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub(crate) async fn start(dir: &std::path::Path) -> Self {
        Self::run(Kms::open(dir, "us-east-1", "111122223333").unwrap()).await
    }

    async fn run(kms: Kms) -> Self {
        Self::serve(Arc::new(kms)).await
    }

    /// Serves a service that may be shared (linked with the services of other regions).
    pub(crate) async fn serve(kms: Arc<Kms>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let k = kms.clone();
        let task = tokio::spawn(async move {
            cipherdrop_kms::serve(listener, k, async {
                rx.await.ok();
            })
            .await
            .unwrap();
        });
        Server {
            kms,
            addr,
            stop: Some(tx),
            task,
        }
    }

    fn client_with(&self, ak: &str, sk: &str) -> Client {
        cipherdrop_testkit::kms_client(&format!("http://{}", self.addr), ak, sk, false)
    }

    pub(crate) fn client(&self) -> Client {
        let c = self.kms.credentials();
        self.client_with(&c.access_key_id, &c.secret_access_key)
    }

    pub(crate) async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap();
    }
}

fn code<E: ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("<none>").to_owned()
}

/// The AWS error code of a call that must fail.
fn err_code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    r: Result<T, aws_sdk_kms::error::SdkError<E, R>>,
) -> String {
    code(r.unwrap_err().as_service_error().expect("a service error"))
}

/// Points `name` at key `id`.
async fn alias(c: &Client, name: &str, id: &str) {
    c.create_alias()
        .alias_name(name)
        .target_key_id(id)
        .send()
        .await
        .unwrap();
}

async fn new_key(c: &Client) -> (String, String) {
    let m = c
        .create_key()
        .description("test key")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    (m.key_id, m.arn.unwrap())
}

#[tokio::test]
async fn keys_aliases_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let c = s.client();
    let created = c
        .create_key()
        .description("documents")
        .tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key("team")
                .tag_value("a")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let id = created.key_id.clone();
    let arn = created.arn.clone().unwrap();
    assert_eq!(arn, format!("arn:aws:kms:us-east-1:111122223333:key/{id}"));
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert_eq!(created.key_state, Some(KeyState::Enabled));
    assert_eq!(created.description.as_deref(), Some("documents"));

    alias(&c, "alias/docs", &id).await;
    assert_eq!(
        err_code(
            c.create_alias()
                .alias_name("alias/docs")
                .target_key_id(&id)
                .send()
                .await
        ),
        "AlreadyExistsException"
    );
    assert_eq!(
        err_code(
            c.create_alias()
                .alias_name("docs")
                .target_key_id(&id)
                .send()
                .await
        ),
        "ValidationException"
    );
    assert_eq!(
        err_code(
            c.create_alias()
                .alias_name("alias/aws/s3")
                .target_key_id(&id)
                .send()
                .await
        ),
        "ValidationException"
    );

    // KeyId as id, ARN, alias name, alias ARN.
    let alias_arn = "arn:aws:kms:us-east-1:111122223333:alias/docs";
    for key_id in [id.as_str(), arn.as_str(), "alias/docs", alias_arn] {
        let m = c
            .describe_key()
            .key_id(key_id)
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap();
        assert_eq!(m.key_id, id, "{key_id}");
    }
    assert_eq!(
        err_code(c.describe_key().key_id("alias/nope").send().await),
        "NotFoundException"
    );
    assert_eq!(
        err_code(
            c.describe_key()
                .key_id(uuid::Uuid::new_v4().to_string())
                .send()
                .await
        ),
        "NotFoundException"
    );
    assert_eq!(
        err_code(
            c.describe_key()
                .key_id(format!("arn:aws:kms:us-east-1:999999999999:key/{id}"))
                .send()
                .await
        ),
        "AccessDeniedException"
    );

    let (id2, _) = new_key(&c).await;
    c.update_alias()
        .alias_name("alias/docs")
        .target_key_id(&id2)
        .send()
        .await
        .unwrap();
    let m = c
        .describe_key()
        .key_id("alias/docs")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(m.key_id, id2);
    let aliases = c.list_aliases().send().await.unwrap().aliases.unwrap();
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0].target_key_id.as_deref(), Some(id2.as_str()));
    let filtered = c
        .list_aliases()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .aliases
        .unwrap();
    assert!(filtered.is_empty());
    c.delete_alias()
        .alias_name("alias/docs")
        .send()
        .await
        .unwrap();
    assert_eq!(
        err_code(c.delete_alias().alias_name("alias/docs").send().await),
        "NotFoundException"
    );

    // Paging through ListKeys.
    for _ in 0..3 {
        new_key(&c).await;
    }
    let first = c.list_keys().limit(2).send().await.unwrap();
    assert!(first.truncated);
    let rest = c
        .list_keys()
        .limit(100)
        .marker(first.next_marker.unwrap())
        .send()
        .await
        .unwrap();
    assert!(!rest.truncated);
    assert_eq!(first.keys.unwrap().len() + rest.keys.unwrap().len(), 5);
    assert_eq!(
        err_code(c.list_keys().limit(0).send().await),
        "ValidationException"
    );
    s.stop().await;
}

#[tokio::test]
async fn data_keys_encrypt_decrypt_and_context_binding() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let c = s.client();
    let (id, arn) = new_key(&c).await;
    alias(&c, "alias/cipherdrop", &id).await;

    let dk = c
        .generate_data_key()
        .key_id("alias/cipherdrop")
        .number_of_bytes(32)
        .encryption_context("object", "o-1")
        .encryption_context("owner", "u-7")
        .send()
        .await
        .unwrap();
    assert_eq!(dk.key_id.as_deref(), Some(arn.as_str()));
    let plaintext = dk.plaintext.unwrap().into_inner();
    assert_eq!(plaintext.len(), 32);
    let blob = dk.ciphertext_blob.unwrap();

    // Same context in any order: decrypts. KeyId optional; if given, it must match.
    let out = c
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("owner", "u-7")
        .encryption_context("object", "o-1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.plaintext.unwrap().into_inner(), plaintext);
    assert_eq!(out.key_id.as_deref(), Some(arn.as_str()));
    c.decrypt()
        .ciphertext_blob(blob.clone())
        .key_id("alias/cipherdrop")
        .encryption_context("owner", "u-7")
        .encryption_context("object", "o-1")
        .send()
        .await
        .unwrap();
    let (other, _) = new_key(&c).await;
    assert_eq!(
        err_code(
            c.decrypt()
                .ciphertext_blob(blob.clone())
                .key_id(&other)
                .encryption_context("owner", "u-7")
                .encryption_context("object", "o-1")
                .send()
                .await
        ),
        "IncorrectKeyException"
    );

    // Context mismatches: missing pair, changed case, extra pair, none.
    for ctx in [
        vec![("object", "o-1")],
        vec![("object", "O-1"), ("owner", "u-7")],
        vec![("object", "o-1"), ("owner", "u-7"), ("x", "y")],
        vec![],
    ] {
        let mut req = c.decrypt().ciphertext_blob(blob.clone());
        for (k, v) in &ctx {
            req = req.encryption_context(*k, *v);
        }
        let e = req.send().await.unwrap_err();
        assert_eq!(
            code(e.as_service_error().unwrap()),
            "InvalidCiphertextException",
            "{ctx:?}"
        );
    }
    // Tampered blobs: every byte.
    let raw = blob.clone().into_inner();
    for i in 0..raw.len() {
        let mut b = raw.clone();
        b[i] ^= 0x01;
        let e = c
            .decrypt()
            .ciphertext_blob(Blob::new(b))
            .encryption_context("owner", "u-7")
            .encryption_context("object", "o-1")
            .send()
            .await
            .unwrap_err();
        let got = code(e.as_service_error().unwrap());
        assert_eq!(got, "InvalidCiphertextException", "byte {i}");
    }

    // KeySpec and validation.
    let k128 = c
        .generate_data_key()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes128)
        .send()
        .await
        .unwrap();
    assert_eq!(k128.plaintext.unwrap().into_inner().len(), 16);
    assert_eq!(
        err_code(c.generate_data_key().key_id(&id).send().await),
        "ValidationException"
    );
    assert_eq!(
        err_code(
            c.generate_data_key()
                .key_id(&id)
                .number_of_bytes(2000)
                .send()
                .await
        ),
        "ValidationException"
    );
    let nopt = c
        .generate_data_key_without_plaintext()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert!(nopt.ciphertext_blob.is_some());

    // Encrypt / Decrypt / ReEncrypt.
    let enc = c
        .encrypt()
        .key_id(&arn)
        .plaintext(Blob::new(b"db password"))
        .encryption_context("a", "b")
        .send()
        .await
        .unwrap();
    assert_eq!(
        err_code(
            c.encrypt()
                .key_id(&arn)
                .plaintext(Blob::new(vec![0u8; 4097]))
                .send()
                .await
        ),
        "ValidationException"
    );
    let re = c
        .re_encrypt()
        .ciphertext_blob(enc.ciphertext_blob.unwrap())
        .source_encryption_context("a", "b")
        .destination_key_id(&other)
        .destination_encryption_context("c", "d")
        .send()
        .await
        .unwrap();
    assert_eq!(re.source_key_id.as_deref(), Some(arn.as_str()));
    let dec = c
        .decrypt()
        .ciphertext_blob(re.ciphertext_blob.unwrap())
        .encryption_context("c", "d")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext.unwrap().into_inner(), b"db password");
    s.stop().await;
}

#[tokio::test]
async fn key_states_deletion_window_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let c = s.client();
    let (id, _) = new_key(&c).await;
    let dk = c
        .generate_data_key()
        .key_id(&id)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    let blob = dk.ciphertext_blob.unwrap();

    c.disable_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        err_code(
            c.generate_data_key()
                .key_id(&id)
                .number_of_bytes(32)
                .send()
                .await
        ),
        "DisabledException"
    );
    assert_eq!(
        err_code(c.decrypt().ciphertext_blob(blob.clone()).send().await),
        "DisabledException"
    );
    c.enable_key().key_id(&id).send().await.unwrap();
    c.decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap();

    // Deletion window: 7..=30 days, default 30; cancel returns the key Disabled.
    assert_eq!(
        err_code(
            c.schedule_key_deletion()
                .key_id(&id)
                .pending_window_in_days(6)
                .send()
                .await
        ),
        "ValidationException"
    );
    let sched = c.schedule_key_deletion().key_id(&id).send().await.unwrap();
    assert_eq!(sched.pending_window_in_days, Some(30));
    assert_eq!(sched.key_state, Some(KeyState::PendingDeletion));
    assert_eq!(
        err_code(c.decrypt().ciphertext_blob(blob.clone()).send().await),
        "KMSInvalidStateException"
    );
    assert_eq!(
        err_code(c.enable_key().key_id(&id).send().await),
        "KMSInvalidStateException"
    );
    c.cancel_key_deletion().key_id(&id).send().await.unwrap();
    let m = c
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(m.key_state, Some(KeyState::Disabled));
    c.enable_key().key_id(&id).send().await.unwrap();

    // Rotation on demand: new material; old ciphertexts still decrypt; new ones use the newest.
    c.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    c.decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap();
    let rotations = c
        .list_key_rotations()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .rotations
        .unwrap();
    assert_eq!(rotations.len(), 1);
    let newer = c
        .generate_data_key()
        .key_id(&id)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    assert_ne!(
        newer.as_ref()[17..21],
        blob.as_ref()[17..21],
        "material version in the blob"
    );

    // Automatic rotation schedule.
    assert_eq!(
        err_code(
            c.enable_key_rotation()
                .key_id(&id)
                .rotation_period_in_days(30)
                .send()
                .await
        ),
        "ValidationException"
    );
    c.enable_key_rotation()
        .key_id(&id)
        .rotation_period_in_days(90)
        .send()
        .await
        .unwrap();
    let st = c
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(st.key_rotation_enabled);
    assert_eq!(st.rotation_period_in_days, Some(90));
    s.kms.advance_clock(91 * 86_400);
    let rotations = c
        .list_key_rotations()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .rotations
        .unwrap();
    assert_eq!(rotations.len(), 2);
    c.disable_key_rotation().key_id(&id).send().await.unwrap();
    assert!(
        !c.get_key_rotation_status()
            .key_id(&id)
            .send()
            .await
            .unwrap()
            .key_rotation_enabled
    );
    c.decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap();
    c.decrypt().ciphertext_blob(newer).send().await.unwrap();

    // After the window the key is gone, with its aliases.
    alias(&c, "alias/doomed", &id).await;
    c.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    s.kms.advance_clock(8 * 86_400);
    assert_eq!(
        err_code(c.describe_key().key_id(&id).send().await),
        "NotFoundException"
    );
    assert!(
        c.list_aliases()
            .send()
            .await
            .unwrap()
            .aliases
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        err_code(c.decrypt().ciphertext_blob(blob).send().await),
        "InvalidCiphertextException"
    );
    s.stop().await;
}

#[tokio::test]
async fn sigv4_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let ak = s.kms.credentials().access_key_id.clone();
    let wrong_secret = s.client_with(&ak, "wrong-secret-wrong-secret-wrong-secret00");
    assert_eq!(
        err_code(wrong_secret.list_keys().send().await),
        "InvalidSignatureException"
    );
    let unknown = s.client_with("AKIAUNKNOWNUNKNOWN00", "x");
    assert_eq!(
        err_code(unknown.list_keys().send().await),
        "UnrecognizedClientException"
    );

    // Raw HTTP: unsigned, unknown operation (signed), stale.
    let (status, body) = unsigned_post(s.addr, "TrentService.ListKeys", "{}").await;
    assert_eq!(status, 400);
    assert!(body.contains("MissingAuthenticationToken"), "{body}");

    // Correctly signed, but 16 minutes old or ahead: refused; 14 minutes: accepted.
    let creds = s.kms.credentials();
    let (sak, ssk) = (
        creds.access_key_id.as_str(),
        creds.secret_access_key.as_str(),
    );
    let now = std::time::SystemTime::now();
    let min = Duration::from_secs(60);
    for (when, ok) in [
        (now - 16 * min, false),
        (now + 16 * min, false),
        (now - 14 * min, true),
    ] {
        let (status, text) =
            signed_post(s.addr, sak, ssk, "TrentService.ListKeys", "{}", when).await;
        assert_eq!(status == 200, ok, "{text}");
        if !ok {
            assert!(
                text.contains("InvalidSignatureException") && text.contains("expired"),
                "{text}"
            );
        }
    }

    // The audit log has every call, with the caller's access key and never a data key.
    let c = s.client();
    let (id, _) = new_key(&c).await;
    let dk = c
        .generate_data_key()
        .key_id(&id)
        .number_of_bytes(32)
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap();
    let log = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    let b64 = base64_of(dk.plaintext.unwrap().as_ref());
    assert!(!log.contains(&b64));
    assert!(!log.contains(&base64_of(dk.ciphertext_blob.unwrap().as_ref())));
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["eventName"], "GenerateDataKey");
    assert_eq!(last["accessKeyId"], ak.as_str());
    assert_eq!(last["encryptionContext"]["k"], "v");
    assert_eq!(last["outcome"], "Success");
    assert!(log.lines().any(|l| l.contains("InvalidSignatureException")));
    s.stop().await;
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A minimal unsigned HTTP/1.1 POST over a raw socket.
async fn unsigned_post(addr: std::net::SocketAddr, target: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    (out.split_whitespace().nth(1).unwrap().parse().unwrap(), out)
}

#[tokio::test]
async fn unknown_operation_and_bad_json() {
    // Signed requests through the SDK's machinery are only for real operations, so sign by hand.
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let creds = s.kms.credentials();
    for (target, body, expect) in [
        (
            "TrentService.FlyToTheMoon",
            "{}",
            "UnknownOperationException",
        ),
        (
            "TrentService.ListKeys",
            "not json",
            "SerializationException",
        ),
        (
            "TrentService.DescribeKey",
            "{\"KeyId\": 5}",
            "SerializationException",
        ),
    ] {
        let (status, text) = signed_post(
            s.addr,
            &creds.access_key_id,
            &creds.secret_access_key,
            target,
            body,
            std::time::SystemTime::now(),
        )
        .await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains(expect), "{target}: {text}");
    }
    s.stop().await;
}

async fn signed_post(
    addr: std::net::SocketAddr,
    ak: &str,
    sk: &str,
    target: &str,
    body: &str,
    time: std::time::SystemTime,
) -> (u16, String) {
    let signed = [("x-amz-target", target), CONTENT_TYPE];
    let signing = Signing {
        time,
        ..Signing::kms(&signed)
    };
    signed_raw(
        addr,
        ak,
        sk,
        &signing,
        &[("X-Amz-Target", target), CONTENT_TYPE],
        body,
    )
    .await
}

const CONTENT_TYPE: (&str, &str) = ("content-type", "application/x-amz-json-1.1");

/// How `signed_raw` signs: the scope, the time, and the headers signed besides `host` (which
/// `aws-sigv4` takes from the URI) and `x-amz-date` (which it adds).
struct Signing<'a> {
    region: &'a str,
    service: &'a str,
    signed: &'a [(&'a str, &'a str)],
    time: std::time::SystemTime,
}

impl<'a> Signing<'a> {
    /// Now, for kms in us-east-1, over `signed`.
    fn kms(signed: &'a [(&'a str, &'a str)]) -> Self {
        Signing {
            region: "us-east-1",
            service: "kms",
            signed,
            time: std::time::SystemTime::now(),
        }
    }
}

/// A POST signed by `aws-sigv4` as `signing` says, sent with `headers` (which may differ from
/// what was signed: a captured request replayed with other headers).
async fn signed_raw(
    addr: std::net::SocketAddr,
    ak: &str,
    sk: &str,
    signing: &Signing<'_>,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let host = addr.to_string();
    let identity = aws_credential_types::Credentials::new(ak, sk, None, None, "t").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(signing.region)
        .name(signing.service)
        .time(signing.time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut to_sign = vec![("host", host.as_str())];
    to_sign.extend_from_slice(signing.signed);
    let req = SignableRequest::new(
        "POST",
        format!("http://{host}/"),
        to_sign.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instr, _) = sign(req, &params).unwrap().into_parts();
    let (signed_headers, _) = instr.into_parts();
    let signed_headers: Vec<(String, String)> = signed_headers
        .iter()
        .map(|h| (h.name().to_owned(), h.value().to_owned()))
        .collect();
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    all.extend(signed_headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    raw_post(addr, &all, body).await
}

/// A POST over a raw socket with exactly these headers (and Host, Content-Length).
async fn raw_post(
    addr: std::net::SocketAddr,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut text = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(text.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    (out.split_whitespace().nth(1).unwrap().parse().unwrap(), out)
}

#[tokio::test]
async fn restart_keeps_every_key_and_concurrency_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let c = s.client();
    let (id, _) = new_key(&c).await;
    alias(&c, "alias/keep", &id).await;
    c.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    let blob = c
        .generate_data_key()
        .key_id(&id)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();

    // Hundreds of parallel GenerateDataKey + Decrypt calls.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300 {
        let c = c.clone();
        let id = id.clone();
        tasks.spawn(async move {
            let ctx = format!("o-{i}");
            let dk = c
                .generate_data_key()
                .key_id(&id)
                .number_of_bytes(32)
                .encryption_context("object", &ctx)
                .send()
                .await?;
            let out = c
                .decrypt()
                .ciphertext_blob(dk.ciphertext_blob.unwrap())
                .encryption_context("object", &ctx)
                .send()
                .await?;
            assert_eq!(out.plaintext, dk.plaintext);
            Ok::<_, aws_sdk_kms::Error>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    let creds = (
        s.kms.credentials().access_key_id.clone(),
        s.kms.credentials().secret_access_key.clone(),
    );
    s.stop().await;

    // Same folder, new process state: same credentials, keys, aliases, rotations.
    let s = Server::start(dir.path()).await;
    assert_eq!(s.kms.credentials().access_key_id, creds.0);
    let c = s.client();
    c.decrypt().ciphertext_blob(blob).send().await.unwrap();
    let m = c
        .describe_key()
        .key_id("alias/keep")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(m.key_id, id);
    assert_eq!(
        c.list_key_rotations()
            .key_id(&id)
            .send()
            .await
            .unwrap()
            .rotations
            .unwrap()
            .len(),
        1
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for f in ["credentials.json", "aliases.json", "audit.log"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f} is readable by others");
        }
        let key_file = dir.path().join("keys").join(format!("{id}.json"));
        assert_eq!(
            std::fs::metadata(key_file).unwrap().permissions().mode() & 0o077,
            0
        );
    }
    s.stop().await;
}

/// The attack: a request captured while signed without `X-Amz-Target` (here a ListKeys, body
/// `{}`), replayed within the clock-skew window as another operation that takes the same body
/// (CreateKey). It is refused, and nothing is made; signed over all three headers it is accepted,
/// and then no other target can be put on it.
#[tokio::test]
async fn a_request_must_sign_host_date_and_target() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let creds = s.kms.credentials();
    let (ak, sk) = (
        creds.access_key_id.as_str(),
        creds.secret_access_key.as_str(),
    );
    let (list, create) = ("TrentService.ListKeys", "TrentService.CreateKey");

    let without_target = Signing::kms(&[CONTENT_TYPE]);
    for target in [list, create] {
        let (status, text) = signed_raw(
            s.addr,
            ak,
            sk,
            &without_target,
            &[("X-Amz-Target", target), CONTENT_TYPE],
            "{}",
        )
        .await;
        assert_eq!(status, 400, "{text}");
        assert!(
            text.contains("InvalidSignatureException")
                && text
                    .contains("'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."),
            "{text}"
        );
    }
    let c = s.client();
    let keys = c.list_keys().send().await.unwrap().keys.unwrap();
    assert!(keys.is_empty(), "the replay made a key: {keys:?}");

    // Signed over host, x-amz-date and x-amz-target: accepted as itself, refused as another.
    let signed = [("x-amz-target", list), CONTENT_TYPE];
    let with_target = Signing::kms(&signed);
    let (status, text) = signed_raw(
        s.addr,
        ak,
        sk,
        &with_target,
        &[("X-Amz-Target", list), CONTENT_TYPE],
        "{}",
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = signed_raw(
        s.addr,
        ak,
        sk,
        &with_target,
        &[("X-Amz-Target", create), CONTENT_TYPE],
        "{}",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("InvalidSignatureException") && text.contains("does not match"),
        "{text}"
    );

    // `aws-sigv4` always signs host and x-amz-date, so requests that leave them out are written
    // by hand: they are refused for that before their signature is looked at.
    let amz_date = {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (days, secs) = (now / 86_400, now % 86_400);
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    };
    for (signed_headers, missing) in [
        ("x-amz-date;x-amz-target", "'Host' or ':authority'"),
        ("content-type;host;x-amz-target", "'X-Amz-Date'"),
        ("content-type;host;x-amz-date", "'X-Amz-Target'"),
    ] {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={ak}/{}/us-east-1/kms/aws4_request, SignedHeaders={signed_headers}, Signature={}",
            &amz_date[..8],
            "0".repeat(64)
        );
        let (status, text) = raw_post(
            s.addr,
            &[
                ("X-Amz-Target", list),
                CONTENT_TYPE,
                ("X-Amz-Date", &amz_date),
                ("Authorization", &auth),
            ],
            "{}",
        )
        .await;
        assert_eq!(status, 400, "{text}");
        assert!(
            text.contains("InvalidSignatureException")
                && text.contains(&format!(
                    "{missing} must be a 'SignedHeader' in the AWS Authorization."
                )),
            "{signed_headers}: {text}"
        );
    }
    let log = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("InvalidSignatureException"))
            .count(),
        6,
        "{log}"
    );
    s.stop().await;
}

/// An `aws-sdk-kms` client for the server in `region`.
pub(crate) fn client_in(s: &Server, region: &'static str) -> Client {
    use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
    let c = s.kms.credentials();
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(Credentials::new(
            &c.access_key_id,
            &c.secret_access_key,
            None,
            None,
            "tests",
        ))
        .endpoint_url(format!("http://{}", s.addr))
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

#[tokio::test]
async fn the_credential_scope_must_name_this_region_and_kms() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::run(Kms::open(dir.path(), "eu-west-1", "111122223333").unwrap()).await;
    // A client configured for another region signs for it: refused, naming both regions.
    let e = s.client().list_keys().send().await.unwrap_err();
    let e = e.as_service_error().expect("a service error");
    assert_eq!(code(e), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        Some(
            "Credential should be scoped to a valid region, not 'us-east-1'. This service's region is 'eu-west-1'."
        )
    );
    assert_eq!(
        err_code(client_in(&s, "eu-central-1").create_key().send().await),
        "InvalidSignatureException"
    );
    // The service's own region: accepted, and its ARNs name it.
    let c = client_in(&s, "eu-west-1");
    let arn = new_key(&c).await.1;
    assert!(arn.starts_with("arn:aws:kms:eu-west-1:"), "{arn}");
    assert_eq!(c.list_keys().send().await.unwrap().keys.unwrap().len(), 1);

    // A scope for another service (a signature made for S3), otherwise right.
    let creds = s.kms.credentials();
    let target = "TrentService.ListKeys";
    let signed = [("x-amz-target", target), CONTENT_TYPE];
    let for_s3 = Signing {
        region: "eu-west-1",
        service: "s3",
        ..Signing::kms(&signed)
    };
    let (status, text) = signed_raw(
        s.addr,
        &creds.access_key_id,
        &creds.secret_access_key,
        &for_s3,
        &[("X-Amz-Target", target), CONTENT_TYPE],
        "{}",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("InvalidSignatureException")
            && text.contains("Credential should be scoped to correct service: 'kms'."),
        "{text}"
    );
    s.stop().await;
}

#[tokio::test]
async fn aliases_cannot_point_at_a_key_pending_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let c = s.client();
    let (doomed, doomed_arn) = new_key(&c).await;
    let (kept, _) = new_key(&c).await;
    alias(&c, "alias/moving", &kept).await;
    c.schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();

    for key_id in [doomed.as_str(), doomed_arn.as_str()] {
        let e = c
            .create_alias()
            .alias_name("alias/new")
            .target_key_id(key_id)
            .send()
            .await
            .unwrap_err();
        let e = e.as_service_error().unwrap();
        assert_eq!(code(e), "KMSInvalidStateException");
        assert_eq!(
            e.message(),
            Some(format!("{doomed_arn} is pending deletion.").as_str())
        );
        assert_eq!(
            err_code(
                c.update_alias()
                    .alias_name("alias/moving")
                    .target_key_id(key_id)
                    .send()
                    .await
            ),
            "KMSInvalidStateException"
        );
    }
    let aliases = c.list_aliases().send().await.unwrap().aliases.unwrap();
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0].alias_name.as_deref(), Some("alias/moving"));
    assert_eq!(aliases[0].target_key_id.as_deref(), Some(kept.as_str()));

    // Once the deletion is cancelled (the key is then Disabled), aliases may point at it again.
    c.cancel_key_deletion()
        .key_id(&doomed)
        .send()
        .await
        .unwrap();
    alias(&c, "alias/new", &doomed).await;
    c.update_alias()
        .alias_name("alias/moving")
        .target_key_id(&doomed)
        .send()
        .await
        .unwrap();
    s.stop().await;
}

#[tokio::test]
async fn malformed_markers_are_invalid_marker_exceptions() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let c = s.client();
    let (id, _) = new_key(&c).await;
    new_key(&c).await;
    alias(&c, "alias/a", &id).await;
    alias(&c, "alias/b", &id).await;
    c.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    c.rotate_key_on_demand().key_id(&id).send().await.unwrap();

    for marker in ["x", "-1", "3", "1.0", " 1", "99999999999999999999999"] {
        assert_eq!(
            err_code(c.list_keys().marker(marker).send().await),
            "InvalidMarkerException",
            "{marker:?}"
        );
        assert_eq!(
            err_code(c.list_aliases().marker(marker).send().await),
            "InvalidMarkerException",
            "{marker:?}"
        );
        assert_eq!(
            err_code(
                c.list_key_rotations()
                    .key_id(&id)
                    .marker(marker)
                    .send()
                    .await
            ),
            "InvalidMarkerException",
            "{marker:?}"
        );
    }
    // The markers the service hands out still page.
    let first = c.list_keys().limit(1).send().await.unwrap();
    let next = c
        .list_keys()
        .marker(first.next_marker.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(next.keys.unwrap().len(), 1);
    let first = c.list_aliases().limit(1).send().await.unwrap();
    let next = c
        .list_aliases()
        .marker(first.next_marker.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        next.aliases.unwrap()[0].alias_name.as_deref(),
        Some("alias/b")
    );
    s.stop().await;
}

/// A blob as the service makes it (`01 ‖ key id ‖ version ‖ IV ‖ ct ‖ tag`, no context), made here
/// from a backing key the test knows.
fn blob_under(id: uuid::Uuid, material: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::inout::InOutBuf;
    use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
    let mut blob = vec![1u8];
    blob.extend_from_slice(id.as_bytes());
    blob.extend_from_slice(&1u32.to_be_bytes());
    let aad = [blob.as_slice(), &0u32.to_be_bytes()].concat();
    let iv = [3u8; 12];
    let mut ct = plaintext.to_vec();
    let tag = Aes256Gcm::new(material.into())
        .encrypt_inout_detached(&iv.into(), &aad, InOutBuf::from(&mut ct[..]))
        .unwrap();
    blob.extend_from_slice(&iv);
    blob.extend_from_slice(&ct);
    blob.extend_from_slice(&tag);
    blob
}

/// Every form the backing key could be written in (the shared printed forms, and the bytes read
/// as text).
fn forms(key: &[u8]) -> Vec<String> {
    let mut out = cipherdrop_testkit::printed_forms(key);
    out.push(String::from_utf8_lossy(key).into_owned());
    out
}

/// A data folder written by the code before the master key (backing keys in base64 in the key
/// files) opens: its key files are rewritten encrypted, the old ciphertexts still decrypt; then
/// the master key is required: missing or another one, the service does not start.
#[tokio::test]
async fn old_plaintext_key_files_are_migrated_and_then_need_the_master_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("keys")).unwrap();
    let id = uuid::Uuid::new_v4();
    let material: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let key_file = dir.path().join("keys").join(format!("{id}.json"));
    // Exactly the old code's `serde_json::to_vec(&KeyRecord)`.
    std::fs::write(
        &key_file,
        format!(
            r#"{{"id":"{id}","description":"from before","created":1700000000.5,"state":"Enabled","deletion_date":null,"pending_window_days":null,"rotation_enabled":false,"rotation_period_days":365,"next_rotation":null,"tags":[],"materials":[{{"version":1,"created":1700000000.5,"rotation_type":null,"key":"{}"}}]}}"#,
            base64_of(&material)
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("aliases.json"),
        format!(
            r#"{{"alias/old":{{"target":"{id}","created":1700000000.5,"updated":1700000000.5}}}}"#
        ),
    )
    .unwrap();
    let blob = blob_under(id, &material, b"made before the upgrade");

    let s = Server::start(dir.path()).await;
    let c = s.client();
    let out = c
        .decrypt()
        .ciphertext_blob(Blob::new(blob.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.plaintext.unwrap().as_ref(), b"made before the upgrade");
    let m = c
        .describe_key()
        .key_id("alias/old")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(
        (m.key_id.as_str(), m.description.as_deref()),
        (id.to_string().as_str(), Some("from before"))
    );
    // A file from before there were key specs is a symmetric key's.
    assert_eq!(
        m.key_spec,
        Some(aws_sdk_kms::types::KeySpec::SymmetricDefault)
    );
    assert_eq!(
        m.key_usage,
        Some(aws_sdk_kms::types::KeyUsageType::EncryptDecrypt)
    );
    assert_eq!(
        err_code(c.get_public_key().key_id(id.to_string()).send().await),
        "UnsupportedOperationException"
    );
    s.stop().await;

    let text = std::fs::read_to_string(&key_file).unwrap();
    for form in forms(&material) {
        assert!(!text.contains(&form), "the backing key is still in {text}");
    }
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(json["materials"][0].get("key").is_none(), "{text}");
    assert!(json["materials"][0]["sealed_key"].is_string(), "{text}");
    let master = dir.path().join(cipherdrop_kms::MASTER_KEY_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&master).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Without its master key the folder does not open, and no master key is made.
    let right = std::fs::read(&master).unwrap();
    std::fs::remove_file(&master).unwrap();
    let e = Kms::open(dir.path(), "us-east-1", "111122223333")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("master key") && e.contains("does not exist"),
        "{e}"
    );
    assert!(!master.exists());
    // With another master key neither.
    std::fs::write(&master, base64_of(&[7u8; 32])).unwrap();
    let e = Kms::open(dir.path(), "us-east-1", "111122223333")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("another master key"), "{e}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), text);

    // With it, as before.
    std::fs::write(&master, &right).unwrap();
    let s = Server::start(dir.path()).await;
    s.client()
        .decrypt()
        .ciphertext_blob(Blob::new(blob))
        .send()
        .await
        .unwrap();
    s.stop().await;
}

#[tokio::test]
async fn the_master_key_can_live_outside_the_data_folder() {
    let (dir, secrets) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = secrets.path().join("nested").join("kms-master.key");
    let open = || Kms::open_with_master_key(dir.path(), "us-east-1", "111122223333", &master);
    let s = Server::run(open().unwrap()).await;
    let c = s.client();
    let (id, _) = new_key(&c).await;
    let blob = c
        .generate_data_key()
        .key_id(&id)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    s.stop().await;
    assert!(master.exists());
    assert!(!dir.path().join(cipherdrop_kms::MASTER_KEY_FILE).exists());

    // The default path has no master key: refused, nothing made.
    let e = Kms::open(dir.path(), "us-east-1", "111122223333")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
    assert!(!dir.path().join(cipherdrop_kms::MASTER_KEY_FILE).exists());

    let s = Server::run(open().unwrap()).await;
    s.client()
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap();
    s.stop().await;
}

/// The DER `SubjectPublicKeyInfo` header of every P-384 public key (RFC 5480: id-ecPublicKey
/// 1.2.840.10045.2.1 with secp384r1 1.3.132.0.34, then a 98-byte BIT STRING).
const P384_SPKI_HEADER: [u8; 23] = [
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];

/// The P-384 key in GetPublicKey's DER, read independently of the service's encoder.
fn verifying_key(der: &[u8]) -> p384::ecdsa::VerifyingKey {
    assert_eq!(der.len(), 120, "{der:02x?}");
    assert_eq!(der[..23], P384_SPKI_HEADER, "{der:02x?}");
    p384::ecdsa::VerifyingKey::from_sec1_bytes(&der[23..]).unwrap()
}

fn sha384(message: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha384::digest(message).to_vec()
}

/// Whether `der` is a signature by `key` of the SHA-384 digest `digest`, checked by `p384`.
fn p384_verifies(key: &p384::ecdsa::VerifyingKey, digest: &[u8], der: &[u8]) -> bool {
    use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
    p384::ecdsa::DerSignature::from_bytes(der)
        .is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok())
}

/// An `ECC_NIST_P384` `SIGN_VERIFY` key: (id, ARN).
async fn new_signing_key(c: &Client) -> (String, String) {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    let m = c
        .create_key()
        .key_spec(KeySpec::EccNistP384)
        .key_usage(KeyUsageType::SignVerify)
        .description("checkpoints")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    (m.key_id, m.arn.unwrap())
}

async fn sign(c: &Client, key: &str, message: &[u8], digest: bool) -> Vec<u8> {
    use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
    let out = c
        .sign()
        .key_id(key)
        .message(Blob::new(message))
        .message_type(if digest {
            MessageType::Digest
        } else {
            MessageType::Raw
        })
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
        .grant_tokens("ignored")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.signing_algorithm,
        Some(SigningAlgorithmSpec::EcdsaSha384)
    );
    out.signature.unwrap().into_inner()
}

fn verify_call(
    c: &Client,
    key: &str,
    message: &[u8],
    digest: bool,
    signature: &[u8],
) -> aws_sdk_kms::operation::verify::builders::VerifyFluentBuilder {
    use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
    c.verify()
        .key_id(key)
        .message(Blob::new(message))
        .message_type(if digest {
            MessageType::Digest
        } else {
            MessageType::Raw
        })
        .signature(Blob::new(signature))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
}

/// An ECC_NIST_P384 SIGN_VERIFY key: its metadata as AWS reports it; RAW and DIGEST signatures
/// (DER ECDSA over SHA-384) that KMS Verify accepts and that `p384` accepts over the public key
/// GetPublicKey exports; a tampered message, a tampered signature, another key's signature and
/// garbage are each a KMSInvalidSignatureException; the request checks AWS makes.
#[tokio::test]
#[allow(deprecated)] // CustomerMasterKeySpec: AWS still answers it, so it is checked.
async fn ecc_p384_keys_sign_and_verify_as_aws_kms_does() {
    use aws_sdk_kms::types::{
        CustomerMasterKeySpec, EncryptionAlgorithmSpec, KeySpec, KeyUsageType, MessageType,
        SigningAlgorithmSpec,
    };
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let c = s.client();
    let (id, arn) = new_signing_key(&c).await;
    alias(&c, "alias/checkpoints", &id).await;

    let m = c
        .describe_key()
        .key_id("alias/checkpoints")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(m.key_id, id);
    assert_eq!(m.key_spec, Some(KeySpec::EccNistP384));
    assert_eq!(
        m.customer_master_key_spec,
        Some(CustomerMasterKeySpec::EccNistP384)
    );
    assert_eq!(m.key_usage, Some(KeyUsageType::SignVerify));
    assert_eq!(
        m.signing_algorithms,
        Some(vec![SigningAlgorithmSpec::EcdsaSha384])
    );
    assert_eq!(m.encryption_algorithms, None);
    assert_eq!(m.key_state, Some(KeyState::Enabled));
    // A symmetric key says the opposite.
    let (sym, _) = new_key(&c).await;
    let m = c
        .describe_key()
        .key_id(&sym)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(m.key_spec, Some(KeySpec::SymmetricDefault));
    assert_eq!(m.key_usage, Some(KeyUsageType::EncryptDecrypt));
    assert_eq!(
        m.encryption_algorithms,
        Some(vec![EncryptionAlgorithmSpec::SymmetricDefault])
    );
    assert_eq!(m.signing_algorithms, None);
    let listed = c.list_keys().send().await.unwrap().keys.unwrap();
    assert!(listed.iter().any(|k| k.key_id.as_deref() == Some(&id)));

    let pk = c
        .get_public_key()
        .key_id("alias/checkpoints")
        .send()
        .await
        .unwrap();
    assert_eq!(pk.key_id.as_deref(), Some(arn.as_str()));
    assert_eq!(pk.key_spec, Some(KeySpec::EccNistP384));
    assert_eq!(
        pk.customer_master_key_spec,
        Some(CustomerMasterKeySpec::EccNistP384)
    );
    assert_eq!(pk.key_usage, Some(KeyUsageType::SignVerify));
    assert_eq!(
        pk.signing_algorithms,
        Some(vec![SigningAlgorithmSpec::EcdsaSha384])
    );
    assert_eq!(pk.encryption_algorithms, None);
    let vk = verifying_key(&pk.public_key.unwrap().into_inner());

    // RAW: KMS hashes with SHA-384. By ARN, id and alias.
    let message = b"checkpoint 42: 0f1e2d3c4b5a69788796a5b4c3d2e1f0".to_vec();
    for key in [arn.as_str(), id.as_str(), "alias/checkpoints"] {
        let sig = sign(&c, key, &message, false).await;
        assert!(p384_verifies(&vk, &sha384(&message), &sig), "{key}");
        let out = verify_call(&c, key, &message, false, &sig)
            .send()
            .await
            .unwrap();
        assert!(out.signature_valid);
        assert_eq!(out.key_id.as_deref(), Some(arn.as_str()));
        assert_eq!(
            out.signing_algorithm,
            Some(SigningAlgorithmSpec::EcdsaSha384)
        );
        // The same signature is one of the DIGEST of the message.
        assert!(
            verify_call(&c, key, &sha384(&message), true, &sig)
                .send()
                .await
                .unwrap()
                .signature_valid
        );
    }
    let first = sign(&c, &arn, &message, false).await;
    assert_ne!(first, sign(&c, &arn, &message, false).await, "fresh nonces");

    // DIGEST: the caller's SHA-384, signed as given.
    let digest = sha384(b"another checkpoint");
    let sig = sign(&c, &arn, &digest, true).await;
    assert!(p384_verifies(&vk, &digest, &sig));
    verify_call(&c, &arn, &digest, true, &sig)
        .send()
        .await
        .unwrap();
    // Signed as a RAW message, those 48 bytes are hashed again: another signature.
    let raw48 = sign(&c, &arn, &digest, false).await;
    assert!(!p384_verifies(&vk, &digest, &raw48));
    assert!(p384_verifies(&vk, &sha384(&digest), &raw48));

    // What does not verify is an exception, never SignatureValid=false.
    let mut tampered_message = message.clone();
    tampered_message[0] ^= 1;
    let mut tampered_sig = first.clone();
    let last = tampered_sig.len() - 1;
    tampered_sig[last] ^= 1;
    let (other, _) = new_signing_key(&c).await;
    let others = sign(&c, &other, &message, false).await;
    for (msg, sig, digest) in [
        (&tampered_message, &first, false),
        (&message, &tampered_sig, false),
        (&message, &others, false),
        (
            &message,
            &vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            false,
        ),
        (&message, &b"not a signature".to_vec(), false),
        (&sha384(&tampered_message), &first, true),
        (&digest, &raw48, true),
    ] {
        assert_eq!(
            err_code(verify_call(&c, &arn, msg, digest, sig).send().await),
            "KMSInvalidSignatureException",
            "{msg:02x?} {sig:02x?} {digest}"
        );
    }
    assert!(!p384_verifies(&vk, &sha384(&tampered_message), &first));
    assert!(!p384_verifies(&vk, &sha384(&message), &tampered_sig));

    // The checks of the request.
    assert_eq!(
        err_code(
            c.sign()
                .key_id(&arn)
                .message(Blob::new(&digest[..32]))
                .message_type(MessageType::Digest)
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
                .send()
                .await
        ),
        "ValidationException",
        "a DIGEST for ECDSA_SHA_384 is 48 bytes"
    );
    assert_eq!(
        err_code(
            verify_call(&c, &arn, &digest[..47], true, &sig)
                .send()
                .await
        ),
        "ValidationException"
    );
    sign(&c, &arn, &[7u8; 4096], false).await;
    for bad in [vec![7u8; 4097], Vec::new()] {
        assert_eq!(
            err_code(
                c.sign()
                    .key_id(&arn)
                    .message(Blob::new(bad))
                    .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
                    .send()
                    .await
            ),
            "ValidationException"
        );
    }
    for (alg, expect) in [
        (
            SigningAlgorithmSpec::EcdsaSha256,
            "InvalidKeyUsageException",
        ),
        (
            SigningAlgorithmSpec::RsassaPssSha384,
            "InvalidKeyUsageException",
        ),
        (
            SigningAlgorithmSpec::from("ECDSA_SHA_385"),
            "ValidationException",
        ),
    ] {
        let r = c
            .sign()
            .key_id(&arn)
            .message(Blob::new(&message[..]))
            .signing_algorithm(alg.clone())
            .send()
            .await;
        assert_eq!(err_code(r), expect, "{alg:?}");
        let r = verify_call(&c, &arn, &message, false, &first)
            .signing_algorithm(alg.clone())
            .send()
            .await;
        assert_eq!(err_code(r), expect, "{alg:?}");
    }
    assert_eq!(
        err_code(
            c.sign()
                .key_id(&arn)
                .message(Blob::new(&message[..]))
                .message_type(MessageType::from("HASHED"))
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
                .send()
                .await
        ),
        "ValidationException"
    );
    assert_eq!(
        err_code(
            c.sign()
                .key_id("alias/none")
                .message(Blob::new(&message[..]))
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
                .send()
                .await
        ),
        "NotFoundException"
    );

    // The audit trail names each call and its key, and holds neither message nor signature.
    let log = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    for op in ["Sign", "Verify", "GetPublicKey"] {
        assert!(
            log.lines().any(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["eventName"] == op && v["keyArn"] == arn.as_str() && v["outcome"] == "Success"
            }),
            "{op}"
        );
    }
    assert!(log.contains("KMSInvalidSignatureException"));
    for secret in [&message[..], &first, &digest] {
        for form in forms(secret) {
            assert!(!log.contains(&form), "the audit log holds {form}");
        }
    }
    s.stop().await;
}

/// Every wrong use gives AWS's error: a signing key for encryption or decryption and a symmetric
/// key for Sign / Verify are InvalidKeyUsageExceptions; GetPublicKey of a symmetric key and
/// rotation of a signing key are UnsupportedOperationExceptions; CreateKey refuses what AWS
/// refuses (ValidationException) and what AWS has but this service does not make
/// (UnsupportedOperationException); a disabled or deleting signing key refuses as a symmetric key.
#[tokio::test]
#[allow(deprecated)] // CustomerMasterKeySpec: AWS still takes it, so it is checked.
async fn signing_keys_refuse_what_aws_kms_refuses() {
    use aws_sdk_kms::types::{
        CustomerMasterKeySpec, KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec,
    };
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let c = s.client();
    let (ecc, _) = new_signing_key(&c).await;
    let (sym, _) = new_key(&c).await;
    let blob = c
        .encrypt()
        .key_id(&sym)
        .plaintext(Blob::new(&b"hello"[..]))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let message = b"checkpoint".to_vec();
    let sig = sign(&c, &ecc, &message, false).await;

    // A signing key does not encrypt, decrypt or make data keys.
    let usage = "InvalidKeyUsageException";
    assert_eq!(
        err_code(
            c.encrypt()
                .key_id(&ecc)
                .plaintext(Blob::new(&b"x"[..]))
                .send()
                .await
        ),
        usage
    );
    assert_eq!(
        err_code(
            c.generate_data_key()
                .key_id(&ecc)
                .number_of_bytes(32)
                .send()
                .await
        ),
        usage
    );
    assert_eq!(
        err_code(
            c.generate_data_key_without_plaintext()
                .key_id(&ecc)
                .key_spec(DataKeySpec::Aes256)
                .send()
                .await
        ),
        usage
    );
    assert_eq!(
        err_code(
            c.decrypt()
                .ciphertext_blob(blob.clone())
                .key_id(&ecc)
                .send()
                .await
        ),
        usage
    );
    assert_eq!(
        err_code(
            c.re_encrypt()
                .ciphertext_blob(blob.clone())
                .destination_key_id(&ecc)
                .send()
                .await
        ),
        usage
    );
    // A symmetric key does not sign or verify, and has no public key.
    let r = c
        .sign()
        .key_id(&sym)
        .message(Blob::new(&message[..]))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
        .send()
        .await;
    assert_eq!(err_code(r), usage);
    assert_eq!(
        err_code(verify_call(&c, &sym, &message, false, &sig).send().await),
        usage
    );
    assert_eq!(
        err_code(c.get_public_key().key_id(&sym).send().await),
        "UnsupportedOperationException"
    );
    // An alias moves only between keys of one kind, as AWS's does.
    alias(&c, "alias/signer", &ecc).await;
    let (ecc2, _) = new_signing_key(&c).await;
    for (target, expect) in [(&sym, Some("ValidationException")), (&ecc2, None)] {
        let r = c
            .update_alias()
            .alias_name("alias/signer")
            .target_key_id(target)
            .send()
            .await;
        assert_eq!(
            r.err()
                .map(|e| code(e.as_service_error().unwrap()))
                .as_deref(),
            expect
        );
    }
    alias(&c, "alias/encrypter", &sym).await;
    assert_eq!(
        err_code(
            c.update_alias()
                .alias_name("alias/encrypter")
                .target_key_id(&ecc)
                .send()
                .await
        ),
        "ValidationException"
    );
    // A signing key is never rotated; its rotation status is false.
    let unsupported = "UnsupportedOperationException";
    assert_eq!(
        err_code(c.enable_key_rotation().key_id(&ecc).send().await),
        unsupported
    );
    assert_eq!(
        err_code(c.disable_key_rotation().key_id(&ecc).send().await),
        unsupported
    );
    assert_eq!(
        err_code(c.rotate_key_on_demand().key_id(&ecc).send().await),
        unsupported
    );
    assert_eq!(
        err_code(c.list_key_rotations().key_id(&ecc).send().await),
        unsupported
    );
    assert!(
        !c.get_key_rotation_status()
            .key_id(&ecc)
            .send()
            .await
            .unwrap()
            .key_rotation_enabled
    );
    // An automatic rotation never comes due for it, and the symmetric key is untouched.
    s.kms.advance_clock(400 * 86_400);
    verify_call(&c, &ecc, &message, false, &sig)
        .send()
        .await
        .unwrap();
    c.decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap();

    // CreateKey: AWS's refusals, and the specs and usages AWS has that are not made here.
    let create = |spec: Option<KeySpec>, usage: Option<KeyUsageType>| {
        c.create_key()
            .set_key_spec(spec)
            .set_key_usage(usage)
            .send()
    };
    for (spec, key_usage, expect) in [
        (
            Some(KeySpec::EccNistP384),
            Some(KeyUsageType::EncryptDecrypt),
            "ValidationException",
        ),
        (
            Some(KeySpec::EccNistP384),
            Some(KeyUsageType::GenerateVerifyMac),
            "ValidationException",
        ),
        (Some(KeySpec::EccNistP384), None, "ValidationException"),
        (
            Some(KeySpec::SymmetricDefault),
            Some(KeyUsageType::SignVerify),
            "ValidationException",
        ),
        (None, Some(KeyUsageType::SignVerify), "ValidationException"),
        (
            Some(KeySpec::from("ECC_NIST_P385")),
            Some(KeyUsageType::SignVerify),
            "ValidationException",
        ),
        (
            Some(KeySpec::EccNistP384),
            Some(KeyUsageType::from("SIGN")),
            "ValidationException",
        ),
        (
            Some(KeySpec::EccNistP384),
            Some(KeyUsageType::KeyAgreement),
            unsupported,
        ),
        (
            Some(KeySpec::EccNistP256),
            Some(KeyUsageType::SignVerify),
            unsupported,
        ),
        (
            Some(KeySpec::Rsa2048),
            Some(KeyUsageType::SignVerify),
            unsupported,
        ),
        (
            Some(KeySpec::Hmac256),
            Some(KeyUsageType::GenerateVerifyMac),
            unsupported,
        ),
    ] {
        assert_eq!(
            err_code(create(spec.clone(), key_usage.clone()).await),
            expect,
            "{spec:?} {key_usage:?}"
        );
    }
    // The deprecated CustomerMasterKeySpec works as KeySpec, but not together with it.
    let m = c
        .create_key()
        .customer_master_key_spec(CustomerMasterKeySpec::EccNistP384)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(m.key_spec, Some(KeySpec::EccNistP384));
    assert_eq!(
        err_code(
            c.create_key()
                .key_spec(KeySpec::EccNistP384)
                .customer_master_key_spec(CustomerMasterKeySpec::EccNistP384)
                .key_usage(KeyUsageType::SignVerify)
                .send()
                .await
        ),
        "ValidationException"
    );
    let m = c
        .create_key()
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(m.key_spec, Some(KeySpec::SymmetricDefault));

    // Disabled: DisabledException; pending deletion: KMSInvalidStateException; as for symmetric.
    let refusals = |expect: &'static str| {
        let (c, ecc, message, sig) = (c.clone(), ecc.clone(), message.clone(), sig.clone());
        async move {
            let r = c
                .sign()
                .key_id(&ecc)
                .message(Blob::new(&message[..]))
                .message_type(MessageType::Raw)
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
                .send()
                .await;
            assert_eq!(err_code(r), expect);
            assert_eq!(
                err_code(verify_call(&c, &ecc, &message, false, &sig).send().await),
                expect
            );
            assert_eq!(
                err_code(c.get_public_key().key_id(&ecc).send().await),
                expect
            );
        }
    };
    c.disable_key().key_id(&ecc).send().await.unwrap();
    refusals("DisabledException").await;
    c.enable_key().key_id(&ecc).send().await.unwrap();
    verify_call(&c, &ecc, &message, false, &sig)
        .send()
        .await
        .unwrap();
    c.schedule_key_deletion()
        .key_id(&ecc)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    refusals("KMSInvalidStateException").await;
    c.cancel_key_deletion().key_id(&ecc).send().await.unwrap();
    refusals("DisabledException").await;
    c.enable_key().key_id(&ecc).send().await.unwrap();
    sign(&c, &ecc, &message, false).await;
    // After the window the key is gone.
    c.schedule_key_deletion()
        .key_id(&ecc)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    s.kms.advance_clock(8 * 86_400);
    refusals("NotFoundException").await;
    assert!(!dir.path().join("keys").join(format!("{ecc}.json")).exists());
    s.stop().await;
}

/// A signing key outlives a restart: the same public key, the old signatures verify, the new
/// ones verify under the old public key; its file names the spec and holds the private key only
/// sealed (a field of base64 of 76 bytes), and a symmetric key's file is as before.
#[tokio::test]
async fn signing_keys_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let c = s.client();
    let (id, arn) = new_signing_key(&c).await;
    let (sym, _) = new_key(&c).await;
    let public = c
        .get_public_key()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .public_key
        .unwrap()
        .into_inner();
    let message = b"checkpoint before the restart".to_vec();
    let sig = sign(&c, &arn, &message, false).await;
    s.stop().await;

    let file: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("keys").join(format!("{id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(file["key_spec"], "ECC_NIST_P384");
    assert_eq!(file["materials"], serde_json::json!([]));
    let sealed = file["sealed_private_key"].as_str().unwrap();
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .unwrap()
            .len(),
        12 + 48 + 16
    );
    let sym_file: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("keys").join(format!("{sym}.json"))).unwrap(),
    )
    .unwrap();
    assert!(sym_file.get("key_spec").is_none(), "{sym_file}");
    assert!(sym_file.get("sealed_private_key").is_none(), "{sym_file}");

    let s = Server::start(dir.path()).await;
    let c = s.client();
    let again = c
        .get_public_key()
        .key_id(&arn)
        .send()
        .await
        .unwrap()
        .public_key
        .unwrap()
        .into_inner();
    assert_eq!(again, public);
    verify_call(&c, &id, &message, false, &sig)
        .send()
        .await
        .unwrap();
    let vk = verifying_key(&public);
    let after = b"checkpoint after the restart".to_vec();
    let sig2 = sign(&c, &id, &after, false).await;
    assert!(p384_verifies(&vk, &sha384(&after), &sig2));
    assert!(p384_verifies(&vk, &sha384(&message), &sig));
    s.stop().await;
}

/// Runs `tests/py/kms_sign.py` (boto3 and `cryptography`) against the KMS at `endpoint`.
async fn boto3_signing_checks(endpoint: String, creds: (String, String)) -> serde_json::Value {
    boto3_script("kms_sign.py", endpoint, creds).await
}

/// Runs the boto3 script `tests/py/<script>` against the KMS at `endpoint`, off the runtime's
/// threads (the embedded KMS answers on them); returns its JSON.
pub(crate) async fn boto3_script(
    script: &'static str,
    endpoint: String,
    creds: (String, String),
) -> serde_json::Value {
    tokio::task::spawn_blocking(move || {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/py")
            .join(script);
        let out = std::process::Command::new(cipherdrop_testkit::python())
            .arg(path)
            .env("AWS_ENDPOINT_URL_KMS", &endpoint)
            .env("AWS_ACCESS_KEY_ID", &creds.0)
            .env("AWS_SECRET_ACCESS_KEY", &creds.1)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script} against {endpoint}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    })
    .await
    .unwrap()
}

/// boto3 sees AWS's semantics from the embedded KMS: a signing key's metadata and public key
/// (which `cryptography` loads as a P-384 SubjectPublicKeyInfo), RAW and DIGEST signatures in DER
/// that `cryptography` verifies, KMSInvalidSignatureException for a tampered message or
/// signature, and AWS's error codes for wrong uses. The same script against moto agrees on
/// every shape both implement (the fields compared below); moto's known departures from AWS are
/// named, not compared.
#[tokio::test]
async fn boto3_sees_aws_semantics_for_signing_keys_and_agrees_with_moto() {
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let creds = (
        s.kms.credentials().access_key_id.clone(),
        s.kms.credentials().secret_access_key.clone(),
    );
    let ours = boto3_signing_checks(format!("http://{}", s.addr), creds).await;
    s.stop().await;

    let aws_metadata = json!({
        "CustomerMasterKeySpec": "ECC_NIST_P384",
        "EncryptionAlgorithms": null,
        "KeySpec": "ECC_NIST_P384",
        "KeyState": "Enabled",
        "KeyUsage": "SIGN_VERIFY",
        "SigningAlgorithms": ["ECDSA_SHA_384"],
    });
    assert_eq!(ours["metadata"], aws_metadata, "{ours}");
    assert_eq!(
        ours["public_key"],
        json!({
            "CustomerMasterKeySpec": "ECC_NIST_P384",
            "EncryptionAlgorithms": null,
            "KeySpec": "ECC_NIST_P384",
            "KeyUsage": "SIGN_VERIFY",
            "SigningAlgorithms": ["ECDSA_SHA_384"],
            "curve": "secp384r1",
            "der_is_spki": true,
            "key_id_is_arn": true,
        })
    );
    let invalid = json!({ "error": "KMSInvalidSignatureException" });
    assert_eq!(
        ours["raw"],
        json!({
            "SigningAlgorithm": "ECDSA_SHA_384",
            "der": true,
            "key_id_is_arn": true,
            "kms_verify": { "ok": true },
            "kms_verify_tampered_message": invalid,
            "kms_verify_tampered_signature": invalid,
            "verifies_locally": true,
        })
    );
    assert_eq!(
        ours["digest"],
        json!({
            "kms_verify": { "ok": true },
            "signed": true,
            "verifies_locally_as_digest": true,
        })
    );
    assert_eq!(
        ours["errors"],
        json!({
            "data_key_with_signing_key": "InvalidKeyUsageException",
            "ecc_key_for_encryption": "ValidationException",
            "encrypt_with_signing_key": "InvalidKeyUsageException",
            "public_key_of_symmetric_key": "UnsupportedOperationException",
            "rotation_of_signing_key": "UnsupportedOperationException",
            "short_digest": "ValidationException",
            "sign_with_symmetric_key": "InvalidKeyUsageException",
            "wrong_algorithm": "InvalidKeyUsageException",
        })
    );

    // moto, the third-party peer: the same script.
    let moto = cipherdrop_testkit::server::start_moto().unwrap();
    let url = moto.url.clone();
    let theirs = boto3_signing_checks(url, ("testing".into(), "testing".into())).await;
    // Both implement these, and agree.
    assert_eq!(theirs["metadata"], aws_metadata, "moto: {theirs}");
    for field in [
        "CustomerMasterKeySpec",
        "EncryptionAlgorithms",
        "KeyUsage",
        "SigningAlgorithms",
        "curve",
        "der_is_spki",
    ] {
        assert_eq!(
            theirs["public_key"][field], ours["public_key"][field],
            "{field}: moto {theirs}"
        );
    }
    for field in [
        "SigningAlgorithm",
        "der",
        "key_id_is_arn",
        "kms_verify",
        "verifies_locally",
    ] {
        assert_eq!(
            theirs["raw"][field], ours["raw"][field],
            "{field}: moto {theirs}"
        );
    }
    assert_eq!(theirs["digest"]["signed"], true, "moto {theirs}");
    // Where moto 5.2.5 departs from AWS KMS (and the embedded KMS keeps to AWS): it answers
    // SignatureValid=false instead of KMSInvalidSignatureException, hashes a DIGEST again, omits
    // KeySpec and the ARN from GetPublicKey, answers ValidationException for wrong usages and
    // algorithms, and accepts the wrong uses that AWS refuses. Printed, not compared.
    println!("moto: {theirs}");
}
