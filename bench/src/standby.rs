//! Throwaway PostgreSQL clusters on loopback for tests and benchmarks of read replicas: a primary
//! (`initdb` in a temporary directory, replication allowed from 127.0.0.1) and streaming standbys of
//! it (`pg_basebackup -R -X stream`, then a second server on a free port), each stopped (fast
//! shutdown) and deleted on drop.
//!
//! The primary is our own rather than the machine's cluster: taking a base backup needs a
//! `replication` line in `pg_hba.conf`, which the machine's cluster may not have (this one's allows
//! only `all` databases), and a test must not change the machine. Run as the `postgres` user when we
//! are root (PostgreSQL refuses to run as root).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::BenchError;

/// The directory holding the PostgreSQL server programs (`initdb`, `pg_ctl`, `pg_basebackup`,
/// `psql`), newest version first; `None` when they are not installed.
pub fn server_binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> =
        std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|e| e.path()).collect();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .map(|v| v.join("bin"))
        .find(|b| ["initdb", "pg_ctl", "pg_basebackup", "psql"].iter().all(|tool| b.join(tool).exists()))
}

/// A free TCP port of 127.0.0.1 (free when asked).
fn free_port() -> Result<u16, BenchError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One PostgreSQL server in a temporary directory of its own.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
    running: bool,
}

impl Cluster {
    /// A new primary, started and accepting connections; `Ok(None)` where the server programs are
    /// missing (the caller says NOT RUN).
    pub fn primary() -> Result<Option<Cluster>, BenchError> {
        let Some(cluster) = Cluster::prepare("primary")? else { return Ok(None) };
        let data = cluster.data();
        cluster.run("initdb", |c| {
            c.args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"]).arg(&data);
        })?;
        // initdb's pg_hba.conf already trusts replication from 127.0.0.1 with `-A trust`; said again
        // here so that the standby's base backup does not depend on initdb's defaults.
        let hba = data.join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba)?;
        rules.push_str("\nhost replication all 127.0.0.1/32 trust\n");
        std::fs::write(&hba, rules)?;
        let mut cluster = cluster;
        cluster.start()?;
        Ok(Some(cluster))
    }

    /// A streaming standby of the primary at 127.0.0.1:`primary_port` (user `postgres`), started,
    /// accepting connections and in recovery; `Ok(None)` where `pg_basebackup` is missing.
    pub fn standby_of(primary_port: u16) -> Result<Option<Cluster>, BenchError> {
        let Some(mut cluster) = Cluster::prepare("standby")? else { return Ok(None) };
        let data = cluster.data();
        let port = primary_port.to_string();
        cluster.run("pg_basebackup", |c| {
            // A fast checkpoint: the default spread one waits most of checkpoint_timeout (minutes).
            c.args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-R", "-X", "stream", "-c", "fast", "-D"])
                .arg(&data);
        })?;
        cluster.start()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while cluster.sql("SELECT pg_is_in_recovery()").ok().as_deref() != Some("t") {
            if Instant::now() > deadline {
                return Err(BenchError::Invalid(format!(
                    "the standby on port {} is not in recovery after 60 s",
                    cluster.port
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Some(cluster))
    }

    fn prepare(role: &str) -> Result<Option<Cluster>, BenchError> {
        let Some(bin) = server_binaries() else { return Ok(None) };
        let as_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("crisisgraph-{role}-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let cluster = Cluster { bin, dir, port, as_root, running: false };
        if as_root {
            let chowned = Command::new("chown").arg("postgres:postgres").arg(&cluster.dir).status()?;
            if !chowned.success() {
                return Err(BenchError::Invalid(format!("chown postgres {} failed", cluster.dir.display())));
            }
        }
        Ok(Some(cluster))
    }

    /// `tool` of the server programs, as `postgres` when we are root.
    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        let mut command = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.stdin(Stdio::null());
        command
    }

    /// Runs `tool` to its end; its error output in the error when it fails.
    fn run(&self, tool: &str, args: impl FnOnce(&mut Command)) -> Result<String, BenchError> {
        let mut command = self.command(tool);
        args(&mut command);
        let output = command.output()?;
        if !output.status.success() {
            return Err(BenchError::Invalid(format!(
                "{tool} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Starts the server (`pg_ctl -w`): listening on 127.0.0.1:`port` only, its socket in its own directory.
    pub fn start(&mut self) -> Result<(), BenchError> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c wal_keep_size=256MB",
            self.port,
            self.dir.display()
        );
        let (log, data) = (self.dir.join("log"), self.data());
        // Not captured: the server started would inherit the pipes and hold them open.
        let status = self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-o", &options, "-l"])
            .arg(&log)
            .arg("-D")
            .arg(&data)
            .arg("start")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(BenchError::Invalid(format!("pg_ctl start failed ({status}): {}", tail.trim())));
        }
        self.running = true;
        Ok(())
    }

    /// Stops the server: fast shutdown (sessions are ended, no wait for clients).
    pub fn stop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = self
                .command("pg_ctl")
                .args(["-w", "-m", "fast", "-D"])
                .arg(&data)
                .arg("stop")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            self.running = false;
        }
    }

    /// Runs one SQL statement with `psql` on database `postgres`; its unaligned output.
    pub fn sql(&self, statement: &str) -> Result<String, BenchError> {
        self.sql_on("postgres", statement)
    }

    /// Runs one SQL statement with `psql` on `database`; its unaligned output.
    pub fn sql_on(&self, database: &str, statement: &str) -> Result<String, BenchError> {
        let port = self.port.to_string();
        self.run("psql", |c| {
            c.args([
                "-X",
                "-q",
                "-At",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                statement,
            ]);
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The directory the cluster lives in (its data, socket and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
