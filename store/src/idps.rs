//! IDP figures: the write path (at the source's grain) and the read path (summed per area,
//! operation, round, reporting date and assessment type, as users count IDPs, from the table of
//! totals that [`crate::idp_totals`] keeps in step with the figures).
//!
//! The write path is the one that does not go through [`crate::upsert`]: a DTM country can hold a
//! million figures, which the generic upsert would load and compare in memory and insert 500 at a
//! time. Here they are written by [`IdpWriter`]: straight in on a country's first load, else staged
//! (`COPY` on PostgreSQL) and merged set-based; never read back into memory, with the same
//! [`WriteCounts`] as a result. On 200,000 figures the generic upsert took 4x (SQLite) and 1.5x
//! (PostgreSQL) the time of the first write and about 4x the peak memory (docs/sources.md); this path
//! writes a first load of 1,000,000 figures in 67 s at 247 MB peak (docs/benchmarks.md, third run).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Integer, Nullable, Text, Timestamp};

use crate::models::IdpFigureRow;
use crate::schema::{idp_figures, idp_totals};
use crate::{AnyConnection, StoreError, WriteCounts};

/// One validated IDP figure from a source, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct IdpInput {
    pub country_iso3: String,
    pub admin_level: i32,
    /// The matched area, or its nearest matched parent when `area_matched` is false.
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub source_pcode: String,
    pub source_name: String,
    pub operation: String,
    pub round_number: i32,
    pub reporting_date: NaiveDate,
    pub assessment_type: String,
    pub displacement_reason: String,
    pub origin_pcode: String,
    pub origin_name: String,
    pub individuals: i64,
    pub males: Option<i64>,
    pub females: Option<i64>,
    pub resource_id: i64,
}

/// The natural key of a figure at the source's grain.
pub type IdpKey = (String, i32, String, String, i32, NaiveDate, String, String, String, String);

impl IdpInput {
    pub fn key(&self) -> IdpKey {
        (
            self.country_iso3.clone(),
            self.admin_level,
            self.source_pcode.clone(),
            self.operation.clone(),
            self.round_number,
            self.reporting_date,
            self.assessment_type.clone(),
            self.displacement_reason.clone(),
            self.origin_pcode.clone(),
            self.origin_name.clone(),
        )
    }
}

diesel::table! {
    /// The session's staging table for incoming figures (see [`begin_staging`]).
    idp_staging (seq) {
        seq -> BigInt,
        country_iso3 -> Text,
        admin_level -> Integer,
        area_id -> Nullable<BigInt>,
        area_matched -> Bool,
        source_pcode -> Text,
        source_name -> Text,
        operation -> Text,
        round_number -> Integer,
        reporting_date -> Date,
        assessment_type -> Text,
        displacement_reason -> Text,
        origin_pcode -> Text,
        origin_name -> Text,
        individuals -> BigInt,
        males -> Nullable<BigInt>,
        females -> Nullable<BigInt>,
        resource_id -> BigInt,
    }
}

/// Defines a row type borrowed from an [`IdpInput`] for one table, with the figure's columns plus
/// `$extra` (the staging table's order, or the stored figure's run): one list of the figure's
/// columns for both tables a figure is written to.
macro_rules! borrowed_figure {
    ($name:ident, $table:ident, $($extra:ident: $extra_type:ty),+) => {
        #[derive(Insertable)]
        #[diesel(table_name = $table)]
        #[diesel(treat_none_as_default_value = false)]
        struct $name<'a> {
            $($extra: $extra_type,)+
            country_iso3: &'a str,
            admin_level: i32,
            area_id: Option<i64>,
            area_matched: bool,
            source_pcode: &'a str,
            source_name: &'a str,
            operation: &'a str,
            round_number: i32,
            reporting_date: NaiveDate,
            assessment_type: &'a str,
            displacement_reason: &'a str,
            origin_pcode: &'a str,
            origin_name: &'a str,
            individuals: i64,
            males: Option<i64>,
            females: Option<i64>,
            resource_id: i64,
        }

        impl<'a> $name<'a> {
            fn new(r: &'a IdpInput, $($extra: $extra_type),+) -> Self {
                $name {
                    $($extra,)+
                    country_iso3: &r.country_iso3,
                    admin_level: r.admin_level,
                    area_id: r.area_id,
                    area_matched: r.area_matched,
                    source_pcode: &r.source_pcode,
                    source_name: &r.source_name,
                    operation: &r.operation,
                    round_number: r.round_number,
                    reporting_date: r.reporting_date,
                    assessment_type: &r.assessment_type,
                    displacement_reason: &r.displacement_reason,
                    origin_pcode: &r.origin_pcode,
                    origin_name: &r.origin_name,
                    individuals: r.individuals,
                    males: r.males,
                    females: r.females,
                    resource_id: r.resource_id,
                }
            }
        }
    };
}

borrowed_figure!(StagedFigure, idp_staging, seq: i64);
borrowed_figure!(NewFigure, idp_figures, run_id: i64, retrieved_at: NaiveDateTime);

/// Rows per batch a caller should write at once: bounds the memory of the batches in flight (three
/// while a parse and the write overlap) and of each `COPY`'s buffer.
pub const STAGING_CHUNK: usize = 10_000;

/// Rows per multi-row `INSERT` on SQLite (18 columns each, under SQLite's limit of 32,766 parameters).
const SQLITE_INSERT_ROWS: usize = 1_000;

