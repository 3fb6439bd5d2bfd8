//! `food-security`: people by phase of acute food insecurity. The 19 countries of West and Central
//! Africa from the Cadre Harmonisé workbook (HDX `cadre-harmonise`, `cadre_harmonise_caf_ipc.xlsx`,
//! sheet `Feuil1`, every exercise since 2014, current and projected, by admin 1 to 3); every other
//! country from IPC's long CSVs (HDX `global-acute-food-insecurity-country-data`: the national file
//! with every analysis, and the area file of the latest analysis), a country's lines read from them.
//! CH's area codes are matched to ours (Mali's are older than the store's: what matches is matched,
//! the rest kept with its code and the nearest enclosing area, as DTM's are); IPC names its areas
//! without codes, so they are kept under their names, in the country.

mod parse;

pub use parse::*;
use store::food_security::FoodSecurityInput;
use store::upsert::upsert;

use crate::kit::hdx::{NamePattern, PACKAGE_SHOW};
use crate::kit::{
    CountryOutcome, HdxDataset, Outcomes, PayloadRejections, RunContext, Sample, SourceJob, SourceSpec, sample_file,
};
use crate::pcode::{AreaMatch, AreaMatcher};
use crate::{IngestConfig, IngestError};

/// The Cadre Harmonisé dataset on HDX.
pub const CH_DATASET: &str = "cadre-harmonise";
/// Its workbook (not the GeoJSON maps, slides or PDFs beside it).
pub const CH_RESOURCE: &str = "cadre_harmonise_caf_ipc.xlsx";
/// The workbook's sheet.
pub const CH_SHEET: &str = "Feuil1";
/// The countries the Cadre Harmonisé workbook covers (the dataset's HDX groups).
pub const CH_COUNTRIES: [&str; 19] = [
    "BEN", "BFA", "CAF", "CIV", "CMR", "CPV", "GHA", "GIN", "GMB", "GNB", "LBR", "MLI", "MRT", "NER", "NGA", "SEN",
    "SLE", "TCD", "TGO",
];

/// IPC's global dataset on HDX (every country's analyses, in the layout of its country datasets).
pub const IPC_DATASET: &str = "global-acute-food-insecurity-country-data";
/// The national file: every analysis, one line per phase.
pub const IPC_NATIONAL_RESOURCE: &str = "ipc_global_national_long.csv";
/// The area file: the latest analysis of each country, one line per area and phase.
pub const IPC_AREA_RESOURCE: &str = "ipc_global_area_long_latest.csv";

/// The bundled files (under `sample/food_security/`).
pub const CH_SAMPLE_FILE: &str = "cadre_harmonise_caf_ipc_2022-05.MLI-TCD-subset.xlsx";
pub const IPC_NATIONAL_SAMPLE_FILE: &str = "ipc_afg_national_long.csv";
pub const IPC_AREA_SAMPLE_FILE: &str = "ipc_afg_area_long_latest.csv";

/// Where HDX serves the CH workbook (the path of its catalog entry's `download_url`).
pub const CH_SAMPLE_PATH: &str = "/dataset/5123033a-2db1-496c-b381-df804ac30595/resource/c689cb9f-2475-4b7e-8beb-178ed9f6253d/download/cadre_harmonise_caf_ipc.xlsx";
/// Where HDX serves IPC's national file.
pub const IPC_NATIONAL_SAMPLE_PATH: &str = "/dataset/7a7e7428-b8d7-4d2e-91d3-19100500e016/resource/23d51849-5926-422c-a58a-f9bd68088f20/download/ipc_global_national_long.csv";
/// Where HDX serves IPC's area file.
pub const IPC_AREA_SAMPLE_PATH: &str = "/dataset/7a7e7428-b8d7-4d2e-91d3-19100500e016/resource/fe7aef6a-df83-4e5d-a625-75cfaf287bd2/download/ipc_global_area_long_latest.csv";

/// Whether a country's figures come from the Cadre Harmonisé workbook (else from IPC's files).
pub fn is_cadre_harmonise(iso3: &str) -> bool {
    CH_COUNTRIES.iter().any(|c| c.eq_ignore_ascii_case(iso3))
}

pub(crate) struct Job;

