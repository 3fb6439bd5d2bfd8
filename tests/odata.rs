//! The OData v4 feed at `/odata/` on both stores, with figures computed from the sample's raw files:
//! the service document and `$metadata` list every BI entity; `$filter` (every operator and function,
//! typed literals, null, dates and instants for incremental refresh), `$select`, `$orderby`, `$top`,
//! `$skip`, `$count` and `/$count` give the files' figures; a next-link walk gives every row once, the
//! rows of the CSV export, and keys that tell rows apart; every bad request is a 4xx OData error with
//! a code.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use actix_web::test as awtest;
use common::{Backend, TestStore};
use serde_json::Value;

on_both_stores!(
    the_feed_answers_with_the_files_figures,
    next_link_walks_give_every_row_once_as_the_csv_export,
    bad_requests_are_odata_errors_with_codes,
    navigation_and_expand_lead_to_the_files_areas_and_countries,
);

/// The test service (the app's routes, as `crisisgraph serve` configures them).
trait App:
    actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse, Error = actix_web::Error>
{
}
impl<T> App for T where
    T: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >
{
}

async fn app(store: &TestStore) -> impl App {
    let schema = api::build_schema(store.pool.clone(), api::Operations::default());
    awtest::init_service(actix_web::App::new().configure(api::server::configure(schema, store.pool.clone()))).await
}

/// A GET, with an optional `Prefer` header: status, headers and body.
async fn get(app: &impl App, uri: &str, prefer: Option<&str>) -> (u16, actix_web::http::header::HeaderMap, Vec<u8>) {
    let mut request = awtest::TestRequest::get().uri(&encode_spaces(uri));
    if let Some(prefer) = prefer {
        request = request.insert_header(("Prefer", prefer));
    }
    let response = awtest::call_service(app, request.to_request()).await;
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, awtest::read_body(response).await.to_vec())
}

fn encode_spaces(uri: &str) -> String {
    uri.replace(' ', "%20")
}

async fn json(app: &impl App, uri: &str) -> Value {
    let (status, headers, body) = get(app, uri, None).await;
    assert_eq!(status, 200, "{uri}: {}", String::from_utf8_lossy(&body));
    assert_eq!(headers.get("OData-Version").and_then(|v| v.to_str().ok()), Some("4.0"), "{uri}");
    serde_json::from_slice(&body).expect("JSON")
}

/// The rows of an entity set request (one page).
async fn rows(app: &impl App, uri: &str) -> Vec<Value> {
    json(app, uri).await["value"].as_array().expect("value").clone()
}

/// Every row, following `@odata.nextLink` with pages of `page` rows; and how many pages it took.
async fn walk(app: &impl App, uri: &str, page: usize) -> (Vec<Value>, usize) {
    let prefer = format!("odata.maxpagesize={page}");
    let (mut url, mut out, mut pages) = (uri.to_string(), Vec::new(), 0);
    loop {
        let (status, headers, body) = get(app, &url, Some(&prefer)).await;
        assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
        assert_eq!(headers.get("Preference-Applied").and_then(|v| v.to_str().ok()), Some(prefer.as_str()));
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        let value = body["value"].as_array().expect("value");
        assert!(value.len() <= page, "a page holds at most {page} rows");
        out.extend(value.iter().cloned());
        pages += 1;
        match body["@odata.nextLink"].as_str() {
            // The link is absolute; the test service is reached by path.
            Some(next) => url = next[next.find("/odata/").expect("a feed URL")..].to_string(),
            None => return (out, pages),
        }
    }
}

fn sum(rows: &[Value], property: &str) -> i64 {
    rows.iter().map(|r| r[property].as_i64().expect("a whole number")).sum()
}

/// Mali's round-68 IDPs per region, from the DTM payload.
fn mali_regions_from_payload() -> BTreeMap<String, i64> {
    let file: Value = serde_json::from_slice(&common::read(common::DTM_FILES[9].2)).expect("JSON");
    let mut out = BTreeMap::new();
    for r in file["result"].as_array().expect("rows") {
        assert_eq!(r["roundNumber"], 68);
        *out.entry(r["admin1Pcode"].as_str().expect("pcode").to_string()).or_default() +=
            r["numPresentIdpInd"].as_i64().expect("n");
    }
    out
}

