//! `ingest population`: COD-PS figures per country, against the boundary edition they were published
//! for, with the crosswalk to today's areas written as area aliases.

use std::collections::HashMap;

use chrono::Datelike;
use store::geography::{self, CountryInput};
use store::models::AdminArea;
use store::population::{self as store_population, AliasInput, PopulationInput};
use store::provenance::PendingProvenance;
use store::with_conn;

use super::Outcomes;
use crate::pcode::{AreaMatch, AreaMatcher};
use crate::runner::Step;
use crate::runner::{CountryOutcome, in_transaction};
use crate::sources::geography::country_name;
use crate::sources::population::{self, PopulationConfig, PopulationRow};
use crate::sources::table::Table;
use crate::{IngestError, Ingester};

impl Ingester {
    pub(crate) async fn run_population(
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
            let outcome = self.population_country(step, run_id, iso3, dry_run).await;
            step.done(&format!("{iso3}: done"));
            results.push((iso3.clone(), outcome));
        }
        Ok(results)
    }

    async fn population_country(
        &self,
        step: &Step<'_>,
        run_id: i64,
        iso3: &str,
        dry_run: bool,
    ) -> Result<CountryOutcome, IngestError> {
        let config = population::config_for(iso3);
        let (dataset, package, dataset_info) = self.catalog_entry(step, run_id, &config.dataset, None).await?;
        let mut pending = PendingProvenance::default();
        pending.dataset(dataset_info);
        let mut picked: Vec<(i32, _)> = package
            .pick(&config.resources, &["CSV"])
            .into_iter()
            .filter_map(|r| population::level_of_resource(&r.name).map(|l| (l, r)))
            .filter(|(l, _)| *l <= config.max_level)
            .collect();
        picked.sort_by_key(|(l, _)| *l);
        if picked.is_empty() {
            return Err(IngestError::Invalid(format!(
                "{} lists no CSV resource named like {:?}",
                config.dataset, config.resources.0
            )));
        }
        let reference_year = config
            .reference_year
            .or_else(|| package.notes.as_deref().and_then(population::year_from_notes))
            .or_else(|| package.date_start.map(|d| d.year()))
            .ok_or_else(|| IngestError::Invalid(format!("{}: no reference year stated", config.dataset)))?;

        // Fetch and parse every file first: any failure leaves the store as it was for this country.
        let mut parsed = Vec::new();
        for (_, resource) in picked {
            let (recorded, mut fetched, resource_info) = self.download(step, run_id, &dataset, resource).await?;
            pending.resource(dataset.id, resource_info);
            let what = format!("{} ({})", recorded.name, config.dataset);
            let mut table = Table::parse(&fetched.bytes()?, &what)?;
            let oversized =
                table.set_aside_oversized(self.config.limits.max_field_bytes, self.config.limits.max_row_bytes);
            let mut rows = population::parse(&table, &what)?;
            rows.rejections.extend(oversized.into_iter().map(|(_, rejection)| rejection));
            parsed.push((recorded.id, fetched.sha256, rows));
        }

        let code = iso3.to_string();
        let areas = with_conn(&self.pool, move |c| geography::areas_of_country(c, &code)).await?;
        let matcher = AreaMatcher::new(iso3, &areas);
        let source_key = format!("{} ({})", dataset.source_key, config.boundary_edition);
        let aliases = crosswalk_aliases(&config, &areas, &parsed, &source_key);
        let mut inputs = Vec::new();
        let mut fetched_rows = 0i64;
        for (resource_id, _, p) in &parsed {
            fetched_rows += (p.rows.len() + p.rejections.len()) as i64;
            for row in &p.rows {
                inputs.extend(population_inputs(&config, &matcher, &areas, row, reference_year, *resource_id));
            }
        }
        let rejected: i64 = parsed.iter().map(|(_, _, p)| p.rejections.len() as i64).sum();
        if let Err(e) = self.check_rejected_share(&format!("population {iso3}"), fetched_rows, rejected) {
            for (resource_id, sha, p) in parsed {
                self.record_rejections(run_id, resource_id, sha, p.rejections).await?;
            }
            return Err(e);
        }
        let country = country_input(iso3);
        let retrieved_at = store::now_utc();
        let control = step.control.clone();
        let written = with_conn(&self.pool, move |c| {
            Ok(in_transaction(c, dry_run, &control, |c| {
                pending.apply(c)?;
                geography::ensure_country(c, &country)?;
                let mut counts = store_population::upsert_population(c, run_id, retrieved_at, &inputs)?;
                counts += store_population::upsert_aliases(c, &aliases)?;
                Ok(counts)
            }))
        })
        .await??;
        for (resource_id, sha, p) in parsed {
            self.record_rejections(run_id, resource_id, sha, p.rejections).await?;
        }
        Ok(CountryOutcome { fetched: fetched_rows, written, rejected })
    }
}

