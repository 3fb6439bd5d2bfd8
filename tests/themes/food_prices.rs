//! Food prices and markets (WFP), end to end on both stores: the local fixture server answers HDX
//! `package_show` for WFP's global dataset and Afghanistan's price dataset and serves the real files at
//! their HDX paths (Mali has no price file: HDX answers 404, and its markets are still written).
//! Figures are computed here from the raw CSV files, and read back through the store and GraphQL.

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
    graphql_answers_the_check_figures,
    graphql_pages_a_market_s_price_series_and_lists_commodities,
    the_sample_holds_mali_s_markets_and_kabul_s_prices,
);

const PACKAGE_SHOW: &str = "/api/3/action/package_show";
const GLOBAL_RECORD: &str = "tests/fixtures/wfp/wfp_global.hdx_dataset.json";
const MARKETS_FILE: &str = "tests/fixtures/wfp/wfp_markets_global.csv";
const COMMODITIES_FILE: &str = "sample/wfp/wfp_commodities_global.csv";
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
        ("global-wfp-food-prices", &global, "Global WFP commodities", read(COMMODITIES_FILE)),
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
    // WFP's commodity list is read once per run, with the first country's rows.
    let commodities = csv_rows(&read(COMMODITIES_FILE));
    assert_eq!(commodities.len(), 1_077);
    assert_eq!(r.fetched, (of("MLI").len() + of("AFG").len() + prices.len() + commodities.len()) as i64);
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
    let commodities = csv_rows(&read(COMMODITIES_FILE)).len();
    assert_eq!((r.rejected, r.inserted), (4, (market_rows + commodities + raw.len() - 4) as i64));
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

