//! A population run: per country, COD-PS figures matched to the areas of the boundary edition they
//! were published for, and the crosswalk to today's areas written as area aliases.

use std::collections::HashMap;

use chrono::Datelike;
use store::models::AdminArea;
use store::population::{AliasInput, PopulationInput};
use store::upsert::upsert;

use crate::IngestError;
use crate::kit::{CountryOutcome, PayloadRejections, RunContext};
use crate::pcode::country_name;
use crate::pcode::{AreaMatch, AreaMatcher};
use crate::sources::population::{self, PopulationConfig, PopulationRow};

/// One country: every file fetched and parsed first (any failure leaves the store as it was for
/// this country), then figures and crosswalk aliases written in one transaction.
pub(super) async fn population_country(ctx: &RunContext<'_>, iso3: &str) -> Result<CountryOutcome, IngestError> {
    let config = population::config_for(iso3);
    let (dataset, package) = ctx.catalog_entry(&config.dataset, None).await?;
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

    let mut parsed = Vec::new();
    for (_, resource) in picked {
        let (recorded, mut fetched) = ctx.download(&dataset, resource).await?;
        let mut read = ctx.read_table(&recorded, &mut fetched, None, &config.dataset)?;
        let mut rows = population::parse(&read.table, &read.what)?;
        rows.rejections.extend(read.oversized_rejections());
        parsed.push((recorded.id, fetched.sha256, rows));
    }

    let (matcher, areas) = ctx.areas(iso3).await?;
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
    let rejections = parsed
        .into_iter()
        .map(|(resource_id, sha256, p)| PayloadRejections { resource_id, sha256, rows: p.rejections, own: true })
        .collect();
    let stamp = ctx.stamp();
    ctx.write_checked(iso3, fetched_rows, rejections, move |c| {
        let mut counts = upsert(c, &inputs, &stamp)?;
        counts += upsert(c, &aliases, &())?;
        Ok(counts)
    })
    .await
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
                code: Some(c.source_code.to_string()),
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