const STAGING_COLUMNS: &str = "seq BIGINT NOT NULL, country_iso3 TEXT NOT NULL, \
     admin_level INTEGER NOT NULL, area_id BIGINT, area_matched BOOLEAN NOT NULL, source_pcode TEXT NOT NULL, \
     source_name TEXT NOT NULL, operation TEXT NOT NULL, round_number INTEGER NOT NULL, reporting_date DATE NOT NULL, \
     assessment_type TEXT NOT NULL, displacement_reason TEXT NOT NULL, origin_pcode TEXT NOT NULL, \
     origin_name TEXT NOT NULL, individuals BIGINT NOT NULL, males BIGINT, females BIGINT, resource_id BIGINT NOT NULL";

/// Creates (once per connection) and empties the session's temporary staging table. Figures are then
/// added with [`stage_idp_figures`] and written with [`merge_staged_idp_figures`], all in one transaction.
fn begin_staging(conn: &mut AnyConnection) -> Result<(), StoreError> {
    use diesel::connection::SimpleConnection;
    let sql = match conn {
        AnyConnection::Postgresql(_) => format!(
            "CREATE TEMP TABLE IF NOT EXISTS idp_staging ({STAGING_COLUMNS}) ON COMMIT DELETE ROWS; TRUNCATE idp_staging;"
        ),
        AnyConnection::Sqlite(_) => {
            format!("CREATE TEMP TABLE IF NOT EXISTS idp_staging ({STAGING_COLUMNS}); DELETE FROM temp.idp_staging;")
        }
    };
    conn.batch_execute(&sql)?;
    Ok(())
}

/// Inserts borrowed rows into `$table`: one `COPY` on PostgreSQL, multi-row inserts of
/// [`SQLITE_INSERT_ROWS`] on SQLite.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            AnyConnection::Postgresql(pg) => {
                diesel::copy_from($table).from_insertable($rows).execute(pg)?;
            }
            AnyConnection::Sqlite(lite) => {
                for chunk in $rows.chunks(SQLITE_INSERT_ROWS) {
                    diesel::insert_into($table).values(chunk).execute(lite)?;
                }
            }
        }
    };
}

/// Adds `rows` to the staging table, numbered from `first_seq` (the order they are inserted in):
/// `COPY` on PostgreSQL, multi-row inserts on SQLite.
fn stage_idp_figures(conn: &mut AnyConnection, first_seq: i64, rows: &[IdpInput]) -> Result<(), StoreError> {
    let staged: Vec<StagedFigure<'_>> =
        rows.iter().enumerate().map(|(i, r)| StagedFigure::new(r, first_seq + i as i64)).collect();
    insert_rows!(conn, idp_staging::table, staged);
    Ok(())
}

/// Writes `rows` straight into `idp_figures`, stamped with `run_id` and `retrieved_at`: only for keys
/// no stored figure has (see [`IdpWriter`]), as a conflict fails the statement.
fn insert_new_figures(
    conn: &mut AnyConnection,
    run_id: i64,
    retrieved_at: NaiveDateTime,
    rows: &[IdpInput],
) -> Result<(), StoreError> {
    let new: Vec<NewFigure<'_>> = rows.iter().map(|r| NewFigure::new(r, run_id, retrieved_at)).collect();
    insert_rows!(conn, idp_figures::table, new);
    Ok(())
}

/// Writes the staged figures set-based: one `UPDATE ... FROM` for keys whose values changed and one
/// `INSERT ... SELECT ... ON CONFLICT DO NOTHING` for new keys (in staging order); the rest are counted
/// unchanged. Nothing of the table is read into memory, and there is no round trip per row. Empties the
/// staging table. The caller then refreshes the country's totals ([`crate::idp_totals::refresh_after_write`])
/// in the same transaction, so that reads never see figures and totals that disagree.
fn merge_staged_idp_figures(
    conn: &mut AnyConnection,
    run_id: i64,
    retrieved_at: NaiveDateTime,
) -> Result<WriteCounts, StoreError> {
    use diesel::connection::SimpleConnection;
    let staged: i64 = idp_staging::table.count().get_result(conn)?;
    if staged == 0 {
        return Ok(WriteCounts::default());
    }
    let postgres = matches!(conn, AnyConnection::Postgresql(_));
    let (run, at, distinct, staging) = if postgres {
        ("$1", "$2", "IS DISTINCT FROM", "idp_staging")
    } else {
        ("?", "?", "IS NOT", "temp.idp_staging")
    };
    conn.batch_execute(&format!("ANALYZE {staging}"))?;
    if postgres {
        // The insert sorts the staged rows by `seq` (source order): in memory rather than spilled to
        // disk, for this transaction only.
        conn.batch_execute("SET LOCAL work_mem = '128MB'")?;
    }
    let update = format!(
        "UPDATE idp_figures SET area_id = s.area_id, area_matched = s.area_matched, source_name = s.source_name, \
         individuals = s.individuals, males = s.males, females = s.females, resource_id = s.resource_id, \
         run_id = {run}, retrieved_at = {at} \
         FROM {staging} s \
         WHERE idp_figures.country_iso3 = s.country_iso3 AND idp_figures.admin_level = s.admin_level \
         AND idp_figures.source_pcode = s.source_pcode AND idp_figures.operation = s.operation \
         AND idp_figures.round_number = s.round_number AND idp_figures.reporting_date = s.reporting_date \
         AND idp_figures.assessment_type = s.assessment_type AND idp_figures.displacement_reason = s.displacement_reason \
         AND idp_figures.origin_pcode = s.origin_pcode AND idp_figures.origin_name = s.origin_name \
         AND (idp_figures.area_id {distinct} s.area_id OR idp_figures.area_matched <> s.area_matched \
         OR idp_figures.source_name <> s.source_name OR idp_figures.individuals <> s.individuals \
         OR idp_figures.males {distinct} s.males OR idp_figures.females {distinct} s.females \
         OR idp_figures.resource_id <> s.resource_id)"
    );
    let updated =
        diesel::sql_query(update).bind::<BigInt, _>(run_id).bind::<Timestamp, _>(retrieved_at).execute(conn)?;
    // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
    let insert = format!(
        "INSERT INTO idp_figures (country_iso3, admin_level, area_id, area_matched, source_pcode, source_name, \
         operation, round_number, reporting_date, assessment_type, displacement_reason, origin_pcode, origin_name, \
         individuals, males, females, resource_id, run_id, retrieved_at) \
         SELECT country_iso3, admin_level, area_id, area_matched, source_pcode, source_name, operation, round_number, \
         reporting_date, assessment_type, displacement_reason, origin_pcode, origin_name, individuals, males, females, \
         resource_id, {run}, {at} FROM {staging} WHERE true ORDER BY seq \
         ON CONFLICT (country_iso3, admin_level, source_pcode, operation, round_number, reporting_date, \
         assessment_type, displacement_reason, origin_pcode, origin_name) DO NOTHING"
    );
    let inserted =
        diesel::sql_query(insert).bind::<BigInt, _>(run_id).bind::<Timestamp, _>(retrieved_at).execute(conn)?;
    let clear = if postgres { "TRUNCATE idp_staging" } else { "DELETE FROM temp.idp_staging" };
    conn.batch_execute(clear)?;
    let (inserted, updated) = (inserted as i64, updated as i64);
    Ok(WriteCounts { inserted, updated, unchanged: staged - inserted - updated })
}

