//! Run events: "run N moved on" and "run N finished", raised by the process running the run and
//! heard by every server that serves subscriptions (api/src/live.rs).
//!
//! An event carries only the run's id and its kind; listeners re-read the run from the store. Within
//! a process events go through the pool's broadcast channel ([`crate::DbPool::publish_event`]); on
//! PostgreSQL they are also sent with `NOTIFY` on [`CHANNEL`], so that servers in other processes
//! (replicas, or a server beside a CLI run) hear them. SQLite has no such channel: a server polls
//! the runs table instead (see api/src/live.rs).
//!
//! A run's end also carries, once committed, the LSN its commit reached ([`crate::commit_lsn`]): every
//! server then knows how far a read replica must have replayed before it may answer a read
//! (store/src/replicas.rs).

use diesel::RunQueryDsl;
use diesel::sql_types::Text;

use crate::{AnyConnection, StoreError};

/// The PostgreSQL `NOTIFY` channel of run events.
pub const CHANNEL: &str = "crisisgraph_runs";

/// How many events a slow listener of this process may fall behind before it misses some (it then
/// re-reads what it missed from the store).
pub const IN_PROCESS_BUFFER: usize = 1024;

/// What happened to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Its phase or progress changed.
    Progress,
    /// It ended (its final status and counts are written).
    Finished,
}

/// One run event, as small as `NOTIFY` payloads should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunEvent {
    pub run_id: i64,
    pub kind: EventKind,
    /// PostgreSQL: the WAL position the run's committed writes reached (sent after the commit).
    pub lsn: Option<u64>,
}

impl RunEvent {
    /// The `NOTIFY` payload: `<run id>:progress` or `<run id>:finished`, then `:<commit LSN>` if known.
    pub fn payload(&self) -> String {
        let kind = match self.kind {
            EventKind::Progress => "progress",
            EventKind::Finished => "finished",
        };
        match self.lsn {
            Some(lsn) => format!("{}:{kind}:{lsn}", self.run_id),
            None => format!("{}:{kind}", self.run_id),
        }
    }

    /// Reads a `NOTIFY` payload; `None` for anything else.
    pub fn parse(payload: &str) -> Option<RunEvent> {
        let (id, rest) = payload.split_once(':')?;
        let (kind, lsn) = match rest.split_once(':') {
            Some((kind, lsn)) => (kind, Some(lsn.parse().ok()?)),
            None => (rest, None),
        };
        let kind = match kind {
            "progress" => EventKind::Progress,
            "finished" => EventKind::Finished,
            _ => return None,
        };
        Some(RunEvent { run_id: id.parse().ok()?, kind, lsn })
    }
}

/// Sends `event` to the listeners of other processes: `NOTIFY` on PostgreSQL (delivered when the
/// current transaction commits, at once outside one); nothing on SQLite.
pub fn notify(conn: &mut AnyConnection, event: RunEvent) -> Result<(), StoreError> {
    if let AnyConnection::Postgresql(c) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(event.payload())
            .execute(c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        for kind in [EventKind::Progress, EventKind::Finished] {
            for lsn in [None, Some(0x1_6B37_4D48)] {
                let event = RunEvent { run_id: 42, kind, lsn };
                assert_eq!(RunEvent::parse(&event.payload()), Some(event));
            }
        }
        assert_eq!(RunEvent::parse("1:finished:x"), None);
        assert_eq!(RunEvent::parse("42"), None);
        assert_eq!(RunEvent::parse("x:progress"), None);
        assert_eq!(RunEvent::parse("1:other"), None);
    }
}
