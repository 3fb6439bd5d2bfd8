//! Funding appeals (FTS plans): the plan, each country's share, per-cluster figures, and the funding
//! a country received outside any appeal. Percent funded is never stored: it is computed from the
//! two amounts when read.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{appeal_clusters, appeal_countries, appeals, funding_outside_appeals};
use crate::upsert::{RunStamp, ids_of, upsert};
use crate::{AnyConnection, StoreError, WriteCounts};

/// An appeal as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = appeals)]
pub struct AppealRow {
    pub id: i64,
    pub code: String,
    pub fts_id: Option<i64>,
    pub name: String,
    pub appeal_type: Option<String>,
    pub year: i32,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub requirements_usd: Option<i64>,
    pub funding_usd: Option<i64>,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// One country's share of an appeal as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = appeal_countries)]
pub struct AppealCountryRow {
    pub id: i64,
    pub appeal_id: i64,
    pub country_iso3: String,
    pub requirements_usd: Option<i64>,
    pub funding_usd: Option<i64>,
}

/// One cluster's figures within an appeal as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = appeal_clusters)]
pub struct AppealClusterRow {
    pub id: i64,
    pub appeal_id: i64,
    pub cluster: String,
    pub requirements_usd: Option<i64>,
    pub funding_usd: Option<i64>,
    /// The FTS API resource the figures come from.
    pub resource_id: Option<i64>,
    pub run_id: Option<i64>,
}

/// Funding outside any appeal as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = funding_outside_appeals)]
pub struct OutsideFundingRow {
    pub id: i64,
    pub country_iso3: String,
    pub year: i32,
    pub funding_usd: i64,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// An appeal from a source, with the share of the country being ingested.
#[derive(Debug, Clone, PartialEq)]
pub struct AppealInput {
    pub code: String,
    pub fts_id: Option<i64>,
    pub name: String,
    pub appeal_type: Option<String>,
    pub year: i32,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    /// The whole plan's amounts (for a multi-country plan, the sum of every country's share).
    pub requirements_usd: Option<i64>,
    pub funding_usd: Option<i64>,
    pub country_iso3: String,
    pub country_requirements_usd: Option<i64>,
    pub country_funding_usd: Option<i64>,
    pub resource_id: i64,
}

/// Per-cluster figures of one appeal (code, year).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterInput {
    pub cluster: String,
    pub requirements_usd: Option<i64>,
    pub funding_usd: Option<i64>,
}

/// Funding of one country and year outside any appeal, keyed by (country, year); written with
/// [`crate::upsert::upsert`].
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = funding_outside_appeals, treat_none_as_null = true)]
pub struct OutsideFundingInput {
    pub country_iso3: String,
    pub year: i32,
    pub funding_usd: i64,
    pub resource_id: i64,
}

crate::keyed_table! {
    OutsideFundingInput in funding_outside_appeals,
    id: id: i64,
    key: (country_iso3: String, year: i32),
    scope: country_iso3: String,
    stamp: |s: RunStamp| (
        funding_outside_appeals::run_id.eq(s.run_id),
        funding_outside_appeals::retrieved_at.eq(s.retrieved_at),
    ),
}

/// An appeal as written, keyed by (code, year).
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = appeals, treat_none_as_null = true)]
struct NewAppeal {
    code: String,
    fts_id: Option<i64>,
    name: String,
    appeal_type: Option<String>,
    year: i32,
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    requirements_usd: Option<i64>,
    funding_usd: Option<i64>,
    resource_id: i64,
}

crate::keyed_table! {
    NewAppeal in appeals,
    id: id: i64,
    key: (code: String, year: i32),
    scope: code: String,
    stamp: |s: RunStamp| (appeals::run_id.eq(s.run_id), appeals::retrieved_at.eq(s.retrieved_at)),
}

/// A country's share of an appeal as written, keyed by (appeal, country).
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = appeal_countries, treat_none_as_null = true)]
struct NewAppealShare {
    appeal_id: i64,
    country_iso3: String,
    requirements_usd: Option<i64>,
    funding_usd: Option<i64>,
}

crate::keyed_table! {
    NewAppealShare in appeal_countries,
    id: id: i64,
    key: (appeal_id: i64, country_iso3: String),
    scope: appeal_id: i64,
    stamp: none,
}

/// A cluster's figures within an appeal as written, keyed by (appeal, cluster name); stamped with
/// the run only.
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = appeal_clusters, treat_none_as_null = true)]
struct NewAppealCluster {
    appeal_id: i64,
    cluster: String,
    requirements_usd: Option<i64>,
    funding_usd: Option<i64>,
    resource_id: Option<i64>,
}

crate::keyed_table! {
    NewAppealCluster in appeal_clusters,
    id: id: i64,
    key: (appeal_id: i64, cluster: String),
    scope: appeal_id: i64,
    stamp: |run_id: i64| appeal_clusters::run_id.eq(Some(*run_id)),
}

