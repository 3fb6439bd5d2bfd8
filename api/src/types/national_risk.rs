//! National risk: the INFORM Risk index of a country (`Country.nationalRisk`), as INFORM publishes it.

use async_graphql::{Context, Object, Result};
use chrono::NaiveDate;
use store::national_risk::NationalRiskRow;

use super::Provenance;
use crate::error::IntoGraphql;

/// A country's INFORM Risk index for one edition: the score (0-10), its class, the country's rank and
/// the three dimensions the score combines, as INFORM (EC JRC) publishes them.
pub struct NationalRisk(pub NationalRiskRow);

impl NationalRisk {
    /// Where the figures come from; their reference date is the start of the edition's year.
    pub fn provenance(&self) -> Provenance {
        Provenance::new(self.0.resource_id, self.0.run_id, self.0.retrieved_at)
            .dated(NaiveDate::from_ymd_opt(self.0.year, 1, 1))
    }
}

/// A country's INFORM Risk index for one edition: the score (0-10), its class, the country's rank and
/// the three dimensions the score combines, as INFORM (EC JRC) publishes them.
#[Object]
impl NationalRisk {
    /// Where the figures come from: dataset, licence, credit, resource and its URL, ingest run, reference
    /// date (the start of the edition's year) and when they were read.
    #[graphql(name = "provenance")]
    async fn provenance_field(&self) -> Provenance {
        self.provenance()
    }
    /// The edition (`INFORM Risk 2024`, published late in 2023).
    async fn year(&self) -> i32 {
        self.0.year
    }
    /// The INFORM Risk index, 0 (lowest) to 10.
    async fn risk_score(&self) -> f64 {
        self.0.risk_score
    }
    /// `Very Low`, `Low`, `Medium`, `High` or `Very High`.
    async fn risk_class(&self) -> &str {
        &self.0.risk_class
    }
    /// The country's rank in the edition, 1 for the highest risk (ranks compare within one edition only).
    async fn rank(&self) -> i32 {
        self.0.rank
    }
    /// Hazard and exposure (0-10): natural and human hazards the country is exposed to.
    async fn hazard_exposure(&self) -> Option<f64> {
        self.0.hazard_exposure
    }
    /// Vulnerability (0-10): socio-economic vulnerability and vulnerable groups.
    async fn vulnerability(&self) -> Option<f64> {
        self.0.vulnerability
    }
    /// Lack of coping capacity (0-10): institutional and infrastructure.
    async fn lack_of_coping_capacity(&self) -> Option<f64> {
        self.0.lack_of_coping_capacity
    }
    /// INFORM's lack of reliability of the country's figures (0 best, 10 worst), where given.
    async fn lack_of_reliability(&self) -> Option<f64> {
        self.0.lack_of_reliability
    }
}

// --- the theme's field on `Country` ---

/// The theme's GraphQL (one line in the `themes!` list of `api/src/types/mod.rs`).
pub struct Theme;

impl crate::themes::Theme for Theme {
    type CountryFields = CountryNationalRisk;
    type AreaFields = crate::themes::NoFields;
    type QueryFields = crate::themes::NoFields;
}

/// A country's national risk (INFORM).
pub struct CountryNationalRisk(super::country::CountryRef);

impl crate::themes::Part<store::models::Country> for CountryNationalRisk {
    fn of(row: &std::sync::Arc<store::models::Country>) -> Self {
        CountryNationalRisk(row.clone())
    }
}

/// A country's national risk (INFORM).
#[Object]
impl CountryNationalRisk {
    /// The country's INFORM Risk index: of the edition `year`, or the latest one held. Null when none is.
    async fn national_risk(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The edition (e.g. 2024); default the latest held.")] year: Option<i32>,
    ) -> Result<Option<NationalRisk>> {
        let iso3 = self.0.iso3.clone();
        let reads = crate::read::snapshot(ctx)?.clone();
        let rows = reads.run(move |c| store::national_risk::risk_of_country(c, &iso3, year)).await.gql()?;
        Ok(rows.into_iter().next().map(NationalRisk))
    }
}
