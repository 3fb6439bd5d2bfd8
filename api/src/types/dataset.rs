use crate::scalars::DateTime;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};

use super::IngestRun;
use crate::error::shared;
use crate::loaders::{DatasetResourcesLoader, DatasetRunsLoader};

/// A published dataset that figures come from, with its licence and the credit its publisher requires.
pub struct Dataset(pub store::models::Dataset);

/// A published dataset that figures come from, with its licence and the credit its publisher requires.
#[Object]
impl Dataset {
    /// Global id: `Dataset:<number>`, as `dataset(id:)` and `node(id:)` take it.
    pub async fn id(&self) -> ID {
        super::node::global_id::<Dataset>(self.0.id)
    }
    /// Our stable key for the dataset, e.g. `dtm-api-v3` or `hdx:global-pcodes`.
    async fn key(&self) -> &str {
        &self.0.source_key
    }
    /// The dataset's id on HDX, where it is published there.
    async fn hdx_id(&self) -> Option<&str> {
        self.0.hdx_id.as_deref()
    }
    /// The dataset's title as its publisher gives it.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The organisation that publishes the data.
    async fn organisation(&self) -> &str {
        &self.0.organisation
    }
    /// Where the dataset is published.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// The licence's title, e.g. "Creative Commons Attribution for Intergovernmental Organisations".
    async fn licence(&self) -> &str {
        &self.0.licence_title
    }
    /// The licence's short id, e.g. `cc-by-igo` or `hdx-other`.
    async fn licence_id(&self) -> &str {
        &self.0.licence_id
    }
    /// Where the licence's terms are published.
    async fn licence_url(&self) -> Option<&str> {
        self.0.licence_url.as_deref()
    }
    /// The licence's full terms where it is not a standard one (IOM DTM data).
    async fn licence_terms(&self) -> Option<&str> {
        self.0.licence_other.as_deref()
    }
    /// The credit line to print next to any figure from this dataset (mandatory for IOM DTM data).
    async fn credit(&self) -> &str {
        &self.0.credit
    }
    /// How the publisher says the data were collected.
    async fn methodology(&self) -> Option<&str> {
        self.0.methodology.as_deref()
    }
    /// When the publisher last changed the dataset, if it says (UTC).
    async fn last_modified(&self) -> Option<DateTime> {
        self.0.last_modified.map(DateTime)
    }
    /// How often the publisher means to update it, in days.
    async fn update_frequency_days(&self) -> Option<i32> {
        self.0.update_frequency_days
    }
    /// The resources (files, endpoints) of the dataset that crisisgraph reads.
    async fn resources(&self, ctx: &Context<'_>) -> Result<Vec<Resource>> {
        let loader = ctx.data::<DataLoader<DatasetResourcesLoader>>()?;
        Ok(loader.load_one(self.0.id).await.map_err(shared)?.unwrap_or_default().into_iter().map(Resource).collect())
    }
    /// The ingest runs that read this dataset, newest first.
    async fn ingest_runs(&self, ctx: &Context<'_>) -> Result<Vec<IngestRun>> {
        let loader = ctx.data::<DataLoader<DatasetRunsLoader>>()?;
        Ok(loader.load_one(self.0.id).await.map_err(shared)?.unwrap_or_default().into_iter().map(IngestRun).collect())
    }
}

/// One resource of a dataset: a file or an API endpoint.
pub struct Resource(pub store::models::Resource);

/// One resource of a dataset: a file or an API endpoint.
#[Object]
impl Resource {
    /// Global id: `Resource:<number>`, as `node(id:)` takes it.
    pub async fn id(&self) -> ID {
        super::node::global_id::<Resource>(self.0.id)
    }
    /// The resource's id on HDX, where it is published there.
    async fn hdx_id(&self) -> Option<&str> {
        self.0.hdx_id.as_deref()
    }
    /// The resource's name, e.g. `mli_pop_adm1_v2.csv`.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Where crisisgraph downloads it from.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// `CSV`, `XLSX`, `JSON`...
    async fn format(&self) -> &str {
        &self.0.format
    }
    /// When the publisher last changed it, as the catalog says (UTC).
    async fn last_modified(&self) -> Option<DateTime> {
        self.0.last_modified.map(DateTime)
    }
}

impl super::node::GlobalId for Dataset {
    type Key = i64;
    fn parse_key(key: &str) -> Option<i64> {
        super::node::number(key)
    }
    fn load(c: &mut store::AnyConnection, id: i64) -> Result<Option<Self>, store::StoreError> {
        Ok(store::provenance::datasets_by_ids(c, &[id])?.into_iter().next().map(Dataset))
    }
}

impl super::node::GlobalId for Resource {
    type Key = i64;
    fn parse_key(key: &str) -> Option<i64> {
        super::node::number(key)
    }
    fn load(c: &mut store::AnyConnection, id: i64) -> Result<Option<Self>, store::StoreError> {
        Ok(store::provenance::resources_by_ids(c, &[id])?.into_iter().next().map(Resource))
    }
}
