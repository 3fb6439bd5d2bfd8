//! `dtm`: IDP figures from the IOM DTM API v3, per country and admin level, at the source's grain
//! (one row per area, operation, round, date, assessment type, reason and origin).

mod response;
mod run;

pub use response::*;

use crate::kit::{Outcomes, RunContext, Sample, SourceJob, SourceSpec, sample_file};
use crate::{IngestConfig, IngestError, RunOptions};

pub(crate) struct Job;

impl SourceJob for Job {
    const SPEC: SourceSpec = SourceSpec {
        name: "dtm",
        summary: "IDP figures at admin 0, 1 and 2 per operation, round, date, assessment type, reason and origin",
        origin: "IOM DTM API v3 `/v3/displacement/admin{0,1,2}?Admin0Pcode=ISO3` (`CRISISGRAPH_DTM_URL`, key \
                 `CRISISGRAPH_DTM_KEY`)",
        default_cron: Some("0 0 3 * * Mon"),
        period_days: 7,
        per_country: true,
        count_rows: store::idps::count_figures,
    };

    /// Per country, one fetch per level and the write.
    fn steps(&self, ctx: &RunContext<'_>) -> u64 {
        ctx.countries.len() as u64 * (ctx.options.dtm_levels.len() as u64 + 1)
    }

    fn params(&self, options: &RunOptions) -> serde_json::Map<String, serde_json::Value> {
        let mut params = serde_json::Map::new();
        params.insert("dtm_levels".into(), serde_json::json!(options.dtm_levels));
        params
    }

    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
        run::run_dtm(ctx).await
    }

    /// Real v3 answers for Chad, Haiti and Afghanistan, and IOM's Mali figures restated in their shape.
    fn sample(&self, config: &IngestConfig) -> Sample {
        let answers: [(u8, &str, &'static [u8]); 10] = [
            (0, "TCD", sample_file!("dtm/v3/displacement-admin0-admin0pcode-tcd.json")),
            (1, "TCD", sample_file!("dtm/v3/displacement-admin1-admin0pcode-tcd.json")),
            (2, "TCD", sample_file!("dtm/v3/displacement-admin2-admin0pcode-tcd.json")),
            (0, "HTI", sample_file!("dtm/v3/displacement-admin0-admin0pcode-hti.json")),
            (1, "HTI", sample_file!("dtm/v3/displacement-admin1-admin0pcode-hti.json")),
            (2, "HTI", sample_file!("dtm/v3/displacement-admin2-admin0pcode-hti.json")),
            (0, "AFG", sample_file!("dtm/v3/displacement-admin0-admin0pcode-afg.json")),
            (1, "AFG", sample_file!("dtm/v3/displacement-admin1-admin0pcode-afg.json")),
            (0, "MLI", sample_file!("dtm/mali_reconstructed/displacement-admin0-admin0pcode-mli.json")),
            (1, "MLI", sample_file!("dtm/mali_reconstructed/displacement-admin1-admin0pcode-mli.json")),
        ];
        Sample {
            fixed: answers
                .into_iter()
                .map(|(level, iso3, bytes)| (request_url(&config.dtm_url, level, iso3), bytes))
                .collect(),
            runs: vec![(&["HTI", "TCD"], &[0, 1, 2]), (&["AFG", "MLI"], &[0, 1])],
            ..Sample::default()
        }
    }
}
