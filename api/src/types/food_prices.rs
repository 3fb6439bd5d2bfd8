//! Food prices and markets (WFP): `Market` nodes (places from WFP's global market list, with
//! coordinates checked against the country and the admin area their names match), their `FoodPrice`
//! series, the commodities priced, and the theme's fields on `Country`, `AdminArea` and `Query`.
//!
//! A page of markets asking for their prices reads them in one query for every market of the page
//! ([`MarketPricesLoader`]: a window numbers each market's prices, so each gets its own keyset page),
//! and an area's markets, its descendants' included, in one walk down the areas for every area asked
//! ([`AreaMarketsLoader`]).

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, ID, Object, Result};
use chrono::NaiveDate;
use store::ReadSnapshot;
use store::food_prices::{CommodityRow, FoodPriceRow, MarketFilter, MarketPricesArgs, MarketRow};

use super::connection::{Connection, page_of_loaded};
use super::{AdminArea, Country, Dataset, IngestRun, Provenance};
use crate::ApiError;
use crate::error::{IntoGraphql, SharedStoreError, shared};
use crate::loaders::{AreaLoader, CountryLoader};
use crate::pagination::PageArgs;
use crate::scalars::Date;

/// A market WFP monitors prices in: a place, from WFP's global market list.
pub struct Market(pub MarketRow);

impl Market {
    /// Where the market comes from (WFP's global market list); it has no reference date of its own.
    pub fn provenance(&self) -> Provenance {
        Provenance::new(self.0.resource_id, self.0.run_id, self.0.retrieved_at)
    }
}

/// A page of markets, in the order they were first read.
pub type MarketConnection = Connection<Market>;

/// A market WFP monitors prices in: a place, from WFP's global market list.
#[Object]
impl Market {
    /// Global id (for `node(id:)` and client caches): `Market:<key>`.
    pub async fn id(&self) -> ID {
        super::node::global_id::<Market>(self.0.id)
    }
    /// Where the market comes from: dataset (WFP's global market list), licence, credit, resource and its
    /// URL, ingest run and when it was read.
    #[graphql(name = "provenance")]
    async fn provenance_field(&self) -> Provenance {
        self.provenance()
    }
    /// WFP's market id (`market_id`, e.g. 252 for Mopti Digue).
    async fn market_code(&self) -> i64 {
        self.0.market_code
    }
    /// The market's name as WFP writes it (the price files name markets by it).
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// WGS84 latitude; checked to lie in the country's bounding box (null where WFP gives none).
    async fn latitude(&self) -> Option<f64> {
        self.0.latitude
    }
    /// WGS84 longitude; checked to lie in the country's bounding box (null where WFP gives none).
    async fn longitude(&self) -> Option<f64> {
        self.0.longitude
    }
    /// The admin 1 name WFP gives (WFP gives names, not p-codes).
    async fn admin1_name(&self) -> &str {
        &self.0.admin1_name
    }
    /// The admin 2 name WFP gives.
    async fn admin2_name(&self) -> &str {
        &self.0.admin2_name
    }
    /// The admin area the market is in: the admin 2 area both of WFP's names match; when `areaMatched`
    /// is false, the admin 1 area its admin 1 name matches (null when none does).
    async fn area(&self, ctx: &Context<'_>) -> Result<Option<AdminArea>> {
        let Some(id) = self.0.area_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<AreaLoader>>()?;
        Ok(loader.load_one(id).await.map_err(shared)?.map(AdminArea::of))
    }
    /// Whether both of WFP's admin names matched one of our areas (the admin 2 area).
    async fn area_matched(&self) -> bool {
        self.0.area_matched
    }
    /// The country the market is in.
    async fn country(&self, ctx: &Context<'_>) -> Result<Option<Country>> {
        let loader = ctx.data::<DataLoader<CountryLoader>>()?;
        Ok(loader.load_one(self.0.country_iso3.clone()).await.map_err(shared)?.map(Country::of))
    }
    /// The market's prices, by date then as read: a price series. Prices of different units, price
    /// types or currencies are never comparable; filter by `commodity` and read `unit` and `priceType`.
    async fn prices(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this commodity, as WFP names it (e.g. `Bread`, `Rice (low quality)`).")]
        commodity: Option<String>,
        #[graphql(desc = "Only prices dated on or after this date.")] from: Option<Date>,
        #[graphql(desc = "Only prices dated on or before this date.")] to: Option<Date>,
        #[graphql(desc = "The first this many prices (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Prices after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<FoodPriceConnection> {
        let args = PageArgs::<PriceCursorKey>::parse(PRICES, after, None, first, None).gql()?;
        let size = args.size();
        let after = match args.after {
            None => None,
            Some((date, id)) => Some((
                NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                    .map_err(|_| ApiError::BadUserInput("a cursor of another list".into()))
                    .gql()?,
                id,
            )),
        };
        let has_previous = after.is_some();
        let counted = ctx.look_ahead().field("totalCount").exists();
        let key = PricesKey {
            market_id: self.0.id,
            args: MarketPricesArgs { commodity, from: from.map(|d| d.0), to: to.map(|d| d.0), after, size },
            counted,
        };
        let loader = ctx.data::<DataLoader<MarketPricesLoader>>()?;
        let (rows, total) = loader.load_one(key).await.map_err(shared)?.unwrap_or_default();
        let (rows, has_next) = store::paging::split_page(rows, size);
        Ok(Connection::keyset(rows, PRICES, price_cursor_key, FoodPrice, has_previous, has_next, total))
    }
    /// The resource (file) the market was read from, with its URL.
    async fn resource(&self, ctx: &Context<'_>) -> Result<Option<super::Resource>> {
        self.provenance().load_resource(ctx).await
    }
    /// The dataset the market comes from, with its licence and credit.
    async fn dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        self.provenance().load_dataset(ctx).await
    }
    /// The ingest run that last wrote the market.
    async fn ingest_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        self.provenance().load_ingest_run(ctx).await
    }
}

