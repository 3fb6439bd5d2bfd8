//! How a theme (IDPs, population, funding, sites...) plugs into the GraphQL schema: with one module,
//! `api/src/types/<theme>.rs`, named on one line of the `themes!` list in `api/src/types/mod.rs`.
//!
//! The module holds the theme's object types and connections, its loaders, and its fields on
//! `Country` and `AdminArea` as two *parts*: small objects over the country's or the area's row
//! ([`Part`]), and its entry points on `Query`, if any. `Country`, `AdminArea` and `Query` are
//! async-graphql merged objects of their core part and one part of each theme, so clients see one
//! `Country` type whose fields come from every theme, and a theme never edits the country, area,
//! loader or query files. Its node types (those `node(id:)`
//! fetches) follow its name on its line and implement `crate::types::node::GlobalId`. A theme
//! declares itself with [`Theme`]:
//!
//! ```ignore
//! crate::themes::part!(
//!     /// A country's displacement sites.
//!     CountrySites: Country
//! );
//! #[async_graphql::Object]
//! impl CountrySites { /* the fields, over `self.0` (the country's row) */ }
//!
//! pub struct Theme;
//!
//! impl crate::themes::Theme for Theme {
//!     type CountryFields = CountrySites; // `NoFields` where the theme adds none
//!     type AreaFields = AreaSites;
//!     type QueryFields = NoFields; // or a `#[derive(Default)]` object with the theme's `Query` fields
//!     fn loaders(request: Request, snapshot: &ReadSnapshot) -> Request {
//!         request.data(crate::loaders::loader(AreaSitesLoader(snapshot.clone()), snapshot))
//!     }
//! }
//! ```

use std::sync::Arc;

use async_graphql::{ObjectType, Request};
use store::ReadSnapshot;

/// One part of a merged object (`Country`, `AdminArea`): a set of its fields, built over its row.
pub trait Part<Row>: ObjectType {
    /// The part over `row` (shared by every part of the object).
    fn of(row: &Arc<Row>) -> Self;
}

/// The part of a theme that adds no field to an object.
pub type NoFields = async_graphql::MergedObjectTail;

impl<Row> Part<Row> for NoFields {
    fn of(_: &Arc<Row>) -> Self {
        async_graphql::MergedObjectTail
    }
}

/// A theme's GraphQL: its fields on `Country` and on `AdminArea`, and the loaders its fields use.
pub trait Theme {
    /// The theme's fields on `Country` ([`NoFields`] for none).
    type CountryFields: Part<store::models::Country>;
    /// The theme's fields on `AdminArea` ([`NoFields`] for none).
    type AreaFields: Part<store::models::AdminArea>;
    /// The theme's entry points on `Query` (e.g. `organisations(search:)`; [`NoFields`] for none).
    type QueryFields: ObjectType + Default;
    /// Adds the theme's loaders to a request (each reading through the request's snapshot).
    fn loaders(request: Request, _snapshot: &ReadSnapshot) -> Request {
        request
    }
}

