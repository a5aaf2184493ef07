//! What KMS or S3 say when they refuse stays in the server's log: the client gets which service
//! failed and an error id, never the service's message (AWS messages name accounts, roles, keys).

use cipherdrop_testkit::server::{code_of, status_of};

use crate::util::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_error_messages_reach_the_log_not_the_client() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    app.kms()
        .disable_key()
        .key_id(&app.key_arn)
        .send()
        .await
        .unwrap();
    let e = alice.open_upload(10).await.unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (502, "kms_error"));
    let message = format!("{e}");
    let account = app.key_arn.split(':').nth(4).unwrap();
    assert!(
        !message.contains(account),
        "the account id leaked: {message}"
    );
    assert!(
        !message.contains("isabled"),
        "the service's words leaked: {message}"
    );
    let id = message
        .split("error id ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect::<String>();
    assert_eq!(id.len(), 32, "{message}");
    // The log has the id with the service's own message.
    let logs = app.logs();
    let line = logs
        .lines()
        .find(|l| l.contains(&id))
        .expect("logged with its id");
    assert!(line.contains("DisabledException"), "{line}");
    // The owner's view of the audit log carries the id too, not the message.
    let rows = app.audit_rows("key.issued").await;
    let row = rows.iter().find(|r| r["outcome"] == "error").unwrap();
    assert!(row["detail"].as_str().unwrap().contains(&id));
    assert!(!row["detail"].as_str().unwrap().contains(account));
}
