//! The table of IDP totals (`idp_totals`): the figures of `idp_figures` summed over displacement
//! reasons and origins, one row per area, operation, round, reporting date, assessment type and
//! resource, with `is_latest_round` per source area and operation. Reads (GraphQL, `bi_idps`, the
//! export) are index lookups on it instead of a GROUP BY over every figure at every request; the
//! ingest keeps it in step with the figures inside the write transaction that changes them.

use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};

use crate::{AnyConnection, StoreError, WriteCounts};

/// The columns of a total's group, shared by the statements below.
const GROUP: &str = "country_iso3, admin_level, source_pcode, area_id, area_matched, operation, round_number, \
                     reporting_date, assessment_type, resource_id";

/// After the figures of `iso3` were written by run `run_id` (with the counts `written`), brings the
/// country's totals up to date, in the same transaction. Only the groups holding a figure this run
/// inserted or updated are recomputed (every such figure carries `run_id`), and the latest-round flag
/// only for the source areas and operations those groups belong to; an unchanged re-ingest does nothing.
pub fn refresh_after_write(
    conn: &mut AnyConnection,
    run_id: i64,
    iso3: &str,
    written: &WriteCounts,
) -> Result<(), StoreError> {
    if written.inserted + written.updated == 0 {
        return Ok(());
    }
    let postgres = matches!(conn, AnyConnection::Postgresql(_));
    conn.batch_execute(
        "CREATE TEMP TABLE IF NOT EXISTS idp_touched (country_iso3 TEXT NOT NULL, admin_level INTEGER NOT NULL, \
         source_pcode TEXT NOT NULL, operation TEXT NOT NULL, round_number INTEGER NOT NULL, \
         reporting_date DATE NOT NULL, assessment_type TEXT NOT NULL); DELETE FROM idp_touched;",
    )?;
    // Probed once per figure and per total below (SQLite runs EXISTS as a lookup per row).
    conn.batch_execute(if postgres {
        "CREATE INDEX IF NOT EXISTS idp_touched_key ON idp_touched (country_iso3, admin_level, source_pcode, \
         operation, round_number, reporting_date, assessment_type)"
    } else {
        "CREATE INDEX IF NOT EXISTS temp.idp_touched_key ON idp_touched (country_iso3, admin_level, source_pcode, \
         operation, round_number, reporting_date, assessment_type)"
    })?;
    // The groups (natural keys without reason and origin) this run wrote a figure of.
    let touched = format!(
        "INSERT INTO idp_touched SELECT DISTINCT country_iso3, admin_level, source_pcode, operation, round_number, \
         reporting_date, assessment_type FROM idp_figures WHERE run_id = {} AND country_iso3 = {}",
        if postgres { "$1" } else { "?" },
        if postgres { "$2" } else { "?" },
    );
    let count = crate::on_backend!(conn, |c| diesel::sql_query(&touched)
        .bind::<BigInt, _>(run_id)
        .bind::<Text, _>(iso3)
        .execute(c))?;
    if count == 0 {
        return Ok(());
    }
    if postgres {
        // A temporary table has no statistics until analysed: the joins below need them.
        conn.batch_execute("ANALYZE idp_touched")?;
    }
    let same_series = "t.country_iso3 = x.country_iso3 AND t.admin_level = x.admin_level \
                       AND t.source_pcode = x.source_pcode AND t.operation = x.operation";
    let same_key = format!(
        "{same_series} AND t.round_number = x.round_number AND t.reporting_date = x.reporting_date \
         AND t.assessment_type = x.assessment_type"
    );
    let group_x = GROUP.split(", ").map(|c| format!("x.{c}")).collect::<Vec<_>>().join(", ");
    conn.batch_execute(&format!(
        // The touched groups' totals go (whatever area and resource they had) and come back summed from
        // the figures; then the latest-round flag of their source areas and operations is set again.
        "DELETE FROM idp_totals WHERE EXISTS (SELECT 1 FROM idp_touched t WHERE {key_of_totals}); \
         INSERT INTO idp_totals ({GROUP}, source_name, individuals, run_id, retrieved_at, is_latest_round) \
         SELECT {group_x}, MIN(x.source_name), CAST(SUM(x.individuals) AS BIGINT), MAX(x.run_id), \
         MAX(x.retrieved_at), FALSE FROM idp_figures x WHERE EXISTS (SELECT 1 FROM idp_touched t WHERE {same_key}) \
         GROUP BY {group_x}; \
         UPDATE idp_totals SET is_latest_round = (idp_totals.round_number = m.latest) \
         FROM (SELECT x.country_iso3, x.admin_level, x.source_pcode, x.operation, MAX(x.round_number) AS latest \
               FROM idp_totals x WHERE EXISTS (SELECT 1 FROM idp_touched t WHERE {same_series}) \
               GROUP BY x.country_iso3, x.admin_level, x.source_pcode, x.operation) m \
         WHERE idp_totals.country_iso3 = m.country_iso3 AND idp_totals.admin_level = m.admin_level \
         AND idp_totals.source_pcode = m.source_pcode AND idp_totals.operation = m.operation \
         AND idp_totals.is_latest_round <> (idp_totals.round_number = m.latest); \
         DELETE FROM idp_touched;",
        key_of_totals = same_key.replace("x.", "idp_totals."),
    ))?;
    restat_after_bulk(conn, count)
}

