//! Conflict events (ACLED's aggregated workbooks on HDX): per month and admin 2 area, the number of
//! political violence events, civilian targeting events and demonstrations, and the fatalities ACLED
//! reports for the first two. The three are ACLED's own aggregates, from three workbooks: civilian
//! targeting events are also political violence events, so never add the event types together.
//!
//! Licence: ACLED's terms of use forbid redistributing its data. crisisgraph holds only what a run
//! read from ACLED's files on HDX; none is bundled with it.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::upsert::RunStamp;
use crate::{AnyConnection, StoreError};

// The theme's table, declared here (not in `schema.rs`) so that a theme stays in its own module.
diesel::table! {
    conflict_events (id) {
        id -> BigInt,
        country_iso3 -> Text,
        admin_level -> Integer,
        area_id -> Nullable<BigInt>,
        area_matched -> Bool,
        source_pcode -> Text,
        source_admin1_pcode -> Text,
        source_admin1_name -> Text,
        source_admin2_name -> Text,
        month -> Date,
        event_type -> Text,
        events -> BigInt,
        fatalities -> Nullable<BigInt>,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

/// ACLED's event types, as `event_type` stores them (HAPI's codes).
pub mod event_type {
    /// Political violence events (battles, violence against civilians, explosions/remote violence).
    pub const POLITICAL_VIOLENCE: &str = "political_violence";
    /// Events targeting civilians (a part of political violence).
    pub const CIVILIAN_TARGETING: &str = "civilian_targeting";
    /// Demonstrations (protests and riots); ACLED gives no fatalities for them.
    pub const DEMONSTRATION: &str = "demonstration";
    /// All three.
    pub const ALL: [&str; 3] = [POLITICAL_VIOLENCE, CIVILIAN_TARGETING, DEMONSTRATION];
}

/// A month's figure as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = conflict_events)]
pub struct ConflictEventRow {
    pub id: i64,
    pub country_iso3: String,
    pub admin_level: i32,
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub source_pcode: String,
    pub source_admin1_pcode: String,
    pub source_admin1_name: String,
    pub source_admin2_name: String,
    pub month: NaiveDate,
    pub event_type: String,
    pub events: i64,
    pub fatalities: Option<i64>,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// A validated month's figure, written with [`crate::upsert::upsert`].
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = conflict_events, treat_none_as_null = true)]
pub struct ConflictEventInput {
    pub country_iso3: String,
    /// 2: ACLED's HRP sheets are by admin 2 area.
    pub admin_level: i32,
    /// The matched area; when `area_matched` is false, the nearest enclosing area known.
    pub area_id: Option<i64>,
    pub area_matched: bool,
    /// The workbook's `Admin2 Pcode`, as given.
    pub source_pcode: String,
    /// The workbook's `Admin1 Pcode`, as given.
    pub source_admin1_pcode: String,
    /// The workbook's `Admin1` name.
    pub source_admin1_name: String,
    /// The workbook's `Admin2` name.
    pub source_admin2_name: String,
    /// The first day of the month the figure is for.
    pub month: NaiveDate,
    /// One of [`event_type`].
    pub event_type: String,
    pub events: i64,
    /// None for demonstrations (the workbook has no fatalities column).
    pub fatalities: Option<i64>,
    pub resource_id: i64,
}

crate::keyed_table! {
    ConflictEventInput in conflict_events,
    id: id: i64,
    key: (country_iso3: String, source_pcode: String, month: NaiveDate, event_type: String),
    scope: country_iso3: String,
    stamp: |s: RunStamp| (conflict_events::run_id.eq(s.run_id), conflict_events::retrieved_at.eq(s.retrieved_at)),
}

/// Which figures to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ConflictEventFilter {
    pub country_iso3: Option<String>,
    pub admin_level: Option<i32>,
    /// Only figures of these areas (a subtree: an area and every area inside it).
    pub area_ids: Option<Vec<i64>>,
    /// Months from this day (the month containing it, inclusive).
    pub from: Option<NaiveDate>,
    /// Months up to this day (inclusive: a month counts when it starts on or before it).
    pub to: Option<NaiveDate>,
    /// One of [`event_type`].
    pub event_type: Option<String>,
}

impl ConflictEventFilter {
    /// The first day of `from`'s month: a month is in the range when it starts within it or `from`
    /// falls inside it.
    fn first_month(&self) -> Option<NaiveDate> {
        self.from.and_then(|d| NaiveDate::from_ymd_opt(chrono::Datelike::year(&d), chrono::Datelike::month(&d), 1))
    }
}

macro_rules! conflict_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &ConflictEventFilter = $filter;
        let mut query = $query;
        if let Some(iso3) = &filter.country_iso3 {
            query = query.filter(conflict_events::country_iso3.eq(iso3.clone()));
        }
        if let Some(level) = filter.admin_level {
            query = query.filter(conflict_events::admin_level.eq(level));
        }
        if let Some(ids) = &filter.area_ids {
            query = query.filter(conflict_events::area_id.eq_any(ids.clone()));
        }
        if let Some(from) = filter.first_month() {
            query = query.filter(conflict_events::month.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(conflict_events::month.le(to));
        }
        if let Some(t) = &filter.event_type {
            query = query.filter(conflict_events::event_type.eq(t.clone()));
        }
        query
    }};
}

