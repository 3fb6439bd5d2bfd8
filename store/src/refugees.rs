//! Refugees and returnees (UNHCR): populations by country of asylum and of origin, year (or month,
//! for the situations file), population type, and sex and age where the file splits them. Each
//! publication keeps its own rows (`publication`): the end-year totals and the demographics count
//! the same people, so rows of different publications are never added together.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::upsert::RunStamp;
use crate::{AnyConnection, StoreError};

// The theme's table, declared here (not in `schema.rs`) so that a theme stays in its own module.
diesel::table! {
    refugees (id) {
        id -> BigInt,
        country_iso3 -> Text,
        publication -> Text,
        year -> Integer,
        reference_date -> Date,
        asylum_iso3 -> Text,
        origin_iso3 -> Text,
        population_type -> Text,
        location -> Text,
        gender -> Text,
        age_range -> Text,
        population -> BigInt,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

/// The code of "all" in the gender and age range columns.
pub const ALL: &str = "all";

/// UNHCR's publications for HDX, as `publication` names them.
pub mod publication {
    /// `EndYearPopulationTotals`: one row per year, origin and asylum, a column per population type.
    pub const TOTALS: &str = "totals";
    /// `Demographics`: one row per year, origin, asylum and population type, split by sex and age.
    pub const DEMOGRAPHICS: &str = "demographics";
    /// `Solutions`: returns, resettlement and naturalisation per year, origin and (former) asylum.
    pub const SOLUTIONS: &str = "solutions";
    /// The situations file: refugees and asylum-seekers per month, origin and asylum.
    pub const SITUATIONS: &str = "situations";
}

/// Population types that are returns: their row belongs to the country of origin (people returned
/// there), not to the country of asylum.
pub const RETURN_TYPES: [&str; 2] = ["RET", "RDP"];

/// A population figure as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = refugees)]
pub struct RefugeeRow {
    pub id: i64,
    pub country_iso3: String,
    pub publication: String,
    pub year: i32,
    pub reference_date: NaiveDate,
    pub asylum_iso3: String,
    pub origin_iso3: String,
    pub population_type: String,
    pub location: String,
    pub gender: String,
    pub age_range: String,
    pub population: i64,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// A validated population figure, written with [`crate::upsert::upsert`].
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = refugees, treat_none_as_null = true)]
pub struct RefugeeInput {
    /// The country whose run writes the row: the country of asylum, or of origin for a return.
    pub country_iso3: String,
    /// One of [`publication`].
    pub publication: String,
    pub year: i32,
    /// The day the figure is for: 31 December of `year` for the yearly files, the file's date for
    /// the situations file.
    pub reference_date: NaiveDate,
    /// Country of asylum (for a return: the country returned from), as UNHCR codes it.
    pub asylum_iso3: String,
    /// Country of origin as UNHCR codes it (`UKN` unknown, `STA` stateless); empty for a group of
    /// origins the situations file gives no code (see `location`).
    pub origin_iso3: String,
    /// UNHCR's code: `REF` refugees, `ASY` asylum-seekers, `IDP`, `OOC` others of concern, `STA`
    /// stateless, `OIP` others in need of international protection, `RET` returned refugees, `RDP`
    /// returned IDPs, `RST` resettled, `NAT` naturalised.
    pub population_type: String,
    /// The demographics file's location, urban/rural and accommodation columns, joined with `; `
    /// (empty when the file gives none); for a situations row whose origin has no code (`Others`,
    /// `Various`), `origin: ` and the file's name of it.
    pub location: String,
    /// `all`, `f` or `m`.
    pub gender: String,
    /// `all`, or an age band as the file gives it (`0-4`, `60+`, `unknown`).
    pub age_range: String,
    pub population: i64,
    pub resource_id: i64,
}

crate::keyed_table! {
    RefugeeInput in refugees,
    id: id: i64,
    key: (
        country_iso3: String,
        publication: String,
        reference_date: NaiveDate,
        asylum_iso3: String,
        origin_iso3: String,
        population_type: String,
        location: String,
        gender: String,
        age_range: String,
    ),
    scope: country_iso3: String,
    stamp: |s: RunStamp| (refugees::run_id.eq(s.run_id), refugees::retrieved_at.eq(s.retrieved_at)),
}

/// Which population figures to read.
#[derive(Debug, Clone, Default)]
pub struct RefugeeFilter {
    pub asylum_iso3: Option<String>,
    pub origin_iso3: Option<String>,
    pub year: Option<i32>,
    /// Population types (any of them).
    pub population_types: Option<Vec<String>>,
    pub publication: Option<String>,
    pub gender: Option<String>,
    pub age_range: Option<String>,
}

macro_rules! refugee_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &RefugeeFilter = $filter;
        let mut query = $query;
        if let Some(iso3) = &filter.asylum_iso3 {
            query = query.filter(refugees::asylum_iso3.eq(iso3.clone()));
        }
        if let Some(iso3) = &filter.origin_iso3 {
            query = query.filter(refugees::origin_iso3.eq(iso3.clone()));
        }
        if let Some(year) = filter.year {
            query = query.filter(refugees::year.eq(year));
        }
        if let Some(types) = &filter.population_types {
            query = query.filter(refugees::population_type.eq_any(types.clone()));
        }
        if let Some(p) = &filter.publication {
            query = query.filter(refugees::publication.eq(p.clone()));
        }
        if let Some(g) = &filter.gender {
            query = query.filter(refugees::gender.eq(g.clone()));
        }
        if let Some(a) = &filter.age_range {
            query = query.filter(refugees::age_range.eq(a.clone()));
        }
        query
    }};
}

/// The `size` figures matching `filter` after row id `after`, in the order they were written
/// (keyset paging on the row id), and whether more follow.
pub fn refugees_page(
    conn: &mut AnyConnection,
    filter: &RefugeeFilter,
    after: Option<i64>,
    size: usize,
) -> Result<(Vec<RefugeeRow>, bool), StoreError> {
    let mut query = refugee_filter!(refugees::table.select(RefugeeRow::as_select()).into_boxed(), filter);
    if let Some(after) = after {
        query = query.filter(refugees::id.gt(after));
    }
    let rows: Vec<RefugeeRow> = query.order(refugees::id.asc()).limit(crate::paging::probe_limit(size)).load(conn)?;
    let (rows, has_next) = crate::paging::split_page(rows, size);
    Ok((rows, has_next))
}

/// How many figures match `filter`.
pub fn count_matching(conn: &mut AnyConnection, filter: &RefugeeFilter) -> Result<i64, StoreError> {
    Ok(refugee_filter!(refugees::table.count().into_boxed(), filter).get_result(conn)?)
}

/// Every figure a country's run wrote, in the order written.
pub fn refugees_of_country(conn: &mut AnyConnection, iso3: &str) -> Result<Vec<RefugeeRow>, StoreError> {
    Ok(refugees::table
        .filter(refugees::country_iso3.eq(iso3))
        .order(refugees::id.asc())
        .select(RefugeeRow::as_select())
        .load(conn)?)
}

/// How many figures the store holds (for the sources' status).
pub fn count_refugees(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(refugees::table.count().get_result(conn)?)
}
