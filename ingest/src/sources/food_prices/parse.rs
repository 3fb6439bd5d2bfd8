//! Reading WFP's tables: the global market list (one row per market of every country, with WFP's id,
//! admin 1 and 2 names and coordinates) and a country's price file (one row per price, naming its
//! market). Columns are found by header, else HXL tag, as every table is read; the HXL row is skipped.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use store::models::Rejection;

use crate::IngestError;
use crate::kit::cells::{date, decimal, is_missing};
use crate::kit::table::{Col, Table, record_text};
use crate::sources::sites::bounding_box;

/// Where each field of the market list is.
mod market_columns {
    use super::Col;

    pub const ID: Col = Col::tagged("#loc+market+code", &["market_id"]);
    pub const NAME: Col = Col::tagged("#loc+market+name", &["market"]);
    pub const COUNTRY: Col = Col::tagged("#country+code", &["countryiso3"]);
    pub const ADMIN1: Col = Col::tagged("#adm1+name", &["admin1"]);
    pub const ADMIN2: Col = Col::tagged("#adm2+name", &["admin2"]);
    pub const LATITUDE: Col = Col::tagged("#geo+lat", &["latitude"]);
    pub const LONGITUDE: Col = Col::tagged("#geo+lon", &["longitude"]);
}

/// Where each field of the commodity list is.
mod commodity_columns {
    use super::Col;

    pub const ID: Col = Col::tagged("#item+code", &["commodity_id"]);
    pub const CATEGORY: Col = Col::tagged("#item+type", &["category"]);
    pub const NAME: Col = Col::tagged("#item+name", &["commodity"]);
}

/// Where each field of a price file is.
mod price_columns {
    use super::Col;

    pub const DATE: Col = Col::tagged("#date", &["date"]);
    pub const MARKET: Col = Col::tagged("#loc+market+name", &["market"]);
    pub const CATEGORY: Col = Col::tagged("#item+type", &["category"]);
    pub const COMMODITY: Col = Col::tagged("#item+name", &["commodity"]);
    pub const UNIT: Col = Col::tagged("#item+unit", &["unit"]);
    pub const FLAG: Col = Col::tagged("#item+price+flag", &["priceflag"]);
    pub const TYPE: Col = Col::tagged("#item+price+type", &["pricetype"]);
    pub const CURRENCY: Col = Col::tagged("#currency", &["currency"]);
    pub const PRICE: Col = Col::tagged("#value", &["price"]);
    pub const USD_PRICE: Col = Col::tagged("#value+usd", &["usdprice"]);
}

/// One valid market of a country.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketRecord {
    pub row_number: i64,
    pub code: i64,
    pub name: String,
    pub admin1: String,
    pub admin2: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// One valid commodity of WFP's list.
#[derive(Debug, Clone, PartialEq)]
pub struct CommodityRecord {
    pub row_number: i64,
    pub wfp_id: i64,
    pub name: String,
    pub category: String,
}

/// One valid price.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceRecord {
    pub row_number: i64,
    pub date: NaiveDate,
    pub market: String,
    pub category: String,
    pub commodity: String,
    pub unit: String,
    pub price_flag: String,
    pub price_type: String,
    pub currency: String,
    pub price: f64,
    pub usd_price: Option<f64>,
}

/// What one table held (for one country).
#[derive(Debug)]
pub struct Parsed<T> {
    pub rows: Vec<T>,
    pub rejections: Vec<Rejection>,
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Parsed { rows: Vec::new(), rejections: Vec::new() }
    }
}

/// A coordinate within `limit` degrees of zero.
fn coordinate(cell: &str, label: &str, limit: f64) -> Result<Option<f64>, String> {
    match decimal(cell, label)? {
        Some(v) if v.abs() > limit => Err(format!("{label} {v} is out of range (-{limit} to {limit})")),
        v => Ok(v),
    }
}

