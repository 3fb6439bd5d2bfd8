//! GraphiQL, served from vendored assets (it works offline), with the Mali questions preloaded as
//! example tabs and the documentation explorer open (the schema, read by introspection, is the first
//! thing a new user sees). `?run=1` runs the first tab at once (used by the browser check in CI).

use actix_web::{HttpResponse, web};

const ASSETS: [(&str, &str, &[u8]); 4] = [
    ("graphiql.min.js", "text/javascript", include_bytes!("../assets/graphiql/graphiql.min.js")),
    ("graphiql.min.css", "text/css", include_bytes!("../assets/graphiql/graphiql.min.css")),
    ("react.production.min.js", "text/javascript", include_bytes!("../assets/graphiql/react.production.min.js")),
    (
        "react-dom.production.min.js",
        "text/javascript",
        include_bytes!("../assets/graphiql/react-dom.production.min.js"),
    ),
];

/// The example queries: (tab title, query).
pub const EXAMPLES: [(&str, &str); 4] = [
    (
        "Mali: IDPs per round",
        r#"# How many IDPs in Mali, round by round, and from which source?
query MaliIdpsPerRound {
  country(iso3: "MLI") {
    name
    idps(adminLevel: 0, first: 50) {
      nodes { round reportingDate individuals provenance { credit dataset { title } } }
    }
  }
}"#,
    ),
    (
        "Mali: where (regions)",
        r#"# Where are they? Each region's latest figure, population and share.
query MaliRegions {
  country(iso3: "MLI") {
    adminAreas(level: 1) {
      pcode
      name
      idpTotals { round reportingDate individuals method }
      population { total referenceYear }
      idpShare { share reason }
    }
  }
}"#,
    ),
    (
        "Mali: 2021 appeal",
        r#"# How much of the 2021 humanitarian appeal is funded?
query MaliAppeal2021 {
  country(iso3: "MLI") {
    appeals(year: 2021) { code name requirementsUsd fundingUsd percentFunded provenance { licence dataset { title } } }
  }
}"#,
    ),
    (
        "Haiti: a page of communes",
        r#"# Pages with cursors: Haiti's commune figures, newest first.
query HaitiCommunes {
  country(iso3: "HTI") {
    idps(adminLevel: 2, first: 20, orderBy: DATE_DESC) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { area { pcode name parent { name } } operation round reportingDate individuals }
    }
  }
}"#,
    ),
];

/// `GET /graphiql`.
pub async fn page() -> HttpResponse {
    let tabs: Vec<serde_json::Value> =
        EXAMPLES.iter().map(|(title, query)| serde_json::json!({ "query": query, "title": title })).collect();
    let tabs = serde_json::to_string(&tabs).unwrap_or_else(|_| "[]".into()).replace("</", "<\\/");
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>crisisgraph · GraphiQL</title>
<link rel="stylesheet" href="/graphiql/assets/graphiql.min.css">
<style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="/graphiql/assets/react.production.min.js"></script>
<script src="/graphiql/assets/react-dom.production.min.js"></script>
<script src="/graphiql/assets/graphiql.min.js"></script>
<script>
  const tabs = {tabs};
  const fetcher = GraphiQL.createFetcher({{ url: '/graphql' }});
  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {{
      fetcher, defaultQuery: tabs[0].query, defaultTabs: tabs, defaultEditorToolsVisibility: true,
      visiblePlugin: 'Documentation Explorer'
    }})
  );
  if (new URLSearchParams(location.search).get('run') === '1') {{
    const run = () => {{
      const button = document.querySelector('.graphiql-execute-button');
      if (button) {{ button.click(); }} else {{ setTimeout(run, 100); }}
    }};
    setTimeout(run, 500);
  }}
</script>
</body>
</html>"#
    );
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html)
}

/// `GET /graphiql/assets/{file}`.
pub async fn asset(file: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(name, _, _)| *name == file.as_str()) {
        Some((_, content_type, bytes)) => HttpResponse::Ok()
            .content_type(*content_type)
            .insert_header(("Cache-Control", "public, max-age=86400"))
            .body(*bytes),
        None => HttpResponse::NotFound().finish(),
    }
}