/// How one country's incoming figures are written, chosen once per write transaction. When the
/// country holds no figure at the levels being written (its first load) they go straight into
/// `idp_figures` and its totals are built whole; otherwise they are staged and merged
/// ([`merge_staged_idp_figures`]) and only the touched totals refreshed. The first load of a large
/// country is where an ingest spends its time, and staging then merging writes every row twice.
/// Either way the caller's transaction holds the whole write: a failure leaves the store as it was.
pub struct IdpWriter {
    iso3: String,
    levels: Vec<i32>,
    run_id: i64,
    retrieved_at: NaiveDateTime,
    first_load: bool,
    written: i64,
}

impl IdpWriter {
    /// Starts the write of `iso3`'s figures at `levels` by run `run_id`.
    pub fn begin(
        conn: &mut AnyConnection,
        iso3: &str,
        levels: &[i32],
        run_id: i64,
        retrieved_at: NaiveDateTime,
    ) -> Result<Self, StoreError> {
        let held = idp_figures::table
            .filter(idp_figures::country_iso3.eq(iso3))
            .filter(idp_figures::admin_level.eq_any(levels.to_vec()));
        let first_load = !diesel::select(diesel::dsl::exists(held)).get_result::<bool>(conn)?;
        if !first_load {
            begin_staging(conn)?;
        }
        Ok(IdpWriter { iso3: iso3.to_string(), levels: levels.to_vec(), run_id, retrieved_at, first_load, written: 0 })
    }

    /// True when the figures go straight into `idp_figures` (nothing stored to merge with).
    pub fn is_first_load(&self) -> bool {
        self.first_load
    }

    /// Writes the next rows (at most [`STAGING_CHUNK`] at once, in source order). Every row must be
    /// of the country and levels given to [`IdpWriter::begin`], and no two rows may share a key.
    pub fn write(&mut self, conn: &mut AnyConnection, rows: &[IdpInput]) -> Result<(), StoreError> {
        if self.first_load {
            insert_new_figures(conn, self.run_id, self.retrieved_at, rows)?;
        } else {
            stage_idp_figures(conn, self.written, rows)?;
        }
        self.written += rows.len() as i64;
        Ok(())
    }

    /// Merges what was staged (a first load has nothing left to merge): what was inserted, updated
    /// and found unchanged.
    pub fn merge(&mut self, conn: &mut AnyConnection) -> Result<WriteCounts, StoreError> {
        if self.first_load {
            return Ok(WriteCounts { inserted: self.written, ..WriteCounts::default() });
        }
        merge_staged_idp_figures(conn, self.run_id, self.retrieved_at)
    }

    /// Brings the country's totals in step with the figures written (`counts`, from
    /// [`IdpWriter::merge`]), in the same transaction, so that reads never see the two disagree.
    pub fn refresh_totals(self, conn: &mut AnyConnection, counts: &WriteCounts) -> Result<(), StoreError> {
        if self.first_load {
            crate::idp_totals::build_for_first_load(conn, &self.iso3, &self.levels)
        } else {
            crate::idp_totals::refresh_after_write(conn, self.run_id, &self.iso3, counts)
        }
    }
}

/// IDPs present in one area for one (operation, round, reporting date, assessment type),
/// summed over displacement reasons and origins.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = idp_totals)]
pub struct IdpTotal {
    /// The row's id: it changes when a re-ingest rewrites the total (a tie-breaker for ordering only).
    pub id: i64,
    pub country_iso3: String,
    pub admin_level: i32,
    pub source_pcode: String,
    pub area_id: Option<i64>,
    pub area_matched: bool,
    pub operation: String,
    pub round_number: i32,
    pub reporting_date: NaiveDate,
    pub assessment_type: String,
    pub resource_id: i64,
    pub source_name: String,
    pub individuals: i64,
    pub run_id: i64,
    /// When crisisgraph last fetched the rows summed here (UTC).
    pub retrieved_at: NaiveDateTime,
}

/// Which totals to read.
#[derive(Debug, Clone, Default)]
pub struct IdpFilter {
    pub country_iso3: Option<String>,
    pub admin_level: Option<i32>,
    /// Only figures reported for exactly these areas (matched, at the area's own level).
    pub area_ids: Option<Vec<i64>>,
    /// Per area and operation, keep only the latest round.
    pub latest_round_only: bool,
    /// Only figures whose area (matched or nearest) is one of these: an area and its descendants.
    pub within_area_ids: Option<Vec<i64>>,
    pub operation: Option<String>,
    pub round: Option<i32>,
    /// Reporting dates from (inclusive).
    pub from: Option<NaiveDate>,
    /// Reporting dates to (inclusive).
    pub to: Option<NaiveDate>,
    pub assessment_type: Option<String>,
    pub order: IdpOrder,
}

