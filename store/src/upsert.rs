//! The one way facts are written: rows with a natural key, where a new key is inserted, a key whose
//! values changed is updated, and an identical row is counted unchanged (and not written), so a
//! re-run over the same data writes nothing. Every table is written this way except DTM's IDP
//! figures (see [`crate::idps`]), which take a staged set-based merge for volume.
//!
//! A table takes part by a "new row" struct deriving diesel's `Insertable`, `AsChangeset`,
//! `Queryable` and `Selectable` (its fields are the columns that are compared, so no column list is
//! written by hand) and one [`keyed_table!`] line naming its key, its scope and its stamp:
//!
//! ```text
//! keyed_table! {
//!     SiteInput in sites,
//!     id: id: i64,
//!     key: (country_iso3: String, site_code: String, round_number: Option<i32>),
//!     scope: country_iso3: String,
//!     stamp: |s: RunStamp| (sites::run_id.eq(s.run_id), sites::retrieved_at.eq(s.retrieved_at)),
//! }
//! ```
//!
//! - the **key** identifies a row (a unique index in the table backs it);
//! - the **scope** is the column the existing rows are loaded by (a country, an appeal): one query
//!   loads every stored row a write could touch, compared in memory;
//! - the **stamp** is what the write records beside the values (run, retrieval time): written on
//!   insert and update, never compared, so a new run over unchanged data leaves the rows as they were.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use chrono::NaiveDateTime;

use crate::{AnyConnection, StoreError, WriteCounts};

/// Rows per `INSERT` statement: well below both backends' limits on bound parameters.
pub const INSERT_BATCH: usize = 500;

/// Scope values per query that loads the stored rows.
const LOAD_BATCH: usize = 500;

/// The stamp of the fact tables: the run that wrote a row and when its source was retrieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunStamp {
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// A table written by [`upsert`]. Implemented by [`keyed_table!`], not by hand.
pub trait KeyedTable: Sized + PartialEq {
    /// The natural key: what makes two rows the same fact.
    type Key: Eq + Hash + std::fmt::Debug;
    /// The column value the stored rows are loaded by.
    type Scope: Ord + Clone;
    /// The stored row's primary key.
    type Id: Clone;
    /// What is written beside the values (see the module documentation).
    type Stamp;

    fn key(&self) -> Self::Key;
    fn scope(&self) -> Self::Scope;
    /// The stored rows of these scopes, with their ids.
    fn load(conn: &mut AnyConnection, scopes: &[Self::Scope]) -> Result<Vec<(Self::Id, Self)>, StoreError>;
    /// Inserts the rows, stamped, in one statement.
    fn insert(conn: &mut AnyConnection, rows: &[&Self], stamp: &Self::Stamp) -> Result<(), StoreError>;
    /// Overwrites the stored row `id` with `row`, stamped.
    fn update(conn: &mut AnyConnection, id: &Self::Id, row: &Self, stamp: &Self::Stamp) -> Result<(), StoreError>;
}

