//! The OData model of the BI entities: entity set names, EDM types, the service document and the CSDL
//! XML `$metadata` (EDMX 4.0), all derived from [`store::BI_ENTITIES`], so a theme declared there is in
//! the feed with no code here.

use std::fmt::Write as _;

use quick_xml::escape::escape;
use store::bi::{Entity, SqlType};

/// The schema's namespace: entity types are `crisisgraph.<EntitySet>`.
pub const NAMESPACE: &str = "crisisgraph";

/// The EDM type of a column's SQL type.
pub fn edm_type(sql_type: SqlType) -> &'static str {
    match sql_type {
        SqlType::Text => "Edm.String",
        SqlType::Integer => "Edm.Int32",
        SqlType::BigInt => "Edm.Int64",
        SqlType::Double => "Edm.Double",
        SqlType::Bool => "Edm.Boolean",
        SqlType::Date => "Edm.Date",
        SqlType::Timestamp => "Edm.DateTimeOffset",
    }
}

/// The entity set (and entity type) name of an entity: its export name in PascalCase (`food-prices`:
/// `FoodPrices`), an OData identifier.
pub fn set_name(entity: &Entity) -> String {
    entity
        .export
        .split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The entity whose set is called `name`.
pub fn entity_of_set(name: &str) -> Option<&'static Entity> {
    store::BI_ENTITIES.iter().copied().find(|e| set_name(e) == name)
}

/// The service document (JSON): every entity set.
pub fn service_document(root: &str) -> serde_json::Value {
    let sets: Vec<serde_json::Value> = store::BI_ENTITIES
        .iter()
        .map(|e| {
            let name = set_name(e);
            serde_json::json!({ "name": name, "kind": "EntitySet", "url": name })
        })
        .collect();
    serde_json::json!({ "@odata.context": format!("{root}$metadata"), "value": sets })
}

fn description(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("<Annotation Term=\"Core.Description\" String=\"{}\"/>", escape(text.as_str()))
}

/// The CSDL XML document: one entity type per entity (its key: [`Entity::key_columns`]), typed and
/// described properties, navigation properties (the entity's links) with their referential
/// constraints, and a container with one entity set each, binding its navigation properties.
pub fn csdl() -> String {
    let mut out = String::new();
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.0\">\n\
         <edmx:Reference Uri=\"https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml\">\n\
         <edmx:Include Namespace=\"Org.OData.Core.V1\" Alias=\"Core\"/>\n\
         </edmx:Reference>\n\
         <edmx:DataServices>\n",
    );
    let _ = writeln!(out, "<Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" Namespace=\"{NAMESPACE}\">");
    for entity in store::BI_ENTITIES {
        let _ = writeln!(out, "<EntityType Name=\"{}\">", set_name(entity));
        out.push_str("<Key>");
        for column in entity.key_columns() {
            let _ = write!(out, "<PropertyRef Name=\"{}\"/>", column.name);
        }
        out.push_str("</Key>\n");
        for column in entity.columns {
            let _ = writeln!(
                out,
                "<Property Name=\"{}\" Type=\"{}\" Nullable=\"{}\">{}</Property>",
                column.name,
                edm_type(column.sql_type),
                column.nullable,
                description(column.doc)
            );
        }
        // The links of the declarations ([`store::bi::LINKS`]), each with the columns naming the target's key.
        for link in entity.links() {
            let Some(target) = link.target() else { continue };
            let _ = writeln!(
                out,
                "<NavigationProperty Name=\"{}\" Type=\"{NAMESPACE}.{}\" Nullable=\"{}\">",
                link.name,
                set_name(target),
                link.nullable(entity)
            );
            for (from, to) in link.on {
                let _ = writeln!(out, "<ReferentialConstraint Property=\"{from}\" ReferencedProperty=\"{to}\"/>");
            }
            let _ = writeln!(out, "{}\n</NavigationProperty>", description(link.doc));
        }
        let _ = writeln!(out, "{}", description(entity.doc));
        out.push_str("</EntityType>\n");
    }
    out.push_str("<EntityContainer Name=\"Container\">\n");
    for entity in store::BI_ENTITIES {
        let name = set_name(entity);
        let links: Vec<(&str, String)> =
            entity.links().iter().filter_map(|l| Some((l.name, set_name(l.target()?)))).collect();
        if links.is_empty() {
            let _ = writeln!(out, "<EntitySet Name=\"{name}\" EntityType=\"{NAMESPACE}.{name}\"/>");
            continue;
        }
        let _ = writeln!(out, "<EntitySet Name=\"{name}\" EntityType=\"{NAMESPACE}.{name}\">");
        for (path, target) in links {
            let _ = writeln!(out, "<NavigationPropertyBinding Path=\"{path}\" Target=\"{target}\"/>");
        }
        out.push_str("</EntitySet>\n");
    }
    out.push_str("</EntityContainer>\n</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_names_are_identifiers_and_unique() {
        let mut names: Vec<String> = store::BI_ENTITIES.iter().map(|e| set_name(e)).collect();
        for name in &names {
            assert!(name.chars().next().is_some_and(|c| c.is_ascii_uppercase()), "{name}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), store::BI_ENTITIES.len());
        assert_eq!(entity_of_set("FoodPrices").map(|e| e.export), Some("food-prices"));
        assert_eq!(entity_of_set("AdminAreas").map(|e| e.export), Some("admin-areas"));
    }

    #[test]
    fn every_entity_has_a_key() {
        for entity in store::BI_ENTITIES {
            assert!(!entity.key_columns().is_empty(), "{}", entity.export);
        }
    }
}
