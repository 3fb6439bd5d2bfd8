//! Food prices and markets (WFP): markets are places (WFP's global market list, with coordinates and
//! the admin area their names match); a price is one commodity, unit, price type and flag in one market
//! on one date, in the local currency and in US dollars, as WFP's per-country price file gives it.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::upsert::RunStamp;
use crate::{AnyConnection, StoreError};

// The theme's tables, declared here (not in `schema.rs`) so that a theme stays in its own module.
diesel::table! {
    markets (id) {
        id -> BigInt,
        country_iso3 -> Text,
        market_code -> BigInt,
        name -> Text,
        admin1_name -> Text,
        admin2_name -> Text,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        area_id -> Nullable<BigInt>,
        area_matched -> Bool,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

diesel::table! {
    food_prices (id) {
        id -> BigInt,
        country_iso3 -> Text,
        market_id -> BigInt,
        market_name -> Text,
        date -> Date,
        category -> Text,
        commodity -> Text,
        unit -> Text,
        price_flag -> Text,
        price_type -> Text,
        currency -> Text,
        price -> Double,
        usd_price -> Nullable<Double>,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

diesel::table! {
    wfp_commodities (id) {
        id -> BigInt,
        publisher -> Text,
        wfp_id -> BigInt,
        name -> Text,
        category -> Text,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

diesel::joinable!(food_prices -> markets (market_id));
diesel::allow_tables_to_appear_in_same_query!(markets, food_prices, wfp_commodities);

/// A market as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = markets)]
pub struct MarketRow {
    pub id: i64,
    pub country_iso3: String,
    pub market_code: i64,
    pub name: String,
    pub admin1_name: String,
    pub admin2_name: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// A validated market, keyed by (country, WFP market id); written with [`crate::upsert::upsert`].
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = markets, treat_none_as_null = true)]
pub struct MarketInput {
    pub country_iso3: String,
    /// WFP's market id (`market_id`).
    pub market_code: i64,
    pub name: String,
    /// The admin 1 and 2 names WFP gives (not codes: they are matched to areas by name).
    pub admin1_name: String,
    pub admin2_name: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// The admin 2 area the names match, else the admin 1 area, else none.
    pub area_id: Option<i64>,
    /// Whether both admin names matched (the admin 2 area); false when only admin 1 did, or none.
    pub area_matched: bool,
    pub resource_id: i64,
}

crate::keyed_table! {
    MarketInput in markets,
    id: id: i64,
    key: (country_iso3: String, market_code: i64),
    scope: country_iso3: String,
    stamp: |s: RunStamp| (markets::run_id.eq(s.run_id), markets::retrieved_at.eq(s.retrieved_at)),
}

/// One commodity of WFP's commodity list, keyed by (publisher, WFP's commodity id); written with
/// [`crate::upsert::upsert`]. The list is global: every country's run writes the same rows.
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = wfp_commodities, treat_none_as_null = true)]
pub struct CommodityInput {
    /// Whose list it is (`WFP`): the list is one per publisher, not per country.
    pub publisher: String,
    /// WFP's commodity id (`commodity_id`).
    pub wfp_id: i64,
    /// The name prices use (`Bread`, `Rice (imported)`).
    pub name: String,
    /// WFP's category (`cereals and tubers`).
    pub category: String,
    pub resource_id: i64,
}

crate::keyed_table! {
    CommodityInput in wfp_commodities,
    id: id: i64,
    key: (publisher: String, wfp_id: i64),
    scope: publisher: String,
    stamp: |s: RunStamp| (wfp_commodities::run_id.eq(s.run_id), wfp_commodities::retrieved_at.eq(s.retrieved_at)),
}

/// The publisher of the commodity list the store holds.
pub const COMMODITY_LIST_PUBLISHER: &str = "WFP";

/// A food price as stored.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = food_prices)]
pub struct FoodPriceRow {
    pub id: i64,
    pub country_iso3: String,
    pub market_id: i64,
    pub market_name: String,
    pub date: NaiveDate,
    pub category: String,
    pub commodity: String,
    pub unit: String,
    pub price_flag: String,
    pub price_type: String,
    pub currency: String,
    pub price: f64,
    pub usd_price: Option<f64>,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// A validated price, keyed by (country, market name, date, commodity, unit, flag, type, currency).
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = food_prices, treat_none_as_null = true)]
pub struct FoodPriceInput {
    pub country_iso3: String,
    /// The market's row id (the price file names its market; the name is found in the market list).
    pub market_id: i64,
    pub market_name: String,
    /// The date WFP gives the price (mid-month for monthly prices).
    pub date: NaiveDate,
    /// WFP's commodity category (`cereals and tubers`).
    pub category: String,
    /// WFP's commodity name (`Bread`, `Rice (low quality)`).
    pub commodity: String,
    pub unit: String,
    /// `actual`, `aggregate`, `forecast`... as WFP writes it.
    pub price_flag: String,
    /// `Retail` or `Wholesale`.
    pub price_type: String,
    /// ISO 4217 code of the local currency.
    pub currency: String,
    pub price: f64,
    pub usd_price: Option<f64>,
    pub resource_id: i64,
}

crate::keyed_table! {
    FoodPriceInput in food_prices,
    id: id: i64,
    key: (
        country_iso3: String,
        market_name: String,
        date: NaiveDate,
        commodity: String,
        unit: String,
        price_flag: String,
        price_type: String,
        currency: String,
    ),
    scope: country_iso3: String,
    stamp: |s: RunStamp| (food_prices::run_id.eq(s.run_id), food_prices::retrieved_at.eq(s.retrieved_at)),
}

/// Which markets to read.
#[derive(Debug, Clone, Default)]
pub struct MarketFilter {
    pub country_iso3: Option<String>,
    /// Markets whose area is one of these (the caller passes an area and its descendants).
    pub area_ids: Option<Vec<i64>>,
    /// Markets whose name contains this text (any case).
    pub search: Option<String>,
}

diesel::define_sql_function! {
    /// SQL `LOWER` (PostgreSQL's `LIKE` is case-sensitive, SQLite's only for non-ASCII letters).
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A `LIKE` pattern matching text that contains `text` (lower-cased; `%`, `_` and `\` escaped).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

macro_rules! market_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &MarketFilter = $filter;
        let mut query = $query;
        if let Some(iso3) = &filter.country_iso3 {
            query = query.filter(markets::country_iso3.eq(iso3.clone()));
        }
        if let Some(ids) = &filter.area_ids {
            query = query.filter(markets::area_id.eq_any(ids.clone()));
        }
        if let Some(search) = filter.search.as_deref().filter(|s| !s.trim().is_empty()) {
            query = query.filter(lower(markets::name).like(contains_pattern(search)).escape('\\'));
        }
        query
    }};
}

/// The `size` markets matching `filter` after row id `after` (keyset paging), and whether more follow.
pub fn markets_page(
    conn: &mut AnyConnection,
    filter: &MarketFilter,
    after: Option<i64>,
    size: usize,
) -> Result<(Vec<MarketRow>, bool), StoreError> {
    let mut query = market_filter!(markets::table.select(MarketRow::as_select()).into_boxed(), filter);
    if let Some(after) = after {
        query = query.filter(markets::id.gt(after));
    }
    let rows: Vec<MarketRow> = query.order(markets::id.asc()).limit(crate::paging::probe_limit(size)).load(conn)?;
    let (rows, has_next) = crate::paging::split_page(rows, size);
    Ok((rows, has_next))
}

/// How many markets match `filter`.
pub fn count_markets_matching(conn: &mut AnyConnection, filter: &MarketFilter) -> Result<i64, StoreError> {
    Ok(market_filter!(markets::table.count().into_boxed(), filter).get_result(conn)?)
}

/// Every market of a country, by row id.
pub fn markets_of_country(conn: &mut AnyConnection, iso3: &str) -> Result<Vec<MarketRow>, StoreError> {
    Ok(markets::table
        .filter(markets::country_iso3.eq(iso3))
        .order(markets::id.asc())
        .select(MarketRow::as_select())
        .load(conn)?)
}

/// Markets by their row ids.
pub fn markets_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<MarketRow>, StoreError> {
    Ok(markets::table.filter(markets::id.eq_any(ids)).select(MarketRow::as_select()).load(conn)?)
}

/// The markets whose area is one of `area_ids`, by row id.
pub fn markets_in_areas(conn: &mut AnyConnection, area_ids: &[i64]) -> Result<Vec<MarketRow>, StoreError> {
    Ok(markets::table
        .filter(markets::area_id.eq_any(area_ids))
        .order(markets::id.asc())
        .select(MarketRow::as_select())
        .load(conn)?)
}

/// Prices by their row ids.
pub fn prices_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<FoodPriceRow>, StoreError> {
    Ok(food_prices::table.filter(food_prices::id.eq_any(ids)).select(FoodPriceRow::as_select()).load(conn)?)
}

/// Which prices to read.
#[derive(Debug, Clone, Default)]
pub struct PriceFilter {
    pub country_iso3: Option<String>,
    pub market_id: Option<i64>,
    /// A commodity name, exactly as WFP writes it.
    pub commodity: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

macro_rules! price_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &PriceFilter = $filter;
        let mut query = $query;
        if let Some(iso3) = &filter.country_iso3 {
            query = query.filter(food_prices::country_iso3.eq(iso3.clone()));
        }
        if let Some(id) = filter.market_id {
            query = query.filter(food_prices::market_id.eq(id));
        }
        if let Some(commodity) = &filter.commodity {
            query = query.filter(food_prices::commodity.eq(commodity.clone()));
        }
        if let Some(from) = filter.from {
            query = query.filter(food_prices::date.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(food_prices::date.le(to));
        }
        query
    }};
}

/// The `size` prices matching `filter` after row id `after` (keyset paging), and whether more follow.
pub fn prices_page(
    conn: &mut AnyConnection,
    filter: &PriceFilter,
    after: Option<i64>,
    size: usize,
) -> Result<(Vec<FoodPriceRow>, bool), StoreError> {
    let mut query = price_filter!(food_prices::table.select(FoodPriceRow::as_select()).into_boxed(), filter);
    if let Some(after) = after {
        query = query.filter(food_prices::id.gt(after));
    }
    let rows: Vec<FoodPriceRow> =
        query.order(food_prices::id.asc()).limit(crate::paging::probe_limit(size)).load(conn)?;
    let (rows, has_next) = crate::paging::split_page(rows, size);
    Ok((rows, has_next))
}

/// How many prices match `filter`.
pub fn count_prices_matching(conn: &mut AnyConnection, filter: &PriceFilter) -> Result<i64, StoreError> {
    Ok(price_filter!(food_prices::table.count().into_boxed(), filter).get_result(conn)?)
}

/// A price filter's arguments for a page of each of several markets (what `Market.prices` asks).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MarketPricesArgs {
    /// A commodity name, exactly as WFP writes it.
    pub commodity: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Prices after this (date, row id) position of each market's series.
    pub after: Option<(NaiveDate, i64)>,
    /// The page size.
    pub size: usize,
}

/// A placeholder in the backend's syntax, numbered from 1.
fn placeholder(postgres: bool, n: &mut usize) -> String {
    *n += 1;
    if postgres { format!("${n}") } else { "?".to_string() }
}

/// The `WHERE` clause of a market prices read over `market_ids` and its binds.
fn market_prices_where(
    postgres: bool,
    market_ids: &[i64],
    args: &MarketPricesArgs,
    with_after: bool,
) -> (String, Vec<crate::bi::Bind>) {
    use crate::bi::Bind;
    let ids: Vec<String> = market_ids.iter().map(i64::to_string).collect();
    // The ids are numbers the caller holds (not user text): written in, as one statement serves any count.
    let mut sql = format!("p.market_id IN ({})", if ids.is_empty() { "NULL".to_string() } else { ids.join(", ") });
    let mut binds = Vec::new();
    let mut n = 0;
    if let Some(commodity) = &args.commodity {
        sql += &format!(" AND p.commodity = {}", placeholder(postgres, &mut n));
        binds.push(Bind::Text(commodity.clone()));
    }
    if let Some(from) = args.from {
        sql += &format!(" AND p.date >= {}", placeholder(postgres, &mut n));
        binds.push(Bind::Date(from));
    }
    if let Some(to) = args.to {
        sql += &format!(" AND p.date <= {}", placeholder(postgres, &mut n));
        binds.push(Bind::Date(to));
    }
    if let (true, Some((date, id))) = (with_after, args.after) {
        let (a, b, c) = (placeholder(postgres, &mut n), placeholder(postgres, &mut n), placeholder(postgres, &mut n));
        sql += &format!(" AND (p.date > {a} OR (p.date = {b} AND p.id > {c}))");
        binds.extend([Bind::Date(date), Bind::Date(date), Bind::BigInt(id)]);
    }
    (sql, binds)
}

/// The first `args.size` prices (by date, then row id) of each of `market_ids` matching `args`, plus
/// one more where more follow (see [`crate::paging`]): one query for every market, however many
/// (a window numbers each market's rows).
pub fn prices_of_markets(
    conn: &mut AnyConnection,
    market_ids: &[i64],
    args: &MarketPricesArgs,
) -> Result<Vec<FoodPriceRow>, StoreError> {
    let postgres = matches!(conn, AnyConnection::Postgresql(_));
    let (condition, binds) = market_prices_where(postgres, market_ids, args, true);
    let sql = format!(
        "SELECT id, country_iso3, market_id, market_name, date, category, commodity, unit, price_flag, price_type, \
         currency, price, usd_price, resource_id, run_id, retrieved_at FROM (\
         SELECT p.*, ROW_NUMBER() OVER (PARTITION BY p.market_id ORDER BY p.date, p.id) AS position \
         FROM food_prices p WHERE {condition}) x WHERE x.position <= {} ORDER BY x.market_id, x.date, x.id",
        crate::paging::probe_limit(args.size)
    );
    crate::bi::load_by_name(conn, &sql, &binds)
}

/// A market and a count.
#[derive(Debug, QueryableByName)]
struct MarketCount {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    market_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// How many prices of each of `market_ids` match `args` (its position ignored), in one query.
pub fn count_prices_of_markets(
    conn: &mut AnyConnection,
    market_ids: &[i64],
    args: &MarketPricesArgs,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let postgres = matches!(conn, AnyConnection::Postgresql(_));
    let (condition, binds) = market_prices_where(postgres, market_ids, args, false);
    let sql = format!(
        "SELECT p.market_id AS market_id, CAST(COUNT(*) AS BIGINT) AS n FROM food_prices p WHERE {condition} \
         GROUP BY p.market_id"
    );
    let rows: Vec<MarketCount> = crate::bi::load_by_name(conn, &sql, &binds)?;
    Ok(rows.into_iter().map(|r| (r.market_id, r.n)).collect())
}

/// A commodity WFP prices, as its commodity list and price files name and class it, with how much the
/// store holds of it.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct CommodityRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub commodity: String,
    /// WFP's category: the commodity list's, else the price files' (the first by name if they
    /// disagreed).
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub category: String,
    /// WFP's commodity id, when the commodity list names the commodity.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    pub wfp_id: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub prices: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub markets: i64,
    /// The first and last price's dates; none for a listed commodity without prices.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
    pub first_date: Option<NaiveDate>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
    pub last_date: Option<NaiveDate>,
}

/// The commodities priced (in `country_iso3`, or anywhere), or with `listed` every commodity of WFP's
/// list as well, whose name contains `search` (any case), by name: one query. A priced commodity the
/// list does not name is kept, without an id.
pub fn commodities(
    conn: &mut AnyConnection,
    country_iso3: Option<&str>,
    search: Option<&str>,
    listed: bool,
) -> Result<Vec<CommodityRow>, StoreError> {
    use crate::bi::Bind;
    let postgres = matches!(conn, AnyConnection::Postgresql(_));
    let mut price_conditions = vec!["1 = 1".to_string()];
    let mut binds = Vec::new();
    let mut n = 0;
    if let Some(iso3) = country_iso3 {
        price_conditions.push(format!("country_iso3 = {}", placeholder(postgres, &mut n)));
        binds.push(Bind::Text(iso3.to_uppercase()));
    }
    let search = search.filter(|s| !s.trim().is_empty());
    let mut name_condition = "1 = 1".to_string();
    if let Some(search) = search {
        name_condition = format!("LOWER(c.commodity) LIKE {} ESCAPE '\\'", placeholder(postgres, &mut n));
        binds.push(Bind::Text(contains_pattern(search)));
    }
    // The priced commodities, each with the list's id and category where the list names it; with
    // `listed`, the list's other commodities too, with nothing held.
    let unpriced = if listed {
        "UNION ALL SELECT w.name, w.category, w.wfp_id, 0, 0, NULL, NULL FROM wfp_commodities w \
         WHERE NOT EXISTS (SELECT 1 FROM priced p WHERE p.commodity = w.name)"
    } else {
        ""
    };
    let sql = format!(
        "WITH priced AS (SELECT commodity, MIN(category) AS category, CAST(COUNT(*) AS BIGINT) AS prices, \
         CAST(COUNT(DISTINCT market_id) AS BIGINT) AS markets, MIN(date) AS first_date, MAX(date) AS last_date \
         FROM food_prices WHERE {} GROUP BY commodity) \
         SELECT c.commodity, c.category, c.wfp_id, c.prices, c.markets, c.first_date, c.last_date FROM ( \
         SELECT p.commodity, COALESCE(w.category, p.category) AS category, w.wfp_id, p.prices, p.markets, \
         p.first_date, p.last_date FROM priced p LEFT JOIN wfp_commodities w ON w.name = p.commodity {unpriced} \
         ) AS c WHERE {name_condition} ORDER BY c.commodity",
        price_conditions.join(" AND ")
    );
    crate::bi::load_by_name(conn, &sql, &binds)
}

/// How many commodities of WFP's list the store holds.
pub fn count_listed_commodities(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(wfp_commodities::table.count().get_result(conn)?)
}

/// How many markets, prices and listed commodities the store holds (for the sources' status).
pub fn count_food_prices(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let markets: i64 = markets::table.count().get_result(conn)?;
    let prices: i64 = food_prices::table.count().get_result(conn)?;
    Ok(markets + prices + count_listed_commodities(conn)?)
}

crate::bi::bi_entity! {
    /// One row per market of WFP's market list: its coordinates and the admin area its names match.
    pub struct BiMarket as MARKETS_BI {
        view: "bi_markets",
        export: "markets",
        from: "markets m\nJOIN countries c ON c.iso3 = m.country_iso3\nJOIN resources r ON r.id = m.resource_id\n\
               JOIN datasets d ON d.id = r.dataset_id\nLEFT JOIN admin_areas a ON a.id = m.area_id",
        view_appended: ["area_valid_from"],
        order: ["country_iso3", "market_code"],
        period: undated,
        filters: [
            Filter::new("country", "country_iso3", Countries),
            Filter::new("pcode", "area_pcode", Within),
        ],
        columns: {
            country_iso3: Text = "m.country_iso3", "#country+code", "ISO 3166-1 alpha-3 code of the country.";
            country_name: Text = "c.name", "#country+name", "The country's name.";
            market_code: BigInt = "m.market_code", "#loc+market+code", "WFP's market id.";
            market_name: Text = "m.name", "#loc+market+name", "The market's name as WFP writes it.";
            admin1_name: Text = "m.admin1_name", "#adm1+name", "The admin 1 name WFP gives.";
            admin2_name: Text = "m.admin2_name", "#adm2+name", "The admin 2 name WFP gives.";
            latitude: Nullable<Double> = "m.latitude", "#geo+lat", "Latitude (WGS 84), checked against the country.";
            longitude: Nullable<Double> = "m.longitude", "#geo+lon", "Longitude (WGS 84), checked against the country.";
            area_pcode: Nullable<Text> = "a.pcode", "#adm+code", "The p-code of the area the names match (admin 2, else admin 1).";
            area_name: Nullable<Text> = "a.name", "#adm+name", "That area's name.";
            area_valid_from: Nullable<Date> = "a.valid_from", "#date+start+boundaries", "First day of the area's boundary edition: with `area_pcode`, the key of the area among the admin areas.";
            area_matched: Bool = "m.area_matched", "#meta+matched", "Whether both admin names matched (the admin 2 area).";
            dataset: Text = "d.source_key", "#meta+dataset+id", crate::bi::provenance::DATASET;
            dataset_title: Text = "d.title", "#meta+dataset+title", crate::bi::provenance::DATASET_TITLE;
            licence: Text = "d.licence_title", "#meta+licence", crate::bi::provenance::LICENCE;
            licence_url: Nullable<Text> = "d.licence_url", "#meta+licence+url", crate::bi::provenance::LICENCE_URL;
            credit: Text = "d.credit", "#meta+source", crate::bi::provenance::CREDIT;
            resource_url: Text = "r.url", "#meta+url", crate::bi::provenance::RESOURCE_URL;
            ingest_run_id: BigInt = "m.run_id", "#meta+run+id", crate::bi::provenance::INGEST_RUN_ID;
            retrieved_at: Timestamp = "m.retrieved_at", "#date+retrieved", crate::bi::provenance::RETRIEVED_AT;
        }
    }
}

crate::bi::bi_entity! {
    /// One row per WFP price: a commodity, unit, price type and flag in one market on one date, in the
    /// local currency and in US dollars. Prices of different units or currencies are never comparable.
    pub struct BiFoodPrice as FOOD_PRICES_BI {
        view: "bi_food_prices",
        export: "food-prices",
        from: "food_prices p\nJOIN markets m ON m.id = p.market_id\nJOIN countries c ON c.iso3 = p.country_iso3\n\
               JOIN resources r ON r.id = p.resource_id\nJOIN datasets d ON d.id = r.dataset_id\n\
               LEFT JOIN admin_areas a ON a.id = m.area_id",
        view_appended: ["area_valid_from"],
        order: ["country_iso3", "market_name", "date", "commodity", "unit", "price_flag", "price_type", "currency"],
        period: "date",
        filters: [
            Filter::new("country", "country_iso3", Countries),
            Filter::new("pcode", "area_pcode", Within),
            Filter::new("commodity", "commodity", Equals),
            Filter::new("from", "date", OnOrAfter),
            Filter::new("to", "date", OnOrBefore),
        ],
        columns: {
            country_iso3: Text = "p.country_iso3", "#country+code", "ISO 3166-1 alpha-3 code of the country.";
            country_name: Text = "c.name", "#country+name", "The country's name.";
            market_code: BigInt = "m.market_code", "#loc+market+code", "WFP's market id.";
            market_name: Text = "p.market_name", "#loc+market+name", "The market's name as WFP writes it.";
            area_pcode: Nullable<Text> = "a.pcode", "#adm+code", "The p-code of the market's area.";
            area_name: Nullable<Text> = "a.name", "#adm+name", "That area's name.";
            area_valid_from: Nullable<Date> = "a.valid_from", "#date+start+boundaries", "First day of the area's boundary edition: with `area_pcode`, the key of the area among the admin areas.";
            date: Date = "p.date", "#date", "The date WFP gives the price (mid-month for monthly prices).";
            category: Text = "p.category", "#item+type", "WFP's commodity category.";
            commodity: Text = "p.commodity", "#item+name", "WFP's commodity name.";
            unit: Text = "p.unit", "#item+unit", "The unit the price is for.";
            price_flag: Text = "p.price_flag", "#item+price+flag", "`actual`, `aggregate`, `forecast`... as WFP writes it.";
            price_type: Text = "p.price_type", "#item+price+type", "`Retail` or `Wholesale`.";
            currency: Text = "p.currency", "#currency", "ISO 4217 code of the local currency.";
            price: Double = "p.price", "#value", "The price in the local currency.";
            usd_price: Nullable<Double> = "p.usd_price", "#value+usd", "The price in US dollars, as WFP converts it.";
            dataset: Text = "d.source_key", "#meta+dataset+id", crate::bi::provenance::DATASET;
            dataset_title: Text = "d.title", "#meta+dataset+title", crate::bi::provenance::DATASET_TITLE;
            licence: Text = "d.licence_title", "#meta+licence", crate::bi::provenance::LICENCE;
            licence_url: Nullable<Text> = "d.licence_url", "#meta+licence+url", crate::bi::provenance::LICENCE_URL;
            credit: Text = "d.credit", "#meta+source", crate::bi::provenance::CREDIT;
            resource_url: Text = "r.url", "#meta+url", crate::bi::provenance::RESOURCE_URL;
            ingest_run_id: BigInt = "p.run_id", "#meta+run+id", crate::bi::provenance::INGEST_RUN_ID;
            retrieved_at: Timestamp = "p.retrieved_at", "#date+retrieved", crate::bi::provenance::RETRIEVED_AT;
        }
    }
}
