//! The BI entities: flat rows with codes and names side by side and the licence's title and URL, served
//! as SQL views (`bi_*`, for Metabase, Superset) and as the CSV/JSON export, documented in docs/bi.md.
//!
//! Each entity is declared once, with [`bi_entity!`], in its theme's own module (`idps.rs`, `sites.rs`,
//! ...) and listed once in [`crate::BI_ENTITIES`]. Everything else derives from that declaration: the
//! view (created or replaced after the migrations, [`create_views`]), the row the export reads, its CSV
//! header, JSON keys and cells, the export's filters and order, and the docs' column tables
//! ([`markdown_tables`]). Nothing here names a theme.

pub mod predicate;

use std::fmt::Write as _;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types as st;

use crate::{AnyConnection, Backend, StoreError};

/// The SQL types a BI column can have (diesel's names, so that a declaration reads like a `table!`).
pub mod sql_types {
    pub use diesel::sql_types::{BigInt, Bool, Date, Double, Integer, Nullable, Text, Timestamp};
}

/// A column's SQL type, for the docs and for binding a value of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Text,
    Integer,
    BigInt,
    Double,
    Bool,
    Date,
    Timestamp,
}

impl SqlType {
    /// How the docs name it.
    pub fn describe(self) -> &'static str {
        match self {
            SqlType::Text => "text",
            SqlType::Integer => "whole number",
            SqlType::BigInt => "whole number",
            SqlType::Double => "decimal",
            SqlType::Bool => "true/false",
            SqlType::Date => "date",
            SqlType::Timestamp => "instant (UTC)",
        }
    }
}

/// One column of an entity: the same name in the view, the CSV header and the JSON keys.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub sql_type: SqlType,
    pub nullable: bool,
    /// The SQL expression over the entity's `FROM` clause, the same on both backends...
    pub sql: &'static str,
    /// ...unless SQLite needs its own.
    pub sqlite: Option<&'static str>,
    /// The HXL hashtag of the export's optional second header row.
    pub hxl: &'static str,
    pub doc: &'static str,
}

/// What an export parameter does to the rows. Each entity lists the ones it takes; any other
/// parameter is refused.
#[derive(Debug, Clone, Copy)]
pub enum FilterKind {
    /// Comma-separated ISO3 codes; the column is one of them.
    Countries,
    /// An admin level, 0 to 5.
    AdminLevel,
    /// Comma-separated p-codes: each area and every area inside it (any boundary edition).
    Within,
    /// A date `YYYY-MM-DD`: rows on or after it.
    OnOrAfter,
    /// A date `YYYY-MM-DD`: rows on or before it.
    OnOrBefore,
    /// Text equal to the column.
    Equals,
    /// Text equal to the column, compared in capitals.
    EqualsUpper,
    /// A whole number equal to the column.
    EqualsNumber,
    /// `true`: only the rows where this SQL condition (on the view's columns) holds.
    Flag(&'static str),
    /// A breakdown of figures (sex, age group) whose totals are the rows `all`: by default only
    /// those, `*` for every row, else one value (one of the list, when it is not empty).
    Breakdown(&'static [&'static str]),
}

/// An export parameter an entity takes.
#[derive(Debug, Clone, Copy)]
pub struct Filter {
    pub param: &'static str,
    /// The view's column it applies to (unused by [`FilterKind::Flag`]).
    pub column: &'static str,
    pub kind: FilterKind,
    /// What it does, for the docs, when the kind and column do not say it (a [`FilterKind::Flag`] must).
    pub about: &'static str,
}

impl Filter {
    pub const fn new(param: &'static str, column: &'static str, kind: FilterKind) -> Filter {
        Filter { param, column, kind, about: "" }
    }

    /// The same filter, described in the docs by `about`.
    pub const fn about(self, about: &'static str) -> Filter {
        Filter { about, ..self }
    }

    /// What the parameter does, for the docs.
    pub fn describe(&self) -> String {
        if !self.about.is_empty() {
            return self.about.to_string();
        }
        let column = self.column;
        match self.kind {
            FilterKind::Countries => "ISO3 codes, comma-separated".into(),
            FilterKind::AdminLevel => "0 (country), 1, 2, ... (at most 5)".into(),
            FilterKind::Within => "p-codes, comma-separated: each area and every area inside it".into(),
            FilterKind::OnOrAfter => format!("`{column}` on or after this date (`YYYY-MM-DD`)"),
            FilterKind::OnOrBefore => format!("`{column}` on or before this date (`YYYY-MM-DD`)"),
            FilterKind::Equals => format!("`{column}` equal to this"),
            FilterKind::EqualsUpper => format!("`{column}` equal to this (any case)"),
            FilterKind::EqualsNumber => format!("`{column}` equal to this whole number"),
            FilterKind::Flag(sql) => format!("`true`: only rows where `{sql}`"),
            FilterKind::Breakdown(allowed) => {
                let values = if allowed.is_empty() {
                    "a value as the source names it".to_string()
                } else {
                    allowed.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                };
                format!("`{column}`: {values}, or `*` for every row; by default `all` only (the totals)")
            }
        }
    }
}

