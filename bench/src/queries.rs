//! The canonical queries of the bench, in one place: crisisgraph's text, the SQL it stood for before the
//! floor was captured (the fallback), the peers' nearest equivalents, which figures must agree, and the
//! variant with variables that change on every request (so that no response cache can answer), with the
//! wrk Lua script that draws them.

/// The plan year of the humanitarian needs Q4 asks for (the bundled sample's Mali HNO).
pub const NEEDS_YEAR: i32 = 2024;

/// Q4, the graph: Mali's regions, each with its latest IDPs, population, people in need and sites, plus
/// the country's appeals. Kept here only, printed in the report.
pub const Q4: &str = r#"{ country(iso3: "MLI") { adminAreas(level: 1) { pcode name idps(latestRoundOnly: true) { nodes { round reportingDate individuals } } population { total } needsTotal(year: 2024) { inNeed } sites { totalCount } } appeals { code requirementsUsd fundingUsd } } }"#;

/// Q5, a deep page: every Haiti admin 2 area's first 20 IDP figures, reached through admin 1.
pub const Q5: &str = r#"{ country(iso3: "HTI") { adminAreas(level: 1) { children { idps(first: 20) { nodes { sourcePcode operation round reportingDate individuals } } } } } }"#;

/// The five columns crisisgraph orders IDP figures by, as the peers' `orderBy`.
const IDP_ORDER: &str = "[REPORTING_DATE_ASC, OPERATION_ASC, ROUND_NUMBER_ASC, ASSESSMENT_TYPE_ASC, SOURCE_PCODE_ASC]";

/// Where a varied query draws its `$area` from (the bench lists the real ones from the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaKind {
    /// ISO3 codes of the countries that have current admin 1 areas.
    Country,
    /// P-codes of Haiti's current admin 2 areas.
    HaitiAdmin2,
}

/// A query with variables `$area: String!` and `$first: Int!`, drawn anew for every request.
#[derive(Debug, Clone)]
pub struct Varied {
    pub crisisgraph: String,
    /// The peers' equivalent, with the same two variables.
    pub peer: String,
    pub areas: AreaKind,
    /// The page size is drawn from this range (inclusive).
    pub first: (u32, u32),
}

/// One canonical query.
#[derive(Debug, Clone)]
pub struct Canonical {
    pub name: &'static str,
    pub crisisgraph: &'static str,
    /// The SQL crisisgraph ran for it, for pgbench when the capture fails.
    pub hand_sql: &'static str,
    /// PostGraphile 4's nearest equivalent.
    pub peer: String,
    /// PostGraphile 5's, where its names differ from 4's (they do not on the peer's views).
    pub peer5: Option<String>,
    /// Fields whose values must sum the same in both answers: (crisisgraph's name, the peers' name).
    pub checks: &'static [(&'static str, &'static str)],
    pub varied: Varied,
}

impl Canonical {
    /// The query PostGraphile `version` (4 or 5) is sent.
    pub fn peer_query(&self, version: u8) -> &str {
        match (&self.peer5, version) {
            (Some(q), 5) => q,
            _ => &self.peer,
        }
    }
}

const INDIVIDUALS: &[(&str, &str)] = &[("individuals", "individuals")];

