//! Countries and admin areas (with validity dates), and the lookups the API and matchers need.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::models::{AdminArea, Country};
use crate::schema::{admin_areas, countries};
use crate::upsert::upsert;
use crate::{AnyConnection, StoreError, WriteCounts, now_utc};

/// A country as a source names it, keyed by ISO3.
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = countries, treat_none_as_null = true)]
pub struct CountryInput {
    pub iso3: String,
    pub iso2: Option<String>,
    pub name: String,
}

crate::keyed_table! {
    CountryInput in countries,
    id: iso3: String,
    key: (iso3: String),
    scope: iso3: String,
    stamp: |updated_at: NaiveDateTime| countries::updated_at.eq(*updated_at),
}

/// An admin area as a boundary source lists it. Level 0 is the country itself (p-code = ISO3).
#[derive(Debug, Clone, PartialEq)]
pub struct AreaInput {
    pub country_iso3: String,
    pub pcode: String,
    pub name: String,
    pub level: i32,
    pub parent_pcode: Option<String>,
    pub valid_from: NaiveDate,
}

/// An area as written, keyed by (p-code, edition start): listed areas are current (`valid_to` null).
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = admin_areas, treat_none_as_null = true)]
struct NewArea {
    country_iso3: String,
    pcode: String,
    name: String,
    level: i32,
    parent_pcode: Option<String>,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
}

/// What an area write records beside the values: the run, the p-code list it came from, when.
struct AreaStamp {
    run_id: i64,
    resource_id: i64,
    updated_at: NaiveDateTime,
}

crate::keyed_table! {
    NewArea in admin_areas,
    id: id: i64,
    key: (pcode: String, valid_from: NaiveDate),
    scope: country_iso3: String,
    stamp: |s: AreaStamp| (
        admin_areas::run_id.eq(Some(s.run_id)),
        admin_areas::resource_id.eq(Some(s.resource_id)),
        admin_areas::updated_at.eq(s.updated_at),
    ),
}

/// Writes countries (keyed by ISO3): new ones inserted, renamed ones updated.
pub fn upsert_countries(conn: &mut AnyConnection, rows: &[CountryInput]) -> Result<WriteCounts, StoreError> {
    upsert(conn, rows, &now_utc())
}

/// Writes one boundary edition's areas for the countries it covers: new areas are inserted,
/// changed ones updated, and current areas of those countries that the edition no longer lists
/// are closed (`valid_to` = the edition's start), never deleted: figures keep pointing at them.
pub fn upsert_areas(
    conn: &mut AnyConnection,
    run_id: i64,
    resource_id: i64,
    rows: &[AreaInput],
) -> Result<WriteCounts, StoreError> {
    let now = now_utc();
    let areas: Vec<NewArea> = rows
        .iter()
        .map(|r| NewArea {
            country_iso3: r.country_iso3.clone(),
            pcode: r.pcode.clone(),
            name: r.name.clone(),
            level: r.level,
            parent_pcode: r.parent_pcode.clone(),
            valid_from: r.valid_from,
            valid_to: None,
        })
        .collect();
    let mut counts = upsert(conn, &areas, &AreaStamp { run_id, resource_id, updated_at: now })?;

    // Close the areas this edition no longer lists.
    let country_codes: HashSet<&str> = rows.iter().map(|r| r.country_iso3.as_str()).collect();
    let country_codes: Vec<&str> = country_codes.into_iter().collect();
    let current: Vec<AdminArea> = admin_areas::table
        .filter(admin_areas::country_iso3.eq_any(&country_codes))
        .filter(admin_areas::valid_to.is_null())
        .select(AdminArea::as_select())
        .load(conn)?;
    let listed: HashSet<(&str, NaiveDate)> = rows.iter().map(|r| (r.pcode.as_str(), r.valid_from)).collect();
    let mut edition_start: HashMap<&str, NaiveDate> = HashMap::new();
    for r in rows {
        let e = edition_start.entry(r.country_iso3.as_str()).or_insert(r.valid_from);
        *e = (*e).max(r.valid_from);
    }
    for a in &current {
        let retired = !listed.contains(&(a.pcode.as_str(), a.valid_from));
        if let Some(end) = edition_start.get(a.country_iso3.as_str()).filter(|end| retired && **end > a.valid_from) {
            diesel::update(admin_areas::table.find(a.id))
                .set((admin_areas::valid_to.eq(Some(*end)), admin_areas::updated_at.eq(now)))
                .execute(conn)?;
            counts.updated += 1;
        }
    }
    link_parents(conn, &country_codes)?;
    Ok(counts)
}