/// One BI entity, as [`bi_entity!`] declares it.
#[derive(Debug)]
pub struct Entity {
    /// The SQL view, `bi_<something>`.
    pub view: &'static str,
    /// The export's name: `/export/<export>.csv`.
    pub export: &'static str,
    /// What one row is, and how (not) to add rows up: the docs' paragraph.
    pub doc: &'static str,
    /// The view's `FROM` clause (tables and joins), without the keyword.
    pub from: &'static str,
    pub columns: &'static [Column],
    /// Columns the view has last, in this order, because they were added to it after it was
    /// published: PostgreSQL can only append columns to a view it replaces (which keeps its grants).
    pub view_appended: &'static [&'static str],
    /// The export's order: column names, each optionally followed by ` DESC`. It must tell every
    /// row apart, so that pages never overlap.
    pub order: &'static [&'static str],
    /// The columns that identify a row when they are not the order's never-missing columns (the OData
    /// feed's key, which links name: [`Link`]); empty: [`Entity::key_columns`] derives them.
    pub key: &'static [&'static str],
    /// How many leading columns of `order` page by key (each page continues after the last key
    /// sent: one index range scan however far the export has got); 0 pages by `OFFSET` (small tables).
    pub keyset: usize,
    /// What dates its rows, for `Country.themes` (data availability); `None` for entities that are
    /// not a theme's figures (the admin areas).
    pub period: Option<Period>,
    pub filters: &'static [Filter],
    /// Reads rows from a `SELECT` of every column (generated by [`bi_entity!`]: the row type's cells).
    pub load: LoadRows,
}

/// What dates an entity's rows, for `Country.themes` (data availability). A `Date` column is a day; an
/// `Integer` one a year (its whole year).
#[derive(Debug, Clone, Copy)]
pub enum Period {
    /// A theme's figures without a date (who is present, where the markets are).
    Undated,
    /// The columns holding the first and last day (or year) a row covers; the same column when a row
    /// is one day or year.
    Columns { start: &'static str, end: &'static str },
}

/// Runs a `SELECT` of every column of an entity (with its bound values) and gives each row's cells.
pub type LoadRows = fn(&mut AnyConnection, &str, &[Bind]) -> Result<Vec<Vec<Cell>>, StoreError>;

/// One value of an exported row (and of a keyset cursor).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    Date(Option<NaiveDate>),
    Time(Option<NaiveDateTime>),
}

/// A Rust value of a BI row, as a [`Cell`].
pub trait IntoCell {
    fn into_cell(self) -> Cell;
    /// The cell of a missing value of this type.
    fn null() -> Cell;
}

macro_rules! into_cell {
    ($rust:ty, $variant:ident, |$v:ident| $convert:expr) => {
        impl IntoCell for $rust {
            fn into_cell(self) -> Cell {
                let $v = self;
                Cell::$variant(Some($convert))
            }
            fn null() -> Cell {
                Cell::$variant(None)
            }
        }
    };
}
into_cell!(String, Text, |v| v);
into_cell!(i32, Int, |v| i64::from(v));
into_cell!(i64, Int, |v| v);
into_cell!(f64, Float, |v| v);
into_cell!(bool, Bool, |v| v);
into_cell!(NaiveDate, Date, |v| v);
into_cell!(NaiveDateTime, Time, |v| v);

impl<T: IntoCell> IntoCell for Option<T> {
    fn into_cell(self) -> Cell {
        match self {
            Some(v) => v.into_cell(),
            None => T::null(),
        }
    }
    fn null() -> Cell {
        T::null()
    }
}

/// The Rust type a BI column's SQL type is read into.
pub trait RustType {
    type Rust;
}
impl RustType for st::Text {
    type Rust = String;
}
impl RustType for st::Integer {
    type Rust = i32;
}
impl RustType for st::BigInt {
    type Rust = i64;
}
impl RustType for st::Double {
    type Rust = f64;
}
impl RustType for st::Bool {
    type Rust = bool;
}
impl RustType for st::Date {
    type Rust = NaiveDate;
}
impl RustType for st::Timestamp {
    type Rust = NaiveDateTime;
}
impl<T: RustType> RustType for st::Nullable<T> {
    type Rust = Option<T::Rust>;
}

