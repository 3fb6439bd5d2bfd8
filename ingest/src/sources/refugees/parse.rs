//! Reading UNHCR's files for HDX. Four layouts, told apart by their headers:
//!
//! - end-year totals (`Year, ISO3CoO, ISO3CoA, REF, IDP, ASY, OOC, STA, OIP`): a column per
//!   population type;
//! - demographics (`Year, ISO3CoO, ISO3CoA, PT, location, urbanRural, accommodationType,
//!   Female_0_4 ... Male_total, Total`): one population type per row, split by sex and age;
//! - solutions (`Year, ISO3CoO, ISO3CoA, RST, NAT, RET, RDP`): returns, resettlement, naturalisation;
//! - situations (`Country, ISO3, Country of Origin, ISO3 of Origin, Population type, Source, Date,
//!   Individuals`): monthly refugees and asylum-seekers. A group of origins without a code
//!   (`Others`, `Various`) keeps an empty origin code and its name in `location` (`origin: Others`).
//!
//! A row belongs to the country of asylum, except a return (`RET`, `RDP`), which belongs to the
//! country of origin. Rows of other countries are skipped before they are read, so a bad row is
//! rejected by the run of the country it belongs to. Empty and zero cells are not figures (the
//! files write 0 for every type a pair of countries does not have), except a demographics row's
//! `Total`, which is always its row's figure. Numbers written `1e+05` are read as whole numbers.

use chrono::NaiveDate;
use store::models::Rejection;
use store::refugees::{ALL, RETURN_TYPES, publication};

use crate::IngestError;
use crate::kit::cells;
use crate::kit::table::{Table, record_text};

/// One population figure of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct RefugeeFigure {
    pub row_number: i64,
    pub publication: &'static str,
    pub year: i32,
    pub reference_date: NaiveDate,
    pub asylum_iso3: String,
    pub origin_iso3: String,
    pub population_type: String,
    pub location: String,
    pub gender: String,
    pub age_range: String,
    pub population: i64,
}

/// What one file held for a country.
#[derive(Debug, Default)]
pub struct Parsed {
    pub figures: Vec<RefugeeFigure>,
    pub rejections: Vec<Rejection>,
    /// How many of the file's rows are the country's (valid or not, with figures or all zero).
    pub rows_read: i64,
}

/// The yearly files' population-type columns.
const TOTALS_TYPES: [&str; 6] = ["REF", "IDP", "ASY", "OOC", "STA", "OIP"];
const SOLUTIONS_TYPES: [&str; 4] = ["RST", "NAT", "RET", "RDP"];

/// The demographics file's sex and age columns: (column, gender, age range).
const DEMOGRAPHIC_COLUMNS: [(&str, &str, &str); 15] = [
    ("Total", ALL, ALL),
    ("Female_total", "f", ALL),
    ("Male_total", "m", ALL),
    ("Female_0_4", "f", "0-4"),
    ("Female_5_11", "f", "5-11"),
    ("Female_12_17", "f", "12-17"),
    ("Female_18_59", "f", "18-59"),
    ("Female_60", "f", "60+"),
    ("Female_Unknown", "f", "unknown"),
    ("Male_0_4", "m", "0-4"),
    ("Male_5_11", "m", "5-11"),
    ("Male_12_17", "m", "12-17"),
    ("Male_18_59", "m", "18-59"),
    ("Male_60", "m", "60+"),
    ("Male_Unknown", "m", "unknown"),
];

/// Which of UNHCR's layouts a table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Totals,
    Demographics,
    Solutions,
    Situations,
}

impl Layout {
    /// The layout of `table`, from its headers.
    pub fn of(table: &Table) -> Option<Layout> {
        let has = |name: &str| table.column(&[name], "").is_some();
        if has("Individuals") && has("ISO3 of Origin") {
            Some(Layout::Situations)
        } else if has("PT") && has("Total") {
            Some(Layout::Demographics)
        } else if has("RST") && has("RET") {
            Some(Layout::Solutions)
        } else if has("REF") && has("ISO3CoA") {
            Some(Layout::Totals)
        } else {
            None
        }
    }
}

