//! The audit log pushed out in batches: to a bucket, each batch an export that checks on its own
//! and all of them as one chain, nothing lost or repeated while the bucket refuses; to a webhook
//! checked by the reference Standard Webhooks library (`tests/py/webhook_receiver.py`), a
//! receiver that is down getting the same batch (the same `webhook-id`) again, a forged or
//! edited batch refused by the receiver and by `verify_export`.

use cipherdrop_server::audit::verify_export;
use cipherdrop_server::audit_push::{Settings, Target};
use cipherdrop_server::webhook::Secret;
use cipherdrop_testkit::peers::WebhookReceiver;

use crate::audit::append;
use crate::util::TestApp;

async fn audit_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Checks `batches` (in order) one by one and as one chain: each continues after the last row of
/// the one before; returns the rows they hold together.
fn check_chain(batches: &[Vec<u8>]) -> u64 {
    let mut rows = 0;
    let mut last: Option<serde_json::Value> = None;
    for (i, b) in batches.iter().enumerate() {
        let report = verify_export(&b[..], &[]).unwrap();
        assert!(
            report.problems.is_empty(),
            "batch {i}: {:?}",
            report.problems
        );
        let text = String::from_utf8(b.clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let since = &lines[0]["since"];
        match &last {
            None => assert!(since.is_null(), "the first batch starts the chain"),
            Some(head) => {
                assert_eq!(since["id"], head["id"], "batch {i} continues the last");
                assert_eq!(since["hash"], head["hash"], "batch {i} continues the last");
            }
        }
        last = lines.iter().find(|l| l["kind"] == "head").cloned();
        rows += report.rows;
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_in_a_bucket_check_as_one_chain_and_a_refusal_loses_nothing() {
    let app = TestApp::start_with(|c| {
        let mut s = Settings::new(Target::Bucket {
            bucket: "audit-copies".into(),
            prefix: "audit-log/".into(),
        });
        s.batch_rows = 7;
        c.audit_push = Some(s);
    })
    .await;
    let _ = app.accounts().await;
    append(&app.db, 10, "before the bucket exists").await;
    // The bucket does not exist yet: the push fails, and where the target stands does not move.
    let e = app.server.push_audit().await.unwrap_err();
    assert!(e.to_string().contains("did not take rows 1-7"), "{e}");
    app.s3()
        .create_bucket()
        .bucket("audit-copies")
        .send()
        .await
        .unwrap();
    let pushed = app.server.push_audit().await.unwrap();
    let total = audit_rows(&app).await;
    assert_eq!(pushed, u64::try_from(total).unwrap(), "every row, once");
    assert_eq!(app.server.push_audit().await.unwrap(), 0, "nothing new");
    append(&app.db, 3, "later").await;
    assert_eq!(app.server.push_audit().await.unwrap(), 3);

    let listed = app
        .s3()
        .list_objects_v2()
        .bucket("audit-copies")
        .prefix("audit-log/")
        .send()
        .await
        .unwrap();
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    keys.sort();
    assert!(keys.len() >= 3, "{keys:?}");
    assert!(keys[0].starts_with("audit-log/00000000000000000001-00000000000000000007"));
    let mut batches = Vec::new();
    for k in &keys {
        let got = app
            .s3()
            .get_object()
            .bucket("audit-copies")
            .key(k)
            .send()
            .await
            .unwrap();
        batches.push(got.body.collect().await.unwrap().into_bytes().to_vec());
    }
    assert_eq!(check_chain(&batches), u64::try_from(total + 3).unwrap());
    // An edited batch does not check.
    let mut edited = String::from_utf8(batches[1].clone()).unwrap();
    edited = edited.replacen("\"outcome\":\"ok\"", "\"outcome\":\"refused\"", 1);
    let report = verify_export(edited.as_bytes(), &[]).unwrap();
    assert!(
        !report.problems.is_empty(),
        "an edited batch must not verify"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_batches_verify_with_the_reference_library_and_come_again_after_a_500() {
    let (secret, text) = Secret::generate();
    let rx = WebhookReceiver::start(&text, 1).unwrap();
    let url = format!("http://127.0.0.1:{}/audit", rx.port);
    let app = TestApp::start_with(|c| {
        let mut s = Settings::new(Target::Webhook {
            url: url.clone(),
            secret,
        });
        s.batch_rows = 50;
        c.audit_push = Some(s);
    })
    .await;
    let _ = app.accounts().await;
    // The receiver is down for the first delivery (500): nothing moves.
    let e = app.server.push_audit().await.unwrap_err();
    assert!(e.to_string().contains("answered 500"), "{e}");
    assert!(
        !e.to_string().contains("/audit"),
        "a URL's path stays out of messages"
    );
    let pushed = app.server.push_audit().await.unwrap();
    assert_eq!(pushed, u64::try_from(audit_rows(&app).await).unwrap());
    let log = std::fs::read_to_string(rx.dir.path().join("requests.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0].split(' ').next(), Some("500"));
    assert_eq!(
        lines[0].split(' ').nth(1),
        lines[1].split(' ').nth(1),
        "the same batch, the same webhook-id: {log}"
    );
    assert!(lines[1..].iter().all(|l| l.starts_with("204 ")), "{log}");
    let mut names: Vec<_> = std::fs::read_dir(rx.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort_by_key(|n| {
        n.trim_start_matches("audit-")
            .split('-')
            .next()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    });
    // Each body's `data.lines`, one per line, is the export.
    let batches: Vec<Vec<u8>> = names
        .iter()
        .map(|n| {
            let body: serde_json::Value =
                serde_json::from_slice(&std::fs::read(rx.dir.path().join(n)).unwrap()).unwrap();
            assert_eq!(body["type"], "audit.batch");
            let mut export = Vec::new();
            for line in body["data"]["lines"].as_array().unwrap() {
                export.extend_from_slice(line.to_string().as_bytes());
                export.push(b'\n');
            }
            export
        })
        .collect();
    assert_eq!(check_chain(&batches), pushed);

    // A delivery signed with another secret, or with its body changed, is refused by the
    // reference library.
    let (other, _) = Secret::generate();
    let body = serde_json::to_vec(&serde_json::json!({
        "type": "audit.batch", "timestamp": "2026-12-07T00:00:00Z",
        "data": {"first": 1, "last": 1, "lines": []}
    }))
    .unwrap();
    let send = |signature: String, body: Vec<u8>| {
        let url = url.clone();
        async move {
            reqwest::Client::new()
                .post(&url)
                .header("webhook-id", "audit-forged")
                .header(
                    "webhook-timestamp",
                    (std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs())
                    .to_string(),
                )
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    assert_eq!(
        send(other.sign("audit-forged", now, &body), body.clone()).await,
        400
    );
    let right = Secret::parse(&text).unwrap();
    let mut changed = body.clone();
    changed.push(b'\n');
    assert_eq!(
        send(right.sign("audit-forged", now, &body), changed).await,
        400
    );
    assert_eq!(
        send(right.sign("audit-forged", now, &body), body).await,
        204
    );
}
