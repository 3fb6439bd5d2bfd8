//! Operational presence (3W): organisations, and which of them works in which area and sector.
//!
//! An organisation is one row per canonical acronym and name (its `match_key`, compared without
//! case, accents or punctuation); the first spelling written is kept, so re-ingesting one country
//! never rewrites what another country's file wrote. A presence row is keyed by country, the source's
//! area code, organisation and sector, and written with [`crate::upsert::upsert`].

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::upsert::RunStamp;
use crate::{AnyConnection, StoreError, WriteCounts};

// The theme's table, declared here (not in `schema.rs`) so that a theme stays in its own module.
diesel::table! {
    organisations (id) {
        id -> BigInt,
        match_key -> Text,
        acronym -> Text,
        name -> Text,
        org_type_code -> Nullable<Text>,
        org_type -> Nullable<Text>,
    }
}

diesel::table! {
    operational_presence (id) {
        id -> BigInt,
        country_iso3 -> Text,
        admin_level -> Integer,
        source_pcode -> Text,
        area_id -> Nullable<BigInt>,
        area_matched -> Bool,
        organisation_id -> BigInt,
        sector_code -> Text,
        source_sector -> Text,
        source_rows -> Integer,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

diesel::joinable!(operational_presence -> organisations (organisation_id));
diesel::allow_tables_to_appear_in_same_query!(operational_presence, organisations);

/// An organisation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Queryable, Selectable, Identifiable)]
#[diesel(table_name = organisations)]
pub struct OrganisationRow {
    pub id: i64,
    pub match_key: String,
    pub acronym: String,
    pub name: String,
    pub org_type_code: Option<String>,
    pub org_type: Option<String>,
}

/// A canonical organisation from a source.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = organisations)]
pub struct OrganisationInput {
    pub match_key: String,
    pub acronym: String,
    pub name: String,
    pub org_type_code: Option<String>,
    pub org_type: Option<String>,
}

/// Writes the organisations a run needs and returns every one's id by `match_key`: a new one is
/// inserted; a stored one keeps its spelling, and gains a type only when it had none. The counts
/// are those of the organisations table.
pub fn ensure_organisations(
    conn: &mut AnyConnection,
    rows: &[OrganisationInput],
) -> Result<(WriteCounts, HashMap<String, i64>), StoreError> {
    let mut counts = WriteCounts::default();
    let mut stored: HashMap<String, OrganisationRow> = HashMap::new();
    let keys: Vec<String> = rows.iter().map(|r| r.match_key.clone()).collect();
    for chunk in keys.chunks(500) {
        for row in organisations::table
            .filter(organisations::match_key.eq_any(chunk))
            .select(OrganisationRow::as_select())
            .load(conn)?
        {
            stored.insert(row.match_key.clone(), row);
        }
    }
    let mut new = Vec::new();
    for row in rows {
        match stored.get(&row.match_key) {
            None => new.push(row),
            Some(current) if current.org_type_code.is_none() && row.org_type_code.is_some() => {
                diesel::update(organisations::table.find(current.id))
                    .set((
                        organisations::org_type_code.eq(row.org_type_code.clone()),
                        organisations::org_type.eq(row.org_type.clone()),
                    ))
                    .execute(conn)?;
                counts.updated += 1;
            }
            Some(_) => counts.unchanged += 1,
        }
    }
    for batch in new.chunks(crate::upsert::INSERT_BATCH) {
        let values: Vec<&OrganisationInput> = batch.to_vec();
        crate::on_backend!(conn, |c| diesel::insert_into(organisations::table).values(values).execute(c))?;
    }
    counts.inserted = new.len() as i64;
    let mut ids = HashMap::new();
    for chunk in keys.chunks(500) {
        for (id, key) in organisations::table
            .filter(organisations::match_key.eq_any(chunk))
            .select((organisations::id, organisations::match_key))
            .load::<(i64, String)>(conn)?
        {
            ids.insert(key, id);
        }
    }
    Ok((counts, ids))
}

/// A presence as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = operational_presence)]
pub struct PresenceRow {
    pub id: i64,
    pub country_iso3: String,
    pub admin_level: i32,
    pub source_pcode: String,
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub organisation_id: i64,
    pub sector_code: String,
    pub source_sector: String,
    pub source_rows: i32,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// A presence from a source, keyed by (country, source area code, organisation, sector).
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = operational_presence, treat_none_as_null = true)]
pub struct PresenceInput {
    pub country_iso3: String,
    pub admin_level: i32,
    pub source_pcode: String,
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub organisation_id: i64,
    pub sector_code: String,
    pub source_sector: String,
    pub source_rows: i32,
    pub resource_id: i64,
}

crate::keyed_table! {
    PresenceInput in operational_presence,
    id: id: i64,
    key: (country_iso3: String, source_pcode: String, organisation_id: i64, sector_code: String),
    scope: country_iso3: String,
    stamp: |s: RunStamp| (operational_presence::run_id.eq(s.run_id), operational_presence::retrieved_at.eq(s.retrieved_at)),
}

/// Which presences to read.
#[derive(Debug, Clone, Default)]
pub struct PresenceFilter {
    pub country_iso3: Option<String>,
    /// Presences whose area is one of these (the caller passes an area and its descendants).
    pub area_ids: Option<Vec<i64>>,
    pub sector_code: Option<String>,
    /// Presences of these organisations.
    pub organisation_ids: Option<Vec<i64>>,
}

macro_rules! presence_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &PresenceFilter = $filter;
        let mut query = $query;
        if let Some(iso3) = &filter.country_iso3 {
            query = query.filter(operational_presence::country_iso3.eq(iso3.clone()));
        }
        if let Some(ids) = &filter.area_ids {
            query = query.filter(operational_presence::area_id.eq_any(ids.clone()));
        }
        if let Some(code) = &filter.sector_code {
            query = query.filter(operational_presence::sector_code.eq(code.clone()));
        }
        if let Some(ids) = &filter.organisation_ids {
            query = query.filter(operational_presence::organisation_id.eq_any(ids.clone()));
        }
        query
    }};
}