/// A country code as UNHCR writes it: three letters (`UKN` and `STA` included).
fn code(cell: &str, label: &str) -> Result<String, String> {
    let c = cell.trim().to_uppercase();
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(c)
    } else {
        Err(format!("{label} {cell:?} is not a three-letter code"))
    }
}

fn year(cell: &str) -> Result<i32, String> {
    match cell.trim().parse::<i32>() {
        Ok(y) if (1900..=2100).contains(&y) => Ok(y),
        _ => Err(format!("year {cell:?} is not a year")),
    }
}

/// The country a figure of `population_type` belongs to.
fn owner<'a>(population_type: &str, asylum: &'a str, origin: &'a str) -> &'a str {
    if RETURN_TYPES.contains(&population_type) { origin } else { asylum }
}

/// Parses the figures of `iso3` in a table of `layout`. Missing columns fail the file; bad rows are
/// rejected with their reason.
pub fn parse(table: &Table, layout: Layout, iso3: &str, what: &str) -> Result<Parsed, IngestError> {
    match layout {
        Layout::Situations => parse_situations(table, iso3, what),
        _ => parse_yearly(table, layout, iso3, what),
    }
}

fn parse_yearly(table: &Table, layout: Layout, iso3: &str, what: &str) -> Result<Parsed, IngestError> {
    let year_col = table.require(&["Year"], "#date+year", what)?;
    let origin_col = table.require(&["ISO3CoO"], "#country+code+origin", what)?;
    let asylum_col = table.require(&["ISO3CoA"], "#country+code+asylum", what)?;
    // (column, population type or None for the row's own, gender, age range)
    let mut figure_cols: Vec<(usize, Option<&str>, &str, &str)> = Vec::new();
    let mut type_col = None;
    let mut location_cols = Vec::new();
    let publication = match layout {
        Layout::Totals | Layout::Solutions => {
            let types: &[&str] = if layout == Layout::Totals { &TOTALS_TYPES } else { &SOLUTIONS_TYPES };
            for t in types {
                if let Some(i) = table.column(&[t], "") {
                    figure_cols.push((i, Some(t), ALL, ALL));
                }
            }
            if layout == Layout::Totals { publication::TOTALS } else { publication::SOLUTIONS }
        }
        _ => {
            type_col = Some(table.require(&["PT"], "#population_group+code", what)?);
            for (name, gender, age) in DEMOGRAPHIC_COLUMNS {
                if let Some(i) = table.column(&[name], "") {
                    figure_cols.push((i, None, gender, age));
                }
            }
            table.require(&["Total"], "#population", what)?;
            location_cols =
                ["location", "urbanRural", "accommodationType"].iter().filter_map(|n| table.column(&[n], "")).collect();
            publication::DEMOGRAPHICS
        }
    };
    let mut parsed = Parsed::default();
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let (asylum_raw, origin_raw) = (cell(asylum_col).to_uppercase(), cell(origin_col).to_uppercase());
        let row_type = type_col.map(|i| cell(i).to_uppercase());
        // Whose row: a demographics row has one type; a yearly row may hold both kinds (solutions).
        let mine = match &row_type {
            Some(t) => owner(t, &asylum_raw, &origin_raw) == iso3,
            None => asylum_raw == iso3 || (layout == Layout::Solutions && origin_raw == iso3),
        };
        if !mine {
            continue;
        }
        parsed.rows_read += 1;
        let result = (|| -> Result<Vec<RefugeeFigure>, String> {
            let year = year(cell(year_col))?;
            let asylum = code(cell(asylum_col), "country of asylum")?;
            let origin = code(cell(origin_col), "country of origin")?;
            if let Some(t) = &row_type
                && (t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphabetic()))
            {
                return Err(format!("population type {t:?} is not a code"));
            }
            let location =
                location_cols.iter().map(|&i| cell(i)).filter(|c| !c.is_empty()).collect::<Vec<_>>().join("; ");
            let reference_date = NaiveDate::from_ymd_opt(year, 12, 31).ok_or("no such year")?;
            let mut out = Vec::new();
            for &(col, column_type, gender, age) in &figure_cols {
                let population_type = column_type.map(str::to_string).or_else(|| row_type.clone()).unwrap_or_default();
                let label = table.headers.get(col).map(String::as_str).unwrap_or("figure");
                let value = cells::people(cell(col), label)?;
                if owner(&population_type, &asylum, &origin) != iso3 {
                    continue;
                }
                let always = column_type.is_none() && gender == ALL && age == ALL;
                let population = match value {
                    Some(v) if v > 0 || always => v,
                    None if always => return Err(format!("{label} is empty")),
                    _ => continue,
                };
                out.push(RefugeeFigure {
                    row_number: *line,
                    publication,
                    year,
                    reference_date,
                    asylum_iso3: asylum.clone(),
                    origin_iso3: origin.clone(),
                    population_type,
                    location: location.clone(),
                    gender: gender.to_string(),
                    age_range: age.to_string(),
                    population,
                });
            }
            Ok(out)
        })();
        match result {
            Ok(figures) => parsed.figures.extend(figures),
            Err(reason) => parsed.rejections.push(Rejection { row_number: *line, reason, raw: record_text(record) }),
        }
    }
    Ok(parsed)
}