/// Mali's national population (both sexes, all ages): the COD file's `T_TL`.
fn mali_population_from_file() -> i64 {
    let text = String::from_utf8(common::read("sample/cod/mli_pop_adm0_v2.csv")).expect("UTF-8");
    let mut lines = text.trim_start_matches('\u{feff}').lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let row: Vec<&str> = lines.next().expect("row").split(',').collect();
    let at = header.iter().position(|h| *h == "T_TL").expect("T_TL");
    row[at].parse().expect("a whole number")
}

async fn the_feed_answers_with_the_files_figures(backend: Backend) {
    tokio::task::LocalSet::new().run_until(figures_scenario(backend)).await;
}

async fn figures_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app(&store).await;

    // The service document and $metadata name every BI entity.
    let service = json(&app, "/odata/").await;
    let names: BTreeSet<&str> =
        service["value"].as_array().expect("sets").iter().map(|s| s["name"].as_str().expect("name")).collect();
    assert_eq!(names.len(), store::BI_ENTITIES.len());
    let (status, headers, body) = get(&app, "/odata/$metadata", None).await;
    assert_eq!(status, 200);
    assert!(headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|c| c.contains("xml")));
    let csdl = String::from_utf8(body).expect("UTF-8");
    for name in &names {
        assert!(csdl.contains(&format!("<EntityType Name=\"{name}\">")), "{name} has an entity type");
        assert!(csdl.contains(&format!("<EntitySet Name=\"{name}\" EntityType=\"crisisgraph.{name}\"")), "{name}");
    }
    assert!(csdl.contains("<Property Name=\"idps\" Type=\"Edm.Int64\" Nullable=\"false\">"));
    assert!(csdl.contains("<Property Name=\"reporting_date\" Type=\"Edm.Date\" Nullable=\"false\">"));
    assert!(csdl.contains("<Property Name=\"retrieved_at\" Type=\"Edm.DateTimeOffset\" Nullable=\"false\">"));
    assert!(csdl.contains("<Property Name=\"area_pcode\" Type=\"Edm.String\" Nullable=\"true\">"));

    // Mali's regions in round 68: the payload's figures, through $filter and $select.
    let expected = mali_regions_from_payload();
    let mali = "/odata/Idps?$filter=country_iso3 eq 'MLI' and admin_level eq 1 and round_number eq 68";
    let regions = rows(&app, &format!("{mali}&$select=area_pcode,idps")).await;
    let ours: BTreeMap<String, i64> = regions
        .iter()
        .map(|r| (r["area_pcode"].as_str().expect("pcode").to_string(), r["idps"].as_i64().expect("idps")))
        .collect();
    assert_eq!(ours, expected);
    assert_eq!(sum(&regions, "idps"), 311_193);
    assert!(regions.iter().all(|r| r.as_object().expect("object").len() == 2), "$select gives only those");

    // $count=true and /$count.
    let counted = json(&app, &format!("{mali}&$count=true&$top=1")).await;
    assert_eq!(counted["@odata.count"].as_i64(), Some(expected.len() as i64));
    assert_eq!(counted["value"].as_array().map(Vec::len), Some(1));
    let (_, _, body) = get(&app, "/odata/Idps/$count?$filter=country_iso3 eq 'MLI' and admin_level eq 1", None).await;
    assert_eq!(String::from_utf8(body).expect("text"), expected.len().to_string());

    // $orderby, $top and $skip.
    let mut by_size: Vec<(String, i64)> = expected.iter().map(|(k, v)| (k.clone(), *v)).collect();
    by_size.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let ordered = rows(&app, &format!("{mali}&$orderby=idps desc,area_pcode&$select=area_pcode,idps")).await;
    let ordered: Vec<(String, i64)> = ordered
        .iter()
        .map(|r| (r["area_pcode"].as_str().unwrap_or("").to_string(), r["idps"].as_i64().expect("idps")))
        .collect();
    assert_eq!(ordered, by_size);
    let window = rows(&app, &format!("{mali}&$orderby=idps desc&$top=3&$skip=2&$select=area_pcode")).await;
    let window: Vec<&str> = window.iter().map(|r| r["area_pcode"].as_str().expect("pcode")).collect();
    assert_eq!(window, by_size[2..5].iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>());
    assert!(rows(&app, &format!("{mali}&$skip=8")).await.is_empty(), "$skip past the end: no rows");

    // Every operator and function, against the payload's regions.
    let pick = |keep: &dyn Fn(&str, i64) -> bool| -> i64 {
        expected.iter().filter(|(p, n)| keep(p, **n)).map(|(_, n)| n).sum()
    };
    let cases: Vec<(&str, i64)> = vec![
        ("area_pcode eq 'ML05'", pick(&|p, _| p == "ML05")),
        ("area_pcode ne 'ML05'", pick(&|p, _| p != "ML05")),
        ("idps gt 43180", pick(&|_, n| n > 43_180)),
        ("idps ge 43180", pick(&|_, n| n >= 43_180)),
        ("idps lt 43180", pick(&|_, n| n < 43_180)),
        ("idps le 43180", pick(&|_, n| n <= 43_180)),
        ("not (idps le 43180)", pick(&|_, n| n > 43_180)),
        ("(area_pcode eq 'ML01' or area_pcode eq 'ML10') and idps gt 0", pick(&|p, _| p == "ML01" || p == "ML10")),
        ("area_pcode in ('ML01', 'ML02', 'ML99')", pick(&|p, _| p == "ML01" || p == "ML02")),
        ("contains(area_pcode,'L0')", pick(&|p, _| p.contains("L0"))),
        ("startswith(area_pcode,'ML0')", pick(&|p, _| p.starts_with("ML0"))),
        ("endswith(area_pcode,'5')", pick(&|p, _| p.ends_with('5'))),
        ("contains(area_pcode,'ml0')", 0),
        ("contains(area_pcode,'L0') eq false", pick(&|p, _| !p.contains("L0"))),
        ("reporting_date eq 2020-10-31", pick(&|_, _| true)),
        ("reporting_date gt 2020-10-31", 0),
        ("area_matched", pick(&|_, _| true)),
        ("area_pcode eq null", 0),
        ("area_pcode ne null", pick(&|_, _| true)),
        ("country_iso3 eq 'MLI' and 43180 lt idps", pick(&|_, n| n > 43_180)),
    ];
    for (filter, want) in cases {
        let uri = format!("{mali} and ({filter})&$select=idps");
        assert_eq!(sum(&rows(&app, &uri).await, "idps"), want, "$filter {filter}");
    }

    // Incremental refresh: partitions on retrieved_at (RangeStart <= t < RangeEnd) cover every row once.
    let all = rows(&app, "/odata/Idps?$filter=country_iso3 eq 'MLI'&$select=retrieved_at,idps").await;
    let latest = all.iter().filter_map(|r| r["retrieved_at"].as_str()).max().expect("instants").to_string();
    assert!(latest.ends_with('Z'), "instants are UTC: {latest}");
    let at = |op: &str, t: &str| format!("/odata/Idps?$filter=country_iso3 eq 'MLI' and retrieved_at {op} {t}");
    let before = rows(&app, &at("lt", &latest)).await;
    let from = rows(&app, &at("ge", &latest)).await;
    assert!(!from.is_empty());
    assert_eq!(before.len() + from.len(), all.len());
    assert_eq!(rows(&app, &at("ge", "2000-01-01T00:00:00Z")).await.len(), all.len());
    assert!(rows(&app, &at("lt", "2000-01-01T00:00:00%2B01:00")).await.is_empty());

    // Mali's population total, from the COD file.
    let total = mali_population_from_file();
    assert_eq!(total, 17_907_114);
    let national = rows(
        &app,
        "/odata/Population?$filter=country_iso3 eq 'MLI' and admin_level eq 0 and sex eq 'all' and age_range eq 'all'",
    )
    .await;
    assert_eq!(national.len(), 1);
    assert_eq!(national[0]["population"].as_i64(), Some(total));

    // One entity by its key: the row the collection gave.
    let first = &rows(&app, &format!("{mali}&$top=1")).await[0];
    let entity = store::BI_ENTITIES.iter().find(|e| e.export == "idps").expect("idps");
    let key: Vec<String> = entity
        .key_columns()
        .iter()
        .map(|c| {
            let v = &first[c.name];
            let literal = match v {
                Value::String(s) if c.sql_type == store::bi::SqlType::Text => format!("'{}'", s.replace('\'', "''")),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{}={}", c.name, literal)
        })
        .collect();
    let single = json(&app, &format!("/odata/Idps({})", key.join(","))).await;
    assert!(single["@odata.context"].as_str().is_some_and(|c| c.ends_with("$metadata#Idps/$entity")));
    assert_eq!(single["idps"], first["idps"]);
    assert_eq!(single["area_pcode"], first["area_pcode"]);
    let missing = key.join(",").replace("admin_level=1", "admin_level=4");
    assert_eq!(get(&app, &format!("/odata/Idps({missing})"), None).await.0, 404);
}