/// Both coordinates or neither; checked against `iso3`'s bounding box, as sites' are.
fn coordinates(lat: &str, lon: &str, iso3: &str) -> Result<(Option<f64>, Option<f64>), String> {
    let latitude = coordinate(lat, "latitude", 90.0)?;
    let longitude = coordinate(lon, "longitude", 180.0)?;
    match (latitude, longitude) {
        (Some(lat), Some(lon)) => {
            if lat == 0.0 && lon == 0.0 {
                return Err("coordinates 0, 0 are a placeholder, not a location".into());
            }
            if let Some((s, w, n, e)) = bounding_box(iso3)
                && (!(s..=n).contains(&lat) || !(w..=e).contains(&lon))
            {
                return Err(format!(
                    "coordinates {lat}, {lon} are outside {iso3}'s bounding box (lat {s} to {n}, lon {w} to {e})"
                ));
            }
            Ok((Some(lat), Some(lon)))
        }
        (None, None) => Ok((None, None)),
        _ => Err("only one of latitude and longitude is given".into()),
    }
}

/// `iso3`'s markets in WFP's global market list; other countries' rows are skipped, not rejected.
/// A market id seen twice is rejected (the first is kept).
pub fn parse_markets(table: &Table, iso3: &str, what: &str) -> Result<Parsed<MarketRecord>, IngestError> {
    use market_columns::*;
    let need = |col: &Col, field: &str| table.require_col(col, field, what);
    let (c_id, c_name, c_country) = (need(&ID, "market id")?, need(&NAME, "market")?, need(&COUNTRY, "country")?);
    let (c_adm1, c_adm2) = (need(&ADMIN1, "admin 1 name")?, need(&ADMIN2, "admin 2 name")?);
    let (c_lat, c_lon) = (need(&LATITUDE, "latitude")?, need(&LONGITUDE, "longitude")?);
    let mut parsed = Parsed::default();
    let mut seen: HashSet<i64> = HashSet::new();
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        if !cell(c_country).eq_ignore_ascii_case(iso3) {
            continue;
        }
        let result = (|| -> Result<MarketRecord, String> {
            let id = cell(c_id);
            let code: i64 = id.parse().map_err(|_| format!("market id {id:?} is not a whole number"))?;
            if !seen.insert(code) {
                return Err(format!("market id {code} is listed twice (the first is kept)"));
            }
            let name = cell(c_name);
            if is_missing(name) {
                return Err(format!("market name is missing ({name:?})"));
            }
            let (latitude, longitude) = coordinates(cell(c_lat), cell(c_lon), iso3)?;
            Ok(MarketRecord {
                row_number: *line,
                code,
                name: name.to_string(),
                admin1: cell(c_adm1).to_string(),
                admin2: cell(c_adm2).to_string(),
                latitude,
                longitude,
            })
        })();
        match result {
            Ok(row) => parsed.rows.push(row),
            Err(reason) => parsed.rejections.push(Rejection { row_number: *line, reason, raw: record_text(record) }),
        }
    }
    Ok(parsed)
}

/// WFP's commodity list (every country's commodities). An id or a name seen twice is rejected (the
/// first is kept): prices name their commodity, so a name must mean one commodity.
pub fn parse_commodities(table: &Table, what: &str) -> Result<Parsed<CommodityRecord>, IngestError> {
    use commodity_columns::*;
    let need = |col: &Col, field: &str| table.require_col(col, field, what);
    let (c_id, c_category, c_name) =
        (need(&ID, "commodity id")?, need(&CATEGORY, "category")?, need(&NAME, "commodity")?);
    let mut parsed = Parsed::default();
    let (mut ids, mut names): (HashSet<i64>, HashSet<String>) = (HashSet::new(), HashSet::new());
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let result = (|| -> Result<CommodityRecord, String> {
            let id = cell(c_id);
            let wfp_id: i64 = id.parse().map_err(|_| format!("commodity id {id:?} is not a whole number"))?;
            let name = required(cell(c_name), "commodity")?;
            let category = required(cell(c_category), "category")?;
            if !ids.insert(wfp_id) {
                return Err(format!("commodity id {wfp_id} is listed twice (the first is kept)"));
            }
            if !names.insert(name.clone()) {
                return Err(format!("commodity {name:?} is listed twice (the first is kept)"));
            }
            Ok(CommodityRecord { row_number: *line, wfp_id, name, category })
        })();
        match result {
            Ok(row) => parsed.rows.push(row),
            Err(reason) => parsed.rejections.push(Rejection { row_number: *line, reason, raw: record_text(record) }),
        }
    }
    Ok(parsed)
}

