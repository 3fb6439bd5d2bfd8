//! The source kit's generic pieces on both stores: the one keyed upsert every table but DTM's is
//! written with (insert, update and unchanged counts; values changed to NULL; stamps written only
//! where something changed; batches; duplicate keys refused; an idempotent second write).

mod common;

use chrono::NaiveDate;
use common::{Backend, TestStore};
use store::geography::{AreaInput, CountryInput};
use store::models::{DatasetInfo, ResourceInfo};
use store::population::AliasInput;
use store::runs::RunRequest;
use store::sites::{SiteFilter, SiteInput, SiteRow};
use store::upsert::{INSERT_BATCH, RunStamp, ids_of, upsert};
use store::{AnyConnection, WriteCounts, with_conn};

on_both_stores!(
    upsert_inserts_updates_and_leaves_unchanged_rows_alone,
    upsert_writes_in_batches_and_refuses_duplicate_keys,
    upsert_keys_by_text_and_without_a_stamp,
);

fn counts(inserted: i64, updated: i64, unchanged: i64) -> WriteCounts {
    WriteCounts { inserted, updated, unchanged }
}

/// A country, a resource and two runs for rows to point at.
fn prerequisites(c: &mut AnyConnection) -> (i64, [RunStamp; 2]) {
    store::geography::upsert_countries(
        c,
        &[CountryInput { iso3: "SSD".into(), iso2: Some("SS".into()), name: "South Sudan".into() }],
    )
    .expect("country");
    let dataset = store::provenance::upsert_dataset(
        c,
        &DatasetInfo {
            source_key: "test:sites".into(),
            hdx_id: None,
            title: "Sites".into(),
            organisation: "Test".into(),
            url: "http://127.0.0.1/sites".into(),
            licence_id: "cc-by".into(),
            licence_title: "CC BY".into(),
            licence_url: None,
            licence_other: None,
            credit: "Test".into(),
            methodology: None,
            update_frequency_days: None,
            last_modified: None,
        },
    )
    .expect("dataset");
    let resource = store::provenance::upsert_resource(
        c,
        dataset.id,
        &ResourceInfo {
            hdx_id: None,
            name: "sites.csv".into(),
            url: "http://127.0.0.1/sites.csv".into(),
            format: "CSV".into(),
            last_modified: None,
        },
    )
    .expect("resource");
    let run = |c: &mut AnyConnection| {
        let request = RunRequest {
            source: "sites".into(),
            params: "{}".into(),
            trigger: "cli".into(),
            requested_by: None,
            dry_run: false,
        };
        RunStamp { run_id: store::runs::start_run(c, &request).expect("run").id, retrieved_at: store::now_utc() }
    };
    (resource.id, [run(c), run(c)])
}

fn site(resource_id: i64, code: &str, round: Option<i32>) -> SiteInput {
    SiteInput {
        country_iso3: "SSD".into(),
        site_code: code.into(),
        name: format!("Site {code}"),
        site_type: Some("Displacement Site".into()),
        latitude: Some(4.83),
        longitude: Some(31.61),
        area_id: None,
        area_matched: false,
        source_pcode: Some("SS0101".into()),
        households: Some(10),
        individuals: Some(50),
        round_number: round,
        reporting_date: NaiveDate::from_ymd_opt(2024, 1, 31),
        resource_id,
    }
}

fn stored_sites(c: &mut AnyConnection) -> Vec<SiteRow> {
    let filter = SiteFilter { country_iso3: Some("SSD".into()), area_ids: None };
    store::sites::list_sites(c, &filter, 10_000, 0).expect("sites")
}

/// The stored row of `code` and round, as the input it was written from, with its run.
fn stored_as_input(rows: &[SiteRow], code: &str, round: Option<i32>) -> (SiteInput, i64) {
    let r = rows.iter().find(|r| r.site_code == code && r.round_number == round).expect("stored site");
    let input = SiteInput {
        country_iso3: r.country_iso3.clone(),
        site_code: r.site_code.clone(),
        name: r.name.clone(),
        site_type: r.site_type.clone(),
        latitude: r.latitude,
        longitude: r.longitude,
        area_id: r.area_id,
        area_matched: r.area_matched,
        source_pcode: r.source_pcode.clone(),
        households: r.households,
        individuals: r.individuals,
        round_number: r.round_number,
        reporting_date: r.reporting_date,
        resource_id: r.resource_id,
    };
    (input, r.run_id)
}

