//! Conflict events (ACLED): `ConflictEventFigure`, its connection, and the theme's fields on
//! `Country` and `AdminArea` (an area's figures include those of every area inside it).
//!
//! The three event types are ACLED's own aggregates and overlap: civilian targeting events are also
//! political violence events. Never add them together.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, ErrorExtensions, ID, Object, Result};
use store::conflict_events::{ConflictEventFilter, ConflictEventRow, event_type};

use super::connection::Connection;
use super::{AdminArea, Provenance};
use crate::ApiError;
use crate::error::shared;
use crate::loaders::AreaLoader;
use crate::scalars::Date;

/// ACLED's event types (each from its own workbook).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ConflictEventType {
    /// Political violence: battles, violence against civilians, explosions/remote violence (with
    /// fatalities).
    PoliticalViolence,
    /// Events targeting civilians (also counted in political violence), with fatalities.
    CivilianTargeting,
    /// Demonstrations: protests and riots (ACLED gives no fatalities for them).
    Demonstration,
}

impl ConflictEventType {
    /// The stored code.
    fn code(self) -> &'static str {
        match self {
            ConflictEventType::PoliticalViolence => event_type::POLITICAL_VIOLENCE,
            ConflictEventType::CivilianTargeting => event_type::CIVILIAN_TARGETING,
            ConflictEventType::Demonstration => event_type::DEMONSTRATION,
        }
    }

    fn of(code: &str) -> Option<Self> {
        [Self::PoliticalViolence, Self::CivilianTargeting, Self::Demonstration].into_iter().find(|t| t.code() == code)
    }
}

/// One month's conflict events of one event type in one admin 2 area, as ACLED's aggregated
/// workbooks give them: the number of events and the reported fatalities.
pub struct ConflictEventFigure(pub ConflictEventRow);

impl ConflictEventFigure {
    /// Where the figure comes from; its reference date is the first day of its month.
    pub fn provenance(&self) -> Provenance {
        Provenance::new(self.0.resource_id, self.0.run_id, self.0.retrieved_at).dated(self.0.month)
    }
}

/// A page of conflict event figures, in the order they were written.
pub type ConflictEventFigureConnection = Connection<ConflictEventFigure>;

/// One month's conflict events of one event type in one admin 2 area, as ACLED's aggregated
/// workbooks give them: the number of events and the reported fatalities.
#[Object]
impl ConflictEventFigure {
    /// Global id (for `node(id:)` and client caches): `ConflictEventFigure:<key>`.
    pub async fn id(&self) -> ID {
        ID(format!("ConflictEventFigure:{}", self.0.id))
    }
    /// Where the figure comes from: dataset (ACLED's, licence "Other": ACLED's terms of use), credit,
    /// resource and its URL, ingest run, reference date (the first day of the month) and when it was read.
    #[graphql(name = "provenance")]
    async fn provenance_field(&self) -> Provenance {
        self.provenance()
    }
    /// The country the figure is for (ISO 3166-1 alpha-3).
    async fn country_iso3(&self) -> &str {
        &self.0.country_iso3
    }
    /// The admin level of the figure's area (2: ACLED's workbooks are by admin 2 area).
    async fn admin_level(&self) -> i32 {
        self.0.admin_level
    }
    /// The area the figure is for; when `areaMatched` is false, the nearest enclosing area known (null
    /// when none is).
    async fn area(&self, ctx: &Context<'_>) -> Result<Option<AdminArea>> {
        let Some(id) = self.0.area_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<AreaLoader>>()?;
        Ok(loader.load_one(id).await.map_err(shared)?.map(AdminArea::of))
    }
    /// Whether ACLED's p-code matched one of our areas (after p-code normalisation).
    async fn area_matched(&self) -> bool {
        self.0.area_matched
    }
    /// The admin 2 p-code exactly as ACLED gives it.
    async fn source_pcode(&self) -> &str {
        &self.0.source_pcode
    }
    /// The admin 1 p-code exactly as ACLED gives it.
    async fn source_admin1_pcode(&self) -> &str {
        &self.0.source_admin1_pcode
    }
    /// The admin 2 name as ACLED gives it.
    async fn source_name(&self) -> &str {
        &self.0.source_admin2_name
    }
    /// The first day of the month the figure is for.
    async fn month(&self) -> Date {
        self.0.month.into()
    }
    /// The event type (civilian targeting events are also political violence events).
    async fn event_type(&self) -> Result<ConflictEventType> {
        ConflictEventType::of(&self.0.event_type)
            .ok_or_else(|| async_graphql::Error::new(format!("unknown stored event type {:?}", self.0.event_type)))
    }
    /// The number of events in the month (0: none reported).
    async fn events(&self) -> i64 {
        self.0.events
    }
    /// The fatalities reported for those events; null for demonstrations (ACLED gives none).
    async fn fatalities(&self) -> Option<i64> {
        self.0.fatalities
    }
}

