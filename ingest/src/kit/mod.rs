//! The source kit: what a source declares ([`SourceSpec`]), what it implements ([`SourceJob`]), and
//! the building blocks its run uses ([`RunContext`] and the modules below). A source is one module
//! under `sources/` plus one line in the list in `sources/mod.rs`; the runner, the CLI, the
//! scheduler, the status, the sample loader and the docs' source table take everything else from
//! there.
//!
//! - [`context`]: the run context: fetch, HDX catalog and downloads, tables, area matching, the
//!   one-transaction write, rejected rows.
//! - [`table`]: CSV and XLSX files as one [`table::Table`], with one HXL detection and one column lookup.
//!   Rows over the configured field or row size are set aside as rejections when a table is read.
//! - [`cells`]: missing markers, whole numbers (bounded by [`bounds`]), decimals, dates, and what
//!   differs between a row and its conflicting duplicate.
//! - [`bounds`]: the largest figure a row may carry (people, US dollars).
//! - [`bounded_rows`]: the same size bounds on a streamed JSON answer, before any parser holds a row.
//! - [`hdx`]: HDX's CKAN catalog (`package_show`): provenance and the resources a source picks.
//! - [`reference`]: the sector list every theme normalises its codes to.

pub mod bounded_rows;
pub mod bounds;
pub mod cells;
pub(crate) mod context;
pub mod hdx;
pub mod reference;
pub mod table;

use store::{AnyConnection, StoreError, WriteCounts};

pub(crate) use context::{PayloadRejections, RunContext, rejected_share_ok};

use crate::{IngestConfig, IngestError, RunOptions};

/// What a source is, declared once in its module; everything that lists or describes sources
/// (CLI, scheduler, status, metrics, docs) reads it from here.
#[derive(Debug)]
pub struct SourceSpec {
    /// The CLI argument, the run records' `source` and the metrics' `source` label.
    pub name: &'static str,
    /// What it ingests, in one line: `--help`, and the docs' source table.
    pub summary: &'static str,
    /// Where it comes from, in one line: the docs' source table.
    pub origin: &'static str,
    /// Six-field cron (seconds first) of the default schedule; `None` for manual runs only.
    pub default_cron: Option<&'static str>,
    /// How often the source publishes, in days: it is stale one day after that.
    pub period_days: u32,
    /// Whether a run needs countries (from `--country` or the configuration).
    pub per_country: bool,
    /// How many rows the store holds from it (`crisisgraph sources`, GraphQL `sources`).
    pub count_rows: fn(&mut AnyConnection) -> Result<i64, StoreError>,
}

/// What a source does. Implemented by one unit struct per source module, named in the list in
/// `sources/mod.rs`, which dispatches to it statically (so the futures stay `Send` without boxing).
pub(crate) trait SourceJob {
    const SPEC: SourceSpec;

    /// How many progress steps a run makes (default: one per country).
    fn steps(&self, ctx: &RunContext<'_>) -> u64 {
        ctx.countries.len() as u64
    }

    /// Options of `options` that this source uses, recorded in the run's `params` besides the countries.
    fn params(&self, _options: &RunOptions) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }

    /// Fetches, parses, normalises, validates and writes; one outcome per country (or dataset).
    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError>;

    /// The HDX datasets the source reads for a country (`Some`) or for every country at once (`None`):
    /// what the `catalog` source records.
    fn hdx_datasets(&self, _iso3: Option<&str>) -> Vec<HdxDataset> {
        Vec::new()
    }

    /// The payloads the bundled sample holds for this source, and the runs that ingest them.
    fn sample(&self, _config: &IngestConfig) -> Sample {
        Sample::default()
    }
}

/// An HDX dataset a source reads, and which of its resources.
pub(crate) struct HdxDataset {
    /// The CKAN name, e.g. `cod-ps-mli`.
    pub(crate) dataset: String,
    pub(crate) resources: hdx::NamePattern,
    pub(crate) formats: Vec<&'static str>,
    /// The publisher's required credit line, where it is not the default one.
    pub(crate) credit: Option<&'static str>,
}

/// What one country (or dataset) contributed to a run; the runner sums them into the run record.
#[derive(Debug, Default)]
pub(crate) struct CountryOutcome {
    /// Rows read from the source, valid or not.
    pub(crate) fetched: i64,
    pub(crate) written: WriteCounts,
    pub(crate) rejected: i64,
}

/// Per-country (or per-dataset) results of a run: one failing does not undo the others.
pub(crate) type Outcomes = Vec<(String, Result<CountryOutcome, IngestError>)>;

/// One bundled HDX payload: the URL path after the HDX base, the `id` of a `package_show` call
/// (none for a file), and the bytes.
pub type HdxPayload = (&'static str, Option<&'static str>, &'static [u8]);

/// A source's part of the bundled sample.
#[derive(Default)]
pub(crate) struct Sample {
    /// Catalog entries and the files they list, at the paths HDX serves them from.
    pub(crate) hdx: Vec<HdxPayload>,
    /// Payloads fetched at a fixed URL (built from the default configuration).
    pub(crate) fixed: Vec<(String, &'static [u8])>,
    /// The runs that ingest them, in order: (countries, DTM levels).
    pub(crate) runs: Vec<(&'static [&'static str], &'static [u8])>,
}

/// The bytes of a file under `sample/`, compiled into the binary.
macro_rules! sample_file {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../sample/", $name)).as_slice()
    };
}
pub(crate) use sample_file;

/// The error of a per-country source run without countries.
pub(crate) fn no_countries() -> IngestError {
    IngestError::Invalid("no countries to ingest: pass --country or set CRISISGRAPH_COUNTRIES".into())
}
