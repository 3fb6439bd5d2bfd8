//! Refugees and returnees (UNHCR): the `RefugeeFigure` rows, their connection, and the theme's
//! fields on `Country` (hosted there, abroad from there, returned there).

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result};
use store::refugees::{ALL, RETURN_TYPES, RefugeeFilter, RefugeeRow};

use super::connection::Connection;
use super::{Country, Provenance};
use async_graphql::ErrorExtensions;

use crate::ApiError;
use crate::error::shared;
use crate::loaders::CountryLoader;
use crate::scalars::Date;

/// One UNHCR population figure: people of a population type from a country of origin in a country
/// of asylum, at a date, for a sex and age band where the file splits them.
pub struct RefugeeFigure(pub RefugeeRow);

/// A page of UNHCR population figures, in the order they were read.
pub type RefugeeFigureConnection = Connection<RefugeeFigure>;

async fn country(ctx: &Context<'_>, iso3: &str) -> Result<Option<Country>> {
    if iso3.is_empty() {
        return Ok(None);
    }
    let loader = ctx.data::<DataLoader<CountryLoader>>()?;
    Ok(loader.load_one(iso3.to_string()).await.map_err(shared)?.map(Country::of))
}

/// One UNHCR population figure: people of a population type from a country of origin in a country
/// of asylum, at a date, for a sex and age band where the file splits them.
#[Object]
impl RefugeeFigure {
    /// Where the figure comes from: dataset, licence, credit, resource and its URL, ingest run, reference
    /// date and when it was read.
    async fn provenance(&self) -> Provenance {
        Provenance::new(self.0.resource_id, self.0.run_id, self.0.retrieved_at).dated(Some(self.0.reference_date))
    }
    /// The country of asylum (for a return: the country people returned from). Null for a code that is
    /// no country (`UKN`).
    async fn asylum(&self, ctx: &Context<'_>) -> Result<Option<Country>> {
        country(ctx, &self.0.asylum_iso3).await
    }
    /// The country of origin. Null for a code that is no country (`UKN` unknown, `STA` stateless) or a
    /// group of origins (see `originCode`, `location`).
    async fn origin(&self, ctx: &Context<'_>) -> Result<Option<Country>> {
        country(ctx, &self.0.origin_iso3).await
    }
    /// The country of asylum's code as UNHCR gives it.
    async fn asylum_code(&self) -> &str {
        &self.0.asylum_iso3
    }
    /// The country of origin's code as UNHCR gives it (empty for a group of origins without one).
    async fn origin_code(&self) -> &str {
        &self.0.origin_iso3
    }
    /// The year the figure is for.
    async fn year(&self) -> i32 {
        self.0.year
    }
    /// The day the figure is for: 31 December for the yearly publications, the month's date for
    /// situations.
    async fn reference_date(&self) -> Date {
        Date(self.0.reference_date)
    }
    /// UNHCR's population type: `REF` refugees, `ASY` asylum-seekers, `IDP`, `OOC` others of concern,
    /// `STA` stateless, `OIP` others in need of international protection, `RET` returned refugees,
    /// `RDP` returned IDPs, `RST` resettled, `NAT` naturalised.
    async fn population_type(&self) -> &str {
        &self.0.population_type
    }
    /// Which UNHCR publication: `totals` (end-year), `demographics` (by sex and age), `solutions`
    /// (returns, resettlement, naturalisation) or `situations` (monthly). Publications count the same
    /// people: never add figures of two publications.
    async fn publication(&self) -> &str {
        &self.0.publication
    }
    /// `all`, `f` or `m`.
    async fn gender(&self) -> &str {
        &self.0.gender
    }
    /// `all`, or an age band (`0-4`, `5-11`, `12-17`, `18-59`, `60+`, `unknown`).
    async fn age_range(&self) -> &str {
        &self.0.age_range
    }
    /// The demographics file's location, urban/rural and accommodation (joined with `; `), or for a
    /// situations group of origins without a code, `origin: ` and its name. Empty otherwise.
    async fn location(&self) -> &str {
        &self.0.location
    }
    /// The number of people.
    async fn population(&self) -> i64 {
        self.0.population
    }
}

