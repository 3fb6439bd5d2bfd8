//! Food prices and markets (WFP), end to end on both stores: the local fixture server answers HDX
//! `package_show` for WFP's global dataset and Afghanistan's price dataset and serves the real files at
//! their HDX paths (Mali has no price file: HDX answers 404, and its markets are still written).
//! Figures are computed here from the raw CSV files.

use std::collections::{BTreeSet, HashMap};

use ingest::Source;
use serde_json::Value;
use store::runs::status;
use store::with_conn;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{self, Backend, TestStore, graphql, ingester, read, run};

crate::on_both_stores!(
    markets_and_prices_equal_the_files,
    bad_prices_are_rejected_with_reasons_and_the_rest_kept,
    rerun_writes_nothing,
);

const PACKAGE_SHOW: &str = "/api/3/action/package_show";
const GLOBAL_RECORD: &str = "tests/fixtures/wfp/wfp_global.hdx_dataset.json";
const MARKETS_FILE: &str = "tests/fixtures/wfp/wfp_markets_global.csv";
const AFG_RECORD: &str = "tests/fixtures/wfp/wfp_food_prices_afg.hdx_dataset.json";
const AFG_FILE: &str = "tests/fixtures/wfp/wfp_food_prices_afg_2023-2024-subset.csv";

/// A catalog record (a `package_show` `result`) in CKAN's envelope.
fn envelope(record: &[u8]) -> Vec<u8> {
    let result: Value = serde_json::from_slice(record).expect("catalog record");
    serde_json::to_vec(&serde_json::json!({ "success": true, "result": result })).expect("JSON")
}

/// The HDX path of the catalog record's resource named `name`.
fn resource_path(record: &[u8], name: &str) -> String {
    let result: Value = serde_json::from_slice(record).expect("catalog record");
    let resources = result["resources"].as_array().expect("resources");
    let resource = resources.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no resource {name}"));
    let url = resource["download_url"].as_str().expect("download URL");
    url.trim_start_matches("https://data.humdata.org").to_string()
}

/// The fixture server (p-codes) with WFP's global dataset and Afghanistan's price dataset; `prices`
/// replaces Afghanistan's price file.
async fn server(prices: Option<Vec<u8>>) -> MockServer {
    let server = common::fixture_server().await;
    let global = read(GLOBAL_RECORD);
    let afg = read(AFG_RECORD);
    for (id, record, resource, file) in [
        ("global-wfp-food-prices", &global, "Global WFP markets", read(MARKETS_FILE)),
        (
            "wfp-food-prices-for-afghanistan",
            &afg,
            "Afghanistan - Food Prices",
            prices.clone().unwrap_or_else(|| read(AFG_FILE)),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(PACKAGE_SHOW))
            .and(query_param("id", id))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(envelope(record)))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(resource_path(record, resource)))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(file))
            .mount(&server)
            .await;
    }
    server
}

/// A CSV file's rows as header → value maps, the HXL row left out.
fn csv_rows(bytes: &[u8]) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(bytes);
    let headers: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    reader
        .records()
        .map(|r| r.expect("row"))
        .filter(|r| !r.iter().next().unwrap_or("").starts_with('#'))
        .map(|r| headers.iter().cloned().zip(r.iter().map(str::to_string)).collect())
        .collect()
}

