//! What one request may ask, checked before anything runs:
//!
//! - data fields at most [`MAX_DEPTH`] deep; introspection (`__schema`, `__type`) at most
//!   [`MAX_INTROSPECTION_DEPTH`], deep enough for the `ofType` chains GraphiQL, codegen tools and
//!   Postman send, and still bounded;
//! - a complexity of at most [`MAX_COMPLEXITY`] per HTTP request: the operations of a batch share
//!   one [`ComplexityBudget`], so a batch of ten gets no more than one operation;
//! - at most [`MAX_DIRECTIVES`] directives on a field (set on the schema).
//!
//! async-graphql's own depth limit counts introspection fields like data fields, which refuses the
//! standard introspection query; its complexity limit applies per operation. Hence these checks, which
//! the schema's one extension (api/src/hooks.rs) runs after parsing and after validation.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult};

/// Deepest data query accepted (a root field is at depth 1).
pub const MAX_DEPTH: usize = 12;
/// Deepest introspection query accepted: graphql-js's standard query reaches 13.
pub const MAX_INTROSPECTION_DEPTH: usize = 32;
/// Largest complexity one HTTP request may spend, across the operations of a batch.
pub const MAX_COMPLEXITY: usize = 5_000;
/// Most directives one field may carry (`@include` and `@skip` are the only ones).
pub const MAX_DIRECTIVES: usize = 8;

/// The complexity left to one HTTP request; every operation of a batch draws on the same budget.
#[derive(Debug, Clone)]
pub struct ComplexityBudget(Arc<AtomicUsize>);

impl Default for ComplexityBudget {
    fn default() -> Self {
        ComplexityBudget(Arc::new(AtomicUsize::new(MAX_COMPLEXITY)))
    }
}

impl ComplexityBudget {
    /// Takes `cost` from the budget, or refuses (and takes nothing) when less is left.
    fn spend(&self, cost: usize) -> bool {
        self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(cost)).is_ok()
    }
}

/// A request error with code LIMIT_EXCEEDED (no location: it is about the whole request).
fn limit_exceeded(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "LIMIT_EXCEEDED");
    error.extensions = Some(extensions);
    error
}

/// Refuses a document whose data fields or introspection fields go deeper than allowed.
pub(crate) fn check_depth(document: &ExecutableDocument) -> ServerResult<()> {
    let depth = Depths::of(document);
    if depth.data > MAX_DEPTH {
        return Err(limit_exceeded(format!(
            "Query is nested too deep: {} levels of fields, at most {MAX_DEPTH}",
            depth.data
        )));
    }
    if depth.introspection > MAX_INTROSPECTION_DEPTH {
        return Err(limit_exceeded(format!(
            "Introspection query is nested too deep: {} levels, at most {MAX_INTROSPECTION_DEPTH}",
            depth.introspection
        )));
    }
    Ok(())
}

/// Takes a validated operation's complexity from the request's budget (or, without one, from a budget of
/// its own), refusing it when the budget cannot cover it.
pub(crate) fn spend_complexity(budget: Option<&ComplexityBudget>, complexity: usize) -> Result<(), Vec<ServerError>> {
    let allowed = match budget {
        Some(budget) => budget.spend(complexity),
        None => complexity <= MAX_COMPLEXITY,
    };
    if !allowed {
        return Err(vec![limit_exceeded(format!(
            "Query is too complex: one request (a batch counts as one) may cost at most {MAX_COMPLEXITY}; \
             this operation costs {complexity}. Ask for smaller pages or fewer nested lists"
        ))]);
    }
    Ok(())
}

/// How deep a document's data fields and introspection fields go (fragments expanded, cycles cut:
/// validation refuses them afterwards).
#[derive(Debug, Default, PartialEq, Eq)]
struct Depths {
    data: usize,
    introspection: usize,
}

impl Depths {
    fn of(document: &ExecutableDocument) -> Depths {
        let mut walker = Walker { document, depth_of_fragment: HashMap::new(), open: HashSet::new() };
        let mut depths = Depths::default();
        for (_, operation) in document.operations.iter() {
            walker.root(&operation.node.selection_set.node, &mut depths, &mut HashSet::new());
        }
        depths
    }
}

struct Walker<'a> {
    document: &'a ExecutableDocument,
    /// Each fragment's depth once computed: a fragment spread many times is walked once.
    depth_of_fragment: HashMap<&'a str, usize>,
    /// The fragments being walked (a cycle stops here).
    open: HashSet<&'a str>,
}

impl<'a> Walker<'a> {
    /// The root selection: each field counts towards the data or the introspection depth.
    fn root(&mut self, set: &'a SelectionSet, depths: &mut Depths, spread: &mut HashSet<&'a str>) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let depth = 1 + self.depth(&field.node.selection_set.node);
                    let name = field.node.name.node.as_str();
                    if name == "__schema" || name == "__type" {
                        depths.introspection = depths.introspection.max(depth);
                    } else {
                        depths.data = depths.data.max(depth);
                    }
                }
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    if spread.insert(name)
                        && let Some(fragment) = self.document.fragments.get(name)
                    {
                        self.root(&fragment.node.selection_set.node, depths, spread);
                    }
                }
                Selection::InlineFragment(inline) => self.root(&inline.node.selection_set.node, depths, spread),
            }
        }
    }

    /// The depth of a selection below a field: its deepest field chain.
    fn depth(&mut self, set: &'a SelectionSet) -> usize {
        let mut deepest = 0;
        for selection in &set.items {
            let depth = match &selection.node {
                Selection::Field(field) => 1 + self.depth(&field.node.selection_set.node),
                Selection::FragmentSpread(s) => self.fragment_depth(s.node.fragment_name.node.as_str()),
                Selection::InlineFragment(inline) => self.depth(&inline.node.selection_set.node),
            };
            deepest = deepest.max(depth);
        }
        deepest
    }

    fn fragment_depth(&mut self, name: &'a str) -> usize {
        if let Some(depth) = self.depth_of_fragment.get(name) {
            return *depth;
        }
        let Some(fragment) = self.document.fragments.get(name) else { return 0 };
        if !self.open.insert(name) {
            return 0;
        }
        let depth = self.depth(&fragment.node.selection_set.node);
        self.open.remove(name);
        self.depth_of_fragment.insert(name, depth);
        depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depths(query: &str) -> Depths {
        Depths::of(&async_graphql::parser::parse_query(query).expect("parses"))
    }

    #[test]
    fn introspection_and_data_are_measured_apart() {
        assert_eq!(depths("{ a { b { c } } }"), Depths { data: 3, introspection: 0 });
        assert_eq!(
            depths("{ __schema { types { ...T } } a } fragment T on __Type { ofType { ofType { name } } }"),
            Depths { data: 1, introspection: 5 }
        );
        assert_eq!(depths("{ ...R } fragment R on Query { __type(name: \"X\") { name } b { c } }").data, 2);
        // A cycle does not loop (validation refuses it later).
        assert_eq!(depths("{ a { ...F } } fragment F on A { b { ...F } }").data, 2);
        let budget = ComplexityBudget::default();
        assert!(budget.spend(MAX_COMPLEXITY - 1) && !budget.spend(2) && budget.spend(1));
    }
}
