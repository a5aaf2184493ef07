//! A headless Chromium driven over WebDriver (chromedriver + fantoccini) for the browser tests and
//! benchmarks: start and clean-up (no leaked processes, even on panic), waits, downloads, and the
//! renderer processes' memory.

use std::collections::{HashMap, HashSet};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use fantoccini::elements::Element;
use fantoccini::{ClientBuilder, Locator};
use serde_json::{Value, json};

/// How often the `wait_*` helpers poll.
const POLL: Duration = Duration::from_millis(100);

/// How long chromedriver gets to answer its status endpoint.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// A headless Chromium session. Chromedriver (and the Chromium it started) runs in its own
/// process group, killed with SIGKILL when this is dropped; [`Browser::close`] ends the session
/// gracefully first.
pub struct Browser {
    /// The WebDriver client.
    pub client: fantoccini::Client,
    /// Where downloads land (no prompt).
    pub download_dir: tempfile::TempDir,
    /// Chromedriver's URL (`http://127.0.0.1:PORT`).
    pub driver_url: String,
    /// The WebDriver session id.
    pub session_id: String,
    driver: Child,
    /// Holds the Chromium profile (`profile/`) and chromedriver's log; removed after the kill.
    state_dir: tempfile::TempDir,
    http: reqwest::Client,
}

/// Where the CSP watcher keeps the violations it saw.
const CSP_KEY: &str = "cipherdrop-csp-violations";

/// Records every `securitypolicyviolation` event of the page in sessionStorage.
const CSP_WATCH: &str = r#"
document.addEventListener('securitypolicyviolation', (e) => {
  try {
    const k = 'cipherdrop-csp-violations';
    const v = JSON.parse(sessionStorage.getItem(k) || '[]');
    v.push(e.violatedDirective + ' ' + (e.blockedURI || '(inline)') + ' on ' + location.pathname);
    sessionStorage.setItem(k, JSON.stringify(v));
  } catch (_) {}
});
"#;

impl Browser {
    /// Starts `/usr/bin/chromedriver` (or `$CHROMEDRIVER`) on a free port, waits until it
    /// answers, and opens a headless Chromium session with a fresh profile whose downloads go to
    /// [`Browser::download_dir`] without prompting.
    pub async fn start() -> Result<Self> {
        // The workspace builds rustls with two crypto providers (AWS-LC for the AWS SDK, ring for
        // reqwest), so the WebDriver client's TLS setup cannot pick one by itself: name it.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let driver_path = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
        let state_dir = tempfile::Builder::new()
            .prefix("cipherdrop-browser-")
            .tempdir()?;
        let download_dir = tempfile::Builder::new()
            .prefix("cipherdrop-downloads-")
            .tempdir()?;
        let profile = state_dir.path().join("profile");
        std::fs::create_dir_all(&profile)?;
        let log_path = state_dir.path().join("chromedriver.log");
        let port = cipherdrop_testkit::server::free_port()?;
        let log = std::fs::File::create(&log_path)?;
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("spawning {} (set $CHROMEDRIVER)", driver_path.display()))?;
        let driver_url = format!("http://127.0.0.1:{port}");
        // From here on, a failure drops this guard, which kills the process group.
        let mut guard = DriverGuard {
            driver: Some(driver),
            profile: profile.clone(),
        };
        let http = reqwest::Client::new();
        wait_for_driver(&http, &driver_url, &mut guard, &log_path).await?;

