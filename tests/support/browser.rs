//! A real, headless Chromium for end-to-end tests, driven over the Chrome DevTools Protocol.
//!
//! Hand-written on purpose: chromiumoxide's generated protocol crate adds minutes to every cold
//! build, and fantoccini (WebDriver) needs a chromedriver process beside the browser. We need
//! five CDP methods (Page.navigate, Runtime.evaluate, Page.captureScreenshot, Network.enable and
//! Target.attachToTarget to get a page; plus Runtime/Log.enable for the console), which fit in
//! this file over tokio-tungstenite.
//!
//! The browser never reaches the internet:
//! 1. every request goes to a proxy at 127.0.0.1:9, where nothing listens, so it fails with
//!    `net::ERR_PROXY_CONNECTION_FAILED` before any DNS lookup or packet leaves the machine;
//! 2. loopback is the only exception: Chromium bypasses the proxy for localhost, 127.0.0.1 and
//!    [::1] by default (`<-loopback>` in the bypass list would *remove* that, so it is not used;
//!    the list below names them again in case the default ever changes);
//! 3. host-resolver rules fail every name and address but loopback's (they apply to IP
//!    literals too), and QUIC, background networking, component updates, sync and extensions
//!    are off.
//!
//! Every page request and failed load is recorded (`Network.requestWillBeSent`,
//! `Network.loadingFailed`), as are uncaught exceptions and console errors, so a test can
//! assert what the page did, not only what it shows.
// Each test binary that declares `mod support;` compiles this file and uses part of it.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
    time::Instant,
};
use tokio_tungstenite::tungstenite::Message;

const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
/// A cold Chromium start on a loaded 2-core machine takes a few seconds.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(60);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// A request the page made that did not get a response.
#[derive(Clone, Debug)]
pub struct FailedLoad {
    pub url: String,
    /// e.g. `net::ERR_PROXY_CONNECTION_FAILED`, `net::ERR_BLOCKED_BY_CLIENT`.
    pub error: String,
    /// e.g. `csp` when the page's Content-Security-Policy blocked it.
    pub blocked_reason: Option<String>,
}

#[derive(Debug, Default)]
struct PageLog {
    requests: Vec<String>,
    urls_by_request_id: HashMap<String, String>,
    failed: Vec<FailedLoad>,
    errors: Vec<String>,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

pub struct Browser {
    session_id: String,
    outgoing: mpsc::UnboundedSender<String>,
    pending: Pending,
    log: Arc<Mutex<PageLog>>,
    next_id: AtomicU64,
    tasks: [JoinHandle<()>; 2],
    // Last: dropped after the tasks are aborted.
    process: ChromiumProcess,
}

impl Browser {
    /// Starts Chromium (`$CHROMIUM`, default `/usr/bin/chromium`) with a fresh profile and opens
    /// one page with network, runtime and log events enabled.
    pub async fn launch() -> anyhow::Result<Browser> {
        let mut process = ChromiumProcess::spawn()?;
        let endpoint = process.devtools_endpoint().await?;
        let (socket, _) = tokio_tungstenite::connect_async(endpoint.as_str())
            .await
            .with_context(|| format!("connecting to Chromium's DevTools at {endpoint}"))?;
        let (mut sink, mut stream) = socket.split();

        let (outgoing, mut to_send) = mpsc::unbounded_channel::<String>();
        let writer = tokio::spawn(async move {
            while let Some(text) = to_send.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
        });

        let pending: Pending = Arc::default();
        let log: Arc<Mutex<PageLog>> = Arc::default();
        let reader = {
            let pending = pending.clone();
            let log = log.clone();
            tokio::spawn(async move {
                while let Some(Ok(message)) = stream.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let Ok(message) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    if let Some(id) = message.get("id").and_then(Value::as_u64) {
                        let reply = match message.get("error") {
                            Some(error) => Err(error.to_string()),
                            None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
                        };
                        if let Some(waiter) = pending.lock().unwrap().remove(&id) {
                            let _ = waiter.send(reply);
                        }
                    } else if let Some(method) = message.get("method").and_then(Value::as_str) {
                        let params = message.get("params").unwrap_or(&Value::Null);
                        record_event(&mut log.lock().unwrap(), method, params);
                    }
                }
                // The connection is gone: fail every waiting command instead of hanging it.
                pending.lock().unwrap().clear();
            })
        };

