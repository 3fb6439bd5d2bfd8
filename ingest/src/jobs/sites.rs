//! `ingest sites`: DTM site and location lists (XLSX or CSV on HDX), matched to admin areas.

use store::geography;
use store::provenance::PendingProvenance;
use store::sites::{self as store_sites, SiteInput};
use store::with_conn;

use super::Outcomes;
use super::population::country_input;
use crate::pcode::{AreaMatch, AreaMatcher};
use crate::runner::Step;
use crate::runner::{CountryOutcome, in_transaction};
use crate::sources::sheet::xlsx_table;
use crate::sources::sites;
use crate::sources::table::Table;
use crate::{IngestError, Ingester};

impl Ingester {
    pub(crate) async fn run_sites(
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
        let mut results = Vec::new();
        for iso3 in countries {
            let outcome = match sites::config_for(iso3) {
                Some(config) => self.sites_country(step, run_id, &config, dry_run).await,
                None => Err(IngestError::Invalid(format!("no site list is configured for {iso3}"))),
            };
            step.done(&format!("{iso3}: done"));
            results.push((iso3.clone(), outcome));
        }
        Ok(results)
    }

    async fn sites_country(
        &self,
        step: &Step<'_>,
        run_id: i64,
        config: &sites::SiteConfig,
        dry_run: bool,
    ) -> Result<CountryOutcome, IngestError> {
        let iso3 = config.country_iso3;
        let (dataset, package, dataset_info) =
            self.catalog_entry(step, run_id, config.dataset, Some(config.credit)).await?;
        // The catalog lists the newest resource first.
        let resource = package.pick(&config.resources, config.formats).into_iter().next().ok_or_else(|| {
            IngestError::Invalid(format!(
                "{} lists no {:?} resource named like {:?}",
                config.dataset, config.formats, config.resources.0
            ))
        })?;
        let (recorded, mut fetched, resource_info) = self.download(step, run_id, &dataset, resource).await?;
        let mut pending = PendingProvenance::default();
        pending.dataset(dataset_info);
        pending.resource(dataset.id, resource_info);
        let what = format!("{} ({})", recorded.name, config.dataset);
        let mut table = if recorded.format.eq_ignore_ascii_case("XLSX") {
            xlsx_table(&fetched.bytes()?, config.sheet, &what)?
        } else {
            Table::parse(&fetched.bytes()?, &what)?
        };
        let oversized = table.set_aside_oversized(self.config.limits.max_field_bytes, self.config.limits.max_row_bytes);
        let mut parsed = sites::parse(&table, config, &what)?;
        parsed.rejections.extend(oversized.into_iter().map(|(_, rejection)| rejection));

        let code = iso3.to_string();
        let areas = with_conn(&self.pool, move |c| geography::areas_of_country(c, &code)).await?;
        let matcher = AreaMatcher::new(iso3, &areas);
        let (level, parent_level) = (config.columns.area.0, config.columns.parent_area.as_ref().map(|(l, _)| *l));
        let inputs: Vec<SiteInput> = parsed
            .rows
            .iter()
            .map(|row| {
                let parents: Vec<(i32, &str)> = match (parent_level, row.parent_code.as_deref()) {
                    (Some(l), Some(c)) => vec![(l, c)],
                    _ => Vec::new(),
                };
                let (area_id, area_matched) = match row.area_code.as_deref() {
                    Some(code) => match matcher.match_code(level, code, &parents) {
                        AreaMatch::Matched { area_id, .. } => (Some(area_id), true),
                        AreaMatch::Unmatched { nearest_parent } => (nearest_parent, false),
                    },
                    None => (matcher.country_area(), false),
                };
                SiteInput {
                    country_iso3: iso3.to_string(),
                    site_code: row.code.clone(),
                    name: row.name.clone(),
                    site_type: row.site_type.clone(),
                    latitude: row.latitude,
                    longitude: row.longitude,
                    area_id,
                    area_matched,
                    source_pcode: row.area_code.clone(),
                    households: row.households,
                    individuals: row.individuals,
                    round_number: row.round,
                    reporting_date: row.reporting_date,
                    resource_id: recorded.id,
                }
            })
            .collect();
        let fetched_rows = (parsed.rows.len() + parsed.rejections.len()) as i64;
        let rejected = parsed.rejections.len() as i64;
        if let Err(e) = self.check_rejected_share(&format!("sites {iso3}"), fetched_rows, rejected) {
            self.record_rejections(run_id, recorded.id, fetched.sha256, parsed.rejections).await?;
            return Err(e);
        }
        let country = country_input(iso3);
        let retrieved_at = store::now_utc();
        let control = step.control.clone();
        let written = with_conn(&self.pool, move |c| {
            Ok(in_transaction(c, dry_run, &control, |c| {
                pending.apply(c)?;
                geography::ensure_country(c, &country)?;
                Ok(store_sites::upsert_sites(c, run_id, retrieved_at, &inputs)?)
            }))
        })
        .await??;
        self.record_rejections(run_id, recorded.id, fetched.sha256, parsed.rejections).await?;
        Ok(CountryOutcome { fetched: fetched_rows, written, rejected })
    }
}
