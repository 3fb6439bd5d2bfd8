//! All of crisisgraph's configuration, in one place: an optional TOML file (`--config`,
//! `CRISISGRAPH_CONFIG`, or `./crisisgraph.toml` when present), overridden by the environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ingest::{
    IngestConfig, LeaseSettings, RowLimits, RunOptions, Source, SourceSchedule, WebhookSettings, WebhookTarget,
};
use serde::Deserialize;
use store::StoreSettings;

/// Where the embedded default store lives when nothing says otherwise.
pub const DEFAULT_DATABASE_URL: &str = "crisisgraph.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_CONFIG_FILE: &str = "crisisgraph.toml";

/// The settings every command shares.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `postgres://...` for PostgreSQL; anything else is a SQLite file path.
    pub database_url: String,
    /// Streaming replicas of a PostgreSQL primary that take GraphQL and export reads.
    pub read_replicas: store::ReplicaSettings,
    /// Address `serve` listens on.
    pub bind: String,
    /// Bearer token that mutations require; none disables them.
    pub operator_token: Option<String>,
    /// How long `serve` lets running ingests finish after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// Origins allowed to call the API from a browser (`*` for any); empty means same origin only.
    pub cors_origins: Vec<String>,
    /// Longest a GraphQL request may run.
    pub request_timeout: Duration,
    /// Longest a client may take to send a request body.
    pub body_timeout: Duration,
    /// How the store's connections wait and time out.
    pub store: StoreSettings,
    pub ingest: IngestConfig,
    pub schedules: Vec<SourceSchedule>,
    /// How webhook deliveries are retried (the receivers are `ingest.webhooks`).
    pub webhooks: WebhookSettings,
    /// WebSocket (subscription) connections one `serve` process accepts at once.
    pub max_subscription_connections: usize,
    /// Megabytes of GraphQL answers kept until the store changes (api/src/answer_cache.rs); 0: none.
    pub answer_cache_mb: u64,
}

/// The TOML file's shape; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    /// PostgreSQL streaming replicas for reads.
    read_database_urls: Option<Vec<String>>,
    read_replica_max_wait_ms: Option<u64>,
    bind: Option<String>,
    operator_token: Option<String>,
    countries: Option<Vec<String>>,
    dtm_url: Option<String>,
    dtm_key: Option<String>,
    hdx_url: Option<String>,
    fts_url: Option<String>,
    lease_seconds: Option<u64>,
    /// IANA zone the schedules are read in, e.g. "Africa/Bamako"; default UTC.
    schedule_timezone: Option<String>,
    shutdown_grace_seconds: Option<u64>,
    cors_origins: Option<Vec<String>>,
    request_timeout_seconds: Option<u64>,
    body_timeout_seconds: Option<u64>,
    fetch_connect_timeout_seconds: Option<u64>,
    fetch_first_byte_timeout_seconds: Option<u64>,
    fetch_idle_timeout_seconds: Option<u64>,
    fetch_body_timeout_seconds: Option<u64>,
    max_field_bytes: Option<u64>,
    max_row_bytes: Option<u64>,
    max_rejected_rows_kept: Option<u64>,
    max_rejected_share: Option<f64>,
    rejected_rows_retention_days: Option<u64>,
    db_pool_wait_seconds: Option<u64>,
    db_statement_timeout_seconds: Option<u64>,
    db_client_check_seconds: Option<u64>,
    #[serde(default)]
    sources: std::collections::BTreeMap<String, SourceFileConfig>,
    /// `[[webhooks]]` tables: `url` and `secret`.
    #[serde(default)]
    webhooks: Vec<WebhookFileConfig>,
    webhook_max_attempts: Option<u64>,
    /// e.g. "5s": the wait after the first failed attempt, doubled after each further one.
    webhook_first_retry: Option<String>,
    max_subscription_connections: Option<u64>,
    answer_cache_mb: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFileConfig {
    url: String,
    secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFileConfig {
    /// Six-field cron (seconds first, UTC), or "off".
    schedule: Option<String>,
    /// e.g. "8d", "12h".
    cadence: Option<String>,
    countries: Option<Vec<String>>,
    levels: Option<Vec<u8>>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn country_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace()).filter(|c| !c.is_empty()).map(|c| c.to_uppercase()).collect()
}

