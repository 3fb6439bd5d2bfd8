//! Global ids: every object a client cache would key has an `id` of the form `Type:key`, unique across
//! types, that `node(id:)` resolves. `Type` is the GraphQL type's name; the key is the row id, except
//! for a country (its ISO3 code) and an IDP figure, whose key is its natural key (encoded) because
//! re-ingests rewrite its row.
//!
//! A node type is registered once: it implements [`GlobalId`] (how its key is read and its row
//! loaded) in its own module and is named in the `themes!` list (`api/src/types/mod.rs`), which
//! builds the `Node` interface and the `node(id:)` dispatch from it.

use std::fmt::Display;

use async_graphql::{ID, OutputType};
use store::{AnyConnection, StoreError};

use crate::ApiError;

/// A type `node(id:)` can fetch: how the key after `Type:` is read, and how its row is loaded.
pub trait GlobalId: OutputType + Sized {
    /// The key, parsed.
    type Key: Send + 'static;
    /// The key of an id's text after `Type:` (none when it is not a key of this type).
    fn parse_key(key: &str) -> Option<Self::Key>;
    /// The object with that key, if the store has it.
    fn load(c: &mut AnyConnection, key: Self::Key) -> Result<Option<Self>, StoreError>;
}

/// The global id of the `T` with key `key`: `Type:key`.
pub fn global_id<T: OutputType>(key: impl Display) -> ID {
    ID(format!("{}:{key}", T::type_name()))
}

/// An id's type and key (`Site:40` → `("Site", "40")`).
pub fn split(id: &ID) -> Result<(&str, &str), ApiError> {
    id.0.split_once(':').ok_or_else(|| not_a_node_id(id))
}

/// The error for an id that is no node's.
pub fn not_a_node_id(id: &ID) -> ApiError {
    ApiError::BadUserInput(format!("{:?} is not a node id (write Type:key, as `id` gives it)", id.0))
}

/// A row id as a key.
pub fn number(key: &str) -> Option<i64> {
    key.parse::<i64>().ok()
}

/// Declares the `Node` interface and `NodeKey` over every registered node type (see
/// [`GlobalId`]); `themes!` calls it with the core types and the themes' node types.
macro_rules! nodes {
    ($($variant:ident => $($ty:ident)::+),+ $(,)?) => {
        /// Any entity reachable by its global id (`node(id:)`), as its `id` field gives it: `Type:key`.
        #[derive(async_graphql::Interface)]
        #[graphql(field(name = "id", ty = "async_graphql::ID", desc = "Global id: `Type:key`, unique across types."))]
        pub enum Node {
            $($variant($($ty)::+),)+
        }

        /// A parsed global id: the node type and its key.
        pub enum NodeKey {
            $($variant(<$($ty)::+ as $crate::types::node::GlobalId>::Key),)+
        }

        impl NodeKey {
            /// Reads a global id (`Type:key`).
            pub fn parse(id: &async_graphql::ID) -> Result<NodeKey, $crate::ApiError> {
                let (kind, key) = $crate::types::node::split(id)?;
                $(
                    if kind == <$($ty)::+ as async_graphql::OutputType>::type_name() {
                        return <$($ty)::+ as $crate::types::node::GlobalId>::parse_key(key)
                            .map(NodeKey::$variant)
                            .ok_or_else(|| $crate::types::node::not_a_node_id(id));
                    }
                )+
                Err($crate::types::node::not_a_node_id(id))
            }

            /// The node with this id, if the store has it.
            pub fn load(self, c: &mut store::AnyConnection) -> Result<Option<Node>, store::StoreError> {
                Ok(match self {
                    $(NodeKey::$variant(key) => <$($ty)::+ as $crate::types::node::GlobalId>::load(c, key)?.map(Node::$variant),)+
                })
            }
        }
    };
}

pub(crate) use nodes;

/// The row id in a global id of type `kind` (`IngestRun:7`), or a bare row id (`7`, as the CLI shows
/// runs): what `ingestRun(id:)`, `dataset(id:)` and `cancelIngest(id:)` take.
pub fn row_id(id: &ID, kind: &str) -> Result<i64, ApiError> {
    let text = id.0.trim();
    let key = text.strip_prefix(kind).and_then(|rest| rest.strip_prefix(':')).unwrap_or(text);
    key.parse::<i64>()
        .map_err(|_| ApiError::BadUserInput(format!("{text:?} is not an id of a {kind} (write {kind}:<number>)")))
}
