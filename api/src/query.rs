use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, Result};
use store::{geography, runs};

use crate::ApiError;
use crate::error::IntoGraphql;
use crate::operations::Operations;
use crate::pagination::Window;
use crate::types::{AdminArea, Country, Dataset, IngestRun, ListInfo, SourceInfo};
use async_graphql::ErrorExtensions;

/// Entry points for reading: countries, admin areas and the ingest runs behind every figure.
pub struct QueryRoot;

/// Entry points for reading: countries, admin areas and the ingest runs behind every figure.
#[Object(name = "Query")]
impl QueryRoot {
    /// One country by ISO3 code (case-insensitive), e.g. `MLI`.
    async fn country(&self, ctx: &Context<'_>, iso3: String) -> Result<Option<Country>> {
        let reads = crate::read::snapshot(ctx)?.clone();
        let code = vec![iso3.trim().to_uppercase()];
        let found = reads.run(move |c| geography::countries_by_iso3(c, &code)).await.gql()?;
        Ok(found.into_iter().next().map(Country))
    }
    /// Every country in the store, by ISO3 code.
    async fn countries(&self, ctx: &Context<'_>) -> Result<Vec<Country>> {
        let reads = crate::read::snapshot(ctx)?.clone();
        let all = reads.run(geography::all_countries).await.gql()?;
        Ok(all.into_iter().map(Country).collect())
    }
    /// The admin area a p-code denotes today (or its latest edition, if retired), e.g. `ML05`.
    async fn admin_area(&self, ctx: &Context<'_>, pcode: String) -> Result<Option<AdminArea>> {
        let reads = crate::read::snapshot(ctx)?.clone();
        let code = pcode.trim().to_uppercase();
        let area = reads.run(move |c| geography::area_by_pcode(c, &code)).await.gql()?;
        Ok(area.map(AdminArea))
    }
    /// Ingest runs, newest first, optionally of one source.
    #[graphql(complexity = "crate::pagination::page_cost(first, None, child_complexity)")]
    async fn ingest_runs(
        &self,
        ctx: &Context<'_>,
        source: Option<String>,
        after: Option<String>,
        first: Option<i32>,
    ) -> Result<Connection<usize, IngestRun, ListInfo>> {
        let after = crate::types::decode_cursor(after).gql()?;
        let first = crate::types::page_size(first, "first").gql()?;
        let reads = crate::read::snapshot(ctx)?.clone();
        let filter = source.clone();
        let total = reads.run(move |c| runs::count_runs(c, filter.as_deref())).await.gql()?;
        let window = Window::new(total as usize, after, None, first, None).gql()?;
        let (limit, offset) = ((window.end - window.start) as i64, window.start as i64);
        let rows = reads.run(move |c| runs::list_runs(c, source.as_deref(), limit, offset)).await.gql()?;
        let mut connection = Connection::with_additional_fields(
            window.has_previous(),
            window.has_next(total as usize),
            ListInfo { total_count: total },
        );
        connection.edges.extend(rows.into_iter().enumerate().map(|(i, r)| Edge::new(window.start + i, IngestRun(r))));
        Ok(connection)
    }
    /// Every source: schedule, next run, last success and failure, and whether its data is stale.
    async fn sources(&self, ctx: &Context<'_>) -> Result<Vec<SourceInfo>> {
        let schedules = ctx.data::<Operations>()?.schedules.clone();
        let statuses =
            crate::read::snapshot(ctx)?.run(move |c| ingest::status::source_statuses_on(c, &schedules)).await.gql()?;
        Ok(statuses.into_iter().map(SourceInfo).collect())
    }
    /// Any entity by its global id (`nodeId`: `Country:MLI`, `AdminArea:12`, `Dataset:3`, `IngestRun:7`,
    /// `Appeal:5`, `Site:40`); null when nothing has that id.
    async fn node(&self, ctx: &Context<'_>, id: async_graphql::ID) -> Result<Option<crate::types::Node>> {
        use crate::types::{Node, NodeKey};
        let key = NodeKey::parse(&id).gql()?;
        let reads = crate::read::snapshot(ctx)?.clone();
        let node = reads
            .run(move |c| {
                Ok(match key {
                    NodeKey::Country(iso3) => store::geography::countries_by_iso3(c, &[iso3])?
                        .into_iter()
                        .next()
                        .map(|x| Node::Country(Country(x))),
                    NodeKey::AdminArea(id) => store::geography::areas_by_ids(c, &[id])?
                        .into_iter()
                        .next()
                        .map(|x| Node::AdminArea(AdminArea(x))),
                    NodeKey::Dataset(id) => store::provenance::datasets_by_ids(c, &[id])?
                        .into_iter()
                        .next()
                        .map(|x| Node::Dataset(crate::types::Dataset(x))),
                    NodeKey::IngestRun(id) => {
                        store::runs::runs_by_ids(c, &[id])?.into_iter().next().map(|x| Node::IngestRun(IngestRun(x)))
                    }
                    NodeKey::Appeal(id) => store::appeals::appeals_by_ids(c, &[id])?
                        .into_iter()
                        .next()
                        .map(|x| Node::Appeal(crate::types::Appeal(x))),
                    NodeKey::Site(id) => store::sites::sites_by_ids(c, &[id])?
                        .into_iter()
                        .next()
                        .map(|x| Node::Site(crate::types::Site(x))),
                })
            })
            .await
            .gql()?;
        Ok(node)
    }
    /// One ingest run by id.
    async fn ingest_run(&self, ctx: &Context<'_>, id: i64) -> Result<Option<IngestRun>> {
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
    /// One dataset by id.
    async fn dataset(&self, ctx: &Context<'_>, id: async_graphql::ID) -> Result<Option<Dataset>> {
        let Ok(id) = id.parse::<i64>() else {
            return Err(ApiError::BadUserInput(format!("invalid dataset id {:?}", id.as_str())).extend());
        };
        let reads = crate::read::snapshot(ctx)?.clone();
        let found = reads.run(move |c| store::catalog::dataset_by_id(c, id)).await.gql()?;
        Ok(found.map(Dataset))
    }
}