fn seconds(name: &str, value: Option<String>, fallback: Option<u64>, default: u64) -> Result<Duration> {
    let secs = match value {
        Some(v) => v.parse::<u64>().with_context(|| format!("{name} must be a whole number of seconds, not {v:?}"))?,
        None => fallback.unwrap_or(default),
    };
    Ok(Duration::from_secs(secs))
}

/// A whole number from the environment (`name`) or the file.
fn number(name: &str, from_file: Option<u64>, default: u64) -> Result<u64> {
    match var(name) {
        Some(v) => v.parse::<u64>().with_context(|| format!("{name} must be a whole number, not {v:?}")),
        None => Ok(from_file.unwrap_or(default)),
    }
}

/// The webhook receivers and retry settings: `[[webhooks]]` in the file, or (replacing them)
/// `CRISISGRAPH_WEBHOOK_URLS` (comma-separated) signed with `CRISISGRAPH_WEBHOOK_SECRET`;
/// `CRISISGRAPH_WEBHOOK_MAX_ATTEMPTS` and `CRISISGRAPH_WEBHOOK_FIRST_RETRY` (e.g. `5s`).
fn webhooks(file: &FileConfig) -> Result<(Vec<WebhookTarget>, WebhookSettings)> {
    let targets: Vec<WebhookTarget> = match var("CRISISGRAPH_WEBHOOK_URLS") {
        Some(list) => {
            let secret = var("CRISISGRAPH_WEBHOOK_SECRET");
            list.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(|url| WebhookTarget { url: url.to_string(), secret: secret.clone() })
                .collect()
        }
        None => file.webhooks.iter().map(|w| WebhookTarget { url: w.url.clone(), secret: w.secret.clone() }).collect(),
    };
    for target in &targets {
        if !(target.url.starts_with("http://") || target.url.starts_with("https://")) {
            bail!("webhook URL {:?} must start with http:// or https://", target.url);
        }
        if target.secret.as_deref().is_some_and(str::is_empty) {
            bail!("the webhook secret of {} is empty; leave it out to send unsigned", target.url);
        }
    }
    let defaults = WebhookSettings::default();
    let max_attempts =
        number("CRISISGRAPH_WEBHOOK_MAX_ATTEMPTS", file.webhook_max_attempts, defaults.max_attempts as u64)?;
    if !(1..=100).contains(&max_attempts) {
        bail!("CRISISGRAPH_WEBHOOK_MAX_ATTEMPTS must be between 1 and 100, not {max_attempts}");
    }
    let first_retry = match var("CRISISGRAPH_WEBHOOK_FIRST_RETRY").or(file.webhook_first_retry.clone()) {
        Some(text) => humantime::parse_duration(&text)
            .with_context(|| format!("CRISISGRAPH_WEBHOOK_FIRST_RETRY must be a duration such as 5s, not {text:?}"))?,
        None => defaults.first_retry,
    };
    let poll = first_retry.min(defaults.poll);
    let settings = WebhookSettings { max_attempts: max_attempts as i32, first_retry, poll, ..defaults };
    Ok((targets, settings))
}

/// The bounds on rows and rejections (`CRISISGRAPH_MAX_FIELD_BYTES`, `CRISISGRAPH_MAX_ROW_BYTES`,
/// `CRISISGRAPH_MAX_REJECTED_ROWS_KEPT`, `CRISISGRAPH_MAX_REJECTED_SHARE`,
/// `CRISISGRAPH_REJECTED_ROWS_RETENTION_DAYS`).
fn row_limits(file: &FileConfig, defaults: &RowLimits) -> Result<RowLimits> {
    let size = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
    let max_field_bytes =
        size(number("CRISISGRAPH_MAX_FIELD_BYTES", file.max_field_bytes, defaults.max_field_bytes as u64)?);
    let max_row_bytes = size(number("CRISISGRAPH_MAX_ROW_BYTES", file.max_row_bytes, defaults.max_row_bytes as u64)?);
    if max_field_bytes < 64 || max_row_bytes < max_field_bytes {
        bail!("CRISISGRAPH_MAX_FIELD_BYTES must be at least 64 and CRISISGRAPH_MAX_ROW_BYTES at least as large");
    }
    let max_rejected_share = match var("CRISISGRAPH_MAX_REJECTED_SHARE") {
        Some(v) => {
            v.parse::<f64>().with_context(|| format!("CRISISGRAPH_MAX_REJECTED_SHARE must be a number, not {v:?}"))?
        }
        None => file.max_rejected_share.unwrap_or(defaults.max_rejected_share),
    };
    if !(0.0..=1.0).contains(&max_rejected_share) {
        bail!("CRISISGRAPH_MAX_REJECTED_SHARE must be between 0 and 1 (a share of the rows), not {max_rejected_share}");
    }
    let default_days = defaults.rejected_retention.map_or(0, |d| d.as_secs() / 86_400);
    let days = number("CRISISGRAPH_REJECTED_ROWS_RETENTION_DAYS", file.rejected_rows_retention_days, default_days)?;
    Ok(RowLimits {
        max_field_bytes,
        max_row_bytes,
        max_rejected_kept: size(number(
            "CRISISGRAPH_MAX_REJECTED_ROWS_KEPT",
            file.max_rejected_rows_kept,
            defaults.max_rejected_kept as u64,
        )?),
        max_rejected_share,
        rejected_retention: (days > 0).then(|| Duration::from_secs(days * 86_400)),
    })
}

