//! Food security: people by phase of acute food insecurity (Cadre Harmonisé and IPC) per analysis,
//! projection, reference period and area, as the source reports them. Phases 1 to 5 and phase 3+
//! are the source's own figures: phase 3+ is never recomputed, and analyses are never added into
//! each other (two analyses can project the same period: the older one is `superseded`).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::upsert::RunStamp;
use crate::{AnyConnection, StoreError};

// The theme's table, declared here (not in `schema.rs`) so that a theme stays in its own module.
diesel::table! {
    food_security (id) {
        id -> BigInt,
        country_iso3 -> Text,
        admin_level -> Integer,
        area_id -> Nullable<BigInt>,
        area_matched -> Bool,
        source_pcode -> Text,
        source_area_name -> Text,
        analysis -> Text,
        projection -> Text,
        reference_period_start -> Date,
        reference_period_end -> Date,
        superseded -> Bool,
        population -> Nullable<BigInt>,
        phase1 -> Nullable<BigInt>,
        phase2 -> Nullable<BigInt>,
        phase3 -> Nullable<BigInt>,
        phase4 -> Nullable<BigInt>,
        phase5 -> Nullable<BigInt>,
        phase3_plus -> Nullable<BigInt>,
        phase_class -> Nullable<Integer>,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

/// The projection codes stored in `projection`.
pub const CURRENT: &str = "current";
/// The first projection of an analysis.
pub const PROJECTED: &str = "projected";
/// IPC's second projection.
pub const SECOND_PROJECTED: &str = "second_projected";

/// A food security figure set as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = food_security)]
pub struct FoodSecurityRow {
    pub id: i64,
    pub country_iso3: String,
    pub admin_level: i32,
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub source_pcode: String,
    pub source_area_name: String,
    pub analysis: String,
    pub projection: String,
    pub reference_period_start: NaiveDate,
    pub reference_period_end: NaiveDate,
    pub superseded: bool,
    pub population: Option<i64>,
    pub phase1: Option<i64>,
    pub phase2: Option<i64>,
    pub phase3: Option<i64>,
    pub phase4: Option<i64>,
    pub phase5: Option<i64>,
    pub phase3_plus: Option<i64>,
    pub phase_class: Option<i32>,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// A validated figure set from a source, keyed by (country, analysis, projection, reference period
/// start, source code, source area name); written with [`crate::upsert::upsert`].
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = food_security, treat_none_as_null = true)]
pub struct FoodSecurityInput {
    pub country_iso3: String,
    /// 0 for the country, 1 to 3 for its areas, as the source places the row.
    pub admin_level: i32,
    /// The area the row is for, or the nearest enclosing one when `area_matched` is false.
    pub area_id: Option<i64>,
    pub area_matched: bool,
    /// The source's code of the area (the ISO3 code for a national row; empty where the source
    /// names the area only, as IPC's area files do).
    pub source_pcode: String,
    /// The source's name of the area.
    pub source_area_name: String,
    /// The analysis: CH's exercise (`Sep-Dec 2021`), IPC's date of analysis (`Apr 2023`).
    pub analysis: String,
    /// [`CURRENT`], [`PROJECTED`] or [`SECOND_PROJECTED`].
    pub projection: String,
    pub reference_period_start: NaiveDate,
    pub reference_period_end: NaiveDate,
    /// The source says a later analysis is the one to use for this period (CH `usethisperiod = N`).
    pub superseded: bool,
    pub population: Option<i64>,
    pub phase1: Option<i64>,
    pub phase2: Option<i64>,
    pub phase3: Option<i64>,
    pub phase4: Option<i64>,
    pub phase5: Option<i64>,
    pub phase3_plus: Option<i64>,
    /// The area's phase (1-5), where the source classifies it (CH); none for IPC's long files.
    pub phase_class: Option<i32>,
    pub resource_id: i64,
}

crate::keyed_table! {
    FoodSecurityInput in food_security,
    id: id: i64,
    key: (
        country_iso3: String,
        analysis: String,
        projection: String,
        reference_period_start: NaiveDate,
        source_pcode: String,
        source_area_name: String,
    ),
    scope: country_iso3: String,
    stamp: |s: RunStamp| (food_security::run_id.eq(s.run_id), food_security::retrieved_at.eq(s.retrieved_at)),
}

/// Which food security figures to read.
#[derive(Debug, Clone, Default)]
pub struct FoodSecurityFilter {
    pub country_iso3: Option<String>,
    /// Figures whose area is one of these (the caller passes an area and its descendants); with
    /// `source_pcode`, also the figures the source gave under that code (an unmatched code is kept).
    pub area_ids: Option<Vec<i64>>,
    /// The source's code of the area (alone, or besides `area_ids`: see there).
    pub source_pcode: Option<String>,
    /// The source's name of the area, exactly.
    pub source_area_name: Option<String>,
    pub admin_level: Option<i32>,
    /// Figures whose reference period ends on or after this day.
    pub from: Option<NaiveDate>,
    /// Figures whose reference period starts on or before this day.
    pub to: Option<NaiveDate>,
    /// A projection code ([`CURRENT`], [`PROJECTED`], [`SECOND_PROJECTED`]).
    pub projection: Option<String>,
    /// The analysis, as stored (`Sep-Dec 2021`, `Apr 2023`).
    pub analysis: Option<String>,
}

macro_rules! food_security_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &FoodSecurityFilter = $filter;
        let mut query = $query;
        if let Some(iso3) = &filter.country_iso3 {
            query = query.filter(food_security::country_iso3.eq(iso3.clone()));
        }
        match (&filter.area_ids, &filter.source_pcode) {
            (Some(ids), Some(code)) => {
                query = query.filter(
                    food_security::area_id
                        .eq_any(ids.clone())
                        .or(food_security::source_pcode.eq(code.clone()).nullable()),
                )
            }
            (Some(ids), None) => query = query.filter(food_security::area_id.eq_any(ids.clone())),
            (None, Some(code)) => query = query.filter(food_security::source_pcode.eq(code.clone())),
            (None, None) => {}
        }
        if let Some(name) = &filter.source_area_name {
            query = query.filter(food_security::source_area_name.eq(name.clone()));
        }
        if let Some(level) = filter.admin_level {
            query = query.filter(food_security::admin_level.eq(level));
        }
        if let Some(from) = filter.from {
            query = query.filter(food_security::reference_period_end.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(food_security::reference_period_start.le(to));
        }
        if let Some(projection) = &filter.projection {
            query = query.filter(food_security::projection.eq(projection.clone()));
        }
        if let Some(analysis) = &filter.analysis {
            query = query.filter(food_security::analysis.eq(analysis.clone()));
        }
        query
    }};
}

