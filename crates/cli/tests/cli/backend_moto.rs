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
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{
    ServerProcess, aws_env, esdk_decrypt, python_aws, setup_accounts, start_moto,
};

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");
const CREDS: (&str, &str) = ("testing", "testing");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_and_download_through_moto() {
    let moto = start_moto().unwrap();
    let moto_url = moto.url.clone();
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
    // Part URLs sign the part's length. Record what moto does with another length (AWS and the
    // embedded S3 refuse it: 403 SignatureDoesNotMatch, see the server's presigned tests).
    let up = alice.open_upload(10).await.unwrap();
    let url = &up.parts[0].url;
    assert!(url.contains("content-length"), "{url}");
    let exact = usize::try_from(up.ciphertext_size).unwrap();
    let put = |n: usize| reqwest::Client::new().put(url).body(vec![0u8; n]).send();
    let longer = put(exact + 1000).await.unwrap().status().as_u16();
    let right = put(exact).await.unwrap().status().as_u16();
    assert_eq!(right, 200);
    eprintln!("moto answered {longer} to a body longer than the signed length");
    assert_eq!(
        longer, MOTO_WRONG_LENGTH_STATUS,
        "moto changed how it treats signed lengths"
    );
    // Resuming through moto: the pending key comes back through moto's KMS. Moto's ListParts
    // answer has the root element `ListPartsResponse` where AWS has `ListPartsResult`, which the
    // Rust SDK refuses: the server says S3 failed (502, the reason in its log), and does not
    // guess which parts are there.
    let e = alice
        .call(
            reqwest::Method::GET,
            &format!("/api/uploads/{}", up.upload_id),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        cipherdrop_testkit::server::status_of(&e),
        MOTO_LIST_PARTS_STATUS
    );
    assert!(
        server.logs().contains("expected ListPartsResult"),
        "moto's ListParts answer changed: check the status route against it"
    );
    let again = alice.pending_key(&up.upload_id).await.unwrap();
    assert_eq!(again.data_key.expose(), up.data_key.expose());
}

/// What moto 5.2.5 answers to a part whose length differs from the one the presigned URL signs:
/// it does not enforce the signed length and stores the part (AWS refuses it). Deployments rely on AWS or the
/// embedded S3 for this defence, not on moto.
const MOTO_WRONG_LENGTH_STATUS: u16 = 200;

/// What the server answers for an upload's parts through moto 5.2.5, whose `ListParts` response
/// the AWS SDK cannot read (root element `ListPartsResponse`; AWS and the SDK say
/// `ListPartsResult`). The embedded S3 and AWS answer with the parts.
const MOTO_LIST_PARTS_STATUS: u16 = 502;
