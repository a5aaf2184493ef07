//! `cipherdrop` as a client of a running `cipherdrop serve`: login with an API token, put (0 B,
//! 1 B, multi-part, both suites), ls with decrypted names, get by id and by name, share and fetch
//! (with a limit and a passphrase, no account), rm; what the CLI stores reads in the page's way
//! (names sealed under the account's metadata key; a write-only token's under the file's data key)
//! and the reverse, old-form names included; and the exit codes a script relies on for a
//! revoked token, a token without the scope, a tampered object, a link used up and a server that
//! cannot be reached.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::SUITE_COMMIT_KEY;
use cipherdrop_core::metadata::{self, FileMeta};
use cipherdrop_testkit::server::{ServerProcess, setup_accounts};
use cipherdrop_testkit::{data, find_stored};

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");

/// Runs the CLI with `config` as its config folder, `env` set and `stdin` written.
pub(crate) fn cli(config: &Path, env: &[(&str, &str)], stdin: &str, args: &[&str]) -> Output {
    let mut cmd = command(config, env, args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The CLI's command with `config` as its config folder (and its state folder under it).
pub(crate) fn command(config: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("XDG_CONFIG_HOME", config)
        .env("XDG_STATE_HOME", config.join("state"))
        .env_remove("CIPHERDROP_URL")
        .env_remove("CIPHERDROP_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub(crate) fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub(crate) fn token(data_dir: &Path, scopes: &[&str]) -> String {
    let mut args = vec!["user", "token", "create", "alice", "--name", "cli test"];
    for s in scopes {
        args.extend(["--scope", s]);
    }
    let out = Command::new(BIN)
        .args(&args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    let printed = ok(&out);
    printed
        .split_whitespace()
        .find(|w| w.starts_with("cdt_"))
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_puts_lists_gets_shares_fetches_and_removes_like_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(Path::new(BIN), dir.path(), &[], &[]).unwrap();
    let (_admin, alice, _bob) = setup_accounts(&server, Path::new(BIN)).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let (cfg, w) = (work.path().join("config"), work.path().to_owned());
    let secret = token(dir.path(), &["read", "write", "share"]);

    // Login: the token from standard input, checked, stored for the owner only.
    let out = cli(&cfg, &[], &format!("{secret}\n"), &["login", &server.url]);
    assert!(ok(&out).contains("as alice"), "{}", text(&out));
    let stored = cfg.join("cipherdrop/credentials.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&stored).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let bad = cli(&cfg.join("x"), &[], "cdt_wrong\n", &["login", &server.url]);
    assert_eq!(code(&bad), 3, "{}", text(&bad));

    // Put: empty, one byte, three parts; a signed one of two parts.
    let files: Vec<(PathBuf, Vec<u8>)> = [
        ("empty.bin", 0usize),
        ("one byte.txt", 1),
        ("big.bin", 11 * 1024 * 1024 + 3),
    ]
    .iter()
    .enumerate()
    .map(|(i, (name, len))| {
        let p = w.join(name);
        let d = data(*len, i as u64);
        std::fs::write(&p, &d).unwrap();
        (p, d)
    })
    .collect();
    let args: Vec<&str> = ["put"]
        .into_iter()
        .chain(files.iter().map(|(p, _)| p.to_str().unwrap()))
        .collect();
    let ids: Vec<String> = ok(&cli(&cfg, &[], "", &args))
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), 3);
    let signed = w.join("signed.pdf");
    let signed_data = data(6 * 1024 * 1024 + 1, 9);
    std::fs::write(&signed, &signed_data).unwrap();
    let signed_id = ok(&cli(
        &cfg,
        &[],
        "",
        &["put", "--suite", "0x0578", signed.to_str().unwrap()],
    ))
    .trim()
    .to_owned();

    assert!(alice.download(&signed_id).await.unwrap() == signed_data);

    // What the CLI stored reads the page's way: the name sealed under the account's metadata key.
    let (version, account_key) = alice.metadata_key(None).await.unwrap();
    for (id, (path, content)) in ids.iter().zip(&files) {
        assert!(alice.download(id).await.unwrap() == *content);
        let details = alice.details(id).await.unwrap();
        let meta = metadata::open_for_account(&details.object.metadata, &account_key, version, id)
            .unwrap();
        assert_eq!(meta.name, path.file_name().unwrap().to_str().unwrap());
    }
    // And the reverse: files stored the page's way (and the old way, under the file's data key)
    // list and download through the CLI.
    let page_data = data(70_000, 5);
    for (name, old_form) in [("from the page.txt", false), ("from an old page.txt", true)] {
        let (up, parts) = alice
            .upload_parts(&page_data, SUITE_COMMIT_KEY, 4096)
            .await
            .unwrap();
        let meta = FileMeta {
            name: name.into(),
            media_type: "text/plain".into(),
            sender: None,
        };
        let data_key: [u8; 32] = B64.decode(&up.data_key).unwrap().try_into().unwrap();
        let sealed = if old_form {
            metadata::seal(&meta, &data_key, &up.object_id, &mut rand::rng())
        } else {
            metadata::seal_for_account(
                &meta,
                &account_key,
                version,
                &up.object_id,
                &mut rand::rng(),
            )
        };
        alice
            .complete(&up.upload_id, &parts, &B64.decode(sealed).unwrap())
            .await
            .unwrap();
    }
    // A write-only token may not read the metadata key: its upload's name is sealed the old way,
    // for the owner's page to move.
    let writer = token(dir.path(), &["write"]);
    let only_write = w.join("from a backup job.txt");
    std::fs::write(&only_write, b"nightly").unwrap();
    let written = ok(&cli(
        &cfg.join("writer"),
        &[
            ("CIPHERDROP_URL", &server.url),
            ("CIPHERDROP_TOKEN", &writer),
        ],
        "",
        &["put", only_write.to_str().unwrap()],
    ))
    .trim()
    .to_owned();
    let stored_meta = alice.details(&written).await.unwrap().object.metadata;
    assert_eq!(
        metadata::sealed_under(&stored_meta).unwrap(),
        metadata::SealedUnder::FileKey
    );

    // ls: names decrypted here.
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&cli(&cfg, &[], "", &["ls", "--json"]))).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for n in [
        "empty.bin",
        "one byte.txt",
        "big.bin",
        "signed.pdf",
        "from the page.txt",
        "from an old page.txt",
        "from a backup job.txt",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }

    // get by id, by name, to standard output; never over an existing file.
    let out_dir = w.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let got = out_dir.join("big");
    ok(&cli(
        &cfg,
        &[],
        "",
        &["get", &ids[2], "-o", got.to_str().unwrap()],
    ));
    assert!(std::fs::read(&got).unwrap() == files[2].1);
    let got = out_dir.join("signed");
    ok(&cli(
        &cfg,
        &[],
        "",
        &["get", "signed.pdf", "-o", got.to_str().unwrap()],
    ));
    assert!(std::fs::read(&got).unwrap() == signed_data);
    let stdout = cli(&cfg, &[], "", &["get", "from the page.txt", "-o", "-"]);
    assert!(stdout.status.success() && stdout.stdout == page_data);
    let again = cli(
        &cfg,
        &[],
        "",
        &["get", &ids[1], "-o", got.to_str().unwrap()],
    );
    assert!(again.status.success(), "-o replaces: {}", text(&again));
    let missing = cli(&cfg, &[], "", &["get", "no such file"]);
    assert_eq!(code(&missing), 4, "{}", text(&missing));

    // share → fetch with no account; a limit of 1 refuses the second; a passphrase is asked.
    let link = ok(&cli(&cfg, &[], "", &["share", "big.bin", "--limit", "1"]))
        .trim()
        .to_owned();
    assert!(link.starts_with(&format!("{}/s/#t=", server.url)), "{link}");
    let nobody = w.join("nobody");
    let fetched = out_dir.join("fetched");
    ok(&cli(
        &nobody,
        &[],
        "",
        &["fetch", &link, "-o", fetched.to_str().unwrap()],
    ));
    assert!(std::fs::read(&fetched).unwrap() == files[2].1);
    let used = cli(&nobody, &[], "", &["fetch", &link, "-o", "-"]);
    assert_eq!(code(&used), 4, "{}", text(&used));
    assert!(text(&used).contains("used as many times as allowed"));
    let guarded = ok(&cli(
        &cfg,
        &[],
        "open sesame 42\n",
        &["share", &ids[1], "--passphrase-stdin", "--expires", "2h"],
    ))
    .trim()
    .to_owned();
    let no_pass = cli(&nobody, &[], "", &["fetch", &guarded, "-o", "-"]);
    assert_eq!(code(&no_pass), 3, "{}", text(&no_pass));
    let with_pass = cli(
        &nobody,
        &[],
        "open sesame 42\n",
        &["fetch", &guarded, "-o", "-", "--passphrase-stdin"],
    );
    assert!(
        with_pass.status.success() && with_pass.stdout == files[1].1,
        "{}",
        text(&with_pass)
    );
    // A link made in the page's way fetches too (the page and the CLI share one form).
    let page_link = alice.share(&ids[0], serde_json::json!({})).await.unwrap();
    let empty = cli(
        &nobody,
        &[],
        "",
        &["fetch", &page_link.url(&server.url), "-o", "-"],
    );
    assert!(
        empty.status.success() && empty.stdout.is_empty(),
        "{}",
        text(&empty)
    );
    // A view-only link: this tool saves files, so it refuses before the link is used.
    let viewed = alice
        .share(
            &ids[0],
            serde_json::json!({"view_only": true, "max_downloads": 1}),
        )
        .await
        .unwrap();
    let refused = cli(
        &nobody,
        &[],
        "",
        &["fetch", &viewed.url(&server.url), "-o", "-"],
    );
    assert_eq!(code(&refused), 3, "{}", text(&refused));
    assert!(text(&refused).contains("view-only"), "{}", text(&refused));
    let (_, info) = server
        .client()
        .call(
            reqwest::Method::POST,
            "/api/share",
            Some(&serde_json::json!({"token": viewed.token()})),
        )
        .await
        .unwrap();
    assert_eq!(info["remaining"], 1, "nothing was counted");

    // A tampered object: exit 5 and no output file.
    let stored_obj = alice.download_ciphertext(&ids[2]).await.unwrap();
    let path = find_stored(dir.path(), &stored_obj).unwrap();
    let mut bad = stored_obj.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    let target = out_dir.join("tampered");
    let t = cli(
        &cfg,
        &[],
        "",
        &["get", &ids[2], "-o", target.to_str().unwrap()],
    );
    assert_eq!(code(&t), 5, "{}", text(&t));
    assert!(!target.exists(), "a tampered download left a file");

    // rm by name; then it is gone.
    ok(&cli(&cfg, &[], "", &["rm", "one byte.txt"]));
    let gone = cli(&cfg, &[], "", &["get", &ids[1], "-o", "-"]);
    assert_eq!(code(&gone), 4, "{}", text(&gone));

    // Tokens from the environment: a read-only one cannot put; a revoked one can do nothing; a
    // server that cannot be reached is exit 6.
    let reader = token(dir.path(), &["read"]);
    let env = [
        ("CIPHERDROP_URL", server.url.as_str()),
        ("CIPHERDROP_TOKEN", reader.as_str()),
    ];
    let denied = cli(&nobody, &env, "", &["put", files[0].0.to_str().unwrap()]);
    assert_eq!(code(&denied), 3, "{}", text(&denied));
    assert!(text(&denied).contains("not write"), "{}", text(&denied));
    assert!(ok(&cli(&nobody, &env, "", &["ls"])).contains("big.bin"));
    let id = Command::new(BIN)
        .args(["user", "token", "list", "alice", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&id.stdout).lines() {
        let id = line.split_whitespace().next().unwrap();
        let out = Command::new(BIN)
            .args(["user", "token", "revoke", "alice", id, "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        ok(&out);
    }
    let revoked = cli(&cfg, &[], "", &["ls"]);
    assert_eq!(code(&revoked), 3, "{}", text(&revoked));
    assert!(text(&revoked).contains("revoked"), "{}", text(&revoked));
    let down = cli(
        &nobody,
        &[
            ("CIPHERDROP_URL", "http://127.0.0.1:9"),
            ("CIPHERDROP_TOKEN", "cdt_x"),
        ],
        "",
        &["ls"],
    );
    assert_eq!(code(&down), 6, "{}", text(&down));
    // No token in the server's log.
    assert!(!server.logs().contains(&secret));
}

/// A config folder in `work`, logged in to the server at `url` (data in `data_dir`) as alice
/// with a read and write token.
pub(crate) fn logged_in(work: &tempfile::TempDir, data_dir: &Path, url: &str) -> PathBuf {
    let cfg = work.path().join("config");
    let secret = token(data_dir, &["read", "write"]);
    ok(&cli(&cfg, &[], &format!("{secret}\n"), &["login", url]));
    cfg
}

/// The records of uploads under way in `config`'s state folder, as JSON.
pub(crate) fn records(config: &Path) -> Vec<serde_json::Value> {
    let dir = config.join("state/cipherdrop/uploads");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let p = e.ok()?.path();
            if p.extension()? != "json" {
                return None;
            }
            let mut r: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
            let log = std::fs::read_to_string(p.with_extension("parts")).unwrap_or_default();
            let parts: serde_json::Map<String, serde_json::Value> = log
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .map(|l| (l["n"].to_string(), l))
                .collect();
            r["parts"] = parts.into();
            Some(r)
        })
        .collect()
}

/// Starts `put FILE --parallel 1` and sends it SIGINT once `parts` parts are recorded; its output.
fn interrupted_put(config: &Path, file: &Path, suite: &str, parts: usize) -> Output {
    let mut child = command(
        config,
        &[],
        &[
            "put",
            "--parallel",
            "1",
            "--suite",
            suite,
            file.to_str().unwrap(),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let start = std::time::Instant::now();
    loop {
        let done = records(config)
            .first()
            .map_or(0, |r| r["parts"].as_object().unwrap().len());
        if done >= parts {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "put ended before {parts} parts were sent"
        );
        assert!(start.elapsed().as_secs() < 120, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    child.wait_with_output().unwrap()
}

/// What the server says of an upload.
async fn upload_status(c: &cipherdrop_testkit::server::Client, id: &str) -> serde_json::Value {
    c.call(reqwest::Method::GET, &format!("/api/uploads/{id}"), None)
        .await
        .unwrap()
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_put_resumes_where_it_stopped_and_only_for_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(Path::new(BIN), dir.path(), &[], &[]).unwrap();
    let (_admin, alice, _bob) = setup_accounts(&server, Path::new(BIN)).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let cfg = logged_in(&work, dir.path(), &server.url);

    for (suite, len) in [("0x0478", 100 << 20), ("0x0578", 60 << 20)] {
        let file = work.path().join(format!("backup {suite}.tar"));
        let original = data(len + 12_345, len as u64);
        std::fs::write(&file, &original).unwrap();

        // Ctrl-C after three parts: exit 130, the parts and the record kept, nothing listed.
        let out = interrupted_put(&cfg, &file, suite, 3);
        assert_eq!(code(&out), 130, "{}", text(&out));
        assert!(text(&out).contains("--resume"), "{}", text(&out));
        let recs = records(&cfg);
        assert_eq!(recs.len(), 1);
        let upload = recs[0]["upload_id"].as_str().unwrap().to_owned();
        let sent = recs[0]["parts"].as_object().unwrap().len();
        assert!(sent >= 3);
        let status = upload_status(&alice, &upload).await;
        assert_eq!(status["state"], "pending");
        // (S3 may also hold the part that was on the wire, unacknowledged.)
        let held = status["stored"].as_array().unwrap().len();
        assert!((sent..=sent + 1).contains(&held), "{held} {sent}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for ext in ["json", "parts"] {
                let rec = cfg.join(format!("state/cipherdrop/uploads/{upload}.{ext}"));
                let mode = std::fs::metadata(rec).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{ext}");
            }
        }
        // The record holds no secret: no data key, and a 0x0578 signing key only sealed.
        let key = B64
            .decode(alice.pending_key(&upload).await.unwrap().data_key.expose())
            .unwrap();
        let rec_text =
            std::fs::read_to_string(cfg.join(format!("state/cipherdrop/uploads/{upload}.json")))
                .unwrap();
        for form in cipherdrop_testkit::printed_forms(&key) {
            assert!(!rec_text.contains(&form), "the data key is in the record");
        }
        assert_eq!(recs[0]["signing_key"].is_string(), suite == "0x0578");

        if suite == "0x0478" {
            let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
            // Same size and time, other bytes in a part already sent: refused, nothing sent.
            let mut changed = original.clone();
            changed[6 << 20] ^= 1;
            std::fs::write(&file, &changed).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&file)
                .unwrap()
                .set_modified(modified)
                .unwrap();
            let out = cli(&cfg, &[], "", &["put", "--resume", file.to_str().unwrap()]);
            assert_eq!(code(&out), 1, "{}", text(&out));
            assert!(
                text(&out).contains("is not the file whose upload was interrupted (part 2"),
                "{}",
                text(&out)
            );
            assert_eq!(
                upload_status(&alice, &upload).await["stored"]
                    .as_array()
                    .unwrap()
                    .len(),
                held
            );
            // A newer modification time: refused before any key is asked for.
            std::fs::write(&file, &original).unwrap();
            let out = cli(&cfg, &[], "", &["put", "--resume", file.to_str().unwrap()]);
            assert_eq!(code(&out), 1, "{}", text(&out));
            assert!(text(&out).contains("changed since"), "{}", text(&out));
            std::fs::File::options()
                .write(true)
                .open(&file)
                .unwrap()
                .set_modified(modified)
                .unwrap();
            assert_eq!(records(&cfg).len(), 1);

            // The same file: only the missing parts are sent, and the object is whole.
            let out = cli(&cfg, &[], "", &["put", "--resume", file.to_str().unwrap()]);
            let id = ok(&out).trim().to_owned();
            assert_eq!(id, upload);
            assert!(
                text(&out).contains(&format!("resuming, {sent} of 21 parts already stored")),
                "{}",
                text(&out)
            );
        } else {
            // A line cut short by a crash at the end of the log is only a part to send again.
            let log = cfg.join(format!("state/cipherdrop/uploads/{upload}.parts"));
            let mut f = std::fs::File::options().append(true).open(log).unwrap();
            f.write_all(b"{\"n\":4,\"etag\":\"\\\"ab").unwrap();
            // `put --resume` with no file continues every recorded upload.
            let out = cli(&cfg, &[], "", &["put", "--resume"]);
            assert_eq!(ok(&out).trim(), upload);
        }
        assert!(records(&cfg).is_empty());
        let back = work.path().join("back");
        ok(&cli(
            &cfg,
            &[],
            "",
            &["get", &upload, "-o", back.to_str().unwrap()],
        ));
        assert!(std::fs::read(&back).unwrap() == original);
        std::fs::remove_file(&back).unwrap();
    }

    // A plain `put` of a file whose upload was interrupted starts over, and aborts the old one.
    let file = work.path().join("backup 0x0478.tar");
    let out = interrupted_put(&cfg, &file, "0x0478", 2);
    assert_eq!(code(&out), 130, "{}", text(&out));
    let old = records(&cfg)[0]["upload_id"].as_str().unwrap().to_owned();
    let out = cli(&cfg, &[], "", &["put", file.to_str().unwrap()]);
    assert!(text(&out).contains("discarded"), "{}", text(&out));
    assert_ne!(ok(&out).trim(), old);
    assert_eq!(upload_status(&alice, &old).await["state"], "aborted");
    // Two interrupted and resumed files, one started over: three objects, nothing pending.
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&cli(&cfg, &[], "", &["ls", "--json"]))).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
    assert!(records(&cfg).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_carries_on_across_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ports = (
        cipherdrop_testkit::server::free_port().unwrap(),
        cipherdrop_testkit::server::free_port().unwrap(),
    );
    let mut server =
        ServerProcess::start_at(Path::new(BIN), dir.path(), None, ports, &[], &[]).unwrap();
    setup_accounts(&server, Path::new(BIN)).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let cfg = logged_in(&work, dir.path(), &server.url);
    let file = work.path().join("export.csv");
    let original = data((60 << 20) + 7, 77);
    std::fs::write(&file, &original).unwrap();

    // The server (and its S3) is killed with two parts stored and started again on the same
    // ports: the part on the wire is retried, and the upload completes in the same run.
    let child = command(
        &cfg,
        &[],
        &["put", "--parallel", "1", file.to_str().unwrap()],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    while records(&cfg)
        .first()
        .map_or(0, |r| r["parts"].as_object().unwrap().len())
        < 2
    {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    server.kill();
    // Down long enough that the next part's PUT finds it gone (a restart quicker than the
    // encryption of one part would let that PUT through with nothing to retry), and well within
    // the retries' 15 s (11.6 s at the least, with the shared policy's jitter).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let server =
        ServerProcess::start_at(Path::new(BIN), dir.path(), None, ports, &[], &[]).unwrap();
    let out = child.wait_with_output().unwrap();
    let id = ok(&out).trim().to_owned();
    assert!(text(&out).contains("trying again"), "{}", text(&out));
    let back = work.path().join("back.csv");
    ok(&cli(
        &cfg,
        &[],
        "",
        &["get", &id, "-o", back.to_str().unwrap()],
    ));
    assert!(std::fs::read(&back).unwrap() == original);
    assert!(records(&cfg).is_empty());
    drop(server);
}