/// `Refugees` → `REF`, `Asylum-Seekers` → `ASY` (or a code as given).
fn situation_type(cell: &str) -> Result<String, String> {
    let folded: String = cell.trim().to_lowercase().chars().filter(|c| c.is_ascii_alphabetic()).collect();
    match folded.as_str() {
        "refugees" | "refugee" | "ref" => Ok("REF".into()),
        "asylumseekers" | "asylumseeker" | "asy" => Ok("ASY".into()),
        _ => Err(format!("unknown population type {cell:?} (expected Refugees or Asylum-Seekers)")),
    }
}

fn parse_situations(table: &Table, iso3: &str, what: &str) -> Result<Parsed, IngestError> {
    let asylum_col = table.require(&["ISO3"], "#country+code+asylum", what)?;
    let origin_col = table.require(&["ISO3 of Origin"], "#country+code+origin", what)?;
    let type_col = table.require(&["Population type"], "#population_group", what)?;
    let date_col = table.require(&["Date"], "#date", what)?;
    let value_col = table.require(&["Individuals"], "#population", what)?;
    let origin_name = table.column(&["Country of Origin"], "#country+name+origin");
    let mut parsed = Parsed::default();
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        if !cell(asylum_col).eq_ignore_ascii_case(iso3) {
            continue;
        }
        parsed.rows_read += 1;
        let result = (|| -> Result<RefugeeFigure, String> {
            let date = cells::date(cell(date_col), "date")?.ok_or("date is missing")?;
            let population = cells::people(cell(value_col), "individuals")?.ok_or("individuals is empty")?;
            Ok(RefugeeFigure {
                row_number: *line,
                publication: publication::SITUATIONS,
                year: chrono::Datelike::year(&date),
                reference_date: date,
                asylum_iso3: code(cell(asylum_col), "country of asylum")?,
                origin_iso3: match cell(origin_col) {
                    "" => String::new(),
                    given => code(given, "country of origin")?,
                },
                population_type: situation_type(cell(type_col))?,
                location: match (cell(origin_col), origin_name) {
                    ("", Some(name)) => format!("origin: {}", cell(name)),
                    _ => String::new(),
                },
                gender: ALL.into(),
                age_range: ALL.into(),
                population,
            })
        })();
        match result {
            Ok(f) => parsed.figures.push(f),
            Err(reason) => parsed.rejections.push(Rejection { row_number: *line, reason, raw: record_text(record) }),
        }
    }
    Ok(parsed)
}