/// A commodity WFP prices, e.g. `Bread` in `cereals and tubers`.
pub struct Commodity {
    name: String,
    category: String,
    held: Option<CommodityRow>,
}

/// A commodity WFP prices, e.g. `Bread` in `cereals and tubers`.
#[Object]
impl Commodity {
    /// The commodity's name as WFP writes it (what `Market.prices(commodity:)` takes).
    async fn name(&self) -> &str {
        &self.name
    }
    /// WFP's commodity category, e.g. `cereals and tubers`, `oil and fats`.
    async fn category(&self) -> &str {
        &self.category
    }
    /// How many prices of the commodity the store holds (in the country asked for, if any); null on a
    /// price's own `commodity`.
    async fn price_count(&self) -> Option<i64> {
        self.held.as_ref().map(|h| h.prices)
    }
    /// In how many markets it is priced (in the country asked for, if any); null on a price's own
    /// `commodity`.
    async fn market_count(&self) -> Option<i64> {
        self.held.as_ref().map(|h| h.markets)
    }
    /// The date of its first price held; null on a price's own `commodity`, and for a listed
    /// commodity without prices.
    async fn first_date(&self) -> Option<Date> {
        self.held.as_ref().and_then(|h| h.first_date).map(Date)
    }
    /// The date of its last price held; null on a price's own `commodity`, and for a listed commodity
    /// without prices.
    async fn last_date(&self) -> Option<Date> {
        self.held.as_ref().and_then(|h| h.last_date).map(Date)
    }
    /// WFP's commodity id in its commodity list (`Bread`: 55); null when the list does not name the
    /// commodity, and on a price's own `commodity`.
    async fn wfp_id(&self) -> Option<i64> {
        self.held.as_ref().and_then(|h| h.wfp_id)
    }
}

/// One food price as WFP publishes it: a commodity, unit, price type and flag in one market on one
/// date, in the local currency and in US dollars.
pub struct FoodPrice(pub FoodPriceRow);

impl FoodPrice {
    /// Where the price comes from; its reference date is the price's date.
    pub fn provenance(&self) -> Provenance {
        Provenance::new(self.0.resource_id, self.0.run_id, self.0.retrieved_at).dated(Some(self.0.date))
    }
}

/// A page of food prices, by date then as read.
pub type FoodPriceConnection = Connection<FoodPrice>;

