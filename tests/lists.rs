//! Lists that scale, on both stores: filters (area subtree, operation, dates), orders, stable
//! cursors forwards and backwards, and totalCount, checked against OCHA's own output for Haiti.

mod common;

use common::{Backend, TestStore, fixture_server, graphql, graphql_response, ingester, options};
use ingest::Source;
use serde_json::Value;

on_both_stores!(filtered_ordered_pages_match_the_oracle, every_entity_is_a_node, cursors_survive_inserts_between_pages);

/// (p-code, operation, round, date, assessment type, IDPs) of Haiti's admin-2 figures in OCHA's file.
fn oracle_haiti_admin2() -> Vec<(String, String, String, i64)> {
    let bytes = common::read("tests/fixtures/hdx_hapi_idps_global.TCD-HTI-AFG-subset.csv");
    let mut reader = csv::Reader::from_reader(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes));
    let headers = reader.headers().expect("header").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    reader
        .records()
        .map(|r| r.expect("row"))
        .filter(|r| &r[col("location_code")] == "HTI" && &r[col("admin_level")] == "2")
        .map(|r| {
            (
                r[col("admin1_code")].to_string(),
                r[col("operation")].to_string(),
                r[col("reference_period_start")].to_string(),
                r[col("population")].parse().expect("population"),
            )
        })
        .collect()
}

async fn page(pool: &store::DbPool, args: &str) -> Value {
    let query = format!(
        r#"{{ country(iso3: "HTI") {{ idps(adminLevel: 2, {args}) {{ totalCount
            pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
            nodes {{ individuals reportingDate operation area {{ pcode parent {{ pcode }} }} }} }} }} }}"#
    );
    graphql(pool, &query).await["country"]["idps"].clone()
}