/// A number of a JSON answer.
fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Every check figure of the issue, through GraphQL, against the raw files: Mali's 153 markets, market
/// 252 "Mopti Digue" (coordinates, ML05), Afghanistan's 8,058 prices from 34 markets, Kabul's bread
/// price of 2024-05-15 (50.0 AFN, 0.6439 USD), with the commodity's category and the provenance.
async fn graphql_answers_the_check_figures(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server(None).await;
    ingest(&store, &server).await;
    let markets = csv_rows(&read(MARKETS_FILE));
    let mli: Vec<&HashMap<String, String>> = markets.iter().filter(|m| m["countryiso3"] == "MLI").collect();
    let afg_markets = markets.iter().filter(|m| m["countryiso3"] == "AFG").count();
    let prices = csv_rows(&read(AFG_FILE));

    // Mali's markets: how many, and market 252.
    let data = graphql(
        &store.pool,
        r#"{ country(iso3: "MLI") { markets(first: 1) { totalCount }
             digue: markets(search: "mopti digue") { totalCount nodes { id marketCode name latitude longitude
               admin1Name admin2Name areaMatched area { pcode } country { iso3 }
               provenance { licence credit sourceUrl } } } } }"#,
    )
    .await;
    let country = &data["country"];
    assert_eq!(country["markets"]["totalCount"], mli.len() as i64);
    assert_eq!(mli.len(), 153);
    let raw = mli.iter().find(|m| m["market_id"] == "252").expect("market 252 in the file");
    let named: Vec<&&HashMap<String, String>> =
        mli.iter().filter(|m| m["market"].to_lowercase().contains("mopti digue")).collect();
    assert_eq!(country["digue"]["totalCount"], named.len() as i64);
    let nodes = country["digue"]["nodes"].as_array().expect("nodes");
    let digue = nodes.iter().find(|m| m["marketCode"] == 252).expect("market 252 in GraphQL");
    assert_eq!(digue["name"].as_str(), Some(raw["market"].as_str()));
    assert_eq!(digue["name"], "Mopti Digue");
    assert_eq!(num(&digue["latitude"]), raw["latitude"].parse::<f64>().expect("latitude"));
    assert_eq!(num(&digue["longitude"]), raw["longitude"].parse::<f64>().expect("longitude"));
    assert_eq!((num(&digue["latitude"]), num(&digue["longitude"])), (14.489094, -4.192827));
    assert_eq!((digue["admin1Name"].as_str(), digue["admin2Name"].as_str()), (Some("Mopti"), Some("Mopti")));
    let pcode = digue["area"]["pcode"].as_str().expect("an area");
    assert!(pcode.starts_with("ML05"), "{pcode}");
    assert_eq!(digue["country"]["iso3"], "MLI");
    assert!(digue["provenance"]["licence"].as_str().is_some_and(|l| l.contains("Creative Commons")), "{digue}");
    assert!(digue["provenance"]["sourceUrl"].as_str().is_some_and(|u| u.ends_with("wfp_markets_global.csv")));
    // Its global id fetches it back.
    let id = digue["id"].as_str().expect("id");
    let again =
        graphql(&store.pool, &format!(r#"{{ node(id: "{id}") {{ ... on Market {{ marketCode name }} }} }}"#)).await;
    assert_eq!(again["node"]["marketCode"], 252);

    // Mopti (ML05) holds its cercles' markets: every Mali market WFP places in admin 1 Mopti.
    let data = graphql(
        &store.pool,
        r#"{ adminArea(pcode: "ML05") { markets(first: 1000) { totalCount nodes { marketCode } } } }"#,
    )
    .await;
    let in_mopti: BTreeSet<i64> =
        mli.iter().filter(|m| m["admin1"] == "Mopti").map(|m| m["market_id"].parse().expect("id")).collect();
    let answered: BTreeSet<i64> = data["adminArea"]["markets"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|m| m["marketCode"].as_i64().expect("code"))
        .collect();
    assert!(in_mopti.contains(&252));
    assert_eq!(answered, in_mopti);
    assert_eq!(data["adminArea"]["markets"]["totalCount"], in_mopti.len() as i64);

    // Afghanistan: every market with its count of prices, in one request (a batched read).
    let data = graphql(
        &store.pool,
        r#"{ country(iso3: "AFG") { markets(first: 1000) { totalCount nodes { name prices(first: 1) { totalCount } } } } }"#,
    )
    .await;
    let nodes = data["country"]["markets"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), afg_markets);
    let mut by_market: HashMap<&str, i64> = HashMap::new();
    for p in &prices {
        *by_market.entry(p["market"].as_str()).or_default() += 1;
    }
    let answered: HashMap<&str, i64> = nodes
        .iter()
        .filter(|m| m["prices"]["totalCount"].as_i64() != Some(0))
        .map(|m| (m["name"].as_str().expect("name"), m["prices"]["totalCount"].as_i64().expect("count")))
        .collect();
    assert_eq!(answered, by_market);
    assert_eq!((prices.len(), by_market.len()), (8_058, 34));
    assert_eq!(answered.values().sum::<i64>(), prices.len() as i64);

    // Kabul, bread, 2024-05-15.
    let raw = prices
        .iter()
        .find(|p| p["market"] == "Kabul" && p["commodity"] == "Bread" && p["date"] == "2024-05-15")
        .expect("the Kabul bread price");
    let data = graphql(
        &store.pool,
        r#"{ country(iso3: "AFG") { markets(search: "kabul") { nodes { name
             prices(commodity: "Bread", from: "2024-05-15", to: "2024-05-15") { totalCount nodes { id date
               commodity { name category } unit priceType priceFlag currency price usdPrice market { name }
               provenance { dataAsOf licence sourceUrl } } } } } } }"#,
    )
    .await;
    let kabul = data["country"]["markets"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|m| m["name"] == "Kabul")
        .cloned()
        .expect("Kabul");
    assert_eq!(kabul["prices"]["totalCount"], 1);
    let p = &kabul["prices"]["nodes"][0];
    assert_eq!(p["date"], "2024-05-15");
    assert_eq!(p["commodity"]["name"], raw["commodity"].as_str());
    assert_eq!(p["commodity"]["category"], raw["category"].as_str());
    assert_eq!(p["unit"], raw["unit"].as_str());
    assert_eq!(p["priceType"], raw["pricetype"].as_str());
    assert_eq!(p["priceFlag"], raw["priceflag"].as_str());
    assert_eq!(p["currency"], raw["currency"].as_str());
    assert_eq!(num(&p["price"]), raw["price"].parse::<f64>().expect("price"));
    assert_eq!(num(&p["usdPrice"]), raw["usdprice"].parse::<f64>().expect("USD price"));
    assert_eq!((num(&p["price"]), num(&p["usdPrice"]), p["currency"].as_str()), (50.0, 0.6439, Some("AFN")));
    assert_eq!(p["market"]["name"], "Kabul");
    assert_eq!(p["provenance"]["dataAsOf"], "2024-05-15");
    assert!(p["provenance"]["sourceUrl"].as_str().is_some_and(|u| u.ends_with("wfp_food_prices_afg.csv")), "{p}");
    let id = p["id"].as_str().expect("id");
    let again = graphql(&store.pool, &format!(r#"{{ node(id: "{id}") {{ ... on FoodPrice {{ price }} }} }}"#)).await;
    assert_eq!(num(&again["node"]["price"]), 50.0);
}

/// Kabul's price series paged in small pages gives every Kabul price of the file once, by date; a
/// date range and a commodity narrow it as the file does; the commodities listed are the file's, with
/// their categories and counts.
async fn graphql_pages_a_market_s_price_series_and_lists_commodities(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server(None).await;
    ingest(&store, &server).await;
    let prices = csv_rows(&read(AFG_FILE));
    let kabul_raw: Vec<&HashMap<String, String>> = prices.iter().filter(|p| p["market"] == "Kabul").collect();

    let mut after = String::new();
    let mut seen: Vec<(String, String, String)> = Vec::new();
    let mut pages = 0;
    loop {
        let query = format!(
            r#"{{ country(iso3: "AFG") {{ markets(search: "kabul") {{ nodes {{ name
                 prices(first: 40{after}) {{ totalCount pageInfo {{ hasNextPage endCursor }}
                   nodes {{ date commodity {{ name }} unit }} }} }} }} }} }}"#
        );
        let data = graphql(&store.pool, &query).await;
        let kabul = data["country"]["markets"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|m| m["name"] == "Kabul")
            .cloned()
            .expect("Kabul");
        let page = &kabul["prices"];
        assert_eq!(page["totalCount"], kabul_raw.len() as i64);
        for n in page["nodes"].as_array().expect("nodes") {
            let text = |v: &Value| v.as_str().expect("text").to_string();
            seen.push((text(&n["date"]), text(&n["commodity"]["name"]), text(&n["unit"])));
        }
        pages += 1;
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = format!(r#", after: "{}""#, page["pageInfo"]["endCursor"].as_str().expect("cursor"));
    }
    assert_eq!(pages, kabul_raw.len().div_ceil(40));
    let dates: Vec<&String> = seen.iter().map(|s| &s.0).collect();
    assert!(dates.is_sorted(), "a series by date");
    let mut expected: Vec<(String, String, String)> =
        kabul_raw.iter().map(|p| (p["date"].clone(), p["commodity"].clone(), p["unit"].clone())).collect();
    expected.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, expected);

    // A commodity over a date range.
    let in_range = |p: &&&HashMap<String, String>| {
        p["commodity"] == "Wheat" && p["date"].as_str() >= "2023-06-01" && p["date"].as_str() <= "2023-12-31"
    };
    let expected = kabul_raw.iter().filter(in_range).count();
    let data = graphql(
        &store.pool,
        r#"{ country(iso3: "AFG") { markets(search: "kabul") { nodes { name
             prices(commodity: "Wheat", from: "2023-06-01", to: "2023-12-31") { totalCount nodes { date } } } } } }"#,
    )
    .await;
    let kabul = data["country"]["markets"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|m| m["name"] == "Kabul")
        .cloned()
        .expect("Kabul");
    assert!(expected > 0);
    assert_eq!(kabul["prices"]["totalCount"], expected as i64);
    assert_eq!(kabul["prices"]["nodes"].as_array().map(Vec::len), Some(expected));

    // The commodities, from the file: name → (category, prices, markets).
    let mut commodities: HashMap<String, (String, i64, BTreeSet<String>)> = HashMap::new();
    for p in &prices {
        let entry = commodities.entry(p["commodity"].clone()).or_insert((p["category"].clone(), 0, BTreeSet::new()));
        entry.1 += 1;
        entry.2.insert(p["market"].clone());
    }
    let data = graphql(
        &store.pool,
        r#"{ commodities(country: "AFG") { name category priceCount marketCount firstDate lastDate }
             rice: commodities(search: "RICE") { name } mali: commodities(country: "MLI") { name }
             country(iso3: "AFG") { commodities { name } } }"#,
    )
    .await;
    let listed = data["commodities"].as_array().expect("commodities");
    assert_eq!(listed.len(), commodities.len());
    assert_eq!(listed.len(), 14);
    for c in listed {
        let name = c["name"].as_str().expect("name");
        let (category, count, markets) = &commodities[name];
        assert_eq!(c["category"].as_str(), Some(category.as_str()), "{name}");
        assert_eq!(c["priceCount"].as_i64(), Some(*count), "{name}");
        assert_eq!(c["marketCount"].as_i64(), Some(markets.len() as i64), "{name}");
        let dates: Vec<&str> = prices.iter().filter(|p| p["commodity"] == name).map(|p| p["date"].as_str()).collect();
        assert_eq!(c["firstDate"].as_str(), dates.iter().min().copied(), "{name}");
        assert_eq!(c["lastDate"].as_str(), dates.iter().max().copied(), "{name}");
    }
    let rice: BTreeSet<&str> =
        data["rice"].as_array().expect("rice").iter().filter_map(|c| c["name"].as_str()).collect();
    let expected: BTreeSet<&str> =
        commodities.keys().filter(|n| n.to_lowercase().contains("rice")).map(String::as_str).collect();
    assert_eq!(rice, expected);
    assert!(!rice.is_empty());
    assert_eq!(data["mali"].as_array().map(Vec::len), Some(0), "no price file for Mali");
    assert_eq!(data["country"]["commodities"].as_array().map(Vec::len), Some(commodities.len()));

    // WFP's commodity list, from its file: every commodity with its id and category, the priced ones
    // with their prices, the others with none (names as prices use them: two end in a space in the file).
    let list: HashMap<String, (i64, String)> = csv_rows(&read(COMMODITIES_FILE))
        .into_iter()
        .map(|c| (c["commodity"].trim().to_string(), (c["commodity_id"].parse().expect("id"), c["category"].clone())))
        .collect();
    let data = graphql(
        &store.pool,
        r#"{ commodities(listed: true) { name wfpId category priceCount firstDate }
             breads: commodities(listed: true, search: "bread") { name wfpId } }"#,
    )
    .await;
    let all = data["commodities"].as_array().expect("commodities");
    let priced_unlisted = commodities.keys().filter(|n| !list.contains_key(*n)).count();
    assert_eq!(all.len(), list.len() + priced_unlisted);
    for c in all {
        let name = c["name"].as_str().expect("name");
        let (id, category) = list.get(name).unwrap_or_else(|| panic!("{name:?} is not in the list"));
        assert_eq!((c["wfpId"].as_i64(), c["category"].as_str()), (Some(*id), Some(category.as_str())), "{name}");
        let priced = commodities.get(name).map_or(0, |(_, n, _)| *n);
        assert_eq!(c["priceCount"].as_i64(), Some(priced), "{name}");
        assert_eq!(c["firstDate"].is_null(), priced == 0, "{name}");
    }
    let breads: BTreeSet<(String, i64)> = data["breads"]
        .as_array()
        .expect("breads")
        .iter()
        .map(|c| (c["name"].as_str().expect("name").to_string(), c["wfpId"].as_i64().expect("id")))
        .collect();
    let expected: BTreeSet<(String, i64)> =
        list.iter().filter(|(n, _)| n.to_lowercase().contains("bread")).map(|(n, (id, _))| (n.clone(), *id)).collect();
    assert_eq!(breads, expected);
    assert!(breads.contains(&("Bread".to_string(), 55)));
}

