//! Humanitarian needs (HNO): people in need, targeted, affected and reached per plan year, area,
//! sector and population group, as the source reports them. A sector's figure is never a sum of
//! other sectors: `ALL` is the source's own intersectoral figure. "All" in every other dimension is
//! written `all` (population group, gender, age range, disability), as population figures write it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::upsert::RunStamp;
use crate::{AnyConnection, StoreError};

// The theme's table, declared here (not in `schema.rs`) so that a theme stays in its own module.
diesel::table! {
    needs (id) {
        id -> BigInt,
        country_iso3 -> Text,
        year -> Integer,
        admin_level -> Integer,
        area_id -> Nullable<BigInt>,
        area_matched -> Bool,
        source_pcode -> Text,
        sector -> Text,
        category -> Text,
        population_group -> Text,
        gender -> Text,
        age_range -> Text,
        disabled_marker -> Text,
        population -> Nullable<BigInt>,
        in_need -> Nullable<BigInt>,
        targeted -> Nullable<BigInt>,
        affected -> Nullable<BigInt>,
        reached -> Nullable<BigInt>,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

/// The code of "all" in the population group, gender, age range and disability columns.
pub const ALL: &str = "all";

/// A needs figure set as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = needs)]
pub struct NeedRow {
    pub id: i64,
    pub country_iso3: String,
    pub year: i32,
    pub admin_level: i32,
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub source_pcode: String,
    pub sector: String,
    pub category: String,
    pub population_group: String,
    pub gender: String,
    pub age_range: String,
    pub disabled_marker: String,
    pub population: Option<i64>,
    pub in_need: Option<i64>,
    pub targeted: Option<i64>,
    pub affected: Option<i64>,
    pub reached: Option<i64>,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// A validated figure set from a source, keyed by (country, year, source p-code, sector, category,
/// population group, gender, age range, disability); written with [`crate::upsert::upsert`].
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = needs, treat_none_as_null = true)]
pub struct NeedInput {
    pub country_iso3: String,
    /// The plan year the figures are for.
    pub year: i32,
    /// 0 for the country, 1 and 2 for its areas, as the source places the row.
    pub admin_level: i32,
    /// The area the row is for, or the nearest enclosing one when `area_matched` is false.
    pub area_id: Option<i64>,
    pub area_matched: bool,
    /// The source's code of the area (the ISO3 code for a national row).
    pub source_pcode: String,
    /// A code of `ingest::kit::reference` (`ALL` intersectoral, `FSC`, `PRO-CPN`...).
    pub sector: String,
    /// The global HPC file's free-text category (`Children - Female - IDP`), empty where the source
    /// gives the group in its own columns.
    pub category: String,
    pub population_group: String,
    pub gender: String,
    pub age_range: String,
    pub disabled_marker: String,
    pub population: Option<i64>,
    pub in_need: Option<i64>,
    pub targeted: Option<i64>,
    pub affected: Option<i64>,
    pub reached: Option<i64>,
    pub resource_id: i64,
}

crate::keyed_table! {
    NeedInput in needs,
    id: id: i64,
    key: (
        country_iso3: String,
        year: i32,
        source_pcode: String,
        sector: String,
        category: String,
        population_group: String,
        gender: String,
        age_range: String,
        disabled_marker: String,
    ),
    scope: country_iso3: String,
    stamp: |s: RunStamp| (needs::run_id.eq(s.run_id), needs::retrieved_at.eq(s.retrieved_at)),
}

/// Which needs figures to read.
#[derive(Debug, Clone, Default)]
pub struct NeedFilter {
    pub country_iso3: Option<String>,
    /// Figures whose area is one of these (the caller passes an area and its descendants); with
    /// `source_pcode`, also the figures the source gave under that code (an unmatched code is kept).
    pub area_ids: Option<Vec<i64>>,
    pub year: Option<i32>,
    /// A sector code (already normalised).
    pub sector: Option<String>,
    pub admin_level: Option<i32>,
    /// The source's code of the area (alone, or besides `area_ids`: see there).
    pub source_pcode: Option<String>,
}

macro_rules! need_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &NeedFilter = $filter;
        let mut query = $query;
        if let Some(iso3) = &filter.country_iso3 {
            query = query.filter(needs::country_iso3.eq(iso3.clone()));
        }
        match (&filter.area_ids, &filter.source_pcode) {
            (Some(ids), Some(code)) => {
                query =
                    query.filter(needs::area_id.eq_any(ids.clone()).or(needs::source_pcode.eq(code.clone()).nullable()))
            }
            (Some(ids), None) => query = query.filter(needs::area_id.eq_any(ids.clone())),
            (None, Some(code)) => query = query.filter(needs::source_pcode.eq(code.clone())),
            (None, None) => {}
        }
        if let Some(year) = filter.year {
            query = query.filter(needs::year.eq(year));
        }
        if let Some(sector) = &filter.sector {
            query = query.filter(needs::sector.eq(sector.clone()));
        }
        if let Some(level) = filter.admin_level {
            query = query.filter(needs::admin_level.eq(level));
        }
        query
    }};
}

crate::paging::figure_list! {
    /// The needs figure sets, in the order the source listed them.
    pub struct Needs {
        table: needs,
        row: NeedRow,
        filter: NeedFilter,
        apply: need_filter,
        within: |filter, area_ids, pcode| { filter.area_ids = Some(area_ids); filter.source_pcode = Some(pcode); },
    }
}

/// Every figure set of a country, in the source's order.
pub fn needs_of_country(conn: &mut AnyConnection, iso3: &str) -> Result<Vec<NeedRow>, StoreError> {
    Ok(needs::table
        .filter(needs::country_iso3.eq(iso3))
        .order(needs::id.asc())
        .select(NeedRow::as_select())
        .load(conn)?)
}

