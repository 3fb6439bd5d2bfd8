//! Operations: schedules fire runs, one run at a time per source (also across processes), dead runs
//! are interrupted, mutations need the operator token, dry runs change nothing, failures and
//! staleness are reported, metrics and graceful shutdown; live runs: subscriptions (with the
//! graphql-ws client) and webhooks. Every scenario runs on both stores.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::test as awtest;
use common::{Backend, TestStore, fixture_server, graphql, ingester, mount_dtm, options};
use ingest::{Coordinator, RunOptions, Scheduler, Source, SourceSchedule};
use serde_json::{Value, json};
use store::leases::StartOutcome;
use store::models::IngestRun;
use store::runs::status;
use store::with_conn;
use wiremock::{MockServer, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_crisisgraph");
const TOKEN: &str = "operator-secret-for-tests";

on_both_stores!(
    a_schedule_fires_a_run,
    simultaneous_triggers_share_one_run,
    two_serve_processes_run_each_scheduled_job_once,
    a_killed_run_is_interrupted_and_the_next_run_succeeds,
    mutations_need_the_operator_token_and_can_cancel,
    a_dry_run_changes_nothing_and_reports_what_the_real_run_does,
    a_failing_source_is_reported_and_stale_while_the_api_serves,
    sigterm_stops_serve_cleanly_and_interrupts_a_running_ingest,
    triggers_say_when_a_run_is_already_going_and_refuse_bad_ones,
    metrics_report_staleness_failures_and_http_requests,
    a_final_status_never_overwrites_another_verdict,
    subscribers_hear_a_cli_run_in_order_on_every_replica,
    webhooks_are_signed_retried_and_kept_in_order_and_never_fail_a_run,
);

async fn all_runs(pool: &store::DbPool, source: &str) -> Vec<IngestRun> {
    let source = source.to_string();
    with_conn(pool, move |c| store::runs::list_runs(c, Some(&source), 1000, 0)).await.expect("runs")
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A DTM server whose Chad admin0 answer takes `delay`.
async fn slow_server(delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    let body = common::read(common::DTM_FILES[0].2);
    mount_dtm(&server, "TCD", 0, ResponseTemplate::new(200).set_body_bytes(body).set_delay(delay)).await;
    server
}

fn dtm_tcd_admin0() -> RunOptions {
    RunOptions { trigger: "test".into(), ..options(&["TCD"], &[0]) }
}

async fn a_schedule_fires_a_run(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = fixture_server().await;
    let coordinator = Coordinator::new(ingester(&store, &server));
    let schedule = SourceSchedule {
        source: Source::Dtm,
        cron: Some("* * * * * *".into()),
        timezone: chrono_tz::UTC,
        cadence: Duration::from_secs(3600),
        options: RunOptions { trigger: "schedule".into(), ..dtm_tcd_admin0() },
    };
    let scheduler = Scheduler::start(coordinator.clone(), &[schedule]).await.expect("scheduler starts");
    let pool = store.pool.clone();
    wait_for("a scheduled run to succeed", Duration::from_secs(15), || {
        let pool = pool.clone();
        async move { all_runs(&pool, "dtm").await.iter().any(|r| r.trigger == "schedule" && r.status == status::SUCCEEDED) }
    })
    .await;
    scheduler.shutdown().await;
    coordinator.shutdown(Duration::from_secs(5)).await;
    let claims = with_conn(&store.pool, |c| store::leases::claims_of(c, "dtm")).await.expect("claims");
    assert!(!claims.is_empty(), "the firing was claimed");
}

async fn simultaneous_triggers_share_one_run(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = slow_server(Duration::from_millis(1500)).await;
    // Two coordinators with their own lease holders, as two replicas would be.
    let (first, second) = (Coordinator::new(ingester(&store, &server)), Coordinator::new(ingester(&store, &server)));
    let (a, b) =
        tokio::join!(first.trigger(Source::Dtm, dtm_tcd_admin0()), second.trigger(Source::Dtm, dtm_tcd_admin0()));
    let (a, b) = (a.expect("first trigger"), b.expect("second trigger"));
    assert_eq!(a.run().id, b.run().id, "both callers get the same run");
    let started = [&a, &b].iter().filter(|o| matches!(o, StartOutcome::Started(_))).count();
    assert_eq!(started, 1, "exactly one trigger started it");
    // A third trigger while it runs is not an error either.
    let third = first.trigger(Source::Dtm, dtm_tcd_admin0()).await.expect("third trigger");
    assert!(matches!(third, StartOutcome::AlreadyRunning(ref r) if r.id == a.run().id));
    first.shutdown(Duration::from_secs(10)).await;
    second.shutdown(Duration::from_secs(10)).await;
    let runs = all_runs(&store.pool, "dtm").await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, status::SUCCEEDED, "{:?}", runs[0].error);
}

struct Child(std::process::Child);

impl Child {
    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "crisisgraph did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// `crisisgraph` with the store and the local server configured, nothing inherited that matters.
fn crisisgraph(store: &TestStore, server: &MockServer, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("DATABASE_URL", &store.url)
        .env("CRISISGRAPH_DTM_URL", server.uri())
        .env("CRISISGRAPH_HDX_URL", server.uri())
        .env("CRISISGRAPH_DTM_KEY", common::DTM_KEY)
        .env("CRISISGRAPH_COUNTRIES", "TCD")
        .env("CRISISGRAPH_SCHEDULE_GEOGRAPHY", "off")
        .env("CRISISGRAPH_SCHEDULE_DTM", "off")
        .env_remove("CRISISGRAPH_CONFIG")
        .env_remove("CRISISGRAPH_OPERATOR_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

async fn wait_healthy(port: u16) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    wait_for("the server to answer /healthz", Duration::from_secs(60), || {
        let request = client.get(format!("http://127.0.0.1:{port}/healthz")).send();
        async move { request.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
}

async fn two_serve_processes_run_each_scheduled_job_once(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = fixture_server().await;
    let ports = [free_port(), free_port()];
    let mut children: Vec<Child> = ports
        .iter()
        .map(|port| {
            let mut command = crisisgraph(&store, &server, &["serve", "--bind", &format!("127.0.0.1:{port}")]);
            command.env("CRISISGRAPH_SCHEDULE_DTM", "* * * * * *");
            Child(command.spawn().expect("crisisgraph serve starts"))
        })
        .collect();
    for port in ports {
        wait_healthy(port).await;
    }
    let pool = store.pool.clone();
    wait_for("four scheduled runs", Duration::from_secs(30), || {
        let pool = pool.clone();
        async move { all_runs(&pool, "dtm").await.iter().filter(|r| r.status == status::SUCCEEDED).count() >= 4 }
    })
    .await;
    for child in &mut children {
        assert!(child.terminate().success(), "serve exits 0 on SIGTERM");
    }
    let claims = with_conn(&store.pool, |c| store::leases::claims_of(c, "dtm")).await.expect("claims");
    let mut runs = all_runs(&store.pool, "dtm").await;
    runs.reverse();
    assert!(runs.iter().all(|r| r.trigger == "schedule"));
    assert_eq!(runs.len(), claims.len(), "one run per claimed firing: {} runs, {} firings", runs.len(), claims.len());
    for pair in runs.windows(2) {
        let finished = pair[0].finished_at.expect("finished");
        assert!(pair[1].started_at >= finished, "runs {} and {} overlap", pair[0].id, pair[1].id);
    }
    let slots: std::collections::BTreeSet<_> = claims.iter().map(|(slot, _)| *slot).collect();
    assert_eq!(slots.len(), claims.len(), "each firing claimed once");
}

async fn a_killed_run_is_interrupted_and_the_next_run_succeeds(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let hanging = slow_server(Duration::from_secs(120)).await;
    let mut child = Child(
        crisisgraph(&store, &hanging, &["ingest", "dtm", "--levels", "0"])
            .env("CRISISGRAPH_LEASE_SECONDS", "2")
            .spawn()
            .expect("crisisgraph ingest starts"),
    );
    let pool = store.pool.clone();
    wait_for("the CLI run to start", Duration::from_secs(30), || {
        let pool = pool.clone();
        async move { all_runs(&pool, "dtm").await.iter().any(|r| r.status == status::RUNNING) }
    })
    .await;
    child.0.kill().expect("kill -9");
    let _ = child.0.wait();
    let dead = all_runs(&store.pool, "dtm").await.remove(0);

    // Issue 16, point 4: every reader shows the dead run interrupted once its lease is gone (at once
    // on SQLite, whose lock the kernel freed; after the 2 s lease on PostgreSQL), before anything is
    // started again: the run list, GraphQL, metrics and the CLI.
    let pool = store.pool.clone();
    wait_for("the killed run to read as interrupted", Duration::from_secs(30), || {
        let pool = pool.clone();
        async move { all_runs(&pool, "dtm").await[0].status == status::INTERRUPTED }
    })
    .await;
    let data = graphql(&store.pool, &format!("{{ ingestRun(id: {}) {{ status error }} }}", dead.id)).await;
    assert_eq!(data["ingestRun"]["status"], "interrupted", "{data}");
    let app = awtest::init_service(actix_web::App::new().configure(api::server::configure(
        api::build_schema(store.pool.clone(), app_operations(None, None)),
        store.pool.clone(),
    )))
    .await;
    let metrics = awtest::call_and_read_body(&app, awtest::TestRequest::get().uri("/metrics").to_request()).await;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains(r#"crisisgraph_ingest_runs_total{source="dtm",status="interrupted"} 1"#), "{metrics}");
    assert!(!metrics.contains(r#"status="running""#), "{metrics}");
    let listed =
        crisisgraph(&store, &hanging, &["runs", "--source", "dtm"]).stdout(Stdio::piped()).output().expect("runs");
    let listed = String::from_utf8_lossy(&listed.stdout);
    let statuses: Vec<&str> = listed.lines().skip(1).filter_map(|l| l.split_whitespace().nth(2)).collect();
    assert_eq!(statuses, ["interrupted"], "{listed}");
    // Nobody has written it down yet; a running `serve` does, by itself.
    assert_eq!(stored_status(&store.pool, dead.id).await, status::RUNNING);
    let port = free_port();
    let mut serve = Child(
        crisisgraph(&store, &hanging, &["serve", "--no-scheduler", "--bind", &format!("127.0.0.1:{port}")])
            .env("CRISISGRAPH_LEASE_SECONDS", "2")
            .spawn()
            .expect("serve starts"),
    );
    let pool = store.pool.clone();
    wait_for("serve to mark the killed run interrupted", Duration::from_secs(30), || {
        let pool = pool.clone();
        async move { stored_status(&pool, dead.id).await == status::INTERRUPTED }
    })
    .await;
    assert!(serve.terminate().success());

    let server = fixture_server().await;
    let local = ingester(&store, &server);
    let next = local.run(Source::Dtm, &options(&["TCD"], &[0])).await.expect("next run");
    assert_ne!(next.id, dead.id);
    assert_eq!(next.status, status::SUCCEEDED, "{:?}", next.error);
    let dead = with_conn(&store.pool, move |c| store::runs::find_run(c, dead.id)).await.expect("dead run");
    assert_eq!(dead.status, status::INTERRUPTED);
    assert!(dead.error.unwrap_or_default().contains("interrupted"));
}

/// A run's status as stored, without the readers' view of dead runs.
async fn stored_status(pool: &store::DbPool, id: i64) -> String {
    use diesel::prelude::*;
    use store::schema::ingest_runs;
    with_conn(pool, move |c| Ok(ingest_runs::table.find(id).select(ingest_runs::status).first::<String>(c)?))
        .await
        .expect("stored status")
}

fn app_operations(coordinator: Option<Coordinator>, token: Option<&str>) -> api::Operations {
    api::Operations {
        coordinator,
        schedules: SourceSchedule::defaults(),
        operator_token: token.map(String::from),
        live: None,
    }
}

async fn mutations_need_the_operator_token_and_can_cancel(backend: Backend) {
    // actix's test service spawns local tasks.
    tokio::task::LocalSet::new().run_until(mutations_scenario(backend)).await;
}

async fn mutations_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = slow_server(Duration::from_secs(3)).await;
    let coordinator = Coordinator::new(ingester(&store, &server));
    let schema = api::build_schema(store.pool.clone(), app_operations(Some(coordinator.clone()), Some(TOKEN)));
    let app =
        awtest::init_service(actix_web::App::new().configure(api::server::configure(schema, store.pool.clone()))).await;
    let mutation = json!({ "query": r#"mutation { triggerIngest(source: "dtm", countries: ["TCD"]) { run { id status trigger } } }"# });
    let call = |auth: Option<String>| {
        let mut request = awtest::TestRequest::post().uri("/graphql").set_json(mutation.clone());
        if let Some(value) = auth {
            request = request.insert_header(("Authorization", value));
        }
        request.to_request()
    };
    for auth in [None, Some("Bearer wrong-token".to_string()), Some(TOKEN.to_string())] {
        let body: Value = awtest::call_and_read_body_json(&app, call(auth.clone())).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{auth:?}: {body}");
        assert_eq!(body["data"], Value::Null);
    }
    assert!(all_runs(&store.pool, "dtm").await.is_empty(), "refused mutations start nothing");

    let body: Value = awtest::call_and_read_body_json(&app, call(Some(format!("Bearer {TOKEN}")))).await;
    assert!(body["errors"].is_null(), "{body}");
    let run = &body["data"]["triggerIngest"]["run"];
    assert_eq!((run["status"].as_str(), run["trigger"].as_str()), (Some("running"), Some("api")), "returns at once");
    let id = run["id"].as_str().expect("id").to_string();

    let cancel = json!({ "query": format!(r#"mutation {{ cancelIngest(id: "{id}") {{ id }} }}"#) });
    let request = awtest::TestRequest::post()
        .uri("/graphql")
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .set_json(cancel)
        .to_request();
    let body: Value = awtest::call_and_read_body_json(&app, request).await;
    assert!(body["errors"].is_null(), "{body}");
    coordinator.shutdown(Duration::from_secs(15)).await;
    let data = graphql(&store.pool, &format!(r#"{{ ingestRun(id: "{id}") {{ status inserted error }} }}"#)).await;
    assert_eq!(data["ingestRun"]["status"], "cancelled", "{data}");
    assert!(common::figure_snapshot(&store.pool).await.is_empty(), "a cancelled run commits nothing");

    // A server without a token refuses mutations and says why.
    let read_only = api::build_schema(store.pool.clone(), app_operations(Some(coordinator), None));
    let response =
        serde_json::to_value(read_only.execute(mutation["query"].as_str().expect("query")).await).expect("JSON");
    assert_eq!(response["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert!(response["errors"][0]["message"].as_str().is_some_and(|m| m.contains("disabled")), "{response}");
}

async fn a_dry_run_changes_nothing_and_reports_what_the_real_run_does(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = fixture_server().await;
    let ingester = ingester(&store, &server);
    ingester.run(Source::Geography, &options(&["TCD"], &[])).await.expect("geography");
    let dry =
        ingester.run(Source::Dtm, &RunOptions { dry_run: true, ..options(&["TCD"], &[0, 1, 2]) }).await.expect("dry");
    assert_eq!(dry.status, status::SUCCEEDED);
    assert!(dry.dry_run);
    assert!(dry.inserted > 0);
    assert!(common::figure_snapshot(&store.pool).await.is_empty(), "a dry run commits nothing");
    let real = ingester.run(Source::Dtm, &options(&["TCD"], &[0, 1, 2])).await.expect("real");
    assert_eq!(
        (dry.fetched, dry.inserted, dry.updated, dry.unchanged, dry.rejected),
        (real.fetched, real.inserted, real.updated, real.unchanged, real.rejected)
    );
    assert_eq!(common::figure_snapshot(&store.pool).await.len() as i64, real.inserted);
}

async fn a_failing_source_is_reported_and_stale_while_the_api_serves(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let good = fixture_server().await;
    ingester(&store, &good).run(Source::Dtm, &options(&["TCD"], &[0])).await.expect("good run");
    let figures = r#"{ country(iso3: "TCD") { idps(first: 1000) { totalCount } } }"#;
    let before = graphql(&store.pool, figures).await;

    let failing = MockServer::start().await;
    mount_dtm(&failing, "TCD", 0, ResponseTemplate::new(500)).await;
    let failed = ingester(&store, &failing).run(Source::Dtm, &options(&["TCD"], &[0])).await.expect("failed run");
    assert_eq!(failed.status, status::FAILED);

    let schedules = |cadence: Duration| {
        SourceSchedule::defaults().into_iter().map(|s| SourceSchedule { cadence, ..s }).collect::<Vec<_>>()
    };
    let query =
        r#"{ sources { name schedule nextRunAt lastSuccessAt lastFailure { error finishedAt } stale failing } }"#;
    let long = api::build_schema(
        store.pool.clone(),
        api::Operations { schedules: schedules(Duration::from_secs(3600)), ..api::Operations::default() },
    );
    let answer = serde_json::to_value(long.execute(query).await).expect("JSON");
    let dtm = answer["data"]["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|s| s["name"] == "dtm")
        .cloned()
        .expect("dtm");
    assert_eq!(dtm["failing"], true, "{dtm}");
    assert_eq!(dtm["stale"], false, "succeeded within its cadence: {dtm}");
    assert!(dtm["lastFailure"]["error"].as_str().is_some_and(|e| e.contains("HTTP 500")), "{dtm}");
    assert!(
        dtm["lastSuccessAt"].is_string()
            && dtm["nextRunAt"].is_string()
            && dtm["lastFailure"]["finishedAt"].is_string()
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let short = api::build_schema(
        store.pool.clone(),
        api::Operations { schedules: schedules(Duration::from_secs(1)), ..api::Operations::default() },
    );
    let answer = serde_json::to_value(short.execute(query).await).expect("JSON");
    let dtm = answer["data"]["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|s| s["name"] == "dtm")
        .cloned()
        .expect("dtm");
    assert_eq!(dtm["stale"], true, "older than its cadence: {dtm}");
    assert_eq!(graphql(&store.pool, figures).await, before, "the last good data is still served");

    // The CLI shows the same; metrics count the runs.
    let output = crisisgraph(&store, &failing, &["sources"])
        .env("CRISISGRAPH_CADENCE_DTM", "1s")
        .stdout(Stdio::piped())
        .output()
        .expect("sources");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && text.contains("FAILING") && text.contains("HTTP 500"), "{text}");
    let app =
        awtest::init_service(actix_web::App::new().configure(api::server::configure(long, store.pool.clone()))).await;
    let metrics = awtest::call_and_read_body(&app, awtest::TestRequest::get().uri("/metrics").to_request()).await;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains(r#"crisisgraph_ingest_runs_total{source="dtm",status="failed"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"crisisgraph_ingest_runs_total{source="dtm",status="succeeded"} 1"#), "{metrics}");
    assert!(metrics.contains("crisisgraph_source_last_success_timestamp_seconds{source=\"dtm\"}"), "{metrics}");
}

async fn sigterm_stops_serve_cleanly_and_interrupts_a_running_ingest(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let hanging = slow_server(Duration::from_secs(120)).await;
    let port = free_port();
    let mut child = Child(
        crisisgraph(&store, &hanging, &["serve", "--no-scheduler", "--bind", &format!("127.0.0.1:{port}")])
            .env("CRISISGRAPH_OPERATOR_TOKEN", TOKEN)
            .env("CRISISGRAPH_SHUTDOWN_GRACE_SECONDS", "1")
            .spawn()
            .expect("serve starts"),
    );
    wait_healthy(port).await;
    let client = reqwest::Client::new();
    let body: Value = client
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .bearer_auth(TOKEN)
        .json(&json!({ "query": r#"mutation { triggerIngest(source: "dtm") { run { number status } } }"# }))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    let id: i64 = body["data"]["triggerIngest"]["run"]["number"].as_i64().unwrap_or_else(|| panic!("{body}"));
    let started = Instant::now();
    assert!(child.terminate().success(), "exit 0 after SIGTERM");
    assert!(started.elapsed() < Duration::from_secs(20));
    let run = with_conn(&store.pool, move |c| store::runs::find_run(c, id)).await.expect("run");
    assert_eq!(run.status, status::INTERRUPTED, "{run:?}");
    assert!(common::figure_snapshot(&store.pool).await.is_empty());
}

async fn triggers_say_when_a_run_is_already_going_and_refuse_bad_ones(backend: Backend) {
    tokio::task::LocalSet::new().run_until(trigger_scenario(backend)).await;
}

async fn trigger_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = slow_server(Duration::from_secs(3)).await;
    let coordinator = Coordinator::new(ingester(&store, &server));
    let schema = api::build_schema(store.pool.clone(), app_operations(Some(coordinator.clone()), Some(TOKEN)));
    let app =
        awtest::init_service(actix_web::App::new().configure(api::server::configure(schema, store.pool.clone()))).await;
    let call = |query: &str, variables: Value| {
        awtest::TestRequest::post()
            .uri("/graphql")
            .insert_header(("Authorization", format!("Bearer {TOKEN}")))
            .set_json(json!({ "query": query, "variables": variables }))
            .to_request()
    };
    let trigger = r#"mutation($dry: Boolean!, $countries: [String!]) {
        triggerIngest(source: "dtm", countries: $countries, dryRun: $dry) { alreadyRunning run { id dryRun status } } }"#;

    let first: Value =
        awtest::call_and_read_body_json(&app, call(trigger, json!({ "dry": true, "countries": ["TCD"] }))).await;
    assert!(first["errors"].is_null(), "{first}");
    let first = &first["data"]["triggerIngest"];
    assert_eq!(
        (first["alreadyRunning"].as_bool(), first["run"]["dryRun"].as_bool()),
        (Some(false), Some(true)),
        "{first}"
    );

    // A real trigger while the dry run goes on gets that run, and is told so.
    let second: Value =
        awtest::call_and_read_body_json(&app, call(trigger, json!({ "dry": false, "countries": ["TCD"] }))).await;
    let second = &second["data"]["triggerIngest"];
    assert_eq!(second["alreadyRunning"], true, "{second}");
    assert_eq!(second["run"]["id"], first["run"]["id"], "the run in progress");
    assert_eq!(second["run"]["dryRun"], true, "whose dry run it is shows");

    // The id triggerIngest gives is what ingestRun takes, as a variable.
    let id = first["run"]["id"].clone();
    let found: Value = awtest::call_and_read_body_json(
        &app,
        call("query($id: ID!) { ingestRun(id: $id) { id dryRun } }", json!({ "id": id })),
    )
    .await;
    assert_eq!(found["data"]["ingestRun"]["id"], id, "{found}");
    coordinator.shutdown(Duration::from_secs(15)).await;

    // Bad triggers are GraphQL errors with a code, and record no run.
    let runs_before = all_runs(&store.pool, "dtm").await.len();
    for (countries, needle) in [(json!(["XYZ"]), "XYZ"), (Value::Null, "countries")] {
        let body: Value =
            awtest::call_and_read_body_json(&app, call(trigger, json!({ "dry": false, "countries": countries }))).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{countries}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle) && !message.contains("--country"), "{message}");
    }
    assert_eq!(all_runs(&store.pool, "dtm").await.len(), runs_before, "bad triggers start nothing");
}

/// Parses Prometheus text into (name with labels → value), for the checks below.
fn samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.rsplit_once(' ').and_then(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v))))
        .collect()
}

async fn metrics_report_staleness_failures_and_http_requests(backend: Backend) {
    tokio::task::LocalSet::new().run_until(metrics_scenario(backend)).await;
}

async fn metrics_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let good = fixture_server().await;
    ingester(&store, &good).run(Source::Dtm, &options(&["TCD"], &[0])).await.expect("good run");
    let failing = MockServer::start().await;
    mount_dtm(&failing, "TCD", 0, ResponseTemplate::new(500)).await;
    let dry = RunOptions { dry_run: true, ..options(&["TCD"], &[0]) };
    let failed = ingester(&store, &failing).run(Source::Dtm, &dry).await.expect("failed dry run");
    assert_eq!((failed.status.as_str(), failed.dry_run), (status::FAILED, true));

    let schema = api::build_schema(store.pool.clone(), api::Operations::default());
    let app =
        awtest::init_service(actix_web::App::new().configure(api::server::configure(schema, store.pool.clone()))).await;
    let query = awtest::TestRequest::post().uri("/graphql").set_json(json!({ "query": "{ countries { iso3 } }" }));
    assert_eq!(awtest::call_service(&app, query.to_request()).await.status(), 200);
    let missing = awtest::TestRequest::get().uri("/export/weather.csv").to_request();
    assert_eq!(awtest::call_service(&app, missing).await.status(), 400);
    let text = awtest::call_and_read_body(&app, awtest::TestRequest::get().uri("/metrics").to_request()).await;
    let text = String::from_utf8_lossy(&text).to_string();
    let m = samples(&text);
    let get = |key: &str| m.get(key).copied();

    // A failed dry run is not a failed run, and does not make the source failing.
    assert_eq!(get(r#"crisisgraph_ingest_runs_total{source="dtm",status="failed"}"#), None, "{text}");
    assert_eq!(get(r#"crisisgraph_ingest_runs_total{source="dtm",status="succeeded"}"#), Some(1.0));
    assert_eq!(get(r#"crisisgraph_ingest_dry_runs_total{source="dtm",status="failed"}"#), Some(1.0), "{text}");
    assert_eq!(get(r#"crisisgraph_source_failing{source="dtm"}"#), Some(0.0), "{text}");
    // Every source has a staleness gauge and a last-success series, catalog included (never: 0).
    assert_eq!(get(r#"crisisgraph_source_stale{source="dtm"}"#), Some(0.0), "{text}");
    assert_eq!(get(r#"crisisgraph_source_stale{source="catalog"}"#), Some(1.0), "{text}");
    assert_eq!(get(r#"crisisgraph_source_last_success_timestamp_seconds{source="catalog"}"#), Some(0.0), "{text}");
    assert!(get(r#"crisisgraph_source_last_success_timestamp_seconds{source="dtm"}"#).is_some_and(|t| t > 1.0e9));
    // HTTP requests by route, method and status, with their latency.
    let graphql = r#"{method="POST",route="/graphql",status="200"}"#;
    assert_eq!(get(&format!("crisisgraph_http_requests_total{graphql}")), Some(1.0), "{text}");
    assert_eq!(get(&format!("crisisgraph_http_request_duration_seconds_count{graphql}")), Some(1.0), "{text}");
    let export = r#"{method="GET",route="/export/{name}",status="400"}"#;
    assert_eq!(get(&format!("crisisgraph_http_requests_total{export}")), Some(1.0), "{text}");
}

/// Issue 16, point 1: a run's final state is written only over `running`. A run that someone else
/// marked interrupted (its lease expired and was taken over, or a sweep found its process gone) keeps
/// that verdict when its own process later reports success.
async fn a_final_status_never_overwrites_another_verdict(backend: Backend) {
    use diesel::prelude::*;
    use store::schema::ingest_runs;
    let Some(store) = TestStore::new(backend).await else { return };
    let request = store::runs::RunRequest {
        source: "dtm".into(),
        params: "{}".into(),
        trigger: "test".into(),
        requested_by: None,
        dry_run: false,
    };
    let run = with_conn(&store.pool, move |c| {
        store::leases::start_exclusive_run(c, &request, "holder-a", chrono::Duration::seconds(60))
    })
    .await
    .expect("started");
    let StartOutcome::Started(run) = run else { panic!("the lease was free: {run:?}") };
    let id = run.id;
    let verdict = "interrupted: the lease expired and was taken over";
    with_conn(&store.pool, move |c| {
        Ok(diesel::update(ingest_runs::table.find(id))
            .set((ingest_runs::status.eq(status::INTERRUPTED), ingest_runs::error.eq(Some(verdict))))
            .execute(c)?)
    })
    .await
    .expect("marked by someone else");
    let totals = store::runs::RunTotals { fetched: 5, inserted: 5, ..Default::default() };
    let finished = with_conn(&store.pool, move |c| store::runs::finish_run(c, id, status::SUCCEEDED, &totals, None))
        .await
        .expect("finish");
    assert_eq!((finished.status.as_str(), finished.error.as_deref()), (status::INTERRUPTED, Some(verdict)));
    assert_eq!(stored_status(&store.pool, id).await, status::INTERRUPTED);
    with_conn(&store.pool, |c| store::leases::release(c, "dtm", "holder-a")).await.expect("release");
}

/// The phases in the order a run of one country goes through them.
const PHASES: [&str; 5] = ["queued", "fetching", "parsing", "writing", "finished"];

/// `node` with the client check's packages installed (`npm ci` when they are missing), or `None`
/// when there is no `node` (the test then says NOT RUN; `.ci/run` makes sure there is one).
fn node_client() -> Option<std::path::PathBuf> {
    let clients = common::repo_path("tests/clients");
    Command::new("node").arg("--version").output().ok().filter(|o| o.status.success())?;
    if !clients.join("node_modules/graphql-ws").is_dir() {
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&clients)
            .status()
            .expect("npm runs");
        assert!(installed.success(), "npm ci in tests/clients failed");
    }
    Some(clients.join("subscriptions.mjs"))
}

/// Runs the subscription script in the background; its output lines (JSON) come through the channel.
fn spawn_subscriber(script: &std::path::Path, args: &[&str]) -> (Child, std::sync::mpsc::Receiver<Value>) {
    let mut child = Command::new("node").arg(script).args(args).stdout(Stdio::piped()).spawn().expect("node starts");
    let stdout = child.stdout.take().expect("stdout");
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let value: Value = serde_json::from_str(&line).unwrap_or_else(|_| json!({"kind": "text", "line": line}));
            if send.send(value).is_err() {
                return;
            }
        }
    });
    (Child(child), receive)
}

/// The next line of the subscriber, waiting at most `timeout`.
fn next_line(lines: &std::sync::mpsc::Receiver<Value>, timeout: Duration) -> Option<Value> {
    lines.recv_timeout(timeout).ok()
}

/// Issue 15: a run started by the CLI (another process) is heard by subscribers in order: its
/// progress while it runs (on SQLite by the server's polling, on PostgreSQL by NOTIFY, on a second
/// replica), its end, then the data it changed, with the run's counts; and one connection may hold
/// at most 16 subscriptions.
async fn subscribers_hear_a_cli_run_in_order_on_every_replica(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let Some(script) = node_client() else {
        println!("NOT RUN: no `node` on this machine (the subscription client is graphql-ws on Node)");
        return;
    };
    // The DTM answer takes 1.5 s, so the run is seen fetching before it ends.
    let server = slow_server(Duration::from_millis(1500)).await;
    let replicas = if backend == Backend::Postgres { 2 } else { 1 };
    let ports: Vec<u16> = (0..replicas).map(|_| free_port()).collect();
    let _servers: Vec<Child> = ports
        .iter()
        .map(|port| {
            let args = ["serve", "--no-scheduler", "--bind", &format!("127.0.0.1:{port}")];
            let mut command = crisisgraph(&store, &server, &args);
            command.env("CRISISGRAPH_OPERATOR_TOKEN", TOKEN);
            Child(command.spawn().expect("crisisgraph serve starts"))
        })
        .collect();
    for port in &ports {
        wait_healthy(*port).await;
    }
    // Subscribers listen on the last replica; the CLI is yet another process.
    let url = format!("ws://127.0.0.1:{}/graphql", ports[ports.len() - 1]);

    let (_cap, cap_lines) = spawn_subscriber(&script, &["cap", &url, "18"]);
    let cap = next_line(&cap_lines, Duration::from_secs(60)).expect("the cap check reports");
    assert_eq!(cap["errors"], json!(["LIMIT_EXCEEDED", "LIMIT_EXCEEDED"]), "18 subscriptions, 16 allowed: {cap}");

    let (mut subscriber, lines) = spawn_subscriber(&script, &["events", &url, "dtm", "1"]);
    let ready = next_line(&lines, Duration::from_secs(60)).expect("the subscriber starts");
    assert_eq!(ready["kind"], "ready", "{ready}");
    let cli = crisisgraph(&store, &server, &["ingest", "dtm", "--levels", "0"]).status().expect("the CLI runs");
    assert!(cli.success(), "the CLI run succeeds");
    let mut events = Vec::new();
    while let Some(line) = next_line(&lines, Duration::from_secs(60)) {
        events.push(line);
    }
    let exit = subscriber.0.wait().expect("the subscriber ends");
    assert!(exit.success(), "the subscriber heard the run end and its data change: {events:#?}");

    let run = all_runs(&store.pool, "dtm").await.remove(0);
    assert_eq!(run.status, status::SUCCEEDED, "{:?}", run.error);
    // The rows of the raw payload: what the run read.
    let raw: Value = serde_json::from_slice(&common::read(common::DTM_FILES[0].2)).expect("DTM JSON");
    let raw_rows = raw["result"].as_array().expect("result rows").len() as i64;
    assert_eq!(run.fetched, raw_rows);
    assert!(run.inserted > 0, "a fresh store gains rows");

    let runs: Vec<&Value> = events.iter().filter(|e| e["kind"] == "run").collect();
    assert!(runs.iter().all(|e| e["number"] == run.id), "only the CLI's run: {runs:#?}");
    assert!(
        runs.iter().any(|e| e["status"] == "running" && e["phase"] == "fetching"),
        "the run was seen fetching while it ran: {runs:#?}"
    );
    let phase = |e: &Value| PHASES.iter().position(|p| e["phase"] == *p).expect("a known phase");
    for pair in runs.windows(2) {
        assert!(phase(pair[0]) <= phase(pair[1]), "phases move forward: {runs:#?}");
        for field in ["stepsDone", "rowsSoFar"] {
            let (a, b) = (&pair[0]["progress"][field], &pair[1]["progress"][field]);
            assert!(a.as_i64() <= b.as_i64(), "{field} never goes back: {runs:#?}");
        }
    }
    let last = runs.last().expect("run events");
    assert_eq!((last["status"].as_str(), last["phase"].as_str()), (Some("succeeded"), Some("finished")));
    assert_eq!(runs.iter().filter(|e| e["status"] != "running").count(), 1, "the end is told once");
    assert_eq!(last["progress"]["rowsSoFar"], raw_rows);
    for (field, value) in [("inserted", run.inserted), ("updated", run.updated), ("rejected", run.rejected)] {
        assert_eq!(last[field], value, "{field}");
    }

    let data: Vec<&Value> = events.iter().filter(|e| e["kind"] == "data").collect();
    assert_eq!(data.len(), 1, "one country changed: {events:#?}");
    let change = data[0];
    assert_eq!((change["source"].as_str(), change["country"].as_str()), (Some("dtm"), Some("TCD")));
    assert_eq!(change["run"]["number"], run.id);
    assert_eq!(change["run"]["status"], "succeeded", "dataChanged comes after the final commit");
    assert_eq!(change["run"]["phase"], "finished");
    for (field, value) in [("inserted", run.inserted), ("updated", run.updated), ("rejected", run.rejected)] {
        assert_eq!(change[field], value, "{field}");
    }

    // A run the first replica starts (triggerIngest: every admin level) is heard too, in process on
    // SQLite and from the other replica on PostgreSQL; its admin 0 rows are unchanged, its admin 1
    // and 2 rows new.
    for level in [1, 2] {
        let body = common::read(common::DTM_FILES[level as usize].2);
        mount_dtm(&server, "TCD", level, ResponseTemplate::new(200).set_body_bytes(body)).await;
    }
    let (mut subscriber, lines) = spawn_subscriber(&script, &["events", &url, "dtm", "1"]);
    let ready = next_line(&lines, Duration::from_secs(60)).expect("the subscriber starts");
    assert_eq!(ready["kind"], "ready", "{ready}");
    let mutation =
        json!({"query": r#"mutation { triggerIngest(source: "dtm", countries: ["TCD"]) { run { number } } }"#});
    let answer: Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/graphql", ports[0]))
        .bearer_auth(TOKEN)
        .json(&mutation)
        .send()
        .await
        .expect("the mutation is answered")
        .json()
        .await
        .expect("JSON");
    let number = answer["data"]["triggerIngest"]["run"]["number"].as_i64().expect("a run number");
    let mut events = Vec::new();
    while let Some(line) = next_line(&lines, Duration::from_secs(60)) {
        events.push(line);
    }
    assert!(subscriber.0.wait().expect("the subscriber ends").success(), "{events:#?}");
    let run = all_runs(&store.pool, "dtm").await.remove(0);
    assert_eq!((run.id, run.status.as_str()), (number, status::SUCCEEDED), "{:?}", run.error);
    assert!(run.inserted > 0 && run.unchanged > 0, "admin 0 unchanged, admin 1 and 2 new: {run:?}");
    let runs: Vec<&Value> = events.iter().filter(|e| e["kind"] == "run").collect();
    assert!(runs.iter().all(|e| e["number"] == number), "{events:#?}");
    assert!(runs.iter().any(|e| e["phase"] == "fetching"), "seen while it ran: {events:#?}");
    let last = runs.last().expect("run events");
    assert_eq!((last["status"].as_str(), last["inserted"].as_i64()), (Some("succeeded"), Some(run.inserted)));
    let data: Vec<&Value> = events.iter().filter(|e| e["kind"] == "data").collect();
    assert_eq!(data.len(), 1, "{events:#?}");
    assert_eq!((data[0]["inserted"].as_i64(), data[0]["run"]["number"].as_i64()), (Some(run.inserted), Some(number)));
}

/// HMAC-SHA256 written out from RFC 2104 over `sha2`, independent of the server's `hmac` crate.
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    hex::encode(Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize())
}

/// Issue 15: after each successful, non-dry run that changed data, each configured receiver gets a
/// signed POST per changed country: a 500 is retried, nothing is lost, a receiver's deliveries come
/// in order, and a receiver that is down changes nothing for the runs (its deliveries end `failed`
/// after the bounded attempts). The delivery log shows it all; `IngestRun.payloads` shows what the
/// run fetched.
async fn webhooks_are_signed_retried_and_kept_in_order_and_never_fail_a_run(backend: Backend) {
    use ingest::{WebhookSettings, WebhookTarget, WebhookWorker};
    use wiremock::matchers::{method, path};
    const SECRET: &str = "webhook-secret-for-tests";
    let Some(store) = TestStore::new(backend).await else { return };
    let server = fixture_server().await;
    let receiver = MockServer::start().await;
    wiremock::Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&receiver)
        .await;
    wiremock::Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&receiver)
        .await;
    let up = format!("{}/hook", receiver.uri());
    let down = format!("http://127.0.0.1:{}/hook", free_port());
    let targets = vec![
        WebhookTarget { url: up.clone(), secret: Some(SECRET.into()) },
        WebhookTarget { url: down.clone(), secret: None },
    ];
    let config = ingest::IngestConfig { webhooks: targets.clone(), ..common::config_for(&server) };
    let ingester = ingest::Ingester::new(store.pool.clone(), config, ingest::FetchMode::Online).expect("ingester");

    // Run 1 adds TCD's admin 0 figures, run 2 its admin 1 figures; run 3 changes nothing and a dry
    // run commits nothing: neither is announced.
    let first = common::run(&ingester, Source::Dtm, &["TCD"], &[0]).await;
    let second = common::run(&ingester, Source::Dtm, &["TCD"], &[0, 1]).await;
    let third = common::run(&ingester, Source::Dtm, &["TCD"], &[0, 1]).await;
    let dry = ingester
        .run(Source::Dtm, &RunOptions { dry_run: true, ..options(&["TCD"], &[0, 1, 2]) })
        .await
        .expect("dry run");
    for run in [&first, &second, &third, &dry] {
        assert_eq!(run.status, status::SUCCEEDED, "the receivers never fail a run: {:?}", run.error);
    }
    assert!(first.inserted > 0 && second.inserted > 0, "{first:?} {second:?}");
    assert_eq!((third.inserted, third.updated), (0, 0));
    let queued = with_conn(&store.pool, |c| store::webhooks::list(c, None, 100)).await.expect("outbox");
    assert_eq!(queued.len(), 4, "two changing runs, two receivers: {queued:#?}");
    assert!(queued.iter().all(|d| d.status == "pending" && d.attempt == 0));

    let settings = WebhookSettings {
        max_attempts: 3,
        first_retry: Duration::from_millis(50),
        max_retry: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        poll: Duration::from_millis(50),
    };
    let worker = WebhookWorker::new(store.pool.clone(), targets, settings).expect("worker");
    let sending = tokio::spawn(worker.run());
    let pool = store.pool.clone();
    wait_for("every delivery to be delivered or given up", Duration::from_secs(60), || {
        let pool = pool.clone();
        async move {
            let all = with_conn(&pool, |c| store::webhooks::list(c, None, 100)).await.expect("outbox");
            all.iter().all(|d| d.status != "pending")
        }
    })
    .await;
    sending.abort();

    // The receiver: the first POST answered 500, then the same body again, then run 2's.
    let requests = receiver.received_requests().await.expect("recorded");
    let bodies: Vec<Value> = requests.iter().map(|r| serde_json::from_slice(&r.body).expect("JSON body")).collect();
    assert_eq!(requests.len(), 3, "{bodies:#?}");
    assert_eq!(requests[0].body, requests[1].body, "the 500 is retried with the same body");
    let numbers: Vec<i64> = bodies.iter().map(|b| b["run"]["number"].as_i64().expect("run number")).collect();
    assert_eq!(numbers, vec![first.id, first.id, second.id], "in order, nothing lost");
    for (request, body) in requests.iter().zip(&bodies) {
        let timestamp = request.headers.get("x-crisisgraph-timestamp").expect("timestamp").to_str().expect("text");
        let signature = request.headers.get("x-crisisgraph-signature").expect("signature").to_str().expect("text");
        let signed = [timestamp.as_bytes(), b".", &request.body].concat();
        assert_eq!(signature, format!("sha256={}", hmac_sha256(SECRET.as_bytes(), &signed)), "signature verifies");
        assert_eq!((body["event"].as_str(), body["source"].as_str()), (Some("data.changed"), Some("dtm")));
        assert_eq!(body["country"], "TCD");
    }
    for (body, run) in [(&bodies[0], &first), (&bodies[2], &second)] {
        assert_eq!(body["counts"]["inserted"], run.inserted);
        assert_eq!(body["counts"]["updated"], run.updated);
        assert_eq!(body["counts"]["rejected"], run.rejected);
        assert!(body["dataAsOf"].is_string());
    }

    // The log: newest first; the receiver's two delivered (run 1's on the second attempt), the
    // unreachable one's two given up after three attempts each.
    let log = graphql(
        &store.pool,
        "{ webhookDeliveries { url status attempt httpStatus error event deliveredAt run { number } } }",
    )
    .await;
    let log = log["webhookDeliveries"].as_array().expect("deliveries").clone();
    assert_eq!(log.len(), 4);
    let of = |url: &str| log.iter().filter(|d| d["url"] == url).cloned().collect::<Vec<Value>>();
    let (to_up, to_down) = (of(&up), of(&down));
    assert_eq!(
        to_up.iter().map(|d| d["run"]["number"].clone()).collect::<Vec<_>>(),
        vec![json!(second.id), json!(first.id)]
    );
    assert_eq!(to_up[1]["attempt"], 2);
    assert_eq!(to_up[0]["attempt"], 1);
    assert!(to_up.iter().all(|d| d["status"] == "delivered" && d["httpStatus"] == 204 && d["deliveredAt"].is_string()));
    assert!(
        to_down.iter().all(|d| d["status"] == "failed" && d["attempt"] == 3 && d["error"].is_string()),
        "{to_down:#?}"
    );
    let only_first = graphql(&store.pool, &format!("{{ webhookDeliveries(runNumber: {}) {{ url }} }}", first.id)).await;
    assert_eq!(only_first["webhookDeliveries"].as_array().map(Vec::len), Some(2));

    // What run 1 fetched: the DTM answer, as the fixture's bytes.
    let fetched = graphql(
        &store.pool,
        &format!("{{ ingestRun(id: {}) {{ phase payloads {{ url httpStatus bytes sha256 fetchedAt }} }} }}", first.id),
    )
    .await;
    let raw = common::read(common::DTM_FILES[0].2);
    assert_eq!(fetched["ingestRun"]["phase"], "finished");
    let payloads = fetched["ingestRun"]["payloads"].as_array().expect("payloads").clone();
    assert_eq!(payloads.len(), 1, "{payloads:#?}");
    assert!(payloads[0]["url"].as_str().is_some_and(|u| u.contains("/v3/displacement/admin0")));
    assert_eq!(payloads[0]["httpStatus"], 200);
    assert_eq!(payloads[0]["bytes"], raw.len() as i64);
    use sha2::Digest;
    assert_eq!(payloads[0]["sha256"], hex::encode(sha2::Sha256::digest(&raw)));
}