/// Declares a BI entity: its row type, and a `pub const` [`Entity`] from which the view, the export and
/// the docs derive. Each column reads `name: SqlType = "SQL expression", "#hxl+tag", "description";`
/// (`= "postgres" | sqlite "sqlite"` when the backends need different SQL). List the constant in
/// [`crate::BI_ENTITIES`].
///
/// ```ignore
/// crate::bi::bi_entity! {
///     /// One row per site and round.
///     pub struct BiSite as SITES_BI {
///         view: "bi_sites",
///         export: "sites",
///         from: "sites s JOIN countries c ON c.iso3 = s.country_iso3",
///         order: ["country_iso3", "site_code"],
///         // Optional: the OData key, when it is not the order's never-missing columns.
///         // key: ["country_iso3", "site_code"],
///         // A theme's figures: the column(s) dating a row (`"start" to "end"` for a span; `undated`),
///         // for `Country.themes`. Left out by entities that are not a theme's (admin areas).
///         period: "reporting_date",
///         // Filter and the FilterKind variants are in scope here.
///         filters: [Filter::new("country", "country_iso3", Countries)],
///         columns: {
///             country_iso3: Text = "s.country_iso3", "#country+code", "ISO3 code of the country.";
///             households: Nullable<BigInt> = "s.households", "#affected+idps+hh", "Households.";
///         }
///     }
/// }
/// ```
macro_rules! bi_entity {
    (
        $(#[doc = $doc:literal])*
        $vis:vis struct $row:ident as $entity:ident {
            view: $view:literal,
            export: $export:literal,
            from: $from:expr,
            $(view_appended: [$($appended:literal),* $(,)?],)?
            order: [$($order:literal),* $(,)?],
            $(key: [$($key:literal),* $(,)?],)?
            $(keyset: $keyset:literal,)?
            $(period: $period_start:tt $(to $period_end:literal)?,)?
            filters: [$($filter:expr),* $(,)?],
            columns: {
                $(
                    $col:ident : $sql_ty:ident $(<$inner:ident>)? = $sql:literal $(| sqlite $sqlite:literal)?,
                    $hxl:literal, $coldoc:expr;
                )*
            }
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone)]
        $vis struct $row {
            $(
                pub $col: <$crate::bi::sql_types::$sql_ty $(<$crate::bi::sql_types::$inner>)? as $crate::bi::RustType>::Rust,
            )*
        }

        /// Read by position: the entity's `SELECT` lists the columns in declaration order. (Looking each
        /// cell up by name, as the derive does, made reading 60,270 IDP rows 1.5x slower.)
        impl<DB: diesel::backend::Backend> diesel::deserialize::QueryableByName<DB> for $row
        where
            $(
                <$crate::bi::sql_types::$sql_ty $(<$crate::bi::sql_types::$inner>)? as $crate::bi::RustType>::Rust:
                    diesel::deserialize::FromSql<$crate::bi::sql_types::$sql_ty $(<$crate::bi::sql_types::$inner>)?, DB>,
            )*
        {
            fn build<'a>(row: &impl diesel::row::NamedRow<'a, DB>) -> diesel::deserialize::Result<Self> {
                let mut position = 0usize..;
                Ok($row {
                    $(
                        $col: diesel::row::Row::get_value::<
                            $crate::bi::sql_types::$sql_ty $(<$crate::bi::sql_types::$inner>)?, _, usize
                        >(row, position.next().unwrap_or_default())?,
                    )*
                })
            }
        }

        impl $row {
            /// The row's cells, in column order.
            pub fn into_cells(self) -> Vec<$crate::bi::Cell> {
                vec![$($crate::bi::IntoCell::into_cell(self.$col)),*]
            }
        }

        $(#[doc = $doc])*
        $vis const $entity: $crate::bi::Entity = $crate::bi::Entity {
            view: $view,
            export: $export,
            doc: concat!($($doc, "\n"),*),
            from: $from,
            columns: &[$(
                $crate::bi::Column {
                    name: stringify!($col),
                    sql_type: $crate::bi::bi_entity!(@type $sql_ty $(<$inner>)?).0,
                    nullable: $crate::bi::bi_entity!(@type $sql_ty $(<$inner>)?).1,
                    sql: $sql,
                    sqlite: $crate::bi::bi_entity!(@some $($sqlite)?),
                    hxl: $hxl,
                    doc: $coldoc,
                }
            ),*],
            view_appended: &[$($($appended),*)?],
            order: &[$($order),*],
            key: &[$($($key),*)?],
            keyset: $crate::bi::bi_entity!(@or_zero $($keyset)?),
            period: $crate::bi::bi_entity!(@period $($period_start $(to $period_end)?)?),
            filters: {
                #[allow(unused_imports)]
                use $crate::bi::{Filter, FilterKind::*};
                &[$($filter),*]
            },
            load: |conn, sql, binds| {
                let rows: Vec<$row> = $crate::bi::load_by_name(conn, sql, binds)?;
                Ok(rows.into_iter().map($row::into_cells).collect())
            },
        };
    };
    (@type Nullable<$inner:ident>) => { ($crate::bi::SqlType::$inner, true) };
    (@type $sql_ty:ident) => { ($crate::bi::SqlType::$sql_ty, false) };
    (@some) => { None };
    (@some $value:literal) => { Some($value) };
    (@period) => { None };
    (@period undated) => { Some($crate::bi::Period::Undated) };
    (@period $start:literal) => { Some($crate::bi::Period::Columns { start: $start, end: $start }) };
    (@period $start:literal to $end:literal) => { Some($crate::bi::Period::Columns { start: $start, end: $end }) };
    (@or_zero) => { 0 };
    (@or_zero $value:literal) => { $value };
}
pub(crate) use bi_entity;

/// Descriptions of the provenance columns every figure entity ends with (the same words everywhere).
pub mod provenance {
    pub const DATASET: &str = "The dataset's key (`Dataset.key` in GraphQL).";
    pub const DATASET_TITLE: &str = "The dataset's title as its publisher gives it.";
    pub const LICENCE: &str = "The licence's title (as GraphQL's `Dataset.licence`).";
    pub const LICENCE_URL: &str = "Where the licence's terms are published, when known.";
    pub const CREDIT: &str = "Who to credit when showing the figure.";
    pub const RESOURCE_URL: &str = "The file or API address the row was read from.";
    pub const INGEST_RUN_ID: &str = "The ingest run that last wrote the row.";
    pub const RETRIEVED_AT: &str = "When that run fetched the file (UTC).";
}

/// A value bound to a statement's placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Integer(i32),
    BigInt(i64),
    Date(NaiveDate),
    Double(f64),
    Bool(bool),
    /// An instant in UTC (the `Timestamp` columns).
    Timestamp(NaiveDateTime),
    /// A list of texts: `= ANY($n)` on PostgreSQL (one array), `IN (?, ?, ...)` on SQLite.
    Texts(Vec<String>),
}

/// Runs a `SELECT` whose placeholders are bound to `binds`, reading rows by column name.
pub fn load_by_name<R>(conn: &mut AnyConnection, sql: &str, binds: &[Bind]) -> Result<Vec<R>, StoreError>
where
    R: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    Ok(crate::on_backend!(conn, |c| {
        let mut query = diesel::sql_query(sql).into_boxed();
        for bind in binds {
            query = match bind.clone() {
                Bind::Text(v) => query.bind::<st::Text, _>(v),
                Bind::Integer(v) => query.bind::<st::Integer, _>(v),
                Bind::BigInt(v) => query.bind::<st::BigInt, _>(v),
                Bind::Date(v) => query.bind::<st::Date, _>(v),
                Bind::Double(v) => query.bind::<st::Double, _>(v),
                Bind::Bool(v) => query.bind::<st::Bool, _>(v),
                Bind::Timestamp(v) => query.bind::<st::Timestamp, _>(v),
                Bind::Texts(values) => bind_texts(query, values),
            };
        }
        query.load::<R>(c)
    })?)
}

