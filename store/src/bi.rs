//! The BI views (`bi_idps`, `bi_admin_areas`, `bi_population`, `bi_appeals`, `bi_sites`): flat rows with
//! codes and names side by side, the licence's title and URL, the same columns in SQL (for Metabase,
//! Superset) and in the CSV/JSON export, which reads them here.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Date, Integer, Text};

use crate::{AnyConnection, StoreError};

diesel::table! {
    /// View: IDPs per area, operation, round, date and assessment type (summed over reasons and origins).
    bi_idps (country_iso3, admin_level, source_pcode, operation, round_number, reporting_date, assessment_type, dataset) {
        country_iso3 -> Text,
        country_name -> Text,
        admin_level -> Integer,
        area_pcode -> Nullable<Text>,
        area_name -> Nullable<Text>,
        area_matched -> Bool,
        parent_pcode -> Nullable<Text>,
        parent_name -> Nullable<Text>,
        source_pcode -> Text,
        source_name -> Text,
        operation -> Text,
        round_number -> Integer,
        reporting_date -> Date,
        assessment_type -> Text,
        idps -> BigInt,
        dataset -> Text,
        dataset_title -> Text,
        licence -> Text,
        licence_url -> Nullable<Text>,
        credit -> Text,
        resource_url -> Text,
        ingest_run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

diesel::table! {
    /// View: admin areas of every boundary edition.
    bi_admin_areas (pcode, valid_from) {
        country_iso3 -> Text,
        country_name -> Text,
        admin_level -> Integer,
        pcode -> Text,
        name -> Text,
        parent_pcode -> Nullable<Text>,
        parent_name -> Nullable<Text>,
        valid_from -> Date,
        valid_to -> Nullable<Date>,
        dataset -> Nullable<Text>,
        dataset_title -> Nullable<Text>,
        licence -> Nullable<Text>,
        licence_url -> Nullable<Text>,
        credit -> Nullable<Text>,
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = bi_idps)]
pub struct BiIdp {
    pub country_iso3: String,
    pub country_name: String,
    pub admin_level: i32,
    pub area_pcode: Option<String>,
    pub area_name: Option<String>,
    pub area_matched: bool,
    pub parent_pcode: Option<String>,
    pub parent_name: Option<String>,
    pub source_pcode: String,
    pub source_name: String,
    pub operation: String,
    pub round_number: i32,
    pub reporting_date: NaiveDate,
    pub assessment_type: String,
    pub idps: i64,
    pub dataset: String,
    pub dataset_title: String,
    pub licence: String,
    pub licence_url: Option<String>,
    pub credit: String,
    pub resource_url: String,
    pub ingest_run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = bi_admin_areas)]
pub struct BiAdminArea {
    pub country_iso3: String,
    pub country_name: String,
    pub admin_level: i32,
    pub pcode: String,
    pub name: String,
    pub parent_pcode: Option<String>,
    pub parent_name: Option<String>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub dataset: Option<String>,
    pub dataset_title: Option<String>,
    pub licence: Option<String>,
    pub licence_url: Option<String>,
    pub credit: Option<String>,
}

/// Filters the exports share (each applies where it makes sense).
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    pub countries: Vec<String>,
    pub admin_level: Option<i32>,
    /// Areas (by p-code) whose rows to keep: an area and all its descendants.
    pub pcodes: Option<Vec<String>>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub operation: Option<String>,
    pub round: Option<i32>,
    pub assessment_type: Option<String>,
    pub latest_round_only: bool,
    /// Only areas valid today (admin-areas export).
    pub current_only: bool,
    /// Appeal year, or population reference year.
    pub year: Option<i32>,
    /// Site type, as the source names it.
    pub site_type: Option<String>,
    /// Population rows of this sex (`all`, `f`, `m`); `None` keeps every row.
    pub sex: Option<String>,
    /// Population rows of this age group (`all` for every age); `None` keeps every row.
    pub age_range: Option<String>,
}

