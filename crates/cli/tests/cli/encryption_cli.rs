//! `cipherdrop encrypt/decrypt` with AWS KMS keys against the official `aws-encryption-cli` 4.x,
//! through the embedded KMS and through moto's KMS: each reads what the other wrote, both suites,
//! with contexts, two KMS keys per message (one given by alias), strict and discovery decryption;
//! a key not in the message, a discovery filter that excludes it and a missing context pair are
//! refused in words (naming the message's key ARNs) and leave no output file.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cipherdrop_testkit::server::{free_port, kms_service, start_moto, stored_credentials};
use cipherdrop_testkit::{aws_encryption_cli, data, kms_client};

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");

/// A KMS to test against: its environment for both tools, and three keys (A, B, C) with an
/// alias for A.
struct Peer {
    name: &'static str,
    env: Vec<(&'static str, String)>,
    keys: [String; 3],
    alias: String,
    account: String,
}

impl Peer {
    fn new(name: &'static str, url: &str, ak: &str, sk: &str) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let kms = kms_client(url, ak, sk, true);
        let alias = format!("alias/interop-{name}");
        let keys = rt.block_on(async {
            let mut keys = Vec::new();
            for _ in 0..3 {
                let k = kms.create_key().send().await.unwrap();
                keys.push(k.key_metadata.unwrap().arn.unwrap());
            }
            kms.create_alias()
                .alias_name(&alias)
                .target_key_id(&keys[0])
                .send()
                .await
                .unwrap();
            keys
        });
        let account = keys[0].split(':').nth(4).unwrap().to_owned();
        Self {
            name,
            env: vec![
                ("AWS_ACCESS_KEY_ID", ak.to_owned()),
                ("AWS_SECRET_ACCESS_KEY", sk.to_owned()),
                ("AWS_REGION", "us-east-1".to_owned()),
                ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
                ("AWS_ENDPOINT_URL_KMS", url.to_owned()),
                ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
                ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
                ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ],
            keys: keys.try_into().unwrap(),
            alias,
            account,
        }
    }