/// A text list: one array on PostgreSQL, one placeholder per value on SQLite.
trait BindTexts: Sized {
    fn bind_texts(self, values: Vec<String>) -> Self;
}
impl<'f> BindTexts for diesel::query_builder::BoxedSqlQuery<'f, diesel::pg::Pg, diesel::query_builder::SqlQuery> {
    fn bind_texts(self, values: Vec<String>) -> Self {
        self.bind::<st::Array<st::Text>, _>(values)
    }
}
impl<'f> BindTexts
    for diesel::query_builder::BoxedSqlQuery<'f, diesel::sqlite::Sqlite, diesel::query_builder::SqlQuery>
{
    fn bind_texts(mut self, values: Vec<String>) -> Self {
        for v in values {
            self = self.bind::<st::Text, _>(v);
        }
        self
    }
}
fn bind_texts<Q: BindTexts>(query: Q, values: Vec<String>) -> Q {
    query.bind_texts(values)
}

/// A statement being written, with its placeholders in the backend's syntax.
pub(crate) struct Statement {
    postgres: bool,
    pub(crate) text: String,
    pub(crate) binds: Vec<Bind>,
    placeholders: usize,
}

impl Statement {
    fn new(conn: &AnyConnection) -> Statement {
        let postgres = matches!(conn, AnyConnection::Postgresql(_));
        Statement { postgres, text: String::new(), binds: Vec::new(), placeholders: 0 }
    }

    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    fn bind(&mut self, value: Bind) -> &mut Self {
        let count = match &value {
            Bind::Texts(values) if !self.postgres => values.len(),
            _ => 1,
        };
        for i in 0..count {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.placeholders += 1;
            if self.postgres {
                let _ = write!(self.text, "${}", self.placeholders);
            } else {
                self.text.push('?');
            }
        }
        self.binds.push(value);
        self
    }
}

/// A condition on an entity's rows, from one export parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The column is one of these texts.
    In(&'static str, Vec<String>),
    /// The column compared (`=`, `>=`, `<=`) with a value.
    Compare(&'static str, &'static str, Bind),
    /// SQL of the entity's own declaration.
    Sql(&'static str),
    /// The column is the p-code of one of these areas or of an area inside one: resolved by [`resolve`].
    Within(&'static str, Vec<String>),
    /// A condition of any shape on the entity's columns (the OData feed's `$filter`).
    Where(predicate::Predicate),
}

impl Filter {
    /// The condition for the parameter's value (`None`: not given; empty values count as not given).
    pub fn condition(&self, value: Option<&str>) -> Result<Option<Condition>, String> {
        let (param, column) = (self.param, self.column);
        let list = |v: &str| -> Vec<String> {
            v.split(',').map(|c| c.trim().to_uppercase()).filter(|c| !c.is_empty()).collect()
        };
        let number = |v: &str| v.parse::<i32>().map_err(|_| format!("{param} must be a whole number, not {v:?}"));
        let date = |v: &str| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| format!("{param} must be a date YYYY-MM-DD, not {v:?}"))
        };
        if let FilterKind::Breakdown(allowed) = self.kind {
            // Figures are per sex and age group, besides their totals (`all`): by default only the
            // totals, so that a sum over one admin level is the figure. `*` keeps every row.
            return match value.map(str::to_lowercase) {
                None => Ok(Some(Condition::Compare(column, "=", Bind::Text("all".into())))),
                Some(v) if v == "*" => Ok(None),
                Some(v) if allowed.is_empty() || allowed.contains(&v.as_str()) => {
                    Ok(Some(Condition::Compare(column, "=", Bind::Text(v))))
                }
                Some(v) => Err(format!("{param} must be one of {} or *, not {v:?}", allowed.join(", "))),
            };
        }
        let Some(value) = value else { return Ok(None) };
        Ok(match self.kind {
            FilterKind::Countries => {
                let countries = list(value);
                if let Some(bad) =
                    countries.iter().find(|c| c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphabetic()))
                {
                    return Err(format!("{param} {bad:?} is not an ISO3 code"));
                }
                (!countries.is_empty()).then_some(Condition::In(column, countries))
            }
            FilterKind::AdminLevel => {
                let level = number(value)?;
                if !(0..=5).contains(&level) {
                    return Err(format!("{param} must be between 0 and 5"));
                }
                Some(Condition::Compare(column, "=", Bind::Integer(level)))
            }
            FilterKind::Within => {
                let pcodes = list(value);
                (!pcodes.is_empty()).then_some(Condition::Within(column, pcodes))
            }
            FilterKind::OnOrAfter => Some(Condition::Compare(column, ">=", Bind::Date(date(value)?))),
            FilterKind::OnOrBefore => Some(Condition::Compare(column, "<=", Bind::Date(date(value)?))),
            FilterKind::Equals => Some(Condition::Compare(column, "=", Bind::Text(value.to_string()))),
            FilterKind::EqualsUpper => Some(Condition::Compare(column, "=", Bind::Text(value.to_uppercase()))),
            FilterKind::EqualsNumber => Some(Condition::Compare(column, "=", Bind::Integer(number(value)?))),
            FilterKind::Flag(sql) => match value {
                "true" | "1" | "yes" => Some(Condition::Sql(sql)),
                "false" | "0" | "no" => None,
                other => return Err(format!("{param} must be true or false, not {other:?}")),
            },
            FilterKind::Breakdown(_) => None,
        })
    }
}

/// Turns [`Condition::Within`] into the p-codes of the areas and of every area below them (all editions).
pub fn resolve(conn: &mut AnyConnection, conditions: &mut [Condition]) -> Result<(), StoreError> {
    for condition in conditions.iter_mut() {
        if let Condition::Within(column, roots) = condition {
            *condition = Condition::In(column, pcodes_within(conn, roots)?);
        }
    }
    Ok(())
}

/// Where the next page of an export starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cursor {
    /// Rows to skip (the first page of a request that asked for an `offset`).
    pub offset: i64,
    /// For keyset paging: the key of the last row sent, and how many rows with exactly that key were sent.
    pub after: Option<(Vec<Cell>, i64)>,
}

