//! The `switchyard` binary as a user runs it: check-config, print-schema, and the sandbox
//! upstreams in one process serving a gateway in another.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A child process killed when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn switchyard(args: &[&str], env: &[(&str, String)]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

fn run(args: &[&str], env: &[(&str, String)]) -> Output {
    switchyard(args, env).output().expect("switchyard runs")
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("switchyard-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("write temp file");
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Polls `url` until it answers 200, or panics at the deadline.
async fn wait_until_up(client: &reqwest::Client, url: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    loop {
        ticks.tick().await;
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("process exited with {status} before {url} answered");
        }
        assert!(Instant::now() < deadline, "{url} did not come up in time");
    }
}

#[test]
fn check_config_accepts_the_shipped_file_and_names_bad_keys() {
    let ok = run(&["check-config", "switchyard.toml"], &[]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("switchyard.toml: ok"));

    let cases = [
        (
            "unknown-key.toml",
            "[providers.catalog]\nbase_urll = \"sandbox\"\n",
            "providers.catalog.base_urll",
        ),
        (
            "bad-value.toml",
            "[providers.reviews]\nmax_in_flight = \"eight\"\n",
            "providers.reviews.max_in_flight",
        ),
        (
            "bad-url.toml",
            "[providers.inventory]\nbase_url = \"not a url\"\n",
            "providers.inventory.base_url",
        ),
        (
            "bad-section.toml",
            "[providers.payments]\nbase_url = \"sandbox\"\n",
            "providers.payments",
        ),
        ("not-toml.toml", "[server\nlisten = 1\n", "TOML"),
    ];
    for (name, text, expected) in cases {
        let path = temp_file(name, text);
        let out = run(&["check-config", path.to_str().unwrap()], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was accepted");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        let _ = std::fs::remove_file(path);
    }

    let env_override = run(
        &["check-config", "switchyard.toml"],
        &[("SWITCHYARD__SERVER__LISTEN", "nowhere".into())],
    );
    assert!(!env_override.status.success());
    assert!(String::from_utf8_lossy(&env_override.stderr).contains("server.listen"));

    // The Redis tier from the environment: a good URL passes, a bad one is named.
    let redis = run(
        &["check-config", "switchyard.toml"],
        &[(
            "SWITCHYARD__CACHE__REDIS_URL",
            "redis://127.0.0.1:6379/0".into(),
        )],
    );
    assert!(
        redis.status.success(),
        "{}",
        String::from_utf8_lossy(&redis.stderr)
    );
    let bad_redis = run(
        &["check-config", "switchyard.toml"],
        &[(
            "SWITCHYARD__CACHE__REDIS_URL",
            "http://127.0.0.1:6379".into(),
        )],
    );
    assert!(!bad_redis.status.success());
    assert!(String::from_utf8_lossy(&bad_redis.stderr).contains("cache.redis_url"));

    let missing = run(&["check-config", "does-not-exist.toml"], &[]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does-not-exist.toml"));
}

#[test]
fn print_schema_prints_the_committed_schema() {
    let out = run(&["print-schema"], &[]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/schema.graphql"
    ))
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);
}

#[tokio::test]
async fn a_gateway_process_serves_from_a_separate_sandbox_process() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let providers = ["catalog", "frankfurter", "erapi", "inventory", "reviews"];
    let ports: Vec<(&str, u16)> = providers.iter().map(|p| (*p, free_port())).collect();

    let sandbox_env: Vec<(String, String)> = ports
        .iter()
        .map(|(p, port)| {
            (
                format!("SWITCHYARD__SANDBOX__PORTS__{}", p.to_uppercase()),
                port.to_string(),
            )
        })
        .collect();
    let sandbox_env: Vec<(&str, String)> = sandbox_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let mut sandbox = Running(
        switchyard(&["sandbox"], &sandbox_env)
            .stdout(Stdio::null())
            .spawn()
            .expect("sandbox starts"),
    );
    for (_, port) in &ports {
        wait_until_up(
            &client,
            &format!("http://127.0.0.1:{port}/__sandbox/counters"),
            &mut sandbox.0,
        )
        .await;
    }

    let listen = free_port();
    let mut gateway_env: Vec<(String, String)> = ports
        .iter()
        .map(|(p, port)| {
            (
                format!("SWITCHYARD__PROVIDERS__{}__BASE_URL", p.to_uppercase()),
                format!("http://127.0.0.1:{port}"),
            )
        })
        .collect();
    gateway_env.push((
        "SWITCHYARD__SERVER__LISTEN".into(),
        format!("127.0.0.1:{listen}"),
    ));

    // Off the built-in sandbox, credentials must come from the environment.
    let refused = run(
        &["serve"],
        &gateway_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect::<Vec<_>>(),
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("providers.inventory.credentials.client_id")
            && stderr.contains("INVENTORY_CLIENT_ID"),
        "{stderr}"
    );

    gateway_env.push((
        "INVENTORY_CLIENT_ID".into(),
        providers::inventory::SANDBOX_CLIENT_ID.into(),
    ));
    gateway_env.push((
        "INVENTORY_CLIENT_SECRET".into(),
        providers::inventory::SANDBOX_CLIENT_SECRET.into(),
    ));
    gateway_env.push((
        "REVIEWS_API_KEY".into(),
        providers::reviews::SANDBOX_API_KEY.into(),
    ));
    let gateway_env: Vec<(&str, String)> = gateway_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let mut gateway = Running(
        switchyard(&["serve"], &gateway_env)
            .stderr(Stdio::null())
            .spawn()
            .expect("gateway starts"),
    );
    wait_until_up(
        &client,
        &format!("http://127.0.0.1:{listen}/healthz"),
        &mut gateway.0,
    )
    .await;

    let query = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/operations/storefront.graphql"
    ))
    .unwrap();
    let body: Value = client
        .post(format!("http://127.0.0.1:{listen}/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["products"]["edges"].as_array().unwrap().len(),
        20
    );

    for (provider, expected) in [("catalog", 1), ("inventory", 2), ("reviews", 20)] {
        let port = ports.iter().find(|(p, _)| *p == provider).unwrap().1;
        let counters: Value = client
            .get(format!("http://127.0.0.1:{port}/__sandbox/counters"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // inventory: one token request and one stock batch.
        assert_eq!(counters["total"], expected, "{provider}: {counters}");
    }
}