/// Declares the themes' modules, the merged `Country` and `AdminArea` of their parts, and the `Node`
/// interface of the core node types and the themes'. Each theme is one line: its module under
/// `api/src/types/` (which defines a `Theme`, see [`Theme`]), then the node types it defines (each
/// implementing `GlobalId`), if any.
macro_rules! themes {
    (core: $($core:ident),+ ; $($theme:ident $(: $($node:ident),+)? ;)+) => {
        $(mod $theme;)+

        $crate::types::node::nodes! {
            $($core => $core,)+
            $($($($node => $theme::$node,)+)?)+
        }

        /// A country, by ISO 3166 alpha-3 code.
        #[derive(async_graphql::MergedObject)]
        #[graphql(name = "Country")]
        pub struct Country(
            pub country::CountryCore,
            $(<$theme::Theme as $crate::themes::Theme>::CountryFields,)+
        );

        impl Country {
            /// The country of `row`, with every theme's fields.
            pub fn of(row: store::models::Country) -> Country {
                let row = std::sync::Arc::new(row);
                Country(
                    country::CountryCore(row.clone()),
                    $(<<$theme::Theme as $crate::themes::Theme>::CountryFields as $crate::themes::Part<_>>::of(&row),)+
                )
            }
            /// The country's row.
            pub fn row(&self) -> &store::models::Country {
                &self.0.0
            }
            /// Its global id (the `Node` interface's `id`).
            pub async fn id(&self, _ctx: &async_graphql::Context<'_>) -> async_graphql::Result<async_graphql::ID> {
                Ok(country::country_id(self.row()))
            }
        }

        /// An administrative area (region, cercle, department...) identified by its p-code. Level 0 is the
        /// country as a whole. Boundaries change: an area is valid from `validFrom` until `validTo`.
        #[derive(async_graphql::MergedObject)]
        #[graphql(name = "AdminArea")]
        pub struct AdminArea(
            pub area::AreaCore,
            $(<$theme::Theme as $crate::themes::Theme>::AreaFields,)+
        );

        impl AdminArea {
            /// The area of `row`, with every theme's fields.
            pub fn of(row: store::models::AdminArea) -> AdminArea {
                let row = std::sync::Arc::new(row);
                AdminArea(
                    area::AreaCore(row.clone()),
                    $(<<$theme::Theme as $crate::themes::Theme>::AreaFields as $crate::themes::Part<_>>::of(&row),)+
                )
            }
            /// The area's row.
            pub fn row(&self) -> &store::models::AdminArea {
                &self.0.0
            }
            /// Its global id (the `Node` interface's `id`).
            pub async fn id(&self, _ctx: &async_graphql::Context<'_>) -> async_graphql::Result<async_graphql::ID> {
                Ok(area::area_id(self.row()))
            }
        }

        /// Each part of `Country` and `AdminArea` (the core first, then each theme's) with the fields it
        /// defines: a merged object keeps only one of two same-named fields, so the test
        /// `no_two_parts_of_an_object_define_the_same_field` refuses them.
        #[cfg(test)]
        pub(crate) fn part_fields() -> Vec<(&'static str, &'static str, Vec<String>)> {
            let mut parts = vec![$crate::themes::fields_of::<country::CountryCore>("Country")];
            $(parts.push($crate::themes::fields_of::<<$theme::Theme as $crate::themes::Theme>::CountryFields>("Country"));)+
            parts.push($crate::themes::fields_of::<area::AreaCore>("AdminArea"));
            $(parts.push($crate::themes::fields_of::<<$theme::Theme as $crate::themes::Theme>::AreaFields>("AdminArea"));)+
            parts.push($crate::themes::fields_of::<$crate::query::QueryCore>("Query"));
            $(parts.push($crate::themes::fields_of::<<$theme::Theme as $crate::themes::Theme>::QueryFields>("Query"));)+
            parts
        }

        /// Entry points for reading: countries, admin areas and the ingest runs behind every figure.
        #[derive(async_graphql::MergedObject, Default)]
        #[graphql(name = "Query")]
        pub struct QueryRoot(
            $crate::query::QueryCore,
            $(<$theme::Theme as $crate::themes::Theme>::QueryFields,)+
        );

        /// Adds every theme's loaders to a request.
        pub(crate) fn theme_loaders(request: async_graphql::Request, snapshot: &store::ReadSnapshot) -> async_graphql::Request {
            $(let request = <$theme::Theme as $crate::themes::Theme>::loaders(request, snapshot);)+
            request
        }
    };
}

pub(crate) use themes;

/// Declares a theme's part of `Country` or of `AdminArea`: a newtype over the object's shared row
/// (`self.0.iso3`, `self.0.id`...), built by the merged object. Its fields go in an
/// `#[async_graphql::Object] impl` of the part.
macro_rules! part {
    ($(#[$attr:meta])* $part:ident: Country) => {
        $crate::themes::part!(@ $(#[$attr])* $part, store::models::Country);
    };
    ($(#[$attr:meta])* $part:ident: AdminArea) => {
        $crate::themes::part!(@ $(#[$attr])* $part, store::models::AdminArea);
    };
    (@ $(#[$attr:meta])* $part:ident, $row:ty) => {
        $(#[$attr])*
        pub struct $part(pub std::sync::Arc<$row>);

        impl $crate::themes::Part<$row> for $part {
            fn of(row: &std::sync::Arc<$row>) -> Self {
                $part(row.clone())
            }
        }
    };
}

pub(crate) use part;

/// The fields part `P` of `object` defines, with the part's Rust name.
#[cfg(test)]
pub(crate) fn fields_of<P: ObjectType>(object: &'static str) -> (&'static str, &'static str, Vec<String>) {
    let mut registry = async_graphql::registry::Registry::default();
    P::create_type_info(&mut registry);
    let fields = match registry.types.get(P::type_name().as_ref()) {
        Some(async_graphql::registry::MetaType::Object { fields, .. }) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    };
    (object, std::any::type_name::<P>(), fields)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    #[test]
    fn no_two_parts_of_an_object_define_the_same_field() {
        let parts = crate::types::part_fields();
        let mut owner: HashMap<(&str, String), &str> = HashMap::new();
        for (object, part, fields) in &parts {
            for field in fields {
                if let Some(other) = owner.insert((object, field.clone()), part) {
                    panic!("{object}.{field} is defined by both {other} and {part}");
                }
            }
        }
        let country: Vec<&String> = owner.keys().filter(|(o, _)| *o == "Country").map(|(_, f)| f).collect();
        assert!(country.len() >= 14 && owner.contains_key(&("AdminArea", "sites".to_string())), "{country:?}");
    }
}