impl Entity {
    /// The view's columns in the view's order (see [`Entity::view_appended`]).
    pub fn view_columns(&self) -> Vec<&Column> {
        let mut columns: Vec<&Column> = self.columns.iter().filter(|c| !self.view_appended.contains(&c.name)).collect();
        columns.extend(self.view_appended.iter().filter_map(|name| self.columns.iter().find(|c| c.name == *name)));
        columns
    }

    /// The statement that creates the view (`CREATE OR REPLACE` on PostgreSQL, which keeps its grants).
    pub fn view_sql(&self, backend: Backend) -> String {
        let select: Vec<String> = self
            .view_columns()
            .iter()
            .map(|c| {
                let sql = match backend {
                    Backend::Sqlite => c.sqlite.unwrap_or(c.sql),
                    Backend::Postgres => c.sql,
                };
                format!("    {sql} AS {}", c.name)
            })
            .collect();
        let create = match backend {
            Backend::Postgres => "CREATE OR REPLACE VIEW",
            Backend::Sqlite => "CREATE VIEW",
        };
        format!("{create} {} AS\nSELECT\n{}\nFROM {}", self.view, select.join(",\n"), self.from)
    }

    pub(crate) fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The filter an export parameter names, if the entity takes it.
    pub fn filter(&self, param: &str) -> Option<&Filter> {
        self.filters.iter().find(|f| f.param == param)
    }

    pub(crate) fn select(
        &self,
        conn: &AnyConnection,
        what: &str,
        conditions: &[Condition],
    ) -> Result<Statement, StoreError> {
        let mut statement = Statement::new(conn);
        statement.push(&format!("SELECT {what} FROM {}", self.view));
        for (i, condition) in conditions.iter().enumerate() {
            statement.push(if i == 0 { " WHERE " } else { " AND " });
            match condition {
                Condition::In(_, values) if values.is_empty() => {
                    statement.push("1 = 0");
                }
                Condition::In(column, values) => {
                    if statement.postgres {
                        statement.push(&format!("{column} = ANY("));
                    } else {
                        statement.push(&format!("{column} IN ("));
                    }
                    statement.bind(Bind::Texts(values.clone())).push(")");
                }
                Condition::Compare(column, op, value) => {
                    statement.push(&format!("{column} {op} ")).bind(value.clone());
                }
                Condition::Sql(sql) => {
                    statement.push(&format!("({sql})"));
                }
                // Unresolved: no area matches (resolve first).
                Condition::Within(..) => {
                    statement.push("1 = 0");
                }
                Condition::Where(predicate) => {
                    self.write_predicate(&mut statement, predicate).map_err(StoreError::Invalid)?;
                }
            }
        }
        Ok(statement)
    }

    fn order_by(&self) -> String {
        format!(" ORDER BY {}", self.order.join(", "))
    }

    /// The next `limit` rows matching `conditions` from `cursor`, which moves past them.
    pub fn rows(
        &self,
        conn: &mut AnyConnection,
        conditions: &[Condition],
        limit: i64,
        cursor: &mut Cursor,
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        let columns: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        let mut statement = self.select(conn, &columns.join(", "), conditions)?;
        let key_columns: Vec<&str> = self.order[..self.keyset].iter().map(|o| o.trim_end_matches(" DESC")).collect();
        let skip = match &cursor.after {
            Some((key, sent)) if self.keyset > 0 => {
                statement.push(if conditions.is_empty() { " WHERE (" } else { " AND (" });
                statement.push(&key_columns.join(", ")).push(") >= (");
                for (i, (name, cell)) in key_columns.iter().zip(key).enumerate() {
                    if i > 0 {
                        statement.push(", ");
                    }
                    let bind = self.column(name).and_then(|c| key_bind(c.sql_type, cell)).ok_or_else(|| {
                        StoreError::Invalid(format!("{}: key column {name} cannot be compared", self.view))
                    })?;
                    statement.bind(bind);
                }
                statement.push(")");
                *sent
            }
            _ => cursor.offset,
        };
        statement.push(&self.order_by()).push(" LIMIT ").bind(Bind::BigInt(limit));
        statement.push(" OFFSET ").bind(Bind::BigInt(skip));
        let rows = (self.load)(conn, &statement.text, &statement.binds)?;
        if self.keyset > 0
            && let Some(last) = rows.last()
        {
            let positions: Vec<usize> =
                key_columns.iter().filter_map(|name| self.columns.iter().position(|c| c.name == *name)).collect();
            let key_of = |row: &Vec<Cell>| -> Vec<Cell> { positions.iter().map(|&i| row[i].clone()).collect() };
            let key = key_of(last);
            let trailing = rows.iter().rev().take_while(|r| key_of(r) == key).count() as i64;
            let sent = match &cursor.after {
                Some((previous, sent)) if *previous == key && trailing == rows.len() as i64 => sent + trailing,
                _ => trailing,
            };
            cursor.after = Some((key, sent));
        }
        cursor.offset += rows.len() as i64;
        Ok(rows)
    }

    /// Whether a row matching `conditions` exists at position `offset` (for `Link: rel="next"`).
    pub fn row_exists_at(
        &self,
        conn: &mut AnyConnection,
        conditions: &[Condition],
        offset: i64,
    ) -> Result<bool, StoreError> {
        #[derive(QueryableByName)]
        struct Probe {
            #[diesel(sql_type = st::Integer)]
            #[allow(dead_code)]
            probe: i32,
        }
        let mut statement = self.select(conn, "1 AS probe", conditions)?;
        statement.push(&self.order_by()).push(" LIMIT 1 OFFSET ").bind(Bind::BigInt(offset));
        let found: Vec<Probe> = load_by_name(conn, &statement.text, &statement.binds)?;
        Ok(!found.is_empty())
    }
}