    fn run(&self, program: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// `cipherdrop ARGS`.
    fn ours(&self, args: &[&str]) -> Output {
        self.run(Path::new(BIN), args)
    }

    /// `aws-encryption-cli ARGS`.
    fn theirs(&self, args: &[&str]) -> Output {
        self.run(&aws_encryption_cli(), args)
    }
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn refused(out: &Output, what: &str) -> String {
    assert!(!out.status.success(), "{what} was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn matrix(peer: &Peer, dir: &Path) {
    let [a, b, c] = &peer.keys;
    for (suite, algorithm) in [
        ("0x0478", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"),
        ("0x0578", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384"),
    ] {
        for len in [0usize, 300_001] {
            let tag = format!("{}-{suite}-{len}", peer.name);
            let plain = dir.join(format!("{tag}.txt"));
            std::fs::write(&plain, data(len, 7)).unwrap();
            let out = |n: &str| -> PathBuf { dir.join(format!("{tag}.{n}")) };
            let same = |p: &Path| {
                assert!(
                    std::fs::read(p).unwrap() == std::fs::read(&plain).unwrap(),
                    "{tag}: {}",
                    p.display()
                )
            };

            // Ours → theirs: A by alias, B by ARN, a context; strict with either key, discovery.
            let ours_ct = out("ours.enc");
            ok(
                &peer.ours(&[
                    "encrypt",
                    "--kms-key-id",
                    &peer.alias,
                    "--kms-key-id",
                    b,
                    "--context",
                    "purpose=interop",
                    "--suite",
                    suite,
                    "-i",
                    s(&plain),
                    "-o",
                    s(&ours_ct),
                ]),
                &tag,
            );
            for (i, wrapping) in [
                format!("key={a}"),
                format!("key={b}"),
                "discovery=true".into(),
            ]
            .iter()
            .enumerate()
            {
                let dec = out(&format!("theirs.{i}.dec"));
                ok(
                    &peer.theirs(&[
                        "-d",
                        "-S",
                        "-i",
                        s(&ours_ct),
                        "-o",
                        s(&dec),
                        "-w",
                        wrapping,
                        "--commitment-policy",
                        "require-encrypt-require-decrypt",
                    ]),
                    &format!("{tag}: aws-encryption-cli -w {wrapping}"),
                );
                same(&dec);
            }
            let dec = out("theirs.c.dec");
            let r = peer.theirs(&[
                "-d",
                "-S",
                "-i",
                s(&ours_ct),
                "-o",
                s(&dec),
                "-w",
                &format!("key={c}"),
            ]);
            assert!(
                !r.status.success() || !dec.exists(),
                "{tag}: key C decrypted"
            );

            // Theirs → ours: two keys, a context.
            let theirs_ct = out("theirs.enc");
            ok(
                &peer.theirs(&[
                    "-e",
                    "-S",
                    "-i",
                    s(&plain),
                    "-o",
                    s(&theirs_ct),
                    "-w",
                    &format!("key={a}"),
                    &format!("key={b}"),
                    "-c",
                    "purpose=interop",
                    "--algorithm",
                    algorithm,
                    "--frame-length",
                    "4096",
                ]),
                &format!("{tag}: aws-encryption-cli -e"),
            );
            let account = peer.account.as_str();
            let modes: [&[&str]; 5] = [
                &["--kms-key-id", a],
                &["--kms-key-id", b],
                &["--kms-key-id", c, "--kms-key-id", b],
                &["--discovery"],
                &[
                    "--discovery",
                    "--discovery-account",
                    account,
                    "--discovery-partition",
                    "aws",
                ],
            ];
            for (i, mode) in modes.iter().enumerate() {
                let dec = out(&format!("ours.{i}.dec"));
                let mut args = vec!["decrypt", "-i", s(&theirs_ct), "-o", s(&dec)];
                args.extend_from_slice(mode);
                args.extend_from_slice(&["--context", "purpose=interop"]);
                ok(
                    &peer.ours(&args),
                    &format!("{tag}: cipherdrop decrypt {mode:?}"),
                );
                same(&dec);
            }

            // Refusals: a key not in the message (the error names the keys that are), a
            // discovery filter that excludes them, a context pair the message lacks, an alias
            // where decryption needs an ARN. No output file in any case.
            let dec = out("refused.dec");
            let why = refused(
                &peer.ours(&[
                    "decrypt",
                    "-i",
                    s(&theirs_ct),
                    "-o",
                    s(&dec),
                    "--kms-key-id",
                    c,
                ]),
                "a key not in the message",
            );
            assert!(
                why.contains(a.as_str()) && why.contains(b.as_str()),
                "{tag}: {why}"
            );
            let why = refused(
                &peer.ours(&[
                    "decrypt",
                    "-i",
                    s(&theirs_ct),
                    "-o",
                    s(&dec),
                    "--discovery",
                    "--discovery-account",
                    "999999999999",
                ]),
                "a filtered discovery",
            );
            assert!(why.contains("discovery filter"), "{tag}: {why}");
            let why = refused(
                &peer.ours(&[
                    "decrypt",
                    "-i",
                    s(&theirs_ct),
                    "-o",
                    s(&dec),
                    "--kms-key-id",
                    a,
                    "--context",
                    "purpose=other",
                ]),
                "a missing context pair",
            );
            assert!(why.contains("purpose=other"), "{tag}: {why}");
            let why = refused(
                &peer.ours(&[
                    "decrypt",
                    "-i",
                    s(&theirs_ct),
                    "-o",
                    s(&dec),
                    "--kms-key-id",
                    &peer.alias,
                ]),
                "an alias for decryption",
            );
            assert!(why.contains("key ARNs"), "{tag}: {why}");
            assert!(!dec.exists(), "{tag}: a refused decryption left output");
        }
    }
    // A message under C alone, decrypted strictly with A: refused, naming C.
    let plain = dir.join(format!("{}-only-c.txt", peer.name));
    std::fs::write(&plain, b"only under C").unwrap();
    let ct = dir.join(format!("{}-only-c.enc", peer.name));
    ok(
        &peer.theirs(&[
            "-e",
            "-S",
            "-i",
            s(&plain),
            "-o",
            s(&ct),
            "-w",
            &format!("key={c}"),
        ]),
        "encrypt under C",
    );
    let why = refused(
        &peer.ours(&[
            "decrypt",
            "-i",
            s(&ct),
            "-o",
            s(&dir.join("x")),
            "--kms-key-id",
            a,
        ]),
        "strict decryption without the message's key",
    );
    assert!(
        why.contains(c.as_str()) && !why.contains("KMS did not"),
        "{why}"
    );
}

#[test]
fn aws_encryption_cli_and_cipherdrop_read_each_other_through_the_embedded_kms() {
    let dir = tempfile::tempdir().unwrap();
    let kms_dir = dir.path().join("kms");
    let kms = kms_service(Path::new(BIN), &kms_dir, free_port().unwrap()).unwrap();
    let (ak, sk) = stored_credentials(&kms_dir).unwrap();
    let peer = Peer::new("embedded", &kms.url, &ak, &sk);
    matrix(&peer, dir.path());
}

#[test]
fn aws_encryption_cli_and_cipherdrop_read_each_other_through_moto() {
    let dir = tempfile::tempdir().unwrap();
    let moto = start_moto().unwrap();
    let url = moto.url.clone();
    let peer = Peer::new("moto", &url, "testing", "testing");
    matrix(&peer, dir.path());
    drop(moto);
}
