//! The `cipherdrop` binary: round trips, atomic output, bad input, vectors, constant memory.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use cipherdrop_testkit::{data, hex, repo_root, run_python_batch};
use serde_json::json;

fn cipherdrop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cipherdrop"))
        .args(args)
        .output()
        .unwrap()
}

fn key_file(dir: &Path, bytes: &[u8]) -> String {
    let p = dir.join("wrap.key");
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn file_round_trip_both_suites_and_stdin_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), &[3u8; 32]);
    let pt = data(300_000, 1);
    let (p, c, d) = (
        dir.path().join("p"),
        dir.path().join("c"),
        dir.path().join("d"),
    );
    std::fs::write(&p, &pt).unwrap();
    for suite in ["0x0478", "0x0578"] {
        let out = cipherdrop(&[
            "encrypt",
            "--key-file",
            &key,
            "--suite",
            suite,
            "--frame-length",
            "1000",
            "--context",
            "purpose=test",
            "--context",
            "ключ=значение",
            "-i",
            s(&p),
            "-o",
            s(&c),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = cipherdrop(&[
            "decrypt",
            "--key-file",
            &key,
            "--context",
            "purpose=test",
            "-i",
            s(&c),
            "-o",
            s(&d),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(&d).unwrap(), pt);
    }
    // stdin -> stdout, with a base64 key file.
    let b64 = key_file(
        dir.path(),
        b"AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_cipherdrop"))
        .args(["decrypt", "--key-file", &b64])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Feed stdin from a thread: the child writes stdout while it reads, and pipes are small.
    let mut stdin = child.stdin.take().unwrap();
    let message = std::fs::read(&c).unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&message).unwrap());
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, pt);
}

#[test]
fn failed_decrypt_leaves_no_output_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), &[4u8; 32]);
    let (p, c, d) = (
        dir.path().join("p"),
        dir.path().join("c"),
        dir.path().join("d"),
    );
    std::fs::write(&p, data(50_000, 2)).unwrap();
    assert!(
        cipherdrop(&["encrypt", "--key-file", &key, "-i", s(&p), "-o", s(&c)])
            .status
            .success()
    );
    let good = std::fs::read(&c).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "bit flip in the last frame",
            {
                let mut m = good.clone();
                let n = m.len() - 20;
                m[n] ^= 0x40;
                m
            },
            "not authentic",
        ),
        ("truncated", good[..good.len() - 100].to_vec(), "truncated"),
        (
            "trailing bytes",
            [good.clone(), b"junk".to_vec()].concat(),
            "after the end",
        ),
        ("not a message", b"hello world".to_vec(), "malformed"),
        ("empty input", vec![], "truncated"),
    ];
    for (what, bytes, expect) in cases {
        std::fs::write(&c, &bytes).unwrap();
        let out = cipherdrop(&["decrypt", "--key-file", &key, "-i", s(&c), "-o", s(&d)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: accepted");
        assert!(err.contains(expect), "{what}: {err}");
        assert!(!d.exists(), "{what}: output file left behind");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().contains("partial"))
            .collect();
        assert!(leftovers.is_empty(), "{what}: {leftovers:?}");
    }
    // Wrong key, and a context the message does not have.
    std::fs::write(&c, &good).unwrap();
    let wrong = key_file(dir.path(), &[5u8; 32]);
    let out = cipherdrop(&["decrypt", "--key-file", &wrong, "-i", s(&c), "-o", s(&d)]);
    assert!(!out.status.success() && !d.exists());
    let out = cipherdrop(&[
        "decrypt",
        "--key-file",
        &key,
        "--context",
        "a=b",
        "-i",
        s(&c),
        "-o",
        s(&d),
    ]);
    assert!(!out.status.success() && !d.exists());
    // A previous good output is not clobbered by a failed decrypt.
    std::fs::write(&d, b"keep me").unwrap();
    std::fs::write(&c, &good[..good.len() - 1]).unwrap();
    assert!(
        !cipherdrop(&["decrypt", "--key-file", &key, "-i", s(&c), "-o", s(&d)])
            .status
            .success()
    );
    assert_eq!(std::fs::read(&d).unwrap(), b"keep me");
}

