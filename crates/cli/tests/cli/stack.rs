//! `deploy/aws/cipherdrop.yaml`, the CloudFormation stack: cfn-lint passes with no warning, the
//! README's IAM text and the task role cannot drift, and the stack deploys into moto's
//! CloudFormation; two replicas then run with its task definition's arguments against moto's KMS,
//! S3 and Secrets Manager and a local PostgreSQL standing in for RDS, and an upload, a share and
//! a download work across them. `tests/py/aws_stack.py` does the AWS side (boto3).
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cipherdrop_api::{SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384};
use cipherdrop_testkit::data;
use cipherdrop_testkit::postgres::Postgres;
use cipherdrop_testkit::server::{Client, PASSWORD, ServerProcess, aws_env, start_moto};

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");

fn template() -> PathBuf {
    cipherdrop_testkit::repo_root().join("deploy/aws/cipherdrop.yaml")
}

/// `tests/py/aws_stack.py ARGS` (against moto, if given): its standard output; fails the test
/// with its words otherwise.
fn stack_py(moto: Option<&str>, args: &[&str]) -> String {
    let mut cmd = Command::new(cipherdrop_testkit::python());
    cmd.arg(cipherdrop_testkit::repo_root().join("tests/py/aws_stack.py"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1");
    if let Some(url) = moto {
        cmd.env("AWS_ENDPOINT_URL", url);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "aws_stack.py {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_template_passes_cfn_lint_and_its_task_role_is_the_readme_s() {
    let lint = cipherdrop_testkit::python().with_file_name("cfn-lint");
    let out = Command::new(&lint).arg(template()).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "cfn-lint: {said}"
    );
    let compared = stack_py(
        None,
        &[
            "iam",
            cipherdrop_testkit::repo_root()
                .join("README.md")
                .to_str()
                .unwrap(),
            template().to_str().unwrap(),
        ],
    );
    assert!(compared.contains("key policy"), "{compared}");
    assert!(
        compared.lines().filter(|l| l.starts_with("both ")).count() >= 7,
        "{compared}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_deploys_into_moto_and_two_replicas_serve_from_its_task_definition() {
    let moto_service = start_moto().unwrap();
    let moto = moto_service.url.clone();
    let pg = Postgres::start().unwrap();
    let db_password = format!("rds-managed-{:016x}", rand::random::<u64>());
    pg.create_app_database("cipherdrop", &db_password).unwrap();
    let port = pg.port.to_string();
    let out = stack_py(
        Some(&moto),
        &["deploy", template().to_str().unwrap(), &port, &db_password],
    );
    let deployed: serde_json::Value = serde_json::from_str(&out).unwrap();
    eprintln!("checked: {}", deployed["checked"]);
    eprintln!("moto's gaps, done by the test: {}", deployed["moto_gaps"]);
    let outputs = &deployed["outputs"];
    assert_eq!(outputs["Url"], "https://files.example.com");
    // The output points at the line the first replica prints.
    let serve =
        std::fs::read_to_string(cipherdrop_testkit::repo_root().join("crates/cli/src/serve.rs"))
            .unwrap();
    let quoted = outputs["FirstLoginLink"]
        .as_str()
        .unwrap()
        .split('\'')
        .nth(1)
        .unwrap();
    assert!(serve.contains(quoted), "serve prints no line {quoted:?}");
    let args: Vec<String> = serde_json::from_value(deployed["args"].clone()).unwrap();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(
        !args.iter().any(|a| a.contains(&db_password)),
        "no password on the command line"
    );
    let mut env: Vec<(String, String)> = aws_env("testing", "testing")
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    for (k, v) in deployed["env"].as_object().unwrap() {
        env.push((k.clone(), v.as_str().unwrap().to_owned()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let dir = tempfile::tempdir().unwrap();
    let a = ServerProcess::start(Path::new(BIN), &dir.path().join("a"), &args, &env).unwrap();
    let b = ServerProcess::start(Path::new(BIN), &dir.path().join("b"), &args, &env).unwrap();
    let token = a
        .admin_token
        .as_deref()
        .expect("the first replica made the admin");
    assert!(b.admin_token.is_none(), "one admin for the shared database");
    // The task definition's health check, at each replica.
    let check: Vec<String> = serde_json::from_value(deployed["health_check"].clone()).unwrap();
    assert_eq!(check[..3], ["CMD", "/app/cipherdrop", "probe"]);
    for r in [&a, &b] {
        let probed = Command::new(BIN)
            .args(["probe", &format!("{}/healthz", r.url)])
            .status()
            .unwrap();
        assert!(probed.success());
    }

    // An upload through one replica, the owner's download and a share link through the other.
    let admin = a.client();
    admin.login_link(token).await.unwrap();
    admin.set_password(None, PASSWORD).await.unwrap();
    let on_b = Client::new(&b.url);
    on_b.login("admin", PASSWORD).await.unwrap();
    for (i, (len, suite)) in [
        (300_000usize, SUITE_COMMIT_KEY),
        (70_000, SUITE_COMMIT_KEY_ECDSA_P384),
    ]
    .into_iter()
    .enumerate()
    {
        let plaintext = data(len, 90 + i as u64);
        let id = admin.upload(&plaintext, suite, 65536).await.unwrap();
        assert!(on_b.download(&id).await.unwrap() == plaintext, "case {i}");
        let details = on_b.details(&id).await.unwrap();
        assert_eq!(details.key_arn, outputs["DataKeyArn"].as_str().unwrap());
        assert!(details.download_url.starts_with(&moto));
        let link = admin
            .share(&id, serde_json::json!({"max_downloads": 1}))
            .await
            .unwrap();
        let stranger = Client::new(&b.url);
        let release = stranger.share_key(link.token(), None).await.unwrap();
        assert!(link.fetch(&release).await.unwrap() == plaintext, "case {i}");
        let spent = stranger.share_key(link.token(), None).await.unwrap_err();
        assert_eq!(cipherdrop_testkit::server::status_of(&spent), 410);
    }
    // Both replicas are ready: database (through the secret), KMS and S3 all answer.
    for r in [&a, &b] {
        let ready = reqwest::get(format!("{}/readyz", r.url)).await.unwrap();
        assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
    }
}