/// Where the next page of an export starts. Every export but `idps` skips `offset` rows (their
/// tables are small); the IDP export continues after the sort key of the last row it sent (keyset
/// paging), so each page is one range scan of an index however far the export has got.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cursor {
    /// Rows to skip (the first page of a request that asked for an `offset`).
    pub offset: i64,
    /// The key of the last IDP row sent, and how many rows with exactly that key were sent.
    pub after: Option<(IdpSortKey, i64)>,
}

/// The leading columns of the IDP export's order (and of the `idp_totals_listing` index).
#[derive(Debug, Clone, PartialEq)]
pub struct IdpSortKey {
    pub country_iso3: String,
    pub admin_level: i32,
    pub reporting_date: NaiveDate,
    pub operation: String,
    pub round_number: i32,
    pub assessment_type: String,
    pub source_pcode: String,
}

impl IdpSortKey {
    fn of(row: &BiIdp) -> IdpSortKey {
        IdpSortKey {
            country_iso3: row.country_iso3.clone(),
            admin_level: row.admin_level,
            reporting_date: row.reporting_date,
            operation: row.operation.clone(),
            round_number: row.round_number,
            assessment_type: row.assessment_type.clone(),
            source_pcode: row.source_pcode.clone(),
        }
    }
}

type Backend = <AnyConnection as diesel::Connection>::Backend;

