use async_graphql::{Context, ID, Object, Result};
use ingest::{RunOptions, Source};

use crate::ApiError;
use crate::error::IntoGraphql;
use crate::operations::{Operations, PresentedToken};
use crate::types::IngestRun;

/// Operator actions. Each needs `Authorization: Bearer <CRISISGRAPH_OPERATOR_TOKEN>`; a server
/// without a token refuses them all (code UNAUTHENTICATED).
pub struct MutationRoot;

fn authorized<'a>(ctx: &'a Context<'_>) -> Result<&'a Operations> {
    let operations = ctx.data::<Operations>()?;
    let presented = ctx.data_opt::<PresentedToken>().cloned().unwrap_or_default();
    operations.authorize(&presented).gql()?;
    Ok(operations)
}

/// Operator actions. Each needs `Authorization: Bearer <CRISISGRAPH_OPERATOR_TOKEN>`; a server
/// without a token refuses them all (code UNAUTHENTICATED).
#[Object(name = "Mutation")]
impl MutationRoot {
    /// Starts an ingest of `source` (`geography` or `dtm`) now and returns at once; the run goes on in
    /// the background (follow it with `ingestRun(id:)`). If the source is already running, here or on
    /// another replica, no second run starts: the run in progress is returned. `countries` (ISO3)
    /// defaults to the configured ones; `dryRun` computes the counts and commits nothing.
    async fn trigger_ingest(
        &self,
        ctx: &Context<'_>,
        source: String,
        countries: Option<Vec<String>>,
        #[graphql(default = false)] dry_run: bool,
    ) -> Result<IngestRun> {
        let operations = authorized(ctx)?;
        let source: Source = source.parse::<Source>().map_err(ApiError::from).gql()?;
        let countries = countries.unwrap_or_default();
        if let Some(bad) = countries.iter().find(|c| c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphabetic())) {
            return Err(ApiError::BadUserInput(format!("{bad:?} is not an ISO3 country code")).into_gql());
        }
        let coordinator = operations
            .coordinator
            .as_ref()
            .ok_or_else(|| ApiError::BadUserInput("this server does not run ingests".into()).into_gql())?;
        let options = RunOptions {
            countries,
            dry_run,
            trigger: "api".into(),
            requested_by: Some("operator token".into()),
            ..RunOptions::default()
        };
        let outcome = coordinator.trigger(source, options).await.map_err(ApiError::from).gql()?;
        Ok(IngestRun(outcome.run().clone()))
    }

    /// Stops a running run cleanly: its open transaction rolls back and it ends `cancelled`.
    /// A run that has already ended is returned as it is.
    async fn cancel_ingest(&self, ctx: &Context<'_>, id: ID) -> Result<IngestRun> {
        let operations = authorized(ctx)?;
        let run_id: i64 =
            id.parse().map_err(|_| ApiError::BadUserInput(format!("{:?} is not a run id", id.0)).into_gql())?;
        let coordinator = operations
            .coordinator
            .as_ref()
            .ok_or_else(|| ApiError::BadUserInput("this server does not run ingests".into()).into_gql())?;
        match coordinator.cancel(run_id).await.map_err(ApiError::from).gql()? {
            Some(run) => Ok(IngestRun(run)),
            None => Err(ApiError::NotFound(format!("no ingest run {run_id}")).into_gql()),
        }
    }
}
