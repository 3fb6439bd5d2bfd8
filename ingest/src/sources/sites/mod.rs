//! `sites`: DTM site and location lists published on HDX (XLSX or CSV), per configured dataset.

mod parse;
mod run;

pub use parse::*;

use crate::kit::hdx::PACKAGE_SHOW;
use crate::kit::{HdxDataset, Outcomes, RunContext, Sample, SourceJob, SourceSpec, sample_file};
use crate::{IngestConfig, IngestError};

pub(crate) struct Job;

impl SourceJob for Job {
    const SPEC: SourceSpec = SourceSpec {
        name: "sites",
        summary: "DTM site/location lists (XLSX or CSV): id, name, type, coordinates (checked against the country's \
                  bounding box), area, IDP households and individuals, round; columns by header, else HXL tag, per \
                  dataset (South Sudan configured)",
        origin: "HDX DTM site list dataset",
        default_cron: Some("0 0 5 * * Tue"),
        period_days: 7,
        per_country: true,
        count_rows: |c| store::sites::count_sites(c, &store::sites::SiteFilter::default()),
    };

    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
        Ok(ctx
            .for_each_country(|iso3| async move {
                match config_for(&iso3) {
                    Some(config) => run::sites_country(ctx, &config).await,
                    None => Err(IngestError::Invalid(format!("no site list is configured for {iso3}"))),
                }
            })
            .await)
    }

    fn hdx_datasets(&self, iso3: Option<&str>) -> Vec<HdxDataset> {
        iso3.and_then(config_for)
            .map(|s| HdxDataset {
                dataset: s.dataset.to_string(),
                resources: s.resources,
                formats: s.formats.to_vec(),
                credit: Some(s.credit),
            })
            .into_iter()
            .collect()
    }

    /// The first 40 rows of South Sudan's round 16 baseline locations, with their catalog entry.
    fn sample(&self, _config: &IngestConfig) -> Sample {
        Sample {
            hdx: vec![
                (
                    PACKAGE_SHOW,
                    Some("ssd-dtm-mobility-tracking-r16-baseline-locations"),
                    sample_file!("hdx/package_show.ssd-dtm-mobility-tracking-r16-baseline-locations.json"),
                ),
                (
                    "/dataset/ssd-dtm-mobility-tracking-r16-baseline-locations/resource/constructed-ssd-r16-baseline-locations-extract/download/ssd-dtm-mobility-tracking-r16-baseline-locations.first40rows.csv",
                    None,
                    sample_file!(
                        "dtm/hdx_xlsx_extract/ssd-dtm-mobility-tracking-r16-baseline-locations.first40rows.csv"
                    ),
                ),
            ],
            runs: vec![(&["SSD"], &[])],
            ..Sample::default()
        }
    }
}
