//! Datasets, resources, archived payloads and the fetch log: where every figure came from.

use std::io::{Read, Write};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::models::{Dataset, DatasetInfo, Resource, ResourceInfo};
use crate::schema::{admin_areas, applied_payloads, datasets, fetches, raw_payload_chunks, raw_payloads, resources};
use crate::upsert::upsert;
use crate::{AnyConnection, StoreError, now_utc};

crate::keyed_table! {
    DatasetInfo in datasets,
    id: id: i64,
    key: (source_key: String),
    scope: source_key: String,
    stamp: |updated_at: NaiveDateTime| datasets::updated_at.eq(*updated_at),
}

/// A resource as written, keyed by (dataset, name).
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = resources, treat_none_as_null = true)]
struct NewResource {
    dataset_id: i64,
    hdx_id: Option<String>,
    name: String,
    url: String,
    format: String,
    last_modified: Option<NaiveDateTime>,
}

crate::keyed_table! {
    NewResource in resources,
    id: id: i64,
    key: (dataset_id: i64, name: String),
    scope: dataset_id: i64,
    stamp: |updated_at: NaiveDateTime| resources::updated_at.eq(*updated_at),
}

/// Inserts the dataset or brings it up to date, keyed by `source_key`.
pub fn upsert_dataset(conn: &mut AnyConnection, info: &DatasetInfo) -> Result<Dataset, StoreError> {
    upsert(conn, std::slice::from_ref(info), &now_utc())?;
    Ok(datasets::table.filter(datasets::source_key.eq(&info.source_key)).select(Dataset::as_select()).first(conn)?)
}

/// Inserts the resource of a dataset or brings it up to date, keyed by (dataset, name).
pub fn upsert_resource(conn: &mut AnyConnection, dataset_id: i64, info: &ResourceInfo) -> Result<Resource, StoreError> {
    let row = NewResource {
        dataset_id,
        hdx_id: info.hdx_id.clone(),
        name: info.name.clone(),
        url: info.url.clone(),
        format: info.format.clone(),
        last_modified: info.last_modified,
    };
    upsert(conn, std::slice::from_ref(&row), &now_utc())?;
    Ok(resources::table
        .filter(resources::dataset_id.eq(dataset_id))
        .filter(resources::name.eq(&info.name))
        .select(Resource::as_select())
        .first(conn)?)
}

/// The dataset keyed by `info.source_key`, inserted if the store has none, and as `info` describes it.
/// An existing row is not changed here: a run applies `info` in its data transaction
/// ([`PendingProvenance`]), so that a run that fails or is rolled back changes nothing.
pub fn ensure_dataset(conn: &mut AnyConnection, info: &DatasetInfo) -> Result<Dataset, StoreError> {
    let find = |conn: &mut AnyConnection| {
        datasets::table.filter(datasets::source_key.eq(&info.source_key)).select(Dataset::as_select()).first(conn)
    };
    let stored = match find(conn).optional()? {
        Some(d) => d,
        None => {
            diesel::insert_into(datasets::table).values(info).execute(conn)?;
            find(conn)?
        }
    };
    Ok(Dataset {
        hdx_id: info.hdx_id.clone(),
        title: info.title.clone(),
        organisation: info.organisation.clone(),
        url: info.url.clone(),
        licence_id: info.licence_id.clone(),
        licence_title: info.licence_title.clone(),
        licence_url: info.licence_url.clone(),
        licence_other: info.licence_other.clone(),
        credit: info.credit.clone(),
        methodology: info.methodology.clone(),
        update_frequency_days: info.update_frequency_days,
        last_modified: info.last_modified,
        ..stored
    })
}

/// The resource (dataset, `info.name`), inserted if the store has none, and as `info` describes it;
/// an existing row is not changed here (see [`ensure_dataset`]).
pub fn ensure_resource(conn: &mut AnyConnection, dataset_id: i64, info: &ResourceInfo) -> Result<Resource, StoreError> {
    let find = |conn: &mut AnyConnection| {
        resources::table
            .filter(resources::dataset_id.eq(dataset_id))
            .filter(resources::name.eq(&info.name))
            .select(Resource::as_select())
            .first(conn)
    };
    let stored = match find(conn).optional()? {
        Some(r) => r,
        None => {
            upsert_resource(conn, dataset_id, info)?;
            find(conn)?
        }
    };
    Ok(Resource {
        hdx_id: info.hdx_id.clone(),
        url: info.url.clone(),
        format: info.format.clone(),
        last_modified: info.last_modified,
        ..stored
    })
}

/// What a run learnt about its datasets and resources, written with its data: inside the data
/// transaction, so that it is kept exactly when the data is (not for dry, failed or cancelled runs).
#[derive(Debug, Clone, Default)]
pub struct PendingProvenance {
    datasets: Vec<DatasetInfo>,
    resources: Vec<(i64, ResourceInfo)>,
}

impl PendingProvenance {
    pub fn dataset(&mut self, info: DatasetInfo) {
        if !self.datasets.contains(&info) {
            self.datasets.push(info);
        }
    }

