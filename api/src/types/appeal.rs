use crate::scalars::{Date, DateTime};
use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Object, Result, SimpleObject};
use store::ReadSnapshot;
use store::appeals::{AppealClusterRow, AppealCountryRow, AppealRow, OutsideFundingRow, percent_funded};

use super::{Dataset, IngestRun, Provenance};
use crate::error::{IntoGraphql, SharedStoreError, shared};
use crate::loaders::DatasetByResourceLoader;

/// A funding appeal (an OCHA FTS plan: humanitarian response plan, flash appeal, regional plan...).
/// Amounts are USD. Percent funded is computed here from funding and requirements, never copied
/// from the source, and may exceed 100.
pub struct Appeal(pub AppealRow);

impl Appeal {
    /// Where the appeal's figures come from; FTS figures change daily, so they are dated by the
    /// publisher's last update of the dataset.
    pub fn provenance(&self) -> Provenance {
        Provenance::new(self.0.resource_id, self.0.run_id, self.0.retrieved_at).dated_by_dataset_update()
    }
}

/// One cluster's (sector's) requirements and funding within an appeal, from the FTS API.
pub struct AppealCluster(pub AppealClusterRow);

/// One country's share of an appeal (a multi-country plan lists one per country).
#[derive(SimpleObject)]
pub struct AppealCountryShare {
    /// ISO3 code.
    pub iso3: String,
    /// The country's part of the requirements, USD.
    pub requirements_usd: Option<i64>,
    /// The country's part of the funding, USD.
    pub funding_usd: Option<i64>,
    /// Funding ÷ requirements × 100, one decimal; null without requirements.
    pub percent_funded: Option<f64>,
}

/// A funding appeal (an OCHA FTS plan: humanitarian response plan, flash appeal, regional plan...).
/// Amounts are USD. Percent funded is computed here from funding and requirements, never copied
/// from the source, and may exceed 100.
#[Object]
impl Appeal {
    /// Global id (for `node(id:)` and client caches): `Appeal:<key>`.
    pub async fn id(&self) -> async_graphql::ID {
        super::node::global_id::<Appeal>(self.0.id)
    }
    /// Where the appeal's figures come from: dataset, licence, credit, resource and its URL, ingest run,
    /// reference date and when it was read.
    #[graphql(name = "provenance")]
    async fn provenance_field(&self) -> Provenance {
        self.provenance()
    }
    /// The plan's code, e.g. `HMLI21`.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// FTS's id of the plan, e.g. 1036.
    async fn fts_id(&self) -> Option<i64> {
        self.0.fts_id
    }
    /// The plan's name as FTS gives it, e.g. "Mali Plan de Réponse Humanitaire 2021".
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The plan type, e.g. "Humanitarian response plan", "Flash appeal", "Regional response plan".
    #[graphql(name = "type")]
    async fn appeal_type(&self) -> Option<&str> {
        self.0.appeal_type.as_deref()
    }
    /// The plan's year.
    async fn year(&self) -> i32 {
        self.0.year
    }
    /// The first day the plan covers.
    async fn start_date(&self) -> Option<Date> {
        self.0.start_date.map(Date)
    }
    /// The last day the plan covers.
    async fn end_date(&self) -> Option<Date> {
        self.0.end_date.map(Date)
    }
    /// What the plan asks for, USD (a multi-country plan: the sum of its countries' shares).
    async fn requirements_usd(&self) -> Option<i64> {
        self.0.requirements_usd
    }
    /// What it has received, USD.
    async fn funding_usd(&self) -> Option<i64> {
        self.0.funding_usd
    }
    /// Funding ÷ requirements × 100, one decimal; null without requirements.
    async fn percent_funded(&self) -> Option<f64> {
        percent_funded(self.0.requirements_usd, self.0.funding_usd)
    }
    /// ISO3 codes of the countries the store holds a share of this plan for.
    async fn countries(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let loader = ctx.data::<DataLoader<AppealSharesLoader>>()?;
        let shares = loader.load_one(self.0.id).await.map_err(shared)?.unwrap_or_default();
        Ok(shares.into_iter().map(|s| s.country_iso3).collect())
    }
    /// Each stored country's share of the plan.
    async fn country_shares(&self, ctx: &Context<'_>) -> Result<Vec<AppealCountryShare>> {
        let loader = ctx.data::<DataLoader<AppealSharesLoader>>()?;
        let shares = loader.load_one(self.0.id).await.map_err(shared)?.unwrap_or_default();
        Ok(shares
            .into_iter()
            .map(|s| AppealCountryShare {
                percent_funded: percent_funded(s.requirements_usd, s.funding_usd),
                iso3: s.country_iso3,
                requirements_usd: s.requirements_usd,
                funding_usd: s.funding_usd,
            })
            .collect())
    }
    /// Requirements and funding per cluster, where FTS has them (empty otherwise), by name.
    async fn clusters(&self, ctx: &Context<'_>) -> Result<Vec<AppealCluster>> {
        let loader = ctx.data::<DataLoader<AppealClustersLoader>>()?;
        Ok(loader
            .load_one(self.0.id)
            .await
            .map_err(shared)?
            .unwrap_or_default()
            .into_iter()
            .map(AppealCluster)
            .collect())
    }
    /// The resource (file or API endpoint) the figure was read from, with its URL.
    async fn resource(&self, ctx: &Context<'_>) -> Result<Option<super::Resource>> {
        self.provenance().load_resource(ctx).await
    }
    /// The dataset the appeal's figures come from, with its licence and credit.
    async fn dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        self.provenance().load_dataset(ctx).await
    }
    /// The ingest run that last wrote the appeal.
    async fn ingest_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        self.provenance().load_ingest_run(ctx).await
    }
    /// When the figures were read from the source (UTC).
    async fn retrieved_at(&self) -> DateTime {
        self.provenance().retrieved()
    }
    /// The date the funding figures are as of: when the publisher last updated the dataset they come
    /// from (FTS figures change daily), or else when crisisgraph read them.
    async fn data_as_of(&self, ctx: &Context<'_>) -> Result<Date> {
        let as_of = self.provenance().load_data_as_of(ctx).await?;
        Ok(as_of.unwrap_or(Date(self.0.retrieved_at.date())))
    }
}