/// Writes appeals and the country's share, keyed by (code, year) and (appeal, country).
/// Returns the counts and the stored appeal id of every input, in order.
pub fn upsert_appeals(
    conn: &mut AnyConnection,
    stamp: &RunStamp,
    rows: &[AppealInput],
) -> Result<(WriteCounts, Vec<i64>), StoreError> {
    let appeals: Vec<NewAppeal> = rows
        .iter()
        .map(|row| NewAppeal {
            code: row.code.clone(),
            fts_id: row.fts_id,
            name: row.name.clone(),
            appeal_type: row.appeal_type.clone(),
            year: row.year,
            start_date: row.start_date,
            end_date: row.end_date,
            requirements_usd: row.requirements_usd,
            funding_usd: row.funding_usd,
            resource_id: row.resource_id,
        })
        .collect();
    let mut counts = upsert(conn, &appeals, stamp)?;
    let ids = ids_of(conn, &appeals)?;
    let shares: Vec<NewAppealShare> = rows
        .iter()
        .zip(&ids)
        .map(|(row, appeal_id)| NewAppealShare {
            appeal_id: *appeal_id,
            country_iso3: row.country_iso3.clone(),
            requirements_usd: row.country_requirements_usd,
            funding_usd: row.country_funding_usd,
        })
        .collect();
    counts += upsert(conn, &shares, &())?;
    Ok((counts, ids))
}

/// Writes the clusters given for one appeal, keyed by name (deletes nothing); `resource_id` is the
/// FTS API resource they come from.
pub fn upsert_clusters(
    conn: &mut AnyConnection,
    run_id: i64,
    resource_id: i64,
    appeal_id: i64,
    rows: &[ClusterInput],
) -> Result<WriteCounts, StoreError> {
    let clusters: Vec<NewAppealCluster> = rows
        .iter()
        .map(|row| NewAppealCluster {
            appeal_id,
            cluster: row.cluster.clone(),
            requirements_usd: row.requirements_usd,
            funding_usd: row.funding_usd,
            resource_id: Some(resource_id),
        })
        .collect();
    upsert(conn, &clusters, &run_id)
}

/// (country, appeal) for the appeals some countries have a share of, optionally of one year,
/// newest first (then by code).
pub fn appeals_of_countries(
    conn: &mut AnyConnection,
    iso3s: &[String],
    year: Option<i32>,
) -> Result<Vec<(String, AppealRow)>, StoreError> {
    let mut query = appeals::table
        .inner_join(appeal_countries::table)
        .filter(appeal_countries::country_iso3.eq_any(iso3s.to_vec()))
        .select((appeal_countries::country_iso3, AppealRow::as_select()))
        .into_boxed();
    if let Some(year) = year {
        query = query.filter(appeals::year.eq(year));
    }
    Ok(query.order((appeals::year.desc(), appeals::code.asc())).load(conn)?)
}

/// Appeals by id.
pub fn appeals_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<AppealRow>, StoreError> {
    Ok(appeals::table.filter(appeals::id.eq_any(ids)).select(AppealRow::as_select()).load(conn)?)
}

/// The country shares of some appeals.
pub fn shares_of_appeals(conn: &mut AnyConnection, appeal_ids: &[i64]) -> Result<Vec<AppealCountryRow>, StoreError> {
    Ok(appeal_countries::table
        .filter(appeal_countries::appeal_id.eq_any(appeal_ids))
        .order((appeal_countries::appeal_id, appeal_countries::country_iso3))
        .select(AppealCountryRow::as_select())
        .load(conn)?)
}

/// The clusters of some appeals, by name.
pub fn clusters_of_appeals(conn: &mut AnyConnection, appeal_ids: &[i64]) -> Result<Vec<AppealClusterRow>, StoreError> {
    Ok(appeal_clusters::table
        .filter(appeal_clusters::appeal_id.eq_any(appeal_ids))
        .order((appeal_clusters::appeal_id, appeal_clusters::cluster))
        .select(AppealClusterRow::as_select())
        .load(conn)?)
}

/// A country's funding outside appeals, optionally of one year, newest first.
pub fn outside_funding_of_country(
    conn: &mut AnyConnection,
    iso3: &str,
    year: Option<i32>,
) -> Result<Vec<OutsideFundingRow>, StoreError> {
    let mut query = funding_outside_appeals::table
        .filter(funding_outside_appeals::country_iso3.eq(iso3.to_string()))
        .select(OutsideFundingRow::as_select())
        .into_boxed();
    if let Some(year) = year {
        query = query.filter(funding_outside_appeals::year.eq(year));
    }
    Ok(query.order(funding_outside_appeals::year.desc()).load(conn)?)
}

