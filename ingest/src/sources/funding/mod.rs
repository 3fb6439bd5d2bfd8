//! `funding`: FTS appeals with each country's share, funding outside appeals, and per-cluster
//! figures from the FTS API.

mod parse;
mod run;

pub use parse::*;

use crate::kit::hdx::PACKAGE_SHOW;
use crate::kit::{HdxDataset, Outcomes, RunContext, Sample, SourceJob, SourceSpec, sample_file};
use crate::{IngestConfig, IngestError};

pub(crate) struct Job;

impl SourceJob for Job {
    const SPEC: SourceSpec = SourceSpec {
        name: "funding",
        summary: "FTS appeals with each country's share, funding outside appeals (\"Not specified\" rows), and \
                  per-cluster figures where the FTS API has them; percent funded is computed, never read",
        origin: "HDX `fts-requirements-and-funding-data` (`fts_requirements_funding_global.csv`), FTS API \
                 `/v1/fts/flow/custom-search?planid=..&groupby=cluster` (`CRISISGRAPH_FTS_URL`)",
        default_cron: Some("0 30 1 * * *"),
        period_days: 1,
        per_country: true,
        count_rows: store::appeals::count_appeals,
    };

    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
        run::run_funding(ctx).await
    }

    /// One file for every country.
    fn hdx_datasets(&self, iso3: Option<&str>) -> Vec<HdxDataset> {
        match iso3 {
            None => vec![HdxDataset {
                dataset: DATASET.to_string(),
                resources: resource_pattern(),
                formats: vec!["CSV"],
                credit: None,
            }],
            Some(_) => Vec::new(),
        }
    }

    /// Mali's rows of the global file, with its catalog entry.
    fn sample(&self, _config: &IngestConfig) -> Sample {
        Sample {
            hdx: vec![
                (
                    PACKAGE_SHOW,
                    Some("fts-requirements-and-funding-data"),
                    sample_file!("hdx/package_show.fts-requirements-and-funding-data.json"),
                ),
                (
                    "/dataset/fts-requirements-and-funding-data/resource/constructed-fts-requirements-funding-global/download/fts_requirements_funding_global.csv",
                    None,
                    sample_file!("fts/fts_requirements_funding_global.MLI-subset.csv"),
                ),
            ],
            runs: vec![(&["MLI"], &[])],
            ..Sample::default()
        }
    }
}