/// Orders in which totals can be listed; every one ends with the full key, so paging is stable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IdpOrder {
    /// Oldest first (date, operation, round, assessment type, p-code).
    #[default]
    DateAsc,
    /// Newest first.
    DateDesc,
    /// Largest figures first.
    IndividualsDesc,
    /// By area p-code, then oldest first.
    PcodeAsc,
}

/// Narrows a boxed `idp_totals` query to what `filter` asks for. A macro, because the boxed
/// query's type differs between the list and the count.
macro_rules! apply_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &IdpFilter = $filter;
        let mut query = $query;
        if let Some(iso3) = &filter.country_iso3 {
            query = query.filter(idp_totals::country_iso3.eq(iso3.clone()));
        }
        if let Some(level) = filter.admin_level {
            query = query.filter(idp_totals::admin_level.eq(level));
        }
        // One area is `=`, not `= ANY`: PostgreSQL then reads the area's index in order and stops at the
        // page's LIMIT instead of sorting every total of the area.
        if let Some(ids) = &filter.area_ids {
            query = match ids.as_slice() {
                [one] => query.filter(idp_totals::area_id.eq(*one)),
                _ => query.filter(idp_totals::area_id.eq_any(ids.clone())),
            };
            query = query.filter(idp_totals::area_matched.eq(true));
        }
        if let Some(ids) = &filter.within_area_ids {
            query = match ids.as_slice() {
                [one] => query.filter(idp_totals::area_id.eq(*one)),
                _ => query.filter(idp_totals::area_id.eq_any(ids.clone())),
            };
        }
        if let Some(operation) = &filter.operation {
            query = query.filter(idp_totals::operation.eq(operation.clone()));
        }
        if let Some(round) = filter.round {
            query = query.filter(idp_totals::round_number.eq(round));
        }
        if let Some(from) = filter.from {
            query = query.filter(idp_totals::reporting_date.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(idp_totals::reporting_date.le(to));
        }
        if let Some(kind) = &filter.assessment_type {
            query = query.filter(idp_totals::assessment_type.eq(kind.clone()));
        }
        if filter.latest_round_only {
            // The bare column (not `= true`), so that the partial index on latest rounds applies.
            query = query.filter(idp_totals::is_latest_round);
        }
        query
    }};
}

/// Orders a boxed `idp_totals` query by `$order` (reversed when `$backward`): the order's leading
/// columns, then the total's key, then its row id, so that no two rows tie.
macro_rules! ordered {
    ($query:expr, $order:expr, $backward:expr) => {{
        use idp_totals::{assessment_type, id, individuals, operation, reporting_date, resource_id, round_number};
        let query = $query;
        let key = (
            operation.asc(),
            round_number.asc(),
            assessment_type.asc(),
            idp_totals::source_pcode.asc(),
            resource_id.asc(),
            id.asc(),
        );
        let reversed = (
            operation.desc(),
            round_number.desc(),
            assessment_type.desc(),
            idp_totals::source_pcode.desc(),
            resource_id.desc(),
            id.desc(),
        );
        match ($order, $backward) {
            (IdpOrder::DateAsc, false) => query.order((reporting_date.asc(), key)),
            (IdpOrder::DateAsc, true) => query.order((reporting_date.desc(), reversed)),
            (IdpOrder::DateDesc, false) => query.order((reporting_date.desc(), key)),
            (IdpOrder::DateDesc, true) => query.order((reporting_date.asc(), reversed)),
            (IdpOrder::IndividualsDesc, false) => query.order((individuals.desc(), reporting_date.asc(), key)),
            (IdpOrder::IndividualsDesc, true) => query.order((individuals.asc(), reporting_date.desc(), reversed)),
            (IdpOrder::PcodeAsc, false) => query.order((idp_totals::source_pcode.asc(), reporting_date.asc(), key)),
            (IdpOrder::PcodeAsc, true) => {
                query.order((idp_totals::source_pcode.desc(), reporting_date.desc(), reversed))
            }
        }
    }};
}

/// Totals matching `filter`, in `filter.order` (ending with the total's key, then its row id);
/// `limit`/`offset` page through them (`offset` counts only with a `limit`). Reads the table of
/// totals the ingest keeps (see [`crate::idp_totals`]): for a country and level in date order this
/// is a walk along one index.
pub fn idp_totals(
    conn: &mut AnyConnection,
    filter: &IdpFilter,
    limit: Option<i64>,
    offset: i64,
) -> Result<Vec<IdpTotal>, StoreError> {
    let query = apply_filter!(idp_totals::table.select(IdpTotal::as_select()).into_boxed(), filter);
    let mut query = ordered!(query, filter.order, false);
    // SQLite accepts OFFSET only after LIMIT: without a limit the whole list is read.
    if let Some(limit) = limit {
        query = query.limit(limit).offset(offset);
    }
    Ok(query.load::<IdpTotal>(conn)?)
}

/// A total's place in every order lists can have: the values of each order's columns, ending with
/// its row id. A page starts after (or ends before) such a position, wherever the rows around it
/// moved since: keyset paging, so that a row written between two pages neither repeats nor skips one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdpPosition {
    pub individuals: i64,
    pub reporting_date: NaiveDate,
    pub operation: String,
    pub round_number: i32,
    pub assessment_type: String,
    pub source_pcode: String,
    pub resource_id: i64,
    pub id: i64,
}

