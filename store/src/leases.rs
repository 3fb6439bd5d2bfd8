//! One run at a time per source, whoever starts it and in however many processes. Also the claim of
//! a scheduled firing, so that replicas sharing a schedule run each job once.
//!
//! - PostgreSQL: a lease row per source (`source_leases`), taken atomically with the run it is for,
//!   kept alive by heartbeats and taken over (the old run marked interrupted) once it expires. Row
//!   locks never wait on another transaction's data, so a heartbeat renews it during any write.
//! - SQLite: an OS lock on a file next to the database (see [`crate::source_lock`] for why: SQLite's
//!   single write lock would keep a lease row from being renewed during a long write).
//!
//! Either way: whoever finds the lease taken is told the run holding it at once; a run whose holder
//! is gone reads as `interrupted` for every reader at once ([`settle`]) and is marked so by the next
//! start of its source or by `serve`'s sweep ([`interrupt_dead_runs`]); and a run's final state is
//! written only over `running` ([`crate::runs::finish_run`]), never over another process's verdict.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::models::IngestRun;
use crate::runs::{self, RunRequest, status};
use crate::schema::{ingest_runs, schedule_claims, source_leases};
use crate::source_lock::{self, LockState, SourceLock};
use crate::{AnyConnection, StoreError, now_utc, write_transaction};

/// Why a run marked interrupted by someone else (or shown so) ended.
pub const LEASE_EXPIRED: &str = "interrupted: the process running it stopped renewing its lease";
pub const LOCK_RELEASED: &str = "interrupted: the process running it stopped (it no longer holds the source's lock)";

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

/// Takes the source's lease and records a new run, or returns the run holding the lease. A run of
/// the source left `running` by a holder that is gone is marked interrupted on the way.
pub fn start_exclusive_run(
    conn: &mut AnyConnection,
    request: &RunRequest,
    holder: &str,
    ttl: Duration,
) -> Result<StartOutcome, StoreError> {
    match conn {
        AnyConnection::Postgresql(_) => start_with_lease_row(conn, request, holder, ttl),
        AnyConnection::Sqlite(lite) => {
            let database = crate::connection::sqlite_file(lite)?;
            start_with_lock(conn, &database, request, holder)
        }
    }
}

