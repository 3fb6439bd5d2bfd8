//! All of crisisgraph's configuration, read from the environment in one place.

use ingest::IngestConfig;

/// Where the embedded default store lives when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "crisisgraph.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// The settings every command shares.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `postgres://...` for PostgreSQL; anything else is a SQLite file path.
    pub database_url: String,
    /// Address `serve` listens on.
    pub bind: String,
    pub ingest: IngestConfig,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl Settings {
    /// Reads `DATABASE_URL`, `CRISISGRAPH_BIND`, `CRISISGRAPH_DTM_URL`,
    /// `CRISISGRAPH_DTM_KEY`, `CRISISGRAPH_HDX_URL`, `CRISISGRAPH_FTS_URL` and `CRISISGRAPH_COUNTRIES`
    /// (ISO3 codes separated by commas or spaces).
    pub fn from_env() -> Settings {
        let defaults = IngestConfig::default();
        let countries = var("CRISISGRAPH_COUNTRIES")
            .map(|list| {
                list.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|c| !c.is_empty())
                    .map(|c| c.to_uppercase())
                    .collect()
            })
            .unwrap_or_default();
        Settings {
            database_url: var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string()),
            bind: var("CRISISGRAPH_BIND").unwrap_or_else(|| DEFAULT_BIND.to_string()),
            ingest: IngestConfig {
                dtm_url: var("CRISISGRAPH_DTM_URL").unwrap_or(defaults.dtm_url),
                dtm_key: var("CRISISGRAPH_DTM_KEY"),
                hdx_url: var("CRISISGRAPH_HDX_URL").unwrap_or(defaults.hdx_url),
                fts_url: var("CRISISGRAPH_FTS_URL").unwrap_or(defaults.fts_url),
                countries,
                fetch: defaults.fetch,
            },
        }
    }
}