impl IdpPosition {
    pub fn of(total: &IdpTotal) -> IdpPosition {
        IdpPosition {
            individuals: total.individuals,
            reporting_date: total.reporting_date,
            operation: total.operation.clone(),
            round_number: total.round_number,
            assessment_type: total.assessment_type.clone(),
            source_pcode: total.source_pcode.clone(),
            resource_id: total.resource_id,
            id: total.id,
        }
    }
}

/// One page of totals, and whether rows exist on either side of it.
#[derive(Debug, Clone, Default)]
pub struct IdpPage {
    pub rows: Vec<IdpTotal>,
    pub has_previous: bool,
    pub has_next: bool,
}

/// Where a page lies: after one position and/or before another, `size` rows from the start (or, when
/// `backward`, from the end) of that range.
#[derive(Debug, Clone, Copy)]
pub struct PageBounds<'a, P> {
    pub after: Option<&'a P>,
    pub before: Option<&'a P>,
    pub size: usize,
    pub backward: bool,
}

type Backend = <AnyConnection as diesel::Connection>::Backend;
type TotalsPredicate = Box<dyn BoxableExpression<idp_totals::table, Backend, SqlType = Bool>>;

/// The totals strictly after `position` in `order` (`later`), or strictly before it.
fn beyond(order: IdpOrder, position: &IdpPosition, later: bool) -> TotalsPredicate {
    // One column's comparison, as (strictly beyond, equal); a descending column is beyond when smaller.
    macro_rules! step {
        ($column:expr, $value:expr, $descending:expr) => {{
            let value = $value;
            let strict: TotalsPredicate = if later != $descending {
                Box::new($column.gt(value.clone()))
            } else {
                Box::new($column.lt(value.clone()))
            };
            let equal: TotalsPredicate = Box::new($column.eq(value));
            (strict, equal)
        }};
    }
    use idp_totals::{
        assessment_type, id, individuals, operation, reporting_date, resource_id, round_number, source_pcode,
    };
    let p = position;
    let mut steps = match order {
        IdpOrder::DateAsc => vec![step!(reporting_date, p.reporting_date, false)],
        IdpOrder::DateDesc => vec![step!(reporting_date, p.reporting_date, true)],
        IdpOrder::IndividualsDesc => {
            vec![step!(individuals, p.individuals, true), step!(reporting_date, p.reporting_date, false)]
        }
        IdpOrder::PcodeAsc => {
            vec![step!(source_pcode, p.source_pcode.clone(), false), step!(reporting_date, p.reporting_date, false)]
        }
    };
    steps.extend([
        step!(operation, p.operation.clone(), false),
        step!(round_number, p.round_number, false),
        step!(assessment_type, p.assessment_type.clone(), false),
        step!(source_pcode, p.source_pcode.clone(), false),
        step!(resource_id, p.resource_id, false),
        step!(id, p.id, false),
    ]);
    // The leading column's bound on its own, so that the store can start reading an index there.
    let lead: TotalsPredicate = match (order, later) {
        (IdpOrder::DateAsc, true) | (IdpOrder::DateDesc, false) => Box::new(reporting_date.ge(p.reporting_date)),
        (IdpOrder::DateAsc, false) | (IdpOrder::DateDesc, true) => Box::new(reporting_date.le(p.reporting_date)),
        (IdpOrder::IndividualsDesc, true) => Box::new(individuals.le(p.individuals)),
        (IdpOrder::IndividualsDesc, false) => Box::new(individuals.ge(p.individuals)),
        (IdpOrder::PcodeAsc, true) => Box::new(source_pcode.ge(p.source_pcode.clone())),
        (IdpOrder::PcodeAsc, false) => Box::new(source_pcode.le(p.source_pcode.clone())),
    };
    Box::new(lead.and(lexicographic(steps)))
}

/// `a > x OR (a = x AND (b > y OR (b = y AND ...)))` from each column's (strict, equal) comparisons.
fn lexicographic(steps: Vec<(TotalsPredicate, TotalsPredicate)>) -> TotalsPredicate {
    let mut rest: Option<TotalsPredicate> = None;
    for (strict, equal) in steps.into_iter().rev() {
        rest = Some(match rest {
            None => strict,
            Some(rest) => Box::new(strict.or(equal.and(rest))),
        });
    }
    rest.unwrap_or_else(|| Box::new(sql::<Bool>("1 = 0")))
}

/// Whether any total matching `filter` satisfies `predicate`.
fn any_total(conn: &mut AnyConnection, filter: &IdpFilter, predicate: TotalsPredicate) -> Result<bool, StoreError> {
    let query = apply_filter!(idp_totals::table.select(idp_totals::id).into_boxed(), filter);
    Ok(!query.filter(predicate).limit(1).load::<i64>(conn)?.is_empty())
}

/// One page of the totals matching `filter`, in `filter.order`, within `bounds` (keyset paging: one
/// range read of `size` rows and one more, however deep the page).
pub fn idp_totals_page(
    conn: &mut AnyConnection,
    filter: &IdpFilter,
    bounds: PageBounds<'_, IdpPosition>,
) -> Result<IdpPage, StoreError> {
    let mut query = apply_filter!(idp_totals::table.select(IdpTotal::as_select()).into_boxed(), filter);
    if let Some(after) = bounds.after {
        query = query.filter(beyond(filter.order, after, true));
    }
    if let Some(before) = bounds.before {
        query = query.filter(beyond(filter.order, before, false));
    }
    let mut rows: Vec<IdpTotal> =
        ordered!(query, filter.order, bounds.backward).limit(bounds.size as i64 + 1).load(conn)?;
    let more = rows.len() > bounds.size;
    rows.truncate(bounds.size);
    // Rows on the far side of the cursor the page was read from: the cursor's own row, or any other.
    let (has_previous, has_next) = if bounds.backward {
        rows.reverse();
        let next = match bounds.before {
            Some(before) => any_total(conn, filter, Box::new(diesel::dsl::not(beyond(filter.order, before, false))))?,
            None => false,
        };
        (more, next)
    } else {
        let previous = match bounds.after {
            Some(after) => any_total(conn, filter, Box::new(diesel::dsl::not(beyond(filter.order, after, true))))?,
            None => false,
        };
        (previous, more)
    };
    Ok(IdpPage { rows, has_previous, has_next })
}