/// `bi_idps` narrowed to what `filter` asks for.
fn filtered_idps(filter: &ExportFilter) -> bi_idps::BoxedQuery<'static, Backend> {
    let mut query = bi_idps::table.into_boxed();
    if !filter.countries.is_empty() {
        query = query.filter(bi_idps::country_iso3.eq_any(filter.countries.clone()));
    }
    if let Some(level) = filter.admin_level {
        query = query.filter(bi_idps::admin_level.eq(level));
    }
    if let Some(pcodes) = &filter.pcodes {
        query = query.filter(bi_idps::area_pcode.eq_any(pcodes.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(bi_idps::reporting_date.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(bi_idps::reporting_date.le(to));
    }
    if let Some(operation) = &filter.operation {
        query = query.filter(bi_idps::operation.eq(operation.clone()));
    }
    if let Some(round) = filter.round {
        query = query.filter(bi_idps::round_number.eq(round));
    }
    if let Some(kind) = &filter.assessment_type {
        query = query.filter(bi_idps::assessment_type.eq(kind.clone()));
    }
    if filter.latest_round_only {
        // The flag the ingest keeps on the totals, found through the index on each area's rounds.
        query = query.filter(sql::<Bool>(
            "EXISTS (SELECT 1 FROM idp_totals l WHERE l.is_latest_round AND l.country_iso3 = bi_idps.country_iso3 \
             AND l.admin_level = bi_idps.admin_level AND l.source_pcode = bi_idps.source_pcode \
             AND l.operation = bi_idps.operation AND l.round_number = bi_idps.round_number)",
        ));
    }
    query
}

/// The IDP export's order: the sort key (an index range), then columns that tell apart the rare
/// rows sharing it (one area reported through two resources), so that pages never overlap.
macro_rules! idp_order {
    ($query:expr) => {
        $query.order((
            bi_idps::country_iso3,
            bi_idps::admin_level,
            bi_idps::reporting_date,
            bi_idps::operation,
            bi_idps::round_number,
            bi_idps::assessment_type,
            bi_idps::source_pcode,
            (
                bi_idps::dataset,
                bi_idps::resource_url,
                bi_idps::area_matched,
                bi_idps::area_pcode,
                bi_idps::idps,
                bi_idps::ingest_run_id,
                bi_idps::retrieved_at,
            ),
        ))
    };
}

/// The next `limit` rows of the IDP export from `cursor`, which moves past them.
pub fn idp_rows(
    conn: &mut AnyConnection,
    filter: &ExportFilter,
    limit: i64,
    cursor: &mut Cursor,
) -> Result<Vec<BiIdp>, StoreError> {
    let mut query = filtered_idps(filter).select(BiIdp::as_select());
    let skip = match &cursor.after {
        Some((key, sent)) => {
            query = query.filter(
                sql::<Bool>(
                    "(country_iso3, admin_level, reporting_date, operation, round_number, assessment_type, source_pcode) >= (",
                )
                .bind::<Text, _>(key.country_iso3.clone())
                .sql(", ")
                .bind::<Integer, _>(key.admin_level)
                .sql(", ")
                .bind::<Date, _>(key.reporting_date)
                .sql(", ")
                .bind::<Text, _>(key.operation.clone())
                .sql(", ")
                .bind::<Integer, _>(key.round_number)
                .sql(", ")
                .bind::<Text, _>(key.assessment_type.clone())
                .sql(", ")
                .bind::<Text, _>(key.source_pcode.clone())
                .sql(")"),
            );
            *sent
        }
        None => cursor.offset,
    };
    let rows: Vec<BiIdp> = idp_order!(query).limit(limit).offset(skip).load(conn)?;
    if let Some(last) = rows.last() {
        let key = IdpSortKey::of(last);
        let trailing = rows.iter().rev().take_while(|r| IdpSortKey::of(r) == key).count() as i64;
        let sent = match &cursor.after {
            Some((previous, sent)) if *previous == key && trailing == rows.len() as i64 => sent + trailing,
            _ => trailing,
        };
        cursor.after = Some((key, sent));
    }
    cursor.offset += rows.len() as i64;
    Ok(rows)
}

/// Whether the IDP export has a row at position `offset` (for the `Link: rel="next"` header).
pub fn idp_row_exists_at(conn: &mut AnyConnection, filter: &ExportFilter, offset: i64) -> Result<bool, StoreError> {
    let found: Vec<String> =
        idp_order!(filtered_idps(filter).select(bi_idps::country_iso3)).limit(1).offset(offset).load(conn)?;
    Ok(!found.is_empty())
}

pub fn admin_area_rows(
    conn: &mut AnyConnection,
    filter: &ExportFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<BiAdminArea>, StoreError> {
    let mut query = bi_admin_areas::table.select(BiAdminArea::as_select()).into_boxed();
    if !filter.countries.is_empty() {
        query = query.filter(bi_admin_areas::country_iso3.eq_any(filter.countries.clone()));
    }
    if let Some(level) = filter.admin_level {
        query = query.filter(bi_admin_areas::admin_level.eq(level));
    }
    if let Some(pcodes) = &filter.pcodes {
        query = query.filter(bi_admin_areas::pcode.eq_any(pcodes.clone()));
    }
    if filter.current_only {
        query = query.filter(bi_admin_areas::valid_to.is_null());
    }
    Ok(query
        .order((
            bi_admin_areas::country_iso3,
            bi_admin_areas::admin_level,
            bi_admin_areas::pcode,
            bi_admin_areas::valid_from,
        ))
        .limit(limit)
        .offset(offset)
        .load(conn)?)
}

/// The p-codes of the given areas and of every area below them (all editions).
pub fn pcodes_within(conn: &mut AnyConnection, roots: &[String]) -> Result<Vec<String>, StoreError> {
    use crate::schema::admin_areas;
    let ids = crate::geography::area_ids_within(conn, roots)?;
    let mut found: Vec<String> =
        admin_areas::table.filter(admin_areas::id.eq_any(&ids)).select(admin_areas::pcode).load(conn)?;
    found.extend_from_slice(roots);
    found.sort();
    found.dedup();
    Ok(found)
}

/// The id and end time of the newest finished run that could have written data (not a dry run; a
/// failed run may have committed other countries): the data's version, for ETag and Last-Modified.
pub fn data_version(conn: &mut AnyConnection) -> Result<Option<(i64, NaiveDateTime)>, StoreError> {
    use crate::schema::ingest_runs;
    let row: Option<(i64, Option<NaiveDateTime>)> = ingest_runs::table
        .filter(ingest_runs::finished_at.is_not_null())
        .filter(ingest_runs::dry_run.eq(false))
        .order((ingest_runs::finished_at.desc(), ingest_runs::id.desc()))
        .select((ingest_runs::id, ingest_runs::finished_at))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(id, at)| at.map(|at| (id, at))))
}

diesel::table! {
    /// View: population by area, sex, age group, reference year and boundary edition.
    bi_population (country_iso3, source_pcode, boundary_edition, sex, age_range, reference_year) {
        country_iso3 -> Text,
        country_name -> Text,
        admin_level -> Integer,
        area_pcode -> Nullable<Text>,
        area_name -> Nullable<Text>,
        area_matched -> Bool,
        source_pcode -> Text,
        source_name -> Text,
        boundary_edition -> Text,
        sex -> Text,
        age_range -> Text,
        reference_year -> Integer,
        population -> BigInt,
        dataset -> Text,
        dataset_title -> Text,
        licence -> Text,
        licence_url -> Nullable<Text>,
        credit -> Text,
        resource_url -> Text,
        ingest_run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

diesel::table! {
    /// View: one row per appeal and country.
    bi_appeals (country_iso3, appeal_code, year) {
        country_iso3 -> Text,
        country_name -> Text,
        appeal_code -> Text,
        fts_id -> Nullable<BigInt>,
        appeal_name -> Text,
        appeal_type -> Nullable<Text>,
        year -> Integer,
        start_date -> Nullable<Date>,
        end_date -> Nullable<Date>,
        requirements_usd -> Nullable<BigInt>,
        funding_usd -> Nullable<BigInt>,
        percent_funded -> Nullable<Double>,
        plan_requirements_usd -> Nullable<BigInt>,
        plan_funding_usd -> Nullable<BigInt>,
        dataset -> Text,
        dataset_title -> Text,
        licence -> Text,
        licence_url -> Nullable<Text>,
        credit -> Text,
        resource_url -> Text,
        ingest_run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

diesel::table! {
    /// View: displacement sites and locations.
    bi_sites (country_iso3, site_code, round_number) {
        country_iso3 -> Text,
        country_name -> Text,
        site_code -> Text,
        name -> Text,
        site_type -> Nullable<Text>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        area_pcode -> Nullable<Text>,
        area_name -> Nullable<Text>,
        area_matched -> Bool,
        source_pcode -> Nullable<Text>,
        households -> Nullable<BigInt>,
        individuals -> Nullable<BigInt>,
        round_number -> Nullable<Integer>,
        reporting_date -> Nullable<Date>,
        dataset -> Text,
        dataset_title -> Text,
        licence -> Text,
        licence_url -> Nullable<Text>,
        credit -> Text,
        resource_url -> Text,
        ingest_run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = bi_population)]
pub struct BiPopulation {
    pub country_iso3: String,
    pub country_name: String,
    pub admin_level: i32,
    pub area_pcode: Option<String>,
    pub area_name: Option<String>,
    pub area_matched: bool,
    pub source_pcode: String,
    pub source_name: String,
    pub boundary_edition: String,
    pub sex: String,
    pub age_range: String,
    pub reference_year: i32,
    pub population: i64,
    pub dataset: String,
    pub dataset_title: String,
    pub licence: String,
    pub licence_url: Option<String>,
    pub credit: String,
    pub resource_url: String,
    pub ingest_run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = bi_appeals)]
pub struct BiAppeal {
    pub country_iso3: String,
    pub country_name: String,
    pub appeal_code: String,
    pub fts_id: Option<i64>,
    pub appeal_name: String,
    pub appeal_type: Option<String>,
    pub year: i32,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub requirements_usd: Option<i64>,
    pub funding_usd: Option<i64>,
    pub percent_funded: Option<f64>,
    pub plan_requirements_usd: Option<i64>,
    pub plan_funding_usd: Option<i64>,
    pub dataset: String,
    pub dataset_title: String,
    pub licence: String,
    pub licence_url: Option<String>,
    pub credit: String,
    pub resource_url: String,
    pub ingest_run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = bi_sites)]
pub struct BiSite {
    pub country_iso3: String,
    pub country_name: String,
    pub site_code: String,
    pub name: String,
    pub site_type: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub area_pcode: Option<String>,
    pub area_name: Option<String>,
    pub area_matched: bool,
    pub source_pcode: Option<String>,
    pub households: Option<i64>,
    pub individuals: Option<i64>,
    pub round_number: Option<i32>,
    pub reporting_date: Option<NaiveDate>,
    pub dataset: String,
    pub dataset_title: String,
    pub licence: String,
    pub licence_url: Option<String>,
    pub credit: String,
    pub resource_url: String,
    pub ingest_run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

pub fn population_rows(
    conn: &mut AnyConnection,
    filter: &ExportFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<BiPopulation>, StoreError> {
    let mut query = bi_population::table.select(BiPopulation::as_select()).into_boxed();
    if !filter.countries.is_empty() {
        query = query.filter(bi_population::country_iso3.eq_any(filter.countries.clone()));
    }
    if let Some(level) = filter.admin_level {
        query = query.filter(bi_population::admin_level.eq(level));
    }
    if let Some(pcodes) = &filter.pcodes {
        query = query.filter(bi_population::area_pcode.eq_any(pcodes.clone()));
    }
    if let Some(year) = filter.year {
        query = query.filter(bi_population::reference_year.eq(year));
    }
    if let Some(sex) = &filter.sex {
        query = query.filter(bi_population::sex.eq(sex.clone()));
    }
    if let Some(age_range) = &filter.age_range {
        query = query.filter(bi_population::age_range.eq(age_range.clone()));
    }
    Ok(query
        .order((
            bi_population::country_iso3,
            bi_population::admin_level,
            bi_population::source_pcode,
            bi_population::reference_year,
            bi_population::boundary_edition,
            bi_population::sex,
            bi_population::age_range,
        ))
        .limit(limit)
        .offset(offset)
        .load(conn)?)
}

pub fn appeal_rows(
    conn: &mut AnyConnection,
    filter: &ExportFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<BiAppeal>, StoreError> {
    let mut query = bi_appeals::table.select(BiAppeal::as_select()).into_boxed();
    if !filter.countries.is_empty() {
        query = query.filter(bi_appeals::country_iso3.eq_any(filter.countries.clone()));
    }
    if let Some(year) = filter.year {
        query = query.filter(bi_appeals::year.eq(year));
    }
    Ok(query
        .order((bi_appeals::country_iso3, bi_appeals::year.desc(), bi_appeals::appeal_code))
        .limit(limit)
        .offset(offset)
        .load(conn)?)
}

pub fn site_rows(
    conn: &mut AnyConnection,
    filter: &ExportFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<BiSite>, StoreError> {
    let mut query = bi_sites::table.select(BiSite::as_select()).into_boxed();
    if !filter.countries.is_empty() {
        query = query.filter(bi_sites::country_iso3.eq_any(filter.countries.clone()));
    }
    if let Some(pcodes) = &filter.pcodes {
        query = query.filter(bi_sites::area_pcode.eq_any(pcodes.clone()));
    }
    if let Some(kind) = &filter.site_type {
        query = query.filter(bi_sites::site_type.eq(kind.clone()));
    }
    if let Some(round) = filter.round {
        query = query.filter(bi_sites::round_number.eq(round));
    }
    Ok(query
        .order((bi_sites::country_iso3, bi_sites::site_code, bi_sites::round_number))
        .limit(limit)
        .offset(offset)
        .load(conn)?)
}
