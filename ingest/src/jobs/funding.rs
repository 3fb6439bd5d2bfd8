//! `ingest funding`: FTS appeals from HDX's requirements-and-funding file (one download for every
//! country), each country's share, funding outside appeals, and per-cluster figures from the FTS API
//! where it has them.

use store::appeals::{self as store_appeals, AppealInput, ClusterInput, OutsideFundingInput};
use store::models::{DatasetInfo, Rejection, ResourceInfo};
use store::provenance::PendingProvenance;
use store::{geography, provenance, with_conn};

use super::Outcomes;
use super::population::country_input;
use crate::runner::Step;
use crate::runner::{CountryOutcome, in_transaction};
use crate::sources::funding::{self, AppealRow};
use crate::sources::table::Table;
use crate::{IngestError, Ingester};

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
    /// The datasets and resources read, written with the country's data.
    provenance: PendingProvenance,
}

impl Ingester {
    pub(crate) async fn run_funding(
        &self,
        run_id: i64,
        countries: &[String],
        dry_run: bool,
        step: &Step<'_>,
    ) -> Result<Outcomes, IngestError> {
        if countries.is_empty() {
            return Err(IngestError::Invalid(
                "no countries to ingest: pass --country or set CRISISGRAPH_COUNTRIES".into(),
            ));
        }
        let (dataset, package, dataset_info) = self.catalog_entry(step, run_id, funding::DATASET, None).await?;
        let resource = package.pick(&funding::resource_pattern(), &["CSV"]).into_iter().next().ok_or_else(|| {
            IngestError::Invalid(format!(
                "{} lists no resource named {:?}",
                funding::DATASET,
                funding::resource_pattern().0
            ))
        })?;
        let (recorded, mut fetched, resource_info) = self.download(step, run_id, &dataset, resource).await?;
        let what = format!("{} ({})", recorded.name, funding::DATASET);
        let mut table = Table::parse(&fetched.bytes()?, &what)?;
        let oversized = table.set_aside_oversized(self.config.limits.max_field_bytes, self.config.limits.max_row_bytes);
        let mut parsed = funding::parse(&table, countries, &what)?;
        // An oversized row counts for its country, when that cell is readable and the country wanted.
        let country_column = table.column(&["countryCode"], "#country+code");
        for (record, rejection) in oversized {
            let iso3 = country_column.and_then(|c| record.get(c)).map(|c| c.trim().to_uppercase()).unwrap_or_default();
            if countries.iter().any(|c| c.eq_ignore_ascii_case(&iso3)) {
                parsed.rejections.entry(iso3).or_default().push(rejection);
            }
        }

        let fts = self.config.fts_url.trim_end_matches('/').to_string();
        let (api_dataset, api_resource) = (fts_api_dataset(&fts), fts_api_resource(&fts));
        let mut pending = PendingProvenance::default();
        pending.dataset(dataset_info);
        pending.resource(dataset.id, resource_info);
        pending.dataset(api_dataset.clone());
        let (api_resource, api_dataset_id) = with_conn(&self.pool, move |c| {
            let d = provenance::ensure_dataset(c, &api_dataset)?;
            Ok((provenance::ensure_resource(c, d.id, &api_resource)?, d.id))
        })
        .await?;
        pending.resource(
            api_dataset_id,
            ResourceInfo {
                hdx_id: api_resource.hdx_id.clone(),
                name: api_resource.name.clone(),
                url: api_resource.url.clone(),
                format: api_resource.format.clone(),
                last_modified: api_resource.last_modified,
            },
        );

        let mut results = Vec::new();
        for iso3 in countries {
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
                let mut work = CountryWork {
                    appeals,
                    outside,
                    rejections,
                    clusters: Vec::new(),
                    cluster_rejections: Vec::new(),
                    provenance: pending.clone(),
                };
                self.fetch_clusters(step, run_id, &fts, api_resource.id, &mut work).await?;
                Ok::<_, IngestError>(work)
            }
            .await;
            let outcome = match work {
                Ok(work) => {
                    self.write_funding(step, run_id, iso3, recorded.id, &fetched.sha256, api_resource.id, work, dry_run)
                        .await
                }
                Err(e) => Err(e),
            };
            step.done(&format!("{iso3}: done"));
            results.push((iso3.clone(), outcome));
        }
        Ok(results)
    }

    /// Per-cluster figures of every appeal with an FTS id. A plan the API does not know (404), or,
    /// offline, one never fetched, simply has none; any other failure fails the country.
    async fn fetch_clusters(
        &self,
        step: &Step<'_>,
        run_id: i64,
        fts: &str,
        resource_id: i64,
        work: &mut CountryWork,
    ) -> Result<(), IngestError> {
        for (index, appeal) in work.appeals.iter().enumerate() {
            let Some(plan_id) = appeal.fts_id else { continue };
            let mut fetched =
                match self.fetch(step, funding::cluster_url(fts, plan_id), run_id, resource_id, Vec::new()).await {
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

    #[allow(clippy::too_many_arguments)]
    async fn write_funding(
        &self,
        step: &Step<'_>,
        run_id: i64,
        iso3: &str,
        resource_id: i64,
        sha: &str,
        api_resource_id: i64,
        work: CountryWork,
        dry_run: bool,
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
        let rejected =
            work.rejections.len() as i64 + work.cluster_rejections.iter().map(|(_, r)| r.len() as i64).sum::<i64>();
        if let Err(e) = self.check_rejected_share(&format!("funding {iso3}"), fetched_rows, rejected) {
            self.record_rejections(run_id, resource_id, sha.to_string(), work.rejections).await?;
            for (sha, rejections) in work.cluster_rejections {
                self.record_rejections(run_id, api_resource_id, sha, rejections).await?;
            }
            return Err(e);
        }
        let (outside, clusters, pending) = (work.outside, work.clusters, work.provenance);
        let country = country_input(iso3);
        let retrieved_at = store::now_utc();
        let control = step.control.clone();
        let written = with_conn(&self.pool, move |c| {
            Ok(in_transaction(c, dry_run, &control, |c| {
                pending.apply(c)?;
                geography::ensure_country(c, &country)?;
                let (mut counts, ids) = store_appeals::upsert_appeals(c, run_id, retrieved_at, &inputs)?;
                counts += store_appeals::upsert_outside_funding(c, run_id, retrieved_at, &outside)?;
                for (index, rows) in &clusters {
                    if let Some(appeal_id) = ids.get(*index) {
                        counts += store_appeals::upsert_clusters(c, run_id, api_resource_id, *appeal_id, rows)?;
                    }
                }
                Ok(counts)
            }))
        })
        .await??;
        self.record_rejections(run_id, resource_id, sha.to_string(), work.rejections).await?;
        for (sha, rejections) in work.cluster_rejections {
            self.record_rejections(run_id, api_resource_id, sha, rejections).await?;
        }
        Ok(CountryOutcome { fetched: fetched_rows, written, rejected })
    }
}