/// One food price as WFP publishes it: a commodity, unit, price type and flag in one market on one
/// date, in the local currency and in US dollars.
#[Object]
impl FoodPrice {
    /// Global id (for `node(id:)` and client caches): `FoodPrice:<key>`.
    pub async fn id(&self) -> ID {
        super::node::global_id::<FoodPrice>(self.0.id)
    }
    /// Where the price comes from: dataset (the country's WFP price file), licence, credit, resource and
    /// its URL, ingest run, reference date (the price's date) and when it was read.
    #[graphql(name = "provenance")]
    async fn provenance_field(&self) -> Provenance {
        self.provenance()
    }
    /// The date WFP gives the price (the 15th of the month for monthly prices).
    async fn date(&self) -> Date {
        Date(self.0.date)
    }
    /// The commodity: WFP's name and category.
    async fn commodity(&self) -> Commodity {
        Commodity { name: self.0.commodity.clone(), category: self.0.category.clone(), held: None }
    }
    /// The unit the price is for, as WFP writes it (`KG`, `L`, `Unit`, `50 KG`...).
    async fn unit(&self) -> &str {
        &self.0.unit
    }
    /// `Retail` or `Wholesale`, as WFP writes it.
    async fn price_type(&self) -> &str {
        &self.0.price_type
    }
    /// `actual`, `aggregate` (a monthly average of actual prices), `forecast`..., as WFP writes it.
    async fn price_flag(&self) -> &str {
        &self.0.price_flag
    }
    /// ISO 4217 code of the local currency the price is in (e.g. `AFN`).
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// The price in the local currency.
    async fn price(&self) -> f64 {
        self.0.price
    }
    /// The price in US dollars, as WFP converts it (null where WFP gives none).
    async fn usd_price(&self) -> Option<f64> {
        self.0.usd_price
    }
    /// The market the price was taken in.
    async fn market(&self, ctx: &Context<'_>) -> Result<Option<Market>> {
        let loader = ctx.data::<DataLoader<MarketLoader>>()?;
        Ok(loader.load_one(self.0.market_id).await.map_err(shared)?.map(Market))
    }
}

/// The name market lists' cursors carry.
const MARKETS: &str = "markets";
/// The name price lists' cursors carry.
const PRICES: &str = "foodPrices";

/// A price list's cursor key: (date `YYYY-MM-DD`, row id).
type PriceCursorKey = (String, i64);

fn price_cursor_key(row: &FoodPriceRow) -> PriceCursorKey {
    (row.date.format("%Y-%m-%d").to_string(), row.id)
}

/// One page of the markets matching `filter` (by row id), after the cursor `after`.
async fn market_page(
    ctx: &Context<'_>,
    filter: MarketFilter,
    after: Option<String>,
    first: Option<i32>,
) -> Result<MarketConnection> {
    let args = PageArgs::<i64>::parse(MARKETS, after, None, first, None).gql()?;
    let (after, size) = (args.after, args.size());
    let counted = ctx.look_ahead().field("totalCount").exists();
    let reads = crate::read::snapshot(ctx)?.clone();
    let (rows, has_next, total) = reads
        .run(move |c| {
            let (rows, has_next) = store::food_prices::markets_page(c, &filter, after, size)?;
            let total = if counted { store::food_prices::count_markets_matching(c, &filter)? } else { 0 };
            Ok((rows, has_next, total))
        })
        .await
        .gql()?;
    Ok(Connection::keyset(rows, MARKETS, |m: &MarketRow| m.id, Market, after.is_some(), has_next, total))
}

// --- the theme's loaders ---

/// Market id → market.
pub struct MarketLoader(pub ReadSnapshot);

impl Loader<i64> for MarketLoader {
    type Value = MarketRow;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, MarketRow>, Self::Error> {
        let ids = keys.to_vec();
        let rows = self.0.run(move |c| store::food_prices::markets_by_ids(c, &ids)).await?;
        Ok(rows.into_iter().map(|m| (m.id, m)).collect())
    }
}

/// A market's page of prices: the market, the filter and position, and whether the total is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PricesKey {
    market_id: i64,
    args: MarketPricesArgs,
    counted: bool,
}

