//! Ingest runs and the rows they rejected.

use diesel::prelude::*;

use crate::models::{IngestRun, RejectedRow, Rejection};
use crate::schema::{fetches, ingest_runs, raw_payloads, rejected_rows, rejection_references, run_changes};
use crate::{AnyConnection, StoreError, now_utc};

/// Run states, as stored in `ingest_runs.status`.
pub mod status {
    pub const RUNNING: &str = "running";
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";
    pub const INTERRUPTED: &str = "interrupted";
    pub const CANCELLED: &str = "cancelled";
}

/// Run phases, as stored in `ingest_runs.phase`: where a run is in its work. They only move forward,
/// except that a run of several countries goes through fetching, parsing and writing once per country.
pub mod phase {
    pub const QUEUED: &str = "queued";
    pub const FETCHING: &str = "fetching";
    pub const PARSING: &str = "parsing";
    pub const WRITING: &str = "writing";
    pub const FINISHED: &str = "finished";
}

/// A run's progress as it goes, written by the process running it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunProgress {
    pub phase: &'static str,
    pub steps_done: i64,
    pub steps_total: Option<i64>,
    pub rows_so_far: i64,
}

/// What one country (or unit of work) of a run committed, as `dataChanged` and webhooks report it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = run_changes)]
pub struct RunChange {
    pub run_id: i64,
    pub country: String,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub rejected: i64,
}

/// What starts a run: which source, with which parameters, on whose behalf.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub source: String,
    /// JSON object with the run's parameters (countries, options).
    pub params: String,
    /// cli | schedule | api | sample
    pub trigger: String,
    pub requested_by: Option<String>,
    pub dry_run: bool,
}

/// The totals a run reports when it ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunTotals {
    pub fetched: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub rejected: i64,
}

/// Records a new run in state `running` and returns it.
pub fn start_run(conn: &mut AnyConnection, request: &RunRequest) -> Result<IngestRun, StoreError> {
    let now = now_utc();
    diesel::insert_into(ingest_runs::table)
        .values((
            ingest_runs::source.eq(&request.source),
            ingest_runs::params.eq(&request.params),
            ingest_runs::trigger.eq(&request.trigger),
            ingest_runs::requested_by.eq(&request.requested_by),
            ingest_runs::dry_run.eq(request.dry_run),
            ingest_runs::status.eq(status::RUNNING),
            ingest_runs::started_at.eq(now),
            ingest_runs::heartbeat_at.eq(now),
        ))
        .execute(conn)?;
    let run = ingest_runs::table
        .filter(ingest_runs::source.eq(&request.source))
        .order(ingest_runs::id.desc())
        .select(IngestRun::as_select())
        .first(conn)?;
    Ok(run)
}

/// Ends a run with its final state, totals and error, unless someone else ended it first (it was
/// marked interrupted because its lease expired or its process was taken for dead): a final state is
/// only ever written over `running`. Returns the run as it now is; the caller compares its status.
pub fn finish_run(
    conn: &mut AnyConnection,
    run_id: i64,
    final_status: &str,
    totals: &RunTotals,
    error: Option<&str>,
) -> Result<IngestRun, StoreError> {
    diesel::update(ingest_runs::table.find(run_id).filter(ingest_runs::status.eq(status::RUNNING)))
        .set((
            ingest_runs::status.eq(final_status),
            ingest_runs::finished_at.eq(Some(now_utc())),
            ingest_runs::fetched.eq(totals.fetched),
            ingest_runs::inserted.eq(totals.inserted),
            ingest_runs::updated.eq(totals.updated),
            ingest_runs::unchanged.eq(totals.unchanged),
            ingest_runs::rejected.eq(totals.rejected),
            ingest_runs::error.eq(error),
            ingest_runs::phase.eq(phase::FINISHED),
            ingest_runs::rows_so_far.eq(totals.fetched),
            ingest_runs::progress_at.eq(Some(now_utc())),
        ))
        .execute(conn)?;
    find_run(conn, run_id)
}

