//! What KMS or S3 say when they refuse stays in the server's log: the client gets which service
//! failed and an error id, never the service's message (AWS messages name accounts, roles, keys).

use cipherdrop_testkit::server::{code_of, status_of};

use crate::util::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_error_messages_reach_the_log_not_the_client() {
    let app = TestApp::start_with(|c| c.kms_key_id = "alias/cipherdrop".into()).await;
    let alice = app.user("alice").await;
    // A disabled key is a state the page can say in words (key_unusable), and those words are
    // ours: nothing of the key or the account.
    let kms = app.kms();
    kms.disable_key().key_id(&app.key_arn).send().await.unwrap();
    let e = alice.open_upload(10).await.unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (409, "key_unusable"));
    let account = app.key_arn.split(':').nth(4).unwrap();
    assert!(!format!("{e}").contains(account), "{e}");
    kms.enable_key().key_id(&app.key_arn).send().await.unwrap();
    // An operator's mistake KMS refuses in its own words, which name the key and the account:
    // the alias pointed at a signing key.
    let signing = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::EccNistP384)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    kms.delete_alias()
        .alias_name("alias/cipherdrop")
        .send()
        .await
        .unwrap();
    kms.create_alias()
        .alias_name("alias/cipherdrop")
        .target_key_id(&signing)
        .send()
        .await
        .unwrap();
    let e = alice.open_upload(10).await.unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (502, "kms_error"));
    let message = format!("{e}");
    assert!(
        !message.contains(account),
        "the account id leaked: {message}"
    );
    assert!(
        !message.contains("SIGN_VERIFY") && !message.contains(&signing),
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
    assert!(line.contains("InvalidKeyUsageException"), "{line}");
    // The owner's view of the audit log carries the id too, not the message.
    let rows = app.audit_rows("key.issued").await;
    let errors: Vec<&str> = rows
        .iter()
        .filter(|r| r["outcome"] == "error")
        .map(|r| r["detail"].as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 2, "{rows:?}");
    assert!(errors.iter().any(|d| d.contains(&id)), "{errors:?}");
    assert!(!errors.iter().any(|d| d.contains(account)), "{errors:?}");
}
