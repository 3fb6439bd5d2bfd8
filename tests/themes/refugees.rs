//! Refugees and returnees (`refugees`): UNHCR's end-year totals, demographics and solutions files
//! and the situations file, checked figure by figure against the raw files (read here with the csv
//! crate alone), on both stores.

use std::collections::{BTreeMap, HashMap};

use ingest::Source;
use store::models::IngestRun;
use store::refugees::RefugeeRow;
use store::runs::status;
use store::with_conn;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{self, Backend, TestStore, ingester, read, run};

crate::on_both_stores!(
    refugees_equal_the_files_and_answer_the_check_figures,
    bad_rows_are_rejected_and_the_rest_kept,
    refugees_rerun_writes_nothing,
    graphql_answers_the_check_figures,
    graphql_splits_by_sex_and_age_only_when_asked,
    export_answers_the_check_figures,
    the_sample_holds_the_files_and_the_check_figures,
);

const DIR: &str = "tests/fixtures/unhcr";
const TOTALS: &str = "unhcr_HDX_EndYearPopulationTotals.csv";
const DEMOGRAPHICS: &str = "unhcr_HDX_Demographics.csv";
const SOLUTIONS: &str = "unhcr_HDX_Solutions.csv";
const SITUATIONS: &str = "unhcr-situations.csv";
const COUNTRIES: [&str; 4] = ["AFG", "PAK", "IRN", "SSD"];

/// Where the catalog entries say each file is served.
fn served_path(file: &str) -> String {
    if file == SITUATIONS {
        "/dataset/17ea83bd-8d4d-49f3-abea-a4d6ce3afb47/resource/ed4f9d1e-2c24-415d-90e4-3151a569f148/download/unhcr-situations.csv"
            .into()
    } else {
        let stem = file.trim_start_matches("unhcr_HDX_").trim_end_matches(".csv").to_lowercase();
        format!("/dataset/unhcr-population-data-for-world/resource/constructed-unhcr-{stem}/download/{file}")
    }
}

/// The fixture server with both catalog entries and the four files (`replace` swaps a file's bytes).
async fn server_with(replace: &[(&str, Vec<u8>)]) -> MockServer {
    let server = common::fixture_server().await;
    for dataset in [ingest::sources::refugees::POPULATION_DATASET, ingest::sources::refugees::SITUATIONS_DATASET] {
        Mock::given(method("GET"))
            .and(path("/api/3/action/package_show"))
            .and(query_param("id", dataset))
            .respond_with(
                ResponseTemplate::new(200).set_body_bytes(read(&format!("{DIR}/package_show.{dataset}.json"))),
            )
            .mount(&server)
            .await;
    }
    for file in [TOTALS, DEMOGRAPHICS, SOLUTIONS, SITUATIONS] {
        let bytes = replace
            .iter()
            .find(|(f, _)| *f == file)
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| read(&format!("{DIR}/{file}")));
        Mock::given(method("GET"))
            .and(path(served_path(file)))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes))
            .mount(&server)
            .await;
    }
    server
}

/// A fixture file's rows as header → value maps.
fn rows_of(file: &str) -> Vec<HashMap<String, String>> {
    rows_in(DIR, file)
}

/// The rows of a file in `dir` as header → value maps.
fn rows_in(dir: &str, file: &str) -> Vec<HashMap<String, String>> {
    let bytes = read(&format!("{dir}/{file}"));
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let headers: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    reader
        .records()
        .map(|r| r.expect("row"))
        .map(|r| headers.iter().cloned().zip(r.iter().map(str::to_string)).collect())
        .collect()
}

fn number(cell: &str) -> i64 {
    cell.trim().parse::<f64>().expect("number") as i64
}

/// (publication, reference date, asylum, origin, type, gender, age, location) → population.
type Figures = BTreeMap<(String, String, String, String, String, String, String, String), i64>;

/// Every figure the files hold for `iso3`, computed from the raw files: a type's figure belongs to
/// the country of asylum, a return's (RET, RDP) to the country of origin; zeros are not figures,
/// except a demographics row's total.
fn expected(iso3: &str) -> (Figures, i64) {
    expected_in(DIR, iso3)
}

