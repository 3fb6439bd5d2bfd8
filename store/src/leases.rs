//! One run at a time per source, whoever starts it and in however many processes: a lease row per
//! source, taken atomically with the run it is for, kept alive by heartbeats and taken over (the
//! old run marked interrupted) once it expires. Also the claim of a scheduled firing, so that
//! replicas sharing a schedule run each job once.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::models::IngestRun;
use crate::runs::{self, RunRequest, status};
use crate::schema::{ingest_runs, schedule_claims, source_leases};
use crate::{AnyConnection, StoreError, now_utc, write_transaction};

/// What asking to start a run gave.
#[derive(Debug, Clone)]
pub enum StartOutcome {
    /// The lease was free: this run was created and the caller must run it.
    Started(IngestRun),
    /// Another run of the source holds the lease: here it is; nothing was started.
    AlreadyRunning(IngestRun),
}

impl StartOutcome {
    pub fn run(&self) -> &IngestRun {
        match self {
            StartOutcome::Started(r) | StartOutcome::AlreadyRunning(r) => r,
        }
    }
}

/// Takes the source's lease and records a new run, or returns the run holding the lease.
/// A lease whose heartbeat stopped (expired) is taken over and its run marked interrupted.
pub fn start_exclusive_run(
    conn: &mut AnyConnection,
    request: &RunRequest,
    holder: &str,
    ttl: Duration,
) -> Result<StartOutcome, StoreError> {
    write_transaction(conn, |conn| {
        let now = now_utc();
        interrupt_expired(conn, Some(&request.source), now)?;
        let inserted = crate::on_backend!(conn, |c| diesel::insert_into(source_leases::table)
            .values((
                source_leases::source.eq(&request.source),
                source_leases::holder.eq(holder),
                source_leases::acquired_at.eq(now),
                source_leases::expires_at.eq(now + ttl),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
        if inserted == 1 {
            let run = runs::start_run(conn, request)?;
            diesel::update(source_leases::table.find(&request.source))
                .set(source_leases::run_id.eq(Some(run.id)))
                .execute(conn)?;
            return Ok(StartOutcome::Started(run));
        }
        let holder_run: Option<i64> =
            source_leases::table.find(&request.source).select(source_leases::run_id).first(conn)?;
        let run_id =
            holder_run.ok_or_else(|| StoreError::Invalid(format!("the lease of {} names no run", request.source)))?;
        Ok(StartOutcome::AlreadyRunning(runs::find_run(conn, run_id)?))
    })
}

/// Marks runs whose lease expired (their process died or hung) as interrupted and frees the lease.
/// `source` limits it to one source. Returns how many runs were interrupted.
pub fn interrupt_expired(
    conn: &mut AnyConnection,
    source: Option<&str>,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let mut expired = source_leases::table.filter(source_leases::expires_at.lt(now)).into_boxed();
    if let Some(source) = source {
        expired = expired.filter(source_leases::source.eq(source.to_string()));
    }
    let leases: Vec<(String, Option<i64>)> =
        expired.select((source_leases::source, source_leases::run_id)).load(conn)?;
    let mut interrupted = 0;
    for (source, run_id) in leases {
        if let Some(run_id) = run_id {
            interrupted +=
                diesel::update(ingest_runs::table.find(run_id).filter(ingest_runs::status.eq(status::RUNNING)))
                    .set((
                        ingest_runs::status.eq(status::INTERRUPTED),
                        ingest_runs::finished_at.eq(Some(now)),
                        ingest_runs::error.eq(Some("interrupted: the process running it stopped renewing its lease")),
                    ))
                    .execute(conn)?;
        }
        diesel::delete(source_leases::table.find(&source).filter(source_leases::expires_at.lt(now))).execute(conn)?;
    }
    Ok(interrupted)
}

/// Keeps the lease alive and records the run's heartbeat; tells whether a cancel was asked for.
/// Returns `Ok(None)` if the lease is no longer this holder's (it expired and was taken over).
pub fn heartbeat(
    conn: &mut AnyConnection,
    source: &str,
    holder: &str,
    run_id: i64,
    ttl: Duration,
) -> Result<Option<bool>, StoreError> {
    let now = now_utc();
    let renewed = diesel::update(
        source_leases::table
            .find(source)
            .filter(source_leases::holder.eq(holder))
            .filter(source_leases::run_id.eq(run_id)),
    )
    .set(source_leases::expires_at.eq(now + ttl))
    .execute(conn)?;
    if renewed == 0 {
        return Ok(None);
    }
    diesel::update(ingest_runs::table.find(run_id)).set(ingest_runs::heartbeat_at.eq(Some(now))).execute(conn)?;
    let cancel: bool = ingest_runs::table.find(run_id).select(ingest_runs::cancel_requested).first(conn)?;
    Ok(Some(cancel))
}

/// Frees the lease if this holder still has it.
pub fn release(conn: &mut AnyConnection, source: &str, holder: &str) -> Result<(), StoreError> {
    diesel::delete(source_leases::table.find(source).filter(source_leases::holder.eq(holder))).execute(conn)?;
    Ok(())
}

/// Asks a running run to stop at its next check. Returns false if the run is not running.
pub fn request_cancel(conn: &mut AnyConnection, run_id: i64) -> Result<bool, StoreError> {
    let changed = diesel::update(ingest_runs::table.find(run_id).filter(ingest_runs::status.eq(status::RUNNING)))
        .set(ingest_runs::cancel_requested.eq(true))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Claims the firing of `source`'s schedule at `slot`; only the first claimant (of all replicas) gets it.
pub fn claim_schedule_slot(
    conn: &mut AnyConnection,
    source: &str,
    slot: NaiveDateTime,
    holder: &str,
) -> Result<bool, StoreError> {
    let inserted = crate::on_backend!(conn, |c| diesel::insert_into(schedule_claims::table)
        .values((
            schedule_claims::source.eq(source),
            schedule_claims::slot.eq(slot),
            schedule_claims::holder.eq(holder),
            schedule_claims::claimed_at.eq(now_utc()),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

/// The claimed firings of a source's schedule, oldest first: (slot, holder).
pub fn claims_of(conn: &mut AnyConnection, source: &str) -> Result<Vec<(NaiveDateTime, String)>, StoreError> {
    Ok(schedule_claims::table
        .filter(schedule_claims::source.eq(source))
        .order(schedule_claims::slot.asc())
        .select((schedule_claims::slot, schedule_claims::holder))
        .load(conn)?)
}
