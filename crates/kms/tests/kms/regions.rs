//! Multi-Region keys across two linked embedded KMS services (us-east-1 and eu-west-1, each its
//! own data folder and listener, each answering only requests signed for its region), through the
//! official Rust SDK: one key id and key material in both regions, region-specific ARNs, the
//! primary's rotation reaching the replica, UpdatePrimaryRegion swapping the roles, AWS's error
//! codes for wrong uses, a restart, and a replica's deletion.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::path::Path;
use std::sync::Arc;

use aws_sdk_kms::Client;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyState, MultiRegionKeyType};
use cipherdrop_kms::Kms;

use crate::sdk::{Server, client_in};

const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";

/// Both regions' services, linked, each on its own listener.
async fn regions(east: &Path, west: &Path) -> (Server, Server) {
    let a = Arc::new(Kms::open(east, EAST, "111122223333").unwrap());
    // Both regions sign with the same credentials, as one AWS account does everywhere.
    std::fs::create_dir_all(west).unwrap();
    std::fs::copy(east.join("credentials.json"), west.join("credentials.json")).unwrap();
    let b = Arc::new(Kms::open(west, WEST, "111122223333").unwrap());
    Kms::link_regions(&[a.clone(), b.clone()]);
    (Server::serve(a).await, Server::serve(b).await)
}

fn code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(r: Result<T, E>) -> String {
    r.expect_err("the call should fail")
        .code()
        .unwrap_or("none")
        .to_owned()
}

async fn encrypt(c: &Client, key: &str, text: &[u8]) -> Blob {
    c.encrypt()
        .key_id(key)
        .plaintext(Blob::new(text.to_vec()))
        .encryption_context("purpose", "mrk")
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap()
}

async fn decrypt(c: &Client, key: Option<&str>, blob: &Blob) -> Result<Vec<u8>, String> {
    c.decrypt()
        .set_key_id(key.map(str::to_owned))
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "mrk")
        .send()
        .await
        .map(|o| o.plaintext.unwrap().into_inner())
        .map_err(|e| e.code().unwrap_or("none").to_owned())
}

async fn kind(c: &Client, key: &str) -> (MultiRegionKeyType, String, Vec<String>) {
    let m = c
        .describe_key()
        .key_id(key)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(m.multi_region, Some(true));
    let conf = m.multi_region_configuration.unwrap();
    (
        conf.multi_region_key_type.unwrap(),
        conf.primary_key.unwrap().region.unwrap(),
        conf.replica_keys
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.region.unwrap())
            .collect(),
    )
}