/// A country row for the store, named from ISO 3166 when the store does not know it yet.
pub(crate) fn country_input(iso3: &str) -> CountryInput {
    let (name, iso2) = country_name(iso3).unwrap_or_else(|| (iso3.to_string(), String::new()));
    CountryInput { iso3: iso3.to_uppercase(), iso2: (!iso2.is_empty()).then_some(iso2), name }
}

fn current_area<'a>(areas: &'a [AdminArea], pcode: &str) -> Option<&'a AdminArea> {
    areas.iter().find(|a| a.valid_to.is_none() && a.pcode.eq_ignore_ascii_case(pcode))
}

/// The area a row's figures belong to. A code the crosswalk names as `same` goes to its current
/// area; a code it names otherwise (the territory changed) is never matched to today's area of that
/// code, only to the nearest enclosing one; any other code is matched as DTM codes are.
fn locate(
    config: &PopulationConfig,
    matcher: &AreaMatcher,
    areas: &[AdminArea],
    row: &PopulationRow,
) -> (Option<i64>, bool) {
    let entries: Vec<_> = config.crosswalk.iter().filter(|c| c.source_code.eq_ignore_ascii_case(&row.pcode)).collect();
    if let Some(same) = entries.iter().find(|c| c.relation == "same")
        && let Some(area) = current_area(areas, same.current_pcode)
    {
        return (Some(area.id), true);
    }
    if !entries.is_empty() {
        return (matcher.country_area(), false);
    }
    if row.level == 0 {
        let iso2 = country_name(&config.country_iso3).map(|(_, iso2)| iso2).unwrap_or_default();
        let code =
            if row.pcode.eq_ignore_ascii_case(&iso2) { config.country_iso3.as_str() } else { row.pcode.as_str() };
        return match matcher.match_code(0, code, &[]) {
            AreaMatch::Matched { area_id, .. } => (Some(area_id), true),
            AreaMatch::Unmatched { nearest_parent } => (nearest_parent, false),
        };
    }
    let parents: Vec<(i32, &str)> = row.parents.iter().map(|(l, c)| (*l, c.as_str())).collect();
    match matcher.match_code(row.level, &row.pcode, &parents) {
        AreaMatch::Matched { area_id, .. } => (Some(area_id), true),
        AreaMatch::Unmatched { nearest_parent } => (nearest_parent, false),
    }
}

fn population_inputs(
    config: &PopulationConfig,
    matcher: &AreaMatcher,
    areas: &[AdminArea],
    row: &PopulationRow,
    reference_year: i32,
    resource_id: i64,
) -> Vec<PopulationInput> {
    let (area_id, area_matched) = locate(config, matcher, areas, row);
    [("all", Some(row.total)), ("f", row.female), ("m", row.male)]
        .into_iter()
        .filter_map(|(sex, value)| {
            value.map(|population| PopulationInput {
                country_iso3: config.country_iso3.clone(),
                admin_level: row.level,
                area_id,
                area_matched,
                source_pcode: row.pcode.clone(),
                source_name: row.name.clone(),
                boundary_edition: config.boundary_edition.clone(),
                sex: sex.to_string(),
                age_range: "all".to_string(),
                reference_year,
                population,
                resource_id,
            })
        })
        .collect()
}

/// The crosswalk entries whose current area exists, named as the file names the old area.
fn crosswalk_aliases(
    config: &PopulationConfig,
    areas: &[AdminArea],
    parsed: &[(i64, String, population::Parsed)],
    source: &str,
) -> Vec<AliasInput> {
    let names: HashMap<&str, &str> =
        parsed.iter().flat_map(|(_, _, p)| p.rows.iter().map(|r| (r.pcode.as_str(), r.name.as_str()))).collect();
    config
        .crosswalk
        .iter()
        .filter_map(|c| {
            let area = current_area(areas, c.current_pcode)?;
            Some(AliasInput {
                area_id: area.id,
                code: c.source_code.to_string(),
                name: names.get(c.source_code).map(|n| n.to_string()),
                kind: "old_code".into(),
                relation: c.relation.to_string(),
                source: source.to_string(),
                valid_to: config.edition_valid_to,
                note: Some(c.note.to_string()),
            })
        })
        .collect()
}