/// Writes a running run's phase and progress (a run already ended is left alone).
pub fn record_progress(conn: &mut AnyConnection, run_id: i64, progress: &RunProgress) -> Result<(), StoreError> {
    diesel::update(ingest_runs::table.find(run_id).filter(ingest_runs::status.eq(status::RUNNING)))
        .set((
            ingest_runs::phase.eq(progress.phase),
            ingest_runs::steps_done.eq(progress.steps_done),
            ingest_runs::steps_total.eq(progress.steps_total),
            ingest_runs::rows_so_far.eq(progress.rows_so_far),
            ingest_runs::progress_at.eq(Some(now_utc())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records what each country of a run committed (once, when the run ends).
pub fn record_changes(conn: &mut AnyConnection, changes: &[RunChange]) -> Result<(), StoreError> {
    for change in changes {
        crate::on_backend!(conn, |c| diesel::insert_into(run_changes::table)
            .values(change)
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    Ok(())
}

/// What each country of run `run_id` committed, by country.
pub fn changes_of_run(conn: &mut AnyConnection, run_id: i64) -> Result<Vec<RunChange>, StoreError> {
    Ok(run_changes::table
        .filter(run_changes::run_id.eq(run_id))
        .order(run_changes::country.asc())
        .select(RunChange::as_select())
        .load(conn)?)
}

/// Runs whose phase or progress was written at or after `since` (and runs still running), oldest
/// first: how a SQLite server learns of runs another process (the CLI) makes.
pub fn runs_progressed_since(
    conn: &mut AnyConnection,
    since: chrono::NaiveDateTime,
) -> Result<Vec<IngestRun>, StoreError> {
    let mut runs = ingest_runs::table
        .filter(ingest_runs::progress_at.ge(since).or(ingest_runs::status.eq(status::RUNNING)))
        .order(ingest_runs::id.asc())
        .select(IngestRun::as_select())
        .load(conn)?;
    crate::leases::settle(conn, &mut runs)?;
    Ok(runs)
}

/// A payload a run fetched (or found unchanged): URL, HTTP status, size, hash and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPayload {
    pub url: String,
    pub http_status: i32,
    pub bytes: Option<i64>,
    pub sha256: Option<String>,
    pub fetched_at: chrono::NaiveDateTime,
}

/// A fetch log row with its payload's size: URL, status, hash, time, bytes.
type FetchRow = (String, i32, Option<String>, chrono::NaiveDateTime, Option<i64>);

/// What run `run_id` fetched, in order: from the fetch log, with each payload's size from the archive.
pub fn payloads_of_run(conn: &mut AnyConnection, run_id: i64) -> Result<Vec<FetchedPayload>, StoreError> {
    let rows: Vec<FetchRow> = fetches::table
        .left_join(raw_payloads::table.on(fetches::payload_sha256.eq(raw_payloads::sha256.nullable())))
        .filter(fetches::run_id.eq(run_id))
        .order(fetches::id.asc())
        .select((
            fetches::url,
            fetches::http_status,
            fetches::payload_sha256,
            fetches::fetched_at,
            raw_payloads::byte_size.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(url, http_status, sha256, fetched_at, bytes)| FetchedPayload {
            url,
            http_status,
            bytes,
            sha256,
            fetched_at,
        })
        .collect())
}

/// Runs by id, as every reader sees them (a run whose holder is gone shows as interrupted).
pub fn runs_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<IngestRun>, StoreError> {
    let mut runs = ingest_runs::table.filter(ingest_runs::id.eq_any(ids)).select(IngestRun::as_select()).load(conn)?;
    crate::leases::settle(conn, &mut runs)?;
    Ok(runs)
}

/// One run, as every reader sees it.
pub fn find_run(conn: &mut AnyConnection, run_id: i64) -> Result<IngestRun, StoreError> {
    let mut run = [ingest_runs::table.find(run_id).select(IngestRun::as_select()).first(conn)?];
    crate::leases::settle(conn, &mut run)?;
    let [run] = run;
    Ok(run)
}

/// One run as stored, if it exists (for the lease logic itself).
pub(crate) fn find_raw_run(conn: &mut AnyConnection, run_id: i64) -> Result<Option<IngestRun>, StoreError> {
    Ok(ingest_runs::table.find(run_id).select(IngestRun::as_select()).first(conn).optional()?)
}

/// The newest `limit` runs as stored, optionally of one source.
pub(crate) fn list_raw_runs(
    conn: &mut AnyConnection,
    source: Option<&str>,
    limit: i64,
) -> Result<Vec<IngestRun>, StoreError> {
    let mut query = ingest_runs::table.select(IngestRun::as_select()).into_boxed();
    if let Some(source) = source {
        query = query.filter(ingest_runs::source.eq(source.to_string()));
    }
    Ok(query.order(ingest_runs::id.desc()).limit(limit).load(conn)?)
}

/// Runs stored as `running` (live or not), oldest first, optionally of one source.
pub(crate) fn running_raw_runs(conn: &mut AnyConnection, source: Option<&str>) -> Result<Vec<IngestRun>, StoreError> {
    let mut query =
        ingest_runs::table.filter(ingest_runs::status.eq(status::RUNNING)).select(IngestRun::as_select()).into_boxed();
    if let Some(source) = source {
        query = query.filter(ingest_runs::source.eq(source.to_string()));
    }
    Ok(query.order(ingest_runs::id.asc()).load(conn)?)
}

/// Runs, newest first, optionally of one source; `limit` and `offset` page through them.
pub fn list_runs(
    conn: &mut AnyConnection,
    source: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<IngestRun>, StoreError> {
    let mut query = ingest_runs::table.select(IngestRun::as_select()).into_boxed();
    if let Some(source) = source {
        query = query.filter(ingest_runs::source.eq(source.to_string()));
    }
    let mut runs = query.order(ingest_runs::id.desc()).limit(limit).offset(offset).load(conn)?;
    crate::leases::settle(conn, &mut runs)?;
    Ok(runs)
}

/// Runs older than run `before` (all when `None`), newest first, optionally of one source: a page that
/// continues after the last run of the previous one, however many runs started since (keyset paging).
pub fn list_runs_before(
    conn: &mut AnyConnection,
    source: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<IngestRun>, StoreError> {
    let mut query = ingest_runs::table.select(IngestRun::as_select()).into_boxed();
    if let Some(source) = source {
        query = query.filter(ingest_runs::source.eq(source.to_string()));
    }
    if let Some(before) = before {
        query = query.filter(ingest_runs::id.lt(before));
    }
    Ok(query.order(ingest_runs::id.desc()).limit(limit).load(conn)?)
}

pub fn count_runs(conn: &mut AnyConnection, source: Option<&str>) -> Result<i64, StoreError> {
    let mut query = ingest_runs::table.count().into_boxed();
    if let Some(source) = source {
        query = query.filter(ingest_runs::source.eq(source.to_string()));
    }
    Ok(query.get_result(conn)?)
}

/// Keeps rejected rows of a run, at most `keep` per run in all (the run's `rejected` count stays
/// exact; beyond `keep` only the count is kept). Called outside the data transaction, so that a rolled
/// back write still leaves the reasons visible. Returns how many rows were stored.
pub fn record_rejections(
    conn: &mut AnyConnection,
    run_id: i64,
    resource_id: Option<i64>,
    payload_sha256: Option<&str>,
    rejections: &[Rejection],
    keep: i64,
) -> Result<i64, StoreError> {
    let stored: i64 = rejected_rows::table.filter(rejected_rows::run_id.eq(run_id)).count().get_result(conn)?;
    let room = usize::try_from((keep - stored).max(0)).unwrap_or(usize::MAX);
    let rejections = &rejections[..rejections.len().min(room)];
    let now = now_utc();
    for chunk in rejections.chunks(500) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|r| {
                (
                    rejected_rows::run_id.eq(run_id),
                    rejected_rows::resource_id.eq(resource_id),
                    rejected_rows::payload_sha256.eq(payload_sha256),
                    rejected_rows::row_number.eq(r.row_number),
                    rejected_rows::reason.eq(&r.reason),
                    rejected_rows::raw.eq(&r.raw),
                    rejected_rows::created_at.eq(now),
                )
            })
            .collect();
        crate::on_backend!(conn, |c| diesel::insert_into(rejected_rows::table).values(&rows).execute(c))?;
    }
    Ok(rejections.len() as i64)
}

/// The first run that stored rejected rows of payload `sha256` of `resource_id`, and how many it stored.
pub fn first_stored_rejections(
    conn: &mut AnyConnection,
    resource_id: i64,
    sha256: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    let first: Option<i64> = rejected_rows::table
        .filter(rejected_rows::resource_id.eq(resource_id))
        .filter(rejected_rows::payload_sha256.eq(sha256))
        .select(diesel::dsl::min(rejected_rows::run_id))
        .first(conn)?;
    let Some(run_id) = first else { return Ok(None) };
    let stored: i64 = rejected_rows::table
        .filter(rejected_rows::run_id.eq(run_id))
        .filter(rejected_rows::resource_id.eq(resource_id))
        .filter(rejected_rows::payload_sha256.eq(sha256))
        .count()
        .get_result(conn)?;
    Ok(Some((run_id, stored)))
}

/// Records that run `run_id` rejected `rejected` rows of a payload whose rows run `source_run_id`
/// stored: the rows are shown for both runs and stored once.
pub fn refer_to_rejections(
    conn: &mut AnyConnection,
    run_id: i64,
    source_run_id: i64,
    resource_id: i64,
    sha256: &str,
    rejected: i64,
) -> Result<(), StoreError> {
    crate::on_backend!(conn, |c| diesel::insert_into(rejection_references::table)
        .values((
            rejection_references::run_id.eq(run_id),
            rejection_references::source_run_id.eq(source_run_id),
            rejection_references::resource_id.eq(resource_id),
            rejection_references::payload_sha256.eq(sha256),
            rejection_references::rejected.eq(rejected),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// The rows a run refused, oldest first, at most `limit`: its own, then those of the runs it refers
/// to (a run that skipped an unchanged payload points at the rows of the run that applied it).
pub fn rejected_rows_of_run(conn: &mut AnyConnection, run_id: i64, limit: i64) -> Result<Vec<RejectedRow>, StoreError> {
    let mut rows: Vec<RejectedRow> = rejected_rows::table
        .filter(rejected_rows::run_id.eq(run_id))
        .order(rejected_rows::id.asc())
        .limit(limit)
        .select(RejectedRow::as_select())
        .load(conn)?;
    let references: Vec<(i64, i64, String)> = rejection_references::table
        .filter(rejection_references::run_id.eq(run_id))
        .order((rejection_references::source_run_id, rejection_references::resource_id))
        .select((
            rejection_references::source_run_id,
            rejection_references::resource_id,
            rejection_references::payload_sha256,
        ))
        .load(conn)?;
    for (source_run, resource, sha) in references {
        let room = limit - rows.len() as i64;
        if room <= 0 {
            break;
        }
        rows.extend(
            rejected_rows::table
                .filter(rejected_rows::run_id.eq(source_run))
                .filter(rejected_rows::resource_id.eq(resource))
                .filter(rejected_rows::payload_sha256.eq(sha))
                .order(rejected_rows::id.asc())
                .limit(room)
                .select(RejectedRow::as_select())
                .load(conn)?,
        );
    }
    Ok(rows)
}

/// Deletes the rejected rows of runs that finished before `cutoff`, except the rows of payloads still
/// applied (they explain the data in the store now) and rows a run finished since (or still running)
/// points at; and the references of old runs. Returns how many rows went.
pub fn prune_rejected_rows(conn: &mut AnyConnection, cutoff: chrono::NaiveDateTime) -> Result<usize, StoreError> {
    use crate::schema::applied_payloads;
    let old_runs = || ingest_runs::table.filter(ingest_runs::finished_at.lt(cutoff)).select(ingest_runs::id);
    let still_applied = applied_payloads::table
        .filter(applied_payloads::run_id.nullable().eq(rejected_rows::run_id.nullable()))
        .filter(applied_payloads::resource_id.nullable().eq(rejected_rows::resource_id))
        .filter(applied_payloads::payload_sha256.nullable().eq(rejected_rows::payload_sha256));
    let recent_runs = ingest_runs::table
        .filter(ingest_runs::finished_at.is_null().or(ingest_runs::finished_at.ge(cutoff)))
        .select(ingest_runs::id);
    let referred_to = rejection_references::table
        .filter(rejection_references::source_run_id.nullable().eq(rejected_rows::run_id.nullable()))
        .filter(rejection_references::resource_id.nullable().eq(rejected_rows::resource_id))
        .filter(rejection_references::payload_sha256.nullable().eq(rejected_rows::payload_sha256))
        .filter(rejection_references::run_id.eq_any(recent_runs));
    let deleted = diesel::delete(
        rejected_rows::table
            .filter(rejected_rows::run_id.eq_any(old_runs()))
            .filter(diesel::dsl::not(diesel::dsl::exists(still_applied)))
            .filter(diesel::dsl::not(diesel::dsl::exists(referred_to))),
    )
    .execute(conn)?;
    diesel::delete(rejection_references::table.filter(rejection_references::run_id.eq_any(old_runs())))
        .execute(conn)?;
    Ok(deleted)
}

/// The newest (not dry) run of `source` with one of `statuses`, as every reader sees it: a run stored
/// as `running` whose holder is gone counts as interrupted.
pub fn last_run_with_status(
    conn: &mut AnyConnection,
    source: &str,
    statuses: &[&str],
) -> Result<Option<IngestRun>, StoreError> {
    let mut candidates: Vec<IngestRun> = ingest_runs::table
        .filter(ingest_runs::source.eq(source))
        .filter(ingest_runs::status.eq_any(statuses))
        .filter(ingest_runs::dry_run.eq(false))
        .order(ingest_runs::id.desc())
        .select(IngestRun::as_select())
        .first(conn)
        .optional()?
        .into_iter()
        .collect();
    candidates.extend(running_raw_runs(conn, Some(source))?.into_iter().filter(|r| !r.dry_run));
    crate::leases::settle(conn, &mut candidates)?;
    Ok(candidates.into_iter().filter(|r| statuses.contains(&r.status.as_str())).max_by_key(|r| r.id))
}

/// Every recorded run, as every reader sees it: for metrics.
pub fn run_statistics(conn: &mut AnyConnection) -> Result<Vec<IngestRun>, StoreError> {
    let mut runs = ingest_runs::table.order(ingest_runs::id.asc()).select(IngestRun::as_select()).load(conn)?;
    crate::leases::settle(conn, &mut runs)?;
    Ok(runs)
}
