//! Refugees and returnees (UNHCR): populations by country of asylum and of origin, year (or month,
//! for the situations file), population type, and sex and age where the file splits them. Each
//! publication keeps its own rows (`publication`): the end-year totals and the demographics count
//! the same people, so rows of different publications are never added together.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::upsert::RunStamp;
use crate::{AnyConnection, StoreError};

// The theme's table, declared here (not in `schema.rs`) so that a theme stays in its own module.
diesel::table! {
    refugees (id) {
        id -> BigInt,
        country_iso3 -> Text,
        publication -> Text,
        year -> Integer,
        reference_date -> Date,
        asylum_iso3 -> Text,
        origin_iso3 -> Text,
        population_type -> Text,
        location -> Text,
        gender -> Text,
        age_range -> Text,
        population -> BigInt,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

/// The code of "all" in the gender and age range columns.
pub const ALL: &str = "all";

/// UNHCR's publications for HDX, as `publication` names them.
pub mod publication {
    /// `EndYearPopulationTotals`: one row per year, origin and asylum, a column per population type.
    pub const TOTALS: &str = "totals";
    /// `Demographics`: one row per year, origin, asylum and population type, split by sex and age.
    pub const DEMOGRAPHICS: &str = "demographics";
    /// `Solutions`: returns, resettlement and naturalisation per year, origin and (former) asylum.
    pub const SOLUTIONS: &str = "solutions";
    /// The situations file: refugees and asylum-seekers per month, origin and asylum.
    pub const SITUATIONS: &str = "situations";
}

/// Population types that are returns: their row belongs to the country of origin (people returned
/// there), not to the country of asylum.
pub const RETURN_TYPES: [&str; 2] = ["RET", "RDP"];

/// A population figure as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = refugees)]
pub struct RefugeeRow {
    pub id: i64,
    pub country_iso3: String,
    pub publication: String,
    pub year: i32,
    pub reference_date: NaiveDate,
    pub asylum_iso3: String,
    pub origin_iso3: String,
    pub population_type: String,
    pub location: String,
    pub gender: String,
    pub age_range: String,
    pub population: i64,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// A validated population figure, written with [`crate::upsert::upsert`].
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = refugees, treat_none_as_null = true)]
pub struct RefugeeInput {
    /// The country whose run writes the row: the country of asylum, or of origin for a return.
    pub country_iso3: String,
    /// One of [`publication`].
    pub publication: String,
    pub year: i32,
    /// The day the figure is for: 31 December of `year` for the yearly files, the file's date for
    /// the situations file.
    pub reference_date: NaiveDate,
    /// Country of asylum (for a return: the country returned from), as UNHCR codes it.
    pub asylum_iso3: String,
    /// Country of origin as UNHCR codes it (`UKN` unknown, `STA` stateless); empty for a group of
    /// origins the situations file gives no code (see `location`).
    pub origin_iso3: String,
    /// UNHCR's code: `REF` refugees, `ASY` asylum-seekers, `IDP`, `OOC` others of concern, `STA`
    /// stateless, `OIP` others in need of international protection, `RET` returned refugees, `RDP`
    /// returned IDPs, `RST` resettled, `NAT` naturalised.
    pub population_type: String,
    /// The demographics file's location, urban/rural and accommodation columns, joined with `; `
    /// (empty when the file gives none); for a situations row whose origin has no code (`Others`,
    /// `Various`), `origin: ` and the file's name of it.
    pub location: String,
    /// `all`, `f` or `m`.
    pub gender: String,
    /// `all`, or an age band as the file gives it (`0-4`, `60+`, `unknown`).
    pub age_range: String,
    pub population: i64,
    pub resource_id: i64,
}

crate::keyed_table! {
    RefugeeInput in refugees,
    id: id: i64,
    key: (
        country_iso3: String,
        publication: String,
        reference_date: NaiveDate,
        asylum_iso3: String,
        origin_iso3: String,
        population_type: String,
        location: String,
        gender: String,
        age_range: String,
    ),
    scope: country_iso3: String,
    stamp: |s: RunStamp| (refugees::run_id.eq(s.run_id), refugees::retrieved_at.eq(s.retrieved_at)),
}

/// Which population figures to read.
#[derive(Debug, Clone, Default)]
pub struct RefugeeFilter {
    pub asylum_iso3: Option<String>,
    pub origin_iso3: Option<String>,
    pub year: Option<i32>,
    /// Population types (any of them).
    pub population_types: Option<Vec<String>>,
    pub publication: Option<String>,
    pub gender: Option<String>,
    pub age_range: Option<String>,
}

macro_rules! refugee_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &RefugeeFilter = $filter;
        let mut query = $query;
        if let Some(iso3) = &filter.asylum_iso3 {
            query = query.filter(refugees::asylum_iso3.eq(iso3.clone()));
        }
        if let Some(iso3) = &filter.origin_iso3 {
            query = query.filter(refugees::origin_iso3.eq(iso3.clone()));
        }
        if let Some(year) = filter.year {
            query = query.filter(refugees::year.eq(year));
        }
        if let Some(types) = &filter.population_types {
            query = query.filter(refugees::population_type.eq_any(types.clone()));
        }
        if let Some(p) = &filter.publication {
            query = query.filter(refugees::publication.eq(p.clone()));
        }
        if let Some(g) = &filter.gender {
            query = query.filter(refugees::gender.eq(g.clone()));
        }
        if let Some(a) = &filter.age_range {
            query = query.filter(refugees::age_range.eq(a.clone()));
        }
        query
    }};
}

