//! Displacement sites and locations (DTM site and location lists): one row per site and round.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::sites;
use crate::upsert::RunStamp;
use crate::{AnyConnection, StoreError};

/// A site as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sites)]
pub struct SiteRow {
    pub id: i64,
    pub country_iso3: String,
    pub site_code: String,
    pub name: String,
    pub site_type: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub source_pcode: Option<String>,
    pub households: Option<i64>,
    pub individuals: Option<i64>,
    pub round_number: Option<i32>,
    pub reporting_date: Option<NaiveDate>,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// A validated site from a source, keyed by (country, site code, round); written with
/// [`crate::upsert::upsert`].
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = sites, treat_none_as_null = true)]
pub struct SiteInput {
    pub country_iso3: String,
    pub site_code: String,
    pub name: String,
    pub site_type: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub source_pcode: Option<String>,
    pub households: Option<i64>,
    pub individuals: Option<i64>,
    pub round_number: Option<i32>,
    pub reporting_date: Option<NaiveDate>,
    pub resource_id: i64,
}

crate::keyed_table! {
    SiteInput in sites,
    id: id: i64,
    key: (country_iso3: String, site_code: String, round_number: Option<i32>),
    scope: country_iso3: String,
    stamp: |s: RunStamp| (sites::run_id.eq(s.run_id), sites::retrieved_at.eq(s.retrieved_at)),
}

/// Which sites to read: a country's, or those inside some areas.
#[derive(Debug, Clone, Default)]
pub struct SiteFilter {
    pub country_iso3: Option<String>,
    /// Sites whose area is one of these (the caller passes an area and its descendants).
    pub area_ids: Option<Vec<i64>>,
}

macro_rules! site_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &SiteFilter = $filter;
        let mut query = $query;
        if let Some(iso3) = &filter.country_iso3 {
            query = query.filter(sites::country_iso3.eq(iso3.clone()));
        }
        if let Some(ids) = &filter.area_ids {
            query = query.filter(sites::area_id.eq_any(ids.clone()));
        }
        query
    }};
}

/// Sites matching `filter`, by site code then round; `limit`/`offset` page through them.
pub fn list_sites(
    conn: &mut AnyConnection,
    filter: &SiteFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<SiteRow>, StoreError> {
    Ok(site_filter!(sites::table.select(SiteRow::as_select()).into_boxed(), filter)
        .order((sites::site_code.asc(), sites::round_number.asc(), sites::id.asc()))
        .limit(limit)
        .offset(offset)
        .load(conn)?)
}

/// How many sites match `filter`.
pub fn count_sites(conn: &mut AnyConnection, filter: &SiteFilter) -> Result<i64, StoreError> {
    Ok(site_filter!(sites::table.count().into_boxed(), filter).get_result(conn)?)
}

/// Sites by their row ids.
pub fn sites_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<SiteRow>, StoreError> {
    Ok(sites::table.filter(sites::id.eq_any(ids)).select(SiteRow::as_select()).load(conn)?)
}
