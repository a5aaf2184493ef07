//! `cipherdrop put` meeting what the shared upload policy (`cipherdrop_api::transfer`) is for,
//! each fault made to happen rather than waited for: a part URL that expires while its part waits
//! for S3 (the server and its S3 stopped past the URLs' lifetime: S3 answers 403, and the CLI
//! renews the URL through the server), and completing an upload while the server is unavailable
//! (a front that answers 503, then forwards a completion and loses its answer: the CLI tries
//! again, and takes the server's "already complete" for the answer it lost).
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::VecDeque;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{ServerProcess, setup_accounts};

use crate::client::{cli, command, logged_in, ok, records, text};

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");
/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    assert!(
        Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_part_url_is_renewed_through_the_server() {
    // Part URLs live 2 s. The server (and its S3) stops answering for 5 s with two parts stored:
    // the part sent meanwhile reaches S3 after its URL expired, S3 answers 403, and the CLI asks
    // the server for a fresh URL and sends the part again, in the same run.
    let dir = tempfile::tempdir().unwrap();
    let server =
        ServerProcess::start(Path::new(BIN), dir.path(), &["--url-ttl-secs", "2"], &[]).unwrap();
    setup_accounts(&server, Path::new(BIN)).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let cfg = logged_in(&work, dir.path(), &server.url);
    let file = work.path().join("survey.bin");
    let original = data((30 << 20) + 11, 31);
    std::fs::write(&file, &original).unwrap();

    let child = command(
        &cfg,
        &[],
        &["put", "--parallel", "1", file.to_str().unwrap()],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let start = std::time::Instant::now();
    while records(&cfg)
        .first()
        .map_or(0, |r| r["parts"].as_object().unwrap().len())
        < 2
    {
        assert!(start.elapsed().as_secs() < 120, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    signal(server.pid(), "STOP");
    std::thread::sleep(std::time::Duration::from_secs(5));
    signal(server.pid(), "CONT");
    let out = child.wait_with_output().unwrap();
    let id = ok(&out).trim().to_owned();
    assert!(
        text(&out).contains("403 Forbidden; asking for a fresh URL"),
        "{}",
        text(&out)
    );
    let back = work.path().join("back.bin");
    ok(&cli(
        &cfg,
        &[],
        "",
        &["get", &id, "-o", back.to_str().unwrap()],
    ));
    assert!(std::fs::read(&back).unwrap() == original);
    assert!(records(&cfg).is_empty());
}

/// What the front does with a completion instead of passing it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Answers 503 itself: the server never sees it.
    Refuse,
    /// Forwards it, then answers 502: the server completed the upload, the answer is lost.
    Lose,
}

/// The front's state: where the server is, the faults still to play, completions seen.
#[derive(Clone)]
struct Front {
    server: String,
    http: reqwest::Client,
    faults: Arc<Mutex<VecDeque<Fault>>>,
    completions: Arc<Mutex<u32>>,
}

/// Passes a request to the server and its answer back, but for the faults planned for
/// completions.
async fn forward(State(front): State<Front>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path = parts.uri.path_and_query().unwrap().as_str().to_owned();
    let fault = if parts.method == Method::POST && path.ends_with("/complete") {
        *front.completions.lock().unwrap() += 1;
        front.faults.lock().unwrap().pop_front()
    } else {
        None
    };
    if fault == Some(Fault::Refuse) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let mut to = front
        .http
        .request(parts.method, format!("{}{path}", front.server));
    for (name, value) in &parts.headers {
        if name != header::HOST {
            to = to.header(name, value);
        }
    }
    let answer = to.body(body).send().await.unwrap();
    if fault == Some(Fault::Lose) {
        return StatusCode::BAD_GATEWAY.into_response();
    }
    let mut back = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            back = back.header(name, value);
        }
    }
    back.body(Body::from(answer.bytes().await.unwrap()))
        .unwrap()
}

/// Starts a front for the server at `server` that plays `faults` on completions; its URL.
async fn front(server: &str, faults: &[Fault]) -> (String, Arc<Mutex<u32>>) {
    let state = Front {
        server: server.to_owned(),
        http: reqwest::Client::new(),
        faults: Arc::new(Mutex::new(faults.iter().copied().collect())),
        completions: Arc::default(),
    };
    let completions = state.completions.clone();
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, completions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_completes_through_a_refusal_and_a_lost_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(Path::new(BIN), dir.path(), &[], &[]).unwrap();
    let (_admin, alice, _bob) = setup_accounts(&server, Path::new(BIN)).await.unwrap();
    let (url, completions) = front(&server.url, &[Fault::Refuse, Fault::Lose]).await;
    let work = tempfile::tempdir().unwrap();
    let cfg = logged_in(&work, dir.path(), &url);
    let file = work.path().join("ledger.csv");
    let original = data((6 << 20) + 3, 41);
    std::fs::write(&file, &original).unwrap();

    // Refused (503): tried again. Completed, answer lost (502): tried again, and the server's
    // 409 "already complete" is checked against the upload's state and taken as the answer.
    let out = tokio::task::spawn_blocking(move || {
        command(&cfg, &[], &["put", file.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map(|o| (o, cfg))
    })
    .await
    .unwrap()
    .unwrap();
    let (out, cfg) = out;
    let id = ok(&out).trim().to_owned();
    assert_eq!(*completions.lock().unwrap(), 3, "{}", text(&out));
    assert_eq!(
        text(&out).matches("completing the upload").count(),
        2,
        "{}",
        text(&out)
    );
    assert!(records(&cfg).is_empty());
    assert!(alice.download(&id).await.unwrap() == original);
    let listed = ok(&cli(&cfg, &[], "", &["ls"]));
    assert!(listed.contains("ledger.csv"), "{listed}");
}
