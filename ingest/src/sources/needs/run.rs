//! A needs run: per country, every matching resource of its dataset (one plan year each), its rows
//! matched to admin areas; an unmatched code is kept with the source's code (`area_matched = false`,
//! the nearest enclosing area), as DTM's are.

use chrono::Datelike;
use store::needs::NeedInput;
use store::upsert::upsert;

use crate::IngestError;
use crate::kit::{CountryOutcome, PayloadRejections, RunContext};
use crate::pcode::{AreaMatch, AreaMatcher};
use crate::sources::needs::{self, NeedsConfig, NeedsRow};

pub(super) async fn needs_country(ctx: &RunContext<'_>, config: &NeedsConfig) -> Result<CountryOutcome, IngestError> {
    let iso3 = config.country_iso3.as_str();
    let (dataset, package) = ctx.catalog_entry(&config.dataset, None).await?;
    let resources = package.pick(&config.resources, config.formats);
    if resources.is_empty() {
        return Err(IngestError::Invalid(format!(
            "{} lists no {:?} resource named like {:?}",
            config.dataset, config.formats, config.resources.0
        )));
    }
    let (matcher, _) = ctx.areas(iso3).await?;
    let mut inputs = Vec::new();
    let mut rejections = Vec::new();
    let mut fetched_rows = 0i64;
    for resource in resources {
        let year = needs::year_of_name(&resource.name)
            .or_else(|| package.date_start.map(|d| d.year()))
            .ok_or_else(|| IngestError::Invalid(format!("{}: no plan year in {:?}", config.dataset, resource.name)))?;
        let (recorded, mut fetched) = ctx.download(&dataset, resource).await?;
        let mut read = ctx.read_table(&recorded, &mut fetched, None, &config.dataset)?;
        let mut parsed = needs::parse(&read.table, iso3, config.intersectoral_only, &read.what)?;
        parsed.rejections.extend(read.oversized_rejections());
        fetched_rows += (parsed.rows.len() + parsed.rejections.len()) as i64;
        inputs.extend(parsed.rows.iter().map(|row| need_input(&matcher, iso3, year, row, recorded.id)));
        rejections.push(PayloadRejections {
            resource_id: recorded.id,
            sha256: fetched.sha256,
            rows: parsed.rejections,
            own: !config.shared,
        });
    }
    let stamp = ctx.stamp();
    ctx.write_checked(iso3, fetched_rows, rejections, move |c| Ok(upsert(c, &inputs, &stamp)?)).await
}

/// A parsed row as stored: its area matched (a national row to the country's own area).
fn need_input(matcher: &AreaMatcher, iso3: &str, year: i32, row: &NeedsRow, resource_id: i64) -> NeedInput {
    let source_pcode = row.pcode.clone().unwrap_or_else(|| iso3.to_string());
    let parents: Vec<(i32, &str)> = row.parent_pcode.as_deref().map(|p| (1, p)).into_iter().collect();
    let (area_id, area_matched) = match matcher.match_code(row.admin_level, &source_pcode, &parents) {
        AreaMatch::Matched { area_id, .. } => (Some(area_id), true),
        AreaMatch::Unmatched { nearest_parent } => (nearest_parent, false),
    };
    NeedInput {
        country_iso3: iso3.to_string(),
        year,
        admin_level: row.admin_level,
        area_id,
        area_matched,
        source_pcode,
        sector: row.sector.clone(),
        category: row.category.clone(),
        population_group: row.population_group.clone(),
        gender: row.gender.clone(),
        age_range: row.age_range.clone(),
        disabled_marker: row.disabled_marker.clone(),
        population: row.population,
        in_need: row.in_need,
        targeted: row.targeted,
        affected: row.affected,
        reached: row.reached,
        resource_id,
    }
}