/// One cluster's (sector's) requirements and funding within an appeal, from the FTS API.
#[Object]
impl AppealCluster {
    /// The cluster as FTS names it; "Not specified" and "Multiple clusters/sectors (shared)" are
    /// FTS's lines for funding to no cluster and to several at once.
    async fn name(&self) -> &str {
        &self.0.cluster
    }
    /// Revised requirements, USD.
    async fn requirements_usd(&self) -> Option<i64> {
        self.0.requirements_usd
    }
    /// Funding to this cluster alone, USD.
    async fn funding_usd(&self) -> Option<i64> {
        self.0.funding_usd
    }
    /// Funding ÷ requirements × 100, one decimal; null without requirements.
    async fn percent_funded(&self) -> Option<f64> {
        percent_funded(self.0.requirements_usd, self.0.funding_usd)
    }
    /// The dataset (the FTS API) the figures come from.
    async fn dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        let Some(resource) = self.0.resource_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<DatasetByResourceLoader>>()?;
        Ok(loader.load_one(resource).await.map_err(shared)?.map(Dataset))
    }
}

/// Funding a country received in a year outside any appeal (FTS's "Not specified" rows): money,
/// not a plan.
pub struct OutsideFunding(pub OutsideFundingRow);

impl OutsideFunding {
    /// Where the figure comes from, dated (as appeals are) by the publisher's last update.
    pub fn provenance(&self) -> Provenance {
        Provenance::new(self.0.resource_id, self.0.run_id, self.0.retrieved_at).dated_by_dataset_update()
    }
}

/// Funding a country received in a year outside any appeal (FTS's "Not specified" rows): money,
/// not a plan.
#[Object]
impl OutsideFunding {
    /// Where the figure comes from: dataset, licence, credit, resource and its URL, ingest run,
    /// reference date and when it was read.
    #[graphql(name = "provenance")]
    async fn provenance_field(&self) -> Provenance {
        self.provenance()
    }
    /// The year the funding was recorded for.
    async fn year(&self) -> i32 {
        self.0.year
    }
    /// USD.
    async fn funding_usd(&self) -> i64 {
        self.0.funding_usd
    }
    /// The dataset the figure comes from, with its licence and credit.
    async fn dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        self.provenance().load_dataset(ctx).await
    }
    /// The ingest run that last wrote the figure.
    async fn ingest_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        self.provenance().load_ingest_run(ctx).await
    }
}

