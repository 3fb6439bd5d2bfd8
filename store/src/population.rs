//! Population figures (COD-PS): by area, sex, age group and reference year, each stored against the
//! boundary edition it was published for, and the crosswalk (area aliases) that links an older
//! edition's codes to today's areas.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{area_aliases, population_figures};
use crate::{AnyConnection, StoreError, WriteCounts};

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

/// One validated figure from a source, ready to store.
#[derive(Debug, Clone, PartialEq)]
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

type PopulationKey = (String, String, String, String, String, i32);

impl PopulationInput {
    /// The natural key: (country, source p-code, edition, sex, age range, reference year).
    pub fn key(&self) -> PopulationKey {
        (
            self.country_iso3.clone(),
            self.source_pcode.clone(),
            self.boundary_edition.clone(),
            self.sex.clone(),
            self.age_range.clone(),
            self.reference_year,
        )
    }
}

fn key_of_row(r: &PopulationRow) -> PopulationKey {
    (
        r.country_iso3.clone(),
        r.source_pcode.clone(),
        r.boundary_edition.clone(),
        r.sex.clone(),
        r.age_range.clone(),
        r.reference_year,
    )
}

fn same_values(r: &PopulationRow, i: &PopulationInput) -> bool {
    r.admin_level == i.admin_level
        && r.area_id == i.area_id
        && r.area_matched == i.area_matched
        && r.source_name == i.source_name
        && r.population == i.population
        && r.resource_id == i.resource_id
}

/// Writes figures like every other fact table: new keys inserted, changed values updated, identical
/// rows counted as unchanged, so a re-run on unchanged data writes nothing. Keys must be unique in `rows`.
pub fn upsert_population(
    conn: &mut AnyConnection,
    run_id: i64,
    retrieved_at: NaiveDateTime,
    rows: &[PopulationInput],
) -> Result<WriteCounts, StoreError> {
    let mut countries: Vec<&str> = rows.iter().map(|r| r.country_iso3.as_str()).collect();
    countries.sort_unstable();
    countries.dedup();
    let existing: HashMap<PopulationKey, PopulationRow> = population_figures::table
        .filter(population_figures::country_iso3.eq_any(&countries))
        .select(PopulationRow::as_select())
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
                diesel::update(population_figures::table.find(current.id))
                    .set((
                        population_figures::admin_level.eq(row.admin_level),
                        population_figures::area_id.eq(row.area_id),
                        population_figures::area_matched.eq(row.area_matched),
                        population_figures::source_name.eq(&row.source_name),
                        population_figures::population.eq(row.population),
                        population_figures::resource_id.eq(row.resource_id),
                        population_figures::run_id.eq(run_id),
                        population_figures::retrieved_at.eq(retrieved_at),
                    ))
                    .execute(conn)?;
                counts.updated += 1;
            }
        }
    }
    for chunk in to_insert.chunks(500) {
        let values: Vec<_> = chunk
            .iter()
            .map(|r| {
                (
                    population_figures::country_iso3.eq(&r.country_iso3),
                    population_figures::admin_level.eq(r.admin_level),
                    population_figures::area_id.eq(r.area_id),
                    population_figures::area_matched.eq(r.area_matched),
                    population_figures::source_pcode.eq(&r.source_pcode),
                    population_figures::source_name.eq(&r.source_name),
                    population_figures::boundary_edition.eq(&r.boundary_edition),
                    population_figures::sex.eq(&r.sex),
                    population_figures::age_range.eq(&r.age_range),
                    population_figures::reference_year.eq(r.reference_year),
                    population_figures::population.eq(r.population),
                    population_figures::resource_id.eq(r.resource_id),
                    population_figures::run_id.eq(run_id),
                    population_figures::retrieved_at.eq(retrieved_at),
                )
            })
            .collect();
        crate::on_backend!(conn, |c| diesel::insert_into(population_figures::table).values(&values).execute(c))?;
    }
    counts.inserted = to_insert.len() as i64;
    Ok(counts)
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

/// One crosswalk entry to record: `code` (of an older edition) relates to area `area_id` by `relation`.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasInput {
    pub area_id: i64,
    pub code: String,
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

/// Records crosswalk entries, keyed by (area, code, source); a re-run writes nothing.
pub fn upsert_aliases(conn: &mut AnyConnection, rows: &[AliasInput]) -> Result<WriteCounts, StoreError> {
    let mut counts = WriteCounts::default();
    for row in rows {
        let existing = area_aliases::table
            .filter(area_aliases::area_id.eq(row.area_id))
            .filter(area_aliases::code.eq(&row.code))
            .filter(area_aliases::source.eq(&row.source))
            .select(AliasRow::as_select())
            .first(conn)
            .optional()?;
        let values = (
            area_aliases::name.eq(&row.name),
            area_aliases::kind.eq(&row.kind),
            area_aliases::relation.eq(&row.relation),
            area_aliases::valid_to.eq(row.valid_to),
            area_aliases::note.eq(&row.note),
        );
        match existing {
            None => {
                diesel::insert_into(area_aliases::table)
                    .values((
                        area_aliases::area_id.eq(row.area_id),
                        area_aliases::code.eq(&row.code),
                        area_aliases::source.eq(&row.source),
                        values,
                    ))
                    .execute(conn)?;
                counts.inserted += 1;
            }
            Some(a)
                if a.name != row.name
                    || a.kind != row.kind
                    || a.relation != row.relation
                    || a.valid_to != row.valid_to
                    || a.note != row.note =>
            {
                diesel::update(area_aliases::table.find(a.id)).set(values).execute(conn)?;
                counts.updated += 1;
            }
            Some(_) => counts.unchanged += 1,
        }
    }
    Ok(counts)
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
