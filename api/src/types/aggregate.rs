use crate::scalars::{Date, DateTime};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result};

use super::idp::{AreaAliasesLoader, SubtreeIdpsLoader};
use super::population::AreaPopulationLoader;
use super::{Dataset, IngestRun, PopulationFigure, Provenance};
use crate::aggregates::{Aggregate, IdpMethod, RoundRule, Selection};
use crate::error::shared;

/// An IDP total for an area and one DTM operation, with the rule that produced it. Totals of
/// different operations are never added together (round numbers restart per operation); of a round
/// reported under both baseline (BA) and site (SA) assessment, the baseline is used.
pub struct IdpAggregate(pub Aggregate);

impl IdpAggregate {
    /// Where the total comes from: the latest of the figures used; dated by the reporting date.
    pub fn provenance(&self) -> Provenance {
        Provenance::new(self.0.resource_id, self.0.run_id, self.0.retrieved_at).dated(self.0.key.reporting_date)
    }
}

/// An IDP total for an area and one DTM operation, with the rule that produced it. Totals of
/// different operations are never added together (round numbers restart per operation); of a round
/// reported under both baseline (BA) and site (SA) assessment, the baseline is used.
#[Object]
impl IdpAggregate {
    /// Where the total comes from (of the figures used, the latest): dataset, licence, credit, resource and its URL, ingest run,
    /// reference date and when it was read.
    #[graphql(name = "provenance")]
    async fn provenance_field(&self) -> Provenance {
        self.provenance()
    }
    /// The DTM operation.
    async fn operation(&self) -> &str {
        &self.0.key.operation
    }
    /// The round within the operation.
    async fn round(&self) -> i32 {
        self.0.key.round
    }
    /// The date DTM reports the figure for.
    async fn reporting_date(&self) -> Date {
        self.0.key.reporting_date.into()
    }
    /// `BA` (baseline) or `SA` (site assessment).
    async fn assessment_type(&self) -> &str {
        &self.0.key.assessment_type
    }
    /// IDPs present: number of individuals.
    async fn individuals(&self) -> async_graphql::Result<i64> {
        i64::try_from(self.0.individuals).map_err(|_| {
            crate::ApiError::OutOfRange(format!(
                "these figures add up to {}, beyond a 64-bit count: the store holds an out-of-range figure \
                 from before figures were bounded at ingest",
                self.0.individuals
            ))
            .into_gql()
        })
    }
    /// Reported for the area itself, or summed from the areas below it.
    async fn method(&self) -> IdpMethod {
        self.0.method
    }
    /// How the round was chosen: the one asked for, the latest on or before a date, the latest per
    /// operation, or every round (series).
    async fn round_rule(&self) -> RoundRule {
        self.0.round_rule
    }
    /// Admin level of the figures used (deeper than the area when summed from children).
    async fn level_used(&self) -> i32 {
        self.0.level_used
    }
    /// How many areas' figures were added (1 when reported at the area's level).
    async fn areas_counted(&self) -> i32 {
        self.0.areas_counted as i32
    }
    /// How many areas that level has inside this area: with `areasCounted`, the roll-up's coverage.
    async fn areas_at_level(&self) -> i32 {
        self.0.areas_at_level as i32
    }
    /// The source's reference date (the reporting date).
    async fn data_as_of(&self) -> Date {
        self.0.key.reporting_date.into()
    }
    /// When crisisgraph fetched the figures used (UTC; the latest of them).
    async fn retrieved_at(&self) -> DateTime {
        self.provenance().retrieved()
    }
    /// The resource (file or API endpoint) the figure was read from, with its URL.
    async fn resource(&self, ctx: &Context<'_>) -> Result<Option<super::Resource>> {
        self.provenance().load_resource(ctx).await
    }
    /// The dataset the figures come from, with its licence and credit.
    async fn dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        self.provenance().load_dataset(ctx).await
    }
    /// The ingest run that last wrote any of the figures used.
    async fn ingest_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        self.provenance().load_ingest_run(ctx).await
    }
}

