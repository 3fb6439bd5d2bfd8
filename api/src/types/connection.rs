//! The Relay connections of the schema (pages of a list, with cursors): one generic [`Connection`]
//! over the node type, named after it (`Site` → `SiteConnection` and `SiteEdge`), so a theme's list
//! needs no connection type of its own; and the keyset helpers that cut a page and give each row
//! its cursor (see `crate::pagination` for the cursors themselves).

use std::borrow::Cow;

use async_graphql::{Object, OutputType, SimpleObject, TypeName};
use serde::Serialize;

use crate::pagination::encode_cursor;

/// Where a page sits in its list: whether rows lie before and after it, and the cursors of its first
/// and last rows (pass them as `before` and `after`).
#[derive(Debug, Clone, Default, SimpleObject)]
pub struct PageInfo {
    /// Whether rows lie before the page (when unsure, false).
    pub has_previous_page: bool,
    /// Whether rows lie after the page.
    pub has_next_page: bool,
    /// The cursor of the page's first row; null for an empty page.
    pub start_cursor: Option<String>,
    /// The cursor of the page's last row; null for an empty page.
    pub end_cursor: Option<String>,
}

/// A page of a list of `N` (a Relay connection), named `<N>Connection` in the schema.
pub struct Connection<N> {
    pub edges: Vec<Edge<N>>,
    pub page_info: PageInfo,
    /// Counted only when asked for (counting every match costs a pass over them).
    pub total_count: i64,
}

/// One row of a page, with its cursor, named `<N>Edge` in the schema.
pub struct Edge<N> {
    pub node: N,
    pub cursor: String,
}

impl<N: OutputType> TypeName for Connection<N> {
    fn type_name() -> Cow<'static, str> {
        Cow::Owned(format!("{}Connection", N::type_name()))
    }
}

impl<N: OutputType> TypeName for Edge<N> {
    fn type_name() -> Cow<'static, str> {
        Cow::Owned(format!("{}Edge", N::type_name()))
    }
}

impl<N> Connection<N> {
    /// A page of `rows`, each with its cursor, and what lies around it.
    pub fn new(rows: Vec<(N, String)>, has_previous_page: bool, has_next_page: bool, total_count: i64) -> Self {
        let edges: Vec<Edge<N>> = rows.into_iter().map(|(node, cursor)| Edge { node, cursor }).collect();
        let page_info = PageInfo {
            has_previous_page,
            has_next_page,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Connection { edges, page_info, total_count }
    }

    /// A keyset page read from the store: each row becomes a node and gets the cursor of its sort
    /// key `key` in list `list` (the name its cursors carry, so another list refuses them).
    pub fn keyset<R, K: Serialize>(
        rows: Vec<R>,
        list: &str,
        key: impl Fn(&R) -> K,
        node: impl Fn(R) -> N,
        has_previous_page: bool,
        has_next_page: bool,
        total_count: i64,
    ) -> Self {
        let rows = rows
            .into_iter()
            .map(|row| {
                let cursor = encode_cursor(list, &key(&row));
                (node(row), cursor)
            })
            .collect();
        Connection::new(rows, has_previous_page, has_next_page, total_count)
    }
}

/// A keyset page of a list already loaded whole (e.g. by a loader, for many areas at once): the
/// rows sorted by `key`, the `size` after the position `after`; with whether rows lie before and after
/// the page and how many the list has. Sorted here, as compared here (a database may collate text
/// otherwise).
pub fn page_of_loaded<R, K: Ord>(
    mut all: Vec<R>,
    key: impl Fn(&R) -> K,
    after: Option<&K>,
    size: usize,
) -> (Vec<R>, bool, bool, i64) {
    let total = all.len() as i64;
    all.sort_by_key(&key);
    let start = match after {
        Some(after) => all.iter().position(|r| key(r) > *after).unwrap_or(all.len()),
        None => 0,
    };
    let has_next = all.len() > start + size;
    let rows = all.into_iter().skip(start).take(size).collect();
    (rows, start > 0, has_next, total)
}

/// A page of a list (a Relay connection), in the list's order: its rows with their cursors, where the
/// page sits, and how many rows the whole list has.
#[Object(name_type)]
impl<N: OutputType> Connection<N> {
    /// The page's rows, each with its cursor.
    async fn edges(&self) -> &[Edge<N>] {
        &self.edges
    }
    /// The page's rows.
    async fn nodes(&self) -> Vec<&N> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    /// Whether rows lie before and after the page, and the cursors of its ends.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
    /// How many rows the whole list has, across all pages.
    async fn total_count(&self) -> i64 {
        self.total_count
    }
}

/// One row of a page, with its cursor.
#[Object(name_type)]
impl<N: OutputType> Edge<N> {
    /// The row.
    async fn node(&self) -> &N {
        &self.node
    }
    /// The row's place in the list (opaque): pass it as `after` or `before` to page from here.
    async fn cursor(&self) -> &str {
        &self.cursor
    }
}

/// One page of a theme's figures matching `filter` (and, given `within`, of that area and every area
/// inside it, by p-code), after the cursor `after` of list `list`: keyset on the row id, and
/// `totalCount` counted only when the query asks for it.
pub async fn figure_page<L, N>(
    ctx: &async_graphql::Context<'_>,
    list: &'static str,
    filter: L::Filter,
    within: Option<String>,
    after: Option<String>,
    first: Option<i32>,
    node: impl Fn(L::Row) -> N,
) -> async_graphql::Result<Connection<N>>
where
    L: store::paging::FigureList,
{
    use crate::error::IntoGraphql;
    let args = crate::pagination::PageArgs::<i64>::parse(list, after, None, first, None).gql()?;
    let (after, size) = (args.after, args.size());
    let counted = ctx.look_ahead().field("totalCount").exists();
    let reads = crate::read::snapshot(ctx)?.clone();
    let (rows, has_next, total) = reads
        .run(move |c| {
            let mut filter = filter;
            if let Some(pcode) = within {
                let area_ids = store::geography::area_ids_within(c, std::slice::from_ref(&pcode))?;
                L::within(&mut filter, area_ids, pcode);
            }
            let (rows, has_next) = L::page(c, &filter, after, size)?;
            let total = if counted { L::count(c, &filter)? } else { 0 };
            Ok((rows, has_next, total))
        })
        .await
        .gql()?;
    Ok(Connection::keyset(rows, list, L::id, node, after.is_some(), has_next, total))
}

#[cfg(test)]
mod tests {
    use super::page_of_loaded;

    #[test]
    fn a_loaded_list_is_paged_by_key_after_the_cursor() {
        let all = vec![5, 1, 4, 2, 3];
        assert_eq!(page_of_loaded(all.clone(), |r| *r, None, 2), (vec![1, 2], false, true, 5));
        assert_eq!(page_of_loaded(all.clone(), |r| *r, Some(&2), 2), (vec![3, 4], true, true, 5));
        assert_eq!(page_of_loaded(all.clone(), |r| *r, Some(&4), 2), (vec![5], true, false, 5));
        assert_eq!(page_of_loaded(all, |r| *r, Some(&9), 2), (vec![], true, false, 5));
    }
}
