//! Population figures (COD-PS): by area, sex, age group and reference year, each stored against the
//! boundary edition it was published for, and the crosswalk (area aliases) that links an older
//! edition's codes to today's areas.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{area_aliases, population_figures};
use crate::upsert::RunStamp;
use crate::{AnyConnection, StoreError};

/// One population figure as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = population_figures)]
pub struct PopulationRow {
    pub id: i64,
    pub country_iso3: String,
    pub admin_level: i32,
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub source_pcode: String,
    pub source_name: String,
    pub boundary_edition: String,
    pub sex: String,
    pub age_range: String,
    pub reference_year: i32,
    pub population: i64,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// One validated figure from a source, ready to store. Its natural key is (country, source p-code,
/// edition, sex, age range, reference year); written with [`crate::upsert::upsert`].
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = population_figures, treat_none_as_null = true)]
pub struct PopulationInput {
    pub country_iso3: String,
    /// The admin level in the source's own boundary edition.
    pub admin_level: i32,
    /// The area the figure covers exactly (same territory), or the nearest enclosing one when
    /// `area_matched` is false.
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub source_pcode: String,
    pub source_name: String,
    pub boundary_edition: String,
    /// `all`, `f` or `m`.
    pub sex: String,
    /// `all`, or a range such as `0-4`.
    pub age_range: String,
    pub reference_year: i32,
    pub population: i64,
    pub resource_id: i64,
}

crate::keyed_table! {
    PopulationInput in population_figures,
    id: id: i64,
    key: (
        country_iso3: String,
        source_pcode: String,
        boundary_edition: String,
        sex: String,
        age_range: String,
        reference_year: i32,
    ),
    scope: country_iso3: String,
    stamp: |s: RunStamp| (population_figures::run_id.eq(s.run_id), population_figures::retrieved_at.eq(s.retrieved_at)),
}

/// The figures (all sexes, all ages, every edition) whose area is exactly one of `area_ids`,
/// newest reference year first.
pub fn population_of_areas(conn: &mut AnyConnection, area_ids: &[i64]) -> Result<Vec<PopulationRow>, StoreError> {
    Ok(population_figures::table
        .filter(population_figures::area_id.eq_any(area_ids))
        .filter(population_figures::area_matched.eq(true))
        .order((population_figures::reference_year.desc(), population_figures::id.asc()))
        .select(PopulationRow::as_select())
        .load(conn)?)
}

/// Every figure of a country, for checks and exports.
pub fn population_of_country(conn: &mut AnyConnection, iso3: &str) -> Result<Vec<PopulationRow>, StoreError> {
    Ok(population_figures::table
        .filter(population_figures::country_iso3.eq(iso3))
        .order(population_figures::id)
        .select(PopulationRow::as_select())
        .load(conn)?)
}

/// An alias as stored: another code or name for an area (a source's code, an older edition's code).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = area_aliases)]
pub struct AliasRow {
    pub id: i64,
    pub area_id: i64,
    pub code: Option<String>,
    pub name: Option<String>,
    pub kind: String,
    pub relation: String,
    pub source: String,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub note: Option<String>,
}

/// One crosswalk entry to record: `code` (of an older edition) relates to area `area_id` by
/// `relation`. Keyed by (area, code, source); written with [`crate::upsert::upsert`].
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = area_aliases, treat_none_as_null = true)]
pub struct AliasInput {
    pub area_id: i64,
    pub code: Option<String>,
    pub name: Option<String>,
    /// `old_code`, `source_code` or `alt_name`.
    pub kind: String,
    /// `same` (same territory), `part_of` (the code's territory lies inside the area) or
    /// `contains` (the code's territory contains the area and more).
    pub relation: String,
    pub source: String,
    pub valid_to: Option<NaiveDate>,
    pub note: Option<String>,
}

crate::keyed_table! {
    AliasInput in area_aliases,
    id: id: i64,
    key: (area_id: i64, code: Option<String>, source: String),
    scope: area_id: i64,
    stamp: none,
}

