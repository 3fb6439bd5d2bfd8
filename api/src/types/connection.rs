//! The Relay connections of the schema (pages of a list, with cursors), written out per node type so
//! that each has its own name and description.

use async_graphql::SimpleObject;

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

/// Declares a connection type and its edge type for one node type.
macro_rules! connection {
    ($connection:ident, $edge:ident, $node:ty, $connection_doc:literal, $edge_doc:literal) => {
        #[doc = $connection_doc]
        pub struct $connection {
            pub edges: Vec<$edge>,
            pub page_info: $crate::types::connection::PageInfo,
            /// Counted only when asked for (counting every match costs a pass over them).
            pub total_count: i64,
        }

        impl $connection {
            /// A page of `rows`, each with its cursor, and what lies around it.
            pub fn new(
                rows: Vec<($node, String)>,
                has_previous_page: bool,
                has_next_page: bool,
                total_count: i64,
            ) -> Self {
                let edges: Vec<$edge> = rows.into_iter().map(|(node, cursor)| $edge { node, cursor }).collect();
                let page_info = $crate::types::connection::PageInfo {
                    has_previous_page,
                    has_next_page,
                    start_cursor: edges.first().map(|e| e.cursor.clone()),
                    end_cursor: edges.last().map(|e| e.cursor.clone()),
                };
                $connection { edges, page_info, total_count }
            }
        }

        #[doc = $connection_doc]
        #[async_graphql::Object]
        impl $connection {
            /// The page's rows, each with its cursor.
            async fn edges(&self) -> &[$edge] {
                &self.edges
            }
            /// The page's rows.
            async fn nodes(&self) -> Vec<&$node> {
                self.edges.iter().map(|e| &e.node).collect()
            }
            /// Whether rows lie before and after the page, and the cursors of its ends.
            async fn page_info(&self) -> &$crate::types::connection::PageInfo {
                &self.page_info
            }
            /// How many rows the whole list has, across all pages.
            async fn total_count(&self) -> i64 {
                self.total_count
            }
        }

        #[doc = $edge_doc]
        pub struct $edge {
            pub node: $node,
            pub cursor: String,
        }

        #[doc = $edge_doc]
        #[async_graphql::Object]
        impl $edge {
            /// The row.
            async fn node(&self) -> &$node {
                &self.node
            }
            /// The row's place in the list (opaque): pass it as `after` or `before` to page from here.
            async fn cursor(&self) -> &str {
                &self.cursor
            }
        }
    };
}

pub(crate) use connection;