async fn next_link_walks_give_every_row_once_as_the_csv_export(backend: Backend) {
    tokio::task::LocalSet::new().run_until(walk_scenario(backend)).await;
}

async fn walk_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app(&store).await;

    // Every Haiti admin-2 figure, 25 rows a page: the payload's totals, each once.
    let payload: Value = serde_json::from_slice(&common::read(common::DTM_FILES[5].2)).expect("JSON");
    let mut expected: BTreeMap<(String, String, i64, String, String), i64> = BTreeMap::new();
    for r in payload["result"].as_array().expect("rows") {
        let text = |f: &str| r[f].as_str().expect("text").trim().to_string();
        let key = (
            text("admin2Pcode"),
            text("operation"),
            r["roundNumber"].as_i64().expect("round"),
            text("reportingDate")[..10].to_string(),
            text("assessmentType"),
        );
        *expected.entry(key).or_default() += r["numPresentIdpInd"].as_i64().expect("n");
    }
    let (haiti, pages) = walk(&app, "/odata/Idps?$filter=country_iso3 eq 'HTI' and admin_level eq 2", 25).await;
    assert!(pages >= expected.len() / 25, "{pages} pages");
    let mut ours = BTreeMap::new();
    for r in &haiti {
        let text = |f: &str| r[f].as_str().expect("text").to_string();
        let key = (
            text("source_pcode"),
            text("operation"),
            r["round_number"].as_i64().expect("round"),
            text("reporting_date"),
            text("assessment_type"),
        );
        assert!(ours.insert(key, r["idps"].as_i64().expect("idps")).is_none(), "a row came twice");
    }
    assert_eq!(ours, expected);

    // The whole IDP feed, by next link, is the CSV export's rows in its order.
    let csv_body = get(&app, "/export/idps.csv?limit=1000000", None).await.2;
    let mut reader = csv::Reader::from_reader(csv_body.as_slice());
    let headers: Vec<String> = reader.headers().expect("header").iter().map(String::from).collect();
    let exported: Vec<Vec<String>> =
        reader.records().map(|r| r.expect("row").iter().map(String::from).collect()).collect();
    let (fed, _) = walk(&app, "/odata/Idps", 97).await;
    assert_eq!(fed.len(), exported.len());
    let cell = |v: &Value| match v {
        Value::Null => String::new(),
        // The CSV gives instants to the second; the feed every digit (keys hold them).
        Value::String(s) if s.ends_with('Z') && s.contains('T') && s.contains('.') => {
            format!("{}Z", &s[..s.find('.').unwrap_or(s.len())])
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for (row, csv_row) in fed.iter().zip(&exported) {
        let as_csv: Vec<String> = headers.iter().map(|h| cell(&row[h.as_str()])).collect();
        // The CSV neutralises formula-like text; the feed gives it as is.
        let plain: Vec<String> = csv_row.iter().map(|c| c.strip_prefix('\'').unwrap_or(c).to_string()).collect();
        assert_eq!(as_csv, plain);
    }
    // A client's order pages by offset: the same rows.
    let (ordered, _) = walk(&app, "/odata/Idps?$orderby=idps desc&$select=idps", 300).await;
    assert_eq!(ordered.len(), fed.len());
    assert_eq!(sum(&ordered, "idps"), sum(&fed, "idps"));
    assert!(ordered.windows(2).all(|w| w[0]["idps"].as_i64() >= w[1]["idps"].as_i64()));
    // $top spans pages: exactly that many rows.
    let (topped, pages) = walk(&app, "/odata/Idps?$top=130", 50).await;
    assert_eq!((topped.len(), pages), (130, 3));
    assert_eq!(topped[..], fed[..130]);

    // Every entity set: the walk gives /$count rows, and its key tells them apart.
    for entity in store::BI_ENTITIES {
        let name = api::odata::metadata::set_name(entity);
        let (all, _) = walk(&app, &format!("/odata/{name}"), 400).await;
        let (_, _, count) = get(&app, &format!("/odata/{name}/$count"), None).await;
        assert_eq!(String::from_utf8(count).expect("text"), all.len().to_string(), "{name}");
        let keys: BTreeSet<String> = all
            .iter()
            .map(|r| entity.key_columns().iter().map(|c| r[c.name].to_string()).collect::<Vec<_>>().join("|"))
            .collect();
        assert_eq!(keys.len(), all.len(), "{name}: the key tells every row apart");
    }
}

async fn bad_requests_are_odata_errors_with_codes(backend: Backend) {
    tokio::task::LocalSet::new().run_until(errors_scenario(backend)).await;
}

async fn errors_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app(&store).await;
    let token_of = |link: &str| link.split("$skiptoken=").nth(1).unwrap_or_default().to_string();
    let first = json(&app, "/odata/Idps?$top=5").await;
    assert!(first.get("@odata.nextLink").is_none(), "$top reached: no next link");
    let (_, _, page) = get(&app, "/odata/Idps", Some("odata.maxpagesize=5")).await;
    let page: Value = serde_json::from_slice(&page).expect("JSON");
    let token = token_of(page["@odata.nextLink"].as_str().expect("a next link"));
    let cases: Vec<(String, u16, &str)> = vec![
        ("/odata/Idps?$filter=idps eq".into(), 400, "$filter"),
        ("/odata/Idps?$filter=(idps eq 1".into(), 400, "$filter"),
        ("/odata/Idps?$filter=idps like 5".into(), 400, "$filter"),
        ("/odata/Idps?$filter=no_such eq 1".into(), 400, "$filter"),
        ("/odata/Idps?$filter=idps eq 'many'".into(), 400, "$filter"),
        ("/odata/Idps?$filter=reporting_date eq 2020-10-31T00:00:00Z".into(), 400, "$filter"),
        ("/odata/Idps?$filter=retrieved_at ge 2020-10-31".into(), 400, "$filter"),
        ("/odata/Idps?$filter=admin_level eq 99999999999".into(), 400, "$filter"),
        ("/odata/Idps?$filter=length(area_name) eq 4".into(), 400, "$filter"),
        ("/odata/Idps?$filter=idps eq admin_level".into(), 400, "$filter"),
        ("/odata/Idps?$filter=contains(idps,'1')".into(), 400, "$filter"),
        ("/odata/Idps?$select=idps,nope".into(), 400, "$select"),
        ("/odata/Idps?$orderby=nope".into(), 400, "$orderby"),
        ("/odata/Idps?$orderby=idps sideways".into(), 400, "$orderby"),
        ("/odata/Idps?$top=-1".into(), 400, "$top"),
        ("/odata/Idps?$top=abc".into(), 400, "$top"),
        ("/odata/Idps?$top=1000001".into(), 400, "$top"),
        ("/odata/Idps?$skip=-3".into(), 400, "$skip"),
        ("/odata/Idps?$count=maybe".into(), 400, "$count"),
        ("/odata/Idps?$expand=Area".into(), 400, "$expand"),
        ("/odata/Idps?$expand=AdminArea/Country".into(), 400, "$expand"),
        ("/odata/Idps?$expand=AdminArea($filter=admin_level eq 1)".into(), 400, "$expand"),
        ("/odata/Idps?$expand=AdminArea($select=nope)".into(), 400, "$expand"),
        ("/odata/Idps?$expand=AdminArea(".into(), 400, "$expand"),
        ("/odata/Idps?$expand=AdminArea,AdminArea".into(), 400, "$expand"),
        ("/odata/Idps?$expand=Parent".into(), 400, "$expand"),
        ("/odata/Idps?$expand=*".into(), 400, "$expand"),
        ("/odata/Countries?$expand=Country".into(), 400, "$expand"),
        ("/odata/Idps?$apply=groupby((country_iso3))".into(), 400, "$apply"),
        ("/odata/Idps?$search=Mopti".into(), 400, "$search"),
        ("/odata/Idps?$format=atom".into(), 400, "$format"),
        ("/odata/Idps?$levels=2".into(), 400, "$levels"),
        ("/odata/Idps?$bogus=1".into(), 400, "query"),
        ("/odata/Idps?$top=1&$top=2".into(), 400, "query"),
        ("/odata/Idps?$skiptoken=garbage".into(), 400, "$skiptoken"),
        (format!("/odata/Idps?$skiptoken={token}&$skip=3"), 400, "$skip"),
        (format!("/odata/Population?$skiptoken={token}"), 400, "$skiptoken"),
        (format!("/odata/Idps?$orderby=idps&$skiptoken={token}"), 400, "$skiptoken"),
        ("/odata/Idps('HTI')".into(), 400, "key"),
        ("/odata/NoSuchSet".into(), 404, ""),
        ("/odata/Idps/Area".into(), 404, ""),
        ("/odata/Countries('MLI')/AdminArea".into(), 404, ""),
        ("/odata/Countries('MLI')?$top=1".into(), 400, "query"),
    ];
    for (uri, status, target) in cases {
        let (got, headers, body) = get(&app, &uri, None).await;
        assert_eq!(got, status, "{uri}: {}", String::from_utf8_lossy(&body));
        assert_eq!(headers.get("OData-Version").and_then(|v| v.to_str().ok()), Some("4.0"), "{uri}");
        let body: Value = serde_json::from_slice(&body).unwrap_or_else(|_| panic!("{uri}: a JSON error body"));
        let error = &body["error"];
        assert!(error["code"].as_str().is_some_and(|c| !c.is_empty()), "{uri}: a code");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{uri}: a message");
        if !target.is_empty() {
            assert_eq!(error["target"].as_str(), Some(target), "{uri}");
        }
    }
    // The token of a page is good for the next one, and $skip past the end is an empty page.
    let (_, _, count) = get(&app, "/odata/Idps/$count", None).await;
    let count: usize = String::from_utf8(count).expect("text").parse().expect("a count");
    assert_eq!(rows(&app, &format!("/odata/Idps?$skiptoken={token}")).await.len(), 5_000.min(count - 5));
    assert!(rows(&app, "/odata/Idps?$skip=1000000").await.is_empty());
}

