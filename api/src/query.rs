use async_graphql::{Context, ID, Object, Result};
use store::{geography, runs};

use crate::ApiError;
use crate::error::IntoGraphql;
use crate::operations::Operations;
use crate::pagination::{PageArgs, encode_cursor};
use crate::types::{AdminArea, Country, Dataset, IngestRun, IngestRunConnection, SourceInfo, WebhookDelivery, row_id};
use async_graphql::ErrorExtensions;

/// The core entry points for reading: countries, admin areas, datasets, runs, sources, `node(id:)`. Each
/// theme may add its own (see `crate::themes`); `QueryRoot` merges them.
#[derive(Default)]
pub struct QueryCore;

/// The core entry points for reading: countries, admin areas, datasets, runs, sources, `node(id:)`.
#[Object]
impl QueryCore {
    /// One country by ISO3 code (case-insensitive), e.g. `MLI`.
    async fn country(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "ISO 3166-1 alpha-3 code, e.g. `MLI`.")] iso3: String,
    ) -> Result<Option<Country>> {
        let reads = crate::read::snapshot(ctx)?.clone();
        let code = vec![iso3.trim().to_uppercase()];
        let found = reads.run(move |c| geography::countries_by_iso3(c, &code)).await.gql()?;
        Ok(found.into_iter().next().map(Country::of))
    }
    /// Every country in the store, by ISO3 code.
    async fn countries(&self, ctx: &Context<'_>) -> Result<Vec<Country>> {
        let reads = crate::read::snapshot(ctx)?.clone();
        let all = reads.run(geography::all_countries).await.gql()?;
        Ok(all.into_iter().map(Country::of).collect())
    }
    /// The admin area a p-code denotes today (or its latest edition, if retired), e.g. `ML05`.
    async fn admin_area(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The area's p-code, e.g. `ML05`.")] pcode: String,
    ) -> Result<Option<AdminArea>> {
        let reads = crate::read::snapshot(ctx)?.clone();
        let code = pcode.trim().to_uppercase();
        let area = reads.run(move |c| geography::area_by_pcode(c, &code)).await.gql()?;
        Ok(area.map(AdminArea::of))
    }
    /// Ingest runs, newest first, optionally of one source.
    #[graphql(complexity = "crate::pagination::page_cost(first, None, child_complexity)")]
    async fn ingest_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only runs of this source (`dtm`, `geography`...).")] source: Option<String>,
        #[graphql(desc = "Runs after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
        #[graphql(desc = "The first this many runs (at most 1000; default 100).")] first: Option<i32>,
    ) -> Result<IngestRunConnection> {
        const LIST: &str = "ingestRuns";
        let page = PageArgs::<i64>::parse(LIST, after, None, first, None).gql()?;
        let (before, size) = (page.after, page.size() as i64);
        let counted = ctx.look_ahead().field("totalCount").exists();
        let reads = crate::read::snapshot(ctx)?.clone();
        let (mut rows, total) = reads
            .run(move |c| {
                let rows = runs::list_runs_before(c, source.as_deref(), before, size + 1)?;
                let total = if counted { runs::count_runs(c, source.as_deref())? } else { 0 };
                Ok((rows, total))
            })
            .await
            .gql()?;
        let has_next = rows.len() as i64 > size;
        rows.truncate(size as usize);
        let rows = rows
            .into_iter()
            .map(|r| {
                let cursor = encode_cursor(LIST, &r.id);
                (IngestRun(r), cursor)
            })
            .collect();
        // Runs are never deleted: a cursor stands for a run, so there are runs before the page.
        Ok(IngestRunConnection::new(rows, before.is_some(), has_next, total))
    }
    /// Every source: schedule, next run, last success and failure, and whether its data is stale.
    async fn sources(&self, ctx: &Context<'_>) -> Result<Vec<SourceInfo>> {
        let schedules = ctx.data::<Operations>()?.schedules.clone();
        let statuses =
            crate::read::snapshot(ctx)?.run(move |c| ingest::status::source_statuses_on(c, &schedules)).await.gql()?;
        Ok(statuses.into_iter().map(SourceInfo).collect())
    }
    /// Any entity by its global id (its `id`, `<Type>:<key>`: `Country:MLI`, `AdminArea:12`, `Dataset:3`,
    /// `IngestRun:7`, `Site:40`...; every type implementing `Node`); null when nothing has that id.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A global id, as an `id` field gives it.")] id: ID,
    ) -> Result<Option<crate::types::Node>> {
        use crate::types::NodeKey;
        let key = NodeKey::parse(&id).gql()?;
        let reads = crate::read::snapshot(ctx)?.clone();
        let node = reads.run(move |c| key.load(c)).await.gql()?;
        Ok(node)
    }
    /// One ingest run by id (`IngestRun:7`, or the run number `7`).
    async fn ingest_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run's `id` (as `triggerIngest` returns it), or its number.")] id: ID,
    ) -> Result<Option<IngestRun>> {
        let id = row_id(&id, "IngestRun").gql()?;
        let reads = crate::read::snapshot(ctx)?.clone();
        match reads.run(move |c| runs::find_run(c, id)).await {
            Ok(run) => Ok(Some(IngestRun(run))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(ApiError::from(e).extend()),
        }
    }
    /// Every dataset figures come from, by title, with licence, credit and resources.
    async fn datasets(&self, ctx: &Context<'_>) -> Result<Vec<Dataset>> {
        let reads = crate::read::snapshot(ctx)?.clone();
        let all = reads.run(store::catalog::all_datasets).await.gql()?;
        Ok(all.into_iter().map(Dataset).collect())
    }
    /// One dataset by id (`Dataset:3`, or its number `3`).
    async fn dataset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The dataset's `id`, or its number.")] id: ID,
    ) -> Result<Option<Dataset>> {
        let id = row_id(&id, "Dataset").gql()?;
        let reads = crate::read::snapshot(ctx)?.clone();
        let found = reads.run(move |c| store::catalog::dataset_by_id(c, id)).await.gql()?;
        Ok(found.map(Dataset))
    }
    /// Webhook deliveries, newest first: each POST of a data change to a configured receiver, with
    /// its attempts, last HTTP status or error, and state (`pending`, `delivered`, `failed`).
    #[graphql(complexity = "i64::from(first.unwrap_or(50)).max(0) as usize * child_complexity")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50, desc = "The newest this many (at most 1000; null: 50).")] first: Option<i32>,
        #[graphql(desc = "Only deliveries of this run (its number).")] run_number: Option<i64>,
    ) -> Result<Vec<WebhookDelivery>> {
        let first = first.unwrap_or(50);
        if !(0..=1000).contains(&first) {
            return Err(ApiError::LimitExceeded("`first` must be between 0 and 1000".into()).extend());
        }
        let reads = crate::read::snapshot(ctx)?.clone();
        let rows = reads.run(move |c| store::webhooks::list(c, run_number, i64::from(first))).await.gql()?;
        Ok(rows.into_iter().map(WebhookDelivery).collect())
    }
}
