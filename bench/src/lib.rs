//! Pieces shared by the benchmarks (`crisisgraph-bench`) and the reliability tests: a synthetic DTM
//! response built from real published rows, a loopback HTTP server that can misbehave on purpose, the
//! capture of the SQL crisisgraph runs (for the pgbench floor), the PostGraphile peers and the canonical
//! queries, throwaway PostgreSQL primaries and streaming standbys (read replicas), and the load test
//! with a concurrent ingest (`crisisgraph-load`).

pub mod capture;
pub mod load;
pub mod loopback;
pub mod postgraphile;
pub mod queries;
pub mod quiet;
pub mod standby;
pub mod synthetic;

use thiserror::Error;

/// Everything that can go wrong while preparing or running a benchmark.
#[derive(Debug, Error)]
pub enum BenchError {
    #[error("I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("JSON is not what was expected: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
}