/// The whole-population figure sets (every group, gender, age and disability `all`, no category or
/// the category `total`) of `year` and `sector` whose area is exactly one of `area_ids`.
pub fn totals_of_areas(
    conn: &mut AnyConnection,
    area_ids: &[i64],
    year: i32,
    sector: &str,
) -> Result<Vec<NeedRow>, StoreError> {
    Ok(needs::table
        .filter(needs::area_id.eq_any(area_ids))
        .filter(needs::area_matched.eq(true))
        .filter(needs::year.eq(year))
        .filter(needs::sector.eq(sector))
        .filter(needs::population_group.eq(ALL))
        .filter(needs::gender.eq(ALL))
        .filter(needs::age_range.eq(ALL))
        .filter(needs::disabled_marker.eq(ALL))
        .filter(needs::category.eq_any(["", "total"]))
        .order(needs::id.asc())
        .select(NeedRow::as_select())
        .load(conn)?)
}

/// How many figure sets the store holds (for the sources' status).
pub fn count_needs(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(needs::table.count().get_result(conn)?)
}

/// Figure sets by their row ids.
pub fn needs_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<NeedRow>, StoreError> {
    Ok(needs::table.filter(needs::id.eq_any(ids)).select(NeedRow::as_select()).load(conn)?)
}

crate::bi::bi_entity! {
    /// One row per set of humanitarian needs figures as the source reports it: plan year, area, sector and
    /// population group (gender, age range, disability, or the global file's category). Never add sectors
    /// up (`ALL` is the source's own intersectoral figure), nor a group to its own total (`all`).
    pub struct BiNeed as NEEDS_BI {
        view: "bi_needs",
        export: "needs",
        from: "needs n\nJOIN countries c ON c.iso3 = n.country_iso3\nJOIN resources r ON r.id = n.resource_id\n\
               JOIN datasets d ON d.id = r.dataset_id\nLEFT JOIN admin_areas a ON a.id = n.area_id",
        view_appended: ["area_valid_from"],
        order: [
            "country_iso3", "year", "source_pcode", "sector_code", "category", "population_group", "gender",
            "age_range", "disabled_marker",
        ],
        period: "year",
        filters: [
            Filter::new("country", "country_iso3", Countries),
            Filter::new("pcode", "area_pcode", Within),
            Filter::new("year", "year", EqualsNumber),
            Filter::new("sector", "sector_code", Equals),
        ],
        columns: {
            country_iso3: Text = "n.country_iso3", "#country+code", "ISO 3166-1 alpha-3 code of the country.";
            country_name: Text = "c.name", "#country+name", "The country's name.";
            year: Integer = "n.year", "#date+year", "The plan year the figures are for.";
            admin_level: Integer = "n.admin_level", "#adm+level", "0 for the country, 1 and 2 for its areas, as the source places the row.";
            area_pcode: Nullable<Text> = "a.pcode", "#adm+code", "The p-code of the area (the nearest enclosing one when `area_matched` is false).";
            area_name: Nullable<Text> = "a.name", "#adm+name", "That area's name.";
            area_valid_from: Nullable<Date> = "a.valid_from", "#date+start+boundaries", "First day of the area's boundary edition: with `area_pcode`, the key of the area among the admin areas.";
            area_matched: Bool = "n.area_matched", "#meta+matched", "Whether the source's code matched a p-code we know.";
            source_pcode: Text = "n.source_pcode", "#adm+code+provider", "The area's code as the source gives it (the ISO3 code for a national row).";
            sector_code: Text = "n.sector", "#sector+code", "The sector: a global coordination group code, `ALL` intersectoral, `MS` multi-sector.";
            category: Text = "n.category", "#category", "The global HPC file's free-text category (`Children - Female - IDP`); empty otherwise.";
            population_group: Text = "n.population_group", "#population_group+code", "`all`, or the source's group code (`IDP`, `RRI`); empty where only the category says.";
            gender: Text = "n.gender", "#gender+code", "`all`, `f` or `m`; empty where only the category says.";
            age_range: Text = "n.age_range", "#age+range", "`all`, or a range such as `0-17`; empty where only the category says.";
            disabled_marker: Text = "n.disabled_marker", "#is_disabled", "`all`, `y` or `n`; empty where only the category says.";
            population: Nullable<BigInt> = "n.population", "#population", "The group's population as the plan counts it.";
            in_need: Nullable<BigInt> = "n.in_need", "#inneed", "People in need (rounded to the nearest person).";
            targeted: Nullable<BigInt> = "n.targeted", "#targeted", "People targeted.";
            affected: Nullable<BigInt> = "n.affected", "#affected", "People affected.";
            reached: Nullable<BigInt> = "n.reached", "#reached", "People reached.";
            dataset: Text = "d.source_key", "#meta+dataset+id", crate::bi::provenance::DATASET;
            dataset_title: Text = "d.title", "#meta+dataset+title", crate::bi::provenance::DATASET_TITLE;
            licence: Text = "d.licence_title", "#meta+licence", crate::bi::provenance::LICENCE;
            licence_url: Nullable<Text> = "d.licence_url", "#meta+licence+url", crate::bi::provenance::LICENCE_URL;
            credit: Text = "d.credit", "#meta+source", crate::bi::provenance::CREDIT;
            resource_url: Text = "r.url", "#meta+url", crate::bi::provenance::RESOURCE_URL;
            ingest_run_id: BigInt = "n.run_id", "#meta+run+id", crate::bi::provenance::INGEST_RUN_ID;
            retrieved_at: Timestamp = "n.retrieved_at", "#date+retrieved", crate::bi::provenance::RETRIEVED_AT;
        }
    }
}
