//! The `crisisgraph` command: CLI wiring only. Everything it runs lives in the `store`, `ingest`
//! and `api` crates.

mod config;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ingest::{FetchMode, Ingester, RunOptions, Source};
use store::models::IngestRun;
use store::{DbPool, build_pool, run_migrations, with_conn};

use crate::config::Settings;

#[derive(Parser)]
#[command(name = "crisisgraph", version, about = "GraphQL data platform for humanitarian crisis data")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending database migrations (DATABASE_URL; default: SQLite file crisisgraph.db).
    Migrate,
    /// Ingest one source now and print a summary; exits non-zero if the run fails.
    Ingest {
        /// geography | dtm | catalog | population | funding | sites
        source: String,
        /// ISO3 country code; repeat for several (default: CRISISGRAPH_COUNTRIES).
        #[arg(long = "country", value_name = "ISO3")]
        countries: Vec<String>,
        /// DTM admin levels to fetch.
        #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
        levels: Vec<u8>,
        /// Compute what would change and commit nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replay archived payloads instead of fetching.
        #[arg(long)]
        offline: bool,
    },
    /// List ingest runs, newest first.
    Runs {
        #[arg(long)]
        source: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Serve GraphQL at /graphql, GraphiQL at /graphiql and /healthz.
    Serve {
        /// Load the bundled offline sample (Mali, Chad, Haiti, Afghanistan) before serving.
        #[arg(long)]
        sample: bool,
        /// Listen address (default: CRISISGRAPH_BIND or 127.0.0.1:8080).
        #[arg(long)]
        bind: Option<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,actix_server=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let settings = Settings::from_env();
    match cli.command {
        Command::Schema => {
            println!("{}", api::schema::sdl());
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let pool = open_store(&settings).await?;
            drop(pool);
            println!("migrations applied to {}", describe(&settings.database_url));
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest { source, countries, levels, dry_run, offline } => {
            let source: Source = source.parse()?;
            let pool = open_store(&settings).await?;
            let mode = if offline { FetchMode::Offline } else { FetchMode::Online };
            let ingester = Ingester::new(pool, settings.ingest.clone(), mode)?;
            let options =
                RunOptions { countries, dtm_levels: levels, dry_run, trigger: "cli".into(), ..RunOptions::default() };
            let run = ingester.run(source, &options).await?;
            print_runs(std::slice::from_ref(&run));
            Ok(if run.status == store::runs::status::SUCCEEDED { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Runs { source, limit } => {
            let pool = open_store(&settings).await?;
            let runs = with_conn(&pool, move |c| store::runs::list_runs(c, source.as_deref(), limit, 0)).await?;
            print_runs(&runs);
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { sample, bind } => {
            let pool = open_store(&settings).await?;
            if sample {
                let runs = ingest::sample::load_sample(&pool).await.context("loading the bundled sample")?;
                print_runs(&runs);
                if let Some(failed) = runs.iter().find(|r| r.status != store::runs::status::SUCCEEDED) {
                    anyhow::bail!(
                        "the sample did not load: run {} {}",
                        failed.id,
                        failed.error.as_deref().unwrap_or("")
                    );
                }
            }
            serve(pool, bind.unwrap_or(settings.bind)).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Opens the pool and applies pending migrations.
async fn open_store(settings: &Settings) -> Result<DbPool> {
    let url = settings.database_url.clone();
    let pool = tokio::task::spawn_blocking(move || build_pool(&url))
        .await?
        .with_context(|| format!("opening the store at {}", describe(&settings.database_url)))?;
    let applied = with_conn(&pool, run_migrations).await.context("migrating the store")?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    Ok(pool)
}

/// The database URL without its password, for messages.
fn describe(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

async fn serve(pool: DbPool, bind: String) -> Result<()> {
    let schema = api::build_schema(pool.clone());
    tracing::info!(%bind, "serving GraphQL at /graphql, GraphiQL at /graphiql");
    actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .wrap(actix_web::middleware::Compress::default())
            .configure(api::server::configure(schema.clone(), pool.clone()))
    })
    .bind(&bind)
    .with_context(|| format!("binding {bind}"))?
    .run()
    .await?;
    Ok(())
}

fn print_runs(runs: &[IngestRun]) {
    println!(
        "{:>6}  {:<10} {:<11} {:<7} {:>8} {:>8} {:>8} {:>9} {:>8}  {:<19}  error",
        "run",
        "source",
        "status",
        "trigger",
        "fetched",
        "inserted",
        "updated",
        "unchanged",
        "rejected",
        "started (UTC)"
    );
    for r in runs {
        println!(
            "{:>6}  {:<10} {:<11} {:<7} {:>8} {:>8} {:>8} {:>9} {:>8}  {:<19}  {}",
            r.id,
            r.source,
            if r.dry_run { format!("{} (dry)", r.status) } else { r.status.clone() },
            r.trigger,
            r.fetched,
            r.inserted,
            r.updated,
            r.unchanged,
            r.rejected,
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.error.as_deref().unwrap_or("")
        );
    }
}