async fn navigation_and_expand_lead_to_the_files_areas_and_countries(backend: Backend) {
    tokio::task::LocalSet::new().run_until(navigation_scenario(backend)).await;
}

/// The p-code file's areas: p-code to (name, parent p-code, first day of the edition).
fn areas_from_pcode_file() -> BTreeMap<String, (String, String, String)> {
    let text = String::from_utf8(common::read(common::PCODES_FILE)).expect("UTF-8");
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut out = BTreeMap::new();
    for record in reader.records().skip(1) {
        let r = record.expect("row");
        out.insert(r[2].to_string(), (r[3].to_string(), r[4].to_string(), r[5].to_string()));
    }
    out
}

/// The `@odata.context`-less object of a single-entity answer.
fn without_context(mut value: Value) -> Value {
    value.as_object_mut().expect("object").remove("@odata.context");
    value
}

async fn navigation_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app(&store).await;
    let areas = areas_from_pcode_file();
    let payload: Value = serde_json::from_slice(&common::read(common::DTM_FILES[9].2)).expect("JSON");
    let payload = payload["result"].as_array().expect("rows");

    // $metadata: the links of the declarations, with their referential constraints and bindings.
    let csdl = String::from_utf8(get(&app, "/odata/$metadata", None).await.2).expect("UTF-8");
    assert!(csdl.contains(
        "<NavigationProperty Name=\"AdminArea\" Type=\"crisisgraph.AdminAreas\" Nullable=\"true\">\n\
         <ReferentialConstraint Property=\"area_pcode\" ReferencedProperty=\"pcode\"/>\n\
         <ReferentialConstraint Property=\"area_valid_from\" ReferencedProperty=\"valid_from\"/>"
    ));
    assert!(csdl.contains("<NavigationProperty Name=\"Country\" Type=\"crisisgraph.Countries\" Nullable=\"false\">"));
    assert!(csdl.contains("<ReferentialConstraint Property=\"parent_pcode\" ReferencedProperty=\"pcode\"/>"));
    assert!(csdl.contains("<NavigationPropertyBinding Path=\"AdminArea\" Target=\"AdminAreas\"/>"));
    assert!(csdl.contains("<Key><PropertyRef Name=\"pcode\"/><PropertyRef Name=\"valid_from\"/></Key>"));
    assert!(csdl.contains("<Key><PropertyRef Name=\"iso3\"/></Key>"));

    // Countries: /$count is the walk's rows, the key tells them apart, and every country of the p-code
    // file is one, by its key.
    let (countries, _) = walk(&app, "/odata/Countries", 7).await;
    let (_, _, count) = get(&app, "/odata/Countries/$count", None).await;
    assert_eq!(String::from_utf8(count).expect("text"), countries.len().to_string());
    let keys: BTreeSet<&str> = countries.iter().map(|c| c["iso3"].as_str().expect("iso3")).collect();
    assert_eq!(keys.len(), countries.len());
    for iso3 in ["AFG", "HTI", "MLI", "SSD", "TCD"] {
        assert!(keys.contains(iso3), "{iso3}: {keys:?}");
    }
    let mali = json(&app, "/odata/Countries('MLI')").await;
    assert_eq!(mali["name"].as_str(), payload[0]["admin0Name"].as_str());

    // Each Mali region of round 68: its AdminArea is the area the payload names, with the p-code file's
    // name and edition, and its Country is the payload's country.
    let regions = "/odata/Idps?$filter=country_iso3 eq 'MLI' and admin_level eq 1 and round_number eq 68";
    let expanded = rows(&app, &format!("{regions}&$expand=AdminArea($select=pcode,name,valid_from),Country")).await;
    assert_eq!(expanded.len(), payload.len());
    for r in payload {
        let pcode = r["admin1Pcode"].as_str().expect("pcode");
        let row = expanded.iter().find(|e| e["source_pcode"] == pcode).expect("the payload's region");
        let area = &row["AdminArea"];
        let (name, parent, valid_from) = &areas[pcode];
        assert_eq!(area.as_object().map(|o| o.len()), Some(3), "$select inside $expand: {area}");
        assert_eq!((area["pcode"].as_str(), area["name"].as_str()), (Some(pcode), Some(name.as_str())));
        assert_eq!(area["valid_from"].as_str(), Some(valid_from.as_str()));
        assert_eq!(row["area_valid_from"], area["valid_from"]);
        assert_eq!(parent, "MLI");
        assert_eq!(row["Country"]["iso3"].as_str(), r["admin0Pcode"].as_str());
        assert_eq!(row["Country"]["name"].as_str(), r["admin0Name"].as_str());
    }

    // $expand on a page equals the separate lookups by navigation, row by row (every IDP row of Mali
    // and Haiti, 50 rows a page).
    let entity = store::BI_ENTITIES.iter().find(|e| e.export == "idps").expect("idps");
    let (walked, _) = walk(
        &app,
        "/odata/Idps?$filter=country_iso3 in ('MLI','HTI') and admin_level ge 1&$expand=Country,AdminArea",
        50,
    )
    .await;
    assert!(walked.len() > 50, "{} rows", walked.len());
    let mut looked_up = 0;
    for (i, row) in walked.iter().enumerate() {
        // Every row's area against the file; every 7th row also by a lookup of its own.
        let area = &row["AdminArea"];
        if let Some(pcode) = row["area_pcode"].as_str() {
            assert_eq!(area["pcode"].as_str(), Some(pcode));
            if let Some((name, _, valid_from)) = areas.get(pcode)
                && area["valid_from"].as_str() == Some(valid_from.as_str())
            {
                assert_eq!(area["name"].as_str(), Some(name.as_str()), "{pcode}");
            }
        } else {
            assert!(area.is_null());
        }
        if i % 7 != 0 {
            continue;
        }
        let key = key_of(entity, row);
        let (status, _, body) = get(&app, &format!("/odata/Idps({key})/AdminArea"), None).await;
        if area.is_null() {
            assert_eq!(status, 204);
        } else {
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let single: Value = serde_json::from_slice(&body).expect("JSON");
            assert!(single["@odata.context"].as_str().is_some_and(|c| c.ends_with("$metadata#AdminAreas/$entity")));
            assert_eq!(&without_context(single), area);
        }
        let country = json(&app, &format!("/odata/Idps({key})/Country")).await;
        assert_eq!(&without_context(country), &row["Country"]);
        looked_up += 1;
    }
    assert!(looked_up > 5);

    // An area's Country and Parent: the p-code file's.
    let bandiagara = &areas["ML0501"];
    let by_key = format!("/odata/AdminAreas(pcode='ML0501',valid_from={})", bandiagara.2);
    let parent = json(&app, &format!("{by_key}/Parent")).await;
    assert_eq!(parent["pcode"].as_str(), Some(bandiagara.1.as_str()));
    assert_eq!(parent["name"].as_str(), Some(areas[&bandiagara.1].0.as_str()));
    let country = json(&app, &format!("{by_key}/Country?$select=iso3")).await;
    assert_eq!(without_context(country), serde_json::json!({ "iso3": "MLI" }));
    let single = json(&app, &format!("{by_key}?$expand=Parent($select=name)")).await;
    assert_eq!(single["Parent"], serde_json::json!({ "name": areas[&bandiagara.1].0 }));
    let region = format!("/odata/AdminAreas(pcode='ML05',valid_from={})", areas["ML05"].2);
    let country_area = json(&app, &format!("{region}/Parent")).await;
    assert_eq!(country_area["pcode"].as_str(), Some(areas["ML05"].1.as_str()), "a region's parent: the country");
    assert_eq!(country_area["admin_level"].as_i64(), Some(0));
    let top = format!(
        "/odata/AdminAreas(pcode='{}',valid_from={})/Parent",
        areas["ML05"].1,
        country_area["valid_from"].as_str().expect("a date")
    );
    assert_eq!(get(&app, &top, None).await.0, 204, "a country's level 0 has no parent");
    let missing = format!("/odata/AdminAreas(pcode='ML9999',valid_from={})/Parent", areas["ML05"].2);
    assert_eq!(get(&app, &missing, None).await.0, 404);

    // A page larger than the chunks it streams in is the walk's rows, in order.
    let (whole, pages) =
        walk(&app, "/odata/Idps?$select=idps,area_pcode&$expand=AdminArea($select=name)", 50_000).await;
    let (small, _) = walk(&app, "/odata/Idps?$select=idps,area_pcode&$expand=AdminArea($select=name)", 997).await;
    assert_eq!(whole, small);
    assert!(pages == 1 || whole.len() > 50_000);
}

/// The key predicate of a row (every key property, typed).
fn key_of(entity: &store::bi::Entity, row: &Value) -> String {
    let key: Vec<String> = entity
        .key_columns()
        .iter()
        .map(|c| {
            let literal = match &row[c.name] {
                Value::String(s) if c.sql_type == store::bi::SqlType::Text => format!("'{}'", s.replace('\'', "''")),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{}={}", c.name, literal)
        })
        .collect();
    encode_key(&key.join(","))
}

/// A key in a path: what a client percent-encodes (`/`, `#`, `?`, `%`, spaces).
fn encode_key(key: &str) -> String {
    key.replace('%', "%25").replace('/', "%2F").replace('#', "%23").replace('?', "%3F").replace(' ', "%20")
}