/// Percent funded, computed from the two amounts (rounded to one decimal); none without a positive
/// requirement. May exceed 100.
pub fn percent_funded(requirements: Option<i64>, funding: Option<i64>) -> Option<f64> {
    let required = requirements.filter(|r| *r > 0)?;
    let funded = funding.unwrap_or(0);
    Some((funded as f64 * 1000.0 / required as f64).round() / 10.0)
}

/// How many appeals the store holds.
pub fn count_appeals(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(appeals::table.count().get_result(conn)?)
}

#[cfg(test)]
mod tests {
    use super::percent_funded;

    #[test]
    fn percent_is_computed_not_trusted() {
        assert_eq!(percent_funded(Some(563_286_869), Some(228_381_821)), Some(40.5));
        assert_eq!(percent_funded(Some(4_408_765), Some(12_924_466)), Some(293.2));
        assert_eq!(percent_funded(Some(0), Some(5)), None);
        assert_eq!(percent_funded(None, Some(5)), None);
        assert_eq!(percent_funded(Some(10), None), Some(0.0));
    }
}

crate::bi::bi_entity! {
    /// One row per appeal and country (the country's share of a multi-country appeal); `percent_funded`
    /// is computed from the two amounts, and `plan_*` are the whole appeal's.
    pub struct BiAppeal as APPEALS_BI {
        view: "bi_appeals",
        export: "appeals",
        from: "appeal_countries ac\nJOIN appeals ap ON ap.id = ac.appeal_id\nJOIN countries c ON c.iso3 = ac.country_iso3\n\
               JOIN resources r ON r.id = ap.resource_id\nJOIN datasets d ON d.id = r.dataset_id",
        view_appended: ["licence_url"],
        order: ["country_iso3", "year DESC", "appeal_code"],
        period: "year",
        filters: [
            Filter::new("country", "country_iso3", Countries),
            Filter::new("year", "year", EqualsNumber),
        ],
        columns: {
            country_iso3: Text = "ac.country_iso3", "#country+code", "ISO 3166-1 alpha-3 code of the country.";
            country_name: Text = "c.name", "#country+name", "The country's name.";
            appeal_code: Text = "ap.code", "#activity+appeal+id+external", "The appeal's code (e.g. `HMLI21`).";
            fts_id: Nullable<BigInt> = "ap.fts_id", "#activity+appeal+id+fts_internal", "FTS's own id of the plan.";
            appeal_name: Text = "ap.name", "#activity+appeal+name", "The appeal's name.";
            appeal_type: Nullable<Text> = "ap.appeal_type", "#activity+appeal+type+name", "The kind of appeal (humanitarian response plan, flash appeal, ...).";
            year: Integer = "ap.year", "#date+year", "The appeal's year.";
            start_date: Nullable<Date> = "ap.start_date", "#date+start", "When the appeal starts.";
            end_date: Nullable<Date> = "ap.end_date", "#date+end", "When it ends.";
            requirements_usd: Nullable<BigInt> = "ac.requirements_usd", "#value+funding+required+usd", "What the country's share requires, in US dollars.";
            funding_usd: Nullable<BigInt> = "ac.funding_usd", "#value+funding+total+usd", "Funding received for the country's share, in US dollars.";
            percent_funded: Nullable<Double> =
                "CASE WHEN ac.requirements_usd > 0 THEN CAST(ROUND(CAST(ac.funding_usd AS NUMERIC) * 100 / ac.requirements_usd, 1) AS DOUBLE PRECISION) END"
                | sqlite "CASE WHEN ac.requirements_usd > 0 THEN ROUND(CAST(ac.funding_usd AS REAL) * 100 / ac.requirements_usd, 1) END",
                "#value+funding+pct", "Funding over requirements, in percent with one decimal.";
            plan_requirements_usd: Nullable<BigInt> = "ap.requirements_usd", "#value+funding+required+usd+plan", "What the whole appeal requires, in US dollars.";
            plan_funding_usd: Nullable<BigInt> = "ap.funding_usd", "#value+funding+total+usd+plan", "Funding received for the whole appeal, in US dollars.";
            dataset: Text = "d.source_key", "#meta+dataset+id", crate::bi::provenance::DATASET;
            dataset_title: Text = "d.title", "#meta+dataset+title", crate::bi::provenance::DATASET_TITLE;
            licence: Text = "d.licence_title", "#meta+licence", crate::bi::provenance::LICENCE;
            licence_url: Nullable<Text> = "d.licence_url", "#meta+licence+url", crate::bi::provenance::LICENCE_URL;
            credit: Text = "d.credit", "#meta+source", crate::bi::provenance::CREDIT;
            resource_url: Text = "r.url", "#meta+url", crate::bi::provenance::RESOURCE_URL;
            ingest_run_id: BigInt = "ap.run_id", "#meta+run+id", crate::bi::provenance::INGEST_RUN_ID;
            retrieved_at: Timestamp = "ap.retrieved_at", "#date+retrieved", crate::bi::provenance::RETRIEVED_AT;
        }
    }
}