        let download = path_str(download_dir.path())?;
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--enable-precise-memory-info".to_owned(),
            "--js-flags=--expose-gc".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!("--user-data-dir={}", path_str(&profile)?),
        ];
        let caps = json!({
            "browserName": "chrome",
            // A hung page fails within a minute, not chromedriver's default 300 s.
            "timeouts": { "pageLoad": 60_000, "script": 30_000 },
            // The page's console, for `console_problems`.
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "args": args,
                "prefs": {
                    "download.default_directory": download,
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                    "safebrowsing.enabled": false,
                    "safebrowsing.disable_download_protection": true,
                    // A page may download several files without the "multiple downloads" prompt.
                    "profile.default_content_setting_values.automatic_downloads": 1,
                },
            },
        });
        let caps = caps
            .as_object()
            .cloned()
            .ok_or_else(|| anyhow!("capabilities are not an object"))?;
        let client = ClientBuilder::rustls()?
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .with_context(|| {
                format!(
                    "opening a Chromium session:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                )
            })?;
        let session_id = client
            .session_id()
            .await?
            .ok_or_else(|| anyhow!("no WebDriver session id"))?;
        let driver = guard.driver.take().ok_or_else(|| anyhow!("no driver"))?;
        // With `--headless=new` the download prefs suffice: no CDP `Browser.setDownloadBehavior`.
        let browser = Self {
            client,
            download_dir,
            driver_url,
            session_id,
            driver,
            state_dir,
            http,
        };
        // Every page of every test runs under the server's Content-Security-Policy; a violation
        // is recorded (in the tab's sessionStorage, so it survives navigations) and fails the
        // test at `close`. Scripts added this way run before the page's own and CSP spares them.
        browser
            .cdp(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({ "source": CSP_WATCH }),
            )
            .await?;
        Ok(browser)
    }

    /// The Content-Security-Policy violations recorded in this tab so far (directive, blocked
    /// URI, page), oldest first.
    pub async fn csp_violations(&self) -> Result<Vec<String>> {
        let v = self
            .client
            .execute(
                &format!("try {{ return sessionStorage.getItem('{CSP_KEY}') || '[]'; }} catch (_) {{ return '[]'; }}"),
                vec![],
            )
            .await?;
        Ok(serde_json::from_str(v.as_str().unwrap_or("[]"))?)
    }

    /// The console's errors and warnings (failed requests included) since the last call, as
    /// `LEVEL message` lines; chromedriver hands each entry out once.
    pub async fn console_problems(&self) -> Result<Vec<String>> {
        let resp = self
            .http
            .post(format!(
                "{}/session/{}/se/log",
                self.driver_url, self.session_id
            ))
            .json(&json!({ "type": "browser" }))
            .send()
            .await?;
        let body: Value = resp.error_for_status()?.json().await?;
        Ok(body["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| matches!(e["level"].as_str(), Some("SEVERE" | "WARNING")))
            .map(|e| format!("{} {}", e["level"], e["message"]))
            .collect())
    }

    /// Forgets the recorded violations (after a test provoked one on purpose).
    pub async fn clear_csp_violations(&self) -> Result<()> {
        self.client
            .execute(&format!("sessionStorage.removeItem('{CSP_KEY}');"), vec![])
            .await?;
        Ok(())
    }

    /// Sends a Chrome DevTools Protocol command through chromedriver
    /// (`POST /session/{id}/goog/cdp/execute`); returns its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Result<Value> {
        let resp = self
            .http
            .post(format!(
                "{}/session/{}/goog/cdp/execute",
                self.driver_url, self.session_id
            ))
            .json(&json!({ "cmd": cmd, "params": params }))
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if !status.is_success() {
            bail!("CDP {cmd}: HTTP {status}: {body}");
        }
        Ok(body.get("value").cloned().unwrap_or(Value::Null))
    }

    /// Ends the WebDriver session and gives Chromium up to 5 s to quit (so its processes are
    /// reaped by their parents, not orphaned), then kills chromedriver.
    ///
    /// Panics (failing the test) if the page recorded a Content-Security-Policy violation.
    #[allow(clippy::panic)] // the harness's way to fail the test that owns it
    pub async fn close(self) {
        let violations = self.csp_violations().await.unwrap_or_default();
        let _ = self.client.clone().close().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && !our_processes(self.driver.id(), &self.profile_dir()).is_empty()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Drop does the rest (chromedriver's process group, stragglers, temp dirs).
        if !violations.is_empty() {
            panic!("the page violated its Content-Security-Policy: {violations:?}");
        }
    }

    /// Turns off the page's "ask where to save" option, so that downloads go to the browser's
    /// download folder (a headless browser shows no save dialog).
    pub async fn no_save_dialog(&self) -> Result<()> {
        self.client
            .execute(
                "const c = document.querySelector('#save-picker'); if (c && c.checked) c.click();",
                vec![],
            )
            .await?;
        Ok(())
    }

    /// Logs in through the page's form at `url` and waits for the logged-in view.
    pub async fn log_in(&self, url: &str, username: &str, password: &str) -> Result<()> {
        const WAIT: Duration = Duration::from_secs(60);
        self.client.goto(url).await?;
        self.wait_for("#username", WAIT)
            .await?
            .send_keys(username)
            .await?;
        self.wait_for("#password", WAIT)
            .await?
            .send_keys(password)
            .await?;
        self.client
            .find(Locator::Css("#login"))
            .await?
            .click()
            .await?;
        self.wait_for("#whoami", WAIT).await?;
        Ok(())
    }

    /// Clicks the element matching `css` (waiting up to a minute for it).
    pub async fn click(&self, css: &str) -> Result<()> {
        self.wait_for(css, Duration::from_secs(60))
            .await?
            .click()
            .await?;
        Ok(())
    }

    /// Types `text` into the element matching `css` (waiting up to a minute for it); for a file
    /// input, `text` is the path (or newline-separated paths) to pick.
    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        self.wait_for(css, Duration::from_secs(60))
            .await?
            .send_keys(text)
            .await?;
        Ok(())
    }

    /// Runs `script` (which `return`s a value) and gives the result as a string ("" if none).
    pub async fn js_string(&self, script: &str) -> Result<String> {
        let v = self.client.execute(script, vec![]).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Waits until the page's upload of `name` ends; returns its state (`done`, `failed`,
    /// `cancelled`) and the message the page shows for it.
    pub async fn upload_outcome(&self, name: &str, timeout: Duration) -> Result<(String, String)> {
        let sel = format!("li.upload[data-name=\"{name}\"]");
        self.wait_until_js(
            &format!(
                "(() => {{ const e = document.querySelector('{sel}'); \
                   return e !== null && ['done','failed','cancelled'].includes(e.dataset.state); }})()"
            ),
            timeout,
        )
        .await?;
        Ok((
            self.js_string(&format!(
                "return document.querySelector('{sel}').dataset.state"
            ))
            .await?,
            self.js_string(&format!(
                "return document.querySelector('{sel} .upload-message').innerText"
            ))
            .await?,
        ))
    }

    /// What the QR code drawn by the page's `svg#…` at `css` says: its dark modules are read
    /// back from the SVG path, drawn 4 pixels each on white, and decoded by `rqrr`.
    pub async fn qr_text(&self, css: &str) -> Result<String> {
        let modules: usize = self
            .js_string(&format!(
                "return document.querySelector('{css}').dataset.modules"
            ))
            .await?
            .parse()?;
        let d = self
            .js_string(&format!(
                "return document.querySelector('{css} path').getAttribute('d')"
            ))
            .await?;
        let size = modules + 8;
        let mut dark = vec![false; size * size];
        for cell in d.split('M').filter(|c| !c.is_empty()) {
            let xy = cell.split('h').next().unwrap_or_default();
            let mut it = xy.split(' ').map(str::parse::<usize>);
            match (it.next(), it.next()) {
                (Some(Ok(x)), Some(Ok(y))) if x < size && y < size => {
                    if let Some(m) = dark.get_mut(y * size + x) {
                        *m = true;
                    }
                }
                _ => bail!("unexpected QR path segment {cell:?}"),
            }
        }
        const PX: usize = 4;
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(size * PX, size * PX, |x, y| {
            if dark.get((y / PX) * size + x / PX).copied().unwrap_or(false) {
                0
            } else {
                255
            }
        });
        let grids = img.detect_grids();
        let grid = grids.first().context("no QR code found in the drawing")?;
        let (_, text) = grid
            .decode()
            .map_err(|e| anyhow!("the QR code does not decode: {e}"))?;
        Ok(text)
    }

    /// Waits until an element matches `css`; returns it.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(e) => return Ok(e),
                Err(e) if Instant::now() >= deadline => {
                    bail!(
                        "no element matches {css:?} after {timeout:?} ({e}); page text ends:\n{}",
                        self.body_text_tail().await
                    )
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Waits until the JavaScript expression `js` is truthy (polled every 100 ms; errors while
    /// evaluating, e.g. during a navigation, count as not yet).
    pub async fn wait_until_js(&self, js: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let script = format!("return !!({js});");
        let mut last_error = None;
        loop {
            match self.client.execute(&script, vec![]).await {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(_) => {}
                Err(e) => last_error = Some(e.to_string()),
            }
            if Instant::now() >= deadline {
                bail!(
                    "`{js}` still not true after {timeout:?}{}; page text ends:\n{}",
                    last_error
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default(),
                    self.body_text_tail().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `download_dir/name` exists and no `*.crdownload` remains; returns its path.
    pub async fn wait_for_download(&self, name: &str, timeout: Duration) -> Result<PathBuf> {
        let deadline = Instant::now() + timeout;
        let path = self.download_dir.path().join(name);
        loop {
            let entries = self.download_entries()?;
            let partial = entries.iter().any(|e| e.ends_with(".crdownload"));
            if path.exists() && !partial {
                return Ok(path);
            }
            if Instant::now() >= deadline {
                bail!(
                    "download {name:?} not complete after {timeout:?}; {} holds {entries:?}; \
                     page text ends:\n{}",
                    self.download_dir.path().display(),
                    self.body_text_tail().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The last 2000 characters of `document.body.innerText` (or why it could not be read).
    pub async fn body_text_tail(&self) -> String {
        let script = "return document.body ? document.body.innerText : '(no body)';";
        match self.client.execute(script, vec![]).await {
            Ok(Value::String(s)) => {
                let skip = s.chars().count().saturating_sub(2000);
                s.chars().skip(skip).collect()
            }
            Ok(v) => v.to_string(),
            Err(e) => format!("(cannot read the page: {e})"),
        }
    }

    /// Chromedriver's process id (the leader of the process group Chromium runs in).
    pub fn driver_pid(&self) -> u32 {
        self.driver.id()
    }

    /// The Chromium profile folder (`--user-data-dir`).
    pub fn profile_dir(&self) -> PathBuf {
        self.state_dir.path().join("profile")
    }

    /// Everything chromedriver logged so far.
    pub fn driver_log(&self) -> String {
        std::fs::read_to_string(self.state_dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// The process ids of the renderer processes (`--type=renderer`) of this browser: those
    /// descended from our chromedriver or carrying our `--user-data-dir`. Besides the tab's own
    /// renderer this includes Chromium's spare and `--top-chrome-webui` ones (about 4 in all).
    pub fn renderer_pids(&self) -> Vec<u32> {
        let ours = our_processes(self.driver.id(), &self.profile_dir());
        let mut pids: Vec<u32> = processes()
            .into_iter()
            .filter(|p| ours.contains(&p.pid) && p.has("--type=renderer"))
            .map(|p| p.pid)
            .collect();
        pids.sort_unstable();
        pids
    }

    fn download_entries(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.download_dir.path())? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let profile = self.profile_dir();
        kill_all(&mut self.driver, &profile);
    }
}

/// Kills chromedriver during [`Browser::start`] if it fails half-way.
struct DriverGuard {
    driver: Option<Child>,
    profile: PathBuf,
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.driver.take() {
            kill_all(&mut child, &self.profile);
        }
    }
}

/// SIGKILLs chromedriver's process group, every descendant of it, and anything still using
/// `profile`; reaps chromedriver.
fn kill_all(driver: &mut Child, profile: &Path) {
    // Collect first: once chromedriver dies its children are re-parented and the tree is lost.
    let victims = our_processes(driver.id(), profile);
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", driver.id())])
        .stderr(Stdio::null())
        .status();
    for pid in &victims {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
    let _ = driver.kill();
    let _ = driver.wait();
}

/// One process as `/proc` shows it.
struct Proc {
    pid: u32,
    ppid: u32,
    /// The command line split on NULs and blanks: Chromium's child processes rewrite theirs
    /// (setproctitle) into one blank-separated string.
    words: Vec<String>,
}

impl Proc {
    fn has(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
    }
}

/// Every process visible in `/proc`.
fn processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
        let after_comm = &stat[stat.rfind(')')? + 1..];
        let ppid = after_comm.split_whitespace().nth(1)?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let words = String::from_utf8_lossy(&cmdline)
            .split(|c: char| c == '\0' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect();
        Some(Proc { pid, ppid, words })
    })
    .collect()
}

/// The descendants of `root` plus the processes whose `--user-data-dir` is `profile`.
fn our_processes(root: u32, profile: &Path) -> HashSet<u32> {
    let procs = processes();
    let flag = format!("--user-data-dir={}", profile.display());
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for p in &procs {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut ours = HashSet::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or_default() {
            if ours.insert(child) {
                stack.push(child);
            }
        }
    }
    ours.extend(procs.iter().filter(|p| p.has(&flag)).map(|p| p.pid));
    ours
}

/// The `cipherdrop` binary next to the running test's target folder (`target/<profile>/`), or
/// `$CIPHERDROP_BIN`. Cargo builds no binaries of other packages for these tests: build it with
/// `cargo build -p cipherdrop-cli` (same profile).
pub fn cipherdrop_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("CIPHERDROP_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test>-<hash>
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("cipherdrop"))
        .ok_or_else(|| anyhow!("unexpected test executable path {}", exe.display()))?;
    if !bin.is_file() {
        bail!(
            "{} is missing: build it with cargo build -p cipherdrop-cli",
            bin.display()
        );
    }
    Ok(bin)
}

/// The built web bundle (`<repo>/dist`, or `$CIPHERDROP_WEB_DIR`).
pub fn web_dist() -> Result<PathBuf> {
    let dir = std::env::var_os("CIPHERDROP_WEB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cipherdrop_testkit::repo_root().join("dist"));
    if !dir.join("index.html").is_file() {
        bail!(
            "{} has no index.html: run `trunk build` first \
             (bash -c 'source scripts/env.sh; wasm_env trunk build')",
            dir.display()
        );
    }
    Ok(dir)
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 path {}", p.display()))
}

async fn wait_for_driver(
    http: &reqwest::Client,
    url: &str,
    guard: &mut DriverGuard,
    log_path: &Path,
) -> Result<()> {
    let deadline = Instant::now() + DRIVER_START_TIMEOUT;
    let log = || std::fs::read_to_string(log_path).unwrap_or_default();
    loop {
        if let Some(child) = guard.driver.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!("chromedriver exited with {status}:\n{}", log());
        }
        if let Ok(resp) = http.get(format!("{url}/status")).send().await
            && let Ok(v) = resp.json::<Value>().await
            && v["value"]["ready"] == true
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "chromedriver did not answer within {DRIVER_START_TIMEOUT:?}:\n{}",
                log()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}
