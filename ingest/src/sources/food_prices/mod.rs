//! `food-prices`: WFP's markets and food prices. Markets come from WFP's global market list (one file
//! for every country; a country's rows are read), with coordinates checked against the country as
//! sites' are and the admin area their admin 1 and 2 names match; prices from the country's own price
//! file, each linked to its market by name. A country WFP publishes no price file for (HDX answers
//! 404 for its dataset) still gets its markets.

mod parse;

use std::collections::HashMap;

pub use parse::*;
use store::food_prices::{COMMODITY_LIST_PUBLISHER, CommodityInput, FoodPriceInput, MarketInput, markets_of_country};
use store::models::AdminArea;
use store::upsert::upsert;

use crate::kit::hdx::{NamePattern, PACKAGE_SHOW};
use crate::kit::{
    CountryOutcome, HdxDataset, Outcomes, PayloadRejections, RunContext, Sample, SourceJob, SourceSpec, sample_file,
};
use crate::{IngestConfig, IngestError};

pub(crate) struct Job;

impl SourceJob for Job {
    const SPEC: SourceSpec = SourceSpec {
        name: "food-prices",
        summary: "WFP markets (coordinates checked against the country, matched to admin areas by name) and food \
                  prices by market, commodity, unit, price type and date, in local currency and US dollars",
        origin: "HDX `global-wfp-food-prices` (`wfp_markets_global.csv`, `wfp_commodities_global.csv`) and \
                 `wfp-food-prices-for-<country>`",
        default_cron: Some("0 0 8 * * Tue"),
        period_days: 30,
        per_country: true,
        count_rows: store::food_prices::count_food_prices,
    };

    async fn run(&self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
        // The commodity list is every country's: read once, before the countries.
        let list = read_commodity_list(ctx).await?;
        Ok(ctx
            .for_each_country(|iso3| {
                let list = &list;
                async move { food_prices_country(ctx, &iso3, list).await }
            })
            .await)
    }

    /// The global market and commodity lists only: a country's price dataset is not listed, because not every country
    /// has one (the run treats its absence as "no prices", and records the dataset when it exists).
    fn hdx_datasets(&self, _iso3: Option<&str>) -> Vec<HdxDataset> {
        [MARKETS_RESOURCE, COMMODITIES_RESOURCE]
            .into_iter()
            .map(|resource| HdxDataset {
                dataset: MARKETS_DATASET.to_string(),
                resources: NamePattern::new(resource),
                formats: vec!["CSV"],
                credit: None,
            })
            .collect()
    }

    /// Mali's and Afghanistan's markets (the global list's rows of the two countries) and Kabul's prices
    /// of 2023 and 2024 (Mali has no price file: its run finds none archived, as HDX has none).
    fn sample(&self, _config: &IngestConfig) -> Sample {
        Sample {
            hdx: vec![
                (PACKAGE_SHOW, Some(MARKETS_DATASET), sample_file!("hdx/package_show.global-wfp-food-prices.json")),
                (SAMPLE_MARKETS_PATH, None, sample_file!("wfp/wfp_markets_global.AFG-MLI-subset.csv")),
                (SAMPLE_COMMODITIES_PATH, None, sample_file!("wfp/wfp_commodities_global.csv")),
                (
                    PACKAGE_SHOW,
                    Some("wfp-food-prices-for-afghanistan"),
                    sample_file!("hdx/package_show.wfp-food-prices-for-afghanistan.json"),
                ),
                (SAMPLE_AFG_PRICES_PATH, None, sample_file!("wfp/wfp_food_prices_afg.Kabul-2023-2024-subset.csv")),
            ],
            runs: vec![(&["MLI", "AFG"], &[])],
            ..Sample::default()
        }
    }
}

/// Where HDX serves the global market list (the sample's copy holds Mali's and Afghanistan's rows).
pub const SAMPLE_MARKETS_PATH: &str = "/dataset/31579af5-3895-4002-9ee3-c50857480785/resource/\
                                       6db9b5df-c342-47a7-8787-74d33fb3b3cd/download/wfp_markets_global.csv";

/// Where HDX serves WFP's commodity list (the sample holds all of it).
pub const SAMPLE_COMMODITIES_PATH: &str = "/dataset/31579af5-3895-4002-9ee3-c50857480785/resource/\
                                           d62af4be-cff6-437b-89a3-67f8fa4c53bf/download/wfp_commodities_global.csv";

/// Where HDX serves Afghanistan's price file (the sample's copy holds Kabul's prices of 2023 and 2024).
pub const SAMPLE_AFG_PRICES_PATH: &str = "/dataset/a246cbac-42d5-47b2-ba75-ac66f69e83de/resource/\
                                          03e6ce5d-03a2-4e60-8d04-afa39c5972f4/download/wfp_food_prices_afg.csv";

