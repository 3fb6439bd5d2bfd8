//! `presence`: operational presence (3W, "who does what where"): which organisation works in which
//! area and sector, from OCHA's country 3W files on HDX, with organisations canonicalised as HDX
//! HAPI does ([`organisations`]) and clusters mapped to the global sector codes
//! ([`crate::kit::reference::sector`]).

pub mod organisations;
mod parse;

pub use parse::*;
use store::presence::{OrganisationInput, PresenceInput, ensure_organisations};
use store::upsert::upsert;

use crate::kit::hdx::PACKAGE_SHOW;
use crate::kit::{
    CountryOutcome, HdxDataset, Outcomes, PayloadRejections, RunContext, Sample, SourceJob, SourceSpec, sample_file,
};
use crate::pcode::AreaMatch;
use crate::{IngestConfig, IngestError};

pub(crate) struct Job;

impl SourceJob for Job {
    const SPEC: SourceSpec = SourceSpec {
        name: "presence",
        summary: "operational presence (3W): which organisation works in which area and sector; organisations \
                  canonicalised with HDX HAPI's mapping and typed, clusters mapped to the global sectors \
                  (Mali and Chad configured)",
        origin: "HDX `<country>-operational-presence` (OCHA country 3W workbooks)",
        default_cron: Some("0 0 7 * * Mon"),
        period_days: 30,
        per_country: true,
        count_rows: store::presence::count_all_presence,
    };

    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
        Ok(ctx
            .for_each_country(|iso3| async move {
                match config_for(&iso3) {
                    Some(config) => presence_country(ctx, &config).await,
                    None => Err(IngestError::Invalid(format!("no 3W dataset is configured for {iso3}"))),
                }
            })
            .await)
    }

    fn hdx_datasets(&self, iso3: Option<&str>) -> Vec<HdxDataset> {
        iso3.and_then(config_for)
            .map(|c| HdxDataset {
                dataset: c.dataset.to_string(),
                resources: c.resources,
                formats: c.formats.to_vec(),
                credit: None,
            })
            .into_iter()
            .collect()
    }

    /// Chad's 3W of April 2025 (the published workbook), and the Mopti rows of Mali's of December
    /// 2023 (an extract of the workbook's `ML_5W` sheet), each with its catalog entry.
    fn sample(&self, _config: &IngestConfig) -> Sample {
        Sample {
            hdx: vec![
                (
                    PACKAGE_SHOW,
                    Some("mali-operational-presence"),
                    sample_file!("hdx/package_show.mali-operational-presence.json"),
                ),
                (
                    "/dataset/d7ab89e4-bcb2-4127-be3c-5e8cf804ffd3/resource/constructed-mali-3w-december-2023-mopti-extract/download/mali-3w-presence-operationnelle-december-2023.ML05.csv",
                    None,
                    sample_file!("operational_presence/mali-3w-presence-operationnelle-december-2023.ML05.csv"),
                ),
                (
                    PACKAGE_SHOW,
                    Some("chad-operational-presence"),
                    sample_file!("hdx/package_show.chad-operational-presence.json"),
                ),
                (
                    "/dataset/682c3db6-e253-430f-a3f3-305ef079e2de/resource/229056ab-d399-430e-96c5-a65665ad5e52/download/tcd-presenceoperationnellephysiquepartenaires-20250430-1.xlsx",
                    None,
                    sample_file!("operational_presence/tcd_3w_avr2025.xlsx"),
                ),
            ],
            runs: vec![(&["MLI", "TCD"], &[])],
            ..Sample::default()
        }
    }
}

/// One country: the newest resource of its 3W dataset, parsed, its organisations written (new ones
/// inserted), its presences matched to areas and upserted, in one transaction.
async fn presence_country(ctx: &RunContext<'_>, config: &PresenceConfig) -> Result<CountryOutcome, IngestError> {
    let iso3 = config.country_iso3;
    let (dataset, package) = ctx.catalog_entry(config.dataset, None).await?;
    // The catalog lists the newest resource first.
    let resource = package.pick(&config.resources, config.formats).into_iter().next().ok_or_else(|| {
        IngestError::Invalid(format!(
            "{} lists no {:?} resource named like {:?}",
            config.dataset, config.formats, config.resources.0
        ))
    })?;
    let (recorded, mut fetched) = ctx.download(&dataset, resource).await?;
    let mut read = ctx.read_table(&recorded, &mut fetched, config.sheet, config.dataset)?;
    let mut parsed = parse(&read.table, config, &read.what)?;
    let oversized = read.oversized_rejections();
    let fetched_rows = (parsed.rows + oversized.len()) as i64;
    parsed.rejections.extend(oversized);

    let (matcher, _) = ctx.areas(iso3).await?;
    let organisations: Vec<OrganisationInput> = parsed
        .organisations
        .iter()
        .map(|(key, c)| OrganisationInput {
            match_key: key.clone(),
            acronym: c.acronym.clone(),
            name: c.name.clone(),
            org_type_code: c.org_type.as_ref().map(|t| t.code.clone()),
            org_type: c.org_type.as_ref().map(|t| t.name.clone()),
        })
        .collect();
    let resource_id = recorded.id;
    let presences: Vec<(String, PresenceInput)> = parsed
        .presences
        .iter()
        .map(|p| {
            let parents: Vec<(i32, &str)> = p.parent_pcode.as_deref().map(|c| vec![(1, c)]).unwrap_or_default();
            let (area_id, area_matched) = match matcher.match_code(p.admin_level, &p.pcode, &parents) {
                AreaMatch::Matched { area_id, .. } => (Some(area_id), true),
                AreaMatch::Unmatched { nearest_parent } => (nearest_parent, false),
            };
            let input = PresenceInput {
                country_iso3: iso3.to_string(),
                admin_level: p.admin_level,
                source_pcode: p.pcode.clone(),
                area_id,
                area_matched,
                organisation_id: 0,
                sector_code: p.sector_code.clone(),
                source_sector: p.source_sector.clone(),
                source_rows: p.rows,
                resource_id,
            };
            (p.organisation.clone(), input)
        })
        .collect();
    let rejections =
        vec![PayloadRejections { resource_id, sha256: fetched.sha256, rows: parsed.rejections, own: true }];
    let stamp = ctx.stamp();
    ctx.write_checked(iso3, fetched_rows, rejections, move |c| {
        let (mut counts, ids) = ensure_organisations(c, &organisations)?;
        let rows = presences
            .into_iter()
            .map(|(key, mut row)| {
                row.organisation_id = *ids
                    .get(&key)
                    .ok_or_else(|| IngestError::Invalid(format!("organisation {key:?} was not written")))?;
                Ok(row)
            })
            .collect::<Result<Vec<_>, IngestError>>()?;
        counts += upsert(c, &rows, &stamp)?;
        Ok(counts)
    })
    .await
}
