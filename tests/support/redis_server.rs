//! A redis-server of a test's own (shared by the Redis store tests): on a free loopback port,
//! without persistence, so that a test can kill it and start it again.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A redis-server of the test's own, on a free loopback port, so it can be killed.
pub struct Server {
    child: Option<Child>,
    port: u16,
}

impl Server {
    /// Starts one; `None` (with a message) only where Redis is not expected.
    pub fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut server = Self { child: None, port };
        if !server.spawn() {
            // Where Redis is expected (REDIS_URL set, as in CI) a missing server is a failure,
            // never a silent pass.
            assert!(
                std::env::var_os("REDIS_URL").is_none(),
                "REDIS_URL is set but redis-server could not be started: install redis-server"
            );
            eprintln!("SKIPPED: redis-server is not installed");
            return None;
        }
        Some(server)
    }

    /// Starts (again) on the same port; whether it answers within 3 s.
    pub fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Where it listens.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
