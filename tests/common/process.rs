//! Running the real `crisisgraph` binary from a test: a child process killed when the test ends,
//! free ports, and waiting for a condition with a deadline.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_crisisgraph");

/// A child process, killed (SIGKILL) and reaped when dropped.
pub struct Child(pub std::process::Child);

impl Child {
    pub fn spawn(command: &mut Command) -> Child {
        Child(command.spawn().expect("crisisgraph starts"))
    }

    /// `kill -9`, and wait for it.
    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM, then wait up to 30 s.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "crisisgraph did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// `crisisgraph` on `database_url` with every source pointed at `base`, schedules off, nothing
/// inherited from the environment that matters.
pub fn crisisgraph(database_url: &str, base: &str, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("CRISISGRAPH_DTM_URL", base)
        .env("CRISISGRAPH_HDX_URL", base)
        .env("CRISISGRAPH_FTS_URL", base)
        .env("CRISISGRAPH_DTM_KEY", super::DTM_KEY)
        .env_remove("CRISISGRAPH_COUNTRIES")
        .env_remove("CRISISGRAPH_CONFIG")
        .env_remove("CRISISGRAPH_OPERATOR_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for source in ["GEOGRAPHY", "DTM", "CATALOG", "POPULATION", "FUNDING", "SITES"] {
        command.env(format!("CRISISGRAPH_SCHEDULE_{source}"), "off");
    }
    command
}

/// Polls `check` every 100 ms until it holds; fails the test after `timeout`.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
