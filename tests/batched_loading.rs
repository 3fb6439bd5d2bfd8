//! Nested lists are loaded in batches: the number of SQL queries for a nested query does not grow
//! with the number of areas in the answer (no query per row), and a batch never splits, however busy
//! the machine (api/src/batching.rs sends a loader's keys once only loaders can move the request on;
//! guessing that moment by yields had split them: 37-53 statements where 13-18 do). Its own test
//! binary, because diesel's query counter hook is process-wide. The tests run on a one-thread
//! runtime, as actix-web gives each server worker.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::connection::{InstrumentationEvent, set_default_instrumentation};

static QUERIES: AtomicUsize = AtomicUsize::new(0);
/// The query counter is process-wide: the tests that read it run one at a time.
static COUNTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn count_queries() -> Option<Box<dyn diesel::connection::Instrumentation>> {
    Some(Box::new(|event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { .. } = event {
            QUERIES.fetch_add(1, Ordering::SeqCst);
        }
    }))
}

async fn queries_for(pool: &store::DbPool, query: &str) -> (usize, serde_json::Value) {
    QUERIES.store(0, Ordering::SeqCst);
    let data = common::graphql(pool, query).await;
    (QUERIES.load(Ordering::SeqCst), data)
}

#[tokio::test(flavor = "current_thread")]
async fn nested_queries_do_not_query_per_row() {
    let _counting = COUNTING.lock().await;
    set_default_instrumentation(count_queries).expect("instrumentation hook");
    let Some(store) = common::TestStore::new(common::Backend::Sqlite).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample loads");

    let nested = |level: i32| {
        format!(
            r#"{{ country(iso3: "HTI") {{ adminAreas(level: {level}) {{ pcode parent {{ pcode }} children {{ pcode }}
                idps(latestRoundOnly: true) {{ nodes {{ individuals area {{ name }} dataset {{ credit }} ingestRun {{ id }} }} }}
                idpTotals {{ individuals method }} idpShare {{ share reason }} population {{ total }}
                sites(first: 5) {{ totalCount nodes {{ name }} }} }} }} }}"#
        )
    };
    let (level1_queries, level1) = queries_for(&store.pool, &nested(1)).await;
    let (level2_queries, level2) = queries_for(&store.pool, &nested(2)).await;
    let regions = level1["country"]["adminAreas"].as_array().map(Vec::len).unwrap_or(0);
    let communes = level2["country"]["adminAreas"].as_array().map(Vec::len).unwrap_or(0);
    assert!(regions >= 10 && communes >= 100, "{regions} regions, {communes} communes");
    // Each batch is one checkout (r2d2 pings the connection) plus its query.
    assert!(level1_queries <= 40, "{level1_queries} queries for {regions} regions");
    // One statement per loader and level, however many rows the level has: ten times the areas, no
    // more statements (a split batch, or a field loaded per row, would add some).
    assert!(
        level2_queries <= level1_queries,
        "{communes} communes took {level2_queries} queries, {regions} regions {level1_queries}"
    );
}

/// `provenance` (dataset, resource, run, licence, credit, URL) on every figure of a nested list costs
/// one batched query per link, not one per figure.
#[tokio::test(flavor = "current_thread")]
async fn provenance_is_loaded_in_batches() {
    let _counting = COUNTING.lock().await;
    set_default_instrumentation(count_queries).expect("instrumentation hook");
    let Some(store) = common::TestStore::new(common::Backend::Sqlite).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample loads");

    let provenance = "provenance { dataset { title } resource { url } ingestRun { id } dataAsOf retrievedAt \
                      licence credit sourceUrl }";
    let nested = |level: i32| {
        format!(
            r#"{{ country(iso3: "HTI") {{ adminAreas(level: {level}) {{ pcode
                idps(latestRoundOnly: true) {{ nodes {{ individuals {provenance} }} }}
                idpTotals {{ individuals {provenance} }} population {{ total {provenance} }} }} }} }}"#
        )
    };
    let (level1_queries, level1) = queries_for(&store.pool, &nested(1)).await;
    let (level2_queries, level2) = queries_for(&store.pool, &nested(2)).await;
    let regions = level1["country"]["adminAreas"].as_array().map(Vec::len).unwrap_or(0);
    let communes = level2["country"]["adminAreas"].as_array().map(Vec::len).unwrap_or(0);
    let figures: usize = level2["country"]["adminAreas"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["idps"]["nodes"].as_array().map(Vec::len).unwrap_or(0))
        .sum();
    assert!(regions >= 10 && communes >= 100 && figures >= communes, "{regions}, {communes}, {figures}");
    assert!(level1_queries <= 40, "{level1_queries} queries for {regions} regions");
    assert!(
        level2_queries <= level1_queries,
        "{communes} communes ({figures} figures) took {level2_queries} queries, {regions} regions {level1_queries}"
    );
}

/// A page of markets asking for their prices (with counts, commodities, markets and provenance) and
/// Mali's regions asking for their markets cost batched queries, not one per market or per region.
#[tokio::test(flavor = "current_thread")]
async fn market_prices_and_area_markets_are_loaded_in_batches() {
    let _counting = COUNTING.lock().await;
    set_default_instrumentation(count_queries).expect("instrumentation hook");
    let Some(store) = common::TestStore::new(common::Backend::Sqlite).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample loads");

    let markets = |first: i32| {
        format!(
            r#"{{ country(iso3: "AFG") {{ markets(first: {first}) {{ nodes {{ name area {{ pcode }}
                prices(first: 3) {{ totalCount nodes {{ price commodity {{ name category }} market {{ name }}
                  provenance {{ licence sourceUrl }} }} }} }} }} }} }}"#
        )
    };
    let (few_queries, few) = queries_for(&store.pool, &markets(2)).await;
    let (ten_queries, ten) = queries_for(&store.pool, &markets(10)).await;
    let (many_queries, many) = queries_for(&store.pool, &markets(1000)).await;
    let count = |data: &serde_json::Value| data["country"]["markets"]["nodes"].as_array().map(Vec::len).unwrap_or(0);
    let priced_of = |data: &serde_json::Value| {
        data["country"]["markets"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["prices"]["totalCount"].as_i64().unwrap_or(0) > 0)
            .count()
    };
    assert_eq!(count(&few), 2);
    let priced = priced_of(&many);
    assert!(count(&many) >= 100 && priced >= 1, "{} markets, {priced} priced", count(&many));
    // Ten markets (priced ones among them, so every loader of the query is used) and all of them
    // take the same statements: one per loader and level.
    assert!(priced_of(&ten) >= 1, "no priced market among the first ten");
    assert_eq!(
        many_queries,
        ten_queries,
        "{} markets took {many_queries} queries, 10 markets {ten_queries} (2 markets {few_queries})",
        count(&many)
    );

    let regions = r#"{ country(iso3: "MLI") { adminAreas(level: 1) { pcode markets(first: 5) { totalCount
        nodes { name area { pcode } } } } } }"#;
    let (region_queries, data) = queries_for(&store.pool, regions).await;
    let areas = data["country"]["adminAreas"].as_array().map(Vec::len).unwrap_or(0);
    let markets: i64 = data["country"]["adminAreas"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["markets"]["totalCount"].as_i64().unwrap_or(0))
        .sum();
    assert!(areas >= 10 && markets > 0, "{areas} regions, {markets} markets");
    assert!(region_queries < 40, "{region_queries} queries for {areas} regions");
}
