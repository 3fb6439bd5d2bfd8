//! A funding run: FTS appeals from HDX's requirements-and-funding file (one download for every
//! country), each country's share, funding outside appeals, and per-cluster figures from the FTS API
//! where it has them.

use store::appeals::{self as store_appeals, AppealInput, ClusterInput, OutsideFundingInput};
use store::models::{DatasetInfo, Rejection, ResourceInfo};
use store::upsert::upsert;

use crate::IngestError;
use crate::kit::{CountryOutcome, Outcomes, PayloadRejections, RunContext};
use crate::sources::funding::{self, AppealRow};

/// The FTS API as a dataset: where per-cluster figures come from.
fn fts_api_dataset(fts_url: &str) -> DatasetInfo {
    DatasetInfo {
        source_key: "fts-api".into(),
        hdx_id: None,
        title: "OCHA Financial Tracking Service (FTS) API: funding flows by plan and cluster".into(),
        organisation: "OCHA Financial Tracking Service (FTS)".into(),
        url: format!("{fts_url}/v1/fts/flow/custom-search"),
        licence_id: "cc-by-igo".into(),
        licence_title: "Creative Commons Attribution for Intergovernmental Organisations".into(),
        licence_url: Some("http://creativecommons.org/licenses/by/3.0/igo/legalcode".into()),
        licence_other: None,
        credit: "OCHA Financial Tracking Service (FTS), fts.unocha.org".into(),
        methodology: Some(
            "Reported by donors and recipient organisations, curated by the FTS team; requirements are the \
             plan's revised requirements."
                .into(),
        ),
        update_frequency_days: Some(1),
        last_modified: None,
    }
}

fn fts_api_resource(fts_url: &str) -> ResourceInfo {
    ResourceInfo {
        hdx_id: None,
        name: "flow/custom-search?groupby=cluster".into(),
        url: format!("{fts_url}/v1/fts/flow/custom-search"),
        format: "JSON".into(),
        last_modified: None,
    }
}

/// One country's share of the run's work.
struct CountryWork {
    appeals: Vec<AppealRow>,
    outside: Vec<OutsideFundingInput>,
    rejections: Vec<Rejection>,
    clusters: Vec<(usize, Vec<ClusterInput>)>,
    cluster_rejections: Vec<(String, Vec<Rejection>)>,
}

/// The whole run: one download of the global file, then per country its appeals, their clusters
/// from the FTS API, and the funding outside appeals, written in one transaction.
pub(super) async fn run_funding(ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
    let (dataset, package) = ctx.catalog_entry(funding::DATASET, None).await?;
    let resource = package.pick(&funding::resource_pattern(), &["CSV"]).into_iter().next().ok_or_else(|| {
        IngestError::Invalid(format!(
            "{} lists no resource named {:?}",
            funding::DATASET,
            funding::resource_pattern().0
        ))
    })?;
    let (recorded, mut fetched) = ctx.download(&dataset, resource).await?;
    let read = ctx.read_table(&recorded, &mut fetched, None, funding::DATASET)?;
    let mut parsed = funding::parse(&read.table, &ctx.countries, &read.what)?;
    // An oversized row counts for its country, when that cell is readable and the country wanted.
    let country_column = read.table.column(&["countryCode"], "#country+code");
    for (record, rejection) in read.oversized {
        let iso3 = country_column.and_then(|c| record.get(c)).map(|c| c.trim().to_uppercase()).unwrap_or_default();
        if ctx.countries.contains(&iso3) {
            parsed.rejections.entry(iso3).or_default().push(rejection);
        }
    }

    let fts = ctx.config().fts_url.trim_end_matches('/').to_string();
    let api_resource = ctx.record_source(fts_api_dataset(&fts), vec![fts_api_resource(&fts)]).await?.remove(0);

    let mut results = Vec::new();
    for iso3 in &ctx.countries {
        let appeals: Vec<AppealRow> = parsed.appeals.iter().filter(|a| &a.country_iso3 == iso3).cloned().collect();
        let outside = parsed
            .outside
            .iter()
            .filter(|o| &o.country_iso3 == iso3)
            .map(|o| OutsideFundingInput {
                country_iso3: o.country_iso3.clone(),
                year: o.year,
                funding_usd: o.funding,
                resource_id: recorded.id,
            })
            .collect();
        let rejections = parsed.rejections.remove(iso3).unwrap_or_default();
        let work = async {
            let mut work =
                CountryWork { appeals, outside, rejections, clusters: Vec::new(), cluster_rejections: Vec::new() };
            fetch_clusters(ctx, &fts, api_resource.id, &mut work).await?;
            Ok::<_, IngestError>(work)
        }
        .await;
        let outcome = match work {
            Ok(work) => write_funding(ctx, iso3, recorded.id, &fetched.sha256, api_resource.id, work).await,
            Err(e) => Err(e),
        };
        ctx.step.done(&format!("{iso3}: done"));
        results.push((iso3.clone(), outcome));
    }
    Ok(results)
}

