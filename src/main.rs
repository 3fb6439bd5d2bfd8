//! The `crisisgraph` command: CLI wiring only. Everything it runs lives in the `store`, `ingest`
//! and `api` crates.

mod config;
mod progress;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ingest::status::SourceStatus;
use ingest::{Coordinator, FetchMode, Ingester, RunOptions, Scheduler, Source};
use store::models::IngestRun;
use store::{DbPool, build_pool_with, run_migrations, with_conn};

use crate::config::Settings;

#[derive(Parser)]
#[command(name = "crisisgraph", version, about = "GraphQL data platform for humanitarian crisis data")]
struct Cli {
    /// TOML configuration file (default: CRISISGRAPH_CONFIG, or ./crisisgraph.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending database migrations (DATABASE_URL; default: SQLite file crisisgraph.db).
    Migrate,
    /// Ingest one source now and print a summary; exits non-zero if the run fails.
    Ingest {
        /// The source to ingest.
        #[arg(value_parser = SourceParser)]
        source: Source,
        /// ISO3 country code; repeat for several (default: CRISISGRAPH_COUNTRIES).
        #[arg(long = "country", value_name = "ISO3")]
        countries: Vec<String>,
        /// DTM admin levels to fetch (default 0,1,2; with --offline, the levels the bundled sample holds
        /// for each country: Mali and Afghanistan 0,1).
        #[arg(long, value_delimiter = ',')]
        levels: Option<Vec<u8>>,
        /// Compute what would change and commit nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replay archived payloads instead of fetching.
        #[arg(long)]
        offline: bool,
    },
    /// List ingest runs, newest first.
    Runs {
        /// Only runs of this source.
        #[arg(long)]
        source: Option<String>,
        /// How many runs to list.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// The webhook delivery log, newest first: receiver, run, attempts, last answer, state.
    Webhooks {
        /// Only deliveries of this run (its number).
        #[arg(long)]
        run: Option<i64>,
        /// How many deliveries to list.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Each source: schedule, next run, last success and failure, rows, and whether it is stale.
    Sources {
        /// Print the operator guide's table of sources (from their declarations) instead.
        #[arg(long)]
        markdown: bool,
    },
    /// Write a BI export to a file: the rows of `/export/<entity>.<format>` with the same parameters,
    /// every row unless `--param limit=N` is given.
    Export {
        /// The export (admin-areas, idps, population, ...; the list is in docs/bi.md).
        entity: String,
        /// The file format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// The file to write (replaced only once the export has succeeded).
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        /// An export parameter, as in the URL (country=MLI, admin_level=1, ...); repeat for several.
        #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Print the BI guide's column tables (docs/bi.md), from the BI entities' declarations.
    BiColumns,
    /// Serve GraphQL at /graphql, GraphiQL at /graphiql, /healthz, /readyz and /metrics, and run the schedules.
    Serve {
        /// Load the bundled offline sample (Mali, Chad, Haiti, Afghanistan) before serving.
        #[arg(long)]
        sample: bool,
        /// Listen address (default: CRISISGRAPH_BIND or 127.0.0.1:8080).
        #[arg(long)]
        bind: Option<String>,
        /// Serve only: run no scheduled ingests.
        #[arg(long)]
        no_scheduler: bool,
    },
}

/// The formats `crisisgraph export` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Csv,
    Json,
    Parquet,
}

impl From<ExportFormat> for api::export::Format {
    fn from(format: ExportFormat) -> api::export::Format {
        match format {
            ExportFormat::Csv => api::export::Format::Csv,
            ExportFormat::Json => api::export::Format::Json,
            ExportFormat::Parquet => api::export::Format::Parquet,
        }
    }
}

/// A `--param KEY=VALUE`.
fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_string(), value.to_string())),
        _ => Err(format!("{text:?}: write KEY=VALUE, e.g. country=MLI")),
    }
}

/// The CLI's source argument, from the list of sources: `--help` shows each with its summary, and
/// an unknown name is refused with [`ingest::IngestError::UnknownSource`]'s message.
#[derive(Clone)]
struct SourceParser;

impl clap::builder::TypedValueParser for SourceParser {
    type Value = Source;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Source, clap::Error> {
        let text = value.to_string_lossy();
        text.parse::<Source>()
            .map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{e}\n")).with_cmd(cmd))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            Source::ALL.into_iter().map(|s| clap::builder::PossibleValue::new(s.name()).help(s.spec().summary)),
        ))
    }
}

