#![recursion_limit = "256"]
//! crisisgraph's relational store.
//!
//! One connection type ([`AnyConnection`]) over PostgreSQL (production, shared by replicas) and SQLite
//! (the embedded default), chosen by the URL. `api` and `ingest` never see which backend they talk to.
//! Query modules are split by entity; each function is one unit of synchronous DB work, meant to run
//! inside [`with_conn`] so that it never blocks the async threads.

pub mod appeals;
pub mod availability;
pub mod bi;
pub mod catalog;
pub mod conflict_events;
mod connection;
mod error;
pub mod events;
pub mod food_prices;
pub mod food_security;
pub mod geography;
mod health;
pub mod idp_totals;
pub mod idps;
pub mod leases;
pub mod models;
pub mod national_risk;
pub mod needs;
pub mod paging;
pub mod population;
pub mod presence;
pub mod provenance;
pub mod refugees;
mod replicas;
pub mod runs;
pub mod schema;
pub mod sites;
mod snapshot;
mod source_lock;
pub mod upsert;
pub mod webhooks;

pub use connection::{
    AnyConnection, Backend, DbPool, READ_MARGIN, StoreSettings, backend_of, build_pool, build_pool_with,
    run_migrations, with_conn, with_read_conn, write_transaction,
};
pub use diesel::Connection;
pub use diesel::connection::SimpleConnection;
/// Diesel's query error, for callers that run transactions through [`AnyConnection`].
pub use diesel::result::Error as QueryError;
pub use error::StoreError;
pub use replicas::{ReadCounts, ReplicaSettings, commit_lsn};
pub use snapshot::{ReadSnapshot, SnapshotGate};

/// Every BI entity (a `bi_*` view and `/export/<name>.csv`), each declared with [`bi::bi_entity!`] in its
/// theme's module. A new theme adds its line here.
#[rustfmt::skip]
pub const BI_ENTITIES: &[&bi::Entity] = &[
    &idps::IDPS_BI,
    &population::POPULATION_BI,
    &appeals::APPEALS_BI,
    &sites::SITES_BI,
    &needs::NEEDS_BI,
    &presence::PRESENCE_BI,
    &food_prices::MARKETS_BI,
    &food_prices::FOOD_PRICES_BI,
    &national_risk::NATIONAL_RISK_BI,
    &food_security::FOOD_SECURITY_BI,
    &refugees::REFUGEES_BI,
    &conflict_events::CONFLICT_EVENTS_BI,
    &geography::ADMIN_AREAS_BI,
    &geography::COUNTRIES_BI,
];

/// Counts of what one write did, reported by every ingest.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteCounts {
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
}

impl std::ops::AddAssign for WriteCounts {
    fn add_assign(&mut self, other: Self) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

/// The current UTC time, truncated to microseconds, as stored in every `TIMESTAMP` column.
pub fn now_utc() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    chrono::Timelike::with_nanosecond(&now, now.and_utc().timestamp_subsec_micros() * 1000).unwrap_or(now)
}