crate::paging::figure_list! {
    /// The food security figure sets, in the order the source listed them.
    pub struct FoodSecurityFigures {
        table: food_security,
        row: FoodSecurityRow,
        filter: FoodSecurityFilter,
        apply: food_security_filter,
        within: |filter, area_ids, pcode| { filter.area_ids = Some(area_ids); filter.source_pcode = Some(pcode); },
    }
}

/// Every figure set of a country, in the source's order.
pub fn food_security_of_country(conn: &mut AnyConnection, iso3: &str) -> Result<Vec<FoodSecurityRow>, StoreError> {
    Ok(food_security::table
        .filter(food_security::country_iso3.eq(iso3))
        .order(food_security::id.asc())
        .select(FoodSecurityRow::as_select())
        .load(conn)?)
}

/// How many figure sets the store holds (for the sources' status).
pub fn count_food_security(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(food_security::table.count().get_result(conn)?)
}

/// Figure sets by their row ids.
pub fn food_security_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<FoodSecurityRow>, StoreError> {
    Ok(food_security::table.filter(food_security::id.eq_any(ids)).select(FoodSecurityRow::as_select()).load(conn)?)
}

crate::bi::bi_entity! {
    /// One row per area and analysis of acute food insecurity (Cadre Harmonisé or IPC) as the source
    /// reports it: the population analysed and the people in each phase (1 minimal to 5 famine) and in
    /// phase 3 or worse, for the analysis's current period or a projection. Add areas up only within one
    /// analysis and projection, and only rows whose `superseded` is false where two analyses cover the
    /// same period; never add phase 3+ to phases 3, 4 and 5 (it is their sum).
    pub struct BiFoodSecurity as FOOD_SECURITY_BI {
        view: "bi_food_security",
        export: "food_security",
        from: "food_security f\nJOIN countries c ON c.iso3 = f.country_iso3\nJOIN resources r ON r.id = f.resource_id\n\
               JOIN datasets d ON d.id = r.dataset_id\nLEFT JOIN admin_areas a ON a.id = f.area_id",
        view_appended: ["area_valid_from"],
        order: [
            "country_iso3", "reference_period_start", "analysis", "projection", "source_pcode", "source_area_name",
        ],
        period: "reference_period_start" to "reference_period_end",
        filters: [
            Filter::new("country", "country_iso3", Countries),
            Filter::new("pcode", "area_pcode", Within),
            Filter::new("admin_level", "admin_level", AdminLevel),
            Filter::new("from", "reference_period_end", OnOrAfter),
            Filter::new("to", "reference_period_start", OnOrBefore),
            Filter::new("projection", "projection", Equals)
                .about("`current`, `projected` or `second_projected`"),
            Filter::new("analysis", "analysis", Equals).about("the analysis, as `analysis` names it"),
        ],
        columns: {
            country_iso3: Text = "f.country_iso3", "#country+code", "ISO 3166-1 alpha-3 code of the country.";
            country_name: Text = "c.name", "#country+name", "The country's name.";
            admin_level: Integer = "f.admin_level", "#adm+level", "0 for the country, 1 to 3 for its areas, as the source places the row.";
            area_pcode: Nullable<Text> = "a.pcode", "#adm+code", "The p-code of the area (the nearest enclosing one when `area_matched` is false).";
            area_name: Nullable<Text> = "a.name", "#adm+name", "That area's name.";
            area_valid_from: Nullable<Date> = "a.valid_from", "#date+start+boundaries", "First day of the area's boundary edition: with `area_pcode`, the key of the area among the admin areas.";
            area_matched: Bool = "f.area_matched", "#meta+matched", "Whether the source's code matched a p-code we know.";
            source_pcode: Text = "f.source_pcode", "#adm+code+provider", "The area's code as the source gives it (Cadre Harmonisé's Mali codes are older than ours; empty for IPC areas, which are named only).";
            source_area_name: Text = "f.source_area_name", "#adm+name+provider", "The area's name as the source gives it.";
            analysis: Text = "f.analysis", "#meta+analysis", "The analysis: Cadre Harmonisé's exercise (`Sep-Dec 2021`) or IPC's date of analysis (`Apr 2023`).";
            projection: Text = "f.projection", "#meta+projection", "`current`, `projected` or `second_projected`.";
            reference_period_start: Date = "f.reference_period_start", "#date+start", "First day of the period the figures are for.";
            reference_period_end: Date = "f.reference_period_end", "#date+end", "Last day of that period.";
            superseded: Bool = "f.superseded", "#meta+superseded", "A later analysis is the one to use for this period (Cadre Harmonisé's `usethisperiod` N).";
            population: Nullable<BigInt> = "f.population", "#population", "The population analysed.";
            phase1: Nullable<BigInt> = "f.phase1", "#affected+ch+phase1", "People in phase 1 (minimal).";
            phase2: Nullable<BigInt> = "f.phase2", "#affected+ch+phase2", "People in phase 2 (stressed).";
            phase3: Nullable<BigInt> = "f.phase3", "#affected+ch+phase3", "People in phase 3 (crisis).";
            phase4: Nullable<BigInt> = "f.phase4", "#affected+ch+phase4", "People in phase 4 (emergency).";
            phase5: Nullable<BigInt> = "f.phase5", "#affected+ch+phase5", "People in phase 5 (catastrophe or famine).";
            phase3_plus: Nullable<BigInt> = "f.phase3_plus", "#affected+ch+phase3_5", "People in phase 3 or worse, as the source gives it.";
            phase_class: Nullable<Integer> = "f.phase_class", "#severity+phase", "The area's phase (1-5) where the source classifies it (Cadre Harmonisé).";
            dataset: Text = "d.source_key", "#meta+dataset+id", crate::bi::provenance::DATASET;
            dataset_title: Text = "d.title", "#meta+dataset+title", crate::bi::provenance::DATASET_TITLE;
            licence: Text = "d.licence_title", "#meta+licence", crate::bi::provenance::LICENCE;
            licence_url: Nullable<Text> = "d.licence_url", "#meta+licence+url", crate::bi::provenance::LICENCE_URL;
            credit: Text = "d.credit", "#meta+source", crate::bi::provenance::CREDIT;
            resource_url: Text = "r.url", "#meta+url", crate::bi::provenance::RESOURCE_URL;
            ingest_run_id: BigInt = "f.run_id", "#meta+run+id", crate::bi::provenance::INGEST_RUN_ID;
            retrieved_at: Timestamp = "f.retrieved_at", "#date+retrieved", crate::bi::provenance::RETRIEVED_AT;
        }
    }
}