/// The name conflict event lists' cursors carry.
const LIST: &str = "conflictEvents";

/// One page of the figures matching `filter` (and, with `within`, of that area and every area inside
/// it), after the cursor `after` (keyset on the row id).
async fn conflict_page(
    ctx: &Context<'_>,
    filter: ConflictEventFilter,
    within: Option<String>,
    after: Option<String>,
    first: Option<i32>,
) -> Result<ConflictEventFigureConnection> {
    super::connection::figure_page::<store::conflict_events::ConflictEvents, _>(ctx, LIST, filter, within, after, first, ConflictEventFigure).await
}

// --- the theme's fields on `Country` and `AdminArea` ---

/// The theme's GraphQL (one line in the `themes!` list of `api/src/types/mod.rs`).
pub struct Theme;

impl crate::themes::Theme for Theme {
    type CountryFields = CountryConflictEvents;
    type AreaFields = AreaConflictEvents;
    type QueryFields = crate::themes::NoFields;

    fn loaders(request: async_graphql::Request, _snapshot: &store::ReadSnapshot) -> async_graphql::Request {
        request
    }
}

crate::themes::part!(
    /// A country's conflict events (ACLED).
    CountryConflictEvents: Country
);

/// A country's conflict events (ACLED).
#[Object]
impl CountryConflictEvents {
    /// The country's conflict event figures (ACLED): per month, admin 2 area and event type, the events
    /// and fatalities. Months without events are figures with 0 events. Never add event types together
    /// (civilian targeting events are also political violence events).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::pagination::page_cost(first, None, child_complexity)")]
    async fn conflict_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only figures at this admin level (ACLED's are all at 2).")] admin_level: Option<i32>,
        #[graphql(desc = "Only figures of this area and every area inside it (its p-code, e.g. `ML05`).")]
        pcode: Option<String>,
        #[graphql(desc = "Months from this day on (the month containing it included).")] from: Option<Date>,
        #[graphql(desc = "Months starting on or before this day.")] to: Option<Date>,
        #[graphql(desc = "Only this event type.")] event_type: Option<ConflictEventType>,
        #[graphql(desc = "The first this many figures (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Figures after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<ConflictEventFigureConnection> {
        if admin_level.is_some_and(|l| !(0..=5).contains(&l)) {
            return Err(ApiError::BadUserInput("`adminLevel` must be between 0 and 5".into()).extend());
        }
        let filter = ConflictEventFilter {
            country_iso3: Some(self.0.iso3.clone()),
            admin_level,
            from: from.map(|d| d.0),
            to: to.map(|d| d.0),
            event_type: event_type.map(|t| t.code().to_string()),
            ..ConflictEventFilter::default()
        };
        conflict_page(ctx, filter, pcode.map(|p| p.trim().to_uppercase()), after, first).await
    }
}

crate::themes::part!(
    /// An area's conflict events (ACLED), its own and those of every area inside it.
    AreaConflictEvents: AdminArea
);

/// An area's conflict events (ACLED), its own and those of every area inside it.
#[Object]
impl AreaConflictEvents {
    /// Conflict event figures (ACLED) of this area and every area inside it: per month, admin 2 area and
    /// event type. Never add event types together (civilian targeting events are also political
    /// violence events).
    #[graphql(complexity = "crate::pagination::page_cost(first, None, child_complexity)")]
    async fn conflict_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Months from this day on (the month containing it included).")] from: Option<Date>,
        #[graphql(desc = "Months starting on or before this day.")] to: Option<Date>,
        #[graphql(desc = "Only this event type.")] event_type: Option<ConflictEventType>,
        #[graphql(desc = "The first this many figures (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Figures after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<ConflictEventFigureConnection> {
        let filter = ConflictEventFilter {
            from: from.map(|d| d.0),
            to: to.map(|d| d.0),
            event_type: event_type.map(|t| t.code().to_string()),
            ..ConflictEventFilter::default()
        };
        conflict_page(ctx, filter, Some(self.0.pcode.clone()), after, first).await
    }
}

impl super::node::GlobalId for ConflictEventFigure {
    type Key = i64;
    fn parse_key(key: &str) -> Option<i64> {
        super::node::number(key)
    }
    fn load(c: &mut store::AnyConnection, id: i64) -> Result<Option<Self>, store::StoreError> {
        Ok(store::conflict_events::conflict_events_by_ids(c, &[id])?.into_iter().next().map(ConflictEventFigure))
    }
}