/// The read replicas: `CRISISGRAPH_READ_DATABASE_URL` (comma-separated) or `read_database_urls`, and
/// how long a read may wait for one to replay the newest ingest (`CRISISGRAPH_READ_REPLICA_MAX_WAIT_MS`,
/// `read_replica_max_wait_ms`, default 1000). Refused beside SQLite, which has no replicas.
fn read_replicas(file: &FileConfig, database_url: &str) -> Result<store::ReplicaSettings> {
    let urls: Vec<String> = match var("CRISISGRAPH_READ_DATABASE_URL") {
        Some(list) => list.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect(),
        None => file.read_database_urls.clone().unwrap_or_default(),
    };
    if !urls.is_empty() && store::backend_of(database_url) != store::Backend::Postgres {
        bail!(
            "CRISISGRAPH_READ_DATABASE_URL needs a PostgreSQL primary: SQLite has no read replicas \
             (unset it, or set DATABASE_URL to a postgres:// URL)"
        );
    }
    if let Some(url) = urls.iter().find(|u| store::backend_of(u) != store::Backend::Postgres) {
        bail!("a read replica in CRISISGRAPH_READ_DATABASE_URL must be a postgres:// URL, not {url:?}");
    }
    let defaults = store::ReplicaSettings::default();
    let wait = number(
        "CRISISGRAPH_READ_REPLICA_MAX_WAIT_MS",
        file.read_replica_max_wait_ms,
        defaults.max_wait.as_millis() as u64,
    )?;
    Ok(store::ReplicaSettings { urls, max_wait: Duration::from_millis(wait) })
}