#[tokio::test]
async fn a_multi_region_key_is_one_key_in_each_region_as_aws_documents() {
    let (east_dir, west_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = regions(east_dir.path(), west_dir.path()).await;
    let (east, west) = (client_in(&a, EAST), client_in(&b, WEST));

    // A primary key in us-east-1.
    let meta = east
        .create_key()
        .multi_region(true)
        .description("documents")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let id = meta.key_id.clone();
    assert!(
        id.starts_with("mrk-") && id.len() == 36 && id[4..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    let east_arn = format!("arn:aws:kms:{EAST}:111122223333:key/{id}");
    let west_arn = format!("arn:aws:kms:{WEST}:111122223333:key/{id}");
    assert_eq!(meta.arn.as_deref(), Some(east_arn.as_str()));
    assert_eq!(
        kind(&east, &id).await,
        (MultiRegionKeyType::Primary, EAST.into(), vec![])
    );
    // Not in the other region until replicated; a single-Region key cannot be.
    assert_eq!(
        code(west.describe_key().key_id(&id).send().await),
        "NotFoundException"
    );
    let single = east
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert!(!single.key_id.starts_with("mrk-"));
    assert_eq!(single.multi_region, Some(false));
    assert_eq!(
        code(
            east.replicate_key()
                .key_id(&single.key_id)
                .replica_region(WEST)
                .send()
                .await
        ),
        "UnsupportedOperationException"
    );
    let before = encrypt(&east, &id, b"sealed before the replica").await;

    // The replica: same key id, its own region's ARN.
    let out = east
        .replicate_key()
        .key_id(&east_arn)
        .replica_region(WEST)
        .description("documents, Europe")
        .send()
        .await
        .unwrap();
    let replica = out.replica_key_metadata.unwrap();
    assert_eq!(
        (replica.key_id.as_str(), replica.arn.as_deref()),
        (id.as_str(), Some(west_arn.as_str()))
    );
    assert_eq!(replica.key_state, Some(KeyState::Enabled));
    assert!(out.replica_policy.unwrap().contains("kms:*"));
    assert_eq!(
        kind(&east, &id).await,
        (MultiRegionKeyType::Primary, EAST.into(), vec![WEST.into()])
    );
    assert_eq!(
        kind(&west, &id).await,
        (MultiRegionKeyType::Replica, EAST.into(), vec![WEST.into()])
    );

    // Each region opens what the other sealed, through its own ARN only.
    assert_eq!(
        decrypt(&west, None, &before).await.unwrap(),
        b"sealed before the replica"
    );
    assert_eq!(
        decrypt(&west, Some(&west_arn), &before).await.unwrap(),
        b"sealed before the replica"
    );
    assert_eq!(
        decrypt(&west, Some(&east_arn), &before).await,
        Err("NotFoundException".into()),
        "another region's ARN is not found here, as in AWS"
    );
    let from_west = encrypt(&west, &id, b"sealed in Europe").await;
    assert_eq!(
        decrypt(&east, Some(&id), &from_west).await.unwrap(),
        b"sealed in Europe"
    );

    // Wrong uses, with AWS's codes.
    for (what, e) in [
        (
            "again",
            code(
                east.replicate_key()
                    .key_id(&id)
                    .replica_region(WEST)
                    .send()
                    .await,
            ),
        ),
        (
            "from a replica",
            code(
                west.replicate_key()
                    .key_id(&id)
                    .replica_region("ap-south-1")
                    .send()
                    .await,
            ),
        ),
        (
            "to a region not served",
            code(
                east.replicate_key()
                    .key_id(&id)
                    .replica_region("ap-south-1")
                    .send()
                    .await,
            ),
        ),
        (
            "to no region",
            code(
                east.replicate_key()
                    .key_id(&id)
                    .replica_region("Narnia")
                    .send()
                    .await,
            ),
        ),
        (
            "rotation of a replica",
            code(west.rotate_key_on_demand().key_id(&id).send().await),
        ),
        (
            "deletion of a primary with replicas",
            code(
                east.schedule_key_deletion()
                    .key_id(&id)
                    .pending_window_in_days(7)
                    .send()
                    .await,
            ),
        ),
        (
            "primary region without a replica",
            code(
                east.update_primary_region()
                    .key_id(&id)
                    .primary_region("ap-south-1")
                    .send()
                    .await,
            ),
        ),
    ] {
        let want = match what {
            "again" => "AlreadyExistsException",
            "to no region" => "ValidationException",
            "primary region without a replica" => "NotFoundException",
            _ => "UnsupportedOperationException",
        };
        assert_eq!(e, want, "{what}");
    }

    // The primary's rotation reaches the replica: what it seals after opens in Europe.
    east.rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    let rotated = encrypt(&east, &id, b"after the rotation").await;
    assert_eq!(
        decrypt(&west, None, &rotated).await.unwrap(),
        b"after the rotation"
    );
    // Key states are each region's own.
    west.disable_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        decrypt(&west, None, &rotated).await,
        Err("DisabledException".into())
    );
    assert_eq!(
        decrypt(&east, None, &rotated).await.unwrap(),
        b"after the rotation"
    );
    west.enable_key().key_id(&id).send().await.unwrap();

    // Europe becomes the primary.
    east.update_primary_region()
        .key_id(&id)
        .primary_region(WEST)
        .send()
        .await
        .unwrap();
    assert_eq!(
        kind(&west, &id).await,
        (MultiRegionKeyType::Primary, WEST.into(), vec![EAST.into()])
    );
    assert_eq!(
        kind(&east, &id).await,
        (MultiRegionKeyType::Replica, WEST.into(), vec![EAST.into()])
    );
    assert_eq!(
        code(east.rotate_key_on_demand().key_id(&id).send().await),
        "UnsupportedOperationException"
    );
    west.rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    let third = encrypt(&west, &id, b"third backing key").await;
    assert_eq!(
        decrypt(&east, None, &third).await.unwrap(),
        b"third backing key"
    );

    // A restart of both keeps every record.
    a.stop().await;
    b.stop().await;
    let (a, b) = regions(east_dir.path(), west_dir.path()).await;
    let (east, west) = (client_in(&a, EAST), client_in(&b, WEST));
    assert_eq!(
        kind(&east, &id).await,
        (MultiRegionKeyType::Replica, WEST.into(), vec![EAST.into()])
    );
    for blob in [&before, &from_west, &rotated, &third] {
        assert!(decrypt(&east, None, blob).await.is_ok());
        assert!(decrypt(&west, None, blob).await.is_ok());
    }

    // The replica in us-east-1 deleted: the primary stops listing it.
    east.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    a.kms.advance_clock(8 * 86_400);
    assert_eq!(
        code(east.describe_key().key_id(&id).send().await),
        "NotFoundException"
    );
    assert_eq!(
        kind(&west, &id).await,
        (MultiRegionKeyType::Primary, WEST.into(), vec![])
    );
    assert!(decrypt(&west, None, &before).await.is_ok());
    a.stop().await;
    b.stop().await;
}
