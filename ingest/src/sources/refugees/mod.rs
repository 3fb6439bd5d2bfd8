//! `refugees`: refugees, asylum-seekers, returnees and others of concern to UNHCR by country of
//! asylum and of origin: UNHCR's population statistics for HDX (end-year totals, demographics,
//! solutions) and its monthly situations file. Countries of origin and asylum the store does not
//! know yet are added (named from ISO 3166), without admin areas.

mod parse;
mod run;

pub use parse::*;

use crate::kit::hdx::NamePattern;
use crate::kit::{HdxDataset, Outcomes, RunContext, Sample, SourceJob, SourceSpec};
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

    /// Not in the sample yet.
    fn sample(&self, _config: &IngestConfig) -> Sample {
        Sample::default()
    }
}
