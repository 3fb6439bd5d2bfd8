//! A geography run: the list fetched once, then each country's areas written in their own transaction.

use store::{geography, provenance, with_conn};

use crate::IngestError;
use crate::kit::{CountryOutcome, Outcomes, RunContext, in_transaction};
use crate::sources::geography as pcodes;

pub(super) async fn run_geography(ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
    let (run_id, countries, dry_run, step) = (ctx.run_id, &ctx.countries, ctx.dry_run(), &ctx.step);
    let hdx = ctx.config().hdx_url.trim_end_matches('/').to_string();
    let (dataset, resource) = (pcodes::dataset_info(&hdx), pcodes::resource_info(&hdx));
    let resource = with_conn(ctx.pool(), move |c| {
        let d = provenance::upsert_dataset(c, &dataset)?;
        provenance::upsert_resource(c, d.id, &resource)
    })
    .await?;
    step.check()?;
    let mut fetched = ctx.fetch(resource.url.clone(), resource.id, Vec::new()).await?;
    let parsed = pcodes::parse(&fetched.bytes()?, countries)?;
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
        let control = step.control.clone();
        let written = with_conn(ctx.pool(), move |c| {
            Ok(in_transaction(c, dry_run, &control, |c| {
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
