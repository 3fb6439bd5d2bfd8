//! The schema is a contract: `schema.graphql` (sorted SDL) is committed and must equal the code's
//! schema, and every type and field the API defines carries a description.

use std::collections::BTreeSet;

#[test]
fn committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap_or_default();
    let code = api::schema::sdl();
    assert!(
        committed == code,
        "schema.graphql differs from the code's schema: review the change, then run \\
         `cargo run -- schema > schema.graphql` and commit it"
    );
}

#[tokio::test]
async fn every_type_and_field_is_described() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pool = store::build_pool(&dir.path().join("schema.db").to_string_lossy()).expect("pool");
    let schema = api::build_schema(pool, api::Operations::default());
    let response = schema
        .execute("{ __schema { types { name kind description fields { name description } enumValues { name description } } } }")
        .await;
    let data = serde_json::to_value(&response.data).expect("JSON");
    let builtin: BTreeSet<&str> = ["Boolean", "Float", "ID", "Int", "String", "PageInfo"].into();
    let mut missing = Vec::new();
    for t in data["__schema"]["types"].as_array().expect("types") {
        let name = t["name"].as_str().unwrap_or_default();
        if name.starts_with("__") || builtin.contains(name) {
            continue;
        }
        // Relay's generated connection and edge types are documented by the Relay spec.
        let relay = name.ends_with("Connection") || name.ends_with("Edge");
        if !relay && t["description"].as_str().is_none_or(str::is_empty) {
            missing.push(name.to_string());
        }
        for f in t["fields"].as_array().into_iter().flatten().chain(t["enumValues"].as_array().into_iter().flatten()) {
            let field = f["name"].as_str().unwrap_or_default();
            if !relay && f["description"].as_str().is_none_or(str::is_empty) {
                missing.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(missing.is_empty(), "{} undescribed: {missing:?}", missing.len());
}
