//! The two migration folders must describe the same tables and columns.

mod common;

use std::collections::BTreeSet;

use common::{Backend, TestStore};
use diesel::prelude::*;
use diesel::sql_types::Text;

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

fn as_set(columns: Vec<Column>) -> BTreeSet<(String, String)> {
    columns
        .into_iter()
        .filter(|c| !c.table_name.starts_with("__diesel"))
        .map(|c| (c.table_name, c.column_name))
        .collect()
}

#[tokio::test]
async fn postgres_and_sqlite_migrations_have_the_same_columns() {
    let Some(sqlite) = TestStore::new(Backend::Sqlite).await else { return };
    let mut conn = diesel::SqliteConnection::establish(&sqlite.url).expect("SQLite");
    let sqlite_columns = as_set(
        diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m \
             JOIN pragma_table_info(m.name) p WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%'",
        )
        .load(&mut conn)
        .expect("SQLite columns"),
    );
    assert!(sqlite_columns.contains(&("idp_figures".into(), "individuals".into())));
    assert!(sqlite_columns.len() > 100, "{} columns", sqlite_columns.len());

    let Some(postgres) = TestStore::new(Backend::Postgres).await else { return };
    let mut conn = diesel::PgConnection::establish(&postgres.url).expect("PostgreSQL");
    let pg_columns = as_set(
        diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns \
             WHERE table_schema = 'public'",
        )
        .load(&mut conn)
        .expect("PostgreSQL columns"),
    );
    let only_pg: Vec<_> = pg_columns.difference(&sqlite_columns).collect();
    let only_sqlite: Vec<_> = sqlite_columns.difference(&pg_columns).collect();
    assert!(
        only_pg.is_empty() && only_sqlite.is_empty(),
        "only in PostgreSQL: {only_pg:?}; only in SQLite: {only_sqlite:?}"
    );
}
