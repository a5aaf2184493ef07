//! Completion checks what S3 holds before recording it: a message that differs in any way from
//! what was issued (size, framing, EDK, not a message at all) is deleted and the upload
//! `rejected`; the same upload done honestly completes.

use cipherdrop_api::{CompletedPart, CreateUploadRequest, CreateUploadResponse, SUITE_COMMIT_KEY};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{Client, code_of, encrypt_for, status_of};
use reqwest::Method;

use crate::util::TestApp;

const LEN: usize = 100;

/// Makes a forged message for an upload.
type Forge<'a> = Box<dyn Fn(&CreateUploadResponse) -> Vec<u8> + 'a>;
const FRAME: u32 = 4096;

async fn create(c: &Client) -> CreateUploadResponse {
    c.create_upload(&CreateUploadRequest {
        plaintext_size: LEN as u64,
        suite: SUITE_COMMIT_KEY,
        frame_length: FRAME,
        public_key: None,
    })
    .await
    .unwrap()
}

/// Puts `bytes` as the upload's only part and completes it.
async fn complete_with(
    c: &Client,
    up: &CreateUploadResponse,
    bytes: Vec<u8>,
) -> anyhow::Result<()> {
    // The end of a 0x0578 message gets its URL for the length it has, as the page asks for it.
    let url = match up.parts.first() {
        Some(p) => p.url.clone(),
        None => c.part_url_sized(&up.upload_id, 1, bytes.len()).await?[0]
            .url
            .clone(),
    };
    let etag = c.put_part(&url, bytes).await?;
    c.complete(
        &up.upload_id,
        &[CompletedPart {
            part_number: 1,
            etag,
        }],
        b"name",
    )
    .await
    .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_refuses_any_message_but_the_one_issued() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let plain = data(LEN, 1);
    let other = create(&alice).await;

    let forgeries: Vec<(&str, Forge<'_>)> = vec![
        (
            "one byte too many",
            Box::new(|up: &CreateUploadResponse| {
                let mut m = encrypt_for(up, None, FRAME, &data(LEN, 1)).unwrap();
                m.push(0);
                m
            }),
        ),
        (
            "one plaintext byte more than declared",
            Box::new(|up: &CreateUploadResponse| {
                encrypt_for(up, None, FRAME, &data(LEN + 1, 1)).unwrap()
            }),
        ),
        (
            "another frame length",
            Box::new(|up: &CreateUploadResponse| {
                encrypt_for(up, None, 1024, &data(LEN, 1)).unwrap()
            }),
        ),
        (
            "another upload's data key and EDK",
            Box::new(|up: &CreateUploadResponse| {
                let mut forged = up.clone();
                forged.data_key = other.data_key.clone();
                forged.edk = other.edk.clone();
                encrypt_for(&forged, None, FRAME, &data(LEN, 1)).unwrap()
            }),
        ),
        (
            "not an ESDK message",
            Box::new(|_: &CreateUploadResponse| data(400, 7)),
        ),
    ];
    for (what, forge) in &forgeries {
        let up = create(&alice).await;
        let forged = forge(&up);
        let same_length = forged.len() as u64 == up.ciphertext_size;
        let e = complete_with(&alice, &up, forged).await.unwrap_err();
        let (_, st) = alice
            .call(Method::GET, &format!("/api/uploads/{}", up.upload_id), None)
            .await
            .unwrap();
        if same_length {
            // Past S3, the header check refuses it and the object is deleted.
            assert_eq!(
                (status_of(&e), code_of(&e).as_str()),
                (422, "header_mismatch"),
                "{what}"
            );
            assert_eq!(st["state"], "rejected", "{what}");
        } else {
            // A 0x0478 part URL signs the part's exact length: S3 refuses any other body.
            assert_eq!((status_of(&e), code_of(&e).as_str()), (403, "s3"), "{what}");
            assert_eq!(st["state"], "pending", "{what}: nothing was stored");
        }
        let gone = alice.details(&up.object_id).await.unwrap_err();
        assert_eq!(status_of(&gone), 404, "{what}: never listed");
    }

    // 0x0578: the last part's URL signs the length the client names, and only a length the
    // declared message allows: 8 bytes past the longest possible message get no URL at all; the
    // honest message completes.
    let signing = cipherdrop_core::SigningKey::generate(&mut rand::rng());
    let up = alice
        .create_upload(&CreateUploadRequest {
            plaintext_size: LEN as u64,
            suite: cipherdrop_api::SUITE_COMMIT_KEY_ECDSA_P384,
            frame_length: FRAME,
            public_key: Some(signing.public_key_base64()),
        })
        .await
        .unwrap();
    let honest = encrypt_for(&up, Some(signing), FRAME, &plain).unwrap();
    let mut longer = honest.clone();
    longer.extend_from_slice(&[0; 8]);
    let e = complete_with(&alice, &up, longer).await.unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (400, "bad_request"));
    complete_with(&alice, &up, honest).await.unwrap();

    // The honest message completes, with exactly the declared size (0x0478).
    let up = create(&alice).await;
    let message = encrypt_for(&up, None, FRAME, &plain).unwrap();
    assert_eq!(message.len() as u64, up.ciphertext_size);
    complete_with(&alice, &up, message).await.unwrap();
    assert_eq!(alice.download(&up.object_id).await.unwrap(), plain);
    let (_, list) = alice.call(Method::GET, "/api/objects", None).await.unwrap();
    assert_eq!(
        list["objects"].as_array().unwrap().len(),
        2,
        "the two honest messages, and nothing forged"
    );
}