crate::paging::figure_list! {
    /// The conflict event figures, in the order they were written.
    pub struct ConflictEvents {
        table: conflict_events,
        row: ConflictEventRow,
        filter: ConflictEventFilter,
        apply: conflict_filter,
        within: |filter, area_ids, pcode| filter.area_ids = Some(area_ids),
    }
}

/// Every figure of a country, in the order written.
pub fn conflict_events_of_country(conn: &mut AnyConnection, iso3: &str) -> Result<Vec<ConflictEventRow>, StoreError> {
    Ok(conflict_events::table
        .filter(conflict_events::country_iso3.eq(iso3))
        .order(conflict_events::id.asc())
        .select(ConflictEventRow::as_select())
        .load(conn)?)
}

/// Figures by their row ids.
pub fn conflict_events_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<ConflictEventRow>, StoreError> {
    Ok(conflict_events::table
        .filter(conflict_events::id.eq_any(ids))
        .select(ConflictEventRow::as_select())
        .load(conn)?)
}

/// How many figures the store holds (for the sources' status).
pub fn count_conflict_events(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(conflict_events::table.count().get_result(conn)?)
}

crate::bi::bi_entity! {
    /// One row per country, admin 2 area, month and event type (ACLED's aggregated workbooks): events
    /// and fatalities. Never add event types together: civilian targeting events are also political
    /// violence events. Months without events are rows with 0 events. ACLED's terms of use apply to
    /// every row (no redistribution of the data; credit ACLED).
    pub struct BiConflictEvent as CONFLICT_EVENTS_BI {
        view: "bi_conflict_events",
        export: "conflict_events",
        from: "conflict_events e\nJOIN countries c ON c.iso3 = e.country_iso3\nJOIN resources r ON r.id = e.resource_id\n\
               JOIN datasets d ON d.id = r.dataset_id\nLEFT JOIN admin_areas a ON a.id = e.area_id",
        view_appended: ["area_valid_from"],
        order: ["country_iso3", "month", "source_pcode", "event_type"],
        period: "month",
        filters: [
            Filter::new("country", "country_iso3", Countries),
            Filter::new("pcode", "area_pcode", Within),
            Filter::new("from", "month", OnOrAfter),
            Filter::new("to", "month", OnOrBefore),
            Filter::new("event_type", "event_type", Equals),
        ],
        columns: {
            country_iso3: Text = "e.country_iso3", "#country+code", "ISO 3166-1 alpha-3 code of the country.";
            country_name: Text = "c.name", "#country+name", "The country's name.";
            month: Date = "e.month", "#date+start", "The first day of the month the figures are for.";
            event_type: Text = "e.event_type", "#event+type", "`political_violence`, `civilian_targeting` (also counted in political violence) or `demonstration`.";
            admin_level: Integer = "e.admin_level", "#adm+level", "2: ACLED's workbooks are by admin 2 area.";
            area_pcode: Nullable<Text> = "a.pcode", "#adm2+code", "The p-code of the area (the nearest enclosing one when `area_matched` is false).";
            area_name: Nullable<Text> = "a.name", "#adm2+name", "That area's name.";
            area_valid_from: Nullable<Date> = "a.valid_from", "#date+start+boundaries", "First day of the area's boundary edition: with `area_pcode`, the key of the area among the admin areas.";
            area_matched: Bool = "e.area_matched", "#meta+matched", "Whether the source's code matched a p-code we know.";
            source_pcode: Text = "e.source_pcode", "#adm2+code+provider", "The admin 2 p-code as ACLED gives it.";
            source_admin1_pcode: Text = "e.source_admin1_pcode", "#adm1+code+provider", "The admin 1 p-code as ACLED gives it.";
            source_admin1_name: Text = "e.source_admin1_name", "#adm1+name+provider", "The admin 1 name as ACLED gives it.";
            source_admin2_name: Text = "e.source_admin2_name", "#adm2+name+provider", "The admin 2 name as ACLED gives it.";
            events: BigInt = "e.events", "#affected+events", "Number of events in the month (0: none).";
            fatalities: Nullable<BigInt> = "e.fatalities", "#affected+killed", "Reported fatalities; empty for demonstrations (ACLED gives none).";
            dataset: Text = "d.source_key", "#meta+dataset+id", crate::bi::provenance::DATASET;
            dataset_title: Text = "d.title", "#meta+dataset+title", crate::bi::provenance::DATASET_TITLE;
            licence: Text = "d.licence_title", "#meta+licence", crate::bi::provenance::LICENCE;
            licence_url: Nullable<Text> = "d.licence_url", "#meta+licence+url", crate::bi::provenance::LICENCE_URL;
            credit: Text = "d.credit", "#meta+source", crate::bi::provenance::CREDIT;
            resource_url: Text = "r.url", "#meta+url", crate::bi::provenance::RESOURCE_URL;
            ingest_run_id: BigInt = "e.run_id", "#meta+run+id", crate::bi::provenance::INGEST_RUN_ID;
            retrieved_at: Timestamp = "e.retrieved_at", "#date+retrieved", crate::bi::provenance::RETRIEVED_AT;
        }
    }
}
