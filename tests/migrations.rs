//! The two migration folders must describe the same tables and columns.

mod common;

use std::collections::BTreeSet;

use common::{Backend, TestStore};
use diesel::connection::SimpleConnection;
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

on_both_stores!(bi_views_follow_their_declarations_and_equal_the_migrated_ones);

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName, Debug, PartialEq)]
struct ViewColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
}

enum Conn {
    Pg(diesel::PgConnection),
    Lite(diesel::SqliteConnection),
}

macro_rules! load {
    ($conn:expr, $sql:expr, $row:ty) => {
        match &mut $conn {
            Conn::Pg(c) => diesel::sql_query(&$sql).load::<$row>(c),
            Conn::Lite(c) => diesel::sql_query(&$sql).load::<$row>(c),
        }
        .unwrap_or_else(|e| panic!("{}: {e}", $sql))
    };
}

macro_rules! execute {
    ($conn:expr, $sql:expr) => {
        match &mut $conn {
            Conn::Pg(c) => c.batch_execute($sql),
            Conn::Lite(c) => c.batch_execute($sql),
        }
        .unwrap_or_else(|e| panic!("{}: {e}", $sql))
    };
}

/// The view statements of the last migration that wrote every `bi_*` view (before the views came from
/// their declarations), keyed by view.
fn migrated_views(backend: Backend) -> Vec<(String, String)> {
    let folder = if backend == Backend::Postgres { "postgres" } else { "sqlite" };
    let sql = String::from_utf8(common::read(&format!(
        "migrations/{folder}/2026-12-01-100000_bi_views_licence_title/up.sql"
    )))
    .expect("UTF-8");
    let code: String = sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    code.split(';')
        .filter(|s| s.contains(" AS\nSELECT"))
        .map(|s| {
            let view = s.split("VIEW ").nth(1).and_then(|r| r.split_whitespace().next()).expect("view name");
            (view.to_string(), s.trim().to_string())
        })
        .collect()
}

/// Each `bi_*` view, created from its declaration after the migrations, has the columns (names, order,
/// types) and rows of the view the migrations created, then the columns appended since (PostgreSQL
/// can only append to a view it replaces: `view_appended`); a second start replaces nothing; on PostgreSQL a
/// view replaced after a change keeps a BI role's grant.
async fn bi_views_follow_their_declarations_and_equal_the_migrated_ones(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let mut conn = match backend {
        Backend::Postgres => Conn::Pg(diesel::PgConnection::establish(&store.url).expect("PostgreSQL")),
        Backend::Sqlite => Conn::Lite(diesel::SqliteConnection::establish(&store.url).expect("SQLite")),
    };
    let columns = |conn: &mut Conn, view: &str| -> Vec<ViewColumn> {
        match backend {
            Backend::Postgres => load!(
                *conn,
                format!(
                    "SELECT column_name::text AS name, data_type::text AS kind FROM information_schema.columns \
                     WHERE table_schema = 'public' AND table_name = '{view}' ORDER BY ordinal_position"
                ),
                ViewColumn
            ),
            // SQLite's views have no declared types: compare the names and the values.
            Backend::Sqlite => load!(
                *conn,
                format!("SELECT name, '' AS kind FROM pragma_table_info('{view}') ORDER BY cid"),
                ViewColumn
            ),
        }
    };
    let migrated = migrated_views(backend);
    // Every view the migrations wrote is declared (a theme added later has no migrated view).
    let declared: Vec<&str> = store::BI_ENTITIES.iter().map(|e| e.view).collect();
    assert_eq!(migrated.len(), 5, "{:?}", migrated.iter().map(|m| &m.0).collect::<Vec<_>>());
    assert!(migrated.iter().all(|(view, _)| declared.contains(&view.as_str())), "{declared:?}");
    for (view, statement) in &migrated {
        let legacy = format!("legacy_{view}");
        execute!(conn, &statement.replacen(&format!("VIEW {view} AS"), &format!("VIEW {legacy} AS"), 1));
        let (ours, theirs) = (columns(&mut conn, view), columns(&mut conn, &legacy));
        assert!(ours.len() > 10, "{view}: {ours:?}");
        assert!(ours.len() >= theirs.len(), "{view}: {ours:?}");
        assert_eq!(ours[..theirs.len()], theirs[..], "{view}: the migrated columns first, in order, with their types");
        let legacy_columns = theirs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
        let count = |conn: &mut Conn, sql: String| load!(*conn, sql, Count)[0].n;
        let rows = count(&mut conn, format!("SELECT COUNT(*) AS n FROM {view}"));
        assert!(rows > 0, "{view} has rows from the sample");
        assert_eq!(rows, count(&mut conn, format!("SELECT COUNT(*) AS n FROM {legacy}")), "{view}: rows");
        for (a, b) in [(view.as_str(), legacy.as_str()), (legacy.as_str(), view.as_str())] {
            let differing = count(
                &mut conn,
                format!(
                    "SELECT COUNT(*) AS n FROM (SELECT {legacy_columns} FROM {a} EXCEPT SELECT {legacy_columns} FROM {b}) x"
                ),
            );
            assert_eq!(differing, 0, "rows of {a} missing from {b}");
        }
        let entity = store::BI_ENTITIES.iter().find(|e| e.view == view).expect("declared");
        let declared: Vec<&str> = entity.view_columns().iter().map(|c| c.name).collect();
        assert_eq!(ours.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), declared, "{view}: declaration order");
    }

    let replaced = store::with_conn(&store.pool, store::bi::create_views).await.expect("views");
    assert_eq!(replaced, 0, "unchanged declarations replace no view");

    if let Conn::Pg(pg) = &mut conn {
        let role = format!("bi_grant_{}", std::process::id());
        pg.batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role}; GRANT SELECT ON bi_sites TO {role}"
        ))
        .expect("role");
        // A view whose definition changed (here: its marker) is replaced in place.
        pg.batch_execute("COMMENT ON VIEW bi_sites IS 'an older definition'").expect("comment");
        let replaced = store::with_conn(&store.pool, store::bi::create_views).await.expect("views");
        let granted = load!(
            conn,
            format!(
                "SELECT CAST(CASE WHEN has_table_privilege('{role}', 'bi_sites', 'SELECT') THEN 1 ELSE 0 END AS BIGINT) AS n"
            ),
            Count
        )[0]
        .n;
        if let Conn::Pg(pg) = &mut conn {
            pg.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}")).expect("clean");
        }
        assert_eq!(replaced, 1);
        assert_eq!(granted, 1, "the BI role still reads the replaced view");
    }
}
