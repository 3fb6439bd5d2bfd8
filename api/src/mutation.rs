use async_graphql::{Context, ID, Object, Result, SimpleObject};
use ingest::{RunOptions, Source};
use store::leases::StartOutcome;

use crate::ApiError;
use crate::error::IntoGraphql;
use crate::operations::{Operations, PresentedToken};
use crate::types::{IngestRun, row_id};

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
    /// Starts an ingest of `source` (any name `sources` lists: `geography`, `dtm`, `needs`, ...) now
    /// and returns at once; the run goes on in the background (follow it with
    /// `ingestRun(id:)`). If the source is already running, here or on another replica, no second run
    /// starts: the run in progress is returned with `alreadyRunning: true` (it may be a dry run, or of
    /// other countries). Refused (BAD_USER_INPUT, nothing recorded) for an unknown source or country,
    /// or a source that needs countries when none are given or configured.
    async fn trigger_ingest(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The source, as `sources` and `crisisgraph sources` name it (`dtm`, `food-security`, ...).")]
        source: String,
        #[graphql(desc = "ISO3 codes of the countries to ingest; default: the server's configured ones.")]
        countries: Option<Vec<String>>,
        #[graphql(default = false, desc = "Compute the counts and commit nothing.")] dry_run: bool,
    ) -> Result<TriggerIngestPayload> {
        let operations = authorized(ctx)?;
        let source: Source = source.parse::<Source>().map_err(ApiError::from).gql()?;
        let countries: Vec<String> = countries.unwrap_or_default().iter().map(|c| c.trim().to_uppercase()).collect();
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
        coordinator.check(source, &options).map_err(ApiError::from).gql()?;
        let outcome = coordinator.trigger(source, options).await.map_err(ApiError::from).gql()?;
        Ok(TriggerIngestPayload {
            already_running: matches!(outcome, StartOutcome::AlreadyRunning(_)),
            run: IngestRun(outcome.run().clone()),
        })
    }

    /// Stops a running run cleanly: its open transaction rolls back and it ends `cancelled`.
    /// A run that has already ended is returned as it is.
    async fn cancel_ingest(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run's `id` (as `triggerIngest` returns it), or its number.")] id: ID,
    ) -> Result<IngestRun> {
        let operations = authorized(ctx)?;
        let run_id = row_id(&id, "IngestRun").gql()?;
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

/// What `triggerIngest` did: the run it started, or the run of the source already going on.
#[derive(SimpleObject)]
pub struct TriggerIngestPayload {
    /// True when no run started because one of this source was already going on (here or on another
    /// replica): `run` is that run, which may be a dry run or cover other countries.
    already_running: bool,
    /// The run started, or the one already going on.
    run: IngestRun,
}
