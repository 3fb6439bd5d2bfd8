//! `refugees`: refugees, asylum-seekers, returnees and others of concern to UNHCR by country of
//! asylum and of origin: UNHCR's population statistics for HDX (end-year totals, demographics,
//! solutions) and its monthly situations file. Countries of origin and asylum the store does not
//! know yet are added (named from ISO 3166), without admin areas.

mod parse;
mod run;

pub use parse::*;

use crate::kit::hdx::{NamePattern, PACKAGE_SHOW};
use crate::kit::{HdxDataset, Outcomes, RunContext, Sample, SourceJob, SourceSpec, sample_file};
use crate::{IngestConfig, IngestError};

pub(crate) struct Job;

/// UNHCR's population statistics for HDX: one CSV per publication (end-year totals, demographics,
/// solutions), every country's rows in each.
pub const POPULATION_DATASET: &str = "unhcr-population-data-for-world";

/// UNHCR's monthly refugees and asylum-seekers by situation.
pub const SITUATIONS_DATASET: &str = "unhcr-situations";

/// The datasets read, with the resources read from each.
fn datasets() -> Vec<HdxDataset> {
    vec![
        HdxDataset {
            dataset: POPULATION_DATASET.into(),
            resources: NamePattern::new("*hdx_*.csv"),
            formats: vec!["CSV"],
            credit: None,
        },
        HdxDataset {
            dataset: SITUATIONS_DATASET.into(),
            resources: NamePattern::new("unhcr-situations*"),
            formats: vec!["CSV"],
            credit: None,
        },
    ]
}

impl SourceJob for Job {
    const SPEC: SourceSpec = SourceSpec {
        name: "refugees",
        summary: "refugees, asylum-seekers, returnees and others of concern by country of asylum and of origin, \
                  year (month for situations), population type, sex and age (UNHCR)",
        origin: "HDX `unhcr-population-data-for-world` (end-year totals, demographics, solutions), \
                 `unhcr-situations`",
        default_cron: Some("0 0 7 * * Thu"),
        period_days: 30,
        per_country: true,
        count_rows: store::refugees::count_refugees,
    };

    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
        Ok(ctx.for_each_country(|iso3| async move { run::refugees_country(ctx, &iso3, &datasets()).await }).await)
    }

    fn hdx_datasets(&self, _iso3: Option<&str>) -> Vec<HdxDataset> {
        datasets()
    }

    /// UNHCR's files for HDX as OCHA's scraper tests them (asylum countries Afghanistan, Iran and
    /// Pakistan, 1962-2019) and the situations file (South Sudan among others), with their catalog
    /// entries: runs for the countries the check figures are about (sample/NOTICE.md).
    fn sample(&self, _config: &IngestConfig) -> Sample {
        Sample {
            hdx: vec![
                (
                    PACKAGE_SHOW,
                    Some(POPULATION_DATASET),
                    sample_file!("hdx/package_show.unhcr-population-data-for-world.json"),
                ),
                (
                    "/dataset/unhcr-population-data-for-world/resource/constructed-unhcr-endyearpopulationtotals/download/unhcr_HDX_EndYearPopulationTotals.csv",
                    None,
                    sample_file!("unhcr/unhcr_HDX_EndYearPopulationTotals.csv"),
                ),
                (
                    "/dataset/unhcr-population-data-for-world/resource/constructed-unhcr-demographics/download/unhcr_HDX_Demographics.csv",
                    None,
                    sample_file!("unhcr/unhcr_HDX_Demographics.csv"),
                ),
                (
                    "/dataset/unhcr-population-data-for-world/resource/constructed-unhcr-solutions/download/unhcr_HDX_Solutions.csv",
                    None,
                    sample_file!("unhcr/unhcr_HDX_Solutions.csv"),
                ),
                (PACKAGE_SHOW, Some(SITUATIONS_DATASET), sample_file!("hdx/package_show.unhcr-situations.json")),
                (
                    "/dataset/17ea83bd-8d4d-49f3-abea-a4d6ce3afb47/resource/ed4f9d1e-2c24-415d-90e4-3151a569f148/download/unhcr-situations.csv",
                    None,
                    sample_file!("unhcr/unhcr-situations.csv"),
                ),
            ],
            runs: vec![(&SAMPLE_COUNTRIES, &[])],
            ..Sample::default()
        }
    }
}

/// The countries the bundled sample ingests: the asylum countries of UNHCR's sample files
/// (Afghanistan, Iran, Pakistan; Afghanistan also for its returnees) and South Sudan (situations).
pub const SAMPLE_COUNTRIES: [&str; 4] = ["AFG", "IRN", "PAK", "SSD"];
