//! The embedded S3 behind presigned URLs: tampered, foreign and expired URLs are refused, the
//! configured maximum object size holds, CORS grants only the app's origin, and no part URL leaves
//! its length open, not even at the end of a signed message.

use cipherdrop_api::{CreateUploadRequest, SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384};
use cipherdrop_core::{SIGNATURE_LEN_SLACK, SigningKey};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{code_of, status_of};
use reqwest::Method;

use crate::util::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_s3_refuses_tampered_and_expired_presigned_urls() {
    let app = TestApp::start_with(|c| {
        c.url_ttl = std::time::Duration::from_secs(5);
        c.max_object_size = 1_000_000;
    })
    .await;
    let alice = app.user("alice").await;
    let object = alice
        .upload(&data(100, 3), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let other = alice
        .upload(&data(100, 4), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let up = alice.open_upload(10).await.unwrap();
    // The configured maximum object size.
    let too_big = alice
        .create_upload(&CreateUploadRequest {
            plaintext_size: 1_000_001,
            suite: SUITE_COMMIT_KEY,
            frame_length: 4096,
            public_key: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (status_of(&too_big), code_of(&too_big).as_str()),
        (413, "too_large")
    );
    let part_url = up.parts[0].url.clone();
    let get_url = alice.details(&object).await.unwrap().download_url;
    let s3 = app.s3_url.clone();
    assert!(part_url.starts_with(&s3) && get_url.starts_with(&s3));

    let flip_signature = |url: &str| {
        let i = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
        let mut s = url.to_owned();
        let c = if &url[i..=i] == "0" { "1" } else { "0" };
        s.replace_range(i..=i, c);
        s
    };
    let http = reqwest::Client::new();
    let status = |r: reqwest::Response| r.status().as_u16();
    // Signature changed, another object's key, another part number, no signature at all.
    let tampered_get = [
        flip_signature(&get_url),
        get_url.replace(&object, &other),
        get_url.split('?').next().unwrap().to_owned(),
    ];
    for url in &tampered_get {
        assert_eq!(status(http.get(url).send().await.unwrap()), 403, "{url}");
    }
    let tampered_put = [
        flip_signature(&part_url),
        part_url.replace("partNumber=1", "partNumber=2"),
    ];
    for url in &tampered_put {
        let r = http.put(url).body(vec![0u8; 10]).send().await.unwrap();
        assert_eq!(status(r), 403, "{url}");
    }
    // The part URL signs the part's length: filling the bucket through the URL of a small upload
    // (a gigabyte through a 10-byte upload's part) is refused, any other length too; the exact
    // length is accepted.
    assert!(part_url.contains("content-length"), "{part_url}");
    let exact = usize::try_from(up.ciphertext_size).unwrap();
    for len in [exact + 1, exact - 1, 64 * 1024 * 1024] {
        match http.put(&part_url).body(vec![0u8; len]).send().await {
            Ok(r) => assert_eq!(
                status(r),
                403,
                "{len} bytes through a {exact}-byte part URL"
            ),
            // S3 may answer 403 and close before a large body is all sent: refused too.
            Err(e) => assert!(e.is_request(), "{len} bytes: {e}"),
        }
    }
    let r = http
        .put(&part_url)
        .body(vec![0u8; exact])
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200);
    // The untampered URLs work, until they expire.
    assert_eq!(status(http.get(&get_url).send().await.unwrap()), 200);
    // Past the 5 s lifetime (generous, so a loaded CI machine cannot expire them early).
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    let r = http.get(&get_url).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("expired"));
    let r = http
        .put(&part_url)
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 403);

    // CORS: the app's origin may PUT and read ETag; another origin gets no CORS grant.
    let pre = |origin: &str| {
        http.request(Method::OPTIONS, &part_url)
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = pre(&app.url).await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        app.url.as_str()
    );
    assert!(
        ok.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("ETag")
    );
    let evil = pre("http://evil.example").await.unwrap();
    assert_eq!(evil.status(), 403);
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_part_url_leaves_its_length_open_even_at_the_end_of_a_signed_message() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = SigningKey::generate(&mut rand::rng());
    // A 0x0578 message of about 6 MiB: part 1 (5 MiB) ends before the shortest possible message,
    // part 2 ends where the signature's length decides.
    let up = alice
        .create_upload(&CreateUploadRequest {
            plaintext_size: 6 * 1024 * 1024,
            suite: SUITE_COMMIT_KEY_ECDSA_P384,
            frame_length: 65536,
            public_key: Some(key.public_key_base64()),
        })
        .await
        .unwrap();
    assert_eq!(up.part_count, 2);
    let numbers = |urls: &[cipherdrop_api::PartUrl]| {
        assert!(
            urls.iter().all(|p| p.url.contains("content-length")),
            "{urls:?}"
        );
        urls.iter().map(|p| p.part_number).collect::<Vec<_>>()
    };
    assert_eq!(numbers(&up.parts), [1], "no URL without a signed length");
    let more = alice.part_urls(&up.upload_id, 1, 100).await.unwrap();
    assert_eq!(numbers(&more), [1]);

    // The page names part 2's length once it has the bytes; only a length the declared message
    // allows gets a URL.
    let (size, part) = (up.ciphertext_size, up.part_size);
    let shortest_last = size - SIGNATURE_LEN_SLACK - part;
    let longest_last = size - part;
    for len in [0, shortest_last - 1, longest_last + 1, part + 1, 1 << 30] {
        let e = alice
            .part_url_sized(&up.upload_id, 2, len as usize)
            .await
            .unwrap_err();
        assert_eq!(status_of(&e), 400, "{len}");
    }
    for (first, count, len) in [(1, 1, part - 1), (3, 1, 10), (0, 1, 10), (1, 2, part)] {
        let path = format!(
            "/api/uploads/{}/parts?first={first}&count={count}&length={len}",
            up.upload_id
        );
        let e = alice.call(Method::GET, &path, None).await.unwrap_err();
        assert_eq!(status_of(&e), 400, "{path}");
    }
    let sized = alice
        .part_url_sized(&up.upload_id, 2, shortest_last as usize)
        .await
        .unwrap();
    assert_eq!(numbers(&sized), [2]);
    // Filling the bucket through it is refused; the named length is accepted.
    let http = reqwest::Client::new();
    for len in [shortest_last + 1, 64 * 1024 * 1024] {
        match http
            .put(&sized[0].url)
            .body(vec![0u8; len as usize])
            .send()
            .await
        {
            Ok(r) => assert_eq!(r.status().as_u16(), 403, "{len}"),
            Err(e) => assert!(e.is_request(), "{len} bytes: {e}"),
        }
    }
    let r = http
        .put(&sized[0].url)
        .body(vec![0u8; shortest_last as usize])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A certain part's URL asked with its own length is the same kind of URL; any other is refused.
    assert_eq!(
        numbers(
            &alice
                .part_url_sized(&up.upload_id, 1, part as usize)
                .await
                .unwrap()
        ),
        [1]
    );

    // Whole signed uploads of every ending still complete and decrypt (the client asks for the
    // last parts' URLs as the page does).
    for len in [6 * 1024 * 1024, 5 * 1024 * 1024 - 200, 5 * 1024 * 1024 + 1] {
        let plaintext = data(len, 5);
        let id = alice
            .upload(&plaintext, SUITE_COMMIT_KEY_ECDSA_P384, 65536)
            .await
            .unwrap();
        assert_eq!(alice.download(&id).await.unwrap(), plaintext, "{len}");
    }
}