/// Points every area's `parent_id` at the current area with its `parent_pcode`.
fn link_parents(conn: &mut AnyConnection, country_codes: &[&str]) -> Result<(), StoreError> {
    let areas: Vec<AdminArea> = admin_areas::table
        .filter(admin_areas::country_iso3.eq_any(country_codes))
        .order((admin_areas::valid_to.is_null(), admin_areas::valid_from))
        .select(AdminArea::as_select())
        .load(conn)?;
    // Later entries (current, newest) win.
    let id_by_pcode: HashMap<&str, i64> = areas.iter().map(|a| (a.pcode.as_str(), a.id)).collect();
    for a in &areas {
        let wanted = a.parent_pcode.as_deref().and_then(|p| id_by_pcode.get(p).copied());
        if wanted != a.parent_id {
            diesel::update(admin_areas::table.find(a.id)).set(admin_areas::parent_id.eq(wanted)).execute(conn)?;
        }
    }
    Ok(())
}

pub fn all_countries(conn: &mut AnyConnection) -> Result<Vec<Country>, StoreError> {
    Ok(countries::table.order(countries::iso3).select(Country::as_select()).load(conn)?)
}

pub fn countries_by_iso3(conn: &mut AnyConnection, iso3s: &[String]) -> Result<Vec<Country>, StoreError> {
    Ok(countries::table.filter(countries::iso3.eq_any(iso3s)).select(Country::as_select()).load(conn)?)
}

/// Every area of a country, current and past: what a matcher needs.
pub fn areas_of_country(conn: &mut AnyConnection, iso3: &str) -> Result<Vec<AdminArea>, StoreError> {
    Ok(admin_areas::table
        .filter(admin_areas::country_iso3.eq(iso3))
        .order((admin_areas::level, admin_areas::pcode))
        .select(AdminArea::as_select())
        .load(conn)?)
}

/// The current areas of some countries at some levels, by p-code (callers pick their pairs).
pub fn current_areas_at_levels(
    conn: &mut AnyConnection,
    iso3s: &[String],
    levels: &[i32],
) -> Result<Vec<AdminArea>, StoreError> {
    Ok(admin_areas::table
        .filter(admin_areas::country_iso3.eq_any(iso3s))
        .filter(admin_areas::level.eq_any(levels))
        .filter(admin_areas::valid_to.is_null())
        .order(admin_areas::pcode)
        .select(AdminArea::as_select())
        .load(conn)?)
}

/// The area a p-code denotes today, or its latest edition if it has been retired.
pub fn area_by_pcode(conn: &mut AnyConnection, pcode: &str) -> Result<Option<AdminArea>, StoreError> {
    Ok(admin_areas::table
        .filter(admin_areas::pcode.eq(pcode))
        .order((admin_areas::valid_to.is_null().desc(), admin_areas::valid_from.desc()))
        .select(AdminArea::as_select())
        .first(conn)
        .optional()?)
}

pub fn areas_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<AdminArea>, StoreError> {
    Ok(admin_areas::table.filter(admin_areas::id.eq_any(ids)).select(AdminArea::as_select()).load(conn)?)
}

/// Current children of the given areas, ordered by p-code.
pub fn current_children_of(conn: &mut AnyConnection, parent_ids: &[i64]) -> Result<Vec<AdminArea>, StoreError> {
    Ok(admin_areas::table
        .filter(admin_areas::parent_id.eq_any(parent_ids))
        .filter(admin_areas::valid_to.is_null())
        .order(admin_areas::pcode)
        .select(AdminArea::as_select())
        .load(conn)?)
}

/// Adds the country if the store does not know it yet; never overwrites a boundary source's name.
pub fn ensure_country(conn: &mut AnyConnection, country: &CountryInput) -> Result<bool, StoreError> {
    let known = countries::table.find(&country.iso3).count().get_result::<i64>(conn)? > 0;
    if !known {
        upsert_countries(conn, std::slice::from_ref(country))?;
    }
    Ok(!known)
}

/// How many admin areas (all editions) the store holds.
pub fn count_areas(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(admin_areas::table.count().get_result(conn)?)
}

