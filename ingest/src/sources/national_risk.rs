//! `national-risk`: the INFORM Risk index (EC JRC) per country, from its yearly workbook on HDX
//! (`inform-risk-index-2021`, resource `INFORM_Risk_<year>_v<version>.xlsx`). One global workbook;
//! a run reads, for each requested country, its row of the edition's `INFORM Risk <year> (a-z)`
//! sheet. Every cell there is a formula: the values Excel cached are read (calamine does, as the
//! kit's [`Table::from_xlsx`] says), never recomputed.

use store::models::Rejection;
use store::national_risk::NationalRiskInput;
use store::upsert::upsert;

use crate::kit::cells::{decimal, is_missing};
use crate::kit::hdx::{NamePattern, PACKAGE_SHOW};
use crate::kit::table::{Col, Table, record_text};
use crate::kit::{
    CountryOutcome, HdxDataset, Outcomes, PayloadRejections, RunContext, Sample, SourceJob, SourceSpec, sample_file,
};
use crate::{IngestConfig, IngestError};

/// The HDX dataset of the INFORM Risk index (its name kept from the 2021 edition).
pub const DATASET: &str = "inform-risk-index-2021";

/// The yearly workbook (not the trend workbook `INFORM<year>_TREND_...`, nor the methodology PDF).
const RESOURCES: &str = "INFORM_Risk_*";

/// Where HDX serves the 2024 workbook (the path of its catalog entry's `download_url`).
pub const SAMPLE_PATH: &str = "/dataset/f5ec2ee7-8a1b-49b4-864b-70bdb582a022/resource/603e40eb-a620-47e2-b8ac-e51961c7d661/download/inform_risk_2024_v067-.xlsx";

pub(crate) struct Job;

impl SourceJob for Job {
    const SPEC: SourceSpec = SourceSpec {
        name: "national-risk",
        summary: "the INFORM Risk index per country and edition: score (0-10), class, rank, hazard and exposure, \
                  vulnerability, lack of coping capacity",
        origin: "HDX `inform-risk-index-2021` (`INFORM_Risk_<year>_v<version>.xlsx`, sheet `INFORM Risk <year> (a-z)`)",
        default_cron: Some("0 0 7 1 * *"),
        period_days: 365,
        per_country: true,
        count_rows: store::national_risk::count_national_risk,
    };

    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
        Ok(ctx.for_each_country(|iso3| async move { risk_country(ctx, &iso3).await }).await)
    }

    fn hdx_datasets(&self, _iso3: Option<&str>) -> Vec<HdxDataset> {
        vec![HdxDataset {
            dataset: DATASET.to_string(),
            resources: NamePattern::new(RESOURCES),
            formats: vec!["XLSX"],
            credit: None,
        }]
    }

    /// The 2024 workbook (CC BY) and its catalog entry, for Mali and Chad.
    fn sample(&self, _config: &IngestConfig) -> Sample {
        Sample {
            hdx: vec![
                (PACKAGE_SHOW, Some(DATASET), sample_file!("hdx/package_show.inform-risk-index-2021.json")),
                (SAMPLE_PATH, None, sample_file!("national_risk/inform_risk_2024_v067.xlsx")),
            ],
            runs: vec![(&["MLI", "TCD"], &[])],
            ..Sample::default()
        }
    }
}

