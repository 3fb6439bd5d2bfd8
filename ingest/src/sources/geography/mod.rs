//! `geography`: countries and their admin areas from OCHA's global p-codes list, the areas every
//! other source's figures are matched to.

mod parse;
mod run;

pub use parse::*;

use crate::kit::{Outcomes, RunContext, Sample, SourceJob, SourceSpec, sample_file};
use crate::{IngestConfig, IngestError};

pub(crate) struct Job;

impl SourceJob for Job {
    const SPEC: SourceSpec = SourceSpec {
        name: "geography",
        summary: "countries and admin areas (levels 1-2) with parents and validity dates",
        origin: "HDX `global-pcodes`, resource `global_pcodes_adm_1_2.csv` (`CRISISGRAPH_HDX_URL`)",
        default_cron: Some("0 0 2 * * Sun"),
        period_days: 7,
        // Without countries the whole list is read.
        per_country: false,
        count_rows: store::geography::count_areas,
    };

    /// The list, then one write per country.
    fn steps(&self, ctx: &RunContext<'_>) -> u64 {
        1 + ctx.countries.len() as u64
    }

    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
        run::run_geography(ctx).await
    }

    /// The list's rows of the sample's countries.
    fn sample(&self, config: &IngestConfig) -> Sample {
        const PCODES: &[u8] = sample_file!("cod/global_pcodes_adm_1_2.AFG-HTI-MLI-SSD-TCD-subset.csv");
        Sample {
            fixed: vec![(resource_info(&config.hdx_url).url, PCODES)],
            runs: vec![(&crate::sample::SAMPLE_COUNTRIES, &[])],
            ..Sample::default()
        }
    }
}