/// The `size` presences matching `filter` after the row id `after` (keyset paging, by row id), and
/// whether presences lie before and after the page.
pub fn presence_page(
    conn: &mut AnyConnection,
    filter: &PresenceFilter,
    after: Option<i64>,
    size: usize,
) -> Result<(Vec<PresenceRow>, bool, bool), StoreError> {
    let mut query = presence_filter!(operational_presence::table.select(PresenceRow::as_select()).into_boxed(), filter);
    if let Some(after) = after {
        query = query.filter(operational_presence::id.gt(after));
    }
    let rows: Vec<PresenceRow> =
        query.order(operational_presence::id.asc()).limit(crate::paging::probe_limit(size)).load(conn)?;
    let (rows, has_next) = crate::paging::split_page(rows, size);
    let has_previous = match after {
        Some(after) => {
            !presence_filter!(operational_presence::table.select(operational_presence::id).into_boxed(), filter)
                .filter(operational_presence::id.le(after))
                .limit(1)
                .load::<i64>(conn)?
                .is_empty()
        }
        None => false,
    };
    Ok((rows, has_previous, has_next))
}

/// How many presences match `filter`.
pub fn count_presence(conn: &mut AnyConnection, filter: &PresenceFilter) -> Result<i64, StoreError> {
    Ok(presence_filter!(operational_presence::table.count().into_boxed(), filter).get_result(conn)?)
}

/// Every presence row (`crisisgraph sources`, GraphQL `sources`).
pub fn count_all_presence(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    count_presence(conn, &PresenceFilter::default())
}

/// The distinct organisations of the presences matching `filter`, by acronym then name.
pub fn organisations_present(
    conn: &mut AnyConnection,
    filter: &PresenceFilter,
) -> Result<Vec<OrganisationRow>, StoreError> {
    let ids: Vec<i64> = presence_filter!(
        operational_presence::table.select(operational_presence::organisation_id).distinct().into_boxed(),
        filter
    )
    .load(conn)?;
    organisations_by_ids(conn, &ids)
}

/// Organisations by their row ids, by acronym then name.
pub fn organisations_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<OrganisationRow>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        out.extend(
            organisations::table
                .filter(organisations::id.eq_any(chunk))
                .select(OrganisationRow::as_select())
                .load(conn)?,
        );
    }
    out.sort_by(|a, b| (a.acronym.to_lowercase(), &a.name, a.id).cmp(&(b.acronym.to_lowercase(), &b.name, b.id)));
    Ok(out)
}

/// Organisations whose acronym or name contains `search` (any case; every organisation without
/// it), by acronym then name.
pub fn search_organisations(
    conn: &mut AnyConnection,
    search: Option<&str>,
) -> Result<Vec<OrganisationRow>, StoreError> {
    let mut rows: Vec<OrganisationRow> = organisations::table.select(OrganisationRow::as_select()).load(conn)?;
    if let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) {
        let wanted = search.to_lowercase();
        rows.retain(|o| o.acronym.to_lowercase().contains(&wanted) || o.name.to_lowercase().contains(&wanted));
    }
    rows.sort_by(|a, b| (a.acronym.to_lowercase(), &a.name, a.id).cmp(&(b.acronym.to_lowercase(), &b.name, b.id)));
    Ok(rows)
}