/// Per-cluster figures of every appeal with an FTS id. A plan the API does not know (404), or,
/// offline, one never fetched, simply has none; any other failure fails the country.
async fn fetch_clusters(
    ctx: &RunContext<'_>,
    fts: &str,
    resource_id: i64,
    work: &mut CountryWork,
) -> Result<(), IngestError> {
    for (index, appeal) in work.appeals.iter().enumerate() {
        let Some(plan_id) = appeal.fts_id else { continue };
        let mut fetched = match ctx.fetch(funding::cluster_url(fts, plan_id), resource_id, Vec::new()).await {
            Ok(f) => f,
            Err(IngestError::Http { status: 404, .. }) | Err(IngestError::NotArchived(_)) => continue,
            Err(e) => return Err(e),
        };
        let parsed = funding::parse_clusters(&fetched.bytes()?, plan_id)?;
        let clusters = parsed
            .clusters
            .into_iter()
            .map(|c| ClusterInput { cluster: c.name, requirements_usd: c.requirements, funding_usd: c.funding })
            .collect();
        work.clusters.push((index, clusters));
        if !parsed.rejections.is_empty() {
            work.cluster_rejections.push((fetched.sha256, parsed.rejections));
        }
    }
    Ok(())
}

async fn write_funding(
    ctx: &RunContext<'_>,
    iso3: &str,
    resource_id: i64,
    sha: &str,
    api_resource_id: i64,
    work: CountryWork,
) -> Result<CountryOutcome, IngestError> {
    let inputs: Vec<AppealInput> = work
        .appeals
        .iter()
        .map(|a| AppealInput {
            code: a.code.clone(),
            fts_id: a.fts_id,
            name: a.name.clone(),
            appeal_type: a.appeal_type.clone(),
            year: a.year,
            start_date: a.start_date,
            end_date: a.end_date,
            requirements_usd: a.plan_requirements,
            funding_usd: a.plan_funding,
            country_iso3: a.country_iso3.clone(),
            country_requirements_usd: a.requirements,
            country_funding_usd: a.funding,
            resource_id,
        })
        .collect();
    let fetched_rows = (work.appeals.len() + work.outside.len() + work.rejections.len()) as i64
        + work.clusters.iter().map(|(_, c)| c.len() as i64).sum::<i64>();
    // Both payloads may be shared: the global file by every country, a regional plan's clusters by
    // the countries it covers. Each country's rows are its own.
    let mut rejections =
        vec![PayloadRejections { resource_id, sha256: sha.to_string(), rows: work.rejections, own: false }];
    rejections.extend(work.cluster_rejections.into_iter().map(|(sha256, rows)| PayloadRejections {
        resource_id: api_resource_id,
        sha256,
        rows,
        own: false,
    }));
    let (outside, clusters) = (work.outside, work.clusters);
    let (stamp, run_id) = (ctx.stamp(), ctx.run_id);
    ctx.write_checked(iso3, fetched_rows, rejections, move |c| {
        let (mut counts, ids) = store_appeals::upsert_appeals(c, &stamp, &inputs)?;
        counts += upsert(c, &outside, &stamp)?;
        for (index, rows) in &clusters {
            if let Some(appeal_id) = ids.get(*index) {
                counts += store_appeals::upsert_clusters(c, run_id, api_resource_id, *appeal_id, rows)?;
            }
        }
        Ok(counts)
    })
    .await
}
