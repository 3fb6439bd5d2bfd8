//! `--read-replicas N`: the canonical queries' requests per second with 0, 1, ... N streaming
//! standbys taking the reads (`CRISISGRAPH_READ_DATABASE_URL`), all on this machine: a throwaway
//! primary and its standbys (crisisgraph_bench::standby), the same synthetic Haiti rows as the main
//! run plus the bundled sample (for Mali), `wrk` as for the main table. One machine shares its cores
//! between the primary, the standbys, the server and `wrk`: this shows the cost of routing and
//! waiting, not the scaling that replicas on their own machines give.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crisisgraph_bench::BenchError;
use crisisgraph_bench::standby::Cluster;

use crisisgraph_bench::queries::{canonical, wrk_script};

use super::{Args, crisisgraph, curl, graphql, serve_with, wrk};

/// `crisisgraph serve` on the primary with `replicas` taking the reads; ready, with its base URL. The
/// answer cache serves only the primary: off in every configuration, so that what is compared is the
/// reads themselves.
fn serve_on(
    args: &Args,
    pg: &str,
    base: &str,
    replicas: &[&Cluster],
    sample: bool,
) -> Result<(std::process::Child, String), BenchError> {
    let urls = replicas.iter().map(|r| r.url("postgres")).collect::<Vec<_>>().join(",");
    let extra: &[&str] = if sample { &["--sample"] } else { &[] };
    serve_with(args, pg, base, extra, &[("CRISISGRAPH_READ_DATABASE_URL", &urls), ("CRISISGRAPH_ANSWER_CACHE_MB", "0")])
}

/// Waits until every standby has replayed what the primary has written.
fn caught_up(primary: &Cluster, standbys: &[Cluster]) -> Result<(), BenchError> {
    let written = primary.sql("SELECT pg_current_wal_lsn()")?;
    let deadline = Instant::now() + Duration::from_secs(600);
    for standby in standbys {
        while standby.sql(&format!("SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn"))? != "t" {
            if Instant::now() > deadline {
                return Err(BenchError::Invalid("a standby did not catch up within 10 minutes".into()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Ok(())
}

fn stop(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}

/// The measurement: one table row per number of replicas, 0 to `replicas`.
pub(crate) fn run(args: &Args, replicas: usize, base: &str, say: &mut dyn FnMut(String)) -> Result<(), BenchError> {
    let Some(primary) = Cluster::primary()? else {
        say("NOT RUN: the PostgreSQL server programs (initdb, pg_basebackup) are not installed".into());
        return Ok(());
    };
    let pg = primary.url("postgres");
    for cli in
        [&["ingest", "geography", "--country", "HTI"][..], &["ingest", "dtm", "--country", "HTI", "--levels", "2"]]
    {
        if !crisisgraph(args, &pg, base, cli).stdout(Stdio::null()).status()?.success() {
            return Err(BenchError::Invalid(format!("{cli:?} failed")));
        }
    }
    // The sample (Mali, for the first query) goes in once, before the standbys are copied.
    let (child, _) = serve_on(args, &pg, base, &[], true)?;
    stop(child);
    let mut standbys = Vec::new();
    for _ in 0..replicas {
        standbys.push(
            Cluster::standby_of(primary.port())?
                .ok_or_else(|| BenchError::Invalid("pg_basebackup is not installed".into()))?,
        );
    }
    caught_up(&primary, &standbys)?;
    let queries = canonical();
    // The first of `--connections`: one load per query and replica count.
    let connections = args.connections.first().copied().unwrap_or(32);
    say(format!(
        "## Read replicas: {} rows, {connections} connections, {} s per query; primary and standbys on this one machine\n",
        args.rows, args.duration
    ));
    let names: Vec<&str> = queries.iter().map(|q| q.name).collect();
    say(format!("| read replicas | {} | errors |", names.join(" req/s | ") + " req/s"));
    say(format!("|---|{}---|", "---|".repeat(names.len())));
    let mut answers: Vec<serde_json::Value> = Vec::new();
    for count in 0..=replicas {
        let on: Vec<&Cluster> = standbys.iter().take(count).collect();
        let (child, url) = serve_on(args, &pg, base, &on, false)?;
        let mut cells = Vec::new();
        let mut errors = Vec::new();
        for (i, query) in queries.iter().enumerate() {
            let (name, query) = (query.name, query.crisisgraph);
            let answer =
                graphql(&format!("{url}/graphql"), query).map_err(|e| BenchError::Invalid(format!("{name}: {e}")))?;
            match answers.get(i) {
                Some(first) if *first != answer => {
                    errors.push(format!("{name}: a different answer than with no replica"))
                }
                Some(_) => {}
                None => answers.push(answer),
            }
            let load = wrk(args, &format!("{url}/graphql"), &wrk_script(query, None), connections, &args.work)?;
            cells.push(format!("{:.0}", load.rps));
            if !load.errors.is_empty() {
                errors.push(format!("{name}: {}", load.errors));
            }
        }
        let metrics = curl(&[&format!("{url}/metrics")])?;
        let reads: Vec<&str> = metrics.lines().filter(|l| l.starts_with("crisisgraph_read_")).collect();
        eprintln!("{count} replicas: {}", reads.join("; "));
        stop(child);
        say(format!("| {count} | {} | {} |", cells.join(" | "), errors.join("; ")));
    }
    say(String::new());
    Ok(())
}