/// [`expected`] from the files in `dir`.
fn expected_in(dir: &str, iso3: &str) -> (Figures, i64) {
    let mut out = Figures::new();
    let mut rows = 0;
    let owner = |t: &str, r: &HashMap<String, String>| {
        if t == "RET" || t == "RDP" { r["ISO3CoO"].clone() } else { r["ISO3CoA"].clone() }
    };
    let loc = String::new();
    let mut put = |publication: &str, date: String, r: &HashMap<String, String>, t: &str, g: &str, a: &str, v: i64| {
        out.insert(
            (
                publication.into(),
                date,
                r["ISO3CoA"].clone(),
                r["ISO3CoO"].clone(),
                t.into(),
                g.into(),
                a.into(),
                loc.clone(),
            ),
            v,
        );
    };
    for (file, publication, types) in [
        (TOTALS, "totals", &["REF", "IDP", "ASY", "OOC", "STA", "OIP"][..]),
        (SOLUTIONS, "solutions", &["RST", "NAT", "RET", "RDP"][..]),
    ] {
        for r in rows_in(dir, file) {
            let mine = types.iter().any(|t| r.contains_key(*t) && owner(t, &r) == iso3);
            rows += i64::from(r["ISO3CoA"] == iso3 || (publication == "solutions" && r["ISO3CoO"] == iso3));
            if !mine && r["ISO3CoA"] != iso3 {
                continue;
            }
            for t in types.iter().filter(|t| r.contains_key(**t)) {
                let v = number(&r[*t]);
                if v > 0 && owner(t, &r) == iso3 {
                    put(publication, format!("{}-12-31", r["Year"]), &r, t, "all", "all", v);
                }
            }
        }
    }
    let bands = [
        ("0_4", "0-4"),
        ("5_11", "5-11"),
        ("12_17", "12-17"),
        ("18_59", "18-59"),
        ("60", "60+"),
        ("Unknown", "unknown"),
    ];
    for r in rows_in(dir, DEMOGRAPHICS) {
        let t = r["PT"].clone();
        if owner(&t, &r) != iso3 {
            continue;
        }
        rows += 1;
        let date = format!("{}-12-31", r["Year"]);
        put("demographics", date.clone(), &r, &t, "all", "all", number(&r["Total"]));
        for (sex, g) in [("Female", "f"), ("Male", "m")] {
            let v = number(&r[&format!("{sex}_total")]);
            if v > 0 {
                put("demographics", date.clone(), &r, &t, g, "all", v);
            }
            for (band, a) in bands {
                let v = number(&r[&format!("{sex}_{band}")]);
                if v > 0 {
                    put("demographics", date.clone(), &r, &t, g, a, v);
                }
            }
        }
    }
    for r in rows_in(dir, SITUATIONS).into_iter().filter(|r| r["ISO3"] == iso3) {
        rows += 1;
        let t = if r["Population type"] == "Refugees" { "REF" } else { "ASY" };
        out.insert(
            (
                "situations".into(),
                r["Date"].clone(),
                r["ISO3"].clone(),
                r["ISO3 of Origin"].clone(),
                t.into(),
                "all".into(),
                "all".into(),
                if r["ISO3 of Origin"].is_empty() {
                    format!("origin: {}", r["Country of Origin"])
                } else {
                    String::new()
                },
            ),
            number(&r["Individuals"]),
        );
    }
    (out, rows)
}

fn figures(rows: &[RefugeeRow]) -> Figures {
    rows.iter()
        .map(|r| {
            (
                (
                    r.publication.clone(),
                    r.reference_date.to_string(),
                    r.asylum_iso3.clone(),
                    r.origin_iso3.clone(),
                    r.population_type.clone(),
                    r.gender.clone(),
                    r.age_range.clone(),
                    r.location.clone(),
                ),
                r.population,
            )
        })
        .collect()
}

async fn ingest(store: &TestStore, server: &MockServer) -> IngestRun {
    run(&ingester(store, server), Source::Refugees, &COUNTRIES, &[]).await
}