/// One country's row of every yearly workbook the catalog lists.
async fn risk_country(ctx: &RunContext<'_>, iso3: &str) -> Result<CountryOutcome, IngestError> {
    let (dataset, package) = ctx.catalog_entry(DATASET, None).await?;
    let resources = package.pick(&NamePattern::new(RESOURCES), &["XLSX"]);
    if resources.is_empty() {
        return Err(IngestError::Invalid(format!("{DATASET} lists no XLSX resource named like {RESOURCES:?}")));
    }
    let mut inputs = Vec::new();
    let mut rejections = Vec::new();
    let mut fetched_rows = 0i64;
    for resource in resources {
        let year = edition_of_name(&resource.name)
            .ok_or_else(|| IngestError::Invalid(format!("{DATASET}: no edition year in {:?}", resource.name)))?;
        let (recorded, mut fetched) = ctx.download(&dataset, resource).await?;
        let sheet = format!("INFORM Risk {year} (a-z)");
        let mut read = ctx.read_table(&recorded, &mut fetched, Some(&sheet), DATASET)?;
        let mut parsed = parse(&read.table, iso3, &read.what)?;
        // Oversized rows are the country's only when the ISO3 cell, kept, is its code.
        parsed.rejections.extend(read.oversized_rejections().into_iter().filter(|r| r.raw.contains(iso3)));
        fetched_rows += (parsed.rows.len() + parsed.rejections.len()) as i64;
        if parsed.rows.is_empty() && parsed.rejections.is_empty() {
            return Err(IngestError::Invalid(format!("{}: no row for {iso3}", read.what)));
        }
        inputs.extend(parsed.rows.into_iter().map(|row| NationalRiskInput {
            country_iso3: iso3.to_string(),
            year,
            risk_score: row.risk_score,
            risk_class: row.risk_class,
            rank: row.rank,
            hazard_exposure: row.hazard_exposure,
            vulnerability: row.vulnerability,
            lack_of_coping_capacity: row.lack_of_coping_capacity,
            lack_of_reliability: row.lack_of_reliability,
            resource_id: recorded.id,
        }));
        rejections.push(PayloadRejections {
            resource_id: recorded.id,
            sha256: fetched.sha256,
            rows: parsed.rejections,
            own: false,
        });
    }
    let stamp = ctx.stamp();
    ctx.write_checked(iso3, fetched_rows, rejections, move |c| Ok(upsert(c, &inputs, &stamp)?)).await
}

/// The edition in a resource name: `INFORM_Risk_2024_v067 .xlsx` → 2024.
pub fn edition_of_name(name: &str) -> Option<i32> {
    let rest = name.get(name.to_ascii_lowercase().find("risk_")? + 5..)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (digits.len() == 4).then(|| digits.parse().ok()).flatten()
}

/// Where each field is (by header; the sheet has no HXL row).
mod columns {
    use super::Col;

    pub const ISO3: Col = Col::header(&["ISO3"]);
    pub const RISK: Col = Col::header(&["INFORM RISK"]);
    pub const CLASS: Col = Col::header(&["RISK CLASS"]);
    pub const RANK: Col = Col::header(&["Rank"]);
    pub const RELIABILITY: Col = Col::header(&["Lack of Reliability (*)", "Lack of Reliability"]);
    pub const HAZARD: Col = Col::header(&["HAZARD & EXPOSURE"]);
    pub const VULNERABILITY: Col = Col::header(&["VULNERABILITY"]);
    pub const COPING: Col = Col::header(&["LACK OF COPING CAPACITY"]);
}

/// One valid row of the index sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskRow {
    pub row_number: i64,
    pub risk_score: f64,
    pub risk_class: String,
    pub rank: i32,
    pub hazard_exposure: Option<f64>,
    pub vulnerability: Option<f64>,
    pub lack_of_coping_capacity: Option<f64>,
    pub lack_of_reliability: Option<f64>,
}

/// What the sheet held for a country.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<RiskRow>,
    pub rejections: Vec<Rejection>,
}

/// The classes INFORM gives, lowest first.
pub const CLASSES: [&str; 5] = ["Very Low", "Low", "Medium", "High", "Very High"];