impl Settings {
    /// Reads the file (if any), then the environment: `DATABASE_URL`, `CRISISGRAPH_BIND`,
    /// `CRISISGRAPH_OPERATOR_TOKEN`, `CRISISGRAPH_COUNTRIES`, `CRISISGRAPH_DTM_URL`, `CRISISGRAPH_DTM_KEY`,
    /// `CRISISGRAPH_HDX_URL`, `CRISISGRAPH_FTS_URL`, `CRISISGRAPH_LEASE_SECONDS`,
    /// `CRISISGRAPH_SHUTDOWN_GRACE_SECONDS`, `CRISISGRAPH_SCHEDULE_TIMEZONE`, `CRISISGRAPH_CORS_ORIGINS`,
    /// `CRISISGRAPH_REQUEST_TIMEOUT_SECONDS`, `CRISISGRAPH_BODY_TIMEOUT_SECONDS`, the read replicas (see
    /// [`read_replicas`]), the database's `CRISISGRAPH_DB_POOL_WAIT_SECONDS`,
    /// `CRISISGRAPH_DB_STATEMENT_TIMEOUT_SECONDS`, `CRISISGRAPH_DB_CLIENT_CHECK_SECONDS`, the fetcher's
    /// `CRISISGRAPH_FETCH_{CONNECT,FIRST_BYTE,IDLE,BODY}_TIMEOUT_SECONDS`, the row bounds (see
    /// [`row_limits`]), and per source `CRISISGRAPH_SCHEDULE_<SOURCE>` (cron or `off`) and
    /// `CRISISGRAPH_CADENCE_<SOURCE>` (e.g. `8d`).
    pub fn load(config_path: Option<&Path>) -> Result<Settings> {
        let path: Option<PathBuf> = match config_path {
            Some(p) => Some(p.to_path_buf()),
            None => var("CRISISGRAPH_CONFIG")
                .map(PathBuf::from)
                .or_else(|| Path::new(DEFAULT_CONFIG_FILE).exists().then(|| PathBuf::from(DEFAULT_CONFIG_FILE))),
        };
        let file: FileConfig = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
            }
            None => FileConfig::default(),
        };
        for name in file.sources.keys() {
            name.parse::<Source>().with_context(|| format!("[sources.{name}] in the configuration file"))?;
        }

        let defaults = IngestConfig::default();
        let countries = var("CRISISGRAPH_COUNTRIES")
            .map(|list| country_list(&list))
            .or(file.countries.as_ref().map(|c| c.iter().map(|s| s.to_uppercase()).collect()))
            .unwrap_or_default();
        let lease_ttl = seconds("CRISISGRAPH_LEASE_SECONDS", var("CRISISGRAPH_LEASE_SECONDS"), file.lease_seconds, 60)?;
        if lease_ttl < Duration::from_secs(2) {
            bail!("CRISISGRAPH_LEASE_SECONDS must be at least 2");
        }
        let timeout = |name: &str, from_file: Option<u64>, default: Duration| -> Result<Duration> {
            let value = seconds(name, var(name), from_file, default.as_secs())?;
            if value.is_zero() {
                bail!("{name} must be at least 1 second");
            }
            Ok(value)
        };
        let fetch = ingest::FetchSettings {
            connect_timeout: timeout(
                "CRISISGRAPH_FETCH_CONNECT_TIMEOUT_SECONDS",
                file.fetch_connect_timeout_seconds,
                defaults.fetch.connect_timeout,
            )?,
            first_byte_timeout: timeout(
                "CRISISGRAPH_FETCH_FIRST_BYTE_TIMEOUT_SECONDS",
                file.fetch_first_byte_timeout_seconds,
                defaults.fetch.first_byte_timeout,
            )?,
            idle_timeout: timeout(
                "CRISISGRAPH_FETCH_IDLE_TIMEOUT_SECONDS",
                file.fetch_idle_timeout_seconds,
                defaults.fetch.idle_timeout,
            )?,
            body_timeout: timeout(
                "CRISISGRAPH_FETCH_BODY_TIMEOUT_SECONDS",
                file.fetch_body_timeout_seconds,
                defaults.fetch.body_timeout,
            )?,
            ..defaults.fetch.clone()
        };
        let limits = row_limits(&file, &defaults.limits)?;
        let database_url =
            var("DATABASE_URL").or(file.database_url.clone()).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        let read_replicas = read_replicas(&file, &database_url)?;
        let (webhook_targets, webhooks) = webhooks(&file)?;
        let ingest = IngestConfig {
            dtm_url: var("CRISISGRAPH_DTM_URL").or(file.dtm_url).unwrap_or(defaults.dtm_url),
            dtm_key: var("CRISISGRAPH_DTM_KEY").or(file.dtm_key),
            hdx_url: var("CRISISGRAPH_HDX_URL").or(file.hdx_url).unwrap_or(defaults.hdx_url),
            fts_url: var("CRISISGRAPH_FTS_URL").or(file.fts_url).unwrap_or(defaults.fts_url),
            countries,
            fetch,
            limits,
            lease: LeaseSettings { ttl: lease_ttl, heartbeat: (lease_ttl / 4).max(Duration::from_millis(500)) },
            webhooks: webhook_targets,
        };

        let timezone: chrono_tz::Tz = match var("CRISISGRAPH_SCHEDULE_TIMEZONE").or(file.schedule_timezone) {
            Some(name) => {
                name.parse().map_err(|_| anyhow::anyhow!("unknown time zone {name:?} (write e.g. Africa/Bamako)"))?
            }
            None => chrono_tz::UTC,
        };
        let mut schedules = SourceSchedule::defaults();
        for schedule in &mut schedules {
            schedule.timezone = timezone;
            let name = schedule.source.name();
            // `food-prices` → `FOOD_PRICES`: a shell cannot set a variable with a hyphen.
            let upper = name.to_uppercase().replace('-', "_");
            let from_file = file.sources.get(name);
            let cron = var(&format!("CRISISGRAPH_SCHEDULE_{upper}")).or(from_file.and_then(|f| f.schedule.clone()));
            if let Some(cron) = cron {
                schedule.cron = if cron.eq_ignore_ascii_case("off") { None } else { Some(cron) };
            }
            if let Some(cron) = &schedule.cron {
                ingest::scheduler::parse_cron(cron).with_context(|| format!("the {name} schedule"))?;
            }
            if let Some(cadence) =
                var(&format!("CRISISGRAPH_CADENCE_{upper}")).or(from_file.and_then(|f| f.cadence.clone()))
            {
                schedule.cadence = humantime::parse_duration(&cadence)
                    .with_context(|| format!("the {name} cadence {cadence:?} (write e.g. 8d or 12h)"))?;
            }
            if let Some(f) = from_file {
                schedule.options = RunOptions {
                    countries: f.countries.clone().unwrap_or_default(),
                    dtm_levels: f.levels.clone().unwrap_or_else(|| schedule.options.dtm_levels.clone()),
                    ..schedule.options.clone()
                };
            }
        }

        let request_timeout = seconds(
            "CRISISGRAPH_REQUEST_TIMEOUT_SECONDS",
            var("CRISISGRAPH_REQUEST_TIMEOUT_SECONDS"),
            file.request_timeout_seconds,
            30,
        )?;
        let store_defaults = StoreSettings::default();
        let store = StoreSettings {
            pool_wait: seconds(
                "CRISISGRAPH_DB_POOL_WAIT_SECONDS",
                var("CRISISGRAPH_DB_POOL_WAIT_SECONDS"),
                file.db_pool_wait_seconds,
                store_defaults.pool_wait.as_secs(),
            )?,
            read_timeout: seconds(
                "CRISISGRAPH_DB_STATEMENT_TIMEOUT_SECONDS",
                var("CRISISGRAPH_DB_STATEMENT_TIMEOUT_SECONDS"),
                file.db_statement_timeout_seconds,
                store_defaults.read_timeout.as_secs(),
            )?,
            client_check_interval: seconds(
                "CRISISGRAPH_DB_CLIENT_CHECK_SECONDS",
                var("CRISISGRAPH_DB_CLIENT_CHECK_SECONDS"),
                file.db_client_check_seconds,
                store_defaults.client_check_interval.as_secs(),
            )?,
            ..store_defaults
        };
        if store.pool_wait.is_zero() || store.read_timeout.is_zero() || store.client_check_interval.is_zero() {
            bail!("the database waits and timeouts must be at least 1 second");
        }
        // A frozen database must be reported as unavailable before the request itself times out.
        if store.read_timeout + store::READ_MARGIN >= request_timeout {
            bail!(
                "CRISISGRAPH_DB_STATEMENT_TIMEOUT_SECONDS ({} s) must be at least {} s less than \
                 CRISISGRAPH_REQUEST_TIMEOUT_SECONDS ({} s)",
                store.read_timeout.as_secs(),
                store::READ_MARGIN.as_secs() + 1,
                request_timeout.as_secs()
            );
        }

        Ok(Settings {
            read_replicas,
            database_url,
            bind: var("CRISISGRAPH_BIND").or(file.bind).unwrap_or_else(|| DEFAULT_BIND.to_string()),
            operator_token: var("CRISISGRAPH_OPERATOR_TOKEN").or(file.operator_token),
            shutdown_grace: seconds(
                "CRISISGRAPH_SHUTDOWN_GRACE_SECONDS",
                var("CRISISGRAPH_SHUTDOWN_GRACE_SECONDS"),
                file.shutdown_grace_seconds,
                30,
            )?,
            cors_origins: var("CRISISGRAPH_CORS_ORIGINS")
                .map(|list| list.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect())
                .or(file.cors_origins)
                .unwrap_or_default(),
            request_timeout,
            body_timeout: seconds(
                "CRISISGRAPH_BODY_TIMEOUT_SECONDS",
                var("CRISISGRAPH_BODY_TIMEOUT_SECONDS"),
                file.body_timeout_seconds,
                10,
            )?,
            store,
            ingest,
            schedules,
            webhooks,
            max_subscription_connections: usize::try_from(number(
                "CRISISGRAPH_MAX_SUBSCRIPTION_CONNECTIONS",
                file.max_subscription_connections,
                256,
            )?)
            .unwrap_or(usize::MAX),
            answer_cache_mb: number(
                "CRISISGRAPH_ANSWER_CACHE_MB",
                file.answer_cache_mb,
                api::server::DEFAULT_ANSWER_CACHE_MB,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_configuration_parses_and_applies() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("crisisgraph.example.toml");
        let settings = Settings::load(Some(&path)).expect("the example file is valid");
        let dtm = settings.schedules.iter().find(|s| s.source == Source::Dtm).expect("dtm schedule");
        assert_eq!(dtm.cron.as_deref(), Some("0 0 3 * * Mon"));
        assert_eq!(dtm.cadence, Duration::from_secs(8 * 24 * 3600));
        assert_eq!(settings.shutdown_grace, Duration::from_secs(30));
        assert_eq!(settings.store.pool_wait, Duration::from_secs(5));
        assert_eq!(settings.ingest.fetch.body_timeout, Duration::from_secs(900));
        assert_eq!(settings.ingest.limits.max_rejected_share, 0.5);
        assert_eq!(settings.ingest.limits.rejected_retention, Some(Duration::from_secs(90 * 86_400)));
    }

    #[test]
    fn a_statement_timeout_must_leave_room_before_the_request_timeout() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("timeouts.toml");
        std::fs::write(&file, "request_timeout_seconds = 10\ndb_statement_timeout_seconds = 9\n").expect("write");
        let error = Settings::load(Some(&file)).expect_err("too close");
        assert!(format!("{error:#}").contains("CRISISGRAPH_DB_STATEMENT_TIMEOUT_SECONDS"), "{error:#}");
        std::fs::write(&file, "max_rejected_share = 1.5\n").expect("write");
        assert!(Settings::load(Some(&file)).is_err());
    }

    #[test]
    fn read_replicas_come_from_the_file_and_are_refused_beside_sqlite() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("replicas.toml");
        std::fs::write(
            &file,
            "database_url = \"postgres://127.0.0.1/cg\"\nread_database_urls = [\"postgres://127.0.0.1:5433/cg\", \
             \"postgres://127.0.0.1:5434/cg\"]\nread_replica_max_wait_ms = 250\n",
        )
        .expect("write");
        let settings = Settings::load(Some(&file)).expect("valid");
        assert_eq!(settings.read_replicas.urls.len(), 2);
        assert_eq!(settings.read_replicas.max_wait, Duration::from_millis(250));
        std::fs::write(&file, "database_url = \"cg.db\"\nread_database_urls = [\"postgres://127.0.0.1:5433/cg\"]\n")
            .expect("write");
        let error = Settings::load(Some(&file)).expect_err("SQLite has no replicas");
        assert!(format!("{error:#}").contains("SQLite has no read replicas"), "{error:#}");
    }

    #[test]
    fn unknown_keys_and_bad_cron_are_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let bad_key = dir.path().join("bad-key.toml");
        std::fs::write(&bad_key, "databse_url = \"x\"\n").expect("write");
        assert!(Settings::load(Some(&bad_key)).is_err());
        let bad_cron = dir.path().join("bad-cron.toml");
        std::fs::write(&bad_cron, "[sources.dtm]\nschedule = \"every day\"\n").expect("write");
        let error = Settings::load(Some(&bad_cron)).expect_err("bad cron");
        assert!(format!("{error:#}").contains("cron"), "{error:#}");
    }

    #[test]
    fn webhooks_come_from_the_file_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("webhooks.toml");
        std::fs::write(
            &file,
            "webhook_max_attempts = 3\nwebhook_first_retry = \"250ms\"\n\n[[webhooks]]\nurl = \"https://a.example/hook\"\n\
             secret = \"s1\"\n\n[[webhooks]]\nurl = \"http://b.example/hook\"\n",
        )
        .expect("write");
        let settings = Settings::load(Some(&file)).expect("valid");
        let urls: Vec<(&str, Option<&str>)> =
            settings.ingest.webhooks.iter().map(|w| (w.url.as_str(), w.secret.as_deref())).collect();
        assert_eq!(urls, vec![("https://a.example/hook", Some("s1")), ("http://b.example/hook", None)]);
        assert_eq!(settings.webhooks.max_attempts, 3);
        assert_eq!(settings.webhooks.first_retry, Duration::from_millis(250));
        std::fs::write(&file, "[[webhooks]]\nurl = \"ftp://a.example/hook\"\n").expect("write");
        let error = Settings::load(Some(&file)).expect_err("not HTTP");
        assert!(format!("{error:#}").contains("http://"), "{error:#}");
        std::fs::write(&file, "webhook_first_retry = \"soon\"\n").expect("write");
        assert!(Settings::load(Some(&file)).is_err());
        std::fs::write(&file, "webhook_max_attempts = 0\n").expect("write");
        assert!(Settings::load(Some(&file)).is_err());
    }
}
