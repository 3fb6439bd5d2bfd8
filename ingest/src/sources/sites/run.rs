//! A sites run: per country, the newest site list of its configured dataset, matched to admin areas.

use store::sites::SiteInput;
use store::upsert::upsert;

use crate::IngestError;
use crate::kit::{CountryOutcome, PayloadRejections, RunContext};
use crate::pcode::AreaMatch;
use crate::sources::sites;

pub(super) async fn sites_country(
    ctx: &RunContext<'_>,
    config: &sites::SiteConfig,
) -> Result<CountryOutcome, IngestError> {
    let iso3 = config.country_iso3;
    let (dataset, package) = ctx.catalog_entry(config.dataset, Some(config.credit)).await?;
    // The catalog lists the newest resource first.
    let resource = package.pick(&config.resources, config.formats).into_iter().next().ok_or_else(|| {
        IngestError::Invalid(format!(
            "{} lists no {:?} resource named like {:?}",
            config.dataset, config.formats, config.resources.0
        ))
    })?;
    let (recorded, mut fetched) = ctx.download(&dataset, resource).await?;
    let mut read = ctx.read_table(&recorded, &mut fetched, config.sheet, config.dataset)?;
    let mut parsed = sites::parse(&read.table, config, &read.what)?;
    parsed.rejections.extend(read.oversized_rejections());

    let (matcher, _) = ctx.areas(iso3).await?;
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
    let rejections = vec![PayloadRejections {
        resource_id: recorded.id,
        sha256: fetched.sha256,
        rows: parsed.rejections,
        own: true,
    }];
    let stamp = ctx.stamp();
    ctx.write_checked(iso3, fetched_rows, rejections, move |c| Ok(upsert(c, &inputs, &stamp)?)).await
}
