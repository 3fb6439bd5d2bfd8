//! Funding appeals (FTS plans): the plan, each country's share, per-cluster figures, and the funding
//! a country received outside any appeal. Percent funded is never stored: it is computed from the
//! two amounts when read.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{appeal_clusters, appeal_countries, appeals, funding_outside_appeals};
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

/// Funding of one country and year outside any appeal.
#[derive(Debug, Clone, PartialEq)]
pub struct OutsideFundingInput {
    pub country_iso3: String,
    pub year: i32,
    pub funding_usd: i64,
    pub resource_id: i64,
}

fn find_appeal(conn: &mut AnyConnection, code: &str, year: i32) -> Result<Option<AppealRow>, StoreError> {
    Ok(appeals::table
        .filter(appeals::code.eq(code))
        .filter(appeals::year.eq(year))
        .select(AppealRow::as_select())
        .first(conn)
        .optional()?)
}

/// Writes appeals and the country's share, keyed by (code, year) and (appeal, country).
/// Returns the counts and the stored appeal id of every input, in order.
pub fn upsert_appeals(
    conn: &mut AnyConnection,
    run_id: i64,
    retrieved_at: NaiveDateTime,
    rows: &[AppealInput],
) -> Result<(WriteCounts, Vec<i64>), StoreError> {
    let mut counts = WriteCounts::default();
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        let values = (
            appeals::fts_id.eq(row.fts_id),
            appeals::name.eq(&row.name),
            appeals::appeal_type.eq(&row.appeal_type),
            appeals::start_date.eq(row.start_date),
            appeals::end_date.eq(row.end_date),
            appeals::requirements_usd.eq(row.requirements_usd),
            appeals::funding_usd.eq(row.funding_usd),
            appeals::resource_id.eq(row.resource_id),
        );
        let appeal_id = match find_appeal(conn, &row.code, row.year)? {
            None => {
                diesel::insert_into(appeals::table)
                    .values((
                        appeals::code.eq(&row.code),
                        appeals::year.eq(row.year),
                        values,
                        appeals::run_id.eq(run_id),
                        appeals::retrieved_at.eq(retrieved_at),
                    ))
                    .execute(conn)?;
                counts.inserted += 1;
                find_appeal(conn, &row.code, row.year)?
                    .ok_or_else(|| StoreError::Invalid(format!("appeal {} vanished after insert", row.code)))?
                    .id
            }
            Some(a)
                if a.fts_id != row.fts_id
                    || a.name != row.name
                    || a.appeal_type != row.appeal_type
                    || a.start_date != row.start_date
                    || a.end_date != row.end_date
                    || a.requirements_usd != row.requirements_usd
                    || a.funding_usd != row.funding_usd
                    || a.resource_id != row.resource_id =>
            {
                diesel::update(appeals::table.find(a.id))
                    .set((values, appeals::run_id.eq(run_id), appeals::retrieved_at.eq(retrieved_at)))
                    .execute(conn)?;
                counts.updated += 1;
                a.id
            }
            Some(a) => {
                counts.unchanged += 1;
                a.id
            }
        };
        let share = appeal_countries::table
            .filter(appeal_countries::appeal_id.eq(appeal_id))
            .filter(appeal_countries::country_iso3.eq(&row.country_iso3))
            .select(AppealCountryRow::as_select())
            .first(conn)
            .optional()?;
        let share_values = (
            appeal_countries::requirements_usd.eq(row.country_requirements_usd),
            appeal_countries::funding_usd.eq(row.country_funding_usd),
        );
        match share {
            None => {
                diesel::insert_into(appeal_countries::table)
                    .values((
                        appeal_countries::appeal_id.eq(appeal_id),
                        appeal_countries::country_iso3.eq(&row.country_iso3),
                        share_values,
                    ))
                    .execute(conn)?;
                counts.inserted += 1;
            }
            Some(s)
                if s.requirements_usd != row.country_requirements_usd || s.funding_usd != row.country_funding_usd =>
            {
                diesel::update(appeal_countries::table.find(s.id)).set(share_values).execute(conn)?;
                counts.updated += 1;
            }
            Some(_) => counts.unchanged += 1,
        }
        ids.push(appeal_id);
    }
    Ok((counts, ids))
}

