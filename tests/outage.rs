//! Database outage: PostgreSQL stops while `crisisgraph serve` runs. GraphQL answers a clear
//! `UNAVAILABLE` error and `/readyz` fails, both promptly; when PostgreSQL is back, the same server
//! answers as before without a restart. Runs on a throwaway cluster of its own (initdb + pg_ctl on a
//! free port), never the machine's main one; skipped where the PostgreSQL server binaries are missing.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{Child, crisisgraph, free_port, wait_for};
use serde_json::{Value, json};

const QUERY: &str = r#"{ country(iso3: "MLI") { name adminAreas(level: 1) { pcode idps(latestRoundOnly: true) { nodes { individuals } } } } }"#;

/// The directory holding `initdb` and `pg_ctl`, newest version first.
fn pg_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> =
        std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|e| e.path()).collect();
    versions.sort();
    versions.into_iter().rev().map(|v| v.join("bin")).find(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
}

/// A PostgreSQL cluster in a temporary directory, run as the `postgres` user when we are root.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl Cluster {
    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        let mut command = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.stdout(Stdio::null()).stderr(Stdio::null());
        command
    }

    fn create() -> Option<Cluster> {
        let bin = pg_bin()?;
        let as_root = Command::new("id").arg("-u").output().ok().is_some_and(|o| o.stdout.starts_with(b"0\n"));
        let dir = std::env::temp_dir().join(format!("crisisgraph-outage-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).ok()?;
        if as_root {
            Command::new("chown").args(["postgres:postgres"]).arg(&dir).status().ok()?.success().then_some(())?;
        }
        let cluster = Cluster { bin, dir, port: free_port(), as_root };
        let data = cluster.dir.join("data");
        let ok = cluster
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("note: initdb failed; this outage test checks nothing here");
            return None;
        }
        Some(cluster)
    }

    fn start(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        let ok = self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-o", &options, "-l"])
            .arg(self.dir.join("log"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("start")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "the throwaway PostgreSQL cluster did not start");
    }

    fn stop(&self, mode: &str) {
        let _ = self.command("pg_ctl").args(["-w", "-m", mode, "-D"]).arg(self.dir.join("data")).arg("stop").status();
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop("immediate");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn graphql(client: &reqwest::Client, base: &str) -> Value {
    let response = client.post(format!("{base}/graphql")).json(&json!({ "query": QUERY })).send().await;
    match response {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(e) => json!({ "transport_error": e.to_string() }),
    }
}

async fn ready(client: &reqwest::Client, base: &str) -> Option<u16> {
    client.get(format!("{base}/readyz")).send().await.ok().map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_says_unavailable_while_postgres_is_down_and_recovers_without_a_restart() {
    if common::postgres_url().is_none() {
        return;
    }
    let Some(cluster) = Cluster::create() else {
        eprintln!("note: no PostgreSQL server binaries here; this outage test checks nothing");
        return;
    };
    cluster.start();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = Child::spawn(&mut crisisgraph(
        &cluster.url(),
        "http://127.0.0.1:9",
        &["serve", "--sample", "--no-scheduler", "--bind", &format!("127.0.0.1:{port}")],
    ));
    wait_for("serve to be ready", Duration::from_secs(120), || async { ready(&client, &base).await == Some(200) })
        .await;
    let normal = graphql(&client, &base).await;
    assert!(normal["errors"].is_null() && normal["data"]["country"]["name"].is_string(), "{normal}");

    cluster.stop("fast");
    let started = Instant::now();
    let down = graphql(&client, &base).await;
    let took = started.elapsed();
    assert_eq!(down["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{down}");
    assert!(down["errors"][0]["message"].as_str().is_some_and(|m| m.contains("unavailable")), "{down}");
    assert!(took < Duration::from_secs(25), "GraphQL took {took:?} to say the store is down");
    eprintln!("outage: GraphQL answered UNAVAILABLE after {took:?}");
    let started = Instant::now();
    assert_eq!(ready(&client, &base).await, Some(503), "/readyz fails while the store is down");
    assert!(started.elapsed() < Duration::from_secs(5), "/readyz took {:?}", started.elapsed());
    eprintln!("outage: /readyz answered 503 after {:?}", started.elapsed());

    cluster.start();
    let started = Instant::now();
    wait_for("serve to recover by itself", Duration::from_secs(60), || async {
        ready(&client, &base).await == Some(200)
    })
    .await;
    eprintln!("outage: ready again {:?} after PostgreSQL was back", started.elapsed());
    assert_eq!(graphql(&client, &base).await, normal, "the same answer as before the outage");
    assert!(serve.is_running(), "serve was never restarted");
    assert!(serve.terminate().success());
}
