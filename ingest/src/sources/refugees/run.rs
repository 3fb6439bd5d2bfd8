//! A refugees run: per country, the rows that belong to it in every file of the UNHCR datasets
//! (files every country shares), each file's layout told by its headers. The countries of origin
//! and asylum the rows name are added to the store when ISO 3166 knows them.

use std::collections::{BTreeSet, HashMap};

use store::geography;
use store::models::Rejection;
use store::refugees::RefugeeInput;
use store::upsert::upsert;

use crate::IngestError;
use crate::kit::context::country_input;
use crate::kit::{CountryOutcome, HdxDataset, PayloadRejections, RunContext};
use crate::pcode::country_name;
use crate::sources::refugees::{Layout, RefugeeFigure, parse};

/// A figure's natural key in the store (the run's country is the same for all).
type Key = (&'static str, chrono::NaiveDate, String, String, String, String, String, String);

fn key(f: &RefugeeFigure) -> Key {
    (
        f.publication,
        f.reference_date,
        f.asylum_iso3.clone(),
        f.origin_iso3.clone(),
        f.population_type.clone(),
        f.location.clone(),
        f.gender.clone(),
        f.age_range.clone(),
    )
}

pub(super) async fn refugees_country(
    ctx: &RunContext<'_>,
    iso3: &str,
    datasets: &[HdxDataset],
) -> Result<CountryOutcome, IngestError> {
    let mut inputs = Vec::new();
    let mut rejections = Vec::new();
    let mut fetched_rows = 0i64;
    let mut seen: HashMap<Key, i64> = HashMap::new();
    for wanted in datasets {
        let (dataset, package) = ctx.catalog_entry(&wanted.dataset, wanted.credit).await?;
        let resources = package.pick(&wanted.resources, &wanted.formats);
        if resources.is_empty() {
            return Err(IngestError::Invalid(format!(
                "{} lists no {:?} resource named like {:?}",
                wanted.dataset, wanted.formats, wanted.resources.0
            )));
        }
        for resource in resources {
            let (recorded, mut fetched) = ctx.download(&dataset, resource).await?;
            let mut read = ctx.read_table(&recorded, &mut fetched, None, &wanted.dataset)?;
            let layout = Layout::of(&read.table).ok_or_else(|| {
                IngestError::Invalid(format!(
                    "{}: not one of UNHCR's layouts (headers {:?})",
                    read.what, read.table.headers
                ))
            })?;
            let mut parsed = parse(&read.table, layout, iso3, &read.what)?;
            // Rows over the size bounds: this country's when one of their cells is its code.
            let oversized: Vec<Rejection> = std::mem::take(&mut read.oversized)
                .into_iter()
                .filter(|(record, _)| record.iter().any(|c| c.trim().eq_ignore_ascii_case(iso3)))
                .map(|(_, rejection)| rejection)
                .collect();
            fetched_rows += oversized.len() as i64;
            parsed.rejections.extend(oversized);
            fetched_rows += parsed.rows_read;
            for figure in parsed.figures {
                match seen.get(&key(&figure)) {
                    Some(first) => {
                        parsed.rejections.push(Rejection {
                            row_number: figure.row_number,
                            reason: format!(
                                "duplicate of line {first} (same year, origin, asylum, population type, sex and age)"
                            ),
                            raw: String::new(),
                        });
                    }
                    None => {
                        seen.insert(key(&figure), figure.row_number);
                        inputs.push(input(iso3, &figure, recorded.id));
                    }
                }
            }
            rejections.push(PayloadRejections {
                resource_id: recorded.id,
                sha256: fetched.sha256,
                rows: parsed.rejections,
                own: false,
            });
        }
    }
    // Origins and asylums named by the rows become countries (those ISO 3166 knows: not `UKN`).
    let others: BTreeSet<String> = inputs
        .iter()
        .flat_map(|i: &RefugeeInput| [i.asylum_iso3.clone(), i.origin_iso3.clone()])
        .filter(|code| code != iso3 && country_name(code).is_some())
        .collect();
    let stamp = ctx.stamp();
    ctx.write_checked(iso3, fetched_rows, rejections, move |c| {
        for code in &others {
            geography::ensure_country(c, &country_input(code))?;
        }
        Ok(upsert(c, &inputs, &stamp)?)
    })
    .await
}

fn input(iso3: &str, f: &RefugeeFigure, resource_id: i64) -> RefugeeInput {
    RefugeeInput {
        country_iso3: iso3.to_string(),
        publication: f.publication.to_string(),
        year: f.year,
        reference_date: f.reference_date,
        asylum_iso3: f.asylum_iso3.clone(),
        origin_iso3: f.origin_iso3.clone(),
        population_type: f.population_type.clone(),
        location: f.location.clone(),
        gender: f.gender.clone(),
        age_range: f.age_range.clone(),
        population: f.population,
        resource_id,
    }
}