/// The five canonical queries, in report order.
pub fn canonical() -> Vec<Canonical> {
    let latest_peer = |first: &str| {
        format!(
            "latestIdpTotalsByAreaId{first} {{ nodes {{ roundNumber reportingDate individuals }} }}",
            first = if first.is_empty() { String::new() } else { format!("(first: {first}, orderBy: {IDP_ORDER})") }
        )
    };
    let q4_peer = |iso3: &str, first: &str| {
        format!(
            "allAdminAreas(filter: {{countryIso3: {{equalTo: {iso3}}}, level: {{equalTo: 1}}, validTo: {{isNull: true}}}}, orderBy: PCODE_ASC) \
             {{ nodes {{ pcode name {latest} latestPopulationsByAreaId {{ nodes {{ referenceYear population }} }} \
             needsTotalsByAreaId(filter: {{sector: {{equalTo: \"ALL\"}}, year: {{equalTo: {NEEDS_YEAR}}}}}) {{ nodes {{ inNeed }} }} \
             sitesByAreaId {{ totalCount }} }} }} \
             allCountryAppeals(filter: {{countryIso3: {{equalTo: {iso3}}}}}, orderBy: [YEAR_DESC, CODE_ASC]) {{ nodes {{ code requirementsUsd fundingUsd }} }}",
            latest = latest_peer(first)
        )
    };
    let q5_peer = |iso3: &str, first: &str| {
        format!(
            "allAdminAreas(filter: {{countryIso3: {{equalTo: {iso3}}}, level: {{equalTo: 1}}, validTo: {{isNull: true}}}}, orderBy: PCODE_ASC) \
             {{ nodes {{ adminAreasByParentId(filter: {{validTo: {{isNull: true}}}}, orderBy: PCODE_ASC) {{ nodes {{ \
             idpTotalsByAreaId(first: {first}, filter: {{areaMatched: {{equalTo: true}}}}, orderBy: {IDP_ORDER}) \
             {{ nodes {{ sourcePcode operation roundNumber reportingDate individuals }} }} }} }} }} }}"
        )
    };
    let vars = "query Varied($area: String!, $first: Int!)";
    vec![
        Canonical {
            name: "Q1 Mali admin1, latest IDPs and population",
            crisisgraph: r#"{ country(iso3: "MLI") { adminAreas(level: 1) { pcode name population { total } idps(latestRoundOnly: true) { nodes { round reportingDate individuals } } } } }"#,
            hand_sql: "SELECT id, pcode, name FROM admin_areas WHERE country_iso3 = 'MLI' AND level = 1 ORDER BY pcode;\n\
                 SELECT area_id, operation, round_number, reporting_date, assessment_type, individuals \
                 FROM idp_totals WHERE area_matched AND is_latest_round AND area_id IN (SELECT id FROM admin_areas WHERE country_iso3 = 'MLI' AND level = 1);\n\
                 SELECT area_id, SUM(population) FROM population_figures WHERE area_id IN (SELECT id FROM admin_areas \
                 WHERE country_iso3 = 'MLI' AND level = 1) GROUP BY area_id;\n",
            peer: format!(
                "{{ allAdminAreas(filter: {{countryIso3: {{equalTo: \"MLI\"}}, level: {{equalTo: 1}}}}, orderBy: PCODE_ASC) {{ nodes {{ pcode name \
                 populationFiguresByAreaId(filter: {{areaMatched: {{equalTo: true}}}}) {{ nodes {{ sex ageRange referenceYear population }} }} {} }} }} }}",
                latest_peer("")
            ),
            peer5: None,
            checks: INDIVIDUALS,
            varied: Varied {
                crisisgraph: format!(
                    "{vars} {{ country(iso3: $area) {{ adminAreas(level: 1) {{ pcode name population {{ total }} \
                     idps(latestRoundOnly: true, first: $first) {{ nodes {{ round reportingDate individuals }} }} }} }} }}"
                ),
                peer: format!(
                    "{vars} {{ allAdminAreas(filter: {{countryIso3: {{equalTo: $area}}, level: {{equalTo: 1}}, validTo: {{isNull: true}}}}, orderBy: PCODE_ASC) \
                     {{ nodes {{ pcode name populationFiguresByAreaId(filter: {{areaMatched: {{equalTo: true}}}}) {{ nodes {{ sex ageRange referenceYear population }} }} {} }} }} }}",
                    latest_peer("$first")
                ),
                areas: AreaKind::Country,
                first: (1, 100),
            },
        },
        Canonical {
            name: "Q2 one area's IDP series (HT0111, first 100)",
            crisisgraph: r#"{ adminArea(pcode: "HT0111") { idps(first: 100) { nodes { operation round reportingDate individuals } } } }"#,
            hand_sql: "SELECT id FROM admin_areas WHERE pcode = 'HT0111';\n\
                 SELECT operation, round_number, reporting_date, assessment_type, source_pcode, individuals \
                 FROM idp_totals WHERE area_matched AND area_id = (SELECT id FROM admin_areas WHERE pcode = 'HT0111') \
                 ORDER BY reporting_date, operation, round_number, assessment_type, source_pcode LIMIT 101;\n",
            peer: format!(
                "{{ allAdminAreas(filter: {{pcode: {{equalTo: \"HT0111\"}}}}) {{ nodes {{ idpTotalsByAreaId(first: 100, filter: {{areaMatched: {{equalTo: true}}}}, \
                 orderBy: {IDP_ORDER}) {{ nodes {{ operation roundNumber reportingDate individuals }} }} }} }} }}"
            ),
            peer5: None,
            checks: INDIVIDUALS,
            varied: Varied {
                crisisgraph: format!(
                    "{vars} {{ adminArea(pcode: $area) {{ idps(first: $first) {{ nodes {{ operation round reportingDate individuals }} }} }} }}"
                ),
                peer: format!(
                    "{vars} {{ allAdminAreas(filter: {{pcode: {{equalTo: $area}}, validTo: {{isNull: true}}}}) {{ nodes {{ idpTotalsByAreaId(first: $first, \
                     filter: {{areaMatched: {{equalTo: true}}}}, orderBy: {IDP_ORDER}) {{ nodes {{ operation roundNumber reportingDate individuals }} }} }} }} }}"
                ),
                areas: AreaKind::HaitiAdmin2,
                first: (1, 100),
            },
        },
        Canonical {
            name: "Q3 a page of 1,000 Haiti admin2 figures",
            crisisgraph: r#"{ country(iso3: "HTI") { idps(adminLevel: 2, first: 1000) { nodes { sourcePcode operation round reportingDate individuals } } } }"#,
            hand_sql: "SELECT operation, round_number, reporting_date, assessment_type, source_pcode, individuals \
                 FROM idp_totals WHERE country_iso3 = 'HTI' AND admin_level = 2 \
                 ORDER BY reporting_date, operation, round_number, assessment_type, source_pcode LIMIT 1001;\n",
            peer: format!(
                "{{ allIdpTotals(filter: {{countryIso3: {{equalTo: \"HTI\"}}, adminLevel: {{equalTo: 2}}}}, first: 1000, orderBy: {IDP_ORDER}) \
                 {{ nodes {{ sourcePcode operation roundNumber reportingDate individuals }} }} }}"
            ),
            peer5: None,
            checks: INDIVIDUALS,
            varied: Varied {
                crisisgraph: format!(
                    "{vars} {{ country(iso3: $area) {{ idps(adminLevel: 2, first: $first) {{ nodes {{ sourcePcode operation round reportingDate individuals }} }} }} }}"
                ),
                peer: format!(
                    "{vars} {{ allIdpTotals(filter: {{countryIso3: {{equalTo: $area}}, adminLevel: {{equalTo: 2}}}}, first: $first, orderBy: {IDP_ORDER}) \
                     {{ nodes {{ sourcePcode operation roundNumber reportingDate individuals }} }} }}"
                ),
                areas: AreaKind::Country,
                first: (1, 1000),
            },
        },
        Canonical {
            name: "Q4 the graph: Mali admin1 with IDPs, population, needs, sites, appeals",
            crisisgraph: Q4,
            hand_sql: "SELECT id, pcode, name FROM admin_areas WHERE country_iso3 = 'MLI' AND level = 1 AND valid_to IS NULL ORDER BY pcode;\n\
                 SELECT area_id, operation, round_number, reporting_date, assessment_type, individuals FROM idp_totals \
                 WHERE area_matched AND is_latest_round AND area_id IN (SELECT id FROM admin_areas WHERE country_iso3 = 'MLI' AND level = 1);\n\
                 SELECT DISTINCT ON (area_id) area_id, population FROM population_figures WHERE area_matched AND sex = 'all' \
                 AND age_range = 'all' AND area_id IN (SELECT id FROM admin_areas WHERE country_iso3 = 'MLI' AND level = 1) \
                 ORDER BY area_id, reference_year DESC;\n\
                 SELECT area_id, in_need FROM needs WHERE year = 2024 AND sector = 'ALL' AND area_id IN \
                 (SELECT id FROM admin_areas WHERE country_iso3 = 'MLI' AND level = 1);\n\
                 SELECT area_id, COUNT(*) FROM sites WHERE area_id IN (SELECT id FROM admin_areas WHERE country_iso3 = 'MLI' AND level = 1) \
                 GROUP BY area_id;\n\
                 SELECT a.code, a.requirements_usd, a.funding_usd FROM appeals a JOIN appeal_countries c ON c.appeal_id = a.id \
                 WHERE c.country_iso3 = 'MLI' ORDER BY a.year DESC;\n",
            peer: format!("{{ {} }}", q4_peer("\"MLI\"", "")),
            peer5: None,
            checks: &[
                ("individuals", "individuals"),
                ("total", "population"),
                ("inNeed", "inNeed"),
                ("totalCount", "totalCount"),
                ("requirementsUsd", "requirementsUsd"),
                ("fundingUsd", "fundingUsd"),
            ],
            varied: Varied {
                crisisgraph: format!(
                    "{vars} {{ country(iso3: $area) {{ adminAreas(level: 1) {{ pcode name idps(latestRoundOnly: true, first: $first) \
                     {{ nodes {{ round reportingDate individuals }} }} population {{ total }} needsTotal(year: {NEEDS_YEAR}) {{ inNeed }} \
                     sites {{ totalCount }} }} appeals {{ code requirementsUsd fundingUsd }} }} }}"
                ),
                peer: format!("{vars} {{ {} }}", q4_peer("$area", "$first")),
                areas: AreaKind::Country,
                first: (1, 100),
            },
        },
        Canonical {
            name: "Q5 a deep page: Haiti admin1 → admin2 → first 20 IDP figures",
            crisisgraph: Q5,
            hand_sql: "SELECT c.id, t.* FROM admin_areas p JOIN admin_areas c ON c.parent_id = p.id AND c.valid_to IS NULL \
                 CROSS JOIN LATERAL (SELECT operation, round_number, reporting_date, assessment_type, source_pcode, individuals \
                 FROM idp_totals WHERE area_matched AND area_id = c.id \
                 ORDER BY reporting_date, operation, round_number, assessment_type, source_pcode LIMIT 21) t \
                 WHERE p.country_iso3 = 'HTI' AND p.level = 1 AND p.valid_to IS NULL ORDER BY p.pcode, c.pcode;\n",
            peer: format!("{{ {} }}", q5_peer("\"HTI\"", "20")),
            peer5: None,
            checks: INDIVIDUALS,
            varied: Varied {
                crisisgraph: format!(
                    "{vars} {{ country(iso3: $area) {{ adminAreas(level: 1) {{ children {{ idps(first: $first) \
                     {{ nodes {{ sourcePcode operation round reportingDate individuals }} }} }} }} }} }}"
                ),
                peer: format!("{vars} {{ {} }}", q5_peer("$area", "$first")),
                areas: AreaKind::Country,
                first: (1, 20),
            },
        },
    ]
}