/// Writes the clusters given for one appeal, keyed by name (deletes nothing).
pub fn upsert_clusters(
    conn: &mut AnyConnection,
    run_id: i64,
    resource_id: i64,
    appeal_id: i64,
    rows: &[ClusterInput],
) -> Result<WriteCounts, StoreError> {
    let existing: HashMap<String, AppealClusterRow> = appeal_clusters::table
        .filter(appeal_clusters::appeal_id.eq(appeal_id))
        .select(AppealClusterRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|c| (c.cluster.clone(), c))
        .collect();
    let mut counts = WriteCounts::default();
    for row in rows {
        let values = (
            appeal_clusters::requirements_usd.eq(row.requirements_usd),
            appeal_clusters::funding_usd.eq(row.funding_usd),
            appeal_clusters::resource_id.eq(Some(resource_id)),
        );
        match existing.get(&row.cluster) {
            None => {
                diesel::insert_into(appeal_clusters::table)
                    .values((
                        appeal_clusters::appeal_id.eq(appeal_id),
                        appeal_clusters::cluster.eq(&row.cluster),
                        values,
                        appeal_clusters::run_id.eq(Some(run_id)),
                    ))
                    .execute(conn)?;
                counts.inserted += 1;
            }
            Some(c)
                if c.requirements_usd != row.requirements_usd
                    || c.funding_usd != row.funding_usd
                    || c.resource_id != Some(resource_id) =>
            {
                diesel::update(appeal_clusters::table.find(c.id))
                    .set((values, appeal_clusters::run_id.eq(Some(run_id))))
                    .execute(conn)?;
                counts.updated += 1;
            }
            Some(_) => counts.unchanged += 1,
        }
    }
    Ok(counts)
}

/// Writes funding outside appeals, keyed by (country, year).
pub fn upsert_outside_funding(
    conn: &mut AnyConnection,
    run_id: i64,
    retrieved_at: NaiveDateTime,
    rows: &[OutsideFundingInput],
) -> Result<WriteCounts, StoreError> {
    let mut counts = WriteCounts::default();
    for row in rows {
        let existing = funding_outside_appeals::table
            .filter(funding_outside_appeals::country_iso3.eq(&row.country_iso3))
            .filter(funding_outside_appeals::year.eq(row.year))
            .select(OutsideFundingRow::as_select())
            .first(conn)
            .optional()?;
        match existing {
            None => {
                diesel::insert_into(funding_outside_appeals::table)
                    .values((
                        funding_outside_appeals::country_iso3.eq(&row.country_iso3),
                        funding_outside_appeals::year.eq(row.year),
                        funding_outside_appeals::funding_usd.eq(row.funding_usd),
                        funding_outside_appeals::resource_id.eq(row.resource_id),
                        funding_outside_appeals::run_id.eq(run_id),
                        funding_outside_appeals::retrieved_at.eq(retrieved_at),
                    ))
                    .execute(conn)?;
                counts.inserted += 1;
            }
            Some(f) if f.funding_usd != row.funding_usd || f.resource_id != row.resource_id => {
                diesel::update(funding_outside_appeals::table.find(f.id))
                    .set((
                        funding_outside_appeals::funding_usd.eq(row.funding_usd),
                        funding_outside_appeals::resource_id.eq(row.resource_id),
                        funding_outside_appeals::run_id.eq(run_id),
                        funding_outside_appeals::retrieved_at.eq(retrieved_at),
                    ))
                    .execute(conn)?;
                counts.updated += 1;
            }
            Some(_) => counts.unchanged += 1,
        }
    }
    Ok(counts)
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