/// IDPs as a share of the population, where both figures describe the same territory; otherwise
/// `share` is null and `reason` says why.
pub struct IdpShare {
    pub idps: Aggregate,
    pub population: Option<PopulationFigure>,
    pub share: Option<f64>,
    pub reason: Option<String>,
}

/// IDPs as a share of the population, where both figures describe the same territory; otherwise
/// `share` is null and `reason` says why.
#[Object]
impl IdpShare {
    /// The IDP total used (one per operation).
    async fn idps(&self) -> IdpAggregate {
        IdpAggregate(self.idps.clone())
    }
    /// The population figure used, if any.
    async fn population(&self) -> Option<&PopulationFigure> {
        self.population.as_ref()
    }
    /// IDPs ÷ population (a fraction, 0.05 = 5 %); null when the two are not comparable.
    async fn share(&self) -> Option<f64> {
        self.share
    }
    /// Why `share` is null.
    async fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

/// The filters an aggregate field takes.
pub fn selection(
    operation: Option<String>,
    round: Option<i32>,
    date: Option<Date>,
    assessment_type: Option<String>,
    from: Option<Date>,
    to: Option<Date>,
) -> Selection {
    Selection {
        operation,
        round,
        date: date.map(|d| d.0),
        assessment_type,
        from: from.map(|d| d.0),
        to: to.map(|d| d.0),
    }
}

/// Totals for the area with id `area_id`.
pub async fn totals_of(ctx: &Context<'_>, area_id: i64, s: &Selection) -> Result<Vec<IdpAggregate>> {
    let loader = ctx.data::<DataLoader<SubtreeIdpsLoader>>()?;
    let tree = loader.load_one((area_id, s.clone())).await.map_err(shared)?.unwrap_or_default();
    Ok(tree.totals(s).into_iter().map(IdpAggregate).collect())
}

/// The series for the area with id `area_id`.
pub async fn series_of(ctx: &Context<'_>, area_id: i64, s: &Selection) -> Result<Vec<IdpAggregate>> {
    let loader = ctx.data::<DataLoader<SubtreeIdpsLoader>>()?;
    let tree = loader.load_one((area_id, s.clone())).await.map_err(shared)?.unwrap_or_default();
    Ok(tree.series(s).into_iter().map(IdpAggregate).collect())
}

/// Shares for `area`: each operation's total against the area's population.
pub async fn shares_of(ctx: &Context<'_>, area: &store::models::AdminArea, s: &Selection) -> Result<Vec<IdpShare>> {
    let totals = totals_of(ctx, area.id, s).await?;
    let population_rows =
        ctx.data::<DataLoader<AreaPopulationLoader>>()?.load_one(area.id).await.map_err(shared)?.unwrap_or_default();
    let aliases =
        ctx.data::<DataLoader<AreaAliasesLoader>>()?.load_one(area.id).await.map_err(shared)?.unwrap_or_default();
    let recoded = aliases.iter().any(|a| a.kind == "old_code");
    Ok(totals
        .into_iter()
        .map(|IdpAggregate(idps)| {
            let population = PopulationFigure::latest(population_rows.clone());
            let total = population.as_ref().and_then(PopulationFigure::total_people);
            let (share, reason) = match total {
                None => match aliases.iter().find(|a| a.relation != "same") {
                    Some(changed) => (
                        None,
                        Some(format!(
                            "the population figure for {} was published for other boundaries ({} {}: {})",
                            area.pcode,
                            changed.code.as_deref().unwrap_or("an older code"),
                            changed.relation.replace('_', " "),
                            changed.note.as_deref().unwrap_or("the territory changed")
                        )),
                    ),
                    None => (None, Some(format!("no population figure for {} ({})", area.name, area.pcode))),
                },
                Some(_) if recoded && idps.key.reporting_date < area.valid_from => (
                    None,
                    Some(format!(
                        "{} has had these boundaries only since {}; the IDP figure is from {}, when they differed",
                        area.pcode, area.valid_from, idps.key.reporting_date
                    )),
                ),
                Some(0) => (None, Some("the population figure is zero".into())),
                Some(people) => (Some(idps.individuals as f64 / people as f64), None),
            };
            IdpShare { idps, population, share, reason }
        })
        .collect())
}