async fn filtered_ordered_pages_match_the_oracle(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = fixture_server().await;
    let ingester = ingester(&store, &server);
    ingester.run(Source::Geography, &options(&["HTI"], &[])).await.expect("geography");
    ingester.run(Source::Dtm, &options(&["HTI"], &[2])).await.expect("dtm");
    let oracle = oracle_haiti_admin2();
    let operation = oracle[0].1.clone();
    let expected: Vec<&(String, String, String, i64)> =
        oracle.iter().filter(|r| r.0 == "HT01" && r.1 == operation && r.2.as_str() >= "2019-01-01").collect();
    assert!(expected.len() > 20, "{} rows", expected.len());

    // Forwards, 17 at a time, largest first.
    let filter = format!(r#"pcode: "HT01", operation: "{operation}", from: "2019-01-01", orderBy: INDIVIDUALS_DESC"#);
    let mut seen: Vec<i64> = Vec::new();
    let mut after = String::new();
    loop {
        let p = page(&store.pool, &format!("{filter}, first: 17{after}")).await;
        assert_eq!(p["totalCount"].as_u64(), Some(expected.len() as u64));
        for n in p["nodes"].as_array().expect("nodes") {
            assert_eq!(n["area"]["parent"]["pcode"], "HT01");
            assert!(n["reportingDate"].as_str().is_some_and(|d| d >= "2019-01-01"));
            seen.push(n["individuals"].as_i64().expect("n"));
        }
        if p["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = format!(r#", after: "{}""#, p["pageInfo"]["endCursor"].as_str().expect("cursor"));
    }
    let mut want: Vec<i64> = expected.iter().map(|r| r.3).collect();
    want.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(seen, want, "every figure once, largest first");

    // Backwards from the end gives the same last page.
    let tail = page(&store.pool, &format!("{filter}, last: 5")).await;
    let tail_values: Vec<i64> =
        tail["nodes"].as_array().expect("nodes").iter().map(|n| n["individuals"].as_i64().expect("n")).collect();
    assert_eq!(tail_values, want[want.len() - 5..]);
    assert_eq!(tail["pageInfo"]["hasPreviousPage"], true);
    let before = tail["pageInfo"]["startCursor"].as_str().expect("cursor");
    let previous = page(&store.pool, &format!(r#"{filter}, last: 5, before: "{before}""#)).await;
    let previous_values: Vec<i64> =
        previous["nodes"].as_array().expect("nodes").iter().map(|n| n["individuals"].as_i64().expect("n")).collect();
    assert_eq!(previous_values, want[want.len() - 10..want.len() - 5]);

    // One area's own list, paged forwards without asking for totalCount (one row more is read to
    // know about a next page), gives exactly the counted list.
    let first_area =
        page(&store.pool, "first: 1").await["nodes"][0]["area"]["pcode"].as_str().expect("pcode").to_string();
    let area_idps = |args: String| {
        let pool = store.pool.clone();
        let area = first_area.clone();
        async move {
            let query = format!(
                r#"{{ adminArea(pcode: "{area}") {{ idps({args}) {{ {{COUNT}} pageInfo {{ hasNextPage endCursor }}
                    nodes {{ individuals reportingDate operation }} }} }} }}"#
            );
            graphql(&pool, &query.replace("{COUNT}", if args.contains("first: 1000") { "totalCount" } else { "" }))
                .await["adminArea"]["idps"]
                .clone()
        }
    };
    let counted = area_idps("first: 1000".into()).await;
    let all = counted["nodes"].as_array().expect("nodes").clone();
    assert!(all.len() >= 3, "{first_area} has {} figures", all.len());
    assert_eq!(counted["totalCount"].as_u64(), Some(all.len() as u64));
    let (mut paged, mut after) = (Vec::new(), String::new());
    loop {
        let p = area_idps(format!("first: 2{after}")).await;
        paged.extend(p["nodes"].as_array().expect("nodes").iter().cloned());
        if p["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = format!(r#", after: "{}""#, p["pageInfo"]["endCursor"].as_str().expect("cursor"));
    }
    assert_eq!(paged, all, "uncounted pages of {first_area}");

    // Newest first, and a bad cursor is the client's error.
    let newest = page(&store.pool, r#"orderBy: DATE_DESC, first: 3"#).await;
    let dates: Vec<&str> =
        newest["nodes"].as_array().expect("nodes").iter().map(|n| n["reportingDate"].as_str().expect("d")).collect();
    let latest = oracle.iter().map(|r| r.2.as_str()).max().expect("a date");
    assert_eq!(dates[0], latest);
    let bad =
        graphql_response(&store.pool, r#"{ country(iso3: "HTI") { idps(after: "not-a-cursor") { totalCount } } }"#)
            .await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

async fn every_entity_is_a_node(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let ids = graphql(
        &store.pool,
        r#"{ country(iso3: "MLI") { id appeals(year: 2021) { id code }
               idps(first: 1) { nodes { id individuals } } }
             adminArea(pcode: "ML05") { id pcode }
             ingestRuns(first: 1) { nodes { id source } }
             datasets { id title resources { id name } }
             ssd: country(iso3: "SSD") { sites(first: 1) { nodes { id name siteCode } } } }"#,
    )
    .await;
    let cases = [
        (ids["country"]["id"].clone(), "... on Country { iso3 }", "iso3", Value::from("MLI")),
        (ids["adminArea"]["id"].clone(), "... on AdminArea { pcode }", "pcode", Value::from("ML05")),
        (ids["country"]["appeals"][0]["id"].clone(), "... on Appeal { code }", "code", Value::from("HMLI21")),
        (
            ids["country"]["idps"]["nodes"][0]["id"].clone(),
            "... on IdpFigure { individuals }",
            "individuals",
            ids["country"]["idps"]["nodes"][0]["individuals"].clone(),
        ),
        (
            ids["ingestRuns"]["nodes"][0]["id"].clone(),
            "... on IngestRun { source }",
            "source",
            ids["ingestRuns"]["nodes"][0]["source"].clone(),
        ),
        (ids["datasets"][0]["id"].clone(), "... on Dataset { title }", "title", ids["datasets"][0]["title"].clone()),
        (
            ids["datasets"][0]["resources"][0]["id"].clone(),
            "... on Resource { name }",
            "name",
            ids["datasets"][0]["resources"][0]["name"].clone(),
        ),
        (
            ids["ssd"]["sites"]["nodes"][0]["id"].clone(),
            "... on Site { name }",
            "name",
            ids["ssd"]["sites"]["nodes"][0]["name"].clone(),
        ),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (id, fragment, field, expected) in cases {
        let id = id.as_str().unwrap_or_else(|| panic!("an id for {fragment}")).to_string();
        assert!(seen.insert(id.clone()), "ids are unique across types: {id}");
        let data = graphql(&store.pool, &format!(r#"{{ node(id: "{id}") {{ id {fragment} }} }}"#)).await;
        assert_eq!(data["node"]["id"], id.as_str());
        assert_eq!(data["node"][field], expected, "{id}");
    }
    // The ids `ingestRun` and `dataset` take are the same ids.
    let run = ids["ingestRuns"]["nodes"][0]["id"].as_str().expect("run id");
    let data = graphql(&store.pool, &format!(r#"{{ ingestRun(id: "{run}") {{ id }} }}"#)).await;
    assert_eq!(data["ingestRun"]["id"], run);
    let dataset = ids["datasets"][0]["id"].as_str().expect("dataset id");
    let data = graphql(&store.pool, &format!(r#"{{ dataset(id: "{dataset}") {{ id }} }}"#)).await;
    assert_eq!(data["dataset"]["id"], dataset);
    // An IDP figure keeps its id when a re-ingest rewrites its total (the refresh deletes and inserts
    // the row, so its row id changes: here, every row id at once).
    let figure = ids["country"]["idps"]["nodes"][0]["id"].clone();
    store::with_conn(&store.pool, |c| {
        use diesel::connection::SimpleConnection;
        c.batch_execute("UPDATE idp_totals SET id = id + 1000000").map_err(store::StoreError::Query)
    })
    .await
    .expect("row ids rewritten");
    let again = graphql(&store.pool, r#"{ country(iso3: "MLI") { idps(first: 1) { nodes { id } } } }"#).await;
    assert_eq!(again["country"]["idps"]["nodes"][0]["id"], figure);
    let node = graphql(&store.pool, &format!(r#"{{ node(id: {figure}) {{ id }} }}"#)).await;
    assert_eq!(node["node"]["id"], figure, "the figure is found by its id after the rewrite");

    assert_eq!(graphql(&store.pool, r#"{ node(id: "AdminArea:999999") { id } }"#).await["node"], Value::Null);
    let bad = graphql_response(&store.pool, r#"{ node(id: "Planet:3") { id } }"#).await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

/// Every connection's cursor is the position of a row in its order, not an offset: a row inserted
/// before the cursor between two pages neither repeats a row nor skips one.
async fn cursors_survive_inserts_between_pages(backend: Backend) {
    use diesel::connection::SimpleConnection;
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let execute = |sql: String| {
        let pool = store.pool.clone();
        async move {
            store::with_conn(&pool, move |c| c.batch_execute(&sql).map_err(store::StoreError::Query))
                .await
                .expect("SQL")
        }
    };
    let date = |d: &str| if backend == Backend::Postgres { format!("DATE '{d}'") } else { format!("'{d}'") };

    // (list, its page of 3 as `{args}`, the field to compare, SQL inserting a row that sorts first)
    let lists = [
        (
            r#"ingestRuns({args}) { pageInfo { endCursor } nodes { id } }"#.to_string(),
            "id",
            "INSERT INTO ingest_runs (source, params, trigger, dry_run, status, started_at, heartbeat_at) \
             SELECT source, params, trigger, dry_run, status, started_at, heartbeat_at FROM ingest_runs WHERE id = 1"
                .to_string(),
            "ingestRuns",
        ),
        (
            r#"country(iso3: "HTI") { idps(adminLevel: 2, {args}) { pageInfo { endCursor } nodes { id } } }"#
                .to_string(),
            "id",
            format!(
                "INSERT INTO idp_totals (country_iso3, admin_level, source_pcode, area_id, area_matched, operation, \
                 round_number, reporting_date, assessment_type, resource_id, source_name, individuals, run_id, \
                 retrieved_at, is_latest_round) SELECT country_iso3, admin_level, source_pcode, area_id, area_matched, \
                 operation, round_number, {}, assessment_type, resource_id, source_name, individuals, run_id, \
                 retrieved_at, FALSE FROM idp_totals WHERE country_iso3 = 'HTI' AND admin_level = 2 \
                 ORDER BY id LIMIT 1",
                date("1990-01-01")
            ),
            "idps",
        ),
        (
            r#"country(iso3: "SSD") { sites({args}) { pageInfo { endCursor } nodes { id } } }"#.to_string(),
            "id",
            "INSERT INTO sites (country_iso3, site_code, name, site_type, latitude, longitude, area_id, area_matched, \
             source_pcode, households, individuals, round_number, reporting_date, resource_id, run_id, retrieved_at) \
             SELECT country_iso3, '0000-inserted', name, site_type, latitude, longitude, area_id, area_matched, \
             source_pcode, households, individuals, round_number, reporting_date, resource_id, run_id, retrieved_at \
             FROM sites ORDER BY id LIMIT 1"
                .to_string(),
            "sites",
        ),
        (
            r#"adminArea(pcode: "HT0111") { idps({args}) { pageInfo { endCursor } nodes { id } } }"#.to_string(),
            "id",
            format!(
                "INSERT INTO idp_totals (country_iso3, admin_level, source_pcode, area_id, area_matched, operation, \
                 round_number, reporting_date, assessment_type, resource_id, source_name, individuals, run_id, \
                 retrieved_at, is_latest_round) SELECT country_iso3, admin_level, source_pcode, area_id, area_matched, \
                 operation, round_number, {}, assessment_type, resource_id, source_name, individuals, run_id, \
                 retrieved_at, FALSE FROM idp_totals WHERE area_matched AND area_id = \
                 (SELECT id FROM admin_areas WHERE pcode = 'HT0111') ORDER BY id LIMIT 1",
                date("1989-01-01")
            ),
            "areaIdps",
        ),
        (
            r#"adminArea(pcode: "SSD") { sites({args}) { pageInfo { endCursor } nodes { id } } }"#.to_string(),
            "id",
            "INSERT INTO sites (country_iso3, site_code, name, site_type, latitude, longitude, area_id, area_matched, \
             source_pcode, households, individuals, round_number, reporting_date, resource_id, run_id, retrieved_at) \
             SELECT country_iso3, '0000-inserted-again', name, site_type, latitude, longitude, area_id, area_matched, \
             source_pcode, households, individuals, round_number, reporting_date, resource_id, run_id, retrieved_at \
             FROM sites ORDER BY id LIMIT 1"
                .to_string(),
            "areaSites",
        ),
    ];
    for (list, field, insert, name) in lists {
        let query = |args: String| format!("{{ {} }}", list.replace("{args}", &args));
        let pick = |data: &Value| -> (Vec<Value>, String) {
            let connection = data.pointer(&format!("/{}", path_of(name))).cloned().unwrap_or(Value::Null);
            let nodes = connection["nodes"].as_array().expect("nodes").iter().map(|n| n[field].clone()).collect();
            (nodes, connection["pageInfo"]["endCursor"].as_str().unwrap_or_default().to_string())
        };
        let (whole, _) = pick(&graphql(&store.pool, &query("first: 6".into())).await);
        let (first, cursor) = pick(&graphql(&store.pool, &query("first: 3".into())).await);
        assert_eq!(first, whole[..3], "{name}");
        assert!(cursor.parse::<i64>().is_err(), "{name}: the cursor is not a plain number: {cursor}");
        execute(insert).await;
        let (second, _) = pick(&graphql(&store.pool, &query(format!(r#"first: 3, after: "{cursor}""#))).await);
        assert_eq!(second, whole[3..6], "{name}: the page after the cursor is the rows after it");
    }
}

/// Where a list's connection sits in the answer of the queries above.
fn path_of(name: &str) -> &'static str {
    match name {
        "ingestRuns" => "ingestRuns",
        "idps" => "country/idps",
        "areaIdps" => "adminArea/idps",
        "areaSites" => "adminArea/sites",
        _ => "country/sites",
    }
}