/// The first page (`size` rows, in `filter.order`) of each of `areas`' own totals, with whether more
/// follow: what a list of areas each asking for `idps(first: n)` needs. `filter.area_ids` is ignored.
///
/// On PostgreSQL this is one statement, a `LATERAL` read of `size + 1` rows per area along the area's
/// index (a nested loop: each area's rows come out in the page's order); on SQLite, which has no
/// `LATERAL`, each area's page is a subquery of one `UNION ALL`. Neither counts the areas' rows: a
/// page of 20 figures of 140 communes reads 21 rows of each, not the million they hold.
pub fn idp_first_pages(
    conn: &mut AnyConnection,
    filter: &IdpFilter,
    areas: &[i64],
    size: usize,
) -> Result<std::collections::HashMap<i64, IdpPage>, StoreError> {
    let rows: Vec<IdpTotal> = match conn {
        AnyConnection::Postgresql(pg) => {
            let own = IdpFilter { area_ids: None, ..filter.clone() };
            let page =
                apply_filter!(idp_totals::table.select(IdpTotal::as_select()).into_boxed::<diesel::pg::Pg>(), &own)
                    .filter(idp_totals::area_id.eq(sql::<Nullable<BigInt>>("lateral_area.id")))
                    .filter(idp_totals::area_matched.eq(true));
            let page = ordered!(page, filter.order, false).limit(size as i64 + 1);
            PerArea { areas: areas.to_vec(), page }.load(pg)?
        }
        AnyConnection::Sqlite(lite) => {
            let mut rows = Vec::new();
            // SQLite caps a compound statement at 500 terms.
            for chunk in areas.chunks(400) {
                let pages = chunk
                    .iter()
                    .map(|&area| {
                        let one = IdpFilter { area_ids: Some(vec![area]), ..filter.clone() };
                        let query = apply_filter!(
                            idp_totals::table.select(IdpTotal::as_select()).into_boxed::<diesel::sqlite::Sqlite>(),
                            &one
                        );
                        ordered!(query, filter.order, false).limit(size as i64 + 1)
                    })
                    .collect();
                rows.extend(EachArea { pages }.load::<IdpTotal>(lite)?);
            }
            rows
        }
    };
    let mut by_area: std::collections::HashMap<i64, Vec<IdpTotal>> = std::collections::HashMap::new();
    for row in rows {
        if let Some(area) = row.area_id {
            by_area.entry(area).or_default().push(row);
        }
    }
    Ok(areas
        .iter()
        .map(|&area| {
            let mut rows = by_area.remove(&area).unwrap_or_default();
            let has_next = rows.len() > size;
            rows.truncate(size);
            (area, IdpPage { rows, has_previous: false, has_next })
        })
        .collect())
}

/// A statement built around per-area `page` queries: it returns their rows, so it has their SQL type,
/// and it is never prepared once for all (its text varies with the areas).
macro_rules! runs_like_its_pages {
    ($wrapper:ident) => {
        impl<Q> diesel::query_builder::QueryId for $wrapper<Q> {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }

        impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for $wrapper<Q> {
            type SqlType = Q::SqlType;
        }

        impl<Q, C> RunQueryDsl<C> for $wrapper<Q> {}
    };
}

/// PostgreSQL: `page` (a query correlated with `lateral_area.id`) run once per area of `areas`, in
/// one statement: `unnest($areas) CROSS JOIN LATERAL (page)`.
struct PerArea<Q> {
    areas: Vec<i64>,
    page: Q,
}

impl<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>> diesel::query_builder::QueryFragment<diesel::pg::Pg>
    for PerArea<Q>
{
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        // Typed in the text too, so that the statement as logged (binds inlined) runs as it is.
        out.push_sql("SELECT page.* FROM unnest(CAST(");
        out.push_bind_param::<diesel::sql_types::Array<BigInt>, _>(&self.areas)?;
        out.push_sql(" AS BIGINT[])) AS lateral_area(id) CROSS JOIN LATERAL (");
        self.page.walk_ast(out.reborrow())?;
        out.push_sql(") AS page");
        Ok(())
    }
}

runs_like_its_pages!(PerArea);

/// SQLite (which has no `LATERAL`): each area's page as a subquery, all in one `UNION ALL`.
struct EachArea<Q> {
    pages: Vec<Q>,
}

impl<Q: diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>>
    diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for EachArea<Q>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        for (i, page) in self.pages.iter().enumerate() {
            if i > 0 {
                out.push_sql(" UNION ALL ");
            }
            out.push_sql("SELECT * FROM (");
            page.walk_ast(out.reborrow())?;
            out.push_sql(")");
        }
        Ok(())
    }
}

runs_like_its_pages!(EachArea);

/// What identifies a total across re-ingests (its row id changes when a re-ingest rewrites it): the
/// area as the source coded it, the figure's key and the resource it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdpTotalKey {
    pub country_iso3: String,
    pub admin_level: i32,
    pub source_pcode: String,
    pub operation: String,
    pub round_number: i32,
    pub reporting_date: NaiveDate,
    pub assessment_type: String,
    pub resource_id: i64,
}

impl IdpTotalKey {
    pub fn of(total: &IdpTotal) -> IdpTotalKey {
        IdpTotalKey {
            country_iso3: total.country_iso3.clone(),
            admin_level: total.admin_level,
            source_pcode: total.source_pcode.clone(),
            operation: total.operation.clone(),
            round_number: total.round_number,
            reporting_date: total.reporting_date,
            assessment_type: total.assessment_type.clone(),
            resource_id: total.resource_id,
        }
    }
}

