//! `population`: COD-PS population by area and sex on HDX, against the boundary edition it was
//! published for, with the crosswalk to today's areas written as area aliases.

mod parse;
mod run;

pub use parse::*;

use crate::kit::hdx::PACKAGE_SHOW;
use crate::kit::{HdxDataset, HdxPayload, Outcomes, RunContext, Sample, SourceJob, SourceSpec, sample_file};
use crate::{IngestConfig, IngestError};

pub(crate) struct Job;

impl SourceJob for Job {
    const SPEC: SourceSpec = SourceSpec {
        name: "population",
        summary: "COD-PS population by area and sex, against the boundary edition it was published for (Mali 2018: 9 \
                  regions; cercle `ML0704` Ménaka is crosswalked to region `ML10`, 2018 Gao to no current area)",
        origin: "HDX `cod-ps-<iso3>`, resources `<iso3>_pop_adm{0,1,2}*.csv`",
        default_cron: Some("0 0 4 1 * *"),
        period_days: 31,
        per_country: true,
        count_rows: store::population::count_figures,
    };

    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
        Ok(ctx.for_each_country(|iso3| async move { run::population_country(ctx, &iso3).await }).await)
    }

    fn hdx_datasets(&self, iso3: Option<&str>) -> Vec<HdxDataset> {
        iso3.map(config_for)
            .map(|p| HdxDataset { dataset: p.dataset, resources: p.resources, formats: vec!["CSV"], credit: None })
            .into_iter()
            .collect()
    }

    /// Mali's 2018 figures at admin 0, 1 and 2, with their catalog entry.
    fn sample(&self, _config: &IngestConfig) -> Sample {
        let hdx: Vec<HdxPayload> = vec![
            (PACKAGE_SHOW, Some("cod-ps-mli"), sample_file!("hdx/package_show.cod-ps-mli.json")),
            (
                "/dataset/ce21c7db-d8f0-40f8-adc2-452d2d2d105c/resource/6f243ba2-4d4a-4663-a7c4-e917dbbde73a/download/mli_pop_adm0_v2.csv",
                None,
                sample_file!("cod/mli_pop_adm0_v2.csv"),
            ),
            (
                "/dataset/ce21c7db-d8f0-40f8-adc2-452d2d2d105c/resource/0bd515ae-613c-400f-a84c-ea203cc529be/download/mli_pop_adm1_v2.csv",
                None,
                sample_file!("cod/mli_pop_adm1_v2.csv"),
            ),
            (
                "/dataset/ce21c7db-d8f0-40f8-adc2-452d2d2d105c/resource/af0c935f-d507-4252-945c-9d1a6cc1b598/download/mli_pop_adm2_v2.csv",
                None,
                sample_file!("cod/mli_pop_adm2_v2.csv"),
            ),
        ];
        Sample { hdx, runs: vec![(&["MLI"], &[])], ..Sample::default() }
    }
}