fn scopes_of<T: KeyedTable>(rows: &[T]) -> Vec<T::Scope> {
    let mut scopes: Vec<T::Scope> = rows.iter().map(T::scope).collect();
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

/// Stored rows by key, with their ids.
type Stored<T> = HashMap<<T as KeyedTable>::Key, (<T as KeyedTable>::Id, T)>;

fn stored<T: KeyedTable>(conn: &mut AnyConnection, rows: &[T]) -> Result<Stored<T>, StoreError> {
    let mut out = HashMap::new();
    for scopes in scopes_of(rows).chunks(LOAD_BATCH) {
        out.extend(T::load(conn, scopes)?.into_iter().map(|(id, row)| (row.key(), (id, row))));
    }
    Ok(out)
}

/// Writes `rows`: new keys inserted (in batches of [`INSERT_BATCH`]), changed rows updated,
/// identical ones left alone and counted unchanged. Two rows with one key are an error: a source
/// rejects duplicates (with a reason) before it writes.
pub fn upsert<T: KeyedTable>(
    conn: &mut AnyConnection,
    rows: &[T],
    stamp: &T::Stamp,
) -> Result<WriteCounts, StoreError> {
    let existing = stored(conn, rows)?;
    let mut counts = WriteCounts::default();
    let mut seen = HashSet::with_capacity(rows.len());
    let mut to_insert = Vec::new();
    for row in rows {
        let key = row.key();
        let current = existing.get(&key);
        if !seen.insert(key) {
            return Err(StoreError::Invalid(format!("two rows with the key {:?} in one write", row.key())));
        }
        match current {
            None => to_insert.push(row),
            Some((_, stored)) if stored == row => counts.unchanged += 1,
            Some((id, _)) => {
                T::update(conn, id, row, stamp)?;
                counts.updated += 1;
            }
        }
    }
    for batch in to_insert.chunks(INSERT_BATCH) {
        T::insert(conn, batch, stamp)?;
    }
    counts.inserted = to_insert.len() as i64;
    Ok(counts)
}

/// The stored ids of `rows`, in their order (after [`upsert`], to link rows of other tables to them).
pub fn ids_of<T: KeyedTable>(conn: &mut AnyConnection, rows: &[T]) -> Result<Vec<T::Id>, StoreError> {
    let existing = stored(conn, rows)?;
    rows.iter()
        .map(|row| {
            existing
                .get(&row.key())
                .map(|(id, _)| id.clone())
                .ok_or_else(|| StoreError::Invalid(format!("no stored row with the key {:?}", row.key())))
        })
        .collect()
}

/// Makes a "new row" struct a [`KeyedTable`] of `table`: `id` names the primary key column and its
/// type, `key` the natural key's fields, `scope` the column stored rows are loaded by, and `stamp`
/// (a closure-like expression over the stamp, or `none`) the columns written beside the values.
#[macro_export]
macro_rules! keyed_table {
    (
        $row:ident in $table:ident,
        id: $id:ident: $id_ty:ty,
        key: ($($key:ident: $key_ty:ty),+ $(,)?),
        scope: $scope:ident: $scope_ty:ty,
        stamp: none $(,)?
    ) => {
        $crate::keyed_table!(@impl $row, $table, $id, $id_ty, ($($key: $key_ty),+), $scope, $scope_ty, (),
            |rows, _s| rows.to_vec(),
            |row, _s| row);
    };
    (
        $row:ident in $table:ident,
        id: $id:ident: $id_ty:ty,
        key: ($($key:ident: $key_ty:ty),+ $(,)?),
        scope: $scope:ident: $scope_ty:ty,
        stamp: |$s:ident: $stamp_ty:ty| $stamp:expr $(,)?
    ) => {
        $crate::keyed_table!(@impl $row, $table, $id, $id_ty, ($($key: $key_ty),+), $scope, $scope_ty, $stamp_ty,
            |rows, $s| rows.iter().map(|row| (*row, $stamp)).collect::<Vec<_>>(),
            |row, $s| (row, $stamp));
    };
    (@impl $row:ident, $table:ident, $id:ident, $id_ty:ty, ($($key:ident: $key_ty:ty),+), $scope:ident, $scope_ty:ty,
        $stamp_ty:ty, |$rows:ident, $is:pat_param| $inserted:expr, |$one:ident, $us:pat_param| $changes:expr) => {
        impl $crate::upsert::KeyedTable for $row {
            type Key = ($($key_ty,)+);
            type Scope = $scope_ty;
            type Id = $id_ty;
            type Stamp = $stamp_ty;

            fn key(&self) -> Self::Key {
                ($(self.$key.clone(),)+)
            }

            fn scope(&self) -> Self::Scope {
                self.$scope.clone()
            }

            fn load(
                conn: &mut $crate::AnyConnection,
                scopes: &[Self::Scope],
            ) -> Result<Vec<(Self::Id, Self)>, $crate::StoreError> {
                use diesel::prelude::*;
                Ok($table::table
                    .filter($table::$scope.eq_any(scopes))
                    .select(($table::$id, <Self as diesel::SelectableHelper<_>>::as_select()))
                    .load(conn)?)
            }

            fn insert(
                conn: &mut $crate::AnyConnection,
                $rows: &[&Self],
                $is: &Self::Stamp,
            ) -> Result<(), $crate::StoreError> {
                use diesel::prelude::*;
                let values = $inserted;
                $crate::on_backend!(conn, |c| diesel::insert_into($table::table).values(values).execute(c))?;
                Ok(())
            }

            fn update(
                conn: &mut $crate::AnyConnection,
                id: &Self::Id,
                $one: &Self,
                $us: &Self::Stamp,
            ) -> Result<(), $crate::StoreError> {
                use diesel::prelude::*;
                diesel::update($table::table.find(id.clone())).set($changes).execute(conn)?;
                Ok(())
            }
        }
    };
}