async fn stored(store: &TestStore, iso3: &str) -> Vec<RefugeeRow> {
    let iso3 = iso3.to_string();
    with_conn(&store.pool, move |c| store::refugees::refugees_of_country(c, &iso3)).await.expect("refugees")
}

fn figure(f: &Figures, publication: &str, date: &str, asylum: &str, origin: &str, t: &str) -> Option<i64> {
    let key = (publication, date, asylum, origin, t, "all", "all");
    let key = (
        key.0.into(),
        key.1.into(),
        key.2.into(),
        key.3.into(),
        key.4.into(),
        key.5.into(),
        key.6.into(),
        String::new(),
    );
    f.get(&key).copied()
}

async fn refugees_equal_the_files_and_answer_the_check_figures(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    let r = ingest(&store, &server).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let mut fetched = 0;
    let mut total = 0;
    for iso3 in COUNTRIES {
        let (want, rows) = expected(iso3);
        assert!(!want.is_empty(), "{iso3} has figures");
        let got = figures(&stored(&store, iso3).await);
        assert_eq!(got, want, "{iso3}: every figure of the files, and nothing else");
        fetched += rows;
        total += want.len() as i64;
    }
    assert_eq!((r.fetched, r.inserted, r.rejected), (fetched, total, 0));

    // The issue's check figures, from the files and as stored.
    let pak = figures(&stored(&store, "PAK").await);
    let irn = figures(&stored(&store, "IRN").await);
    let afg = figures(&stored(&store, "AFG").await);
    let ssd = figures(&stored(&store, "SSD").await);
    assert_eq!(figure(&pak, "totals", "2019-12-31", "PAK", "AFG", "REF"), Some(1_419_084));
    assert_eq!(figure(&irn, "totals", "2019-12-31", "IRN", "AFG", "REF"), Some(951_142));
    assert_eq!(figure(&afg, "demographics", "2019-12-31", "AFG", "AFG", "RET"), Some(8_401));
    assert_eq!(figure(&afg, "solutions", "2019-12-31", "PAK", "AFG", "RET"), Some(6_232));
    assert_eq!(figure(&ssd, "situations", "2024-06-30", "SSD", "SDN", "REF"), Some(762_283));

    // Countries without p-codes exist, named from ISO 3166, whether hosting or of origin only.
    let codes: Vec<String> = ["PAK", "IRN", "SSD", "SDN"].map(String::from).to_vec();
    let countries =
        with_conn(&store.pool, move |c| store::geography::countries_by_iso3(c, &codes)).await.expect("countries");
    let name = |iso3: &str| countries.iter().find(|c| c.iso3 == iso3).map(|c| c.name.clone());
    assert_eq!(name("PAK").as_deref(), Some("Pakistan"));
    assert!(name("IRN").is_some_and(|n| n.starts_with("Iran")));
    assert!(name("SDN").is_some(), "Sudan, the origin of South Sudan's refugees");
    assert!(stored(&store, "UGA").await.is_empty(), "Uganda's rows were not asked for");
}

async fn bad_rows_are_rejected_and_the_rest_kept(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let text = String::from_utf8(read(&format!("{DIR}/{TOTALS}"))).expect("utf-8");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let pak: Vec<usize> =
        (1..lines.len()).filter(|&i| lines[i].contains("\"PAK\"") && lines[i].contains("\"AFG\"")).collect();
    let (a, b) = (pak[0], pak[1]);
    // Text for a number, and a year that is not one.
    let fields: Vec<String> = lines[a].split(',').map(str::to_string).collect();
    lines[a] = format!("{},{},{},many,{}", fields[0], fields[1], fields[2], fields[4..].join(","));
    lines[b] = lines[b].replacen(&lines[b][..4].to_string(), "19x9", 1);
    let server = server_with(&[(TOTALS, lines.join("\n").into_bytes())]).await;
    let r = ingest(&store, &server).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    assert_eq!(r.rejected, 2);
    let data = common::graphql(
        &store.pool,
        &format!("{{ ingestRun(id: {}) {{ rejectedRows {{ rowNumber reason raw }} }} }}", r.id),
    )
    .await;
    let rejected = data["ingestRun"]["rejectedRows"].as_array().cloned().unwrap_or_default();
    let reason = |line: usize| {
        rejected
            .iter()
            .find(|x| x["rowNumber"] == line as i64 + 1)
            .and_then(|x| x["reason"].as_str())
            .unwrap_or_else(|| panic!("line {line}: {rejected:?}"))
            .to_string()
    };
    assert!(reason(a).contains("\"many\" is not a whole number"), "{rejected:?}");
    assert!(reason(b).contains("is not a year"), "{rejected:?}");
    // The other rows are all there.
    let (want, _) = expected("PAK");
    let got = figures(&stored(&store, "PAK").await);
    let from_totals = |f: &Figures| f.keys().filter(|k| k.0 == "totals").count();
    assert!(from_totals(&got) < from_totals(&want));
    assert!(got.iter().all(|(k, v)| want.get(k) == Some(v)));
}