/// A required text cell.
fn required(cell: &str, label: &str) -> Result<String, String> {
    if is_missing(cell) { Err(format!("{label} is missing ({cell:?})")) } else { Ok(cell.to_string()) }
}

/// A price: a number, not negative.
fn price(cell: &str, label: &str) -> Result<Option<f64>, String> {
    match decimal(cell, label)? {
        Some(v) if v < 0.0 => Err(format!("{label} is negative ({v})")),
        v => Ok(v),
    }
}

/// A country's price file. `markets` are the country's market names in WFP's list, each with how
/// many markets bear it: a price naming no market, or a name two markets share, is rejected, as is a
/// repeat of a price's key (the first is kept).
pub fn parse_prices(
    table: &Table,
    markets: &HashMap<String, usize>,
    what: &str,
) -> Result<Parsed<PriceRecord>, IngestError> {
    use price_columns::*;
    let need = |col: &Col, field: &str| table.require_col(col, field, what);
    let (c_date, c_market, c_category) = (need(&DATE, "date")?, need(&MARKET, "market")?, need(&CATEGORY, "category")?);
    let (c_commodity, c_unit, c_flag) =
        (need(&COMMODITY, "commodity")?, need(&UNIT, "unit")?, need(&FLAG, "price flag")?);
    let (c_type, c_currency) = (need(&TYPE, "price type")?, need(&CURRENCY, "currency")?);
    let (c_price, c_usd) = (need(&PRICE, "price")?, need(&USD_PRICE, "USD price")?);
    let mut parsed = Parsed::default();
    type Key = (String, NaiveDate, String, String, String, String, String);
    let mut seen: HashMap<Key, i64> = HashMap::new();
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let result = (|| -> Result<PriceRecord, String> {
            let date = date(cell(c_date), "date")?.ok_or("date is missing")?;
            let market = required(cell(c_market), "market")?;
            match markets.get(&market) {
                None => return Err(format!("market {market:?} is not in WFP's market list for the country")),
                Some(n) if *n > 1 => return Err(format!("market name {market:?} names {n} markets in WFP's list")),
                Some(_) => {}
            }
            let price = price(cell(c_price), "price")?.ok_or("price is missing")?;
            Ok(PriceRecord {
                row_number: *line,
                date,
                market,
                category: cell(c_category).to_string(),
                commodity: required(cell(c_commodity), "commodity")?,
                unit: required(cell(c_unit), "unit")?,
                price_flag: cell(c_flag).to_string(),
                price_type: cell(c_type).to_string(),
                currency: required(cell(c_currency), "currency")?.to_uppercase(),
                price,
                usd_price: price_usd(cell(c_usd))?,
            })
        })();
        match result {
            Ok(row) => {
                let key = (
                    row.market.clone(),
                    row.date,
                    row.commodity.clone(),
                    row.unit.clone(),
                    row.price_flag.clone(),
                    row.price_type.clone(),
                    row.currency.clone(),
                );
                if let Some(first) = seen.get(&key) {
                    let reason = format!("repeats the price of line {first} (the first is kept)");
                    parsed.rejections.push(Rejection { row_number: *line, reason, raw: record_text(record) });
                } else {
                    seen.insert(key, *line);
                    parsed.rows.push(row);
                }
            }
            Err(reason) => parsed.rejections.push(Rejection { row_number: *line, reason, raw: record_text(record) }),
        }
    }
    Ok(parsed)
}

fn price_usd(cell: &str) -> Result<Option<f64>, String> {
    price(cell, "USD price")
}

