//! Rows as read from and written to the tables. GraphQL types live in `api`, not here.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = datasets)]
pub struct Dataset {
    pub id: i64,
    pub source_key: String,
    pub hdx_id: Option<String>,
    pub title: String,
    pub organisation: String,
    pub url: String,
    pub licence_id: String,
    pub licence_title: String,
    pub licence_url: Option<String>,
    pub licence_other: Option<String>,
    pub credit: String,
    pub methodology: Option<String>,
    pub update_frequency_days: Option<i32>,
    pub last_modified: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What a source says about the dataset it publishes; upserted by `source_key`.
#[derive(Debug, Clone, Insertable, AsChangeset, Queryable, Selectable, PartialEq)]
#[diesel(table_name = datasets, treat_none_as_null = true)]
pub struct DatasetInfo {
    pub source_key: String,
    pub hdx_id: Option<String>,
    pub title: String,
    pub organisation: String,
    pub url: String,
    pub licence_id: String,
    pub licence_title: String,
    pub licence_url: Option<String>,
    pub licence_other: Option<String>,
    pub credit: String,
    pub methodology: Option<String>,
    pub update_frequency_days: Option<i32>,
    pub last_modified: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = resources)]
pub struct Resource {
    pub id: i64,
    pub dataset_id: i64,
    pub hdx_id: Option<String>,
    pub name: String,
    pub url: String,
    pub format: String,
    pub last_modified: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A resource of a dataset; upserted by (dataset, name).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInfo {
    pub hdx_id: Option<String>,
    pub name: String,
    pub url: String,
    pub format: String,
    pub last_modified: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = ingest_runs)]
pub struct IngestRun {
    pub id: i64,
    pub source: String,
    pub params: String,
    pub trigger: String,
    pub requested_by: Option<String>,
    pub dry_run: bool,
    pub status: String,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub heartbeat_at: Option<NaiveDateTime>,
    pub fetched: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub error: Option<String>,
    pub cancel_requested: bool,
    /// `queued`, `fetching`, `parsing`, `writing` or `finished` (see `runs::phase`).
    pub phase: String,
    pub steps_done: i64,
    pub steps_total: Option<i64>,
    /// Source rows read so far.
    pub rows_so_far: i64,
    /// When the phase or progress was last written.
    pub progress_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = rejected_rows)]
pub struct RejectedRow {
    pub id: i64,
    pub run_id: i64,
    pub resource_id: Option<i64>,
    pub payload_sha256: Option<String>,
    pub row_number: i64,
    pub reason: String,
    pub raw: String,
    pub created_at: NaiveDateTime,
}

/// A source row refused by validation, kept with its reason for inspection.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub row_number: i64,
    pub reason: String,
    pub raw: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = countries, primary_key(iso3))]
pub struct Country {
    pub iso3: String,
    pub iso2: Option<String>,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = admin_areas)]
pub struct AdminArea {
    pub id: i64,
    pub country_iso3: String,
    pub pcode: String,
    pub name: String,
    pub level: i32,
    pub parent_pcode: Option<String>,
    pub parent_id: Option<i64>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub resource_id: Option<i64>,
    pub run_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// One IDP figure as stored, at the source's grain (one reason, one origin).
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = idp_figures)]
pub struct IdpFigureRow {
    pub id: i64,
    pub country_iso3: String,
    pub admin_level: i32,
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub source_pcode: String,
    pub source_name: String,
    pub operation: String,
    pub round_number: i32,
    pub reporting_date: NaiveDate,
    pub assessment_type: String,
    pub displacement_reason: String,
    pub origin_pcode: String,
    pub origin_name: String,
    pub individuals: i64,
    pub males: Option<i64>,
    pub females: Option<i64>,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}