/// After the first load of `iso3`'s figures at `levels` (no figure of theirs was stored before),
/// builds their totals in one statement: summed from the figures, with the latest-round flag of
/// each source area and operation computed in the same pass (a window over the groups) instead
/// of recomputing touched groups and updating the flag afterwards.
pub fn build_for_first_load(conn: &mut AnyConnection, iso3: &str, levels: &[i32]) -> Result<(), StoreError> {
    let postgres = matches!(conn, AnyConnection::Postgresql(_));
    let param = if postgres { "$1" } else { "?" };
    // The levels are our own integers, not input: written into the statement.
    let levels = levels.iter().map(i32::to_string).collect::<Vec<_>>().join(", ");
    let scope = format!("country_iso3 = {param} AND admin_level IN ({levels})");
    // Totals left without figures (none in a consistent store) must not be doubled.
    let clear = format!("DELETE FROM idp_totals WHERE {scope}");
    let build = format!(
        "INSERT INTO idp_totals ({GROUP}, source_name, individuals, run_id, retrieved_at, is_latest_round) \
         SELECT {GROUP}, source_name, individuals, run_id, retrieved_at, \
         round_number = MAX(round_number) OVER (PARTITION BY country_iso3, admin_level, source_pcode, operation) \
         FROM (SELECT {GROUP}, MIN(source_name) AS source_name, CAST(SUM(individuals) AS BIGINT) AS individuals, \
         MAX(run_id) AS run_id, MAX(retrieved_at) AS retrieved_at FROM idp_figures WHERE {scope} \
         GROUP BY {GROUP}) g"
    );
    let run = |conn: &mut AnyConnection, statement: &str| {
        crate::on_backend!(conn, |c| diesel::sql_query(statement).bind::<Text, _>(iso3).execute(c))
    };
    run(conn, &clear)?;
    let built = run(conn, &build)?;
    restat_after_bulk(conn, built)
}

/// After `changed` totals were written: PostgreSQL's statistics of the IDP tables re-collected when
/// that is many. A bulk change leaves the planner with the old row counts until autovacuum gets to
/// it: an export over a table it believes tiny hash-joins and sorts every row for each page. ANALYZE
/// samples a fixed number of rows (well under a second) and is transactional.
fn restat_after_bulk(conn: &mut AnyConnection, changed: usize) -> Result<(), StoreError> {
    if matches!(conn, AnyConnection::Postgresql(_)) && changed >= RESTATS_AFTER {
        conn.batch_execute("ANALYZE idp_figures; ANALYZE idp_totals")?;
    }
    Ok(())
}

/// Touched groups (or built totals) from which the refresh re-collects PostgreSQL's statistics of the IDP tables.
const RESTATS_AFTER: usize = 10_000;
