//! `catalog`: records the HDX datasets behind the HDX-backed sources (provenance, licence, last
//! modified) and the resources each source reads, without downloading them. Which datasets those are
//! comes from each source's [`SourceJob::hdx_datasets`].

use crate::kit::{CountryOutcome, HdxDataset, Outcomes, RunContext, SourceJob, SourceSpec};
use crate::{IngestError, Source};

pub(crate) struct Job;

/// Every source's HDX datasets: those of no country first, then each country's, in the list's order.
fn wanted(countries: &[String]) -> Vec<HdxDataset> {
    let mut wanted: Vec<HdxDataset> = Source::ALL.iter().flat_map(|s| s.hdx_datasets(None)).collect();
    for iso3 in countries {
        wanted.extend(Source::ALL.iter().flat_map(|s| s.hdx_datasets(Some(iso3))));
    }
    wanted
}

impl SourceJob for Job {
    const SPEC: SourceSpec = SourceSpec {
        name: "catalog",
        summary: "the HDX catalog entries (organisation, licence, methodology, update frequency, last modified) and \
                  resources behind the HDX-backed sources, without downloading them",
        origin: "HDX CKAN `package_show`",
        default_cron: Some("0 0 1 * * *"),
        period_days: 1,
        per_country: false,
        count_rows: store::provenance::count_datasets,
    };

    /// One per dataset.
    fn steps(&self, ctx: &RunContext<'_>) -> u64 {
        wanted(&ctx.countries).len() as u64
    }

    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
        let mut results = Vec::new();
        for HdxDataset { dataset, resources: pattern, formats, credit } in wanted(&ctx.countries) {
            let outcome = ctx
                .unit(async {
                    let (recorded, package) = ctx.catalog_entry(&dataset, credit).await?;
                    let infos: Vec<_> = package
                        .pick(&pattern, &formats)
                        .into_iter()
                        .map(|r| r.resource_info(&ctx.config().hdx_url))
                        .collect();
                    if infos.is_empty() {
                        return Err(IngestError::Invalid(format!(
                            "{dataset} lists no {formats:?} resource named like {:?}",
                            pattern.0
                        )));
                    }
                    let count = infos.len() as i64;
                    for info in infos {
                        ctx.learn_resource(recorded.id, info);
                    }
                    // The entry and its resources are written in one transaction (which a dry run rolls back).
                    ctx.write_provenance().await?;
                    Ok(CountryOutcome { fetched: count, ..CountryOutcome::default() })
                })
                .await;
            ctx.step.done(&format!("{dataset}: done"));
            results.push((dataset, outcome));
        }
        Ok(results)
    }
}
