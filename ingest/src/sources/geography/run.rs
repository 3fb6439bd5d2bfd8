//! A geography run: the list fetched once, then each country's areas written in their own transaction.

use store::geography;

use crate::IngestError;
use crate::kit::{CountryOutcome, Outcomes, RunContext};
use crate::sources::geography as pcodes;

pub(super) async fn run_geography(ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
    let (run_id, countries, step) = (ctx.run_id, &ctx.countries, &ctx.step);
    let hdx = ctx.config().hdx_url.trim_end_matches('/').to_string();
    let (dataset, resource) = (pcodes::dataset_info(&hdx), pcodes::resource_info(&hdx));
    let resource = ctx.record_source(dataset, vec![resource]).await?.remove(0);
    step.check()?;
    let mut fetched = ctx.fetch(resource.url.clone(), resource.id, Vec::new()).await?;
    let limits = ctx.limits();
    let parsed = pcodes::parse_bounded(&fetched.bytes()?, countries, limits.max_field_bytes, limits.max_row_bytes)?;
    step.done("fetched the p-code list");
    let mut results = Vec::new();
    for wanted in countries {
        if !parsed.contains_key(wanted) {
            results
                .push((wanted.clone(), Err(IngestError::Invalid(format!("the p-code list has no rows for {wanted}")))));
        }
    }
    for (iso3, part) in parsed {
        let (country, areas, rejections) = (part.country, part.areas, part.rejections);
        let rejected = rejections.len() as i64;
        let fetched_rows = areas.len() as i64 - 1 + rejected;
        let resource_id = resource.id;
        step.check()?;
        // The list is every country's: each country's rejected rows are its own, stored by each run.
        if let Err(e) = ctx.check_rejected_share(&iso3, fetched_rows.max(0), rejected) {
            ctx.record_rejections(resource.id, fetched.sha256.clone(), rejections).await?;
            step.done(&format!("{iso3}: areas rejected"));
            results.push((iso3, Err(e)));
            continue;
        }
        let scope = ctx.write_scope();
        let written = store::with_conn(ctx.pool(), move |c| {
            Ok(scope.run(c, |c| {
                let mut counts = geography::upsert_countries(c, std::slice::from_ref(&country))?;
                counts += geography::upsert_areas(c, run_id, resource_id, &areas)?;
                Ok(counts)
            }))
        })
        .await
        .map_err(IngestError::from)
        .and_then(|inner| inner);
        let result = match written {
            Ok(written) => {
                ctx.record_rejections(resource.id, fetched.sha256.clone(), rejections).await?;
                Ok(CountryOutcome { fetched: fetched_rows.max(0), written, rejected })
            }
            Err(e) => Err(e),
        };
        step.done(&format!("{iso3}: areas written"));
        results.push((iso3, result));
    }
    Ok(results)
}
