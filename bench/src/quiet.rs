//! Waiting for the machine to fall quiet before a load.
//!
//! When `wrk` ends a load it closes its connections, but the requests they had in flight keep running
//! in the server and in PostgreSQL: at 256 connections on a slow query that is up to 256 requests of
//! several seconds each. A load started at once then measures the tail of the one before it (in the
//! fourth run of 2026-12-01 the uncached Q5 varied at 32 connections, which follows Q5 fixed at 256,
//! finished no request in its 8 s). Every load therefore starts only once the machine's CPUs have been
//! mostly idle for a moment. Read from `/proc/stat`, this covers every target alike (crisisgraph, the
//! peers' node workers, PostgreSQL, the SQLite server) without knowing their processes.

use std::time::{Duration, Instant};

/// How long a wait for quiet took, and whether quiet came before the bound.
#[derive(Debug, Clone, Copy)]
pub struct Quiet {
    pub waited: Duration,
    pub reached: bool,
}

/// Under this share of all CPUs busy, the machine counts as quiet (the servers idle, only their
/// timers and pollers running).
pub const BUSY_BELOW: f64 = 0.15;
/// Each sample of the CPUs' busy share spans this long.
const WINDOW: Duration = Duration::from_millis(250);
/// Quiet must hold this many windows in a row.
const WINDOWS_IN_A_ROW: u32 = 2;

/// Busy and total time of all CPUs since boot (jiffies), from `/proc/stat`'s first line: busy is all
/// but `idle` and `iowait`; the guest columns are already inside `user` and `nice`.
pub fn cpu_times(stat: &str) -> Option<(u64, u64)> {
    let mut fields = stat.lines().next()?.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let values: Vec<u64> = fields.take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    let total: u64 = values.iter().sum();
    Some((total.saturating_sub(idle), total))
}

fn sample() -> Option<(u64, u64)> {
    cpu_times(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// Blocks until the machine has been quiet for [`WINDOWS_IN_A_ROW`] windows, or `bound` has passed.
/// Where `/proc/stat` cannot be read there is nothing to wait on: returns at once, not reached.
pub fn until_quiet(bound: Duration) -> Quiet {
    let start = Instant::now();
    let Some(mut before) = sample() else {
        return Quiet { waited: Duration::ZERO, reached: false };
    };
    let mut in_a_row = 0;
    while start.elapsed() < bound {
        std::thread::sleep(WINDOW);
        let Some(now) = sample() else { break };
        let (busy, total) = (now.0.saturating_sub(before.0), now.1.saturating_sub(before.1));
        before = now;
        let share = if total == 0 { 0.0 } else { busy as f64 / total as f64 };
        in_a_row = if share < BUSY_BELOW { in_a_row + 1 } else { 0 };
        if in_a_row >= WINDOWS_IN_A_ROW {
            return Quiet { waited: start.elapsed(), reached: true };
        }
    }
    Quiet { waited: start.elapsed(), reached: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 50 2 25 400 10 1 1 0 0 0\n";
        assert_eq!(cpu_times(stat), Some((160, 980)));
    }

    #[test]
    fn a_stat_without_the_cpu_line_gives_nothing() {
        assert_eq!(cpu_times("intr 1 2 3\n"), None);
        assert_eq!(cpu_times("cpu  1 2 x 4\n"), None);
    }
}
