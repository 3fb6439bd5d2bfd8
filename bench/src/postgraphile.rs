//! The peer: PostGraphile 4 (from npm, with its connection-filter plugin) on loopback, over a schema of
//! views the bench creates on the bench database, so that it answers the nearest equivalent of each
//! canonical crisisgraph query. Nothing here is part of crisisgraph's own migrations.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::BenchError;

/// The schema PostGraphile is given (and the only one it sees).
pub const SCHEMA: &str = "crisisgraph_peer";

/// Views of crisisgraph's tables in [`SCHEMA`], with PostGraphile smart comments for the keys and
/// relations views do not carry. `idp_totals` and `latest_idp_totals` expose crisisgraph's own table of
/// totals (kept by the ingest: `idp_figures` summed over displacement reasons and origins), all of it
/// and the rows flagged as the latest round, so that the peer reads the same rows crisisgraph reads.
pub const VIEWS: &str = "
DROP SCHEMA IF EXISTS crisisgraph_peer CASCADE;
CREATE SCHEMA crisisgraph_peer;
CREATE VIEW crisisgraph_peer.admin_areas AS
  SELECT id, country_iso3, pcode, name, level, parent_id, valid_from, valid_to FROM public.admin_areas;
COMMENT ON VIEW crisisgraph_peer.admin_areas IS E'@primaryKey id';
CREATE VIEW crisisgraph_peer.idp_totals AS
  SELECT country_iso3, admin_level, source_pcode, area_id, area_matched, operation, round_number, reporting_date,
         assessment_type, resource_id, individuals
  FROM public.idp_totals;
COMMENT ON VIEW crisisgraph_peer.idp_totals IS
  E'@foreignKey (area_id) references crisisgraph_peer.admin_areas (id)';
CREATE VIEW crisisgraph_peer.latest_idp_totals AS
  SELECT country_iso3, admin_level, source_pcode, area_id, area_matched, operation, round_number, reporting_date,
         assessment_type, resource_id, individuals
  FROM public.idp_totals WHERE area_matched AND is_latest_round;
COMMENT ON VIEW crisisgraph_peer.latest_idp_totals IS
  E'@foreignKey (area_id) references crisisgraph_peer.admin_areas (id)';
CREATE VIEW crisisgraph_peer.population_figures AS
  SELECT id, country_iso3, area_id, area_matched, sex, age_range, reference_year, population
  FROM public.population_figures;
COMMENT ON VIEW crisisgraph_peer.population_figures IS
  E'@primaryKey id\\n@foreignKey (area_id) references crisisgraph_peer.admin_areas (id)';
";

/// The peer's nearest equivalent of each canonical query, in the order of the bench's `canonical()`.
pub const QUERIES: [&str; 3] = [
    r#"{ allAdminAreas(filter: {countryIso3: {equalTo: "MLI"}, level: {equalTo: 1}}, orderBy: PCODE_ASC) { nodes { pcode name populationFiguresByAreaId(filter: {areaMatched: {equalTo: true}}) { nodes { sex ageRange referenceYear population } } latestIdpTotalsByAreaId { nodes { roundNumber reportingDate individuals } } } } }"#,
    r#"{ allAdminAreas(filter: {pcode: {equalTo: "HT0111"}}) { nodes { idpTotalsByAreaId(first: 100, filter: {areaMatched: {equalTo: true}}, orderBy: [REPORTING_DATE_ASC, OPERATION_ASC, ROUND_NUMBER_ASC, ASSESSMENT_TYPE_ASC, SOURCE_PCODE_ASC]) { nodes { operation roundNumber reportingDate individuals } } } } }"#,
    r#"{ allIdpTotals(filter: {countryIso3: {equalTo: "HTI"}, adminLevel: {equalTo: 2}}, first: 1000, orderBy: [REPORTING_DATE_ASC, OPERATION_ASC, ROUND_NUMBER_ASC, ASSESSMENT_TYPE_ASC, SOURCE_PCODE_ASC]) { nodes { sourcePcode operation roundNumber reportingDate individuals } } }"#,
];