/// A country's appeal coverage for one year: the sum of its shares of the appeals of that year.
pub struct FundingCoverage {
    pub year: i32,
    pub requirements_usd: Option<i64>,
    pub funding_usd: Option<i64>,
    pub appeal_codes: Vec<String>,
}

/// A country's appeal coverage for one year: the sum of its shares of the appeals of that year.
#[Object]
impl FundingCoverage {
    /// The year the coverage is for.
    async fn year(&self) -> i32 {
        self.year
    }
    /// What the year's appeals ask for in this country, USD (its shares of multi-country plans).
    async fn requirements_usd(&self) -> Option<i64> {
        self.requirements_usd
    }
    /// What they have received for this country, USD.
    async fn funding_usd(&self) -> Option<i64> {
        self.funding_usd
    }
    /// Funding ÷ requirements × 100, one decimal, computed (never read from a file); null without requirements.
    async fn percent_funded(&self) -> Option<f64> {
        store::appeals::percent_funded(self.requirements_usd, self.funding_usd)
    }
    /// The appeals counted.
    async fn appeals(&self) -> &[String] {
        &self.appeal_codes
    }
}

/// Coverage per year for `iso3`, newest year first.
pub async fn coverage_of(ctx: &Context<'_>, iso3: &str, year: Option<i32>) -> Result<Vec<FundingCoverage>> {
    let appeals = ctx
        .data::<DataLoader<CountryAppealsLoader>>()?
        .load_one((iso3.to_string(), year))
        .await
        .map_err(shared)?
        .unwrap_or_default();
    let shares_loader = ctx.data::<DataLoader<AppealSharesLoader>>()?;
    let shares = shares_loader.load_many(appeals.iter().map(|a| a.id)).await.map_err(shared)?;
    let mut by_year: std::collections::BTreeMap<i32, FundingCoverage> = std::collections::BTreeMap::new();
    for appeal in &appeals {
        let share = shares.get(&appeal.id).and_then(|list| list.iter().find(|s| s.country_iso3 == iso3));
        let entry = by_year.entry(appeal.year).or_insert_with(|| FundingCoverage {
            year: appeal.year,
            requirements_usd: None,
            funding_usd: None,
            appeal_codes: Vec::new(),
        });
        let (requirements, funding) = match share {
            Some(s) => (s.requirements_usd, s.funding_usd),
            None => (appeal.requirements_usd, appeal.funding_usd),
        };
        if let Some(r) = requirements {
            entry.requirements_usd = Some(entry.requirements_usd.unwrap_or(0) + r);
        }
        if let Some(f) = funding {
            entry.funding_usd = Some(entry.funding_usd.unwrap_or(0) + f);
        }
        entry.appeal_codes.push(appeal.code.clone());
    }
    Ok(by_year.into_values().rev().collect())
}

// --- the theme's loaders and its fields on `Country` ---

/// (country ISO3, year or none) → the appeals the country has a share of.
pub struct CountryAppealsLoader(pub ReadSnapshot);
/// Appeal id → its per-cluster figures.
pub struct AppealClustersLoader(pub ReadSnapshot);
/// Appeal id → the country shares stored for it.
pub struct AppealSharesLoader(pub ReadSnapshot);

impl Loader<(String, Option<i32>)> for CountryAppealsLoader {
    type Value = Vec<AppealRow>;
    type Error = SharedStoreError;

