//! Multi-Region keys: an account's files sealed under a multi-Region key by a server in
//! us-east-1 are downloaded, shared and opened through a second server in eu-west-1 that reaches
//! only its own region's KMS (the replica there, with the same key id and key material), even with
//! the key disabled in us-east-1; the official Python ESDK's multi-Region-aware discovery
//! provider opens the stored objects in eu-west-1 too.

use std::sync::Arc;

use cipherdrop_api::{SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384};
use cipherdrop_server::{AwsSettings, Config, Server};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::Client;
use serde_json::json;

use crate::util::{PASSWORD, TestApp};

const WEST: &str = "eu-west-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_under_a_multi_region_key_open_through_a_server_in_another_region() {
    let app = TestApp::start_with(|c| c.share_releases_per_ip = 100_000).await;
    let (admin, alice, _bob) = app.accounts().await;

    // The KMS of eu-west-1: its own data folder and listener, the account's credentials, linked
    // with us-east-1's for replication.
    let west_dir = app.dir().join("kms-eu-west-1");
    std::fs::create_dir_all(&west_dir).unwrap();
    std::fs::copy(
        app.dir().join("kms/credentials.json"),
        west_dir.join("credentials.json"),
    )
    .unwrap();
    let west_kms = Arc::new(
        cipherdrop_kms::Kms::open(&west_dir, WEST, cipherdrop_kms::DEFAULT_ACCOUNT).unwrap(),
    );
    cipherdrop_kms::Kms::link_regions(&[app.kms_service.clone(), west_kms.clone()]);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut rx = stopped.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let west_kms_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let west_kms_url = format!("http://{}", west_kms_listener.local_addr().unwrap());
    tokio::spawn(cipherdrop_kms::serve(
        west_kms_listener,
        west_kms.clone(),
        until_stopped(),
    ));

    // A multi-Region key made in us-east-1 and replicated; alice's account key.
    let east = app.kms();
    let mrk = east
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let east_arn = mrk.arn.unwrap();
    assert!(east_arn.contains(":us-east-1:") && east_arn.contains(":key/mrk-"));
    let west_arn = east
        .replicate_key()
        .key_id(&east_arn)
        .replica_region(WEST)
        .send()
        .await
        .unwrap()
        .replica_key_metadata
        .unwrap()
        .arn
        .unwrap();
    admin
        .set_account_key("alice", Some(&east_arn))
        .await
        .unwrap();
    let mut files = Vec::new();
    for (i, suite) in [SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384]
        .into_iter()
        .enumerate()
    {
        let plain = data(70_000 + i, 40 + i as u64);
        let id = alice.upload(&plain, suite, 4096).await.unwrap();
        assert_eq!(alice.details(&id).await.unwrap().key_arn, east_arn);
        files.push((id, plain));
    }
    let link = alice.share(&files[0].0, json!({})).await.unwrap();

    // The server of eu-west-1: the same database and bucket, KMS only through eu-west-1.
    let (kms_ak, kms_sk) = {
        let c = west_kms.credentials();
        (c.access_key_id.clone(), c.secret_access_key.clone())
    };
    let s3 =
        cipherdrop_s3::Credentials::load_or_create(&app.dir().join("s3-credentials.json")).unwrap();
    let aws = cipherdrop_server::Aws::connect(&AwsSettings {
        s3_region: "us-east-1".into(),
        kms_region: WEST.into(),
        kms_endpoint: Some(west_kms_url.clone()),
        s3_endpoint: Some(app.s3_url.clone()),
        s3_path_style: true,
        kms_credentials: Some((kms_ak.clone(), kms_sk.clone())),
        s3_credentials: Some((s3.access_key_id.clone(), s3.secret_access_key.clone())),
    })
    .await;
    assert_eq!(aws.local_key_id(&east_arn), west_arn);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let west_url = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config::new(&west_url, &west_arn, "cipherdrop");
    config.share_releases_per_ip = 100_000;
    let west_server = Server::new(config, app.db.clone(), aws);
    tokio::spawn(west_server.serve(listener, until_stopped()));

    // us-east-1's key disabled: nothing there can decrypt, eu-west-1 still can.
    east.disable_key().key_id(&east_arn).send().await.unwrap();
    assert!(alice.download(&files[0].0).await.is_err());
    let east_decrypts = app.kms_calls("Decrypt");
    let alice_west = Client::new(&west_url);
    alice_west.login("alice", PASSWORD).await.unwrap();
    for (id, plain) in &files {
        assert_eq!(&alice_west.download(id).await.unwrap(), plain);
    }
    let stranger = Client::new(&west_url);
    let release = stranger.share_key(link.token(), None).await.unwrap();
    assert_eq!(link.fetch(&release).await.unwrap(), files[0].1);
    assert_eq!(
        app.kms_calls("Decrypt"),
        east_decrypts,
        "no call reached us-east-1's KMS"
    );
    let west_log = std::fs::read_to_string(west_dir.join("audit.log")).unwrap();
    assert!(
        west_log
            .lines()
            .filter(|l| l.contains("\"Decrypt\"") && l.contains(&west_arn))
            .count()
            >= 3,
        "{west_log}"
    );

    // The official ESDK in eu-west-1, discovering multi-Region keys of this account only.
    for (id, plain) in &files {
        let stored = alice_west.download_ciphertext(id).await.unwrap();
        let (url, dir) = (west_kms_url.clone(), app.dir().to_owned());
        let (ak, sk) = (kms_ak.clone(), kms_sk.clone());
        let opened = tokio::task::spawn_blocking(move || {
            cipherdrop_testkit::server::esdk_decrypt_mrk_discovery(
                &url,
                (&ak, &sk),
                WEST,
                cipherdrop_kms::DEFAULT_ACCOUNT,
                &stored,
                &dir,
            )
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(&opened, plain);
    }
    // Discovery trusting another account opens nothing.
    let stored = alice_west.download_ciphertext(&files[0].0).await.unwrap();
    let (url, dir) = (west_kms_url.clone(), app.dir().to_owned());
    let refused = tokio::task::spawn_blocking(move || {
        cipherdrop_testkit::server::esdk_decrypt_mrk_discovery(
            &url,
            (&kms_ak, &kms_sk),
            WEST,
            "999999999999",
            &stored,
            &dir,
        )
    })
    .await
    .unwrap();
    let why = format!("{:#}", refused.unwrap_err());
    assert!(
        why.contains("not allowed by this Master Key Provider"),
        "{why}"
    );
    let _ = stop.send(true);
}
