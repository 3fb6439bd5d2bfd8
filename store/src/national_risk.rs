//! National risk: the INFORM Risk index per country and edition year, with its class, its rank
//! among the countries INFORM scores and its three dimensions, as INFORM publishes them (never
//! recomputed: the index is a geometric mean of rounded dimensions, and INFORM's rounding is the
//! published figure).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::upsert::RunStamp;
use crate::{AnyConnection, StoreError};

// The theme's table, declared here (not in `schema.rs`) so that a theme stays in its own module.
diesel::table! {
    national_risk (id) {
        id -> BigInt,
        country_iso3 -> Text,
        year -> Integer,
        risk_score -> Double,
        risk_class -> Text,
        rank -> Integer,
        hazard_exposure -> Nullable<Double>,
        vulnerability -> Nullable<Double>,
        lack_of_coping_capacity -> Nullable<Double>,
        lack_of_reliability -> Nullable<Double>,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

/// A country's INFORM Risk figures for one edition, as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = national_risk)]
pub struct NationalRiskRow {
    pub id: i64,
    pub country_iso3: String,
    pub year: i32,
    pub risk_score: f64,
    pub risk_class: String,
    pub rank: i32,
    pub hazard_exposure: Option<f64>,
    pub vulnerability: Option<f64>,
    pub lack_of_coping_capacity: Option<f64>,
    pub lack_of_reliability: Option<f64>,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// A validated row of the index, keyed by (country, edition year); written with
/// [`crate::upsert::upsert`].
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = national_risk, treat_none_as_null = true)]
pub struct NationalRiskInput {
    pub country_iso3: String,
    /// The edition (`INFORM Risk 2024`), which INFORM publishes late in the year before.
    pub year: i32,
    /// The index, 0 (lowest) to 10.
    pub risk_score: f64,
    /// `Very Low`, `Low`, `Medium`, `High` or `Very High`.
    pub risk_class: String,
    /// 1 for the highest risk.
    pub rank: i32,
    pub hazard_exposure: Option<f64>,
    pub vulnerability: Option<f64>,
    pub lack_of_coping_capacity: Option<f64>,
    /// INFORM's own reliability measure of the country's figures (0 best, 10 worst).
    pub lack_of_reliability: Option<f64>,
    pub resource_id: i64,
}

crate::keyed_table! {
    NationalRiskInput in national_risk,
    id: id: i64,
    key: (
        country_iso3: String,
        year: i32,
    ),
    scope: country_iso3: String,
    stamp: |s: RunStamp| (national_risk::run_id.eq(s.run_id), national_risk::retrieved_at.eq(s.retrieved_at)),
}

/// A country's figures, the latest edition first (or only `year`'s).
pub fn risk_of_country(
    conn: &mut AnyConnection,
    iso3: &str,
    year: Option<i32>,
) -> Result<Vec<NationalRiskRow>, StoreError> {
    let mut query = national_risk::table.filter(national_risk::country_iso3.eq(iso3.to_string())).into_boxed();
    if let Some(year) = year {
        query = query.filter(national_risk::year.eq(year));
    }
    Ok(query.order(national_risk::year.desc()).select(NationalRiskRow::as_select()).load(conn)?)
}

/// How many country-editions the store holds (for the sources' status).
pub fn count_national_risk(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(national_risk::table.count().get_result(conn)?)
}

crate::bi::bi_entity! {
    /// One row per country and INFORM Risk edition: the index (0-10), its class, its rank and its three
    /// dimensions as INFORM publishes them. Ranks compare countries within one edition only.
    pub struct BiNationalRisk as NATIONAL_RISK_BI {
        view: "bi_national_risk",
        export: "national_risk",
        from: "national_risk n\nJOIN countries c ON c.iso3 = n.country_iso3\nJOIN resources r ON r.id = n.resource_id\n\
               JOIN datasets d ON d.id = r.dataset_id",
        order: ["country_iso3", "year"],
        period: "year",
        filters: [
            Filter::new("country", "country_iso3", Countries),
            Filter::new("year", "year", EqualsNumber),
        ],
        columns: {
            country_iso3: Text = "n.country_iso3", "#country+code", "ISO 3166-1 alpha-3 code of the country.";
            country_name: Text = "c.name", "#country+name", "The country's name.";
            year: Integer = "n.year", "#date+year", "The INFORM Risk edition (published late in the year before).";
            risk_score: Double = "n.risk_score", "#risk+total", "The INFORM Risk index, 0 (lowest) to 10.";
            risk_class: Text = "n.risk_class", "#risk+class", "`Very Low`, `Low`, `Medium`, `High` or `Very High`.";
            rank: Integer = "n.rank", "#risk+rank", "The country's rank in the edition, 1 for the highest risk.";
            hazard_exposure: Nullable<Double> = "n.hazard_exposure", "#risk+hazard", "Hazard and exposure dimension (0-10).";
            vulnerability: Nullable<Double> = "n.vulnerability", "#risk+vulnerability", "Vulnerability dimension (0-10).";
            lack_of_coping_capacity: Nullable<Double> = "n.lack_of_coping_capacity", "#risk+coping_capacity", "Lack of coping capacity dimension (0-10).";
            lack_of_reliability: Nullable<Double> = "n.lack_of_reliability", "#risk+reliability", "INFORM's lack of reliability of the country's figures (0 best, 10 worst).";
            dataset: Text = "d.source_key", "#meta+dataset+id", crate::bi::provenance::DATASET;
            dataset_title: Text = "d.title", "#meta+dataset+title", crate::bi::provenance::DATASET_TITLE;
            licence: Text = "d.licence_title", "#meta+licence", crate::bi::provenance::LICENCE;
            licence_url: Nullable<Text> = "d.licence_url", "#meta+licence+url", crate::bi::provenance::LICENCE_URL;
            credit: Text = "d.credit", "#meta+source", crate::bi::provenance::CREDIT;
            resource_url: Text = "r.url", "#meta+url", crate::bi::provenance::RESOURCE_URL;
            ingest_run_id: BigInt = "n.run_id", "#meta+run+id", crate::bi::provenance::INGEST_RUN_ID;
            retrieved_at: Timestamp = "n.retrieved_at", "#date+retrieved", crate::bi::provenance::RETRIEVED_AT;
        }
    }
}