#[test]
fn bad_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), &[1u8; 32]);
    let out = cipherdrop(&[
        "encrypt",
        "--key-file",
        &key,
        "--suite",
        "0x0178",
        "-i",
        "-",
        "-o",
        "-",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not commit"));
    let out = cipherdrop(&["encrypt", "--key-file", &key, "--frame-length", "0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("frame length"));
    let out = cipherdrop(&["encrypt", "--key-file", &key, "--context", "aws-crypto-x=1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("reserved"));
    let short = key_file(dir.path(), &[1u8; 7]);
    let out = cipherdrop(&["encrypt", "--key-file", &short]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("key file"));
    let out = cipherdrop(&["decrypt", "--key-file", "/nonexistent/key"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/key"));
}

#[test]
fn vectors_command_runs_manifests_and_counts() {
    let manifest = repo_root().join("tests/vectors/esdk-python-raw/manifest.json");
    let out = cipherdrop(&["vectors", s(&manifest)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().last(),
        Some("53 passed, 0 failed, 0 skipped")
    );

    // A manifest with a KMS test (skipped and counted) and a wrong expectation (failed).
    let dir = tempfile::tempdir().unwrap();
    let src = repo_root().join("tests/vectors/esdk-python-raw");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.join("manifest.json")).unwrap()).unwrap();
    let tests = m["tests"].as_object_mut().unwrap();
    let ids: Vec<String> = tests.keys().cloned().collect();
    tests.retain(|k, _| k == &ids[0] || k == &ids[1]);
    tests[&ids[0]]["master-keys"] = json!([{"type": "aws-kms", "key": "us-west-2-decryptable"}]);
    tests[&ids[1]]["result"] = json!({"output": {"plaintext": "file://plaintexts/wrong"}});
    for sub in ["ciphertexts", "plaintexts"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        for e in std::fs::read_dir(src.join(sub)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.path().join(sub).join(e.file_name())).unwrap();
        }
    }
    std::fs::write(dir.path().join("plaintexts/wrong"), b"not it").unwrap();
    std::fs::copy(src.join("keys.json"), dir.path().join("keys.json")).unwrap();
    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec(&m).unwrap(),
    )
    .unwrap();
    let out = cipherdrop(&["vectors", s(&dir.path().join("manifest.json"))]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().last(),
        Some("0 passed, 1 failed, 1 skipped")
    );
}

#[test]
fn cli_output_decrypts_with_the_official_sdk() {
    let dir = tempfile::tempdir().unwrap();
    let key = [9u8; 32];
    let kf = key_file(dir.path(), &key);
    let pt = data(70_000, 3);
    let (p, c) = (dir.path().join("p"), dir.path().join("c"));
    std::fs::write(&p, &pt).unwrap();
    let out = cipherdrop(&[
        "encrypt",
        "--key-file",
        &kf,
        "--key-namespace",
        "ns",
        "--key-name",
        "cli",
        "--suite",
        "0x0578",
        "--frame-length",
        "4096",
        "--context",
        "who=cli",
        "-i",
        s(&p),
        "-o",
        s(&c),
    ]);
    assert!(out.status.success());
    let jobs = json!([{"op": "decrypt", "in": c, "out": dir.path().join("py.pt"), "context": {"who": "cli"},
                       "keys": [{"namespace": "ns", "name": "cli", "key_hex": hex(&key)}]}]);
    run_python_batch(&jobs, dir.path());
    assert_eq!(std::fs::read(dir.path().join("py.pt")).unwrap(), pt);
}

#[test]
fn large_files_stream_in_constant_memory() {
    // 256 MiB through encrypt and decrypt; peak RSS must stay far below the file size.
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), &[6u8; 32]);
    let (p, c, d) = (
        dir.path().join("p"),
        dir.path().join("c"),
        dir.path().join("d"),
    );
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        for i in 0..256 {
            f.write_all(&data(1 << 20, i)).unwrap();
        }
    }
    for args in [
        vec![
            "encrypt",
            "--key-file",
            &key,
            "--frame-length",
            "65536",
            "-i",
            s(&p),
            "-o",
            s(&c),
        ],
        vec!["decrypt", "--key-file", &key, "-i", s(&c), "-o", s(&d)],
    ] {
        let rss = peak_rss_kib(&args);
        assert!(
            rss < 64 * 1024,
            "{} used {rss} KiB for a 256 MiB file",
            args[0]
        );
    }
    let same = Command::new("cmp").arg(&p).arg(&d).status().unwrap();
    assert!(same.success());
}

/// Runs the binary and samples its VmHWM (peak RSS) from /proc just before it exits.
fn peak_rss_kib(args: &[&str]) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cipherdrop"))
        .args(args)
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            peak = peak.max(line.split_whitespace().nth(1).unwrap().parse().unwrap());
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            return peak;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `-o` naming a device or a pipe writes into it; it must never be replaced by the atomic
/// rename (as root, renaming over `/dev/null` turns it into a regular file).
#[cfg(unix)]
#[test]
fn output_to_a_pipe_or_device_writes_in_place() {
    use std::os::unix::fs::FileTypeExt as _;
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), &[6u8; 32]);
    let pt = data(200_000, 4);
    let p = dir.path().join("p");
    std::fs::write(&p, &pt).unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let fifo = fifo.clone();
        std::thread::spawn(move || tx.send(std::fs::read(fifo).unwrap()));
    }
    let out = cipherdrop(&["encrypt", "--key-file", &key, "-i", s(&p), "-o", s(&fifo)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
        "the pipe was replaced by a file"
    );
    let Ok(ciphertext) = rx.recv_timeout(std::time::Duration::from_secs(30)) else {
        panic!("nothing came through the pipe");
    };
    let c = dir.path().join("c");
    std::fs::write(&c, &ciphertext).unwrap();
    let d = dir.path().join("d");
    let out = cipherdrop(&["decrypt", "--key-file", &key, "-i", s(&c), "-o", s(&d)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&d).unwrap() == pt);
    // No temporary file was left beside the pipe.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".cipherdrop-"))
        .collect();
    assert!(left.is_empty());
}