async fn refugees_rerun_writes_nothing(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    let first = ingest(&store, &server).await;
    assert_eq!(first.status, status::SUCCEEDED, "{:?}", first.error);
    let second = ingest(&store, &server).await;
    assert_eq!(second.status, status::SUCCEEDED, "{:?}", second.error);
    assert_eq!((second.inserted, second.updated), (0, 0));
    assert_eq!(second.unchanged, first.inserted);
}

/// The issue's check figures through GraphQL, each compared with the raw files.
async fn graphql_answers_the_check_figures(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    let r = ingest(&store, &server).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let data = common::graphql(
        &store.pool,
        r#"{
          pak: country(iso3: "PAK") { name refugees(year: 2019, origin: "AFG", populationType: "REF", publication: "totals") {
            totalCount nodes { population asylum { iso3 } origin { iso3 name } provenance { licence credit } } } }
          irn: country(iso3: "IRN") { refugees(year: 2019, origin: "AFG", populationType: "REF", publication: "totals") {
            nodes { population } } }
          afg: country(iso3: "AFG") {
            returnees(year: 2019, publication: "demographics") { nodes { population populationType } }
            fromPakistan: returnees(year: 2019, from: "PAK") { nodes { population publication } }
            refugeesAbroad(year: 2019, asylum: "PAK", publication: "totals") { nodes { populationType population } } }
          ssd: country(iso3: "SSD") { refugees(origin: "SDN") { nodes { referenceDate populationType population } } }
        }"#,
    )
    .await;
    let raw = |file: &str, year: &str, origin: &str, asylum: &str, column: &str| {
        rows_of(file)
            .into_iter()
            .find(|r| {
                r["Year"] == year
                    && r["ISO3CoO"] == origin
                    && r["ISO3CoA"] == asylum
                    && r.get("PT").is_none_or(|t| t == "RET")
            })
            .map(|r| number(&r[column]))
            .expect("raw row")
    };
    let pak = &data["pak"]["refugees"];
    assert_eq!(pak["totalCount"], 1);
    assert_eq!(pak["nodes"][0]["population"], raw(TOTALS, "2019", "AFG", "PAK", "REF"));
    assert_eq!(pak["nodes"][0]["population"], 1_419_084);
    assert_eq!(pak["nodes"][0]["origin"]["iso3"], "AFG");
    assert_eq!(pak["nodes"][0]["asylum"]["iso3"], "PAK");
    assert_eq!(data["pak"]["name"], "Pakistan");
    let licence = pak["nodes"][0]["provenance"]["licence"].as_str().unwrap_or_default();
    assert!(licence.contains("Intergovernmental"), "{licence}");
    assert_eq!(data["irn"]["refugees"]["nodes"][0]["population"], raw(TOTALS, "2019", "AFG", "IRN", "REF"));
    assert_eq!(data["irn"]["refugees"]["nodes"][0]["population"], 951_142);
    let returned = data["afg"]["returnees"]["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(returned.len(), 1, "{returned:?}");
    assert_eq!(returned[0]["population"], raw(DEMOGRAPHICS, "2019", "AFG", "AFG", "Total"));
    assert_eq!(returned[0]["population"], 8_401);
    let from_pakistan = data["afg"]["fromPakistan"]["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(from_pakistan.len(), 1, "{from_pakistan:?}");
    assert_eq!(from_pakistan[0]["population"], raw(SOLUTIONS, "2019", "AFG", "PAK", "RET"));
    assert_eq!(from_pakistan[0]["population"], 6_232);
    let abroad = data["afg"]["refugeesAbroad"]["nodes"].as_array().cloned().unwrap_or_default();
    assert!(abroad.iter().any(|n| n["populationType"] == "REF" && n["population"] == 1_419_084), "{abroad:?}");
    let ssd = data["ssd"]["refugees"]["nodes"].as_array().cloned().unwrap_or_default();
    let june = ssd.iter().find(|n| n["referenceDate"] == "2024-06-30").expect("2024-06-30");
    assert_eq!((june["populationType"].as_str(), june["population"].as_i64()), (Some("REF"), Some(762_283)));
}

/// The row of a yearly file for (year, origin, asylum), and for the demographics file, of a population type.
fn raw_row(dir: &str, file: &str, year: &str, origin: &str, asylum: &str, pt: Option<&str>) -> HashMap<String, String> {
    rows_in(dir, file)
        .into_iter()
        .find(|r| {
            r["Year"] == year && r["ISO3CoO"] == origin && r["ISO3CoA"] == asylum && pt.is_none_or(|t| r["PT"] == t)
        })
        .unwrap_or_else(|| panic!("{file}: no row {year} {origin} {asylum} {pt:?}"))
}

/// The sex and age cells of a demographics row with people in them (the total always counts).
fn nonzero_breakdown_cells(row: &HashMap<String, String>) -> i64 {
    let cells = row.keys().filter(|k| k.starts_with("Female_") || k.starts_with("Male_"));
    1 + cells.filter(|k| number(&row[*k]) > 0).count() as i64
}

/// `gender` and `ageRange` ask for the demographics publication's split; without them every list gives
/// the totals only (sex and age `all`), so that nobody is counted twice.
async fn graphql_splits_by_sex_and_age_only_when_asked(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    let r = ingest(&store, &server).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let data = common::graphql(
        &store.pool,
        r#"{
          pak: country(iso3: "PAK") {
            total: refugees(year: 2019, origin: "AFG", populationType: "REF", publication: "demographics") {
              totalCount nodes { gender ageRange population } }
            byDefault: refugees(year: 2019, origin: "AFG", populationType: "REF") {
              totalCount nodes { publication gender ageRange population } }
            women: refugees(year: 2019, origin: "AFG", populationType: "REF", gender: "f") {
              nodes { publication gender ageRange population } }
            girls: refugees(year: 2019, origin: "AFG", populationType: "REF", gender: "F", ageRange: "0-4") {
              nodes { gender ageRange population } }
            every: refugees(year: 2019, origin: "AFG", populationType: "REF", publication: "demographics",
                            gender: "*", ageRange: "*") { totalCount } }
          afg: country(iso3: "AFG") {
            abroadMen: refugeesAbroad(year: 2019, asylum: "PAK", populationType: "REF", gender: "m") {
              nodes { population } }
            returnedWomen: returnees(year: 2019, publication: "demographics", gender: "f") { nodes { population } }
            returnedRows: returnees(year: 2019, publication: "demographics", gender: "*", ageRange: "*") { totalCount } }
        }"#,
    )
    .await;
    let dem = raw_row(DIR, DEMOGRAPHICS, "2019", "AFG", "PAK", Some("REF"));
    let totals = raw_row(DIR, TOTALS, "2019", "AFG", "PAK", None);
    let pak = &data["pak"];
    assert_eq!(pak["total"]["totalCount"], 1);
    assert_eq!(pak["total"]["nodes"][0]["population"], number(&dem["Total"]));
    assert_eq!(
        (pak["total"]["nodes"][0]["gender"].as_str(), pak["total"]["nodes"][0]["ageRange"].as_str()),
        (Some("all"), Some("all"))
    );
    // By default: one total per publication (end-year totals and demographics), no split rows.
    let by_default = pak["byDefault"]["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(pak["byDefault"]["totalCount"], 2, "{by_default:?}");
    assert!(by_default.iter().all(|n| n["gender"] == "all" && n["ageRange"] == "all"), "{by_default:?}");
    let of = |publication: &str| {
        by_default.iter().find(|n| n["publication"] == publication).map(|n| n["population"].clone())
    };
    assert_eq!(of("totals"), Some(number(&totals["REF"]).into()));
    assert_eq!(of("demographics"), Some(number(&dem["Total"]).into()));
    assert_eq!(of("totals"), Some(1_419_084.into()));
    // Women: the demographics publication's row only (the others do not split by sex).
    let women = pak["women"]["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(women.len(), 1, "{women:?}");
    assert_eq!((women[0]["publication"].as_str(), women[0]["ageRange"].as_str()), (Some("demographics"), Some("all")));
    assert_eq!(women[0]["population"], number(&dem["Female_total"]));
    let girls = pak["girls"]["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(girls.len(), 1, "{girls:?}");
    assert_eq!((girls[0]["gender"].as_str(), girls[0]["ageRange"].as_str()), (Some("f"), Some("0-4")));
    assert_eq!(girls[0]["population"], number(&dem["Female_0_4"]));
    assert_eq!(pak["every"]["totalCount"], nonzero_breakdown_cells(&dem));
    let afg = &data["afg"];
    assert_eq!(afg["abroadMen"]["nodes"][0]["population"], number(&dem["Male_total"]));
    let returned = raw_row(DIR, DEMOGRAPHICS, "2019", "AFG", "AFG", Some("RET"));
    assert_eq!(afg["returnedWomen"]["nodes"][0]["population"], number(&returned["Female_total"]));
    assert_eq!(afg["returnedWomen"]["nodes"][0]["population"], 4_394);
    assert_eq!(afg["returnedRows"]["totalCount"], nonzero_breakdown_cells(&returned));

    // A sex the files do not use is a clear error.
    let response =
        common::graphql_response(&store.pool, r#"{ country(iso3: "PAK") { refugees(gender: "x") { totalCount } } }"#)
            .await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{response}");
    assert!(response["errors"][0]["message"].as_str().is_some_and(|m| m.contains("gender")), "{response}");
}

/// An export's CSV rows as header → value maps.
fn csv_rows(body: &[u8]) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(body);
    let headers: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    reader
        .records()
        .map(|r| r.expect("row"))
        .map(|r| headers.iter().cloned().zip(r.iter().map(str::to_string)).collect())
        .collect()
}

/// `/export/refugees.csv|.json` answers the issue's check figures, compared with the files in `dir`, and
/// gives the totals only unless `gender` or `age_range` asks for the split.
async fn export_checks(store: &TestStore, dir: &str) {
    use actix_web::test as awtest;
    let schema = api::build_schema(store.pool.clone(), api::Operations::default());
    let app =
        awtest::init_service(actix_web::App::new().configure(api::server::configure(schema, store.pool.clone()))).await;
    let rows = |uri: &'static str| {
        let app = &app;
        async move {
            let response = awtest::call_service(app, awtest::TestRequest::get().uri(uri).to_request()).await;
            assert_eq!(response.status(), 200, "{uri}");
            csv_rows(&awtest::read_body(response).await)
        }
    };
    let pak = rows("/export/refugees.csv?asylum=PAK&origin=AFG&year=2019&population_type=REF&publication=totals").await;
    assert_eq!(pak.len(), 1, "{pak:?}");
    assert_eq!(number(&pak[0]["population"]), number(&raw_row(dir, TOTALS, "2019", "AFG", "PAK", None)["REF"]));
    assert_eq!(pak[0]["population"], "1419084");
    assert_eq!((pak[0]["asylum_name"].as_str(), pak[0]["origin_name"].as_str()), ("Pakistan", "Afghanistan"));
    assert_eq!(pak[0]["licence"], "Creative Commons Attribution for Intergovernmental Organisations");
    let irn = rows("/export/refugees.csv?asylum=irn&origin=AFG&year=2019&population_type=ref&publication=totals").await;
    assert_eq!(irn.len(), 1, "{irn:?}");
    assert_eq!(number(&irn[0]["population"]), number(&raw_row(dir, TOTALS, "2019", "AFG", "IRN", None)["REF"]));
    assert_eq!(irn[0]["population"], "951142");
    // Returns belong to Afghanistan: where they returned (demographics), and whence (solutions).
    let returned = rows("/export/refugees.csv?country=AFG&year=2019&population_type=RET").await;
    let of = |publication: &str, asylum: &str| {
        returned
            .iter()
            .find(|r| r["publication"] == publication && r["asylum_iso3"] == asylum && r["origin_iso3"] == "AFG")
            .map(|r| number(&r["population"]))
    };
    let dem = raw_row(dir, DEMOGRAPHICS, "2019", "AFG", "AFG", Some("RET"));
    assert_eq!(of("demographics", "AFG"), Some(number(&dem["Total"])));
    assert_eq!(of("demographics", "AFG"), Some(8_401));
    assert_eq!(of("solutions", "PAK"), Some(number(&raw_row(dir, SOLUTIONS, "2019", "AFG", "PAK", None)["RET"])));
    assert_eq!(of("solutions", "PAK"), Some(6_232));
    let solutions_2019: i64 = rows_in(dir, SOLUTIONS)
        .iter()
        .filter(|r| r["Year"] == "2019" && r["ISO3CoO"] == "AFG")
        .map(|r| number(&r["RET"]))
        .sum();
    let exported: i64 =
        returned.iter().filter(|r| r["publication"] == "solutions").map(|r| number(&r["population"])).sum();
    assert_eq!(exported, solutions_2019, "Afghan returns 2019 by the country returned from");
    // Situations: South Sudan hosting Sudanese refugees, as JSON.
    let uri = "/export/refugees.json?asylum=SSD&origin=SDN&from=2024-06-30&to=2024-06-30";
    let response = awtest::call_service(&app, awtest::TestRequest::get().uri(uri).to_request()).await;
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = serde_json::from_slice(&awtest::read_body(response).await).expect("JSON");
    let ssd = json.as_array().cloned().unwrap_or_default();
    let raw: Vec<i64> = rows_in(dir, SITUATIONS)
        .iter()
        .filter(|r| r["ISO3"] == "SSD" && r["ISO3 of Origin"] == "SDN" && r["Date"] == "2024-06-30")
        .map(|r| number(&r["Individuals"]))
        .collect();
    assert_eq!(ssd.iter().map(|r| r["population"].as_i64().unwrap_or(-1)).collect::<Vec<_>>(), raw);
    assert_eq!(raw, vec![762_283]);
    assert_eq!((ssd[0]["population_type"].as_str(), ssd[0]["publication"].as_str()), (Some("REF"), Some("situations")));

    // Totals only by default; the split on request, every row of the files.
    let (want, _) = expected_in(dir, "PAK");
    let of_2019 = |all_only: bool| {
        want.keys()
            .filter(|k| k.0 == "demographics" && k.1 == "2019-12-31" && (!all_only || (k.5 == "all" && k.6 == "all")))
            .count()
    };
    let totals = rows("/export/refugees.csv?country=PAK&year=2019&publication=demographics").await;
    assert_eq!(totals.len(), of_2019(true));
    assert!(totals.iter().all(|r| r["gender"] == "all" && r["age_range"] == "all"));
    let every = rows("/export/refugees.csv?country=PAK&year=2019&publication=demographics&gender=*&age_range=*").await;
    assert_eq!(every.len(), of_2019(false));
    assert!(every.len() > totals.len());
    let women = rows("/export/refugees.csv?asylum=PAK&origin=AFG&year=2019&population_type=REF&gender=f").await;
    assert_eq!(women.len(), 1, "{women:?}");
    let dem = raw_row(dir, DEMOGRAPHICS, "2019", "AFG", "PAK", Some("REF"));
    assert_eq!(number(&women[0]["population"]), number(&dem["Female_total"]));
    let bad =
        awtest::call_service(&app, awtest::TestRequest::get().uri("/export/refugees.csv?gender=x").to_request()).await;
    assert_eq!(bad.status(), 400);
}

async fn export_answers_the_check_figures(backend: Backend) {
    tokio::task::LocalSet::new().run_until(export_scenario(backend)).await;
}

async fn export_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    let r = ingest(&store, &server).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    export_checks(&store, DIR).await;
}

/// The bundled sample (`sample/unhcr/`): every figure of its files for the countries it runs, and the
/// issue's check figures through GraphQL and the export, computed from the bundled files.
async fn the_sample_holds_the_files_and_the_check_figures(backend: Backend) {
    tokio::task::LocalSet::new().run_until(sample_scenario(backend)).await;
}

async fn sample_scenario(backend: Backend) {
    const SAMPLE: &str = "sample/unhcr";
    let Some(store) = TestStore::new(backend).await else { return };
    let runs = ingest::sample::load_sample(&store.pool).await.expect("sample");
    let refugees: Vec<_> = runs.iter().filter(|r| r.source == "refugees").collect();
    assert_eq!(refugees.len(), 1, "{runs:?}");
    assert_eq!(refugees[0].status, status::SUCCEEDED, "{:?}", refugees[0].error);
    assert_eq!(refugees[0].rejected, 0);
    let mut total = 0;
    for iso3 in ingest::sources::refugees::SAMPLE_COUNTRIES {
        let (want, _) = expected_in(SAMPLE, iso3);
        assert!(!want.is_empty(), "{iso3}");
        assert_eq!(figures(&stored(&store, iso3).await), want, "{iso3}: every figure of the bundled files");
        total += want.len() as i64;
    }
    assert_eq!(refugees[0].inserted, total);
    let data = common::graphql(
        &store.pool,
        r#"{
          pak: country(iso3: "PAK") { refugees(year: 2019, origin: "AFG", populationType: "REF", publication: "totals") {
            nodes { population provenance { licence credit } } } }
          irn: country(iso3: "IRN") { refugees(year: 2019, origin: "AFG", populationType: "REF", publication: "totals") {
            nodes { population } } }
          afg: country(iso3: "AFG") {
            returnees(year: 2019, publication: "demographics") { nodes { population } }
            fromPakistan: returnees(year: 2019, from: "PAK") { nodes { population } } }
          ssd: country(iso3: "SSD") { refugees(origin: "SDN", populationType: "REF") { nodes { referenceDate population } } }
        }"#,
    )
    .await;
    let totals = |asylum: &str| number(&raw_row(SAMPLE, TOTALS, "2019", "AFG", asylum, None)["REF"]);
    assert_eq!(data["pak"]["refugees"]["nodes"][0]["population"], totals("PAK"));
    assert_eq!(data["pak"]["refugees"]["nodes"][0]["population"], 1_419_084);
    let credit = data["pak"]["refugees"]["nodes"][0]["provenance"]["credit"].as_str().unwrap_or_default();
    assert!(credit.contains("UNHCR"), "{credit}");
    assert_eq!(data["irn"]["refugees"]["nodes"][0]["population"], totals("IRN"));
    assert_eq!(data["irn"]["refugees"]["nodes"][0]["population"], 951_142);
    let returned = number(&raw_row(SAMPLE, DEMOGRAPHICS, "2019", "AFG", "AFG", Some("RET"))["Total"]);
    assert_eq!(data["afg"]["returnees"]["nodes"][0]["population"], returned);
    assert_eq!(data["afg"]["returnees"]["nodes"][0]["population"], 8_401);
    let from_pakistan = number(&raw_row(SAMPLE, SOLUTIONS, "2019", "AFG", "PAK", None)["RET"]);
    assert_eq!(data["afg"]["fromPakistan"]["nodes"][0]["population"], from_pakistan);
    assert_eq!(data["afg"]["fromPakistan"]["nodes"][0]["population"], 6_232);
    let ssd = data["ssd"]["refugees"]["nodes"].as_array().cloned().unwrap_or_default();
    let june = ssd.iter().find(|n| n["referenceDate"] == "2024-06-30").expect("2024-06-30");
    assert_eq!(june["population"], 762_283);
    export_checks(&store, SAMPLE).await;
}
