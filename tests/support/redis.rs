//! A real `redis-server` for the tests, on an ephemeral loopback port, with no persistence;
//! it can be killed, paused (SIGSTOP: a hung Redis) and restarted on the same port.
//! `scripts/test` installs Debian's redis-server; `REDIS_SERVER` names another binary.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        // The kernel picks a free port; redis-server takes it over right after.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = RedisServer { port, child: None };
        server.launch().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    async fn launch(&mut self) {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{binary}: {e} (scripts/test installs redis-server; or set REDIS_SERVER)")
            });
        self.child = Some(child);
        super::poll_until("redis-server comes up", Duration::from_secs(10), || async {
            self.ping().await.ok()
        })
        .await;
    }

    async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url())?
            .get_multiplexed_async_connection()
            .await
    }

    async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.connection().await?;
        redis::cmd("PING").query_async(&mut conn).await
    }

    /// Keys matching `pattern`, sorted.
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        let mut conn = self.connection().await.expect("redis answers");
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut conn)
            .await
            .expect("KEYS");
        keys.sort();
        keys
    }

    /// The stored text of `key`.
    pub async fn get(&self, key: &str) -> Option<String> {
        let mut conn = self.connection().await.expect("redis answers");
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("GET")
    }

    /// Stops it hard, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: nothing is persisted).
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }

    /// Freezes the process: connections stay open and nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} {pid}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
