//! Reading the catalog: datasets, their resources, and the ingest runs that read them (through the
//! fetch log), so that every figure can be traced back to what was published and when it was read.

use diesel::prelude::*;

use crate::models::{Dataset, IngestRun, Resource};
use crate::schema::{datasets, fetches, ingest_runs, resources};
use crate::{AnyConnection, StoreError};

/// Every dataset, by title.
pub fn all_datasets(conn: &mut AnyConnection) -> Result<Vec<Dataset>, StoreError> {
    Ok(datasets::table.order((datasets::title, datasets::id)).select(Dataset::as_select()).load(conn)?)
}

/// One dataset by our id.
pub fn dataset_by_id(conn: &mut AnyConnection, id: i64) -> Result<Option<Dataset>, StoreError> {
    Ok(datasets::table.find(id).select(Dataset::as_select()).first(conn).optional()?)
}

/// One dataset by our key, e.g. `hdx:cod-ps-mli`.
pub fn dataset_by_key(conn: &mut AnyConnection, key: &str) -> Result<Option<Dataset>, StoreError> {
    Ok(datasets::table.filter(datasets::source_key.eq(key)).select(Dataset::as_select()).first(conn).optional()?)
}

/// Some datasets by our keys (those the store holds).
pub fn datasets_by_keys(conn: &mut AnyConnection, keys: &[String]) -> Result<Vec<Dataset>, StoreError> {
    Ok(datasets::table.filter(datasets::source_key.eq_any(keys)).select(Dataset::as_select()).load(conn)?)
}

/// The resources of some datasets, by name.
pub fn resources_of_datasets(conn: &mut AnyConnection, dataset_ids: &[i64]) -> Result<Vec<Resource>, StoreError> {
    Ok(resources::table
        .filter(resources::dataset_id.eq_any(dataset_ids))
        .order((resources::dataset_id, resources::name))
        .select(Resource::as_select())
        .load(conn)?)
}

/// One resource of a dataset by name, as last recorded.
pub fn find_resource(conn: &mut AnyConnection, dataset_id: i64, name: &str) -> Result<Option<Resource>, StoreError> {
    Ok(resources::table
        .filter(resources::dataset_id.eq(dataset_id))
        .filter(resources::name.eq(name))
        .select(Resource::as_select())
        .first(conn)
        .optional()?)
}

/// (dataset id, run) for every run that fetched a resource of one of the datasets, newest run first.
pub fn runs_of_datasets(conn: &mut AnyConnection, dataset_ids: &[i64]) -> Result<Vec<(i64, IngestRun)>, StoreError> {
    let pairs: Vec<(i64, i64)> = fetches::table
        .inner_join(resources::table.on(fetches::resource_id.eq(resources::id.nullable())))
        .filter(resources::dataset_id.eq_any(dataset_ids))
        .filter(fetches::run_id.is_not_null())
        .select((resources::dataset_id, fetches::run_id.assume_not_null()))
        .distinct()
        .load(conn)?;
    let run_ids: Vec<i64> = pairs.iter().map(|(_, r)| *r).collect();
    let runs: std::collections::HashMap<i64, IngestRun> = ingest_runs::table
        .filter(ingest_runs::id.eq_any(&run_ids))
        .select(IngestRun::as_select())
        .load(conn)?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let mut out: Vec<(i64, IngestRun)> =
        pairs.into_iter().filter_map(|(d, r)| runs.get(&r).map(|run| (d, run.clone()))).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.id.cmp(&a.1.id)));
    Ok(out)
}

/// When `url` was last downloaded in full (HTTP 200) and the payload it gave: a source whose catalog
/// says it has not changed since then need not be downloaded again.
pub fn last_download(
    conn: &mut AnyConnection,
    url: &str,
) -> Result<Option<(chrono::NaiveDateTime, String)>, StoreError> {
    let row: Option<(chrono::NaiveDateTime, Option<String>)> = fetches::table
        .filter(fetches::url.eq(url))
        .filter(fetches::http_status.eq(200))
        .filter(fetches::payload_sha256.is_not_null())
        .order(fetches::id.desc())
        .select((fetches::fetched_at, fetches::payload_sha256))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(at, sha)| sha.map(|s| (at, s))))
}