impl SourceJob for Job {
    const SPEC: SourceSpec = SourceSpec {
        name: "food-security",
        summary: "people by phase of acute food insecurity (1-5 and 3+) per analysis, current or projected \
                  period and area: Cadre Harmonisé for West and Central Africa, IPC elsewhere",
        origin: "HDX `cadre-harmonise` (`cadre_harmonise_caf_ipc.xlsx`) and `global-acute-food-insecurity-country-data` \
                 (`ipc_global_national_long.csv`, `ipc_global_area_long_latest.csv`)",
        default_cron: Some("0 0 5 * * Mon"),
        period_days: 30,
        per_country: true,
        count_rows: store::food_security::count_food_security,
    };

    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
        Ok(ctx.for_each_country(|iso3| async move { food_security_country(ctx, &iso3).await }).await)
    }

    fn hdx_datasets(&self, iso3: Option<&str>) -> Vec<HdxDataset> {
        let ch = || HdxDataset {
            dataset: CH_DATASET.to_string(),
            resources: NamePattern::new(CH_RESOURCE),
            formats: vec!["XLSX"],
            credit: None,
        };
        let ipc = |resource: &str| HdxDataset {
            dataset: IPC_DATASET.to_string(),
            resources: NamePattern::new(resource),
            formats: vec!["CSV"],
            credit: None,
        };
        match iso3 {
            Some(iso3) if is_cadre_harmonise(iso3) => vec![ch()],
            Some(_) => vec![ipc(IPC_NATIONAL_RESOURCE), ipc(IPC_AREA_RESOURCE)],
            None => vec![ch(), ipc(IPC_NATIONAL_RESOURCE), ipc(IPC_AREA_RESOURCE)],
        }
    }

    /// The Cadre Harmonisé workbook of May 2022 (CC BY; its Mali and Chad rows) for Mali and Chad, and IPC's Afghanistan files
    /// (public domain) served as IPC's global files, with their catalog entries.
    fn sample(&self, _config: &IngestConfig) -> Sample {
        Sample {
            hdx: vec![
                (PACKAGE_SHOW, Some(CH_DATASET), sample_file!("hdx/package_show.cadre-harmonise.json")),
                (
                    CH_SAMPLE_PATH,
                    None,
                    sample_file!("food_security/cadre_harmonise_caf_ipc_2022-05.MLI-TCD-subset.xlsx"),
                ),
                (
                    PACKAGE_SHOW,
                    Some(IPC_DATASET),
                    sample_file!("hdx/package_show.global-acute-food-insecurity-country-data.json"),
                ),
                (IPC_NATIONAL_SAMPLE_PATH, None, sample_file!("food_security/ipc_afg_national_long.csv")),
                (IPC_AREA_SAMPLE_PATH, None, sample_file!("food_security/ipc_afg_area_long_latest.csv")),
            ],
            runs: vec![(&["MLI", "TCD", "AFG"], &[])],
            ..Sample::default()
        }
    }
}

/// One country: its rows of the CH workbook, or of IPC's national and area files.
async fn food_security_country(ctx: &RunContext<'_>, iso3: &str) -> Result<CountryOutcome, IngestError> {
    let (matcher, _) = ctx.areas(iso3).await?;
    let sources: Vec<(&str, &str, &str, Option<&str>)> = if is_cadre_harmonise(iso3) {
        vec![(CH_DATASET, CH_RESOURCE, "XLSX", Some(CH_SHEET))]
    } else {
        vec![(IPC_DATASET, IPC_NATIONAL_RESOURCE, "CSV", None), (IPC_DATASET, IPC_AREA_RESOURCE, "CSV", None)]
    };
    let mut inputs = Vec::new();
    let mut rejections = Vec::new();
    let mut fetched_rows = 0i64;
    for (dataset_name, resource_name, format, sheet) in sources {
        let (dataset, package) = ctx.catalog_entry(dataset_name, None).await?;
        let resource =
            package.pick(&NamePattern::new(resource_name), &[format]).into_iter().next().ok_or_else(|| {
                IngestError::Invalid(format!("{dataset_name} lists no {format} resource {resource_name:?}"))
            })?;
        let (recorded, mut fetched) = ctx.download(&dataset, resource).await?;
        let mut read = ctx.read_table(&recorded, &mut fetched, sheet, dataset_name)?;
        let mut parsed = if sheet.is_some() {
            parse_cadre_harmonise(&read.table, iso3, &read.what)?
        } else {
            parse_ipc(&read.table, iso3, &read.what)?
        };
        // Oversized rows are the country's only when its code, kept, is in them.
        parsed.rejections.extend(read.oversized_rejections().into_iter().filter(|r| r.raw.contains(iso3)));
        fetched_rows += (parsed.rows.len() + parsed.rejections.len()) as i64;
        inputs.extend(parsed.rows.iter().map(|row| input_of(&matcher, iso3, row, recorded.id)));
        rejections.push(PayloadRejections {
            resource_id: recorded.id,
            sha256: fetched.sha256,
            rows: parsed.rejections,
            own: false,
        });
    }
    if fetched_rows == 0 {
        return Err(IngestError::Invalid(format!("no food security row for {iso3}")));
    }
    let stamp = ctx.stamp();
    ctx.write_checked(iso3, fetched_rows, rejections, move |c| Ok(upsert(c, &inputs, &stamp)?)).await
}

/// A parsed figure set as stored: its area matched (a national row to the country's own area; an
/// IPC area, named only, to the country).
fn input_of(matcher: &AreaMatcher, iso3: &str, row: &FoodSecurityFigure, resource_id: i64) -> FoodSecurityInput {
    let (area_id, area_matched) = if row.pcode.is_empty() {
        (matcher.country_area(), false)
    } else {
        let parents: Vec<(i32, &str)> = row.parent_pcodes.iter().map(|(l, c)| (*l, c.as_str())).collect();
        match matcher.match_code(row.admin_level, &row.pcode, &parents) {
            AreaMatch::Matched { area_id, .. } => (Some(area_id), true),
            AreaMatch::Unmatched { nearest_parent } => (nearest_parent, false),
        }
    };
    FoodSecurityInput {
        country_iso3: iso3.to_uppercase(),
        admin_level: row.admin_level,
        area_id,
        area_matched,
        source_pcode: row.pcode.clone(),
        source_area_name: row.area_name.clone(),
        analysis: row.analysis.clone(),
        projection: row.projection.to_string(),
        reference_period_start: row.reference_period_start,
        reference_period_end: row.reference_period_end,
        superseded: row.superseded,
        population: row.population,
        phase1: row.phases[0],
        phase2: row.phases[1],
        phase3: row.phases[2],
        phase4: row.phases[3],
        phase5: row.phases[4],
        phase3_plus: row.phase3_plus,
        phase_class: row.phase_class,
        resource_id,
    }
}
