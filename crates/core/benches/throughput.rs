//! Native throughput: our streaming encrypt/decrypt beside raw `aes-gcm` on the same buffer, and
//! beside the official Python ESDK (figures read from `bench/esdk_python.py`'s JSON output).
//!
//! `cargo bench -p cipherdrop-core --bench throughput -- DATA_FILE [PYTHON_JSON]`
//! (`make bench` does all of it). Medians of 5 interleaved runs after one warm-up; MB/s = 10^6 bytes/s.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::time::Instant;

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
use cipherdrop_core::{
    AesGcmCipher, DecryptLimits, Decryptor, EncryptionContext, EncryptionMaterials, Encryptor,
    RawAesKeyring, Suite,
};

const RUNS: usize = 5;

fn mbps(bytes: usize, f: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    f();
    bytes as f64 / t.elapsed().as_secs_f64() / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs the contenders round-robin (one warm-up round, then `RUNS` rounds), so that drift in the
/// machine's speed (a shared 2-core VM) hits all of them alike; returns each one's median.
fn interleaved<const N: usize>(bytes: usize, fs: &mut [&mut dyn FnMut(); N]) -> [f64; N] {
    let mut samples: [Vec<f64>; N] = std::array::from_fn(|_| Vec::new());
    for round in 0..=RUNS {
        for (i, f) in fs.iter_mut().enumerate() {
            let v = mbps(bytes, *f);
            if round > 0 {
                samples[i].push(v);
            }
        }
    }
    samples.map(median)
}

fn raw_aes_gcm(buf: &mut [u8], chunk: usize) {
    let cipher = Aes256Gcm::new(&[7u8; 32].into());
    let mut tags = 0u8;
    for (i, c) in buf.chunks_mut(chunk).enumerate() {
        let mut nonce = [0u8; 12];
        nonce[8..].copy_from_slice(&(i as u32).to_be_bytes());
        let tag = cipher
            .encrypt_inout_detached(&nonce.into(), b"aad", InOutBuf::from(c))
            .unwrap();
        tags ^= tag[0];
    }
    std::hint::black_box(tags);
}

fn encrypt_stream(ring: &RawAesKeyring, frame: u32, data: &[u8], push: usize) -> usize {
    let mut rng = rand::rng();
    let ctx: EncryptionContext = [("bench", "1")].into_iter().collect();
    let m = EncryptionMaterials::with_raw_aes(Suite::CommitKey, &ctx, &[ring], &mut rng).unwrap();
    let mut enc = Encryptor::<AesGcmCipher>::new(m, frame, &mut rng).unwrap();
    let mut out = Vec::with_capacity(2 * push + frame as usize);
    let mut total = 0;
    for chunk in data.chunks(push) {
        enc.push(chunk, &mut out).unwrap();
        total += out.len();
        out.clear();
    }
    enc.finish(&mut out).unwrap();
    total + out.len()
}

fn encrypt_whole(ring: &RawAesKeyring, frame: u32, data: &[u8]) -> Vec<u8> {
    let mut rng = rand::rng();
    let ctx: EncryptionContext = [("bench", "1")].into_iter().collect();
    let m = EncryptionMaterials::with_raw_aes(Suite::CommitKey, &ctx, &[ring], &mut rng).unwrap();
    cipherdrop_core::encrypt(m, frame, data, &mut rng).unwrap()
}

fn decrypt_stream(ring: &RawAesKeyring, msg: &[u8], push: usize) -> usize {
    let mut dec = Decryptor::<_>::new(ring, DecryptLimits::default());
    let mut out = Vec::with_capacity(2 * push + (1 << 20));
    let mut total = 0;
    for chunk in msg.chunks(push) {
        dec.push(chunk, &mut out).unwrap();
        total += out.len();
        out.clear();
    }
    dec.finish().unwrap();
    total
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let data = match args.first() {
        Some(path) => std::fs::read(path).unwrap(),
        None => {
            let mut v = vec![0u8; 256 << 20];
            rand::Rng::fill_bytes(&mut rand::rng(), &mut v);
            v
        }
    };
    let python: Option<serde_json::Value> = args
        .get(1)
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap());
    let n = data.len();
    // Bytes handed to each push (env BENCH_PUSH_MIB, default 1).
    let push_mib: usize = std::env::var("BENCH_PUSH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let push = push_mib << 20;
    let ring = RawAesKeyring::new("bench", "k", &[9u8; 32]).unwrap();
    println!(
        "{} MiB, suite 0x0478, pushes of {push_mib} MiB, median of {RUNS} interleaved runs (MB/s)\n",
        n >> 20
    );
    println!(
        "| frame | raw aes-gcm (frame-sized chunks) | ours encrypt | ratio | ours decrypt | ratio | Python ESDK enc / dec | ours ÷ Python enc / dec |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for frame in [4096u32, 65536, 1 << 20] {
        let mut buf = data.clone();
        let msg = encrypt_whole(&ring, frame, &data);
        let [raw, enc, dec] = interleaved(
            n,
            &mut [
                &mut || raw_aes_gcm(&mut buf, frame as usize),
                &mut || {
                    std::hint::black_box(encrypt_stream(&ring, frame, &data, push));
                },
                &mut || assert_eq!(decrypt_stream(&ring, &msg, push), n),
            ],
        );
        let py = python.as_ref().and_then(|p| {
            let e = p[frame.to_string()]["encrypt"].as_f64()?;
            let d = p[frame.to_string()]["decrypt"].as_f64()?;
            Some((e, d))
        });
        let (py_cell, ratio_cell) = match py {
            Some((e, d)) => (
                format!("{e:.0} / {d:.0}"),
                format!("{:.1}× / {:.1}×", enc / e, dec / d),
            ),
            None => ("—".into(), "—".into()),
        };
        println!(
            "| {} KiB | {raw:.0} | {enc:.0} | {:.0}% | {dec:.0} | {:.0}% | {py_cell} | {ratio_cell} |",
            frame / 1024,
            100.0 * enc / raw,
            100.0 * dec / raw
        );
    }
}