/// How many values of field `key` an answer holds, anywhere in it, and their sum (PostGraphile sends
/// 64-bit integers as strings; nulls count as values of 0, so that a null and a 0 agree).
pub fn sum_of(answer: &serde_json::Value, key: &str) -> (usize, i128) {
    use serde_json::Value;
    match answer {
        Value::Object(fields) => fields.iter().fold((0, 0), |(count, sum), (name, value)| {
            let (c, s) = if name == key {
                match value {
                    Value::String(s) => (1, s.parse::<i128>().unwrap_or(0)),
                    Value::Number(n) => (1, n.as_i64().map_or(0, i128::from)),
                    Value::Null => (1, 0),
                    other => sum_of(other, key),
                }
            } else {
                sum_of(value, key)
            };
            (count + c, sum + s)
        }),
        Value::Array(items) => {
            items.iter().map(|v| sum_of(v, key)).fold((0, 0), |(count, sum), (c, s)| (count + c, sum + s))
        }
        _ => (0, 0),
    }
}

/// Compares two answers on `checks`: `Ok` with a summary when every field sums the same, else what
/// differs. Counts are compared too, except where a peer returns rows for what crisisgraph returns as
/// one value (nulls count on both sides, so only the sums decide there).
pub fn compare(
    ours: &serde_json::Value,
    theirs: &serde_json::Value,
    checks: &[(&str, &str)],
) -> Result<String, String> {
    let mut same = Vec::new();
    let mut differ = Vec::new();
    for (our_key, their_key) in checks {
        let (n, sum) = sum_of(ours, our_key);
        let (m, their_sum) = sum_of(theirs, their_key);
        if sum == their_sum && (n == m || our_key != their_key) {
            same.push(format!("{n} `{our_key}` summing to {sum}"));
        } else {
            differ.push(format!("`{our_key}`: crisisgraph {n} summing to {sum}, peer {m} summing to {their_sum}"));
        }
    }
    if differ.is_empty() { Ok(same.join(", ")) } else { Err(differ.join("; ")) }
}