/// WFP's global dataset on HDX: countries, commodities and markets of every country.
pub const MARKETS_DATASET: &str = "global-wfp-food-prices";

/// The global market list's resource name.
pub const MARKETS_RESOURCE: &str = "Global WFP markets";

/// The global commodity list's resource name.
pub const COMMODITIES_RESOURCE: &str = "Global WFP commodities";

/// A country's price dataset on HDX and its price file's resource name (`wfp-food-prices-for-afghanistan`,
/// `Afghanistan - Food Prices`: the QuickCharts extract beside it is not read), from its ISO 3166 name.
pub fn prices_dataset(iso3: &str) -> Option<(String, String)> {
    let (name, _) = crate::pcode::country_name(iso3)?;
    let slug = name_key(&name).replace(' ', "-");
    Some((format!("wfp-food-prices-for-{slug}"), format!("{name} - Food Prices")))
}

/// WFP's commodity list, read once per run: every country's commodities.
struct CommodityList {
    rows: Vec<CommodityInput>,
    rejections: Vec<store::models::Rejection>,
    /// Rows read (valid and rejected).
    fetched: i64,
    resource_id: i64,
    sha256: String,
}

async fn read_commodity_list(ctx: &RunContext<'_>) -> Result<CommodityList, IngestError> {
    let (dataset, package) = ctx.catalog_entry(MARKETS_DATASET, None).await?;
    let resource =
        package.pick(&NamePattern::new(COMMODITIES_RESOURCE), &["CSV"]).into_iter().next().ok_or_else(|| {
            IngestError::Invalid(format!("{MARKETS_DATASET} lists no CSV resource {COMMODITIES_RESOURCE:?}"))
        })?;
    let (recorded, mut fetched) = ctx.download(&dataset, resource).await?;
    let mut read = ctx.read_table(&recorded, &mut fetched, None, MARKETS_DATASET)?;
    let mut parsed = parse_commodities(&read.table, &read.what)?;
    parsed.rejections.extend(read.oversized_rejections());
    let rows = parsed
        .rows
        .iter()
        .map(|c| CommodityInput {
            publisher: COMMODITY_LIST_PUBLISHER.to_string(),
            wfp_id: c.wfp_id,
            name: c.name.clone(),
            category: c.category.clone(),
            resource_id: recorded.id,
        })
        .collect();
    Ok(CommodityList {
        rows,
        fetched: (parsed.rows.len() + parsed.rejections.len()) as i64,
        rejections: parsed.rejections,
        resource_id: recorded.id,
        sha256: fetched.sha256,
    })
}

