//! Where a figure comes from, as one GraphQL object every figure type shares (`provenance`): the
//! dataset and its licence and credit, the resource and its URL, the ingest run, the source's
//! reference date and when crisisgraph read it. Every link is loaded through the request's loaders,
//! so a list of figures asking for their provenance costs one batched query per link, not one per row.
//!
//! A figure type builds its [`Provenance`] from its row's `resource_id`, `run_id`, `retrieved_at`
//! and reference date; its older flattened fields (`dataset`, `resource`, `ingestRun`, `dataAsOf`,
//! `retrievedAt`) answer through the same object, so there is one implementation of each.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result};
use chrono::{NaiveDate, NaiveDateTime};

use super::{Dataset, IngestRun, Resource};
use crate::error::shared;
use crate::loaders::{DatasetByResourceLoader, RunLoader};
use crate::scalars::{Date, DateTime};

/// The source's reference date of a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AsOf {
    /// The date the source gives for the figure (a reporting date, a reference year's first day),
    /// or none where it gives none.
    Given(Option<NaiveDate>),
    /// Figures that change continuously (FTS funding): as of the publisher's last update of the
    /// dataset, or else of the day crisisgraph read them.
    DatasetUpdate,
}

/// Where a figure comes from: its dataset (with licence and credit), the resource (file or API
/// endpoint) it was read from, the ingest run that wrote it, the source's reference date and when
/// crisisgraph read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    resource_id: Option<i64>,
    run_id: Option<i64>,
    retrieved_at: NaiveDateTime,
    as_of: AsOf,
}

impl Provenance {
    /// The provenance of a figure read from `resource_id` by run `run_id` at `retrieved_at`, with no
    /// reference date yet (see [`Provenance::dated`]).
    pub fn new(resource_id: i64, run_id: i64, retrieved_at: NaiveDateTime) -> Provenance {
        Provenance { resource_id: Some(resource_id), run_id: Some(run_id), retrieved_at, as_of: AsOf::Given(None) }
    }

    /// The same provenance, with the source's reference date for the figure (none where it gives none).
    pub fn dated(self, date: impl Into<Option<NaiveDate>>) -> Provenance {
        Provenance { as_of: AsOf::Given(date.into()), ..self }
    }

    /// The same provenance, dated by the publisher's last update of the dataset (figures that change
    /// continuously, such as FTS funding), or else by when crisisgraph read them.
    pub fn dated_by_dataset_update(self) -> Provenance {
        Provenance { as_of: AsOf::DatasetUpdate, ..self }
    }

    /// The dataset the figure comes from.
    pub(crate) async fn load_dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        let Some(resource) = self.resource_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<DatasetByResourceLoader>>()?;
        Ok(loader.load_one(resource).await.map_err(shared)?.map(Dataset))
    }

    /// The resource (file or endpoint) the figure was read from.
    pub(crate) async fn load_resource(&self, ctx: &Context<'_>) -> Result<Option<Resource>> {
        let Some(resource) = self.resource_id else { return Ok(None) };
        crate::loaders::resource_of(ctx, resource).await
    }

    /// The ingest run that last wrote the figure.
    pub(crate) async fn load_ingest_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        let Some(run) = self.run_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<RunLoader>>()?;
        Ok(loader.load_one(run).await.map_err(shared)?.map(IngestRun))
    }

    /// The source's reference date for the figure.
    pub(crate) async fn load_data_as_of(&self, ctx: &Context<'_>) -> Result<Option<Date>> {
        match self.as_of {
            AsOf::Given(date) => Ok(date.map(Date)),
            AsOf::DatasetUpdate => {
                let modified = self.load_dataset(ctx).await?.and_then(|d| d.0.last_modified);
                Ok(Some(Date(modified.unwrap_or(self.retrieved_at).date())))
            }
        }
    }

    /// When crisisgraph read the figure from its source.
    pub(crate) fn retrieved(&self) -> DateTime {
        self.retrieved_at.into()
    }
}

/// Where a figure comes from: its dataset (with licence and credit), the resource (file or API
/// endpoint) it was read from, the ingest run that wrote it, the source's reference date and when
/// crisisgraph read it. Print `credit` next to any figure you publish (IOM DTM requires it).
#[Object]
impl Provenance {
    /// The dataset the figure comes from, with its publisher, licence and credit.
    async fn dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        self.load_dataset(ctx).await
    }
    /// The resource (file or API endpoint) the figure was read from.
    async fn resource(&self, ctx: &Context<'_>) -> Result<Option<Resource>> {
        self.load_resource(ctx).await
    }
    /// The ingest run that last wrote the figure (with its rejected rows).
    async fn ingest_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        self.load_ingest_run(ctx).await
    }
    /// The source's reference date for the figure: the date it reports the figure for (DTM's
    /// reporting date, the first day of a population projection's year); for funding, the publisher's
    /// last update. Null where the source gives no date (some site lists).
    async fn data_as_of(&self, ctx: &Context<'_>) -> Result<Option<Date>> {
        self.load_data_as_of(ctx).await
    }
    /// When crisisgraph read the figure from its source (UTC).
    async fn retrieved_at(&self) -> DateTime {
        self.retrieved()
    }
    /// The dataset's licence, e.g. "Creative Commons Attribution for Intergovernmental Organisations"
    /// (its id, URL and full terms are on `dataset`).
    async fn licence(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(self.load_dataset(ctx).await?.map(|d| d.0.licence_title))
    }
    /// The credit line to print next to the figure (always present for IOM DTM data, which requires it).
    async fn credit(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(self.load_dataset(ctx).await?.map(|d| d.0.credit))
    }
    /// Where the figure was read from: the URL of the resource (file or API endpoint); the dataset's
    /// own page is `dataset { url }`.
    async fn source_url(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(self.load_resource(ctx).await?.map(|r| r.0.url))
    }
}
