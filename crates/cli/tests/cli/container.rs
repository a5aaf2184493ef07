//! The `Containerfile`, built and run with podman (daemonless, from Debian's packages): its
//! runtime stage from the binary and bundle these tests use (passed as the `build` context, so no
//! compiler runs in the image) on a Debian base made by `scripts/container-base.sh` (no registry
//! is reachable here). The image runs as a non-root user on a read-only root file system, serves
//! an upload and a download, answers its own health check, and stops cleanly on SIGTERM.
//!
//! podman here needs `--runtime runc` (crun refuses this machine's hybrid cgroups) and open-file
//! and process limits no higher than the machine grants.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::process::{Command, Output};

use cipherdrop_api::SUITE_COMMIT_KEY_ECDSA_P384;
use cipherdrop_testkit::data;
use cipherdrop_testkit::server::{PASSWORD, ServerProcess, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");
const IMAGE: &str = "localhost/cipherdrop:test";

fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(["--runtime", "runc"])
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The container, removed on drop whatever happened.
struct Container(String);
impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--time", "0", &self.0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_non_root_read_only_serves_and_stops_cleanly() {
    let root = cipherdrop_testkit::repo_root();
    let bundle = root.join("dist");
    assert!(
        bundle.join("index.html").is_file(),
        "no web bundle in dist/: `make test` builds it first (trunk build)"
    );
    let base = Command::new("bash")
        .arg(root.join("scripts/container-base.sh"))
        .output()
        .unwrap();
    assert!(
        base.status.success(),
        "container-base.sh: {}",
        String::from_utf8_lossy(&base.stderr)
    );
    let base = String::from_utf8_lossy(&base.stdout).trim().to_owned();

    // The runtime stage, its `build` stage replaced by a folder of what the tests built.
    let ctx = tempfile::tempdir().unwrap();
    let out = ctx.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(BIN, out.join("cipherdrop")).unwrap();
    let copied = Command::new("cp")
        .arg("-r")
        .arg(&bundle)
        .arg(out.join("dist"))
        .status()
        .unwrap();
    assert!(copied.success());
    let empty = tempfile::tempdir().unwrap();
    ok(&[
        "build",
        "--isolation",
        "chroot",
        "--format",
        "docker",
        "--target",
        "runtime",
        "--build-arg",
        &format!("RUNTIME_IMAGE={base}"),
        "--build-context",
        &format!("build={}", ctx.path().display()),
        "--file",
        root.join("Containerfile").to_str().unwrap(),
        "--tag",
        IMAGE,
        empty.path().to_str().unwrap(),
    ]);
    let inspected: serde_json::Value =
        serde_json::from_str(&ok(&["image", "inspect", IMAGE])).unwrap();
    let health = inspected[0]["Healthcheck"].to_string();
    let config = &inspected[0]["Config"];
    assert_eq!(config["User"], "10001:10001", "{config}");
    assert_eq!(config["StopSignal"], "SIGTERM", "{config}");
    assert_eq!(config["Entrypoint"][0], "/app/cipherdrop", "{config}");
    assert!(
        health.contains(r#"["CMD","/app/cipherdrop","probe","http://127.0.0.1:8080/healthz"]"#),
        "{health}"
    );

    // Run it as the test kit runs the binary: a wrapper puts the same arguments into the
    // container (the data folder mounted as /data, its own web bundle), on the host's loopback.
    let name = format!("cipherdrop-test-{:08x}", rand::random::<u32>());
    let _container = Container(name.clone());
    let wrapper = ctx.path().join("in-container");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n# serve --listen A --s3-listen B --data-dir D --web-dir W [more]\n\
             listen=$3; s3=$5; data=$7; shift 9\n\
             chown 10001:10001 \"$data\"\n\
             exec podman --runtime runc run --rm --name {name} --read-only --network host \\\n\
               --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \\\n\
               --volume \"$data\":/data \\\n\
               --health-cmd \"/app/cipherdrop probe http://$listen/healthz\" \\\n\
               --env CIPHERDROP_DRAIN_SECS --env RUST_LOG {IMAGE} \\\n\
               serve --listen \"$listen\" --s3-listen \"$s3\" --data-dir /data --web-dir /app/dist \"$@\"\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let data_dir = ctx.path().join("host-side");
    // Ports chosen first: the health check (the image's own command, on this port instead of
    // 8080) is set when the container starts.
    let ports = (free_port().unwrap(), free_port().unwrap());
    let mut server = ServerProcess::start_at(&wrapper, &data_dir, None, ports, &[], &[]).unwrap();

    let admin = server.client();
    admin
        .login_link(server.admin_token.as_deref().expect("a first-start link"))
        .await
        .unwrap();
    admin.set_password(None, PASSWORD).await.unwrap();
    let plaintext = data(3 * 1024 * 1024 + 17, 77);
    let id = admin
        .upload(&plaintext, SUITE_COMMIT_KEY_ECDSA_P384, 65536)
        .await
        .unwrap();
    assert!(admin.download(&id).await.unwrap() == plaintext);
    let page = reqwest::get(format!("{}/", server.url)).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"));

    // Its own health check; its user; its root file system.
    ok(&["healthcheck", "run", &name]);
    assert_eq!(ok(&["exec", &name, "id", "-u"]), "10001");
    let write = podman(&["exec", &name, "touch", "/app/planted"]);
    assert!(!write.status.success());
    assert!(
        String::from_utf8_lossy(&write.stderr).contains("Read-only file system"),
        "{}",
        String::from_utf8_lossy(&write.stderr)
    );
    // SIGTERM (podman passes it on): the server drains, finishes and exits 0.
    assert!(server.terminate(), "a clean stop");
    let gone = podman(&["container", "exists", &name]);
    assert!(!gone.status.success(), "--rm removed the container");
    let _ = podman(&["rmi", "--force", IMAGE]);
}
