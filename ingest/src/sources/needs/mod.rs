//! `needs`: humanitarian needs (HNO): people in need, targeted, affected and reached by plan year,
//! area, sector and population group, from the HPC HNO files on HDX.

mod parse;
mod run;

pub use parse::*;

use crate::kit::hdx::{NamePattern, PACKAGE_SHOW};
use crate::kit::{HdxDataset, Outcomes, RunContext, Sample, SourceJob, SourceSpec, sample_file};
use crate::{IngestConfig, IngestError};

pub(crate) struct Job;

impl SourceJob for Job {
    const SPEC: SourceSpec = SourceSpec {
        name: "needs",
        summary: "people in need, targeted, affected and reached (HNO) by plan year, area, sector (`ALL` \
                  intersectoral) and population group, gender and age; Mali from its country file, Chad from its \
                  PIN workbook, other countries from the global HPC file",
        origin: "HDX `hno-data-for-mli`, `chad-humanitarian-needs-overview`, `global-hpc-hno` (`hpc_hno_<year>.csv`)",
        default_cron: Some("0 0 6 * * Wed"),
        period_days: 7,
        per_country: true,
        count_rows: store::needs::count_needs,
    };

    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
        Ok(ctx.for_each_country(|iso3| async move { run::needs_country(ctx, &config_for(&iso3)).await }).await)
    }

    fn hdx_datasets(&self, iso3: Option<&str>) -> Vec<HdxDataset> {
        iso3.map(config_for)
            .map(|c| HdxDataset {
                dataset: c.dataset.to_string(),
                resources: c.resources,
                formats: c.formats.to_vec(),
                credit: None,
            })
            .into_iter()
            .collect()
    }

    /// Mali's HNO 2024 file and Chad's 2023 PIN workbook, with their catalog entries.
    fn sample(&self, _config: &IngestConfig) -> Sample {
        Sample {
            hdx: vec![
                (PACKAGE_SHOW, Some("hno-data-for-mli"), sample_file!("hdx/package_show.hno-data-for-mli.json")),
                (SAMPLE_MALI_PATH, None, sample_file!("hno/hpc_hno_mli.download-hno-data-mli.csv")),
                (
                    PACKAGE_SHOW,
                    Some("chad-humanitarian-needs-overview"),
                    sample_file!("hdx/package_show.chad-humanitarian-needs-overview.json"),
                ),
                (SAMPLE_CHAD_PATH, None, sample_file!("hno/tcd_hpc2023_rev_pin-cible_20231006.xlsx")),
            ],
            runs: vec![(&["MLI", "TCD"], &[])],
            ..Sample::default()
        }
    }
}

/// Where HDX serves Mali's HNO file (the path of its catalog entry's `download_url`).
pub const SAMPLE_MALI_PATH: &str = "/dataset/eefbea50-7d12-4dbc-b4f4-63a0221888b9/resource/edc4ee3d-dccf-4bfe-b7a6-643f12ff92b9/download/hno_data_mli.csv";

/// Where HDX serves Chad's 2023 PIN and targets workbook.
pub const SAMPLE_CHAD_PATH: &str = "/dataset/5988a0cf-6706-4f9a-aecf-db57a985ba20/resource/16251491-9bc1-461a-9c45-110d3d3245ca/download/tcd_hpc2023_rev_pin-cible_20231006.xlsx";

/// Where a country's needs figures are published.
#[derive(Debug, Clone, PartialEq)]
pub struct NeedsConfig {
    pub country_iso3: String,
    /// HDX dataset name.
    pub dataset: String,
    /// The resources read; each is one plan year (from its name, else the dataset's date).
    pub resources: NamePattern,
    pub formats: &'static [&'static str],
    /// The file has no sector column: every row is the intersectoral figure.
    pub intersectoral_only: bool,
    /// The file holds every country's rows (the global HPC file).
    pub shared: bool,
}

/// The global HPC HNO dataset: one CSV per plan year with every country's figures.
pub const GLOBAL_DATASET: &str = "global-hpc-hno";

/// Mali: its country HNO file; Chad: its 2023 PIN and targets workbook (intersectoral, admin 2);
/// every other country: its rows of the global HPC file.
pub fn config_for(iso3: &str) -> NeedsConfig {
    let iso3 = iso3.to_uppercase();
    match iso3.as_str() {
        "MLI" => NeedsConfig {
            dataset: "hno-data-for-mli".into(),
            resources: NamePattern::new("*hno*"),
            formats: &["CSV"],
            intersectoral_only: false,
            shared: false,
            country_iso3: iso3,
        },
        "TCD" => NeedsConfig {
            dataset: "chad-humanitarian-needs-overview".into(),
            resources: NamePattern::new("tcd_hpc*_pin-cible*"),
            formats: &["XLSX"],
            intersectoral_only: true,
            shared: false,
            country_iso3: iso3,
        },
        _ => NeedsConfig {
            dataset: GLOBAL_DATASET.into(),
            resources: NamePattern::new("hpc_hno_*.csv"),
            formats: &["CSV"],
            intersectoral_only: false,
            shared: true,
            country_iso3: iso3,
        },
    }
}