async fn food_prices_country(
    ctx: &RunContext<'_>,
    iso3: &str,
    list: &CommodityList,
) -> Result<CountryOutcome, IngestError> {
    let (areas_matcher, areas) = ctx.areas(iso3).await?;
    drop(areas_matcher);
    let names = AreaNames::new(&areas);

    // Markets: the country's rows of the global list.
    let (dataset, package) = ctx.catalog_entry(MARKETS_DATASET, None).await?;
    let resource =
        package.pick(&NamePattern::new(MARKETS_RESOURCE), &["CSV"]).into_iter().next().ok_or_else(|| {
            IngestError::Invalid(format!("{MARKETS_DATASET} lists no CSV resource {MARKETS_RESOURCE:?}"))
        })?;
    let (recorded, mut fetched) = ctx.download(&dataset, resource).await?;
    let mut read = ctx.read_table(&recorded, &mut fetched, None, MARKETS_DATASET)?;
    let mut markets = parse_markets(&read.table, iso3, &read.what)?;
    markets.rejections.extend(read.oversized_rejections());
    let mut fetched_rows = (markets.rows.len() + markets.rejections.len()) as i64;
    let market_inputs: Vec<MarketInput> = markets
        .rows
        .iter()
        .map(|m| {
            let (area_id, area_matched) = names.area_of(&m.admin1, &m.admin2);
            MarketInput {
                country_iso3: iso3.to_string(),
                market_code: m.code,
                name: m.name.clone(),
                admin1_name: m.admin1.clone(),
                admin2_name: m.admin2.clone(),
                latitude: m.latitude,
                longitude: m.longitude,
                area_id,
                area_matched,
                resource_id: recorded.id,
            }
        })
        .collect();
    let mut rejections = vec![PayloadRejections {
        resource_id: recorded.id,
        sha256: fetched.sha256.clone(),
        rows: markets.rejections,
        own: false,
    }];

    // Commodities: WFP's global list, read once for the run and written with the first country's rows
    // (so its counts are the run's once; should that country fail, the list waits for the next run).
    let first = ctx.countries.first().is_some_and(|c| c == iso3);
    let mut commodity_inputs = Vec::new();
    if first {
        commodity_inputs = list.rows.clone();
        fetched_rows += list.fetched;
        rejections.push(PayloadRejections {
            resource_id: list.resource_id,
            sha256: list.sha256.clone(),
            rows: list.rejections.clone(),
            own: false,
        });
    }

    // Prices: the country's own file, when WFP publishes one.
    let mut bearing: HashMap<String, usize> = HashMap::new();
    for m in &markets.rows {
        *bearing.entry(m.name.clone()).or_default() += 1;
    }
    let mut prices: Vec<(PriceRecord, i64)> = Vec::new();
    if let Some((prices_name, resource_name)) = prices_dataset(iso3) {
        match ctx.catalog_entry(&prices_name, None).await {
            // Offline, a price dataset the archive lacks is one an online run found absent (HDX's 404
            // archives nothing): the replay reads no prices either.
            Err(IngestError::Http { status: 404, .. }) | Err(IngestError::NotArchived(_)) => {
                tracing::info!(country = iso3, dataset = %prices_name, "WFP publishes no price file for the country");
            }
            Err(e) => return Err(e),
            Ok((dataset, package)) => {
                let resource =
                    package.pick(&NamePattern::new(&resource_name), &["CSV"]).into_iter().next().ok_or_else(|| {
                        IngestError::Invalid(format!("{prices_name} lists no CSV resource {resource_name:?}"))
                    })?;
                let (recorded, mut fetched) = ctx.download(&dataset, resource).await?;
                let mut read = ctx.read_table(&recorded, &mut fetched, None, &prices_name)?;
                let mut parsed = parse_prices(&read.table, &bearing, &read.what)?;
                parsed.rejections.extend(read.oversized_rejections());
                fetched_rows += (parsed.rows.len() + parsed.rejections.len()) as i64;
                prices.extend(parsed.rows.into_iter().map(|p| (p, recorded.id)));
                rejections.push(PayloadRejections {
                    resource_id: recorded.id,
                    sha256: fetched.sha256,
                    rows: parsed.rejections,
                    own: true,
                });
            }
        }
    }

    let stamp = ctx.stamp();
    let iso3_owned = iso3.to_string();
    ctx.write_checked(iso3, fetched_rows, rejections, move |c| {
        let mut counts = upsert(c, &market_inputs, &stamp)?;
        counts += upsert(c, &commodity_inputs, &stamp)?;
        let ids: HashMap<String, i64> =
            markets_of_country(c, &iso3_owned)?.into_iter().map(|m| (m.name, m.id)).collect();
        let inputs: Vec<FoodPriceInput> = prices
            .iter()
            .filter_map(|(p, resource_id)| {
                Some(FoodPriceInput {
                    country_iso3: iso3_owned.clone(),
                    market_id: *ids.get(&p.market)?,
                    market_name: p.market.clone(),
                    date: p.date,
                    category: p.category.clone(),
                    commodity: p.commodity.clone(),
                    unit: p.unit.clone(),
                    price_flag: p.price_flag.clone(),
                    price_type: p.price_type.clone(),
                    currency: p.currency.clone(),
                    price: p.price,
                    usd_price: p.usd_price,
                    resource_id: *resource_id,
                })
            })
            .collect();
        counts += upsert(c, &inputs, &stamp)?;
        Ok(counts)
    })
    .await
}

/// A country's areas by name: admin 1 by its name, admin 2 by its admin 1 and its own name (current
/// areas only: a past area of the same name is not a match).
struct AreaNames {
    admin1: HashMap<String, i64>,
    admin2: HashMap<(i64, String), i64>,
}

impl AreaNames {
    fn new(areas: &[AdminArea]) -> Self {
        let current = || areas.iter().filter(|a| a.valid_to.is_none());
        let admin1 = current().filter(|a| a.level == 1).map(|a| (name_key(&a.name), a.id)).collect();
        let admin2 = current()
            .filter(|a| a.level == 2)
            .filter_map(|a| Some(((a.parent_id?, name_key(&a.name)), a.id)))
            .collect();
        AreaNames { admin1, admin2 }
    }

    /// The admin 2 area both names match (matched); else the admin 1 area (not matched); else none.
    fn area_of(&self, admin1: &str, admin2: &str) -> (Option<i64>, bool) {
        match self.admin1.get(&name_key(admin1)) {
            None => (None, false),
            Some(&parent) => match self.admin2.get(&(parent, name_key(admin2))) {
                Some(&id) => (Some(id), true),
                None => (Some(parent), false),
            },
        }
    }
}
