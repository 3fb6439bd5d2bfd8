//! IDP figures: the write path (at the source's grain) and the read path (summed per area,
//! operation, round, reporting date and assessment type, as users count IDPs).

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use crate::models::IdpFigureRow;
use crate::schema::idp_figures;
use crate::{AnyConnection, StoreError, WriteCounts};

/// One validated IDP figure from a source, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct IdpInput {
    pub country_iso3: String,
    pub admin_level: i32,
    /// The matched area, or its nearest matched parent when `area_matched` is false.
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub source_pcode: String,
    pub source_name: String,
    pub operation: String,
    pub round_number: i32,
    pub reporting_date: NaiveDate,
    pub assessment_type: String,
    pub displacement_reason: String,
    pub origin_pcode: String,
    pub origin_name: String,
    pub individuals: i64,
    pub males: Option<i64>,
    pub females: Option<i64>,
    pub resource_id: i64,
}

/// The natural key of a figure at the source's grain.
pub type IdpKey = (String, i32, String, String, i32, NaiveDate, String, String, String, String);

impl IdpInput {
    pub fn key(&self) -> IdpKey {
        (
            self.country_iso3.clone(),
            self.admin_level,
            self.source_pcode.clone(),
            self.operation.clone(),
            self.round_number,
            self.reporting_date,
            self.assessment_type.clone(),
            self.displacement_reason.clone(),
            self.origin_pcode.clone(),
            self.origin_name.clone(),
        )
    }
}

fn key_of_row(r: &IdpFigureRow) -> IdpKey {
    (
        r.country_iso3.clone(),
        r.admin_level,
        r.source_pcode.clone(),
        r.operation.clone(),
        r.round_number,
        r.reporting_date,
        r.assessment_type.clone(),
        r.displacement_reason.clone(),
        r.origin_pcode.clone(),
        r.origin_name.clone(),
    )
}

fn same_values(r: &IdpFigureRow, i: &IdpInput) -> bool {
    r.area_id == i.area_id
        && r.area_matched == i.area_matched
        && r.source_name == i.source_name
        && r.individuals == i.individuals
        && r.males == i.males
        && r.females == i.females
        && r.resource_id == i.resource_id
}

/// Writes the figures of the given countries: new keys are inserted, changed values updated,
/// identical ones left alone (so an unchanged re-ingest writes nothing). Run inside the caller's
/// transaction. Keys must be unique within `rows` (the caller rejects duplicates).
pub fn upsert_idp_figures(
    conn: &mut AnyConnection,
    run_id: i64,
    retrieved_at: NaiveDateTime,
    rows: &[IdpInput],
) -> Result<WriteCounts, StoreError> {
    let mut countries: Vec<&str> = rows.iter().map(|r| r.country_iso3.as_str()).collect();
    countries.sort_unstable();
    countries.dedup();
    let existing: HashMap<IdpKey, IdpFigureRow> = idp_figures::table
        .filter(idp_figures::country_iso3.eq_any(&countries))
        .select(IdpFigureRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|r| (key_of_row(&r), r))
        .collect();
    let mut counts = WriteCounts::default();
    let mut to_insert = Vec::new();
    for row in rows {
        match existing.get(&row.key()) {
            None => to_insert.push(row),
            Some(current) if same_values(current, row) => counts.unchanged += 1,
            Some(current) => {
                diesel::update(idp_figures::table.find(current.id))
                    .set((
                        idp_figures::area_id.eq(row.area_id),
                        idp_figures::area_matched.eq(row.area_matched),
                        idp_figures::source_name.eq(&row.source_name),
                        idp_figures::individuals.eq(row.individuals),
                        idp_figures::males.eq(row.males),
                        idp_figures::females.eq(row.females),
                        idp_figures::resource_id.eq(row.resource_id),
                        idp_figures::run_id.eq(run_id),
                        idp_figures::retrieved_at.eq(retrieved_at),
                    ))
                    .execute(conn)?;
                counts.updated += 1;
            }
        }
    }
    for chunk in to_insert.chunks(1000) {
        let values: Vec<_> = chunk
            .iter()
            .map(|r| {
                (
                    idp_figures::country_iso3.eq(&r.country_iso3),
                    idp_figures::admin_level.eq(r.admin_level),
                    idp_figures::area_id.eq(r.area_id),
                    idp_figures::area_matched.eq(r.area_matched),
                    idp_figures::source_pcode.eq(&r.source_pcode),
                    idp_figures::source_name.eq(&r.source_name),
                    idp_figures::operation.eq(&r.operation),
                    idp_figures::round_number.eq(r.round_number),
                    idp_figures::reporting_date.eq(r.reporting_date),
                    idp_figures::assessment_type.eq(&r.assessment_type),
                    idp_figures::displacement_reason.eq(&r.displacement_reason),
                    idp_figures::origin_pcode.eq(&r.origin_pcode),
                    idp_figures::origin_name.eq(&r.origin_name),
                    (
                        idp_figures::individuals.eq(r.individuals),
                        idp_figures::males.eq(r.males),
                        idp_figures::females.eq(r.females),
                        idp_figures::resource_id.eq(r.resource_id),
                        idp_figures::run_id.eq(run_id),
                        idp_figures::retrieved_at.eq(retrieved_at),
                    ),
                )
            })
            .collect();
        crate::on_backend!(conn, |c| diesel::insert_into(idp_figures::table).values(&values).execute(c))?;
    }
    counts.inserted = to_insert.len() as i64;
    Ok(counts)
}