/// The bundled sample: Mali's markets (153, Mopti Digue in ML05) and Kabul's prices, as its files hold
/// them (read here).
async fn the_sample_holds_mali_s_markets_and_kabul_s_prices(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    for r in ingest::sample::load_sample(&store.pool).await.expect("sample loads") {
        assert_eq!(r.status, status::SUCCEEDED, "{} {:?}", r.source, r.error);
    }
    let markets = csv_rows(&read("sample/wfp/wfp_markets_global.AFG-MLI-subset.csv"));
    let prices = csv_rows(&read("sample/wfp/wfp_food_prices_afg.Kabul-2023-2024-subset.csv"));
    let mli = markets.iter().filter(|m| m["countryiso3"] == "MLI").count();
    let afg = markets.iter().filter(|m| m["countryiso3"] == "AFG").count();
    let data = graphql(
        &store.pool,
        r#"{ mli: country(iso3: "MLI") { markets(first: 1) { totalCount } }
             afg: country(iso3: "AFG") { markets(first: 1) { totalCount } }
             adminArea(pcode: "ML05") { markets(first: 1000) { nodes { marketCode name latitude longitude area { pcode } } } }
             kabul: country(iso3: "AFG") { markets(search: "kabul") { nodes { name
               prices(first: 1000) { totalCount nodes { date commodity { name } price usdPrice } } } } } }"#,
    )
    .await;
    assert_eq!(data["mli"]["markets"]["totalCount"], mli as i64);
    assert_eq!(mli, 153);
    assert_eq!(data["afg"]["markets"]["totalCount"], afg as i64);
    let digue = data["adminArea"]["markets"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|m| m["marketCode"] == 252)
        .cloned()
        .expect("Mopti Digue in ML05");
    let raw = markets.iter().find(|m| m["market_id"] == "252").expect("252 in the sample");
    assert_eq!(digue["name"].as_str(), Some(raw["market"].as_str()));
    assert_eq!(num(&digue["latitude"]), raw["latitude"].parse::<f64>().expect("latitude"));
    assert_eq!(num(&digue["longitude"]), raw["longitude"].parse::<f64>().expect("longitude"));
    assert!(digue["area"]["pcode"].as_str().is_some_and(|p| p.starts_with("ML05")), "{digue}");
    let kabul = data["kabul"]["markets"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|m| m["name"] == "Kabul")
        .cloned()
        .expect("Kabul");
    assert_eq!(kabul["prices"]["totalCount"], prices.len() as i64);
    let raw = prices
        .iter()
        .find(|p| p["commodity"] == "Bread" && p["date"] == "2024-05-15")
        .expect("the bread price in the sample");
    let bread = kabul["prices"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|p| p["commodity"]["name"] == "Bread" && p["date"] == "2024-05-15")
        .cloned()
        .expect("bread in GraphQL");
    assert_eq!(num(&bread["price"]), raw["price"].parse::<f64>().expect("price"));
    assert_eq!(num(&bread["usdPrice"]), raw["usdprice"].parse::<f64>().expect("USD price"));
}
