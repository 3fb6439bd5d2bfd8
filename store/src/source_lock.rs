//! The lease of a source on SQLite: an OS advisory lock (`flock`) on a file next to the database,
//! `<database>-lease-<source>`.
//!
//! Why not a lease row, as on PostgreSQL: SQLite has one writer at a time. While a run's data
//! transaction holds the database's write lock (a large merge takes minutes), no heartbeat can renew
//! a lease row, so the lease expires under a live run, and whoever checks it waits for that same
//! lock. A kernel lock needs neither a write nor a clock: it is held exactly as long as the file
//! descriptor of the process that took it, the kernel frees it when that process dies (also on
//! `kill -9`), and anyone else learns at once whether it is taken. The file also says which run
//! holds it, so that a reader can tell that run from older ones left `running` by dead processes.
//! Lock files are never deleted: a process could otherwise lock a new file while another still
//! holds the old one.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::StoreError;

/// Who holds a source's lock, as far as another process can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LockState {
    /// Nobody: any run of the source still marked `running` is dead.
    Free,
    /// A live process holds it, for this run (`None` while it is still recording its run).
    Held { run_id: Option<i64>, pid: Option<u32> },
}

/// A taken lock; dropping it (or the death of the process) frees it.
#[derive(Debug)]
pub(crate) struct SourceLock {
    file: File,
}

/// The locks this process holds, by (database file, source), with the run and holder they are for:
/// the runner frees them through [`release`], and readers in this process need no probe.
static HELD: Mutex<Option<HashMap<(PathBuf, String), Held>>> = Mutex::new(None);

#[derive(Debug)]
struct Held {
    holder: String,
    run_id: i64,
    _lock: SourceLock,
}

fn lock_path(database: &Path, source: &str) -> PathBuf {
    let mut name = database.as_os_str().to_os_string();
    name.push(format!("-lease-{source}"));
    PathBuf::from(name)
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Invalid(format!("{what} {}: {e}", path.display()))
}

fn open(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io("opening the lease file", path, e))
}

impl SourceLock {
    /// Takes the lock of `source` without waiting; `None` when a live process holds it. A reader's
    /// probe holds it (shared) for microseconds, so a refusal is retried briefly before it counts.
    pub(crate) fn try_take(database: &Path, source: &str) -> Result<Option<SourceLock>, StoreError> {
        let path = lock_path(database, source);
        let file = open(&path)?;
        for _ in 0..20 {
            match file.try_lock() {
                Ok(()) => {
                    let mut lock = SourceLock { file };
                    lock.write(None)?;
                    return Ok(Some(lock));
                }
                Err(TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(5)),
                Err(TryLockError::Error(e)) => return Err(io("locking the lease file", &path, e)),
            }
        }
        Ok(None)
    }

    /// Writes which process (and run, once known) holds the lock.
    pub(crate) fn write(&mut self, run_id: Option<i64>) -> Result<(), StoreError> {
        let text = match run_id {
            Some(id) => format!("run {id} pid {}\n", std::process::id()),
            None => format!("starting pid {}\n", std::process::id()),
        };
        let failed = |e| StoreError::Invalid(format!("writing the lease file: {e}"));
        self.file.set_len(0).map_err(failed)?;
        self.file.seek(SeekFrom::Start(0)).map_err(failed)?;
        self.file.write_all(text.as_bytes()).map_err(failed)?;
        self.file.flush().map_err(failed)
    }
}

/// Who holds `source`'s lock for the database `database`, without taking it for longer than a probe.
pub(crate) fn state(database: &Path, source: &str) -> Result<LockState, StoreError> {
    if let Some(run_id) = held_here(database, source) {
        return Ok(LockState::Held { run_id: Some(run_id), pid: Some(std::process::id()) });
    }
    let path = lock_path(database, source);
    if !path.exists() {
        return Ok(LockState::Free);
    }
    let mut file = open(&path)?;
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(LockState::Free)
        }
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Ok(parse_holder(&text))
        }
        Err(TryLockError::Error(e)) => Err(io("probing the lease file", &path, e)),
    }
}

/// Reads `run N pid P` or `starting pid P`.
fn parse_holder(text: &str) -> LockState {
    let words: Vec<&str> = text.split_whitespace().collect();
    let number_after = |key: &str| words.windows(2).find(|w| w[0] == key).and_then(|w| w[1].parse::<i64>().ok());
    LockState::Held { run_id: number_after("run"), pid: number_after("pid").and_then(|p| u32::try_from(p).ok()) }
}

/// Keeps `lock` as this process's hold on `source` for `run_id`, until [`release`].
pub(crate) fn keep(database: &Path, source: &str, holder: &str, run_id: i64, lock: SourceLock) {
    let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    held.get_or_insert_with(HashMap::new)
        .insert((database.to_path_buf(), source.to_string()), Held { holder: holder.to_string(), run_id, _lock: lock });
}

/// The run this process holds `source`'s lock for, if it does.
pub(crate) fn held_here(database: &Path, source: &str) -> Option<i64> {
    let held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    held.as_ref()?.get(&(database.to_path_buf(), source.to_string())).map(|h| h.run_id)
}

/// Whether `holder` of this process holds `source`'s lock for `run_id`.
pub(crate) fn holds(database: &Path, source: &str, holder: &str, run_id: i64) -> bool {
    let held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    held.as_ref()
        .and_then(|m| m.get(&(database.to_path_buf(), source.to_string())))
        .is_some_and(|h| h.holder == holder && h.run_id == run_id)
}

/// Frees `source`'s lock if `holder` holds it.
pub(crate) fn release(database: &Path, source: &str, holder: &str) {
    let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(map) = held.as_mut() {
        let key = (database.to_path_buf(), source.to_string());
        if map.get(&key).is_some_and(|h| h.holder == holder) {
            map.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_lock_is_seen_held_and_is_free_once_dropped() {
        let dir = tempfile_dir();
        let db = dir.join("x.db");
        let mut lock = SourceLock::try_take(&db, "dtm").expect("lock").expect("free at first");
        lock.write(Some(7)).expect("write");
        assert!(SourceLock::try_take(&db, "dtm").expect("second").is_none(), "a second taker is refused");
        assert_eq!(
            state(&db, "dtm").expect("state"),
            LockState::Held { run_id: Some(7), pid: Some(std::process::id()) }
        );
        assert_eq!(state(&db, "geography").expect("state"), LockState::Free, "locks are per source");
        drop(lock);
        assert_eq!(state(&db, "dtm").expect("state"), LockState::Free);
        assert!(SourceLock::try_take(&db, "dtm").expect("again").is_some());
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cg-lock-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }
}