/// A Lua string literal that holds `text` as it is (a long bracket whose level does not occur in it).
fn lua_literal(text: &str) -> String {
    let mut level = 1;
    while text.contains(&format!("]{}]", "=".repeat(level))) {
        level += 1;
    }
    let eq = "=".repeat(level);
    format!("[{eq}[{text}]{eq}]")
}

/// The wrk script of one load: POSTs `query` to the URL; with `areas`, each request's body carries
/// `{"area": <one of areas>, "first": <in first>}` drawn in wrk's `request()` hook. Every answer is
/// checked in `response()`: GraphQL errors in a 200 answer are counted and printed by `done()` as
/// `GraphQL errors: N` (wrk itself counts the non-2xx answers).
pub fn wrk_script(query: &str, varied: Option<(&[String], (u32, u32))>) -> String {
    let query_json = serde_json::Value::String(query.to_string()).to_string();
    let mut lua = String::from(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         local threads = {}\nlocal counter = 0\n\
         function setup(thread)\n  counter = counter + 1\n  thread:set(\"id\", counter)\n  table.insert(threads, thread)\nend\n\
         function init(args)\n  errors = 0\n  math.randomseed(os.time() * 100 + (id or 0))\nend\n\
         function response(status, headers, body)\n  if status == 200 and string.find(body, '\"errors\"', 1, true) then errors = errors + 1 end\nend\n\
         function done(summary, latency, requests)\n  local total = 0\n  for _, t in ipairs(threads) do total = total + (t:get(\"errors\") or 0) end\n  \
         io.write(string.format(\"GraphQL errors: %d\\n\", total))\nend\n",
    );
    match varied {
        None => {
            let body = format!("{{\"query\":{query_json}}}");
            lua.push_str(&format!("wrk.body = {}\n", lua_literal(&body)));
        }
        Some((areas, (low, high))) => {
            let list: Vec<String> =
                areas.iter().map(|a| lua_literal(&serde_json::Value::String(a.clone()).to_string())).collect();
            lua.push_str(&format!("local areas = {{ {} }}\n", list.join(", ")));
            lua.push_str(&format!(
                "local head = {}\n",
                lua_literal(&format!("{{\"query\":{query_json},\"variables\":{{\"area\":"))
            ));
            lua.push_str(&format!(
                "request = function()\n  local body = head .. areas[math.random(#areas)] .. ',\"first\":' .. math.random({low}, {high}) .. '}}}}'\n  \
                 return wrk.format(nil, nil, nil, body)\nend\n"
            ));
        }
    }
    lua
}

/// A small deterministic generator for the varied answers checked before timing (no dependency for it).
pub struct Draw(u64);

impl Draw {
    pub fn new(seed: u64) -> Draw {
        Draw(seed.max(1))
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u32, high: u32) -> u32 {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + (self.0 % u64::from(high - low + 1)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_read_numbers_strings_and_nulls() {
        let ours = serde_json::json!({"data": {"country": {"adminAreas": [
            {"population": {"total": 10}, "idps": {"nodes": [{"individuals": 5}]}},
            {"population": null, "idps": {"nodes": [{"individuals": 7}, {"individuals": 1}]}}
        ]}}});
        let theirs = serde_json::json!({"data": {"allAdminAreas": {"nodes": [
            {"latestIdpTotalsByAreaId": {"nodes": [{"individuals": "5"}, {"individuals": "7"}, {"individuals": "1"}]},
             "latestPopulationsByAreaId": {"nodes": [{"population": "10"}]}}
        ]}}});
        assert_eq!(sum_of(&ours, "individuals"), (3, 13));
        assert_eq!(sum_of(&theirs, "individuals"), (3, 13));
        assert_eq!(sum_of(&ours, "total"), (1, 10));
        assert!(compare(&ours, &theirs, &[("individuals", "individuals"), ("total", "population")]).is_ok());
        let short = serde_json::json!({"data": {"x": [{"individuals": "5"}]}});
        assert!(compare(&ours, &short, INDIVIDUALS).is_err());
    }

    #[test]
    fn every_query_names_its_variables_and_lua_holds_the_query() {
        for query in canonical() {
            for text in [&query.varied.crisisgraph, &query.varied.peer] {
                assert!(text.contains("$area") && text.contains("$first"), "{}: {text}", query.name);
            }
            assert_eq!(query.peer_query(5), query.peer_query(4));
        }
        let areas = vec!["HT0111".to_string(), "HT0112".to_string()];
        let lua = wrk_script("query V($area: String!) { x }", Some((&areas, (1, 20))));
        assert!(lua.contains(r#"[=["HT0111"]=]"#), "{lua}");
        assert!(lua.contains("math.random(1, 20) .. '}}'"), "{lua}");
        assert!(Q4.contains(&format!("needsTotal(year: {NEEDS_YEAR})")));
        assert_eq!(lua_literal("a]=]b"), "[==[a]=]b]==]");
        let fixed = wrk_script(Q4, None);
        assert!(fixed.contains("wrk.body = [=[{\"query\":\"{ country(iso3: \\\"MLI\\\")"), "{fixed}");
    }

    #[test]
    fn draws_stay_in_range() {
        let mut draw = Draw::new(7);
        for _ in 0..1000 {
            let n = draw.between(3, 9);
            assert!((3..=9).contains(&n));
        }
    }
}
