//! The backend against moto, a third-party implementation of the AWS KMS and S3 protocols: the
//! same upload and download protocol, then the official Python ESDK decrypts the stored object
//! through moto's KMS.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;

use cipherdrop_api::{SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384};
use cipherdrop_e2e::data;
use cipherdrop_e2e::server::{
    ServerProcess, aws_env, esdk_decrypt, python_aws, setup_accounts, start_moto,
};

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");
const CREDS: (&str, &str) = ("testing", "testing");

struct Moto(std::process::Child);
impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_and_download_through_moto() {
    let (child, moto_url) = start_moto().unwrap();
    let _moto = Moto(child);
    let arn = python_aws(
        &moto_url,
        Some(&moto_url),
        CREDS,
        &["setup", "cipherdrop-moto"],
    )
    .unwrap()
    .trim()
    .to_owned();
    assert!(arn.starts_with("arn:aws:kms:"), "{arn}");
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        Path::new(BIN),
        dir.path(),
        &[
            "--kms-key-id",
            &arn,
            "--kms-endpoint",
            &moto_url,
            "--s3-bucket",
            "cipherdrop-moto",
            "--s3-endpoint",
            &moto_url,
            "--s3-path-style",
        ],
        &aws_env(CREDS.0, CREDS.1),
    )
    .unwrap();
    let (_admin, alice, _bob) = setup_accounts(&server, Path::new(BIN)).await.unwrap();
    for (i, (len, suite)) in [
        (70_000usize, SUITE_COMMIT_KEY_ECDSA_P384),
        (11 * 1024 * 1024 + 5, SUITE_COMMIT_KEY),
    ]
    .into_iter()
    .enumerate()
    {
        let plaintext = data(len, i as u64);
        let id = alice.upload(&plaintext, suite, 65536).await.unwrap();
        assert!(alice.download(&id).await.unwrap() == plaintext, "case {i}");
        let details = alice.details(&id).await.unwrap();
        assert!(details.download_url.starts_with(&moto_url));
        let ciphertext = alice.download_ciphertext(&id).await.unwrap();
        let official =
            esdk_decrypt(&moto_url, CREDS, &details.key_arn, &ciphertext, dir.path()).unwrap();
        assert!(
            official == plaintext,
            "case {i}: official ESDK through moto differs"
        );
    }
}