const LIST: &str = "refugees";

/// One page of the figures matching `filter`, after the cursor `after` (keyset on the row id).
async fn page(
    ctx: &Context<'_>,
    filter: RefugeeFilter,
    after: Option<String>,
    first: Option<i32>,
) -> Result<RefugeeFigureConnection> {
    super::connection::figure_page::<store::refugees::RefugeeFigures, _>(ctx, LIST, filter, None, after, first, RefugeeFigure)
        .await
}


/// The sex and age rows asked for: `all` (the default: everyone, so that figures add up without
/// counting anyone twice), one value, or `*` (every row: the totals and their breakdown).
fn breakdown(value: Option<String>, argument: &str, allowed: &[&str]) -> Result<Option<String>> {
    let value = value.map(|v| v.trim().to_lowercase());
    match value.as_deref() {
        None => Ok(Some(ALL.into())),
        Some("*") => Ok(None),
        Some(v) if !v.is_empty() && (allowed.is_empty() || allowed.contains(&v)) => Ok(Some(v.to_string())),
        Some(v) => Err(ApiError::BadUserInput(if allowed.is_empty() {
            format!("`{argument}` must be an age band (`0-4`, `60+`...), `all` or `*`, not {v:?}")
        } else {
            format!("`{argument}` must be one of {}, or `*`, not {v:?}", allowed.join(", "))
        })
        .extend()),
    }
}

/// The figures of `gender` and `age_range` (everyone by default, see [`breakdown`]) of `publication`,
/// or of every publication.
fn whole(publication: Option<String>, gender: Option<String>, age_range: Option<String>) -> Result<RefugeeFilter> {
    Ok(RefugeeFilter {
        gender: breakdown(gender, "gender", &[ALL, "f", "m"])?,
        age_range: breakdown(age_range, "ageRange", &[])?,
        publication,
        ..RefugeeFilter::default()
    })
}

// --- the theme's fields on `Country` ---

/// The theme's GraphQL (one line in the `themes!` list of `api/src/types/mod.rs`).
pub struct Theme;

impl crate::themes::Theme for Theme {
    type CountryFields = CountryRefugees;
    type AreaFields = crate::themes::NoFields;
    type QueryFields = crate::themes::NoFields;
}

/// A country's refugees, refugees abroad and returnees (UNHCR).
pub struct CountryRefugees(super::country::CountryRef);

impl crate::themes::Part<store::models::Country> for CountryRefugees {
    fn of(row: &std::sync::Arc<store::models::Country>) -> Self {
        CountryRefugees(row.clone())
    }
}