/// The aliases of some areas.
pub fn aliases_of_areas(conn: &mut AnyConnection, area_ids: &[i64]) -> Result<Vec<AliasRow>, StoreError> {
    Ok(area_aliases::table
        .filter(area_aliases::area_id.eq_any(area_ids))
        .order(area_aliases::id)
        .select(AliasRow::as_select())
        .load(conn)?)
}

/// The national (level 0, matched) figures of some countries, newest reference year first.
pub fn national_population(conn: &mut AnyConnection, iso3s: &[String]) -> Result<Vec<PopulationRow>, StoreError> {
    Ok(population_figures::table
        .filter(population_figures::country_iso3.eq_any(iso3s))
        .filter(population_figures::admin_level.eq(0))
        .filter(population_figures::area_matched.eq(true))
        .order((population_figures::reference_year.desc(), population_figures::id.asc()))
        .select(PopulationRow::as_select())
        .load(conn)?)
}

/// How many population figures the store holds.
pub fn count_figures(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(population_figures::table.count().get_result(conn)?)
}

crate::bi::bi_entity! {
    /// One row per area (as published), boundary edition, reference year, sex and age group; `sex = all`,
    /// `age_range = all` is the total, and `f` and `m` rows split it. **By default the export has the
    /// totals only**, so a sum over one admin level is the population (Mali 2018: 17,907,114); `sex=f`,
    /// `sex=m` or `sex=*` give the split (the view has every row: filter on `sex = 'all'` for totals).
    /// Never add rows of different admin levels (each level covers the whole country again). Figures
    /// stay on the boundary edition they were published for (Mali 2018: 9 regions; Ménaka was cercle
    /// `ML0704`).
    pub struct BiPopulation as POPULATION_BI {
        view: "bi_population",
        export: "population",
        from: "population_figures f\nJOIN countries c ON c.iso3 = f.country_iso3\nJOIN resources r ON r.id = f.resource_id\n\
               JOIN datasets d ON d.id = r.dataset_id\nLEFT JOIN admin_areas a ON a.id = f.area_id",
        view_appended: ["licence_url", "area_valid_from"],
        order: [
            "country_iso3", "admin_level", "source_pcode", "reference_year", "boundary_edition", "sex", "age_range",
        ],
        period: "reference_year",
        filters: [
            Filter::new("country", "country_iso3", Countries),
            Filter::new("admin_level", "admin_level", AdminLevel),
            Filter::new("pcode", "area_pcode", Within),
            Filter::new("year", "reference_year", EqualsNumber),
            Filter::new("sex", "sex", Breakdown(&["all", "f", "m"])),
            Filter::new("age_range", "age_range", Breakdown(&[])),
        ],
        columns: {
            country_iso3: Text = "f.country_iso3", "#country+code", "ISO 3166-1 alpha-3 code of the country.";
            country_name: Text = "c.name", "#country+name", "The country's name.";
            admin_level: Integer = "f.admin_level", "#adm+level", "0 for the country, 1 for its first level, ...";
            area_pcode: Nullable<Text> = "a.pcode", "#adm+code", "The area's p-code (the nearest enclosing area when the source's code matched none).";
            area_name: Nullable<Text> = "a.name", "#adm+name", "The area's name.";
            area_valid_from: Nullable<Date> = "a.valid_from", "#date+start+boundaries", "First day of the area's boundary edition: with `area_pcode`, the key of the area among the admin areas.";
            area_matched: Bool = "f.area_matched", "#meta+matched", "Whether the source's code matched a p-code we know.";
            source_pcode: Text = "f.source_pcode", "#adm+code+provider", "The area's code as the source gives it.";
            source_name: Text = "f.source_name", "#adm+name+provider", "The area's name as the source gives it.";
            boundary_edition: Text = "f.boundary_edition", "#meta+boundaries", "The boundary edition the figures were published for.";
            sex: Text = "f.sex", "#gender+code", "`all`, `f` or `m`.";
            age_range: Text = "f.age_range", "#age+range", "`all`, or the age group as the source names it.";
            reference_year: Integer = "f.reference_year", "#date+year", "The year the figure is for.";
            population: BigInt = "f.population", "#population", "People.";
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