/// IDPs present in one area for one (operation, round, reporting date, assessment type),
/// summed over displacement reasons and origins.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct IdpTotal {
    pub country_iso3: String,
    pub admin_level: i32,
    pub source_pcode: String,
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub operation: String,
    pub round_number: i32,
    pub reporting_date: NaiveDate,
    pub assessment_type: String,
    pub resource_id: i64,
    pub source_name: String,
    pub individuals: i64,
    pub run_id: i64,
    /// When crisisgraph last fetched the rows summed here (UTC).
    pub retrieved_at: NaiveDateTime,
}

/// Which totals to read.
#[derive(Debug, Clone, Default)]
pub struct IdpFilter {
    pub country_iso3: Option<String>,
    pub admin_level: Option<i32>,
    /// Only figures reported for exactly these areas (matched, at the area's own level).
    pub area_ids: Option<Vec<i64>>,
    /// Per area and operation, keep only the latest round.
    pub latest_round_only: bool,
    /// Only figures whose area (matched or nearest) is one of these: an area and its descendants.
    pub within_area_ids: Option<Vec<i64>>,
    pub operation: Option<String>,
    pub round: Option<i32>,
    /// Reporting dates from (inclusive).
    pub from: Option<NaiveDate>,
    /// Reporting dates to (inclusive).
    pub to: Option<NaiveDate>,
    pub assessment_type: Option<String>,
    pub order: IdpOrder,
}

/// Orders in which totals can be listed; every one ends with the full key, so paging is stable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IdpOrder {
    /// Oldest first (date, operation, round, assessment type, p-code).
    #[default]
    DateAsc,
    /// Newest first.
    DateDesc,
    /// Largest figures first.
    IndividualsDesc,
    /// By area p-code, then oldest first.
    PcodeAsc,
}

/// Narrows a boxed `idp_figures` query to what `filter` asks for. A macro, because the boxed
/// query's type differs between the grouped read and the count.
macro_rules! apply_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &IdpFilter = $filter;
        let mut query = $query;
        if let Some(iso3) = &filter.country_iso3 {
            query = query.filter(idp_figures::country_iso3.eq(iso3.clone()));
        }
        if let Some(level) = filter.admin_level {
            query = query.filter(idp_figures::admin_level.eq(level));
        }
        if let Some(ids) = &filter.area_ids {
            query = query.filter(idp_figures::area_id.eq_any(ids.clone())).filter(idp_figures::area_matched.eq(true));
        }
        if let Some(ids) = &filter.within_area_ids {
            query = query.filter(idp_figures::area_id.eq_any(ids.clone()));
        }
        if let Some(operation) = &filter.operation {
            query = query.filter(idp_figures::operation.eq(operation.clone()));
        }
        if let Some(round) = filter.round {
            query = query.filter(idp_figures::round_number.eq(round));
        }
        if let Some(from) = filter.from {
            query = query.filter(idp_figures::reporting_date.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(idp_figures::reporting_date.le(to));
        }
        if let Some(kind) = &filter.assessment_type {
            query = query.filter(idp_figures::assessment_type.eq(kind.clone()));
        }
        if filter.latest_round_only {
            let later = diesel::alias!(idp_figures as later);
            let newer_round_exists = diesel::dsl::exists(
                later
                    .filter(later.field(idp_figures::country_iso3).eq(idp_figures::country_iso3))
                    .filter(later.field(idp_figures::admin_level).eq(idp_figures::admin_level))
                    .filter(later.field(idp_figures::source_pcode).eq(idp_figures::source_pcode))
                    .filter(later.field(idp_figures::operation).eq(idp_figures::operation))
                    .filter(later.field(idp_figures::round_number).gt(idp_figures::round_number)),
            );
            query = query.filter(diesel::dsl::not(newer_round_exists));
        }
        query
    }};
}

