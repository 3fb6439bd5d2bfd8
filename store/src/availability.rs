//! Which themes hold figures for a country, for which periods and from which datasets (HDX HAPI's "data
//! availability"), read from the BI views: every dated entity of [`crate::BI_ENTITIES`] answers, so a
//! new theme is listed as soon as its entity declares its `period`. Nothing here names a theme.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types as st;

use crate::bi::{Condition, Entity, Period, SqlType, load_by_name};
use crate::{AnyConnection, StoreError};

/// One theme's figures for one country.
#[derive(Debug, Clone)]
pub struct ThemeCoverage {
    pub country_iso3: String,
    /// The theme's entity (its export name and view).
    pub entity: &'static Entity,
    /// How many rows its view holds for the country.
    pub rows: i64,
    /// The first and last day its rows cover (a year column covers its whole year).
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    /// The admin levels its rows are at, when the entity has them.
    pub admin_levels: Vec<i32>,
    /// The datasets (keys) its rows come from.
    pub datasets: Vec<String>,
    /// When its most recently fetched row was retrieved.
    pub last_retrieved_at: Option<NaiveDateTime>,
}

#[derive(QueryableByName)]
struct Group {
    #[diesel(sql_type = st::Text)]
    country_iso3: String,
    #[diesel(sql_type = st::Nullable<st::Text>)]
    dataset: Option<String>,
    #[diesel(sql_type = st::Nullable<st::Integer>)]
    admin_level: Option<i32>,
    #[diesel(sql_type = st::BigInt)]
    row_count: i64,
    #[diesel(sql_type = st::Nullable<st::Date>)]
    first_day: Option<NaiveDate>,
    #[diesel(sql_type = st::Nullable<st::Date>)]
    last_day: Option<NaiveDate>,
    #[diesel(sql_type = st::Nullable<st::Integer>)]
    first_year: Option<i32>,
    #[diesel(sql_type = st::Nullable<st::Integer>)]
    last_year: Option<i32>,
    #[diesel(sql_type = st::Nullable<st::Timestamp>)]
    retrieved: Option<NaiveDateTime>,
}

/// The themes with figures for each of `countries`, in [`crate::BI_ENTITIES`]' order: one grouped
/// read per dated entity, however many countries.
pub fn themes_of(conn: &mut AnyConnection, countries: &[String]) -> Result<Vec<ThemeCoverage>, StoreError> {
    let mut coverage = Vec::new();
    for entity in crate::BI_ENTITIES.iter().copied() {
        if let Some(found) = entity_coverage(conn, entity, countries)? {
            coverage.extend(found);
        }
    }
    Ok(coverage)
}

/// One entity's coverage per country, or `None` when the entity is not a dated figure of a country.
fn entity_coverage(
    conn: &mut AnyConnection,
    entity: &'static Entity,
    countries: &[String],
) -> Result<Option<Vec<ThemeCoverage>>, StoreError> {
    let Some(period) = entity.period else { return Ok(None) };
    if entity.column("country_iso3").is_none() {
        return Ok(None);
    }
    let has = |name: &str| entity.column(name).is_some();
    let dated = |name: &str| entity.column(name).map(|c| c.sql_type);
    let bounds = match period {
        Period::Undated => "CAST(NULL AS DATE) AS first_day, CAST(NULL AS DATE) AS last_day, \
                            CAST(NULL AS INTEGER) AS first_year, CAST(NULL AS INTEGER) AS last_year"
            .to_string(),
        Period::Columns { start, end } => match (dated(start), dated(end)) {
            (Some(SqlType::Date), Some(SqlType::Date)) => format!(
                "MIN({start}) AS first_day, MAX({end}) AS last_day, \
                 CAST(NULL AS INTEGER) AS first_year, CAST(NULL AS INTEGER) AS last_year"
            ),
            (Some(SqlType::Integer), Some(SqlType::Integer)) => format!(
                "CAST(NULL AS DATE) AS first_day, CAST(NULL AS DATE) AS last_day, \
                 MIN({start}) AS first_year, MAX({end}) AS last_year"
            ),
            _ => {
                return Err(StoreError::Invalid(format!(
                    "{}: period columns {start}, {end} must both be dates or both years",
                    entity.view
                )));
            }
        },
    };
    let dataset = if has("dataset") { "dataset" } else { "CAST(NULL AS TEXT)" };
    let level = if has("admin_level") { "admin_level" } else { "CAST(NULL AS INTEGER)" };
    let grouped: Vec<&str> = ["country_iso3", "dataset", "admin_level"].into_iter().filter(|c| has(c)).collect();
    let retrieved = if has("retrieved_at") { "MAX(retrieved_at)" } else { "CAST(NULL AS TIMESTAMP)" };
    let what = format!(
        "country_iso3, {dataset} AS dataset, {level} AS admin_level, COUNT(*) AS row_count, {bounds}, \
         {retrieved} AS retrieved"
    );
    let mut statement = entity.select(conn, &what, &[Condition::In("country_iso3", countries.to_vec())])?;
    statement.push(&format!(" GROUP BY {}", grouped.join(", ")));
    let groups: Vec<Group> = load_by_name(conn, &statement.text, &statement.binds)?;

    let mut by_country: BTreeMap<String, ThemeCoverage> = BTreeMap::new();
    for group in groups {
        let first = group.first_day.or_else(|| group.first_year.and_then(|y| NaiveDate::from_ymd_opt(y, 1, 1)));
        let last = group.last_day.or_else(|| group.last_year.and_then(|y| NaiveDate::from_ymd_opt(y, 12, 31)));
        let theme = by_country.entry(group.country_iso3.clone()).or_insert_with(|| ThemeCoverage {
            country_iso3: group.country_iso3.clone(),
            entity,
            rows: 0,
            period_start: None,
            period_end: None,
            admin_levels: Vec::new(),
            datasets: Vec::new(),
            last_retrieved_at: None,
        });
        theme.rows += group.row_count;
        theme.period_start = earliest(theme.period_start, first);
        theme.period_end = theme.period_end.max(last);
        theme.last_retrieved_at = theme.last_retrieved_at.max(group.retrieved);
        if let Some(level) = group.admin_level
            && !theme.admin_levels.contains(&level)
        {
            theme.admin_levels.push(level);
        }
        if let Some(dataset) = group.dataset
            && !theme.datasets.contains(&dataset)
        {
            theme.datasets.push(dataset);
        }
    }
    Ok(Some(
        by_country
            .into_values()
            .map(|mut theme| {
                theme.admin_levels.sort_unstable();
                theme.datasets.sort();
                theme
            })
            .collect(),
    ))
}

/// The earlier of two optional dates, either one when the other is unknown.
fn earliest(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