async fn upsert_inserts_updates_and_leaves_unchanged_rows_alone(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    with_conn(&store.pool, |c| {
        let (resource_id, [first_run, second_run]) = prerequisites(c);
        let mut rows =
            vec![site(resource_id, "a", Some(16)), site(resource_id, "a", Some(17)), site(resource_id, "b", None)];
        assert_eq!(upsert(c, &rows, &first_run).expect("first write"), counts(3, 0, 0));
        assert_eq!(upsert(c, &rows, &second_run).expect("same rows again"), counts(0, 0, 3));
        let stored = stored_sites(c);
        assert_eq!(stored.len(), 3);
        assert!(stored.iter().all(|r| r.run_id == first_run.run_id), "an unchanged row keeps the run that wrote it");

        rows[0].name = "Renamed".into();
        rows[2].latitude = None;
        rows[2].longitude = None;
        rows.push(site(resource_id, "c", Some(16)));
        assert_eq!(upsert(c, &rows, &second_run).expect("changed rows"), counts(1, 2, 1));
        let stored = stored_sites(c);
        assert_eq!(stored.len(), 4);
        for (row, run) in
            [(&rows[0], second_run), (&rows[1], first_run), (&rows[2], second_run), (&rows[3], second_run)]
        {
            let (as_stored, run_id) = stored_as_input(&stored, &row.site_code, row.round_number);
            assert_eq!(&as_stored, row, "values read back as written, a value set to none is NULL");
            assert_eq!(run_id, run.run_id, "{}: stamped by the run that last changed it", row.site_code);
        }
        assert_eq!(upsert(c, &rows, &second_run).expect("idempotent"), counts(0, 0, 4));

        let ids = ids_of(c, &rows).expect("ids");
        let expected: Vec<i64> = rows
            .iter()
            .map(|row| {
                stored
                    .iter()
                    .find(|r| r.site_code == row.site_code && r.round_number == row.round_number)
                    .expect("row")
                    .id
            })
            .collect();
        assert_eq!(ids, expected);
        Ok(())
    })
    .await
    .expect("store");
}

async fn upsert_writes_in_batches_and_refuses_duplicate_keys(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    with_conn(&store.pool, |c| {
        let (resource_id, [run, _]) = prerequisites(c);
        let many = 2 * INSERT_BATCH + 201;
        let rows: Vec<SiteInput> = (0..many).map(|i| site(resource_id, &format!("s{i:05}"), Some(1))).collect();
        assert_eq!(upsert(c, &rows, &run).expect("batches"), counts(many as i64, 0, 0));
        assert_eq!(stored_sites(c).len(), many);
        assert_eq!(upsert(c, &rows, &run).expect("again"), counts(0, 0, many as i64));

        let twice = vec![site(resource_id, "dup", Some(1)), site(resource_id, "dup", Some(1))];
        let error = upsert(c, &twice, &run).expect_err("two rows with one key");
        assert!(error.to_string().contains("dup"), "{error}");
        assert_eq!(stored_sites(c).len(), many, "nothing of the refused write is stored");
        Ok(())
    })
    .await
    .expect("store");
}

/// Countries are keyed by their ISO3 text; area aliases carry no stamp and a nullable key part.
async fn upsert_keys_by_text_and_without_a_stamp(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    with_conn(&store.pool, |c| {
        let (resource_id, [run, _]) = prerequisites(c);
        let countries = [
            CountryInput { iso3: "SSD".into(), iso2: Some("SS".into()), name: "South Sudan".into() },
            CountryInput { iso3: "MLI".into(), iso2: None, name: "Mali".into() },
        ];
        assert_eq!(store::geography::upsert_countries(c, &countries).expect("countries"), counts(1, 0, 1));
        let renamed = [CountryInput { iso3: "MLI".into(), iso2: Some("ML".into()), name: "Mali".into() }];
        assert_eq!(store::geography::upsert_countries(c, &renamed).expect("renamed"), counts(0, 1, 0));
        let stored = store::geography::countries_by_iso3(c, &["MLI".into()]).expect("Mali");
        assert_eq!(stored[0].iso2.as_deref(), Some("ML"));

        let area = AreaInput {
            country_iso3: "MLI".into(),
            pcode: "ML05".into(),
            name: "Mopti".into(),
            level: 1,
            parent_pcode: None,
            valid_from: NaiveDate::from_ymd_opt(2021, 12, 20).expect("date"),
        };
        store::geography::upsert_areas(c, run.run_id, resource_id, &[area]).expect("area");
        let area_id = store::geography::area_by_pcode(c, "ML05").expect("query").expect("Mopti").id;
        let alias = |code: Option<&str>, note: &str| AliasInput {
            area_id,
            code: code.map(str::to_string),
            name: None,
            kind: "old_code".into(),
            relation: "same".into(),
            source: "test".into(),
            valid_to: None,
            note: Some(note.into()),
        };
        let aliases = [alias(Some("ML0501"), "one"), alias(None, "no code")];
        assert_eq!(upsert(c, &aliases, &()).expect("aliases"), counts(2, 0, 0));
        assert_eq!(upsert(c, &aliases, &()).expect("again"), counts(0, 0, 2));
        let changed = [alias(Some("ML0501"), "two"), alias(None, "no code")];
        assert_eq!(upsert(c, &changed, &()).expect("changed"), counts(0, 1, 1));
        let notes: Vec<Option<String>> =
            store::population::aliases_of_areas(c, &[area_id]).expect("aliases").into_iter().map(|a| a.note).collect();
        assert_eq!(notes, [Some("two".to_string()), Some("no code".to_string())]);
        Ok(())
    })
    .await
    .expect("store");
}