crate::paging::figure_list! {
    /// The refugee figures, in the order they were written (by country of asylum and origin: no area narrows them).
    pub struct RefugeeFigures {
        table: refugees,
        row: RefugeeRow,
        filter: RefugeeFilter,
        apply: refugee_filter,
        within: |filter, area_ids, pcode| (),
    }
}

/// Every figure a country's run wrote, in the order written.
pub fn refugees_of_country(conn: &mut AnyConnection, iso3: &str) -> Result<Vec<RefugeeRow>, StoreError> {
    Ok(refugees::table
        .filter(refugees::country_iso3.eq(iso3))
        .order(refugees::id.asc())
        .select(RefugeeRow::as_select())
        .load(conn)?)
}

/// How many figures the store holds (for the sources' status).
pub fn count_refugees(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(refugees::table.count().get_result(conn)?)
}

crate::bi::bi_entity! {
    /// One row per UNHCR figure: people of one population type from a country of origin in a country of
    /// asylum, at a date (31 December for the yearly publications), for one sex and age band. **How (not)
    /// to add rows up:** by default the export has the totals only (`gender = all`, `age_range = all`);
    /// `gender=f` or `gender=m` (with `age_range=0-4`... for an age band) or `*` give the demographics
    /// publication's breakdown rows, which split those totals (and may not add up to them: UNHCR's sex
    /// split leaves people of unknown sex out, e.g. Afghan returnees 2019: 8,401 in all, 4,394 women and
    /// 3,684 men). The view has every row:
    /// filter on `gender = 'all' AND age_range = 'all'` there. **Never add rows of different
    /// `publication`s**: the end-year `totals`, the `demographics`, the `solutions` and the monthly
    /// `situations` count the same people again (Afghans in Pakistan 2019: `totals` REF 1,419,084). Within
    /// one publication, add rows of one `reference_date` and `population_type` over origins (a country's
    /// refugees) or over asylums (refugees from a country). A return (`RET`, `RDP`) belongs to the country
    /// of origin: in `demographics` its asylum is that country too (Afghan returnees 2019: 8,401), in
    /// `solutions` it is the country people returned from (6,232 from Pakistan). `country_iso3` is the
    /// country whose ingest wrote the row (the asylum, or the origin for a return).
    pub struct BiRefugee as REFUGEES_BI {
        view: "bi_refugees",
        export: "refugees",
        from: "refugees f\nJOIN resources r ON r.id = f.resource_id\nJOIN datasets d ON d.id = r.dataset_id\n\
               LEFT JOIN countries ca ON ca.iso3 = f.asylum_iso3\nLEFT JOIN countries co ON co.iso3 = f.origin_iso3",
        // The table's natural key (its unique index), which tells every row apart.
        order: [
            "country_iso3", "publication", "reference_date", "asylum_iso3", "origin_iso3", "population_type",
            "location", "gender", "age_range",
        ],
        keyset: 9,
        period: "reference_date",
        filters: [
            Filter::new("country", "country_iso3", Countries)
                .about("ISO3 codes, comma-separated: the rows those countries' ingests wrote (their asylum figures and their returns)"),
            Filter::new("asylum", "asylum_iso3", Countries),
            Filter::new("origin", "origin_iso3", Countries),
            Filter::new("year", "year", EqualsNumber),
            Filter::new("from", "reference_date", OnOrAfter),
            Filter::new("to", "reference_date", OnOrBefore),
            Filter::new("population_type", "population_type", EqualsUpper)
                .about("UNHCR's population type code: `REF`, `ASY`, `IDP`, `OOC`, `STA`, `OIP`, `RET`, `RDP`, `RST`, `NAT`"),
            Filter::new("publication", "publication", Equals)
                .about("`totals`, `demographics`, `solutions` or `situations`"),
            Filter::new("gender", "gender", Breakdown(&["all", "f", "m"])),
            Filter::new("age_range", "age_range", Breakdown(&[])),
        ],
        columns: {
            country_iso3: Text = "f.country_iso3", "#country+code", "The country whose ingest wrote the row: the country of asylum, or of origin for a return.";
            publication: Text = "f.publication", "#meta+publication", "UNHCR's publication: `totals`, `demographics`, `solutions` or `situations`. Never add rows of two publications.";
            year: Integer = "f.year", "#date+year", "The year the figure is for.";
            reference_date: Date = "f.reference_date", "#date", "The day the figure is for: 31 December for the yearly publications, the month's date for situations.";
            asylum_iso3: Text = "f.asylum_iso3", "#country+code+asylum", "Country of asylum as UNHCR codes it (for a return: the country returned from).";
            asylum_name: Nullable<Text> = "ca.name", "#country+name+asylum", "The country of asylum's name (empty for a code that is no country).";
            origin_iso3: Text = "f.origin_iso3", "#country+code+origin", "Country of origin as UNHCR codes it (`UKN` unknown, `STA` stateless; empty for a group of origins without a code).";
            origin_name: Nullable<Text> = "co.name", "#country+name+origin", "The country of origin's name (empty for a code that is no country).";
            population_type: Text = "f.population_type", "#population_group+code", "`REF` refugees, `ASY` asylum-seekers, `IDP`, `OOC` others of concern, `STA` stateless, `OIP` others in need of international protection, `RET` returned refugees, `RDP` returned IDPs, `RST` resettled, `NAT` naturalised.";
            location: Text = "f.location", "#loc+name", "The demographics file's location, urban/rural and accommodation (joined with `; `), or `origin: ` and the name of a situations group of origins without a code; usually empty.";
            gender: Text = "f.gender", "#gender+code", "`all`, `f` or `m`.";
            age_range: Text = "f.age_range", "#age+range", "`all`, or an age band (`0-4`, `5-11`, `12-17`, `18-59`, `60+`, `unknown`).";
            population: BigInt = "f.population", "#population", "People.";
            dataset: Text = "d.source_key", "#meta+dataset+id", crate::bi::provenance::DATASET;
            dataset_title: Text = "d.title", "#meta+dataset+title", crate::bi::provenance::DATASET_TITLE;
            licence: Text = "d.licence_title", "#meta+licence", crate::bi::provenance::LICENCE;
            licence_url: Nullable<Text> = "d.licence_url", "#meta+licence+url", crate::bi::provenance::LICENCE_URL;
            credit: Text = "d.credit", "#meta+source", crate::bi::provenance::CREDIT;
            resource_url: Text = "r.url", "#meta+url", crate::bi::provenance::RESOURCE_URL;
            ingest_run_id: BigInt = "f.run_id", "#meta+run+id", crate::bi::provenance::INGEST_RUN_ID;
            retrieved_at: Timestamp = "f.retrieved_at", "#date+retrieved", crate::bi::provenance::RETRIEVED_AT;
        }
    }
}