/// The ids of the organisations an argument names: its acronym or its name, in any case.
pub fn organisation_ids_named(conn: &mut AnyConnection, acronym_or_name: &str) -> Result<Vec<i64>, StoreError> {
    let wanted = acronym_or_name.trim().to_lowercase();
    Ok(search_organisations(conn, None)?
        .into_iter()
        .filter(|o| o.acronym.to_lowercase() == wanted || o.name.to_lowercase() == wanted)
        .map(|o| o.id)
        .collect())
}

/// Presences by their row ids.
pub fn presence_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<PresenceRow>, StoreError> {
    Ok(operational_presence::table
        .filter(operational_presence::id.eq_any(ids))
        .select(PresenceRow::as_select())
        .load(conn)?)
}

crate::bi::bi_entity! {
    /// One row per organisation present in an area and sector, as a country's 3W reports it (at admin 2
    /// in Mali, admin 1 in Chad), with the organisation canonicalised (HDX HAPI's mapping) and typed.
    /// Count distinct organisations, never add rows up: one organisation is in many rows.
    pub struct BiPresence as PRESENCE_BI {
        view: "bi_operational_presence",
        export: "operational_presence",
        from: "operational_presence p\nJOIN organisations o ON o.id = p.organisation_id\n\
               JOIN countries c ON c.iso3 = p.country_iso3\nJOIN resources r ON r.id = p.resource_id\n\
               JOIN datasets d ON d.id = r.dataset_id\nLEFT JOIN admin_areas a ON a.id = p.area_id",
        view_appended: ["area_valid_from"],
        order: ["country_iso3", "source_pcode", "org_acronym", "org_name", "sector_code"],
        period: undated,
        filters: [
            Filter::new("country", "country_iso3", Countries),
            Filter::new("pcode", "area_pcode", Within),
            Filter::new("sector", "sector_code", EqualsUpper),
            Filter::new("organisation", "org_acronym", Equals),
        ],
        columns: {
            country_iso3: Text = "p.country_iso3", "#country+code", "ISO 3166-1 alpha-3 code of the country.";
            country_name: Text = "c.name", "#country+name", "The country's name.";
            admin_level: Integer = "p.admin_level", "#adm+level", "The admin level the 3W reports the presence at.";
            area_pcode: Nullable<Text> = "a.pcode", "#adm+code", "The p-code of the area (the nearest enclosing one when the source's code matched none).";
            area_name: Nullable<Text> = "a.name", "#adm+name", "That area's name.";
            area_valid_from: Nullable<Date> = "a.valid_from", "#date+start+boundaries", "First day of the area's boundary edition: with `area_pcode`, the key of the area among the admin areas.";
            area_matched: Bool = "p.area_matched", "#meta+matched", "Whether the source's code matched a p-code we know.";
            source_pcode: Text = "p.source_pcode", "#adm+code+provider", "The area's code as the source gives it.";
            org_acronym: Text = "o.acronym", "#org+acronym", "The organisation's canonical acronym (HAPI's mapping; e.g. OIM is IOM).";
            org_name: Text = "o.name", "#org+name", "The organisation's canonical name.";
            org_type: Nullable<Text> = "o.org_type", "#org+type", "The organisation's type (OCHA's organisation types, e.g. International NGO).";
            sector_code: Text = "p.sector_code", "#sector+code", "The sector's code (global coordination groups; CSS coordination, MS multi-sector).";
            source_sector: Text = "p.source_sector", "#sector+name+provider", "The cluster as the source writes it.";
            source_rows: Integer = "p.source_rows", "#meta+count", "How many rows (activities) of the source report this presence.";
            dataset: Text = "d.source_key", "#meta+dataset+id", crate::bi::provenance::DATASET;
            dataset_title: Text = "d.title", "#meta+dataset+title", crate::bi::provenance::DATASET_TITLE;
            licence: Text = "d.licence_title", "#meta+licence", crate::bi::provenance::LICENCE;
            licence_url: Nullable<Text> = "d.licence_url", "#meta+licence+url", crate::bi::provenance::LICENCE_URL;
            credit: Text = "d.credit", "#meta+source", crate::bi::provenance::CREDIT;
            resource_url: Text = "r.url", "#meta+url", crate::bi::provenance::RESOURCE_URL;
            ingest_run_id: BigInt = "p.run_id", "#meta+run+id", crate::bi::provenance::INGEST_RUN_ID;
            retrieved_at: Timestamp = "p.retrieved_at", "#date+retrieved", crate::bi::provenance::RETRIEVED_AT;
        }
    }
}
