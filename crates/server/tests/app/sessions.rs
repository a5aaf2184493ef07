//! Session defences: the `__Host-` cookie over https, a request with two session cookies refused
//! (cookie tossing), and setting or resetting a password ends every outstanding login link.

use cipherdrop_testkit::server::{code_of, status_of};
use reqwest::Method;
use serde_json::json;

use crate::util::{PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_host_prefixed_over_https_and_two_are_refused() {
    let app = TestApp::start_with(|c| c.public_origin = "https://files.example".into()).await;
    app.user("alice").await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/login", app.url))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-cipherdrop_session="), "{cookie}");
    assert!(
        cookie.contains("; Path=/;") && cookie.ends_with("; Secure") && !cookie.contains("Domain")
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let me = |cookies: Vec<String>| {
        let mut rq = http.get(format!("{}/api/me", app.url));
        for c in cookies {
            rq = rq.header("cookie", c);
        }
        rq.send()
    };
    assert_eq!(me(vec![pair.clone()]).await.unwrap().status(), 200);
    // A plain-named cookie (which any sibling subdomain can set) is not a session over https.
    let plain = pair.replace("__Host-", "");
    assert_eq!(me(vec![plain]).await.unwrap().status(), 401);
    // Cookie tossing: the user's cookie plus one planted from another port or subdomain, in one
    // header or two, in either order: refused, whoever's session either is.
    let planted = "__Host-cipherdrop_session=planted-token".to_owned();
    for cookies in [
        vec![format!("{pair}; {planted}")],
        vec![planted.clone(), pair.clone()],
    ] {
        let r = me(cookies).await.unwrap();
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "duplicate_session_cookie");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_ends_every_outstanding_login_link() {
    let app = TestApp::start().await;
    // Made without a password: a one-time link; a reset with a password must kill it.
    let first = cipherdrop_server::admin::add_user(&app.db, "carol", None, false)
        .await
        .unwrap()
        .unwrap();
    cipherdrop_server::admin::reset_password(&app.db, "carol", Some(PASSWORD))
        .await
        .unwrap();
    let e = app.client().login_link(&first).await.unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (401, "bad_link"));

    // Two links outstanding; carol uses one and chooses a password: the other dies with it.
    let a = cipherdrop_server::admin::reset_password(&app.db, "carol", None)
        .await
        .unwrap()
        .unwrap();
    // More outstanding links, put straight into the table as the server stores them (a control
    // shows such a row is a working link).
    let add_link = |token: &'static str| {
        sqlx::query(
            "INSERT INTO login_links (token_hash, user_id, expires_at)
             VALUES ($1, (SELECT id FROM users WHERE username = 'carol'), strftime('%s','now') + 3600)",
        )
        .bind(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()).to_vec())
        .execute(&app.db)
    };
    add_link("control-link-token").await.unwrap();
    app.client().login_link("control-link-token").await.unwrap();
    let b = "a-second-outstanding-link-token";
    add_link(b).await.unwrap();
    let carol = app.client();
    carol.login_link(&a).await.unwrap();
    carol
        .set_password(None, "a brand new passphrase")
        .await
        .unwrap();
    let e = app.client().login_link(b).await.unwrap_err();
    assert_eq!((status_of(&e), code_of(&e).as_str()), (401, "bad_link"));
    let (_, me) = carol.call(Method::GET, "/api/me", None).await.unwrap();
    assert_eq!(me["must_set_password"], false);
}
