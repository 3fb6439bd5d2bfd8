//! Countries and admin areas (with validity dates), and the lookups the API and matchers need.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use diesel::prelude::*;

use crate::models::{AdminArea, Country};
use crate::schema::{admin_areas, countries};
use crate::{AnyConnection, StoreError, WriteCounts, now_utc};

/// A country as a source names it.
#[derive(Debug, Clone, PartialEq)]
pub struct CountryInput {
    pub iso3: String,
    pub iso2: Option<String>,
    pub name: String,
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

pub fn upsert_countries(conn: &mut AnyConnection, rows: &[CountryInput]) -> Result<WriteCounts, StoreError> {
    let mut counts = WriteCounts::default();
    let iso3s: Vec<&str> = rows.iter().map(|r| r.iso3.as_str()).collect();
    let existing: HashMap<String, Country> = countries::table
        .filter(countries::iso3.eq_any(&iso3s))
        .select(Country::as_select())
        .load(conn)?
        .into_iter()
        .map(|c| (c.iso3.clone(), c))
        .collect();
    for row in rows {
        match existing.get(&row.iso3) {
            None => {
                diesel::insert_into(countries::table)
                    .values((
                        countries::iso3.eq(&row.iso3),
                        countries::iso2.eq(&row.iso2),
                        countries::name.eq(&row.name),
                    ))
                    .execute(conn)?;
                counts.inserted += 1;
            }
            Some(c) if c.name != row.name || c.iso2 != row.iso2 => {
                diesel::update(countries::table.find(&row.iso3))
                    .set((
                        countries::iso2.eq(&row.iso2),
                        countries::name.eq(&row.name),
                        countries::updated_at.eq(now_utc()),
                    ))
                    .execute(conn)?;
                counts.updated += 1;
            }
            Some(_) => counts.unchanged += 1,
        }
    }
    Ok(counts)
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
    let mut counts = WriteCounts::default();
    let country_codes: HashSet<&str> = rows.iter().map(|r| r.country_iso3.as_str()).collect();
    let country_codes: Vec<&str> = country_codes.into_iter().collect();
    let existing: Vec<AdminArea> = admin_areas::table
        .filter(admin_areas::country_iso3.eq_any(&country_codes))
        .select(AdminArea::as_select())
        .load(conn)?;
    let by_key: HashMap<(String, NaiveDate), &AdminArea> =
        existing.iter().map(|a| ((a.pcode.clone(), a.valid_from), a)).collect();
    let now = now_utc();
    let mut to_insert = Vec::new();
    for row in rows {
        match by_key.get(&(row.pcode.clone(), row.valid_from)) {
            None => to_insert.push((
                admin_areas::country_iso3.eq(&row.country_iso3),
                admin_areas::pcode.eq(&row.pcode),
                admin_areas::name.eq(&row.name),
                admin_areas::level.eq(row.level),
                admin_areas::parent_pcode.eq(&row.parent_pcode),
                admin_areas::valid_from.eq(row.valid_from),
                admin_areas::resource_id.eq(Some(resource_id)),
                admin_areas::run_id.eq(Some(run_id)),
                admin_areas::created_at.eq(now),
                admin_areas::updated_at.eq(now),
            )),
            Some(a)
                if a.name != row.name
                    || a.level != row.level
                    || a.parent_pcode != row.parent_pcode
                    || a.country_iso3 != row.country_iso3
                    || a.valid_to.is_some() =>
            {
                diesel::update(admin_areas::table.find(a.id))
                    .set((
                        admin_areas::name.eq(&row.name),
                        admin_areas::level.eq(row.level),
                        admin_areas::parent_pcode.eq(&row.parent_pcode),
                        admin_areas::country_iso3.eq(&row.country_iso3),
                        admin_areas::valid_to.eq(None::<NaiveDate>),
                        admin_areas::run_id.eq(Some(run_id)),
                        admin_areas::resource_id.eq(Some(resource_id)),
                        admin_areas::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                counts.updated += 1;
            }
            Some(_) => counts.unchanged += 1,
        }
    }
    for chunk in to_insert.chunks(1000) {
        crate::on_backend!(conn, |c| diesel::insert_into(admin_areas::table).values(chunk).execute(c))?;
    }
    counts.inserted += to_insert.len() as i64;

    // Close the areas this edition no longer lists.
    let listed: HashSet<(&str, NaiveDate)> = rows.iter().map(|r| (r.pcode.as_str(), r.valid_from)).collect();
    let mut edition_start: HashMap<&str, NaiveDate> = HashMap::new();
    for r in rows {
        let e = edition_start.entry(r.country_iso3.as_str()).or_insert(r.valid_from);
        *e = (*e).max(r.valid_from);
    }
    for a in &existing {
        let retired = a.valid_to.is_none() && !listed.contains(&(a.pcode.as_str(), a.valid_from));
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