/// Ids of the areas with these p-codes (every edition) and of every area below them.
pub fn area_ids_within(conn: &mut AnyConnection, pcodes: &[String]) -> Result<Vec<i64>, StoreError> {
    let mut found: Vec<i64> =
        admin_areas::table.filter(admin_areas::pcode.eq_any(pcodes)).select(admin_areas::id).load(conn)?;
    let mut frontier = found.clone();
    while !frontier.is_empty() {
        frontier =
            admin_areas::table.filter(admin_areas::parent_id.eq_any(&frontier)).select(admin_areas::id).load(conn)?;
        frontier.retain(|id| !found.contains(id));
        found.extend(&frontier);
    }
    Ok(found)
}

crate::bi::bi_entity! {
    /// One row per admin area and boundary edition (`valid_from` to `valid_to`; empty `valid_to`: valid
    /// today), with its parent, and the dataset of the boundaries.
    pub struct BiAdminArea as ADMIN_AREAS_BI {
        view: "bi_admin_areas",
        export: "admin-areas",
        from: "admin_areas a\nJOIN countries c ON c.iso3 = a.country_iso3\nLEFT JOIN admin_areas p ON p.id = a.parent_id\n\
               LEFT JOIN resources r ON r.id = a.resource_id\nLEFT JOIN datasets d ON d.id = r.dataset_id",
        view_appended: ["licence_url", "parent_valid_from"],
        order: ["country_iso3", "admin_level", "pcode", "valid_from"],
        // One row per p-code and edition (the table's unique key): what the figures' `area_pcode` and
        // `area_valid_from` name.
        key: ["pcode", "valid_from"],
        filters: [
            Filter::new("country", "country_iso3", Countries),
            Filter::new("admin_level", "admin_level", AdminLevel),
            Filter::new("pcode", "pcode", Within),
            Filter::new("current_only", "valid_to", Flag("valid_to IS NULL")).about("`true`: areas valid today"),
        ],
        columns: {
            country_iso3: Text = "a.country_iso3", "#country+code", "ISO 3166-1 alpha-3 code of the country.";
            country_name: Text = "c.name", "#country+name", "The country's name.";
            admin_level: Integer = "a.level", "#adm+level", "0 for the country, 1 for its first level, ...";
            pcode: Text = "a.pcode", "#adm+code", "The area's p-code.";
            name: Text = "a.name", "#adm+name", "The area's name.";
            parent_pcode: Nullable<Text> = "a.parent_pcode", "#adm+code+parent", "The p-code of the area's parent.";
            parent_name: Nullable<Text> = "p.name", "#adm+name+parent", "The parent's name.";
            parent_valid_from: Nullable<Date> = "p.valid_from", "#date+start+parent", "First day of the parent's boundary edition: with `parent_pcode`, its key.";
            valid_from: Date = "a.valid_from", "#date+start", "First day of the boundary edition.";
            valid_to: Nullable<Date> = "a.valid_to", "#date+end", "Last day of the edition; empty while it is current.";
            dataset: Nullable<Text> = "d.source_key", "#meta+dataset+id", crate::bi::provenance::DATASET;
            dataset_title: Nullable<Text> = "d.title", "#meta+dataset+title", crate::bi::provenance::DATASET_TITLE;
            licence: Nullable<Text> = "d.licence_title", "#meta+licence", crate::bi::provenance::LICENCE;
            licence_url: Nullable<Text> = "d.licence_url", "#meta+licence+url", crate::bi::provenance::LICENCE_URL;
            credit: Nullable<Text> = "d.credit", "#meta+source", crate::bi::provenance::CREDIT;
        }
    }
}

crate::bi::bi_entity! {
    /// One row per country the store knows (every country a source or the configuration named): what
    /// every row's `country_iso3` refers to.
    pub struct BiCountry as COUNTRIES_BI {
        view: "bi_countries",
        export: "countries",
        from: "countries c",
        order: ["iso3"],
        filters: [Filter::new("country", "iso3", Countries)],
        columns: {
            iso3: Text = "c.iso3", "#country+code", "ISO 3166-1 alpha-3 code of the country.";
            iso2: Nullable<Text> = "c.iso2", "#country+code+iso2", "ISO 3166-1 alpha-2 code, when known.";
            name: Text = "c.name", "#country+name", "The country's name.";
        }
    }
}