/// glibc gives each thread that allocates under contention an arena of its own, up to 8 per core, and
/// keeps what each arena once held: with tokio's blocking threads (one per running statement) the
/// server's resident memory grew to over 220 MB under the query bench. Two arenas serve two actix
/// workers and the statements they wait on (docs/benchmarks.md). Only where glibc's allocator runs.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only changes the allocator's tuning; called first thing, before other threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    // Colours only on a terminal (and never with NO_COLOR): a log file or a collector gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,actix_server=warn".into()),
        )
        .with_ansi(colour)
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
    if let Command::Schema = cli.command {
        print!("{}", api::schema::sdl());
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::BiColumns = cli.command {
        print!("{}", store::bi::markdown_tables());
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Sources { markdown: true } = cli.command {
        print!("{}", ingest::sources::markdown_table());
        return Ok(ExitCode::SUCCESS);
    }
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Schema => Ok(ExitCode::SUCCESS),
        Command::Migrate => {
            let pool = open_store(&settings).await?;
            drop(pool);
            println!("migrations applied to {}", describe(&settings.database_url));
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest { source, countries, levels, dry_run, offline } => {
            let pool = open_store(&settings).await?;
            let mode = if offline { FetchMode::Offline } else { FetchMode::Online };
            let ingester = Ingester::new(pool, settings.ingest.clone(), mode)?;
            let mut code = ExitCode::SUCCESS;
            for (countries, dtm_levels) in level_groups(source, countries, levels, offline, &settings.ingest.countries)
            {
                let options =
                    RunOptions { countries, dtm_levels, dry_run, trigger: "cli".into(), ..RunOptions::default() };
                let progress = progress::for_terminal(source);
                let (started, run) = ingester.run_or_report(source, &options, progress.clone()).await?;
                progress.finish();
                if !started {
                    eprintln!(
                        "error: {source} is already running (run {}, started {}): not starting another",
                        run.id,
                        api::scalars::utc_rfc3339(run.started_at)
                    );
                    print_runs(std::slice::from_ref(&run));
                    return Ok(ExitCode::from(EXIT_ALREADY_RUNNING));
                }
                print_runs(std::slice::from_ref(&run));
                if run.status != store::runs::status::SUCCEEDED {
                    code = ExitCode::FAILURE;
                }
            }
            Ok(code)
        }
        Command::Runs { source, limit } => {
            let pool = open_store(&settings).await?;
            let runs = with_conn(&pool, move |c| store::runs::list_runs(c, source.as_deref(), limit, 0)).await?;
            print_runs(&runs);
            Ok(ExitCode::SUCCESS)
        }
        Command::Webhooks { run, limit } => {
            let pool = open_store(&settings).await?;
            let deliveries = with_conn(&pool, move |c| store::webhooks::list(c, run, limit)).await?;
            print_deliveries(&deliveries);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sources { markdown: true } | Command::BiColumns => Ok(ExitCode::SUCCESS),
        Command::Export { entity, format, out, params } => {
            if store::bi::entity(&entity).is_none() {
                let known: Vec<&str> = store::BI_ENTITIES.iter().map(|e| e.export).collect();
                anyhow::bail!("unknown export {entity:?}; known: {}", known.join(", "));
            }
            let pool = open_store(&settings).await?;
            export_to_file(&pool, &entity, format.into(), params.into_iter().collect(), &out).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sources { markdown: false } => {
            let pool = open_store(&settings).await?;
            let statuses = ingest::status::source_statuses(&pool, &settings.schedules).await?;
            print_sources(&statuses);
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { sample, bind, no_scheduler } => {
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
            if !settings.read_replicas.urls.is_empty() {
                let (replicas, reads) = (settings.read_replicas.clone(), pool.clone());
                tokio::task::spawn_blocking(move || reads.attach_replicas(&replicas))
                    .await?
                    .context("opening the read replicas")?;
                tracing::info!(
                    replicas = settings.read_replicas.urls.len(),
                    max_wait_ms = settings.read_replicas.max_wait.as_millis() as u64,
                    "GraphQL and export reads go to the read replicas"
                );
            }
            let bind = bind.unwrap_or_else(|| settings.bind.clone());
            serve(pool, &settings, bind, !no_scheduler).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The runs `crisisgraph ingest` makes: one, unless DTM levels are not given for an offline ingest,
/// which then replays the levels the bundled sample holds for each country (one run per distinct set
/// of levels; a country the sample lacks gets 0,1,2).
fn level_groups(
    source: Source,
    countries: Vec<String>,
    levels: Option<Vec<u8>>,
    offline: bool,
    configured: &[String],
) -> Vec<(Vec<String>, Vec<u8>)> {
    const ALL_LEVELS: [u8; 3] = [0, 1, 2];
    match levels {
        Some(levels) => vec![(countries, levels)],
        None if offline && source == Source::Dtm => {
            let wanted = if countries.is_empty() { configured.to_vec() } else { countries };
            if wanted.is_empty() {
                return vec![(wanted, ALL_LEVELS.to_vec())];
            }
            let mut groups: Vec<(Vec<String>, Vec<u8>)> = Vec::new();
            for country in wanted {
                let levels = ingest::sample::dtm_levels_of(&country).unwrap_or_else(|| ALL_LEVELS.to_vec());
                match groups.iter_mut().find(|(_, l)| *l == levels) {
                    Some((members, _)) => members.push(country),
                    None => groups.push((vec![country], levels)),
                }
            }
            groups
        }
        None => vec![(countries, ALL_LEVELS.to_vec())],
    }
}

/// Writes an export to `<out>.partial`, then renames it to `out`: a failed export leaves no file
/// that looks complete.
async fn export_to_file(
    pool: &DbPool,
    entity: &str,
    format: api::export::Format,
    params: std::collections::HashMap<String, String>,
    out: &std::path::Path,
) -> Result<()> {
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let file = std::fs::File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    let started = std::time::Instant::now();
    let written = api::export::write_export(pool, entity, format, &params, &mut writer).await;
    drop(writer);
    let rows = match written {
        Ok(rows) => rows,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            anyhow::bail!("{}: {e}", e.code());
        }
    };
    std::fs::rename(&partial, out).with_context(|| format!("renaming {} to {}", partial.display(), out.display()))?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "{entity}: {rows} rows, {bytes} bytes written to {} in {:.1} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Exit status of `ingest` when another run of the source is in progress (a failed run exits 1).
const EXIT_ALREADY_RUNNING: u8 = 3;

/// Opens the pool and applies pending migrations. A store that cannot be reached fails here at once,
/// with its cause on one line.
async fn open_store(settings: &Settings) -> Result<DbPool> {
    let (url, store_settings) = (settings.database_url.clone(), settings.store.clone());
    let pool = tokio::task::spawn_blocking(move || build_pool_with(&url, &store_settings))
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

/// Serves the API and runs the schedules until SIGTERM or SIGINT; then stops taking requests, gives
/// running ingests the grace period, stops (rolls back) the rest, and returns.
async fn serve(pool: DbPool, settings: &Settings, bind: String, with_scheduler: bool) -> Result<()> {
    let ingester = Ingester::new(pool.clone(), settings.ingest.clone(), FetchMode::Online)?;
    let coordinator = Coordinator::new(ingester);
    let operations = api::Operations {
        coordinator: Some(coordinator.clone()),
        schedules: settings.schedules.clone(),
        operator_token: settings.operator_token.clone(),
        live: Some(api::live::LiveHub::start(pool.clone())),
    };
    // Sends the webhook outbox (of this process's runs and of CLI runs), also with no receiver
    // configured now: deliveries to URLs since removed are then marked failed.
    let webhook_worker =
        ingest::WebhookWorker::new(pool.clone(), settings.ingest.webhooks.clone(), settings.webhooks.clone())?;
    let webhooks = tokio::spawn(webhook_worker.run());
    if settings.operator_token.is_none() {
        tracing::info!("no CRISISGRAPH_OPERATOR_TOKEN: mutations are disabled");
    }
    let schema = api::build_schema(pool.clone(), operations);
    // Built once: its HTTP metrics are shared by every worker.
    let server_options = api::server::ServerOptions {
        request_timeout: settings.request_timeout,
        body_timeout: settings.body_timeout,
        schedules: settings.schedules.clone(),
        live_limits: api::subscription::LiveLimits::new(settings.max_subscription_connections),
        answer_cache: std::sync::Arc::new(api::answer_cache::AnswerCache::new(settings.answer_cache_mb)),
        ..api::server::ServerOptions::default()
    };
    let cors_origins = settings.cors_origins.clone();
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .wrap(api::server::cors(&cors_origins))
            .wrap(actix_web::middleware::Compress::default())
            .configure(api::server::configure_with(schema.clone(), pool.clone(), server_options.clone()))
    })
    .disable_signals()
    .shutdown_timeout(settings.shutdown_grace.as_secs().max(1))
    .bind(&bind)
    .with_context(|| format!("binding {bind}"))?
    .run();
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    tracing::info!(%bind, "serving GraphQL at /graphql, GraphiQL at /graphiql");

    let scheduler =
        if with_scheduler { Some(Scheduler::start(coordinator.clone(), &settings.schedules).await?) } else { None };
    let sweeper = coordinator.spawn_sweeper(settings.ingest.lease.heartbeat);

    let signal = shutdown_signal().await;
    tracing::info!(signal, grace_seconds = settings.shutdown_grace.as_secs(), "shutting down");
    if let Some(scheduler) = scheduler {
        scheduler.shutdown().await;
    }
    sweeper.abort();
    webhooks.abort();
    let (_, ()) = tokio::join!(handle.stop(true), coordinator.shutdown(settings.shutdown_grace));
    match server_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP server stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "the HTTP server task failed"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Waits for SIGTERM or SIGINT (Ctrl-C) and names it.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

fn print_runs(runs: &[IngestRun]) {
    println!(
        "{:>6}  {:<10} {:<11} {:<7} {:>8} {:>8} {:>8} {:>9} {:>8}  {:<20}  error",
        "run", "source", "status", "trigger", "fetched", "inserted", "updated", "unchanged", "rejected", "started"
    );
    for r in runs {
        println!(
            "{:>6}  {:<10} {:<11} {:<7} {:>8} {:>8} {:>8} {:>9} {:>8}  {:<20}  {}",
            r.id,
            r.source,
            if r.dry_run { format!("{} (dry)", r.status) } else { r.status.clone() },
            r.trigger,
            r.fetched,
            r.inserted,
            r.updated,
            r.unchanged,
            r.rejected,
            api::scalars::utc_rfc3339(r.started_at),
            r.error.as_deref().unwrap_or("")
        );
    }
}

fn print_deliveries(deliveries: &[store::webhooks::Delivery]) {
    println!(
        "{:>6}  {:>6}  {:<10} {:>7} {:>6}  {:<20}  {:<40}  error",
        "id", "run", "status", "attempt", "http", "created", "url"
    );
    for d in deliveries {
        println!(
            "{:>6}  {:>6}  {:<10} {:>7} {:>6}  {:<20}  {:<40}  {}",
            d.id,
            d.run_id.map(|r| r.to_string()).unwrap_or_default(),
            d.status,
            d.attempt,
            d.http_status.map(|s| s.to_string()).unwrap_or_default(),
            api::scalars::utc_rfc3339(d.created_at),
            d.url,
            d.error.as_deref().unwrap_or("")
        );
    }
}

fn print_sources(statuses: &[SourceStatus]) {
    println!(
        "{:<10} {:<16} {:<20} {:<20} {:>8}  {:<5}  last failure",
        "source", "schedule", "next run", "last success", "rows", "stale"
    );
    for s in statuses {
        let failure = match (&s.last_failure, s.failing) {
            (Some(f), true) => format!("FAILING since run {}: {}", f.id, f.error.as_deref().unwrap_or("")),
            (Some(f), false) => {
                format!("run {} at {}", f.id, f.finished_at.map(api::scalars::utc_rfc3339).unwrap_or_default())
            }
            (None, _) => String::new(),
        };
        println!(
            "{:<10} {:<16} {:<20} {:<20} {:>8}  {:<5}  {}",
            s.source.name(),
            s.schedule.as_deref().unwrap_or("manual"),
            s.next_run_at.map(|t| api::scalars::utc_rfc3339(t.naive_utc())).unwrap_or_else(|| "-".into()),
            s.last_success
                .as_ref()
                .and_then(|r| r.finished_at)
                .map(api::scalars::utc_rfc3339)
                .unwrap_or_else(|| "never".into()),
            s.rows,
            if s.stale { "yes" } else { "no" },
            failure
        );
    }
}