    async fn load(
        &self,
        keys: &[(String, Option<i32>)],
    ) -> Result<HashMap<(String, Option<i32>), Vec<AppealRow>>, Self::Error> {
        let mut out: HashMap<(String, Option<i32>), Vec<AppealRow>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        let mut years: Vec<Option<i32>> = keys.iter().map(|(_, y)| *y).collect();
        years.sort_unstable();
        years.dedup();
        for year in years {
            let codes: Vec<String> = keys.iter().filter(|(_, y)| *y == year).map(|(c, _)| c.clone()).collect();
            let rows = self.0.run(move |c| store::appeals::appeals_of_countries(c, &codes, year)).await?;
            for (iso3, appeal) in rows {
                out.entry((iso3, year)).or_default().push(appeal);
            }
        }
        Ok(out)
    }
}

impl Loader<i64> for AppealClustersLoader {
    type Value = Vec<AppealClusterRow>;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<AppealClusterRow>>, Self::Error> {
        let ids = keys.to_vec();
        let rows = self.0.run(move |c| store::appeals::clusters_of_appeals(c, &ids)).await?;
        let mut out: HashMap<i64, Vec<AppealClusterRow>> = HashMap::new();
        for row in rows {
            out.entry(row.appeal_id).or_default().push(row);
        }
        Ok(out)
    }
}

impl Loader<i64> for AppealSharesLoader {
    type Value = Vec<AppealCountryRow>;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<AppealCountryRow>>, Self::Error> {
        let ids = keys.to_vec();
        let rows = self.0.run(move |c| store::appeals::shares_of_appeals(c, &ids)).await?;
        let mut out: HashMap<i64, Vec<AppealCountryRow>> = HashMap::new();
        for row in rows {
            out.entry(row.appeal_id).or_default().push(row);
        }
        Ok(out)
    }
}


/// The theme's GraphQL (one line in the `themes!` list of `api/src/types/mod.rs`).
pub struct Theme;

impl crate::themes::Theme for Theme {
    type CountryFields = CountryFunding;
    type AreaFields = crate::themes::NoFields;
    type QueryFields = crate::themes::NoFields;

    fn loaders(request: async_graphql::Request, snapshot: &ReadSnapshot) -> async_graphql::Request {
        let s = || snapshot.clone();
        request
            .data(crate::loaders::loader(CountryAppealsLoader(s()), snapshot))
            .data(crate::loaders::loader(AppealClustersLoader(s()), snapshot))
            .data(crate::loaders::loader(AppealSharesLoader(s()), snapshot))
    }
}

crate::themes::part!(
    /// A country's appeals and funding (OCHA FTS).
    CountryFunding: Country
);

/// A country's appeals and funding (OCHA FTS).
#[async_graphql::Object]
impl CountryFunding {
    /// Requirements, funding and percent funded of the appeals the country has a share of, per year
    /// (the country's share of multi-country plans), newest year first.
    async fn funding_coverage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this year.")] year: Option<i32>,
    ) -> Result<Vec<super::FundingCoverage>> {
        super::appeal::coverage_of(ctx, &self.0.iso3, year).await
    }
    /// The funding appeals the country has a share of, optionally of one `year`, newest first.
    async fn appeals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only plans of this year.")] year: Option<i32>,
    ) -> Result<Vec<super::Appeal>> {
        let loader = ctx.data::<DataLoader<CountryAppealsLoader>>()?;
        let rows = loader.load_one((self.0.iso3.clone(), year)).await.map_err(shared)?.unwrap_or_default();
        Ok(rows.into_iter().map(super::Appeal).collect())
    }
    /// Funding received outside any appeal, per year (FTS's "Not specified"), newest first.
    async fn funding_outside_appeals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this year.")] year: Option<i32>,
    ) -> Result<Vec<super::OutsideFunding>> {
        let reads = crate::read::snapshot(ctx)?.clone();
        let iso3 = self.0.iso3.clone();
        let rows = reads.run(move |c| store::appeals::outside_funding_of_country(c, &iso3, year)).await.gql()?;
        Ok(rows.into_iter().map(super::OutsideFunding).collect())
    }
}

impl super::node::GlobalId for Appeal {
    type Key = i64;
    fn parse_key(key: &str) -> Option<i64> {
        super::node::number(key)
    }
    fn load(c: &mut store::AnyConnection, id: i64) -> Result<Option<Self>, store::StoreError> {
        Ok(store::appeals::appeals_by_ids(c, &[id])?.into_iter().next().map(Appeal))
    }
}
