//! A checksum of every row of every data table, to prove that a failed run left the store
//! byte-for-byte as it was. Operational tables (runs, fetch log, payload archive, leases, claims,
//! rejected rows) are meant to change on every run and are left out.

use std::collections::BTreeMap;

use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl};
use sha2::{Digest, Sha256};
use store::{AnyConnection, DbPool, with_conn};

/// The tables holding published data (and its provenance), as users see it.
pub const DATA_TABLES: [&str; 12] = [
    "datasets",
    "resources",
    "countries",
    "admin_areas",
    "area_aliases",
    "idp_figures",
    "population_figures",
    "sites",
    "appeals",
    "appeal_countries",
    "appeal_clusters",
    "funding_outside_appeals",
];

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Column names of `table`, in declaration order.
fn columns(conn: &mut AnyConnection, table: &str) -> Vec<String> {
    let sql = match conn {
        AnyConnection::Postgresql(_) => format!(
            "SELECT CAST(column_name AS TEXT) AS line FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
        ),
        AnyConnection::Sqlite(_) => format!("SELECT name AS line FROM pragma_table_info('{table}') ORDER BY cid"),
    };
    let names: Vec<Line> = diesel::sql_query(sql).load(conn).expect("column list");
    assert!(!names.is_empty(), "table {table} has no columns: is it missing?");
    names.into_iter().map(|l| l.line).collect()
}

/// Every row of `table` as one text line per row (NULL distinct from empty text), sorted.
fn rows(conn: &mut AnyConnection, table: &str) -> Vec<String> {
    let cells: Vec<String> = columns(conn, table)
        .iter()
        .map(|c| format!("COALESCE('\"' || REPLACE(CAST(\"{c}\" AS TEXT), '\"', '\"\"') || '\"', 'NULL')"))
        .collect();
    let sql = format!("SELECT {} AS line FROM \"{table}\"", cells.join(" || ',' || "));
    let mut lines: Vec<String> =
        diesel::sql_query(sql).load::<Line>(conn).expect("table rows").into_iter().map(|l| l.line).collect();
    lines.sort();
    lines
}

/// Per data table: (row count, SHA-256 of its sorted rows).
pub async fn data_checksums(pool: &DbPool) -> BTreeMap<&'static str, (usize, String)> {
    with_conn(pool, |c| {
        let mut out = BTreeMap::new();
        for table in DATA_TABLES {
            let lines = rows(c, table);
            let mut hash = Sha256::new();
            for line in &lines {
                hash.update(line.as_bytes());
                hash.update(b"\n");
            }
            out.insert(table, (lines.len(), hex::encode(hash.finalize())));
        }
        Ok(out)
    })
    .await
    .expect("checksums")
}
