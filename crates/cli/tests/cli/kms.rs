//! `cipherdrop kms serve` as its own process, used by boto3, the official Python ESDK's AWS KMS
//! keyring, our core with the official `aws-sdk-kms`, and killed in the middle of a write burst.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use cipherdrop_core::{
    DataKey, DecryptLimits, EncryptedDataKey, EncryptionContext, EncryptionMaterials, Header,
    SigningKey, Suite, decrypt, encrypt, message_context,
};
use cipherdrop_testkit::{data, python, repo_root};

struct KmsProcess {
    child: Child,
    addr: SocketAddr,
    access_key: String,
    secret: String,
}

#[derive(serde::Deserialize)]
struct Creds {
    access_key_id: String,
    secret_access_key: String,
}

/// `cipherdrop kms serve` on a free port with `dir` as its data folder, and `extra` arguments.
fn kms_serve(dir: &Path, extra: &[&std::ffi::OsStr]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cipherdrop"));
    cmd.args(["kms", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra);
    cmd
}

impl KmsProcess {
    fn start(dir: &Path) -> Self {
        Self::start_with(kms_serve(dir, &[]).stderr(Stdio::null()), dir)
    }

    /// Starts `cmd` (a `kms_serve` with its stderr set) and waits until it listens.
    fn start_with(cmd: &mut Command, dir: &Path) -> Self {
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let creds: Creds =
            serde_json::from_slice(&std::fs::read(dir.join("credentials.json")).unwrap()).unwrap();
        KmsProcess {
            child,
            addr,
            access_key: creds.access_key_id,
            secret: creds.secret_access_key,
        }
    }

    fn client(&self) -> Client {
        cipherdrop_testkit::kms_client(
            &format!("http://{}", self.addr),
            &self.access_key,
            &self.secret,
            true,
        )
    }

    /// The official Python tools, configured only through the standard AWS environment variables.
    fn python(&self, args: &[&str]) -> String {
        let out = Command::new(python())
            .arg(repo_root().join("tests/py/kms_interop.py"))
            .args(args)
            .env("AWS_ENDPOINT_URL_KMS", format!("http://{}", self.addr))
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for KmsProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn boto3_speaks_to_the_embedded_kms() {
    let dir = tempfile::tempdir().unwrap();
    let kms = KmsProcess::start(dir.path());
    let out: serde_json::Value = serde_json::from_str(&kms.python(&["boto3"])).unwrap();
    assert_eq!(out["data_key_round_trip"], true, "{out}");
    assert_eq!(out["key_id_is_arn"], true, "{out}");
    assert_eq!(out["encrypt_round_trip"], true, "{out}");
    assert_eq!(out["aliases"], serde_json::json!(["alias/boto3"]));
    assert_eq!(out["context_mismatch"], "InvalidCiphertextException");
    assert_eq!(out["not_found"], "NotFoundException");
    assert_eq!(out["validation"], "ValidationException");
    assert_eq!(out["disabled"], "DisabledException");
    assert_eq!(out["bad_signature"], "InvalidSignatureException");
}

fn to_map(ctx: &EncryptionContext) -> HashMap<String, String> {
    ctx.iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_esdk_kms_keyring_and_our_core_interoperate() {
    let dir = tempfile::tempdir().unwrap();
    let kms = KmsProcess::start(dir.path());
    let c = kms.client();
    let arn = c
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let caller: EncryptionContext = [("object", "o-42"), ("purpose", "interop")]
        .into_iter()
        .collect();
    let work = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    for (i, suite) in [Suite::CommitKey, Suite::CommitKeyEcdsaP384]
        .into_iter()
        .enumerate()
    {
        // Ours → official: data key from our KMS, message by our core.
        let signing = suite.is_signed().then(|| SigningKey::generate(&mut rng));
        let ctx = message_context(suite, &caller, signing.as_ref()).unwrap();
        let dk = c
            .generate_data_key()
            .key_id(&arn)
            .number_of_bytes(32)
            .set_encryption_context(Some(to_map(&ctx)))
            .send()
            .await
            .unwrap();
        let key = DataKey::from_bytes(dk.plaintext.unwrap().as_ref()).unwrap();
        let edk = EncryptedDataKey::aws_kms(
            dk.key_id.as_deref().unwrap(),
            dk.ciphertext_blob.unwrap().into_inner(),
        )
        .unwrap();
        let m = EncryptionMaterials::new(suite, ctx, key, vec![edk], signing).unwrap();
        let pt = data(50_000 + i, i as u64);
        let msg = encrypt(m, 4096, &pt, &mut rng).unwrap();
        let (ct_path, pt_path) = (
            work.path().join(format!("ours-{i}")),
            work.path().join(format!("ours-{i}.pt")),
        );
        std::fs::write(&ct_path, &msg).unwrap();
        kms.python(&[
            "decrypt",
            &arn,
            ct_path.to_str().unwrap(),
            pt_path.to_str().unwrap(),
        ]);
        assert_eq!(
            std::fs::read(&pt_path).unwrap(),
            pt,
            "suite {suite}: official ESDK decrypt"
        );

        // Official → ours: the ESDK's KMS keyring encrypts; our KMS unwraps; our core decrypts.
        let src = work.path().join(format!("theirs-{i}.pt"));
        let dst = work.path().join(format!("theirs-{i}"));
        std::fs::write(&src, &pt).unwrap();
        let suite_arg = if suite.is_signed() { "0578" } else { "0478" };
        kms.python(&[
            "encrypt",
            &arn,
            suite_arg,
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            r#"{"object": "o-43"}"#,
        ]);
        let msg = std::fs::read(&dst).unwrap();
        let (header, _) = Header::parse(&msg, &DecryptLimits::default()).unwrap();
        assert_eq!(header.suite, suite);
        let edk = header
            .encrypted_data_keys
            .iter()
            .find(|e| e.kms_key_arn() == Some(arn.as_str()))
            .unwrap();
        let out = c
            .decrypt()
            .key_id(&arn)
            .ciphertext_blob(Blob::new(edk.ciphertext.clone()))
            .set_encryption_context(Some(to_map(&header.encryption_context)))
            .send()
            .await
            .unwrap();
        let key = DataKey::from_bytes(out.plaintext.unwrap().as_ref()).unwrap();
        let (got, _) = decrypt(key, &msg, DecryptLimits::default()).unwrap();
        assert_eq!(got, pt, "suite {suite}: our decrypt of an official message");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_a_write_burst_then_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut kms = KmsProcess::start(dir.path());
    let c = kms.client();
    // Acknowledged writes: key id → rotations acknowledged.
    let acked: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (c, acked) = (c.clone(), acked.clone());
        tasks.spawn(async move {
            loop {
                let Ok(k) = c.create_key().send().await else {
                    return;
                };
                let id = k.key_metadata.unwrap().key_id;
                acked.lock().unwrap().insert(id.clone(), 0);
                for _ in 0..3 {
                    if c.rotate_key_on_demand().key_id(&id).send().await.is_err() {
                        return;
                    }
                    *acked.lock().unwrap().get_mut(&id).unwrap() += 1;
                }
            }
        });
    }
    // Let the burst run, then kill -9 in the middle of it.
    while acked.lock().unwrap().len() < 40 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    kms.kill();
    while tasks.join_next().await.is_some() {}
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 40);

    let kms = KmsProcess::start(dir.path());
    let c = kms.client();
    let leftovers: Vec<PathBuf> = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    for (id, rotations) in &acked {
        let listed = c
            .list_key_rotations()
            .key_id(id)
            .send()
            .await
            .unwrap()
            .rotations
            .unwrap()
            .len();
        assert!(
            listed >= *rotations,
            "{id}: {listed} rotations on disk, {rotations} acknowledged"
        );
        let dk = c
            .generate_data_key()
            .key_id(id)
            .number_of_bytes(32)
            .send()
            .await
            .unwrap();
        c.decrypt()
            .ciphertext_blob(dk.ciphertext_blob.unwrap())
            .send()
            .await
            .unwrap();
    }
}

/// Runs `cmd`, which must exit with a failure within 60 s; returns its stderr.
fn fails_to_start(cmd: &mut Command) -> String {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success());
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return err;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the KMS started, or hung, when it had to fail");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_serve_keeps_its_master_key_where_told_and_needs_it() {
    let (dir, secrets) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = secrets.path().join("kms-master.key");
    let flag = [std::ffi::OsStr::new("--kms-master-key"), master.as_os_str()];
    let mut kms = KmsProcess::start_with(
        kms_serve(dir.path(), &flag).stderr(Stdio::null()),
        dir.path(),
    );
    let c = kms.client();
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
        .send()
        .await
        .unwrap();
    kms.kill();
    assert!(master.is_file());
    assert!(!dir.path().join(cipherdrop_kms::MASTER_KEY_FILE).exists());
    let key_file = std::fs::read(dir.path().join("keys").join(format!("{id}.json"))).unwrap();

    // Without the flag its master key is missing: the KMS does not start, and makes none.
    let err = fails_to_start(&mut kms_serve(dir.path(), &[]));
    assert!(
        err.contains("master key") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!dir.path().join(cipherdrop_kms::MASTER_KEY_FILE).exists());
    // With another master key it does not start either.
    let other = secrets.path().join("other.key");
    std::fs::write(&other, [5u8; 32]).unwrap();
    let err = fails_to_start(&mut kms_serve(
        dir.path(),
        &[std::ffi::OsStr::new("--kms-master-key"), other.as_os_str()],
    ));
    assert!(err.contains("another master key"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("keys").join(format!("{id}.json"))).unwrap(),
        key_file
    );

    // With it, the data key decrypts as before; `kms credentials` needs no master key.
    let kms = KmsProcess::start_with(
        kms_serve(dir.path(), &flag).stderr(Stdio::null()),
        dir.path(),
    );
    let out = kms
        .client()
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.plaintext, dk.plaintext);
    let creds = Command::new(env!("CARGO_BIN_EXE_cipherdrop"))
        .args(["kms", "credentials", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(creds.status.success());
    assert!(
        String::from_utf8(creds.stdout)
            .unwrap()
            .contains(&kms.access_key)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kms_process_logs_no_secret_at_trace() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let data = dir.path().join("kms");
    let log = std::fs::File::create(&log_path).unwrap();
    let kms = KmsProcess::start_with(
        kms_serve(&data, &[]).env("RUST_LOG", "trace").stderr(log),
        &data,
    );
    let c = kms.client();
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
    let blob = dk.ciphertext_blob.unwrap();
    let out = c
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("object", "o-1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.plaintext.unwrap().as_ref(), data_key.as_slice());
    let plaintext = b"PLAINTEXT-MARKER correct horse battery staple".to_vec();
    let enc = c
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(plaintext.clone()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    c.decrypt()
        .ciphertext_blob(enc.clone())
        .send()
        .await
        .unwrap();
    let secret = kms.secret.clone();
    drop(kms);

    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("TRACE"), "the log is not at trace: {text}");
    assert!(!text.contains("PLAINTEXT-MARKER"), "{text}");
    for s in [
        data_key,
        plaintext,
        blob.into_inner(),
        enc.into_inner(),
        secret.into_bytes(),
    ] {
        for form in cipherdrop_testkit::printed_forms(&s) {
            assert!(!text.contains(&form), "the KMS logged a secret ({form})");
        }
    }
}

/// `cipherdrop kms serve --replica-region eu-west-1=ADDRESS` serves a second region, linked for
/// multi-Region keys, on its own listener and data folder (with a master key of its own): a key
/// made in us-east-1 and replicated opens in eu-west-1 what us-east-1 sealed, each listener
/// answers only requests signed for its region, and all of it survives a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_serve_links_replica_regions_for_multi_region_keys() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut child = kms_serve(
            dir.path(),
            &[
                "--replica-region".as_ref(),
                "eu-west-1=127.0.0.1:0".as_ref(),
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut addr = || {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            let url = line.trim().rsplit(' ').next().unwrap().to_owned();
            (line, url)
        };
        let (east_line, east) = addr();
        let (west_line, west) = addr();
        assert!(
            east_line.starts_with("cipherdrop-kms listening on"),
            "{east_line}"
        );
        assert!(
            west_line.starts_with("cipherdrop-kms eu-west-1 listening on"),
            "{west_line}"
        );
        (KillOnDrop(child), east, west)
    };
    let (proc1, east_url, west_url) = start();
    let creds: Creds =
        serde_json::from_slice(&std::fs::read(dir.path().join("credentials.json")).unwrap())
            .unwrap();
    let client = |url: &str, region: &'static str| {
        use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
        Client::from_conf(
            aws_sdk_kms::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region))
                .credentials_provider(Credentials::new(
                    &creds.access_key_id,
                    &creds.secret_access_key,
                    None,
                    None,
                    "tests",
                ))
                .endpoint_url(url)
                .build(),
        )
    };
    let (east, west) = (
        client(&east_url, "us-east-1"),
        client(&west_url, "eu-west-1"),
    );
    let id = east
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    east.replicate_key()
        .key_id(&id)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
    let blob = east
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"across regions".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let open = |c: Client, blob: Blob| async move {
        c.decrypt()
            .ciphertext_blob(blob)
            .send()
            .await
            .map(|o| o.plaintext.unwrap().into_inner())
    };
    assert_eq!(
        open(west.clone(), blob.clone()).await.unwrap(),
        b"across regions"
    );
    // The eu-west-1 listener is eu-west-1 only.
    let wrong = client(&west_url, "us-east-1");
    let e = wrong.list_keys().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&e),
        Some("InvalidSignatureException")
    );
    let region_dir = dir.path().join("regions/eu-west-1");
    assert!(region_dir.join("master.key").exists());
    assert_ne!(
        std::fs::read(region_dir.join("master.key")).unwrap(),
        std::fs::read(dir.path().join("master.key")).unwrap(),
        "each region's keys are sealed under a master key of its own"
    );
    drop(proc1);

    let (_proc2, east_url, west_url) = start();
    let (east, west) = (
        client(&east_url, "us-east-1"),
        client(&west_url, "eu-west-1"),
    );
    assert_eq!(open(west, blob.clone()).await.unwrap(), b"across regions");
    assert_eq!(open(east, blob).await.unwrap(), b"across regions");
}

/// Kills a child process when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