/// The total with this key, if the store holds it.
pub fn idp_total_by_key(conn: &mut AnyConnection, key: &IdpTotalKey) -> Result<Option<IdpTotal>, StoreError> {
    Ok(idp_totals::table
        .filter(idp_totals::country_iso3.eq(&key.country_iso3))
        .filter(idp_totals::admin_level.eq(key.admin_level))
        .filter(idp_totals::source_pcode.eq(&key.source_pcode))
        .filter(idp_totals::operation.eq(&key.operation))
        .filter(idp_totals::round_number.eq(key.round_number))
        .filter(idp_totals::reporting_date.eq(key.reporting_date))
        .filter(idp_totals::assessment_type.eq(&key.assessment_type))
        .filter(idp_totals::resource_id.eq(key.resource_id))
        .order(idp_totals::id)
        .select(IdpTotal::as_select())
        .first(conn)
        .optional()?)
}

/// How many totals match `filter`.
pub fn count_idp_totals(conn: &mut AnyConnection, filter: &IdpFilter) -> Result<i64, StoreError> {
    Ok(apply_filter!(idp_totals::table.into_boxed(), filter).count().get_result::<i64>(conn)?)
}

/// How many totals match `filter` per area they are filed under (areas without any are left out):
/// for paging the lists of several areas at once.
pub fn count_idp_totals_by_area(conn: &mut AnyConnection, filter: &IdpFilter) -> Result<Vec<(i64, i64)>, StoreError> {
    let rows: Vec<(Option<i64>, i64)> = apply_filter!(
        idp_totals::table
            .group_by(idp_totals::area_id)
            .select((idp_totals::area_id, diesel::dsl::count_star()))
            .into_boxed(),
        filter
    )
    .load(conn)?;
    Ok(rows.into_iter().filter_map(|(area, n)| area.map(|a| (a, n))).collect())
}

/// Totals of several areas added up per (operation, round, reporting date, assessment type): what
/// a roll-up from the areas below another one needs, read as one row per key instead of one per area.
#[derive(Debug, Clone, PartialEq)]
pub struct IdpSum {
    pub operation: String,
    pub round_number: i32,
    pub reporting_date: NaiveDate,
    pub assessment_type: String,
    /// Wider than a stored figure: a sum can exceed what one figure may be.
    pub individuals: i128,
    /// How many totals (one per area reporting the key) were added.
    pub totals: i64,
    /// The lowest resource id among them (one resource per level in practice).
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// The totals matching `filter` added up per ancestor `depth` levels above their area (by the
/// areas' parent links) and per (operation, round, reporting date, assessment type): the roll-ups
/// of many areas from one query, one row per ancestor and figure key.
pub fn idp_sums_by_ancestor(
    conn: &mut AnyConnection,
    filter: &IdpFilter,
    depth: usize,
) -> Result<Vec<(i64, IdpSum)>, StoreError> {
    let ancestor = ancestor_of_area(depth);
    // Plain SQL for the grouped columns: diesel cannot check a GROUP BY on an expression.
    // The sum in two parts, billions and the rest, each a 64-bit sum that cannot overflow in SQL
    // (neither SQLite, which fails on an integer overflow, nor PostgreSQL's cast back to BIGINT)
    // until a billion totals are added; put together in 128 bits.
    let grouped = idp_totals::table
        .group_by(sql::<Nullable<BigInt>>(&format!(
            "{ancestor}, operation, round_number, reporting_date, assessment_type"
        )))
        .select((
            sql::<Nullable<BigInt>>(&ancestor),
            (
                sql::<Text>("operation"),
                sql::<Integer>("round_number"),
                sql::<Date>("reporting_date"),
                sql::<Text>("assessment_type"),
                sql::<BigInt>(&format!("CAST(SUM(individuals / {SPLIT}) AS BIGINT)")),
                sql::<BigInt>(&format!("CAST(SUM(individuals % {SPLIT}) AS BIGINT)")),
                sql::<BigInt>("COUNT(*)"),
                sql::<BigInt>("MIN(resource_id)"),
                sql::<BigInt>("MAX(run_id)"),
                sql::<Timestamp>("MAX(retrieved_at)"),
            ),
        ))
        .into_boxed();
    type Parts = (String, i32, NaiveDate, String, i64, i64, i64, i64, i64, NaiveDateTime);
    let rows: Vec<(Option<i64>, Parts)> = apply_filter!(grouped, filter).load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(ancestor, p)| {
            let sum = IdpSum {
                operation: p.0,
                round_number: p.1,
                reporting_date: p.2,
                assessment_type: p.3,
                individuals: i128::from(p.4) * i128::from(SPLIT) + i128::from(p.5),
                totals: p.6,
                resource_id: p.7,
                run_id: p.8,
                retrieved_at: p.9,
            };
            ancestor.map(|a| (a, sum))
        })
        .collect())
}

/// Where a sum is split in two (see [`idp_sums_by_ancestor`]).
const SPLIT: i64 = 1_000_000_000;

/// SQL for the id of the area `depth` (at least 1) parent links above a total's area.
fn ancestor_of_area(depth: usize) -> String {
    let depth = depth.max(1);
    let joins: String =
        (2..=depth).map(|i| format!(" JOIN admin_areas a{i} ON a{i}.id = a{}.parent_id", i - 1)).collect();
    format!("(SELECT a{depth}.parent_id FROM admin_areas a1{joins} WHERE a1.id = idp_totals.area_id)")
}