/// Totals matching `filter`, ordered by date, operation, round, assessment type and p-code;
/// `limit`/`offset` page through them (`offset` counts only with a `limit`).
pub fn idp_totals(
    conn: &mut AnyConnection,
    filter: &IdpFilter,
    limit: Option<i64>,
    offset: i64,
) -> Result<Vec<IdpTotal>, StoreError> {
    let grouped = idp_figures::table
        .group_by((
            idp_figures::country_iso3,
            idp_figures::admin_level,
            idp_figures::source_pcode,
            idp_figures::area_id,
            idp_figures::area_matched,
            idp_figures::operation,
            idp_figures::round_number,
            idp_figures::reporting_date,
            idp_figures::assessment_type,
            idp_figures::resource_id,
        ))
        .select((
            idp_figures::country_iso3,
            idp_figures::admin_level,
            idp_figures::source_pcode,
            idp_figures::area_id,
            idp_figures::area_matched,
            idp_figures::operation,
            idp_figures::round_number,
            idp_figures::reporting_date,
            idp_figures::assessment_type,
            idp_figures::resource_id,
            sql::<Text>("MIN(source_name)"),
            sql::<BigInt>("CAST(SUM(individuals) AS BIGINT)"),
            sql::<BigInt>("MAX(run_id)"),
            sql::<Timestamp>("MAX(retrieved_at)"),
        ))
        .into_boxed();
    let query = apply_filter!(grouped, filter);
    let key = (
        idp_figures::operation.asc(),
        idp_figures::round_number.asc(),
        idp_figures::assessment_type.asc(),
        idp_figures::source_pcode.asc(),
        idp_figures::resource_id.asc(),
    );
    let mut query = match filter.order {
        IdpOrder::DateAsc => query.order((idp_figures::reporting_date.asc(), key)),
        IdpOrder::DateDesc => query.order((idp_figures::reporting_date.desc(), key)),
        IdpOrder::IndividualsDesc => {
            query.order((sql::<BigInt>("SUM(individuals)").desc(), idp_figures::reporting_date.asc(), key))
        }
        IdpOrder::PcodeAsc => query.order((idp_figures::source_pcode.asc(), idp_figures::reporting_date.asc(), key)),
    };
    // SQLite accepts OFFSET only after LIMIT: without a limit the whole list is read.
    if let Some(limit) = limit {
        query = query.limit(limit).offset(offset);
    }
    Ok(query.load::<IdpTotal>(conn)?)
}

/// How many totals match `filter`.
pub fn count_idp_totals(conn: &mut AnyConnection, filter: &IdpFilter) -> Result<i64, StoreError> {
    let count = apply_filter!(idp_figures::table.into_boxed(), filter)
        .select(sql::<BigInt>(
            "COUNT(DISTINCT country_iso3 || '|' || admin_level || '|' || source_pcode || '|' || operation || '|' \
             || round_number || '|' || reporting_date || '|' || assessment_type || '|' || resource_id)",
        ))
        .get_result::<i64>(conn)?;
    Ok(count)
}

/// Raw figures of one country, at the source's grain: for checks and exports.
pub fn figures_of_country(conn: &mut AnyConnection, iso3: &str) -> Result<Vec<IdpFigureRow>, StoreError> {
    Ok(idp_figures::table
        .filter(idp_figures::country_iso3.eq(iso3))
        .order(idp_figures::id)
        .select(IdpFigureRow::as_select())
        .load(conn)?)
}

/// How many IDP figure rows (at the source's grain) the store holds.
pub fn count_figures(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(idp_figures::table.count().get_result(conn)?)
}
