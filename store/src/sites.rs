//! Displacement sites and locations (DTM site and location lists): one row per site and round.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Text};

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

/// The order of site lists: by site code, then round (a site without a round first, on every
/// store), then row id. `COALESCE` because PostgreSQL and SQLite put NULLs at opposite ends.
const ROUND_ORDER: &str = "COALESCE(sites.round_number, -1)";

/// Sites matching `filter`, by site code then round; `limit`/`offset` page through them.
pub fn list_sites(
    conn: &mut AnyConnection,
    filter: &SiteFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<SiteRow>, StoreError> {
    Ok(site_filter!(sites::table.select(SiteRow::as_select()).into_boxed(), filter)
        .order((sites::site_code.asc(), sql::<Integer>(ROUND_ORDER).asc(), sites::id.asc()))
        .limit(limit)
        .offset(offset)
        .load(conn)?)
}

/// A site's place in a site list (see [`list_sites`]): pages continue after it (keyset paging).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SitePosition {
    pub site_code: String,
    /// The round, -1 when the list gives none.
    pub round: i32,
    pub id: i64,
}

impl SitePosition {
    pub fn of(site: &SiteRow) -> SitePosition {
        SitePosition { site_code: site.site_code.clone(), round: site.round_number.unwrap_or(-1), id: site.id }
    }
}

/// `(code, round, id) <op> position`, in the order of site lists.
fn compared(op: &str, p: &SitePosition) -> Box<dyn BoxableExpression<sites::table, Backend, SqlType = Bool>> {
    Box::new(
        sql::<Bool>(&format!("(sites.site_code, {ROUND_ORDER}, sites.id) {op} ("))
            .bind::<Text, _>(p.site_code.clone())
            .sql(", ")
            .bind::<Integer, _>(p.round)
            .sql(", ")
            .bind::<BigInt, _>(p.id)
            .sql(")"),
    )
}

type Backend = <AnyConnection as diesel::Connection>::Backend;

/// The `size` sites matching `filter` after `after` (keyset paging), and whether sites lie before
/// and after the page.
pub fn sites_page(
    conn: &mut AnyConnection,
    filter: &SiteFilter,
    after: Option<&SitePosition>,
    size: usize,
) -> Result<(Vec<SiteRow>, bool, bool), StoreError> {
    let mut query = site_filter!(sites::table.select(SiteRow::as_select()).into_boxed(), filter);
    if let Some(after) = after {
        query = query.filter(compared(">", after));
    }
    let rows: Vec<SiteRow> = query
        .order((sites::site_code.asc(), sql::<Integer>(ROUND_ORDER).asc(), sites::id.asc()))
        .limit(crate::paging::probe_limit(size))
        .load(conn)?;
    let (rows, has_next) = crate::paging::split_page(rows, size);
    let has_previous = match after {
        Some(after) => !site_filter!(sites::table.select(sites::id).into_boxed(), filter)
            .filter(compared("<=", after))
            .limit(1)
            .load::<i64>(conn)?
            .is_empty(),
        None => false,
    };
    Ok((rows, has_previous, has_next))
}

/// How many sites match `filter`.
pub fn count_sites(conn: &mut AnyConnection, filter: &SiteFilter) -> Result<i64, StoreError> {
    Ok(site_filter!(sites::table.count().into_boxed(), filter).get_result(conn)?)
}

/// Sites by their row ids.
pub fn sites_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<SiteRow>, StoreError> {
    Ok(sites::table.filter(sites::id.eq_any(ids)).select(SiteRow::as_select()).load(conn)?)
}

crate::bi::bi_entity! {
    /// One row per displacement site (or location) and round, with its coordinates and the households
    /// and individuals DTM counted there.
    pub struct BiSite as SITES_BI {
        view: "bi_sites",
        export: "sites",
        from: "sites s\nJOIN countries c ON c.iso3 = s.country_iso3\nJOIN resources r ON r.id = s.resource_id\n\
               JOIN datasets d ON d.id = r.dataset_id\nLEFT JOIN admin_areas a ON a.id = s.area_id",
        view_appended: ["licence_url", "area_valid_from"],
        order: ["country_iso3", "site_code", "round_number"],
        period: "reporting_date",
        filters: [
            Filter::new("country", "country_iso3", Countries),
            Filter::new("pcode", "area_pcode", Within),
            Filter::new("site_type", "site_type", Equals),
            Filter::new("round", "round_number", EqualsNumber),
        ],
        columns: {
            country_iso3: Text = "s.country_iso3", "#country+code", "ISO 3166-1 alpha-3 code of the country.";
            country_name: Text = "c.name", "#country+name", "The country's name.";
            site_code: Text = "s.site_code", "#loc+code", "The site's code as DTM gives it.";
            name: Text = "s.name", "#loc+name", "The site's name.";
            site_type: Nullable<Text> = "s.site_type", "#loc+type", "The site's type as the source names it.";
            latitude: Nullable<Double> = "s.latitude", "#geo+lat", "Latitude (WGS 84).";
            longitude: Nullable<Double> = "s.longitude", "#geo+lon", "Longitude (WGS 84).";
            area_pcode: Nullable<Text> = "a.pcode", "#adm+code", "The p-code of the area the site is in.";
            area_name: Nullable<Text> = "a.name", "#adm+name", "That area's name.";
            area_valid_from: Nullable<Date> = "a.valid_from", "#date+start+boundaries", "First day of the area's boundary edition: with `area_pcode`, the key of the area among the admin areas.";
            area_matched: Bool = "s.area_matched", "#meta+matched", "Whether the source's code matched a p-code we know.";
            source_pcode: Nullable<Text> = "s.source_pcode", "#adm+code+provider", "The area's code as the source gives it.";
            households: Nullable<BigInt> = "s.households", "#affected+idps+hh", "IDP households at the site.";
            individuals: Nullable<BigInt> = "s.individuals", "#affected+idps+ind", "IDPs at the site (individuals).";
            round_number: Nullable<Integer> = "s.round_number", "#round+code", "The DTM round.";
            reporting_date: Nullable<Date> = "s.reporting_date", "#date+reported", "The date the round reports on.";
            dataset: Text = "d.source_key", "#meta+dataset+id", crate::bi::provenance::DATASET;
            dataset_title: Text = "d.title", "#meta+dataset+title", crate::bi::provenance::DATASET_TITLE;
            licence: Text = "d.licence_title", "#meta+licence", crate::bi::provenance::LICENCE;
            licence_url: Nullable<Text> = "d.licence_url", "#meta+licence+url", crate::bi::provenance::LICENCE_URL;
            credit: Text = "d.credit", "#meta+source", crate::bi::provenance::CREDIT;
            resource_url: Text = "r.url", "#meta+url", crate::bi::provenance::RESOURCE_URL;
            ingest_run_id: BigInt = "s.run_id", "#meta+run+id", crate::bi::provenance::INGEST_RUN_ID;
            retrieved_at: Timestamp = "s.retrieved_at", "#date+retrieved", crate::bi::provenance::RETRIEVED_AT;
        }
    }
}