async fn ingest(store: &TestStore, server: &MockServer) -> store::models::IngestRun {
    let ingester = ingester(store, server);
    assert_eq!(run(&ingester, Source::Geography, &["MLI", "AFG"], &[]).await.status, status::SUCCEEDED);
    let r = run(&ingester, Source::FoodPrices, &["MLI", "AFG"], &[]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    r
}

async fn markets_and_prices_equal_the_files(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server(None).await;
    let r = ingest(&store, &server).await;

    let markets = csv_rows(&read(MARKETS_FILE));
    let of = |iso3: &str| markets.iter().filter(|m| m["countryiso3"] == iso3).collect::<Vec<_>>();
    let prices = csv_rows(&read(AFG_FILE));
    // The check figures, on the raw files.
    assert_eq!(of("MLI").len(), 153);
    assert_eq!(prices.len(), 8_058);
    let price_markets: BTreeSet<&str> = prices.iter().map(|p| p["market"].as_str()).collect();
    assert_eq!(price_markets.len(), 34);
    assert_eq!(r.fetched, (of("MLI").len() + of("AFG").len() + prices.len()) as i64);
    assert_eq!((r.inserted, r.rejected), (r.fetched, 0));

    let (mli, afg, areas, count) = with_conn(&store.pool, |c| {
        let mli = store::food_prices::markets_of_country(c, "MLI")?;
        let afg = store::food_prices::markets_of_country(c, "AFG")?;
        let ids: Vec<i64> = mli.iter().filter_map(|m| m.area_id).collect();
        let areas: HashMap<i64, String> =
            store::geography::areas_by_ids(c, &ids)?.into_iter().map(|a| (a.id, a.pcode)).collect();
        let filter = store::food_prices::PriceFilter { country_iso3: Some("AFG".into()), ..Default::default() };
        let count = store::food_prices::count_prices_matching(c, &filter)?;
        Ok((mli, afg, areas, count))
    })
    .await
    .expect("markets");
    assert_eq!(mli.len(), of("MLI").len());
    assert_eq!(afg.len(), of("AFG").len());
    assert_eq!(count, prices.len() as i64);
    // Market 252 "Mopti Digue", as the file gives it, in Mopti (ML05).
    let raw = of("MLI").into_iter().find(|m| m["market_id"] == "252").expect("market 252");
    let digue = mli.iter().find(|m| m.market_code == 252).expect("stored market 252");
    assert_eq!(digue.name, raw["market"]);
    assert_eq!(
        (digue.name.as_str(), digue.latitude, digue.longitude),
        ("Mopti Digue", Some(14.489094), Some(-4.192827))
    );
    assert_eq!(digue.latitude, raw["latitude"].parse().ok());
    let pcode = digue.area_id.and_then(|id| areas.get(&id)).expect("an area");
    assert!(pcode.starts_with("ML05"), "{pcode}");
    // Every Mali market whose admin 1 is Mopti lies in ML05.
    let mopti: Vec<&store::food_prices::MarketRow> = mli.iter().filter(|m| m.admin1_name == "Mopti").collect();
    assert_eq!(mopti.len(), of("MLI").iter().filter(|m| m["admin1"] == "Mopti").count());
    assert!(mopti.iter().all(|m| m.area_id.and_then(|id| areas.get(&id)).is_some_and(|p| p.starts_with("ML05"))));

    // Kabul, bread, 2024-05-15, from the file and from the store.
    let raw = prices
        .iter()
        .find(|p| p["market"] == "Kabul" && p["commodity"] == "Bread" && p["date"] == "2024-05-15")
        .expect("the Kabul bread price");
    assert_eq!((raw["price"].as_str(), raw["usdprice"].as_str(), raw["currency"].as_str()), ("50.0", "0.6439", "AFN"));
    let kabul = afg.iter().find(|m| m.name == "Kabul").expect("Kabul").id;
    let stored = with_conn(&store.pool, move |c| {
        let filter = store::food_prices::PriceFilter {
            market_id: Some(kabul),
            commodity: Some("Bread".into()),
            from: chrono::NaiveDate::from_ymd_opt(2024, 5, 15),
            to: chrono::NaiveDate::from_ymd_opt(2024, 5, 15),
            ..Default::default()
        };
        Ok(store::food_prices::prices_page(c, &filter, None, 10)?.0)
    })
    .await
    .expect("prices");
    assert_eq!(stored.len(), 1);
    let p = &stored[0];
    assert_eq!((p.price, p.usd_price, p.currency.as_str(), p.unit.as_str()), (50.0, Some(0.6439), "AFN", "KG"));
    assert_eq!(Some(p.price), raw["price"].parse().ok());
    assert_eq!(p.usd_price, raw["usdprice"].parse().ok());
}

async fn bad_prices_are_rejected_with_reasons_and_the_rest_kept(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    // Afghanistan's file with four rows spoilt: a negative price, text for a price, a market WFP's list
    // does not have, and a repeat of the line above it.
    let text = String::from_utf8(read(AFG_FILE)).expect("utf-8");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Replaces the cell at `index` (`-2`: the price, second from the end).
    let swap = |line: &str, index: isize, to: &str| {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        let i = if index < 0 { cells.len() - index.unsigned_abs() } else { index as usize };
        cells[i] = to.to_string();
        cells.join(",")
    };
    lines[2] = swap(&lines[2], -2, "-77.0");
    lines[3] = swap(&lines[3], -2, "cheap");
    lines[4] = swap(&lines[4], 3, "Atlantis");
    lines[6] = lines[5].clone();
    let server = server(Some(lines.join("\n").into_bytes())).await;
    let r = ingest(&store, &server).await;
    let raw = csv_rows(&read(AFG_FILE));
    let markets = csv_rows(&read(MARKETS_FILE));
    let market_rows = markets.iter().filter(|m| m["countryiso3"] == "MLI" || m["countryiso3"] == "AFG").count();
    assert_eq!((r.rejected, r.inserted), (4, (market_rows + raw.len() - 4) as i64));
    let data = graphql(
        &store.pool,
        &format!("{{ ingestRun(id: {}) {{ rejected rejectedRows {{ rowNumber reason raw }} }} }}", r.id),
    )
    .await;
    let rejected = data["ingestRun"]["rejectedRows"].as_array().cloned().unwrap_or_default();
    let reason = |line: i64| {
        rejected
            .iter()
            .find(|x| x["rowNumber"] == line)
            .and_then(|x| x["reason"].as_str())
            .unwrap_or_else(|| panic!("line {line}: {rejected:?}"))
            .to_string()
    };
    assert!(reason(3).contains("negative"), "{rejected:?}");
    assert!(reason(4).contains("\"cheap\" is not a number"), "{rejected:?}");
    assert!(reason(5).contains("\"Atlantis\" is not in WFP's market list"), "{rejected:?}");
    assert!(reason(7).contains("repeats the price of line 6"), "{rejected:?}");
}

async fn rerun_writes_nothing(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server(None).await;
    let first = ingest(&store, &server).await;
    let second = run(&ingester(&store, &server), Source::FoodPrices, &["MLI", "AFG"], &[]).await;
    assert_eq!(second.status, status::SUCCEEDED, "{:?}", second.error);
    assert_eq!((second.inserted, second.updated), (0, 0));
    assert_eq!(second.unchanged, first.inserted);
}
