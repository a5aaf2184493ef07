//! E-mail notifications against a real SMTP server (aiosmtpd: STARTTLS required, AUTH), the
//! password in Parameter Store (moto): an address is used only once confirmed with the code
//! mailed to it (three codes a day), an address cannot smuggle a header in, each event goes to
//! the channels its account chose (none, badge, e-mail, webhook), messages name no file and
//! carry no link secret, a rotated password is read again after the server refuses the old one,
//! and links and requests about to expire and an account near its limit are told once.

use aws_sdk_ssm::types::ParameterType;
use cipherdrop_api::SUITE_COMMIT_KEY;
use cipherdrop_server::mailer::SmtpSettings;
use cipherdrop_server::secrets::{PasswordSource, Settings};
use cipherdrop_testkit::data;
use cipherdrop_testkit::peers::SmtpServer;
use cipherdrop_testkit::server::{Client, status_of};
use reqwest::Method;
use serde_json::json;

use crate::util::TestApp;

const PARAMETER: &str = "/cipherdrop/smtp-password";

async fn ssm(moto: &str) -> aws_sdk_ssm::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(moto)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_ssm::Client::new(&conf)
}

async fn set_password(ssm: &aws_sdk_ssm::Client, value: &str) {
    ssm.put_parameter()
        .name(PARAMETER)
        .value(value)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

async fn prefs(c: &Client, body: serde_json::Value) -> anyhow::Result<serde_json::Value> {
    Ok(c.call(Method::PUT, "/api/notifications", Some(&body))
        .await?
        .1)
}

/// A message's text with quoted-printable soft line breaks joined.
fn plain(message: &str) -> String {
    message.replace("=\r\n", "").replace("=\n", "")
}

/// The code in the latest message.
fn code_in(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 11 && l.as_bytes()[5] == b'-')
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_mail_goes_to_confirmed_addresses_for_the_events_chosen_and_names_no_file() {
    let moto = cipherdrop_testkit::server::start_moto().unwrap();
    let ssm = ssm(&moto.url).await;
    set_password(&ssm, "first password").await;
    let password_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(password_file.path(), "first password").unwrap();
    let smtp =
        SmtpServer::start("mailer", &format!("@{}", password_file.path().display())).unwrap();
    let settings = SmtpSettings {
        host: "127.0.0.1".into(),
        port: smtp.port,
        implicit_tls: false,
        username: Some("mailer".into()),
        password: Some(PasswordSource::Parameter(PARAMETER.into())),
        secrets: Settings {
            region: Some("us-east-1".into()),
            endpoint: Some(moto.url.clone()),
            credentials: Some(("testing".into(), "testing".into())),
        },
        from: "Cipherdrop <noreply@cipherdrop.test>".into(),
        ca_pem: Some(smtp.ca_pem().unwrap()),
    };
    let app = TestApp::start_with(|c| {
        c.smtp = Some(settings);
        c.webhook_private_targets = true;
        c.notify_interval = std::time::Duration::from_secs(3600);
        c.quota.stored_bytes = 1_000_000;
    })
    .await;
    let (_admin, alice, bob) = app.accounts().await;

    // Defaults: no address; badge and webhooks for what the page has badges for.
    let (_, got) = alice
        .call(Method::GET, "/api/notifications", None)
        .await
        .unwrap();
    assert_eq!(got["email"], serde_json::Value::Null);
    assert_eq!(got["email_available"], true);
    assert_eq!(
        got["events"][0],
        json!({"event": "link.used", "channels": ["badge", "webhook"]})
    );
    assert_eq!(
        got["events"][4],
        json!({"event": "quota.near", "channels": ["webhook"]})
    );

    // An address that would become a second header, a name, two addresses, a long one: refused.
    for bad in [
        "alice@example.test\r\nBcc: mallory@example.test",
        "alice@example.test\nSubject: free money",
        "Alice <alice@example.test>",
        "alice@example.test, mallory@example.test",
        &format!("{}@example.test", "a".repeat(300)),
    ] {
        let e = prefs(&alice, json!({"email": bad})).await.unwrap_err();
        assert_eq!(status_of(&e), 400, "{bad:?}");
    }
    // Channels an event does not have, events that do not exist.
    for bad in [
        json!({"events": [{"event": "quota.near", "channels": ["badge"]}]}),
        json!({"events": [{"event": "link.exploded", "channels": []}]}),
        json!({"events": [{"event": "link.used", "channels": ["pigeon"]}]}),
        json!({"events": [{"event": "link.used", "channels": []}, {"event": "link.used", "channels": ["badge"]}]}),
        json!({"events": vec![json!({"event": "link.used", "channels": []}); 10_000]}),
    ] {
        let e = prefs(&alice, bad.clone()).await.unwrap_err();
        assert!(matches!(status_of(&e), 400 | 422), "{bad}: {e}");
    }
    assert_eq!(app.server.deliver_mail().await.unwrap(), 0);
    assert!(smtp.messages().is_empty());

    // A new address gets a code, and is used only once confirmed with it.
    let got = prefs(
        &alice,
        json!({"email": "alice@example.test", "events": [
            {"event": "link.used", "channels": ["email"]},
            {"event": "request.received", "channels": ["badge", "email"]},
            {"event": "link.expiring", "channels": ["email"]},
            {"event": "request.expiring", "channels": ["email"]},
            {"event": "quota.near", "channels": ["email"]},
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(got["email"], serde_json::Value::Null);
    assert_eq!(got["email_pending"], "alice@example.test");
    assert_eq!(app.server.deliver_mail().await.unwrap(), 1);
    let first = plain(&smtp.messages().pop().unwrap());
    assert!(first.contains("To: alice@example.test"), "{first}");
    assert!(
        first.contains("Subject: Cipherdrop: Confirm this address"),
        "{first}"
    );
    let code = code_in(&first);
    assert_eq!(
        app.sql_texts("SELECT payload FROM mail_outbox").await,
        ["{}"],
        "the code leaves the outbox once sent"
    );
    // Someone else's account cannot use it; a wrong code does nothing.
    for (who, c) in [(&bob, code.as_str()), (&alice, "AAAAA-AAAAA")] {
        let e = who
            .call(
                Method::POST,
                "/api/notifications/confirm",
                Some(&json!({ "code": c })),
            )
            .await
            .unwrap_err();
        assert_eq!(status_of(&e), 400);
    }
    let (_, got) = alice
        .call(
            Method::POST,
            "/api/notifications/confirm",
            Some(&json!({ "code": code.to_lowercase().replace('-', " ") })),
        )
        .await
        .unwrap();
    assert_eq!(got["email"], "alice@example.test");
    assert_eq!(got["email_pending"], serde_json::Value::Null);

    // At most three codes a day: an account cannot make the server mail strangers.
    for n in 0..2 {
        prefs(&alice, json!({"email": format!("other{n}@example.test")}))
            .await
            .unwrap();
    }
    let e = prefs(&alice, json!({"email": "stranger@example.test"}))
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), 429);
    let (_, got) = alice
        .call(Method::GET, "/api/notifications", None)
        .await
        .unwrap();
    assert_eq!(
        got["email_pending"], "other1@example.test",
        "the refused one is not kept"
    );
    // Back to the confirmed address: the change on its way is dropped.
    let got = prefs(&alice, json!({"email": "alice@example.test"}))
        .await
        .unwrap();
    assert_eq!(got["email_pending"], serde_json::Value::Null);
    assert_eq!(app.server.deliver_mail().await.unwrap(), 2);
    assert_eq!(smtp.messages().len(), 3);

    // Bob chose nothing at all for used links (not even his webhook), and has no address.
    let (_, hook) = bob
        .call(
            Method::POST,
            "/api/webhooks",
            Some(&json!({"url": "http://127.0.0.1:9/never"})),
        )
        .await
        .unwrap();
    prefs(
        &bob,
        json!({"events": [{"event": "link.used", "channels": []}]}),
    )
    .await
    .unwrap();
    let bobs = bob
        .upload(&data(5_000, 2), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let bobs_link = bob.share(&bobs, json!({})).await.unwrap();

    // Alice's link is used, a file arrives for her request: two e-mails, no names, no secrets.
    let file = alice
        .upload(&data(20_000, 1), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    let link = alice
        .share(&file, json!({"max_downloads": 3}))
        .await
        .unwrap();
    let stranger = app.client();
    stranger.share_key(link.token(), None).await.unwrap();
    stranger.share_key(bobs_link.token(), None).await.unwrap();
    let request = alice
        .open_request(json!({"title": "tax forms", "max_files": 2, "max_bytes": 100_000}))
        .await
        .unwrap();
    stranger
        .send_to_request(&request, None, b"a form")
        .await
        .unwrap();
    assert_eq!(app.server.deliver_mail().await.unwrap(), 2);
    let all: Vec<String> = smtp.messages().iter().map(|m| plain(m)).collect();
    let (used, received) = (&all[3], &all[4]);
    assert!(
        used.contains("Subject: Cipherdrop: A link to your file was used"),
        "{used}"
    );
    assert!(used.contains("1 of its 3 downloads are taken"), "{used}");
    assert!(
        received.contains("Subject: Cipherdrop: A file arrived for your request"),
        "{received}"
    );
    for m in [used, received] {
        assert!(m.contains("To: alice@example.test"), "{m}");
        assert!(m.contains(&app.url), "a link to the app: {m}");
        for secret in [link.token(), request.as_str(), "tax forms", file.as_str()] {
            assert!(!m.contains(secret), "{secret} in {m}");
        }
    }
    // Alice turned the download badge off, kept the request's.
    let (_, objects) = alice.call(Method::GET, "/api/objects", None).await.unwrap();
    assert!(
        objects["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["new_downloads"] == 0)
    );
    let (_, requests) = alice
        .call(Method::GET, "/api/requests", None)
        .await
        .unwrap();
    assert_eq!(requests["requests"][0]["new_files"], 1);
    // Bob's badge is off and his webhook got nothing.
    let (_, objects) = bob.call(Method::GET, "/api/objects", None).await.unwrap();
    assert_eq!(objects["objects"][0]["new_downloads"], 0);
    let (_, hooks) = bob.call(Method::GET, "/api/webhooks", None).await.unwrap();
    assert_eq!(hooks["webhooks"][0]["id"], hook["webhook"]["id"]);
    assert_eq!(hooks["webhooks"][0]["pending"], 0);
    assert!(
        hooks["webhooks"][0]["deliveries"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The password is rotated in Parameter Store and on the SMTP server: the first attempt is
    // refused with the old one, which is then read again.
    set_password(&ssm, "second password").await;
    std::fs::write(password_file.path(), "second password").unwrap();
    stranger.share_key(link.token(), None).await.unwrap();
    assert_eq!(app.server.deliver_mail().await.unwrap(), 0);
    assert!(
        smtp.log().iter().any(|l| l == "AUTH-FAILED mailer"),
        "{:?}",
        smtp.log()
    );
    app.sql("UPDATE mail_outbox SET next_at_ms = 0").await;
    assert_eq!(app.server.deliver_mail().await.unwrap(), 1);
    assert!(plain(&smtp.messages()[5]).contains("2 of its 3 downloads are taken"));

    // A link and a request that expire within a day are told once; a link that lives an hour
    // is no news.
    let short = alice
        .share(&file, json!({"expires_in_secs": 3600}))
        .await
        .unwrap();
    let _ = short;
    assert_eq!(app.server.notify_scan().await.unwrap(), 0);
    // Days pass: the week-long ones now end in two hours.
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 7200;
    app.sql(&format!("UPDATE shares SET created_at = created_at - 600000, expires_at = {soon} WHERE expires_at - created_at > 86400")).await;
    app.sql(&format!(
        "UPDATE requests SET created_at = created_at - 600000, expires_at = {soon}"
    ))
    .await;
    assert_eq!(
        app.server.notify_scan().await.unwrap(),
        3,
        "alice's link and request, bob's link"
    );
    assert_eq!(app.server.notify_scan().await.unwrap(), 0, "once");
    assert_eq!(
        app.server.deliver_mail().await.unwrap(),
        2,
        "bob has no address"
    );
    let all: Vec<String> = smtp.messages().iter().map(|m| plain(m)).collect();
    assert!(all[6].contains("A link expires within a day"), "{}", all[6]);
    assert!(
        all[7].contains("A file request expires within a day"),
        "{}",
        all[7]
    );

    // Near the storage limit (90% of 1 MB): told once a day, not at every upload.
    alice
        .upload(&data(900_000, 3), SUITE_COMMIT_KEY, 65_536)
        .await
        .unwrap();
    assert_eq!(app.server.deliver_mail().await.unwrap(), 1);
    let near = plain(&smtp.messages().pop().unwrap());
    assert!(
        near.contains("Your account is near its storage limit"),
        "{near}"
    );
    let e = alice
        .upload(&data(200_000, 4), SUITE_COMMIT_KEY, 65_536)
        .await;
    assert!(e.is_err(), "over the limit");
    alice
        .upload(&data(1_000, 5), SUITE_COMMIT_KEY, 4096)
        .await
        .unwrap();
    assert_eq!(app.server.deliver_mail().await.unwrap(), 0);
    assert_eq!(smtp.messages().len(), 9);
    // Twenty new addresses at once from one account: three codes, no more (the count and the
    // insert are one statement, under the account's lock).
    let tries = (0..20).map(|n| {
        let bob = &bob;
        async move { prefs(bob, json!({"email": format!("b{n}@example.test")})).await }
    });
    let outcomes = futures_util::future::join_all(tries).await;
    let ok = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(ok, 3, "{outcomes:?}");
    let refusals: Vec<u16> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().err())
        .map(status_of)
        .collect();
    assert!(
        refusals.iter().all(|s| *s == 429),
        "{refusals:?} {outcomes:?}"
    );
    assert_eq!(app.server.deliver_mail().await.unwrap(), 3);

    // Every message went over TLS to the one server, from the configured sender.
    assert!(
        smtp.log()
            .iter()
            .filter(|l| !l.starts_with("AUTH"))
            .all(|l| l.starts_with("noreply@cipherdrop.test "))
    );
}
