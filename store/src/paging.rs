//! Keyset pages: a read asks for one row more than the page, so it knows whether more follow without
//! counting them.

/// The row limit a read asks for to fill a page of `size` and learn whether more follow.
pub fn probe_limit(size: usize) -> i64 {
    size as i64 + 1
}

/// Cuts rows read with [`probe_limit`] to the page, and says whether more follow.
pub fn split_page<T>(mut rows: Vec<T>, size: usize) -> (Vec<T>, bool) {
    let more = rows.len() > size;
    rows.truncate(size);
    (rows, more)
}

/// A theme's figures, read a filtered page at a time by keyset on the row id (the order they were
/// written) and counted with the same filter. Each theme declares its list once, with
/// [`figure_list!`]; the GraphQL connections of every theme read through it.
pub trait FigureList {
    type Row: Send + 'static;
    type Filter: Send + 'static;
    /// The `size` rows matching `filter` after row id `after`, and whether more follow.
    fn page(
        conn: &mut crate::AnyConnection,
        filter: &Self::Filter,
        after: Option<i64>,
        size: usize,
    ) -> Result<(Vec<Self::Row>, bool), crate::StoreError>;
    /// How many rows match `filter`.
    fn count(conn: &mut crate::AnyConnection, filter: &Self::Filter) -> Result<i64, crate::StoreError>;
    /// The row's id: the page's key.
    fn id(row: &Self::Row) -> i64;
    /// Narrows `filter` to an area and every area inside it (`area_ids`), asked for by p-code `pcode`.
    fn within(filter: &mut Self::Filter, area_ids: Vec<i64>, pcode: String);
}

/// Declares a theme's [`FigureList`]: its table (with an `id` column), row type, filter type, the
/// macro that applies the filter to a boxed query of the table, and how an area narrows the filter.
macro_rules! figure_list {
    (
        $(#[$doc:meta])*
        $vis:vis struct $list:ident {
            table: $table:ident,
            row: $row:ty,
            filter: $filter:ty,
            apply: $apply:ident,
            within: |$f:ident, $ids:ident, $pcode:ident| $within:expr $(,)?
        }
    ) => {
        $(#[$doc])*
        $vis struct $list;

        impl $crate::paging::FigureList for $list {
            type Row = $row;
            type Filter = $filter;

            fn page(
                conn: &mut $crate::AnyConnection,
                filter: &$filter,
                after: Option<i64>,
                size: usize,
            ) -> Result<(Vec<$row>, bool), $crate::StoreError> {
                use diesel::prelude::*;
                let mut query = $apply!($table::table.select(<$row>::as_select()).into_boxed(), filter);
                if let Some(after) = after {
                    query = query.filter($table::id.gt(after));
                }
                let rows: Vec<$row> =
                    query.order($table::id.asc()).limit($crate::paging::probe_limit(size)).load(conn)?;
                Ok($crate::paging::split_page(rows, size))
            }

            fn count(conn: &mut $crate::AnyConnection, filter: &$filter) -> Result<i64, $crate::StoreError> {
                use diesel::prelude::*;
                Ok($apply!($table::table.count().into_boxed(), filter).get_result(conn)?)
            }

            fn id(row: &$row) -> i64 {
                row.id
            }

            #[allow(unused_variables)]
            fn within($f: &mut $filter, $ids: Vec<i64>, $pcode: String) {
                $within
            }
        }
    };
}
pub(crate) use figure_list;