impl Entity {
    /// The columns that identify a row (the OData feed's key): the columns of the export's order that
    /// are never missing. The order tells every row apart; a missing value in it (the IDP rows'
    /// `area_pcode`) follows from the columns before it.
    pub fn key_columns(&self) -> Vec<&Column> {
        if !self.key.is_empty() {
            return self.key.iter().filter_map(|name| self.column(name)).collect();
        }
        self.order.iter().filter_map(|o| self.column(o.trim_end_matches(" DESC"))).filter(|c| !c.nullable).collect()
    }

    /// How many rows match `conditions`.
    pub fn count(&self, conn: &mut AnyConnection, conditions: &[Condition]) -> Result<i64, StoreError> {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = st::BigInt)]
            n: i64,
        }
        let statement = self.select(conn, "COUNT(*) AS n", conditions)?;
        let found: Vec<Count> = load_by_name(conn, &statement.text, &statement.binds)?;
        Ok(found.first().map(|c| c.n).unwrap_or(0))
    }

    /// `limit` rows matching `conditions` after the first `offset`, in the order of `order` (column
    /// names, each with `true` for descending), then the export's order (so that ties are always
    /// broken the same way and pages never overlap).
    pub fn rows_ordered(
        &self,
        conn: &mut AnyConnection,
        conditions: &[Condition],
        order: &[(&str, bool)],
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        let columns: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        let mut statement = self.select(conn, &columns.join(", "), conditions)?;
        let mut terms = Vec::new();
        for (name, descending) in order {
            let column =
                self.column(name).ok_or_else(|| StoreError::Invalid(format!("{} has no column {name}", self.view)))?;
            // Missing values sort first ascending and last descending on both backends.
            let nulls = match (column.nullable, statement.postgres, descending) {
                (true, true, false) => " NULLS FIRST",
                (true, true, true) => " NULLS LAST",
                _ => "",
            };
            terms.push(format!("{}{}{nulls}", column.name, if *descending { " DESC" } else { "" }));
        }
        terms.extend(self.order.iter().map(|o| o.to_string()));
        statement.push(&format!(" ORDER BY {}", terms.join(", ")));
        statement.push(" LIMIT ").bind(Bind::BigInt(limit));
        statement.push(" OFFSET ").bind(Bind::BigInt(offset));
        (self.load)(conn, &statement.text, &statement.binds)
    }
}

/// A link from one entity's rows to another entity's row (the OData feed's navigation properties),
/// declared once in [`LINKS`]: every entity with all its `on` columns has it, so a theme whose rows
/// name an area gets `AdminArea` with no code of its own.
#[derive(Debug)]
pub struct Link {
    /// The navigation property's name.
    pub name: &'static str,
    /// The export name of the entity it leads to.
    pub target: &'static str,
    /// (this entity's column, the target's key column) pairs: the target's whole key, text first.
    pub on: &'static [(&'static str, &'static str)],
    pub doc: &'static str,
}

/// Every link between BI entities.
pub const LINKS: &[Link] = &[
    Link { name: "Country", target: "countries", on: &[("country_iso3", "iso3")], doc: "The country of the row." },
    Link {
        name: "AdminArea",
        target: "admin-areas",
        on: &[("area_pcode", "pcode"), ("area_valid_from", "valid_from")],
        doc: "The admin area (in its boundary edition) the row is for; none when the row has no area.",
    },
    Link {
        name: "Parent",
        target: "admin-areas",
        on: &[("parent_pcode", "pcode"), ("parent_valid_from", "valid_from")],
        doc: "The area's parent (in its boundary edition); none for a country's level 0.",
    },
];

impl Link {
    /// The entity the link leads to.
    pub fn target(&self) -> Option<&'static Entity> {
        entity(self.target)
    }

    /// Whether a row may have no target (some column of `on` may be missing).
    pub fn nullable(&self, from: &Entity) -> bool {
        self.on.iter().any(|(column, _)| from.column(column).is_none_or(|c| c.nullable))
    }
}

impl Entity {
    /// The links of this entity's rows: those of [`LINKS`] whose columns it has.
    pub fn links(&self) -> Vec<&'static Link> {
        LINKS.iter().filter(|l| l.on.iter().all(|(column, _)| self.column(column).is_some())).collect()
    }

    /// The link called `name`, if this entity has it.
    pub fn link(&self, name: &str) -> Option<&'static Link> {
        self.links().into_iter().find(|l| l.name == name)
    }

    /// For each of `rows` (this entity's, every column in order), the row of the link's target it
    /// names, if any: one statement for all of them (the target's rows whose first key column is one
    /// of the rows' values), matched on the whole key here.
    pub fn follow(
        &self,
        conn: &mut AnyConnection,
        link: &Link,
        rows: &[Vec<Cell>],
    ) -> Result<Vec<Option<Vec<Cell>>>, StoreError> {
        let invalid = || StoreError::Invalid(format!("{}: the link {} does not apply", self.view, link.name));
        let target = link.target().ok_or_else(invalid)?;
        let position = |entity: &Entity, name: &str| entity.columns.iter().position(|c| c.name == name);
        let from: Vec<usize> =
            link.on.iter().map(|(column, _)| position(self, column)).collect::<Option<_>>().ok_or_else(invalid)?;
        let to: Vec<usize> =
            link.on.iter().map(|(_, column)| position(target, column)).collect::<Option<_>>().ok_or_else(invalid)?;
        let (first, first_target) = (from[0], link.on[0].1);
        let mut values: Vec<String> = rows
            .iter()
            .filter_map(|r| match r.get(first) {
                Some(Cell::Text(Some(v))) => Some(v.clone()),
                _ => None,
            })
            .collect();
        values.sort_unstable();
        values.dedup();
        if values.is_empty() {
            return Ok(vec![None; rows.len()]);
        }
        let columns: Vec<&str> = target.columns.iter().map(|c| c.name).collect();
        let statement = target.select(conn, &columns.join(", "), &[Condition::In(first_target, values)])?;
        let found = (target.load)(conn, &statement.text, &statement.binds)?;
        let key = |positions: &[usize], row: &[Cell]| -> Option<String> {
            let cells: Vec<&Cell> = positions.iter().filter_map(|&i| row.get(i)).collect();
            (cells.len() == positions.len() && cells.iter().all(|c| !c.is_null())).then(|| format!("{cells:?}"))
        };
        let by_key: std::collections::HashMap<String, Vec<Cell>> =
            found.into_iter().filter_map(|row| Some((key(&to, &row)?, row))).collect();
        Ok(rows.iter().map(|row| key(&from, row).and_then(|k| by_key.get(&k).cloned())).collect())
    }
}

