//! `crisisgraph-load`: 64 clients of mixed queries for 60 s against `crisisgraph serve` while its
//! scheduler re-ingests the DTM figures, every response checked (docs/reliability.md). Loopback only.
//! Prints a Markdown result table; exits non-zero on any failed or mixed response.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use crisisgraph_bench::load::{LoadSettings, run};

#[derive(Parser, Debug)]
#[command(about = "crisisgraph load test: mixed queries under a concurrent scheduled ingest")]
struct Args {
    /// The crisisgraph binary (a release build).
    #[arg(long, default_value = "target/release/crisisgraph")]
    crisisgraph: PathBuf,
    /// A PostgreSQL server (database `cg_load` is created on it) or a SQLite file path.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// The scheduler's cron for dtm during the load (six fields, seconds first).
    #[arg(long, default_value = "*/3 * * * * *")]
    cron: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let settings = LoadSettings {
        crisisgraph: args.crisisgraph,
        database: args.database,
        clients: args.clients.max(1),
        duration: Duration::from_secs(args.duration),
        cron: args.cron,
        repo: Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
    };
    match run(&settings).await {
        Ok(report) => {
            println!("{}", report.table());
            for sample in &report.samples {
                eprintln!("  {sample}");
            }
            if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            eprintln!("load test failed to run: {e}");
            ExitCode::FAILURE
        }
    }
}