    pub fn resource(&mut self, dataset_id: i64, info: ResourceInfo) {
        if !self.resources.iter().any(|(d, r)| *d == dataset_id && *r == info) {
            self.resources.push((dataset_id, info));
        }
    }

    /// Brings the datasets and resources up to date; call it in the run's data transaction.
    pub fn apply(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        for info in &self.datasets {
            upsert_dataset(conn, info)?;
        }
        for (dataset_id, info) in &self.resources {
            upsert_resource(conn, *dataset_id, info)?;
        }
        Ok(())
    }
}

pub fn datasets_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<Dataset>, StoreError> {
    Ok(datasets::table.filter(datasets::id.eq_any(ids)).select(Dataset::as_select()).load(conn)?)
}

pub fn resources_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<Resource>, StoreError> {
    Ok(resources::table.filter(resources::id.eq_any(ids)).select(Resource::as_select()).load(conn)?)
}

/// Size of one archived chunk: large enough for few round trips, small enough to never matter in memory.
pub const PAYLOAD_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// Keeps the bytes a source served, once per content hash. A convenience over
/// [`archive_payload_from`] for payloads already in memory (the bundled sample).
pub fn archive_payload(
    conn: &mut AnyConnection,
    sha256: &str,
    body: &[u8],
    content_type: Option<&str>,
    fetched_at: NaiveDateTime,
) -> Result<(), StoreError> {
    let mut reader = body;
    archive_payload_from(conn, sha256, body.len() as u64, &mut reader, content_type, fetched_at).map(|_| ())
}

/// Keeps the `byte_size` bytes read from `body` under `sha256`, in chunks of [`PAYLOAD_CHUNK_BYTES`],
/// so that a payload of hundreds of MB is never held in memory. Returns false (and reads nothing) when
/// the payload is already archived. Run it in a transaction: a payload is archived whole or not at all.
pub fn archive_payload_from(
    conn: &mut AnyConnection,
    sha256: &str,
    byte_size: u64,
    body: &mut dyn Read,
    content_type: Option<&str>,
    fetched_at: NaiveDateTime,
) -> Result<bool, StoreError> {
    let archived = diesel::select(diesel::dsl::exists(raw_payloads::table.filter(raw_payloads::sha256.eq(sha256))))
        .get_result::<bool>(conn)?;
    if archived {
        return Ok(false);
    }
    let header = (
        raw_payloads::sha256.eq(sha256),
        raw_payloads::byte_size.eq(i64::try_from(byte_size).unwrap_or(i64::MAX)),
        raw_payloads::content_type.eq(content_type),
        raw_payloads::body.eq(&[] as &[u8]),
        raw_payloads::first_fetched_at.eq(fetched_at),
    );
    diesel::insert_into(raw_payloads::table).values(header).execute(conn)?;
    let mut buffer = vec![0u8; PAYLOAD_CHUNK_BYTES];
    let mut seq = 0i32;
    let mut total = 0u64;
    loop {
        let filled = fill(body, &mut buffer).map_err(|e| StoreError::Invalid(format!("reading the payload: {e}")))?;
        if filled == 0 {
            break;
        }
        total += filled as u64;
        diesel::insert_into(raw_payload_chunks::table)
            .values((
                raw_payload_chunks::sha256.eq(sha256),
                raw_payload_chunks::seq.eq(seq),
                raw_payload_chunks::bytes.eq(&buffer[..filled]),
            ))
            .execute(conn)?;
        seq += 1;
    }
    if total != byte_size {
        return Err(StoreError::Invalid(format!("payload {sha256}: read {total} bytes, expected {byte_size}")));
    }
    Ok(true)
}

/// Reads until `buffer` is full or the input ends.
fn fill(reader: &mut dyn Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes the archived payload `sha256` to `out`, one chunk in memory at a time; returns its size.
/// Reads payloads archived whole (before chunks existed) as well as chunked ones.
pub fn load_payload_into(conn: &mut AnyConnection, sha256: &str, out: &mut dyn Write) -> Result<u64, StoreError> {
    let io = |e: std::io::Error| StoreError::Invalid(format!("writing payload {sha256}: {e}"));
    let head: Vec<u8> = raw_payloads::table.find(sha256).select(raw_payloads::body).first(conn)?;
    out.write_all(&head).map_err(io)?;
    let mut total = head.len() as u64;
    drop(head);
    let chunks: i64 =
        raw_payload_chunks::table.filter(raw_payload_chunks::sha256.eq(sha256)).count().get_result(conn)?;
    for seq in 0..chunks {
        let seq = i32::try_from(seq).map_err(|_| StoreError::Invalid(format!("payload {sha256}: too many chunks")))?;
        let bytes: Vec<u8> =
            raw_payload_chunks::table.find((sha256, seq)).select(raw_payload_chunks::bytes).first(conn)?;
        out.write_all(&bytes).map_err(io)?;
        total += bytes.len() as u64;
    }
    Ok(total)
}

/// The archived payload `sha256`, in memory: for small payloads and tests.
pub fn load_payload(conn: &mut AnyConnection, sha256: &str) -> Result<Vec<u8>, StoreError> {
    let mut body = Vec::new();
    load_payload_into(conn, sha256, &mut body)?;
    Ok(body)
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

/// What a country's areas looked like: cheap to compute, and different after any change a geography
/// run makes to them (an insert raises the count and the largest id, an update or retirement the
/// latest `updated_at`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaFingerprint {
    pub count: i64,
    pub max_id: i64,
    pub max_updated_at: Option<NaiveDateTime>,
}

pub fn area_fingerprint(conn: &mut AnyConnection, iso3: &str) -> Result<AreaFingerprint, StoreError> {
    let (count, max_id, max_updated_at): (i64, Option<i64>, Option<NaiveDateTime>) = admin_areas::table
        .filter(admin_areas::country_iso3.eq(iso3))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::max(admin_areas::id),
            diesel::dsl::max(admin_areas::updated_at),
        ))
        .first(conn)?;
    Ok(AreaFingerprint { count, max_id: max_id.unwrap_or(0), max_updated_at })
}

