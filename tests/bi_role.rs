//! The README's read-only BI role, applied to a real PostgreSQL: it reads the bi_* views and nothing else.

mod common;

use common::{Backend, TestStore};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The SQL block of docs/bi.md, with the database name and password of this test.
fn recipe(database: &str) -> String {
    let doc = String::from_utf8(common::read("docs/bi.md")).expect("UTF-8");
    let block =
        doc.split("```sql").nth(1).and_then(|rest| rest.split("```").next()).expect("an SQL block in docs/bi.md");
    block
        .replace("DATABASE crisisgraph", &format!("DATABASE \"{database}\""))
        .replace("choose-a-password", "bi-test-password")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bi_role_reads_the_views_and_nothing_else() {
    let Some(store) = TestStore::new(Backend::Postgres).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let database = store.url.rsplit('/').next().and_then(|d| d.split('?').next()).expect("database name").to_string();
    let role = format!("bi_reader_{}", std::process::id());
    let mut admin = diesel::PgConnection::establish(&store.url).expect("connect");
    admin.batch_execute(&format!("DROP ROLE IF EXISTS {role}")).expect("clean");
    admin.batch_execute(&recipe(&database).replace("bi_reader", &role)).expect("the recipe runs");

    let url = store.url.replacen("postgres://postgres@", &format!("postgres://{role}:bi-test-password@"), 1);
    let result = std::panic::catch_unwind(|| {
        let mut reader = diesel::PgConnection::establish(&url).expect("the BI role connects");
        for view in ["bi_idps", "bi_population", "bi_appeals", "bi_sites", "bi_admin_areas"] {
            let rows: Vec<Count> = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {view}"))
                .load(&mut reader)
                .expect("view readable");
            assert!(rows[0].n > 0, "{view} has rows");
        }
        let mali: Vec<Count> = diesel::sql_query(
            "SELECT CAST(SUM(idps) AS BIGINT) AS n FROM bi_idps WHERE country_iso3 = 'MLI' AND admin_level = 1 AND round_number = 68",
        )
        .load(&mut reader)
        .expect("query");
        assert_eq!(mali[0].n, 311_193);
        assert!(
            diesel::sql_query("SELECT COUNT(*) AS n FROM idp_figures").load::<Count>(&mut reader).is_err(),
            "raw tables hidden"
        );
        assert!(reader.batch_execute("DELETE FROM countries").is_err(), "no writes");
    });
    drop(admin.batch_execute(&format!("REASSIGN OWNED BY {role} TO postgres; DROP OWNED BY {role}; DROP ROLE {role}")));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