        let mut browser = Browser {
            session_id: String::new(),
            outgoing,
            pending,
            log,
            next_id: AtomicU64::new(1),
            tasks: [reader, writer],
            process,
        };
        let target = browser
            .send(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await?;
        let target_id = target["targetId"]
            .as_str()
            .ok_or_else(|| anyhow!("Target.createTarget returned no targetId: {target}"))?;
        let session = browser
            .send(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await?;
        browser.session_id = session["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("Target.attachToTarget returned no sessionId: {session}"))?
            .to_owned();
        for domain in ["Network", "Runtime", "Log"] {
            browser.call(&format!("{domain}.enable"), json!({})).await?;
        }
        Ok(browser)
    }

    /// Navigates the page; fails if the navigation itself fails (e.g. connection refused).
    /// Returns once the response is committed, not when the page has rendered: use
    /// [`Browser::wait_for`] for that.
    pub async fn navigate(&self, url: &str) -> anyhow::Result<()> {
        let result = self.call("Page.navigate", json!({ "url": url })).await?;
        match result.get("errorText").and_then(Value::as_str) {
            Some(error) if !error.is_empty() => bail!("navigating to {url}: {error}"),
            _ => Ok(()),
        }
    }

    /// Evaluates `js` in the page (awaiting it if it is a promise) and returns its JSON value;
    /// `undefined` becomes `null`, a thrown exception an error.
    pub async fn evaluate(&self, js: &str) -> anyhow::Result<Value> {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": js, "awaitPromise": true, "returnByValue": true }),
            )
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            let description = exception["exception"]["description"]
                .as_str()
                .or_else(|| exception["text"].as_str())
                .unwrap_or("exception");
            bail!("evaluating `{js}`: {description}");
        }
        Ok(result["result"]
            .get("value")
            .cloned()
            .unwrap_or(Value::Null))
    }

    /// Polls the JavaScript expression `js_predicate` until it is truthy and returns its value
    /// (a DOM node becomes `true`: nodes do not serialise), or fails after `timeout` with the
    /// last value seen.
    pub async fn wait_for(&self, js_predicate: &str, timeout: Duration) -> anyhow::Result<Value> {
        let js = format!(
            "(async () => {{ const value = await ({js_predicate}); \
             return value instanceof Node ? true : value; }})()"
        );
        let deadline = Instant::now() + timeout;
        let mut ticks = tokio::time::interval(POLL_INTERVAL);
        loop {
            ticks.tick().await;
            // An error is not final: the page may be between documents.
            let last = match self.evaluate(&js).await {
                Ok(value) if is_truthy(&value) => return Ok(value),
                Ok(value) => value.to_string(),
                Err(error) => error.to_string(),
            };
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {timeout:?} waiting for `{js_predicate}`; last: {last}; \
                     page errors: {:?}; failed loads: {:?}",
                    self.errors(),
                    self.failed_loads()
                );
            }
        }
    }

    /// Saves a PNG of the viewport, creating the parent directories.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> anyhow::Result<()> {
        let path = path.as_ref();
        let result = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await?;
        let data = result["data"]
            .as_str()
            .ok_or_else(|| anyhow!("Page.captureScreenshot returned no data"))?;
        let png = base64::engine::general_purpose::STANDARD.decode(data)?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// Every URL the page requested so far, in order (including `data:` URLs, which never
    /// touch the network).
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().requests.clone()
    }

    /// Every request that got no response: refused, blocked (CSP, mixed content), aborted.
    pub fn failed_loads(&self) -> Vec<FailedLoad> {
        self.log.lock().unwrap().failed.clone()
    }

    /// Uncaught exceptions, `console.error` calls and browser-logged errors (e.g. CSP
    /// violations), as a developer would see them in the console.
    pub fn errors(&self) -> Vec<String> {
        self.log.lock().unwrap().errors.clone()
    }

    /// Asserts that the page asked only `origin` (and `data:` URLs, which never touch the
    /// network), that every load got a response, and that nothing was logged as an error.
    pub fn assert_stayed_on(&self, origin: &str) {
        for request in self.requests() {
            assert!(
                request.starts_with(origin) || request.starts_with("data:"),
                "the page requested {request}, which is not {origin}"
            );
        }
        let failed = self.failed_loads();
        assert!(failed.is_empty(), "failed loads: {failed:#?}");
        let errors = self.errors();
        assert!(errors.is_empty(), "console errors: {errors:#?}");
    }

    /// A command to the page.
    async fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.send(Some(&self.session_id), method, params).await
    }

    /// A command to the browser (`session: None`) or a page session.
    async fn send(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> anyhow::Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        let (reply, answer) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, reply);
        self.outgoing
            .send(command.to_string())
            .map_err(|_| anyhow!("{method}: the DevTools connection is closed"))?;
        match tokio::time::timeout(COMMAND_TIMEOUT, answer).await {
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(error))) => bail!("{method}: {error}"),
            Ok(Err(_)) => bail!(
                "{method}: the DevTools connection closed (did Chromium crash? {})",
                self.process.log_tail()
            ),
            Err(_) => {
                self.pending.lock().unwrap().remove(&id);
                bail!("{method}: no answer within {COMMAND_TIMEOUT:?}")
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn record_event(log: &mut PageLog, method: &str, params: &Value) {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    match method {
        "Network.requestWillBeSent" => {
            let url = text(&params["request"]["url"]);
            log.urls_by_request_id
                .insert(text(&params["requestId"]), url.clone());
            log.requests.push(url);
        }
        "Network.loadingFailed" => {
            let url = log
                .urls_by_request_id
                .get(params["requestId"].as_str().unwrap_or_default())
                .cloned()
                .unwrap_or_default();
            log.failed.push(FailedLoad {
                url,
                error: text(&params["errorText"]),
                blocked_reason: params["blockedReason"].as_str().map(str::to_owned),
            });
        }
        "Runtime.exceptionThrown" => {
            let details = &params["exceptionDetails"];
            let description = details["exception"]["description"]
                .as_str()
                .unwrap_or_else(|| details["text"].as_str().unwrap_or("exception"));
            log.errors.push(format!("uncaught: {description}"));
        }
        "Runtime.consoleAPICalled" if params["type"] == "error" => {
            let arguments: Vec<String> = params["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|arg| match &arg["value"] {
                    Value::String(value) => value.clone(),
                    Value::Null => text(&arg["description"]),
                    value => value.to_string(),
                })
                .collect();
            log.errors
                .push(format!("console.error: {}", arguments.join(" ")));
        }
        "Log.entryAdded" if params["entry"]["level"] == "error" => {
            let entry = &params["entry"];
            log.errors.push(format!(
                "{}: {} {}",
                text(&entry["source"]),
                text(&entry["text"]),
                text(&entry["url"])
            ));
        }
        _ => {}
    }
}

fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// The Chromium process and its temporary directory (profile + log), both gone on drop.
struct ChromiumProcess {
    child: Child,
    dir: PathBuf,
}

impl ChromiumProcess {
    fn spawn() -> anyhow::Result<ChromiumProcess> {
        static LAUNCHES: AtomicU64 = AtomicU64::new(0);

        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| DEFAULT_CHROMIUM.to_owned());
        if !Path::new(&binary).exists() {
            bail!(
                "Chromium not found at {binary}: install it with `apt-get install -y chromium` \
                 (or point the CHROMIUM environment variable at a Chromium binary)"
            );
        }
        let dir = std::env::temp_dir().join(format!(
            "switchyard-chromium-{}-{}",
            std::process::id(),
            LAUNCHES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        let profile = dir.join("profile");
        fs::create_dir_all(&profile).with_context(|| format!("creating {}", profile.display()))?;
        let log = fs::File::create(dir.join("chromium.log"))?;

        let child = Command::new(&binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-breakpad",
                "--disable-domain-reliability",
                "--proxy-server=127.0.0.1:9",
                "--proxy-bypass-list=localhost;127.0.0.1;[::1]",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]",
                "--window-size=1280,800",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|error| match error.kind() {
                ErrorKind::NotFound | ErrorKind::PermissionDenied => anyhow!(
                    "cannot run Chromium at {binary} ({error}): install it with \
                     `apt-get install -y chromium` or set CHROMIUM"
                ),
                _ => anyhow!("starting Chromium at {binary}: {error}"),
            })?;
        Ok(ChromiumProcess { child, dir })
    }

    /// `ws://127.0.0.1:PORT/devtools/browser/ID`, from the `DevToolsActivePort` file that
    /// Chromium writes into the profile once it listens (port 0 = it picks a free one).
    async fn devtools_endpoint(&mut self) -> anyhow::Result<String> {
        let file = self.dir.join("profile").join("DevToolsActivePort");
        let deadline = Instant::now() + LAUNCH_TIMEOUT;
        let mut ticks = tokio::time::interval(POLL_INTERVAL);
        loop {
            ticks.tick().await;
            if let Ok(contents) = fs::read_to_string(&file) {
                let mut lines = contents.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next())
                    && port.parse::<u16>().is_ok()
                    && path.starts_with("/devtools/browser/")
                {
                    return Ok(format!("ws://127.0.0.1:{port}{path}"));
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "Chromium exited ({status}) before opening DevTools: {}",
                    self.log_tail()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "Chromium did not open its DevTools port within {LAUNCH_TIMEOUT:?}: {}",
                    self.log_tail()
                );
            }
        }
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("chromium.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("Chromium's log ({}):\n{tail}", self.dir.display())
    }
}

impl Drop for ChromiumProcess {
    fn drop(&mut self) {
        // SIGKILL: nothing of the profile is worth a graceful shutdown. Chromium's helper
        // processes exit when the browser's IPC channels close.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