impl Cell {
    /// Whether the value is missing.
    pub fn is_null(&self) -> bool {
        matches!(
            self,
            Cell::Text(None)
                | Cell::Int(None)
                | Cell::Float(None)
                | Cell::Bool(None)
                | Cell::Date(None)
                | Cell::Time(None)
        )
    }
}

/// A key cell bound with its column's type (keys are never missing: they are sort keys of the index).
fn key_bind(sql_type: SqlType, cell: &Cell) -> Option<Bind> {
    match (sql_type, cell) {
        (SqlType::Text, Cell::Text(Some(v))) => Some(Bind::Text(v.clone())),
        (SqlType::Integer, Cell::Int(Some(v))) => i32::try_from(*v).ok().map(Bind::Integer),
        (SqlType::BigInt, Cell::Int(Some(v))) => Some(Bind::BigInt(*v)),
        (SqlType::Date, Cell::Date(Some(v))) => Some(Bind::Date(*v)),
        _ => None,
    }
}

/// The entity exported as `name`.
pub fn entity(name: &str) -> Option<&'static Entity> {
    crate::BI_ENTITIES.iter().copied().find(|e| e.export == name)
}

/// A stable hash (FNV-1a) of a view's definition, kept in its comment on PostgreSQL.
fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

/// Creates or replaces every entity's view where its definition changed, in one transaction: after the
/// migrations (which created the first versions; their view SQL is history). PostgreSQL replaces a view
/// in place (its grants to a BI role stay) and comments each view and column with its description;
/// SQLite drops and creates it. When nothing changed (every start but the first after an upgrade) it
/// only reads: no write lock, so a start never waits for another process's long write.
pub fn create_views(conn: &mut AnyConnection) -> Result<usize, StoreError> {
    if stale_views(conn)?.is_empty() {
        return Ok(0);
    }
    let postgres = matches!(conn, AnyConnection::Postgresql(_));
    crate::write_transaction(conn, |conn| {
        if postgres {
            // Two replicas starting at once would otherwise race on the same catalog rows.
            conn.batch_execute("SELECT pg_advisory_xact_lock(4242011)")?;
        }
        let stale = stale_views(conn)?;
        for (entity, sql, marker) in &stale {
            if postgres {
                conn.batch_execute(sql)?;
                conn.batch_execute(&format!("COMMENT ON VIEW {} IS {}", entity.view, quote(marker)))?;
                for column in entity.columns {
                    conn.batch_execute(&format!(
                        "COMMENT ON COLUMN {}.{} IS {}",
                        entity.view,
                        column.name,
                        quote(column.doc)
                    ))?;
                }
            } else {
                conn.batch_execute(&format!("DROP VIEW IF EXISTS {}", entity.view))?;
                conn.batch_execute(sql)?;
            }
        }
        Ok(stale.len())
    })
}

/// The entities whose view differs from their declaration, with the statement that creates the view and
/// what the database keeps to tell (PostgreSQL: the view's comment, its description and a fingerprint
/// of the definition; SQLite: the statement itself, as `sqlite_master` keeps it).
fn stale_views(conn: &mut AnyConnection) -> Result<Vec<(&'static Entity, String, String)>, StoreError> {
    #[derive(QueryableByName)]
    struct Kept {
        #[diesel(sql_type = st::Nullable<st::Text>)]
        text: Option<String>,
    }
    let postgres = matches!(conn, AnyConnection::Postgresql(_));
    let mut stale = Vec::new();
    for entity in crate::BI_ENTITIES.iter().copied() {
        let backend = if postgres { Backend::Postgres } else { Backend::Sqlite };
        let sql = entity.view_sql(backend);
        let (query, wanted) = if postgres {
            let mut comments = String::new();
            for column in entity.columns {
                let _ = write!(comments, ";{}={}", column.name, column.doc);
            }
            let marker = format!("[definition {}]", fingerprint(&format!("{sql}{}{comments}", entity.doc)));
            (
                "SELECT obj_description(c.oid, 'pg_class') AS text FROM pg_class c \
                 WHERE c.relname = $1 AND c.relkind = 'v' AND pg_table_is_visible(c.oid)",
                format!("{} {marker}", entity.doc.trim()),
            )
        } else {
            ("SELECT sql AS text FROM sqlite_master WHERE type = 'view' AND name = ?", sql.clone())
        };
        let found: Vec<Kept> = load_by_name(conn, query, &[Bind::Text(entity.view.to_string())])?;
        if found.first().and_then(|k| k.text.as_deref()) != Some(wanted.as_str()) {
            stale.push((entity, sql, wanted));
        }
    }
    Ok(stale)
}

/// An SQL string literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The column tables of docs/bi.md, one per entity, from the declarations.
pub fn markdown_tables() -> String {
    let mut out = String::new();
    for entity in crate::BI_ENTITIES {
        let _ = writeln!(out, "#### `{}` (view `{}`)\n", entity.export, entity.view);
        for line in entity.doc.lines() {
            let _ = writeln!(out, "{}", line.trim());
        }
        out.push_str("\nParameters (besides `limit`, `offset`, `hxl` and `bom`):\n");
        for filter in entity.filters {
            let _ = writeln!(out, "- `{}`: {}", filter.param, filter.describe());
        }
        out.push_str("\n| column | type | HXL | description |\n|---|---|---|---|\n");
        for column in entity.columns {
            let kind = if column.nullable {
                format!("{} or empty", column.sql_type.describe())
            } else {
                column.sql_type.describe().to_string()
            };
            let _ = writeln!(out, "| `{}` | {kind} | `{}` | {} |", column.name, column.hxl, column.doc);
        }
        out.push('\n');
    }
    out
}

