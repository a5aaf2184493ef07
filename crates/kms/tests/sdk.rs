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

struct Server {
    kms: Arc<Kms>,
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(dir: &std::path::Path) -> Self {
        let kms = Arc::new(Kms::open(dir, "us-east-1", "111122223333").unwrap());
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
        cipherdrop_e2e::kms_client(&format!("http://{}", self.addr), ak, sk, false)
    }

    fn client(&self) -> Client {
        let c = self.kms.credentials();
        self.client_with(&c.access_key_id, &c.secret_access_key)
    }

    async fn stop(mut self) {
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
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = addr.to_string();
    let identity = aws_credential_types::Credentials::new(ak, sk, None, None, "t").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("kms")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers = [
        ("host", host.as_str()),
        ("x-amz-target", target),
        ("content-type", "application/x-amz-json-1.1"),
    ];
    let req = SignableRequest::new(
        "POST",
        format!("http://{host}/"),
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instr, _) = sign(req, &params).unwrap().into_parts();
    let (signed_headers, _) = instr.into_parts();
    let mut text = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in signed_headers {
        text.push_str(&format!("{}: {}\r\n", h.name(), h.value()));
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