fn start_with_lease_row(
    conn: &mut AnyConnection,
    request: &RunRequest,
    holder: &str,
    ttl: Duration,
) -> Result<StartOutcome, StoreError> {
    write_transaction(conn, |conn| {
        let now = now_utc();
        interrupt_expired_leases(conn, Some(&request.source), now)?;
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
            // Holding the lease, any other run of the source still `running` has no live holder.
            mark_interrupted(conn, &request.source, None, now, LEASE_EXPIRED)?;
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

/// SQLite: the lock first, without touching the database (so that a loser learns at once, even while
/// another run's transaction holds the write lock); then the run, in a write transaction.
fn start_with_lock(
    conn: &mut AnyConnection,
    database: &Path,
    request: &RunRequest,
    holder: &str,
) -> Result<StartOutcome, StoreError> {
    let Some(mut lock) = SourceLock::try_take(database, &request.source)? else {
        return run_holding_lock(conn, database, &request.source).map(StartOutcome::AlreadyRunning);
    };
    let run = write_transaction(conn, |conn| {
        mark_interrupted(conn, &request.source, None, now_utc(), LOCK_RELEASED)?;
        let run = runs::start_run(conn, request)?;
        // Before the commit: once the run is visible, the lock file already names it.
        lock.write(Some(run.id))?;
        Ok::<_, StoreError>(run)
    })?;
    source_lock::keep(database, &request.source, holder, run.id, lock);
    Ok(StartOutcome::Started(run))
}

/// The run of `source` whose process holds the lock. A holder that has just taken it may still be
/// waiting for the database's write lock to record its run: it is given a few seconds.
fn run_holding_lock(conn: &mut AnyConnection, database: &Path, source: &str) -> Result<IngestRun, StoreError> {
    let mut pid = None;
    for _ in 0..50 {
        match source_lock::state(database, source)? {
            LockState::Held { run_id: Some(id), .. } => {
                if let Some(run) = runs::find_raw_run(conn, id)?.filter(|r| r.status == status::RUNNING) {
                    return Ok(run);
                }
            }
            LockState::Held { run_id: None, pid: holder } => pid = holder,
            // Freed in between: the run ended; report it as it is.
            LockState::Free => {
                if let Some(run) = runs::list_raw_runs(conn, Some(source), 1)?.into_iter().next() {
                    return Ok(run);
                }
            }
        }
        std::thread::sleep(StdDuration::from_millis(100));
    }
    let by = pid.map(|p| format!(" (process {p})")).unwrap_or_default();
    Err(StoreError::Busy(format!(
        "another process{by} is starting a run of {source} and has not recorded it yet; not starting another"
    )))
}

/// The live run of `source`, if any: what a scheduler firing checks before it claims anything.
pub fn running_run(conn: &mut AnyConnection, source: &str) -> Result<Option<IngestRun>, StoreError> {
    let mut candidates = runs::running_raw_runs(conn, Some(source))?;
    let dead = dead_runs(conn, &candidates, now_utc())?;
    candidates.retain(|r| !dead.contains(&r.id));
    Ok(candidates.into_iter().next_back())
}

/// The runs among `candidates` (those `running`) whose holder is gone: on PostgreSQL no unexpired
/// lease names them; on SQLite the source's lock is free or held for another run.
fn dead_runs(
    conn: &mut AnyConnection,
    candidates: &[IngestRun],
    now: NaiveDateTime,
) -> Result<HashSet<i64>, StoreError> {
    let running: Vec<&IngestRun> = candidates.iter().filter(|r| r.status == status::RUNNING).collect();
    if running.is_empty() {
        return Ok(HashSet::new());
    }
    let mut dead = HashSet::new();
    match conn {
        AnyConnection::Postgresql(_) => {
            let leases: Vec<(Option<i64>, NaiveDateTime)> =
                source_leases::table.select((source_leases::run_id, source_leases::expires_at)).load(conn)?;
            let live: HashSet<i64> =
                leases.into_iter().filter(|(_, until)| *until >= now).filter_map(|(r, _)| r).collect();
            dead.extend(running.iter().filter(|r| !live.contains(&r.id)).map(|r| r.id));
        }
        AnyConnection::Sqlite(lite) => {
            let database = crate::connection::sqlite_file(lite)?;
            let mut holders: HashMap<&str, LockState> = HashMap::new();
            for run in running {
                let state = match holders.get(run.source.as_str()) {
                    Some(state) => state.clone(),
                    None => {
                        let state = source_lock::state(&database, &run.source)?;
                        holders.insert(&run.source, state.clone());
                        state
                    }
                };
                if !matches!(state, LockState::Held { run_id: Some(id), .. } if id == run.id) {
                    dead.insert(run.id);
                }
            }
        }
    }
    Ok(dead)
}

/// Shows every run in `runs` whose holder is gone as what it is, `interrupted`, whether or not anyone
/// has marked it yet: what every reader (run list, GraphQL, metrics, source status) goes through.
pub fn settle(conn: &mut AnyConnection, runs: &mut [IngestRun]) -> Result<(), StoreError> {
    let dead = dead_runs(conn, runs, now_utc())?;
    if dead.is_empty() {
        return Ok(());
    }
    let why = if matches!(conn, AnyConnection::Postgresql(_)) { LEASE_EXPIRED } else { LOCK_RELEASED };
    for run in runs.iter_mut().filter(|r| dead.contains(&r.id)) {
        run.status = status::INTERRUPTED.to_string();
        run.error = Some(why.to_string());
        run.phase = runs::phase::FINISHED.to_string();
    }
    Ok(())
}

/// Marks runs whose holder is gone (their process died or hung past its lease) as interrupted, and
/// frees expired lease rows: `serve` calls it periodically, so that the mark does not wait for the
/// next start of the source. Returns how many runs were marked.
pub fn interrupt_dead_runs(conn: &mut AnyConnection) -> Result<usize, StoreError> {
    let now = now_utc();
    let running = runs::running_raw_runs(conn, None)?;
    let dead = dead_runs(conn, &running, now)?;
    let mut marked = 0;
    if matches!(conn, AnyConnection::Postgresql(_)) {
        marked += interrupt_expired_leases(conn, None, now)?;
    }
    let why = if matches!(conn, AnyConnection::Postgresql(_)) { LEASE_EXPIRED } else { LOCK_RELEASED };
    for run in running.iter().filter(|r| dead.contains(&r.id)) {
        marked += mark_interrupted(conn, &run.source, Some(run.id), now, why)?;
    }
    Ok(marked)
}

/// Marks `running` runs of `source` interrupted (only `run_id` if given); the status condition keeps
/// any run that ended meanwhile as it ended.
fn mark_interrupted(
    conn: &mut AnyConnection,
    source: &str,
    run_id: Option<i64>,
    now: NaiveDateTime,
    why: &str,
) -> Result<usize, StoreError> {
    let mut query = diesel::update(ingest_runs::table)
        .filter(ingest_runs::source.eq(source.to_string()))
        .filter(ingest_runs::status.eq(status::RUNNING))
        .into_boxed();
    if let Some(id) = run_id {
        query = query.filter(ingest_runs::id.eq(id));
    }
    Ok(query
        .set((
            ingest_runs::status.eq(status::INTERRUPTED),
            ingest_runs::finished_at.eq(Some(now)),
            ingest_runs::error.eq(Some(why)),
            ingest_runs::phase.eq(runs::phase::FINISHED),
            ingest_runs::progress_at.eq(Some(now)),
        ))
        .execute(conn)?)
}

/// PostgreSQL: marks runs whose lease expired as interrupted and frees the lease. `source` limits it
/// to one source. Returns how many runs were interrupted.
fn interrupt_expired_leases(
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
            interrupted += mark_interrupted(conn, &source, Some(run_id), now, LEASE_EXPIRED)?;
        }
        diesel::delete(source_leases::table.find(&source).filter(source_leases::expires_at.lt(now))).execute(conn)?;
    }
    Ok(interrupted)
}

/// Keeps the lease alive (PostgreSQL; SQLite's lock needs no renewal) and tells whether a cancel was
/// asked for. Returns `Ok(None)` if the lease is no longer this holder's (it expired and was taken over).
pub fn heartbeat(
    conn: &mut AnyConnection,
    source: &str,
    holder: &str,
    run_id: i64,
    ttl: Duration,
) -> Result<Option<bool>, StoreError> {
    let now = now_utc();
    match conn {
        AnyConnection::Postgresql(_) => {
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
            diesel::update(ingest_runs::table.find(run_id))
                .set(ingest_runs::heartbeat_at.eq(Some(now)))
                .execute(conn)?;
        }
        // A read only: it must not wait for the write lock the run's own transaction may hold.
        AnyConnection::Sqlite(lite) => {
            let database = crate::connection::sqlite_file(lite)?;
            if !source_lock::holds(&database, source, holder, run_id) {
                return Ok(None);
            }
        }
    }
    let cancel: bool = ingest_runs::table.find(run_id).select(ingest_runs::cancel_requested).first(conn)?;
    Ok(Some(cancel))
}

/// Inside a run's write transaction, just before its commit: whether `holder` still holds the
/// source's lease for `run_id`. On PostgreSQL the lease row is locked until the commit, so that no
/// one can take the lease over between this check and the commit.
pub fn confirm_held(conn: &mut AnyConnection, source: &str, holder: &str, run_id: i64) -> Result<bool, StoreError> {
    match conn {
        AnyConnection::Postgresql(pg) => Ok(source_leases::table
            .find(source)
            .filter(source_leases::holder.eq(holder))
            .filter(source_leases::run_id.eq(run_id))
            .select(source_leases::source)
            .for_update()
            .first::<String>(pg)
            .optional()?
            .is_some()),
        AnyConnection::Sqlite(lite) => {
            let database = crate::connection::sqlite_file(lite)?;
            Ok(source_lock::holds(&database, source, holder, run_id))
        }
    }
}

/// Frees the lease if this holder still has it.
pub fn release(conn: &mut AnyConnection, source: &str, holder: &str) -> Result<(), StoreError> {
    match conn {
        AnyConnection::Postgresql(_) => {
            diesel::delete(source_leases::table.find(source).filter(source_leases::holder.eq(holder))).execute(conn)?;
        }
        AnyConnection::Sqlite(lite) => {
            let database = crate::connection::sqlite_file(lite)?;
            source_lock::release(&database, source, holder);
        }
    }
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