/// How many IDP figures an answer holds (objects with an `individuals` field, anywhere) and their sum,
/// to check that crisisgraph and the peer answered with the same numbers (PostGraphile sends 64-bit
/// integers as strings).
pub fn figures(answer: &serde_json::Value) -> (usize, i128) {
    match answer {
        serde_json::Value::Object(fields) => {
            let own = fields.get("individuals").map(|v| match v {
                serde_json::Value::String(s) => s.parse::<i128>().unwrap_or(0),
                other => other.as_i64().map_or(0, i128::from),
            });
            fields
                .values()
                .map(figures)
                .fold(own.map_or((0, 0), |n| (1, n)), |(count, sum), (c, s)| (count + c, sum + s))
        }
        serde_json::Value::Array(items) => {
            items.iter().map(figures).fold((0, 0), |(count, sum), (c, s)| (count + c, sum + s))
        }
        _ => (0, 0),
    }
}

/// `dir` if it holds an installed PostGraphile (`npm ci` run in it), else `None`.
pub fn installed(dir: &Path) -> Option<PathBuf> {
    let cli = dir.join("node_modules/.bin/postgraphile");
    let plugin = dir.join("node_modules/postgraphile-plugin-connection-filter");
    (cli.exists() && plugin.exists()).then_some(cli)
}

/// A running PostGraphile, stopped (with its cluster workers) when dropped.
pub struct PostGraphile {
    child: Child,
    stopped: bool,
    /// `http://127.0.0.1:PORT/graphql`.
    pub url: String,
}

impl PostGraphile {
    /// Starts PostGraphile from `dir` on `127.0.0.1:port` over [`SCHEMA`] of `database_url`, with
    /// `workers` cluster workers (as many as crisisgraph has threads, so both get the same cores). Its
    /// output goes to `log`.
    pub fn start(
        dir: &Path,
        database_url: &str,
        port: u16,
        workers: usize,
        log: &Path,
    ) -> Result<PostGraphile, BenchError> {
        let cli = installed(dir).ok_or_else(|| {
            BenchError::Invalid(format!("PostGraphile is not installed in {} (run npm ci there)", dir.display()))
        })?;
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        let mut command = Command::new(cli);
        command
            .current_dir(dir)
            .args(["--connection", database_url, "--schema", SCHEMA])
            .args(["--append-plugins", "postgraphile-plugin-connection-filter"])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--disable-default-mutations", "--disable-query-log", "--disable-graphiql"])
            .args(["--no-setof-functions-contain-nulls"])
            .env("NODE_ENV", "production")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group, so that stopping it also stops the cluster workers it forks.
            .process_group(0);
        if workers > 1 {
            command.args(["--cluster-workers", &workers.to_string()]);
        }
        let child = command.spawn()?;
        Ok(PostGraphile { child, stopped: false, url: format!("http://127.0.0.1:{port}/graphql") })
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the process group (TERM) and waits for the leader.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        // The whole group even if the leader died on its own: its workers may still be running.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

impl Drop for PostGraphile {
    fn drop(&mut self) {
        self.terminate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_count_and_sum_numbers_and_strings() {
        let ours = serde_json::json!({"data": {"country": {"adminAreas": [
            {"idps": {"nodes": [{"round": 1, "individuals": 5}]}},
            {"idps": {"nodes": [{"round": 2, "individuals": 7}, {"round": 3, "individuals": 1}]}}
        ]}}});
        let theirs = serde_json::json!({"data": {"allAdminAreas": {"nodes": [
            {"latestIdpTotalsByAreaId": {"nodes": [{"individuals": "5"}, {"individuals": "7"}, {"individuals": "1"}]}}
        ]}}});
        assert_eq!(figures(&ours), (3, 13));
        assert_eq!(figures(&theirs), (3, 13));
        assert_eq!(figures(&serde_json::json!({"data": null})), (0, 0));
    }
}
