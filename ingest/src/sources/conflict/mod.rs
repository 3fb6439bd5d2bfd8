//! `conflict`: conflict events from ACLED's three aggregated workbooks on HDX (political violence,
//! civilian targeting, demonstrations): events (and fatalities, but for demonstrations) per month and
//! admin 2 area.
//!
//! Each workbook holds every country ACLED covers (about 40 MB on HDX). A run downloads each once,
//! streams its worksheets and keeps only the rows of the run's countries ([`read_workbook`]); each
//! country is then written in its own transaction from those rows.
//!
//! Licence: ACLED's terms of use forbid redistributing its data, so nothing of ACLED's is bundled
//! (no sample); the figures a run reads keep ACLED's credit line and licence.

mod parse;
mod run;

pub use parse::*;

use std::collections::BTreeSet;

use crate::kit::hdx::NamePattern;
use crate::kit::{HdxDataset, Outcomes, RunContext, Sample, SourceJob, SourceSpec};
use crate::{IngestConfig, IngestError};

pub(crate) struct Job;

/// The credit line ACLED's attribution policy asks for.
pub const ACLED_CREDIT: &str = "Armed Conflict Location & Event Data Project (ACLED); www.acleddata.com";

/// ACLED's three datasets on HDX and the event type of each (as stored).
pub const WORKBOOKS: [(&str, &str); 3] = [
    ("political-violence-events-and-fatalities", store::conflict_events::event_type::POLITICAL_VIOLENCE),
    ("civilian-targeting-events-and-fatalities", store::conflict_events::event_type::CIVILIAN_TARGETING),
    ("demonstration-events", store::conflict_events::event_type::DEMONSTRATION),
];

pub(crate) fn datasets() -> Vec<HdxDataset> {
    WORKBOOKS
        .iter()
        .map(|(dataset, _)| HdxDataset {
            dataset: (*dataset).into(),
            resources: NamePattern::new("*.xlsx"),
            formats: vec!["XLSX"],
            credit: Some(ACLED_CREDIT),
        })
        .collect()
}

impl SourceJob for Job {
    const SPEC: SourceSpec = SourceSpec {
        name: "conflict",
        summary: "conflict events: political violence, civilian targeting and demonstrations, with fatalities, \
                  by month and admin 2 area (ACLED; not bundled: ACLED's terms forbid redistribution)",
        origin: "HDX `political-violence-events-and-fatalities`, `civilian-targeting-events-and-fatalities`, \
                 `demonstration-events`",
        default_cron: Some("0 30 5 * * Tue"),
        period_days: 7,
        per_country: true,
        count_rows: store::conflict_events::count_conflict_events,
    };

    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
        let wanted: BTreeSet<String> = ctx.countries.iter().cloned().collect();
        // The three workbooks are every country's: read once, before the countries.
        let workbooks = run::read_workbooks(ctx, &wanted).await?;
        Ok(ctx
            .for_each_country(|iso3| {
                let workbooks = &workbooks;
                async move { run::conflict_country(ctx, &iso3, workbooks).await }
            })
            .await)
    }

    fn hdx_datasets(&self, _iso3: Option<&str>) -> Vec<HdxDataset> {
        datasets()
    }

    /// Never in the sample: ACLED's terms of use forbid redistributing its data.
    fn sample(&self, _config: &IngestConfig) -> Sample {
        Sample::default()
    }
}
