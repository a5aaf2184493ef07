//! Native bulk speed: core's pluggable frame cipher on AWS-LC (`aws-lc-rs`) against RustCrypto
//! `aes-gcm`, in memory and through the `cipherdrop encrypt` process (stdin → stdout to
//! `/dev/null`), against `openssl speed -evp aes-256-gcm` (this CPU's ceiling), all at 1 MiB
//! frames in the same run. Goal (issue): the CLI at ≥ 60% of OpenSSL's figure.
//!
//! `cargo bench --profile dev --offline -p cipherdrop-cli --bench cipher` (the dev profile builds
//! every dependency at opt-level 3; see BENCHMARKS.md for why not the release profile here).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "../src/crypt/cipher.rs"]
#[allow(dead_code, unused_imports)]
mod cipher;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use cipherdrop_core::{
    AesGcmCipher, EncryptionContext, EncryptionMaterials, Encryptor, FrameCipher, RawAesKeyring,
    Suite,
};

const MIB: usize = 1 << 20;
const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// MB/s of one in-memory encryption of `data` with cipher `C`, 1 MiB frames, 1 MiB pushes.
fn in_memory<C: FrameCipher>(data: &[u8]) -> f64 {
    let ring = RawAesKeyring::new("bench", "k", &[3u8; 32]).unwrap();
    let mut rng = rand::rng();
    let m = EncryptionMaterials::with_raw_aes(
        Suite::CommitKey,
        &EncryptionContext::new(),
        &[&ring],
        &mut rng,
    )
    .unwrap();
    let mut e = Encryptor::<C>::new(m, MIB as u32, &mut rng).unwrap();
    let mut out = Vec::with_capacity(2 * MIB);
    let start = Instant::now();
    for chunk in data.chunks(MIB) {
        e.push(chunk, &mut out).unwrap();
        std::hint::black_box(&out);
        out.clear();
    }
    e.finish(&mut out).unwrap();
    data.len() as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// `cipherdrop encrypt --frame-length 1048576 --cipher NAME --key-file KEY`.
fn encrypt_command(key: &std::path::Path, cipher: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cipherdrop"));
    cmd.args([
        "encrypt",
        "--frame-length",
        "1048576",
        "--cipher",
        cipher,
        "--key-file",
    ])
    .arg(key);
    cmd
}

/// MB/s of `cipherdrop encrypt --cipher NAME` from a pipe, stdout to /dev/null.
fn process(data: &[u8], key: &std::path::Path, cipher: &str) -> f64 {
    let mut cmd = encrypt_command(key, cipher);
    cmd.args(["-i", "-", "-o", "-"]);
    feed(cmd, data)
}

/// MB/s of `data` written into `cmd`'s stdin (4 MiB writes), its stdout to /dev/null.
fn feed(mut cmd: Command, data: &[u8]) -> f64 {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for chunk in data.chunks(4 * MIB) {
        stdin.write_all(chunk).unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    data.len() as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// MB/s of `cipherdrop encrypt --cipher NAME -i FILE -o -`, stdout to /dev/null.
fn from_file(path: &std::path::Path, len: usize, key: &std::path::Path, cipher: &str) -> f64 {
    let start = Instant::now();
    let ok = encrypt_command(key, cipher)
        .arg("-i")
        .arg(path)
        .args(["-o", "-"])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    len as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// MB/s of the same bytes through a pipe into `cat > /dev/null`: what a pipe allows here.
fn pipe_ceiling(data: &[u8]) -> f64 {
    feed(Command::new("cat"), data)
}

/// OpenSSL's AES-256-GCM figure at 1 MiB blocks, MB/s.
fn openssl() -> Option<f64> {
    let out = Command::new("openssl")
        .args([
            "speed",
            "-evp",
            "aes-256-gcm",
            "-bytes",
            "1048576",
            "-seconds",
            "3",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| l.to_lowercase().starts_with("aes-256-gcm"))?;
    let k: f64 = last
        .split_whitespace()
        .last()?
        .trim_end_matches('k')
        .parse()
        .ok()?;
    Some(k * 1000.0 / 1e6)
}

fn main() {
    let size = 512 * MIB;
    let data: Vec<u8> = (0..size).map(|i| (i * 131 % 251) as u8).collect();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    std::fs::write(&key, [5u8; 32]).unwrap();
    let file = dir.path().join("input");
    std::fs::write(&file, &data).unwrap();
    let (mut lc, mut rc, mut cli_lc, mut cli_rc, mut ssl) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut file_lc, mut file_rc, mut pipe) = (vec![], vec![], vec![]);
    for _ in 0..RUNS {
        lc.push(in_memory::<cipher::AwsLcCipher>(&data));
        rc.push(in_memory::<AesGcmCipher>(&data));
        cli_lc.push(process(&data, &key, "aws-lc"));
        cli_rc.push(process(&data, &key, "rustcrypto"));
        file_lc.push(from_file(&file, data.len(), &key, "aws-lc"));
        file_rc.push(from_file(&file, data.len(), &key, "rustcrypto"));
        pipe.push(pipe_ceiling(&data));
        if let Some(s) = openssl() {
            ssl.push(s);
        }
    }
    let ssl = (!ssl.is_empty()).then(|| median(ssl));
    let pct = |v: f64| ssl.map_or("n/a".to_owned(), |s| format!("{:.0}%", 100.0 * v / s));
    println!("512 MiB, suite 0x0478, 1 MiB frames, median of {RUNS} interleaved runs (MB/s)\n");
    println!("| what | MB/s | of OpenSSL |");
    println!("|---|---|---|");
    if let Some(s) = ssl {
        println!("| `openssl speed -evp aes-256-gcm -bytes 1048576` | {s:.0} | 100% |");
    }
    for (name, v) in [
        ("core + AWS-LC, in memory", median(lc)),
        ("core + RustCrypto, in memory", median(rc)),
        (
            "`cipherdrop encrypt --cipher aws-lc`, stdin → /dev/null",
            median(cli_lc),
        ),
        (
            "`cipherdrop encrypt --cipher rustcrypto`, stdin → /dev/null",
            median(cli_rc),
        ),
        (
            "`cipherdrop encrypt --cipher aws-lc -i FILE -o -` → /dev/null",
            median(file_lc),
        ),
        (
            "`cipherdrop encrypt --cipher rustcrypto -i FILE -o -` → /dev/null",
            median(file_rc),
        ),
        (
            "a pipe into `cat > /dev/null` (the ceiling of any stdin figure)",
            median(pipe),
        ),
    ] {
        println!("| {name} | {v:.0} | {} |", pct(v));
    }
}