/// A place name as compared with the store's area names: lower case, accents dropped, and every run
/// of other characters than letters and digits a single space (`Ségou` = `Segou`, `Tombouctou ` =
/// `tombouctou`).
pub fn name_key(name: &str) -> String {
    let folded: String = name
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(csv: &str) -> Table {
        Table::read(csv.as_bytes(), "CSV", None, "test").expect("table")
    }

    const MARKETS: &str = "market_id,market,countryiso3,admin1,admin2,latitude,longitude\n\
        #loc+market+code,#loc+market+name,#country+code,#adm1+name,#adm2+name,#geo+lat,#geo+lon\n\
        252,Mopti Digue,MLI,Mopti,Mopti,14.489094,-4.192827\n\
        80,Arusha (urban),TZA,Arusha,Arusha Urban,-3.366667,36.683333\n\
        253,Nowhere,MLI,Mopti,Mopti,48.85,2.35\n\
        x,Bad id,MLI,Mopti,Mopti,14.4,-4.1\n\
        252,Again,MLI,Mopti,Mopti,14.4,-4.1\n\
        254,Half,MLI,Mopti,Mopti,14.4,\n";

    #[test]
    fn the_commodity_list_keeps_each_id_and_name_once_and_rejects_bad_rows() {
        let list = "commodity_id,category,commodity\n#item+code,#item+type,#item+name\n\
            55,cereals and tubers,Bread\n\
            x,cereals and tubers,Bad id\n\
            56,,No category\n\
            55,cereals and tubers,Same id\n\
            57,cereals and tubers,Bread\n\
            58,fish,Fish (mukeke) \n";
        let p = parse_commodities(&table(list), "test").expect("parses");
        let kept: Vec<(i64, &str)> = p.rows.iter().map(|c| (c.wfp_id, c.name.as_str())).collect();
        assert_eq!(kept, [(55, "Bread"), (58, "Fish (mukeke)")]);
        let reasons: Vec<&str> = p.rejections.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons[0].contains("not a whole number"), "{reasons:?}");
        assert!(reasons[1].contains("category is missing"), "{reasons:?}");
        assert!(reasons[2].contains("commodity id 55 is listed twice"), "{reasons:?}");
        assert!(reasons[3].contains("\"Bread\" is listed twice"), "{reasons:?}");
    }

    #[test]
    fn markets_of_the_country_are_kept_and_bad_ones_rejected_with_reasons() {
        let p = parse_markets(&table(MARKETS), "MLI", "test").expect("parses");
        assert_eq!(p.rows.len(), 1);
        assert_eq!((p.rows[0].code, p.rows[0].latitude, p.rows[0].longitude), (252, Some(14.489094), Some(-4.192827)));
        let reasons: Vec<&str> = p.rejections.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons[0].contains("outside MLI's bounding box"), "{reasons:?}");
        assert!(reasons[1].contains("not a whole number"));
        assert!(reasons[2].contains("listed twice"));
        assert!(reasons[3].contains("only one of latitude"));
    }

    #[test]
    fn prices_need_a_known_market_a_number_and_no_repeat() {
        let csv = "date,admin1,admin2,market,latitude,longitude,category,commodity,unit,priceflag,pricetype,currency,price,usdprice\n\
            2024-05-15,Kabul,Kabul,Kabul,34.5,69.1,cereals and tubers,Bread,KG,aggregate,Retail,AFN,50.0,0.6439\n\
            2024-05-15,Kabul,Kabul,Kabul,34.5,69.1,cereals and tubers,Bread,KG,aggregate,Retail,AFN,51.0,0.65\n\
            2024-05-15,Kabul,Kabul,Atlantis,34.5,69.1,cereals and tubers,Bread,KG,aggregate,Retail,AFN,50.0,0.6439\n\
            2024-05-15,Kabul,Kabul,Kabul,34.5,69.1,cereals and tubers,Rice,KG,aggregate,Retail,AFN,-1,0.6439\n\
            2024-13-15,Kabul,Kabul,Kabul,34.5,69.1,cereals and tubers,Oil,KG,aggregate,Retail,AFN,1,0.1\n";
        let markets = HashMap::from([("Kabul".to_string(), 1)]);
        let p = parse_prices(&table(csv), &markets, "test").expect("parses");
        assert_eq!(p.rows.len(), 1);
        assert_eq!((p.rows[0].price, p.rows[0].usd_price), (50.0, Some(0.6439)));
        let reasons: Vec<&str> = p.rejections.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons[0].contains("repeats the price of line"));
        assert!(reasons[1].contains("not in WFP's market list"));
        assert!(reasons[2].contains("negative"));
        assert!(reasons[3].contains("not a YYYY-MM-DD date"));
    }

    #[test]
    fn names_compare_without_case_accents_or_punctuation() {
        assert_eq!(name_key(" Ségou "), name_key("SEGOU"));
        assert_eq!(name_key("Kabul-City"), "kabul city");
    }
}