/// `iso3`'s rows of the index sheet. The sheet opens with a title row above the header in some
/// editions, and always has a row of ranges (`(0-10)`) below it: the header is the first row with
/// an `ISO3` cell, and rows whose code is a range are skipped.
pub fn parse(table: &Table, iso3: &str, what: &str) -> Result<Parsed, IngestError> {
    let reheaded = header_at_iso3(table);
    let table = reheaded.as_ref().unwrap_or(table);
    let iso3_col = table.require_col(&columns::ISO3, "ISO3", what)?;
    let risk = table.require_col(&columns::RISK, "INFORM RISK", what)?;
    let class = table.require_col(&columns::CLASS, "RISK CLASS", what)?;
    let rank = table.require_col(&columns::RANK, "Rank", what)?;
    let hazard = table.require_col(&columns::HAZARD, "HAZARD & EXPOSURE", what)?;
    let vulnerability = table.require_col(&columns::VULNERABILITY, "VULNERABILITY", what)?;
    let coping = table.require_col(&columns::COPING, "LACK OF COPING CAPACITY", what)?;
    let reliability = columns::RELIABILITY.find(table);
    let mut parsed = Parsed::default();
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).unwrap_or("").trim();
        if !cell(iso3_col).eq_ignore_ascii_case(iso3) {
            continue;
        }
        let row = (|| {
            let dimension = |i: usize, label: &str| -> Result<Option<f64>, String> {
                let value = decimal(cell(i), label)?;
                match value {
                    Some(v) if !(0.0..=10.0).contains(&v) => Err(format!("{label} {v} is outside 0-10")),
                    v => Ok(v),
                }
            };
            let risk_score = dimension(risk, "INFORM RISK")?.ok_or("no INFORM RISK")?;
            let risk_class = CLASSES
                .iter()
                .find(|c| c.eq_ignore_ascii_case(cell(class)))
                .ok_or_else(|| format!("RISK CLASS {:?} is not one of {CLASSES:?}", cell(class)))?
                .to_string();
            let rank_value = decimal(cell(rank), "Rank")?.ok_or("no Rank")?;
            if rank_value.fract() != 0.0 || !(1.0..=1000.0).contains(&rank_value) {
                return Err(format!("Rank {:?} is not a rank", cell(rank)));
            }
            Ok(RiskRow {
                row_number: *line,
                risk_score,
                risk_class,
                rank: rank_value as i32,
                hazard_exposure: dimension(hazard, "HAZARD & EXPOSURE")?,
                vulnerability: dimension(vulnerability, "VULNERABILITY")?,
                lack_of_coping_capacity: dimension(coping, "LACK OF COPING CAPACITY")?,
                lack_of_reliability: match reliability {
                    Some(i) if !is_missing(cell(i)) => decimal(cell(i), "Lack of Reliability")?,
                    _ => None,
                },
            })
        })();
        match row {
            Ok(row) if parsed.rows.is_empty() => parsed.rows.push(row),
            Ok(_) => parsed.rejections.push(Rejection {
                row_number: *line,
                reason: format!("a second row for {iso3} (the first is kept)"),
                raw: record_text(record),
            }),
            Err(reason) => parsed.rejections.push(Rejection { row_number: *line, reason, raw: record_text(record) }),
        }
    }
    Ok(parsed)
}

/// The table re-headed at its first record with an `ISO3` cell, when its own header has none.
fn header_at_iso3(table: &Table) -> Option<Table> {
    if columns::ISO3.find(table).is_some() {
        return None;
    }
    let at = table.records.iter().position(|(_, r)| r.iter().any(|c| c.trim().eq_ignore_ascii_case("ISO3")))?;
    Some(Table {
        headers: table.records[at].1.iter().map(|c| c.trim().to_string()).collect(),
        hxl: None,
        records: table.records[at + 1..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_edition_is_read_from_the_resource_name() {
        assert_eq!(edition_of_name("INFORM_Risk_2024_v067 .xlsx"), Some(2024));
        assert_eq!(edition_of_name("INFORM2024_TREND_2014_2023_v67_ALL .xlsx"), None);
    }

    #[test]
    fn bad_values_are_rejected_with_their_reason() {
        let csv = "COUNTRY,ISO3,INFORM RISK,RISK CLASS,Rank,HAZARD & EXPOSURE,VULNERABILITY,LACK OF COPING CAPACITY\n\
                   (a-z),(a-z),(0-10),(Very Low-Very High),(1-191),(0-10),(0-10),(0-10)\n\
                   Mali,MLI,6.8,Very High,15,7.2,6.7,6.5\n\
                   Mali,MLI,12,Very High,15,7.2,6.7,6.5\n\
                   Chad,TCD,7.8,Extreme,5,7.1,7.8,8.7\n\
                   Niger,NER,x,High,9,1,1,1\n";
        let table = Table::parse(csv.as_bytes(), "test").expect("table");
        let mali = parse(&table, "MLI", "test").expect("mali");
        assert_eq!(mali.rows.len(), 1);
        assert_eq!((mali.rows[0].risk_score, mali.rows[0].rank), (6.8, 15));
        assert_eq!(mali.rejections.len(), 1);
        assert!(mali.rejections[0].reason.contains("outside 0-10"), "{:?}", mali.rejections);
        let chad = parse(&table, "TCD", "test").expect("chad");
        assert!(chad.rows.is_empty() && chad.rejections[0].reason.contains("RISK CLASS"));
        let niger = parse(&table, "NER", "test").expect("niger");
        assert!(niger.rejections[0].reason.contains("not a number"), "{:?}", niger.rejections);
    }
}
