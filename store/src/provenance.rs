//! Datasets, resources, archived payloads and the fetch log: where every figure came from.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::models::{Dataset, DatasetInfo, Resource, ResourceInfo};
use crate::schema::{datasets, fetches, raw_payloads, resources};
use crate::{AnyConnection, StoreError, now_utc};

/// Inserts the dataset or brings it up to date, keyed by `source_key`.
pub fn upsert_dataset(conn: &mut AnyConnection, info: &DatasetInfo) -> Result<Dataset, StoreError> {
    let existing = datasets::table
        .filter(datasets::source_key.eq(&info.source_key))
        .select(Dataset::as_select())
        .first(conn)
        .optional()?;
    match existing {
        None => {
            diesel::insert_into(datasets::table).values(info).execute(conn)?;
        }
        Some(current) if !same_dataset(&current, info) => {
            diesel::update(datasets::table.find(current.id))
                .set((info, datasets::updated_at.eq(now_utc())))
                .execute(conn)?;
        }
        Some(current) => return Ok(current),
    }
    Ok(datasets::table.filter(datasets::source_key.eq(&info.source_key)).select(Dataset::as_select()).first(conn)?)
}

fn same_dataset(d: &Dataset, i: &DatasetInfo) -> bool {
    d.hdx_id == i.hdx_id
        && d.title == i.title
        && d.organisation == i.organisation
        && d.url == i.url
        && d.licence_id == i.licence_id
        && d.licence_title == i.licence_title
        && d.licence_url == i.licence_url
        && d.licence_other == i.licence_other
        && d.credit == i.credit
        && d.methodology == i.methodology
        && d.update_frequency_days == i.update_frequency_days
        && d.last_modified == i.last_modified
}

/// Inserts the resource or brings it up to date, keyed by (dataset, name).
pub fn upsert_resource(conn: &mut AnyConnection, dataset_id: i64, info: &ResourceInfo) -> Result<Resource, StoreError> {
    let find = |conn: &mut AnyConnection| {
        resources::table
            .filter(resources::dataset_id.eq(dataset_id))
            .filter(resources::name.eq(&info.name))
            .select(Resource::as_select())
            .first(conn)
            .optional()
    };
    let values = (
        resources::hdx_id.eq(&info.hdx_id),
        resources::url.eq(&info.url),
        resources::format.eq(&info.format),
        resources::last_modified.eq(info.last_modified),
    );
    match find(conn)? {
        None => {
            diesel::insert_into(resources::table)
                .values((resources::dataset_id.eq(dataset_id), resources::name.eq(&info.name), values))
                .execute(conn)?;
        }
        Some(r)
            if r.hdx_id != info.hdx_id
                || r.url != info.url
                || r.format != info.format
                || r.last_modified != info.last_modified =>
        {
            diesel::update(resources::table.find(r.id))
                .set((values, resources::updated_at.eq(now_utc())))
                .execute(conn)?;
        }
        Some(r) => return Ok(r),
    }
    find(conn)?.ok_or_else(|| StoreError::Invalid(format!("resource {} vanished after upsert", info.name)))
}

pub fn datasets_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<Dataset>, StoreError> {
    Ok(datasets::table.filter(datasets::id.eq_any(ids)).select(Dataset::as_select()).load(conn)?)
}

pub fn resources_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<Resource>, StoreError> {
    Ok(resources::table.filter(resources::id.eq_any(ids)).select(Resource::as_select()).load(conn)?)
}

/// Keeps the bytes a source served, once per content hash.
pub fn archive_payload(
    conn: &mut AnyConnection,
    sha256: &str,
    body: &[u8],
    content_type: Option<&str>,
    fetched_at: NaiveDateTime,
) -> Result<(), StoreError> {
    // Already archived (an unchanged source): do not send a payload of possibly hundreds of MB again.
    let archived = diesel::select(diesel::dsl::exists(raw_payloads::table.filter(raw_payloads::sha256.eq(sha256))))
        .get_result::<bool>(conn)?;
    if archived {
        return Ok(());
    }
    let row = (
        raw_payloads::sha256.eq(sha256),
        raw_payloads::byte_size.eq(body.len() as i64),
        raw_payloads::content_type.eq(content_type),
        raw_payloads::body.eq(body),
        raw_payloads::first_fetched_at.eq(fetched_at),
    );
    crate::on_backend!(conn, |c| diesel::insert_into(raw_payloads::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

pub fn load_payload(conn: &mut AnyConnection, sha256: &str) -> Result<Vec<u8>, StoreError> {
    Ok(raw_payloads::table.find(sha256).select(raw_payloads::body).first(conn)?)
}

/// One HTTP exchange with a source, as written to the fetch log.
#[derive(Debug, Clone)]
pub struct FetchRecord {
    pub run_id: Option<i64>,
    pub resource_id: Option<i64>,
    pub url: String,
    pub http_status: i32,
    pub not_modified: bool,
    pub payload_sha256: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub fetched_at: NaiveDateTime,
}

pub fn record_fetch(conn: &mut AnyConnection, f: &FetchRecord) -> Result<(), StoreError> {
    diesel::insert_into(fetches::table)
        .values((
            fetches::run_id.eq(f.run_id),
            fetches::resource_id.eq(f.resource_id),
            fetches::url.eq(&f.url),
            fetches::http_status.eq(f.http_status),
            fetches::not_modified.eq(f.not_modified),
            fetches::payload_sha256.eq(&f.payload_sha256),
            fetches::etag.eq(&f.etag),
            fetches::last_modified.eq(&f.last_modified),
            fetches::fetched_at.eq(f.fetched_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The validators and payload of the last successful fetch of `url`, for a conditional request.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedFetch {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub payload_sha256: String,
}

pub fn last_good_fetch(conn: &mut AnyConnection, url: &str) -> Result<Option<CachedFetch>, StoreError> {
    let row: Option<(Option<String>, Option<String>, Option<String>)> = fetches::table
        .filter(fetches::url.eq(url))
        .filter(fetches::http_status.eq(200))
        .filter(fetches::payload_sha256.is_not_null())
        .order(fetches::id.desc())
        .select((fetches::etag, fetches::last_modified, fetches::payload_sha256))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(etag, last_modified, sha)| {
        sha.map(|payload_sha256| CachedFetch { etag, last_modified, payload_sha256 })
    }))
}

/// How many datasets the store describes.
pub fn count_datasets(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(datasets::table.count().get_result(conn)?)
}