/// A payload a run wrote for one country, and what it counted (see the `applied_payloads` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedPayload {
    pub source: String,
    pub country_iso3: String,
    pub url: String,
    pub payload_sha256: String,
    pub run_id: i64,
    pub resource_id: i64,
    /// Rows in the payload, valid or not.
    pub fetched_rows: i64,
    /// Valid rows, each stored (inserted, updated or found unchanged).
    pub stored_rows: i64,
    pub rejected_rows: i64,
    pub areas: AreaFingerprint,
}

type AppliedRow = (String, String, String, String, i64, i64, i64, i64, i64, i64, i64, Option<NaiveDateTime>);

/// The payloads last applied for `source` and `country`, per URL.
pub fn applied_payloads(
    conn: &mut AnyConnection,
    source: &str,
    country: &str,
) -> Result<Vec<AppliedPayload>, StoreError> {
    let rows: Vec<AppliedRow> = applied_payloads::table
        .filter(applied_payloads::source.eq(source))
        .filter(applied_payloads::country_iso3.eq(country))
        .select((
            applied_payloads::source,
            applied_payloads::country_iso3,
            applied_payloads::url,
            applied_payloads::payload_sha256,
            applied_payloads::run_id,
            applied_payloads::resource_id,
            applied_payloads::fetched_rows,
            applied_payloads::stored_rows,
            applied_payloads::rejected_rows,
            applied_payloads::area_count,
            applied_payloads::area_max_id,
            applied_payloads::area_max_updated_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| AppliedPayload {
            source: r.0,
            country_iso3: r.1,
            url: r.2,
            payload_sha256: r.3,
            run_id: r.4,
            resource_id: r.5,
            fetched_rows: r.6,
            stored_rows: r.7,
            rejected_rows: r.8,
            areas: AreaFingerprint { count: r.9, max_id: r.10, max_updated_at: r.11 },
        })
        .collect())
}

/// Records (or replaces) what a run applied for one source, country and URL. Call it in the run's
/// write transaction, so that it is kept exactly when the data is (not for dry or failed runs).
pub fn record_applied_payload(conn: &mut AnyConnection, applied: &AppliedPayload) -> Result<(), StoreError> {
    diesel::delete(
        applied_payloads::table
            .filter(applied_payloads::source.eq(&applied.source))
            .filter(applied_payloads::country_iso3.eq(&applied.country_iso3))
            .filter(applied_payloads::url.eq(&applied.url)),
    )
    .execute(conn)?;
    diesel::insert_into(applied_payloads::table)
        .values((
            applied_payloads::source.eq(&applied.source),
            applied_payloads::country_iso3.eq(&applied.country_iso3),
            applied_payloads::url.eq(&applied.url),
            applied_payloads::payload_sha256.eq(&applied.payload_sha256),
            applied_payloads::run_id.eq(applied.run_id),
            applied_payloads::resource_id.eq(applied.resource_id),
            applied_payloads::fetched_rows.eq(applied.fetched_rows),
            applied_payloads::stored_rows.eq(applied.stored_rows),
            applied_payloads::rejected_rows.eq(applied.rejected_rows),
            applied_payloads::area_count.eq(applied.areas.count),
            applied_payloads::area_max_id.eq(applied.areas.max_id),
            applied_payloads::area_max_updated_at.eq(applied.areas.max_updated_at),
            applied_payloads::applied_at.eq(now_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// For a run that skipped the unchanged payload of `applied`: points at the rows `applied`'s run
/// rejected (instead of storing them again) and returns how many it rejected, which the skipping run
/// reports as its own.
pub fn refer_to_rejections(conn: &mut AnyConnection, applied: &AppliedPayload, run_id: i64) -> Result<i64, StoreError> {
    if applied.rejected_rows > 0 {
        crate::runs::refer_to_rejections(
            conn,
            run_id,
            applied.run_id,
            applied.resource_id,
            &applied.payload_sha256,
            applied.rejected_rows,
        )?;
    }
    Ok(applied.rejected_rows)
}