/// (market, filter, position) → the market's page of prices (one row more when more follow) and how
/// many match: one query for the pages of every market asked with the same arguments (a window numbers
/// each market's prices), and one grouped count when the total is asked for.
pub struct MarketPricesLoader(pub ReadSnapshot);

impl Loader<PricesKey> for MarketPricesLoader {
    type Value = (Vec<FoodPriceRow>, i64);
    type Error = SharedStoreError;

    async fn load(&self, keys: &[PricesKey]) -> Result<HashMap<PricesKey, Self::Value>, Self::Error> {
        let keys = keys.to_vec();
        let out = self
            .0
            .run(move |c| {
                let mut groups: HashMap<(MarketPricesArgs, bool), Vec<i64>> = HashMap::new();
                for key in &keys {
                    groups.entry((key.args.clone(), key.counted)).or_default().push(key.market_id);
                }
                let mut out = HashMap::new();
                for ((args, counted), market_ids) in groups {
                    let mut pages: HashMap<i64, Vec<FoodPriceRow>> = HashMap::new();
                    for row in store::food_prices::prices_of_markets(c, &market_ids, &args)? {
                        pages.entry(row.market_id).or_default().push(row);
                    }
                    let totals: HashMap<i64, i64> = if counted {
                        store::food_prices::count_prices_of_markets(c, &market_ids, &args)?.into_iter().collect()
                    } else {
                        HashMap::new()
                    };
                    for market_id in market_ids {
                        let rows = pages.remove(&market_id).unwrap_or_default();
                        let total = totals.get(&market_id).copied().unwrap_or(0);
                        out.insert(PricesKey { market_id, args: args.clone(), counted }, (rows, total));
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(out)
    }
}

/// Area id → the markets in the area or any area inside it, by row id (one batched walk down the
/// areas and one query for every area's markets, whatever the number of areas asked for).
pub struct AreaMarketsLoader(pub ReadSnapshot);

impl Loader<i64> for AreaMarketsLoader {
    type Value = Vec<MarketRow>;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<MarketRow>>, Self::Error> {
        let roots = keys.to_vec();
        let out = self
            .0
            .run(move |c| {
                // area id → the root it lies under
                let mut root_of: HashMap<i64, i64> = roots.iter().map(|r| (*r, *r)).collect();
                let mut frontier: Vec<i64> = roots.clone();
                while !frontier.is_empty() {
                    let children = store::geography::current_children_of(c, &frontier)?;
                    frontier = Vec::new();
                    for child in children {
                        let Some(root) = child.parent_id.and_then(|p| root_of.get(&p)).copied() else { continue };
                        if let std::collections::hash_map::Entry::Vacant(e) = root_of.entry(child.id) {
                            e.insert(root);
                            frontier.push(child.id);
                        }
                    }
                }
                let ids: Vec<i64> = root_of.keys().copied().collect();
                let mut out: HashMap<i64, Vec<MarketRow>> = roots.iter().map(|r| (*r, Vec::new())).collect();
                for market in store::food_prices::markets_in_areas(c, &ids)? {
                    if let Some(root) = market.area_id.and_then(|a| root_of.get(&a)) {
                        out.entry(*root).or_default().push(market);
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(out)
    }
}

// --- the theme's fields on `Country`, `AdminArea` and `Query` ---

/// The theme's GraphQL (one line in the `themes!` list of `api/src/types/mod.rs`).
pub struct Theme;

impl crate::themes::Theme for Theme {
    type CountryFields = CountryMarkets;
    type AreaFields = AreaMarkets;
    type QueryFields = QueryFoodPrices;

    fn loaders(request: async_graphql::Request, snapshot: &ReadSnapshot) -> async_graphql::Request {
        request
            .data(crate::loaders::loader(MarketLoader(snapshot.clone()), snapshot))
            .data(crate::loaders::loader(MarketPricesLoader(snapshot.clone()), snapshot))
            .data(crate::loaders::loader(AreaMarketsLoader(snapshot.clone()), snapshot))
    }
}

crate::themes::part!(
    /// A country's markets and the commodities priced there (WFP).
    CountryMarkets: Country
);

/// A country's markets and the commodities priced there (WFP).
#[Object]
impl CountryMarkets {
    /// The country's markets in WFP's global market list, in the order they were first read.
    async fn markets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only markets whose name contains this text (any case), e.g. `mopti`.")] search: Option<
            String,
        >,
        #[graphql(desc = "The first this many markets (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Markets after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<MarketConnection> {
        let filter = MarketFilter { country_iso3: Some(self.0.iso3.clone()), area_ids: None, search };
        market_page(ctx, filter, after, first).await
    }
    /// The commodities priced in the country's markets, by name, with how many prices and markets and
    /// which dates the store holds.
    async fn commodities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only commodities whose name contains this text (any case), e.g. `rice`.")] search: Option<
            String,
        >,
    ) -> Result<Vec<Commodity>> {
        commodities(ctx, Some(self.0.iso3.clone()), search, false).await
    }
}

crate::themes::part!(
    /// The markets in an area (WFP).
    AreaMarkets: AdminArea
);

/// The markets in an area (WFP).
#[Object]
impl AreaMarkets {
    /// The markets in this area or any area inside it (an admin 1 area's markets include its admin 2
    /// areas'), in the order they were first read. A market whose admin 2 name matched no area counts in
    /// its admin 1 area only.
    async fn markets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first this many markets (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Markets after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<MarketConnection> {
        let loader = ctx.data::<DataLoader<AreaMarketsLoader>>()?;
        let all = loader.load_one(self.0.id).await.map_err(shared)?.unwrap_or_default();
        let args = PageArgs::<i64>::parse(MARKETS, after, None, first, None).gql()?;
        let (rows, has_previous, has_next, total) = page_of_loaded(all, |m| m.id, args.after.as_ref(), args.size());
        Ok(Connection::keyset(rows, MARKETS, |m: &MarketRow| m.id, Market, has_previous, has_next, total))
    }
}

/// The theme's entry points on `Query`.
#[derive(Default)]
pub struct QueryFoodPrices;

#[Object]
impl QueryFoodPrices {
    /// The commodities WFP prices in the markets the store holds (every country's, or one country's), by
    /// name, with how many prices and markets and which dates the store holds; with `listed: true`,
    /// every commodity of WFP's commodity list as well (with its id and category, and 0 prices when the
    /// store holds none).
    async fn commodities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only commodities priced in this country (ISO 3166-1 alpha-3 code).")] country: Option<
            String,
        >,
        #[graphql(desc = "Only commodities whose name contains this text (any case), e.g. `rice`.")] search: Option<
            String,
        >,
        #[graphql(
            default = false,
            desc = "Also every commodity of WFP's commodity list that the store holds no price of."
        )]
        listed: bool,
    ) -> Result<Vec<Commodity>> {
        commodities(ctx, country, search, listed).await
    }
}

/// The commodities priced (in `country`), or `listed` too, whose name contains `search`: one query.
async fn commodities(
    ctx: &Context<'_>,
    country: Option<String>,
    search: Option<String>,
    listed: bool,
) -> Result<Vec<Commodity>> {
    let reads = crate::read::snapshot(ctx)?.clone();
    let rows = reads
        .run(move |c| store::food_prices::commodities(c, country.as_deref(), search.as_deref(), listed))
        .await
        .gql()?;
    Ok(rows
        .into_iter()
        .map(|r| Commodity { name: r.commodity.clone(), category: r.category.clone(), held: Some(r) })
        .collect())
}

impl super::node::GlobalId for Market {
    type Key = i64;
    fn parse_key(key: &str) -> Option<i64> {
        super::node::number(key)
    }
    fn load(c: &mut store::AnyConnection, id: i64) -> Result<Option<Self>, store::StoreError> {
        Ok(store::food_prices::markets_by_ids(c, &[id])?.into_iter().next().map(Market))
    }
}

impl super::node::GlobalId for FoodPrice {
    type Key = i64;
    fn parse_key(key: &str) -> Option<i64> {
        super::node::number(key)
    }
    fn load(c: &mut store::AnyConnection, id: i64) -> Result<Option<Self>, store::StoreError> {
        Ok(store::food_prices::prices_by_ids(c, &[id])?.into_iter().next().map(FoodPrice))
    }
}