/// A country's refugees, refugees abroad and returnees (UNHCR).
#[Object]
impl CountryRefugees {
    /// People of concern to UNHCR hosted in this country (it is the country of asylum), every publication
    /// unless one is asked for. Everyone (sex and age `all`) unless `gender` or `ageRange` asks for the
    /// demographics publication's split. Never add figures of two publications: they count the same people.
    #[allow(clippy::too_many_arguments)]
    async fn refugees(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this year.")] year: Option<i32>,
        #[graphql(desc = "Only people from this country of origin (ISO3 code).")] origin: Option<String>,
        #[graphql(desc = "Only this population type (`REF`, `ASY`, `IDP`, `OOC`, `STA`, `OIP`...).")]
        population_type: Option<String>,
        #[graphql(desc = "Only this publication: `totals`, `demographics`, `solutions`, `situations`.")]
        publication: Option<String>,
        #[graphql(
            desc = "Sex: `all` (the default: everyone, so that figures add up without counting anyone twice), `f`, \
                    `m`, or `*` for every row (totals and their split). Only the demographics publication splits by sex."
        )]
        gender: Option<String>,
        #[graphql(
            desc = "Age band: `all` (the default: every age), `0-4`, `5-11`, `12-17`, `18-59`, `60+`, `unknown`, or `*` \
                    for every row. Only the demographics publication splits by age, per sex: ask for `gender` `f` or \
                    `m` with an age band."
        )]
        age_range: Option<String>,
        #[graphql(desc = "The first this many figures (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Figures after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<RefugeeFigureConnection> {
        let filter = RefugeeFilter {
            asylum_iso3: Some(self.0.iso3.clone()),
            origin_iso3: origin.map(|o| o.trim().to_uppercase()),
            year,
            population_types: population_type.map(|t| vec![t.trim().to_uppercase()]),
            ..whole(publication, gender, age_range)?
        };
        page(ctx, filter, after, first).await
    }
    /// People from this country (it is the country of origin) hosted in other countries (refugees,
    /// asylum-seekers, others in need of international protection, stateless, others of concern), for
    /// everyone unless `gender` or `ageRange` asks for a split.
    #[allow(clippy::too_many_arguments)]
    async fn refugees_abroad(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this year.")] year: Option<i32>,
        #[graphql(desc = "Only in this country of asylum (ISO3 code).")] asylum: Option<String>,
        #[graphql(desc = "Only this population type (`REF`, `ASY`...).")] population_type: Option<String>,
        #[graphql(desc = "Only this publication: `totals`, `demographics`, `solutions`, `situations`.")]
        publication: Option<String>,
        #[graphql(
            desc = "Sex: `all` (the default: everyone, so that figures add up without counting anyone twice), `f`, \
                    `m`, or `*` for every row (totals and their split). Only the demographics publication splits by sex."
        )]
        gender: Option<String>,
        #[graphql(
            desc = "Age band: `all` (the default: every age), `0-4`, `5-11`, `12-17`, `18-59`, `60+`, `unknown`, or `*` \
                    for every row. Only the demographics publication splits by age, per sex: ask for `gender` `f` or \
                    `m` with an age band."
        )]
        age_range: Option<String>,
        #[graphql(desc = "The first this many figures (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Figures after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<RefugeeFigureConnection> {
        let iso3 = self.0.iso3.clone();
        let filter = RefugeeFilter {
            origin_iso3: Some(iso3),
            asylum_iso3: asylum.map(|a| a.trim().to_uppercase()),
            year,
            population_types: Some(
                population_type.map(|t| vec![t.trim().to_uppercase()]).unwrap_or_else(|| {
                    ["REF", "ASY", "OIP", "STA", "OOC"].map(String::from).to_vec()
                }),
            ),
            ..whole(publication, gender, age_range)?
        };
        page(ctx, filter, after, first).await
    }
    /// Refugees and IDPs who returned to this country (`RET`, `RDP`), for everyone unless `gender` or
    /// `ageRange` asks for a split: the demographics publication counts them where they returned
    /// (asylum = origin = this country), the solutions publication by the country they returned from.
    #[allow(clippy::too_many_arguments)]
    async fn returnees(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this year.")] year: Option<i32>,
        #[graphql(desc = "Only people returned from this country (ISO3 code; the solutions publication).")]
        from: Option<String>,
        #[graphql(desc = "Only this publication: `demographics` or `solutions`.")] publication: Option<String>,
        #[graphql(
            desc = "Sex: `all` (the default: everyone, so that figures add up without counting anyone twice), `f`, \
                    `m`, or `*` for every row (totals and their split). Only the demographics publication splits by sex."
        )]
        gender: Option<String>,
        #[graphql(
            desc = "Age band: `all` (the default: every age), `0-4`, `5-11`, `12-17`, `18-59`, `60+`, `unknown`, or `*` \
                    for every row. Only the demographics publication splits by age, per sex: ask for `gender` `f` or \
                    `m` with an age band."
        )]
        age_range: Option<String>,
        #[graphql(desc = "The first this many figures (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Figures after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<RefugeeFigureConnection> {
        let filter = RefugeeFilter {
            origin_iso3: Some(self.0.iso3.clone()),
            asylum_iso3: from.map(|f| f.trim().to_uppercase()),
            year,
            population_types: Some(RETURN_TYPES.map(String::from).to_vec()),
            ..whole(publication, gender, age_range)?
        };
        page(ctx, filter, after, first).await
    }
}