/// The p-codes of the given areas and of every area below them (all editions).
pub fn pcodes_within(conn: &mut AnyConnection, roots: &[String]) -> Result<Vec<String>, StoreError> {
    use crate::schema::admin_areas;
    let ids = crate::geography::area_ids_within(conn, roots)?;
    let mut found: Vec<String> =
        admin_areas::table.filter(admin_areas::id.eq_any(&ids)).select(admin_areas::pcode).load(conn)?;
    found.extend_from_slice(roots);
    found.sort();
    found.dedup();
    Ok(found)
}

/// The id and end time of the newest finished run that could have written data (not a dry run; a
/// failed run may have committed other countries): the data's version, for ETag and Last-Modified.
pub fn data_version(conn: &mut AnyConnection) -> Result<Option<(i64, NaiveDateTime)>, StoreError> {
    use crate::schema::ingest_runs;
    let row: Option<(i64, Option<NaiveDateTime>)> = ingest_runs::table
        .filter(ingest_runs::finished_at.is_not_null())
        .filter(ingest_runs::dry_run.eq(false))
        .order((ingest_runs::finished_at.desc(), ingest_runs::id.desc()))
        .select((ingest_runs::id, ingest_runs::finished_at))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(id, at)| at.map(|at| (id, at))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_is_consistent() {
        let mut exports: Vec<&str> = crate::BI_ENTITIES.iter().map(|e| e.export).collect();
        exports.sort_unstable();
        exports.dedup();
        assert_eq!(exports.len(), crate::BI_ENTITIES.len(), "export names are unique");
        for entity in crate::BI_ENTITIES {
            assert!(entity.view.starts_with("bi_"), "{}", entity.view);
            let has = |name: &str| entity.columns.iter().any(|c| c.name == name);
            for name in entity.view_appended {
                assert!(has(name), "{}: appended column {name} is declared", entity.view);
            }
            for order in entity.order {
                assert!(has(order.trim_end_matches(" DESC")), "{}: order column {order} is declared", entity.view);
            }
            assert!(entity.keyset <= entity.order.len());
            for filter in entity.filters {
                assert!(
                    matches!(filter.kind, FilterKind::Flag(_)) || has(filter.column),
                    "{}: filter {} names a declared column",
                    entity.view,
                    filter.param
                );
                assert!(
                    !matches!(filter.kind, FilterKind::Flag(_)) || !filter.about.is_empty(),
                    "{}: flag {} says what it does (`.about(...)`)",
                    entity.view,
                    filter.param
                );
            }
            assert!(entity.columns.iter().all(|c| !c.doc.is_empty() && c.hxl.starts_with('#')), "{}", entity.view);
            for name in entity.key {
                assert!(entity.column(name).is_some_and(|c| !c.nullable), "{}: key column {name}", entity.view);
            }
            for link in entity.links() {
                let target = link.target().expect("a link leads to a declared entity");
                let key: Vec<&str> = target.key_columns().iter().map(|c| c.name).collect();
                let on: Vec<&str> = link.on.iter().map(|(_, to)| *to).collect();
                assert_eq!(on, key, "{}: link {} names the target's whole key", entity.view, link.name);
                for (from, to) in link.on {
                    let (from, to) = (entity.column(from).expect("from"), target.column(to).expect("to"));
                    assert_eq!(from.sql_type, to.sql_type, "{}: link {}", entity.view, link.name);
                }
                assert_eq!(target.column(link.on[0].1).map(|c| c.sql_type), Some(SqlType::Text));
            }
        }
        let has = |export: &str, link: &str| entity(export).is_some_and(|e| e.link(link).is_some());
        assert!(has("idps", "AdminArea") && has("idps", "Country") && has("population", "AdminArea"));
        assert!(has("admin-areas", "Country") && has("admin-areas", "Parent") && !has("idps", "Parent"));
    }

    /// docs/bi.md's column tables come from the declarations.
    #[test]
    fn the_bi_guide_has_the_declared_columns() {
        let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/bi.md")).expect("docs/bi.md");
        let tables = markdown_tables();
        assert!(
            guide.contains(&tables),
            "docs/bi.md's column tables differ from the declarations; replace them with (`crisisgraph bi-columns`):\n{tables}"
        );
    }

    #[test]
    fn parameters_become_conditions() {
        let country = Filter::new("country", "country_iso3", FilterKind::Countries);
        assert_eq!(
            country.condition(Some("mli, hti")),
            Ok(Some(Condition::In("country_iso3", vec!["MLI".into(), "HTI".into()])))
        );
        assert!(country.condition(Some("MALI")).is_err());
        let sex = Filter::new("sex", "sex", FilterKind::Breakdown(&["all", "f", "m"]));
        assert_eq!(sex.condition(None), Ok(Some(Condition::Compare("sex", "=", Bind::Text("all".into())))));
        assert_eq!(sex.condition(Some("*")), Ok(None));
        assert!(sex.condition(Some("x")).is_err());
        let level = Filter::new("admin_level", "admin_level", FilterKind::AdminLevel);
        assert!(level.condition(Some("9")).is_err());
        let flag = Filter::new("current_only", "", FilterKind::Flag("valid_to IS NULL"));
        assert_eq!(flag.condition(Some("yes")), Ok(Some(Condition::Sql("valid_to IS NULL"))));
        assert_eq!(flag.condition(Some("false")), Ok(None));
        assert!(flag.condition(Some("maybe")).is_err());
    }
}