/// Raw figures of one country, at the source's grain: for checks and exports.
pub fn figures_of_country(conn: &mut AnyConnection, iso3: &str) -> Result<Vec<IdpFigureRow>, StoreError> {
    Ok(idp_figures::table
        .filter(idp_figures::country_iso3.eq(iso3))
        .order(idp_figures::id)
        .select(IdpFigureRow::as_select())
        .load(conn)?)
}

/// How many IDP figure rows (at the source's grain) the store holds.
pub fn count_figures(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(idp_figures::table.count().get_result(conn)?)
}

crate::bi::bi_entity! {
    /// One row = IDPs present in one area for one (operation, round, date, assessment type), summed over
    /// displacement reasons and origins. **Never add rows of different operations or assessment types**:
    /// round numbers restart per operation, and a round may be reported as both baseline (BA) and site
    /// assessment (SA). `area_matched = false` means the source's code (`source_pcode`) matched no p-code
    /// we know; `area_*` is then the nearest enclosing area. The view reads `idp_totals`, which each DTM
    /// ingest keeps in step with the figures, and the export pages through it by key.
    pub struct BiIdp as IDPS_BI {
        view: "bi_idps",
        export: "idps",
        from: "idp_totals t\nJOIN countries c ON c.iso3 = t.country_iso3\nJOIN resources r ON r.id = t.resource_id\n\
               JOIN datasets d ON d.id = r.dataset_id\nLEFT JOIN admin_areas a ON a.id = t.area_id\n\
               LEFT JOIN admin_areas p ON p.id = a.parent_id",
        view_appended: ["licence_url", "area_valid_from"],
        // The key (the `idp_totals_listing` index), then columns that tell apart the rare rows sharing
        // it (one area reported through two resources).
        order: [
            "country_iso3", "admin_level", "reporting_date", "operation", "round_number", "assessment_type",
            "source_pcode", "dataset", "resource_url", "area_matched", "area_pcode", "idps", "ingest_run_id",
            "retrieved_at",
        ],
        keyset: 7,
        period: "reporting_date",
        filters: [
            Filter::new("country", "country_iso3", Countries),
            Filter::new("admin_level", "admin_level", AdminLevel),
            Filter::new("pcode", "area_pcode", Within),
            Filter::new("from", "reporting_date", OnOrAfter),
            Filter::new("to", "reporting_date", OnOrBefore),
            Filter::new("operation", "operation", Equals).about("the DTM operation, as `operation` names it"),
            Filter::new("round", "round_number", EqualsNumber),
            Filter::new("assessment_type", "assessment_type", EqualsUpper).about("`BA` or `SA`"),
            // The flag the ingest keeps on the totals, found through the index on each area's rounds.
            Filter::new("latest_round_only", "", Flag(
                "EXISTS (SELECT 1 FROM idp_totals l WHERE l.is_latest_round AND l.country_iso3 = bi_idps.country_iso3 \
                 AND l.admin_level = bi_idps.admin_level AND l.source_pcode = bi_idps.source_pcode \
                 AND l.operation = bi_idps.operation AND l.round_number = bi_idps.round_number)",
            ))
            .about("`true`: per area and operation, the latest round only"),
        ],
        columns: {
            country_iso3: Text = "t.country_iso3", "#country+code", "ISO 3166-1 alpha-3 code of the country.";
            country_name: Text = "c.name", "#country+name", "The country's name.";
            admin_level: Integer = "t.admin_level", "#adm+level", "0 for the country, 1 for its first level, ...";
            area_pcode: Nullable<Text> = "a.pcode", "#adm+code", "The area's p-code (the nearest enclosing area when the source's code matched none).";
            area_name: Nullable<Text> = "a.name", "#adm+name", "The area's name.";
            area_valid_from: Nullable<Date> = "a.valid_from", "#date+start+boundaries", "First day of the area's boundary edition: with `area_pcode`, the key of the area among the admin areas.";
            area_matched: Bool = "t.area_matched", "#meta+matched", "Whether the source's code matched a p-code we know.";
            parent_pcode: Nullable<Text> = "p.pcode", "#adm+code+parent", "The p-code of the area's parent.";
            parent_name: Nullable<Text> = "p.name", "#adm+name+parent", "The parent's name.";
            source_pcode: Text = "t.source_pcode", "#adm+code+provider", "The area's code as DTM gives it.";
            source_name: Text = "t.source_name", "#adm+name+provider", "The area's name as DTM gives it.";
            operation: Text = "t.operation", "#operation+name", "The DTM operation.";
            round_number: Integer = "t.round_number", "#round+code", "The round (numbers restart per operation).";
            reporting_date: Date = "t.reporting_date", "#date+reported", "The date the round reports on.";
            assessment_type: Text = "t.assessment_type", "#assessment+type", "`BA` (baseline) or `SA` (site assessment).";
            idps: BigInt = "t.individuals", "#affected+idps+ind", "IDPs present in the area (individuals).";
            dataset: Text = "d.source_key", "#meta+dataset+id", crate::bi::provenance::DATASET;
            dataset_title: Text = "d.title", "#meta+dataset+title", crate::bi::provenance::DATASET_TITLE;
            licence: Text = "d.licence_title", "#meta+licence", crate::bi::provenance::LICENCE;
            licence_url: Nullable<Text> = "d.licence_url", "#meta+licence+url", crate::bi::provenance::LICENCE_URL;
            credit: Text = "d.credit", "#meta+source", crate::bi::provenance::CREDIT;
            resource_url: Text = "r.url", "#meta+url", crate::bi::provenance::RESOURCE_URL;
            ingest_run_id: BigInt = "t.run_id", "#meta+run+id", crate::bi::provenance::INGEST_RUN_ID;
            retrieved_at: Timestamp = "t.retrieved_at", "#date+retrieved", crate::bi::provenance::RETRIEVED_AT;
        }
    }
}
