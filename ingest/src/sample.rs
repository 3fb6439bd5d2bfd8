//! The bundled offline sample: real published payloads (p-codes of Mali, Chad, Haiti, Afghanistan and
//! South Sudan; DTM API v3 responses for Chad, Haiti and Afghanistan; IOM's Mali figures restated in
//! the same shape; Mali's population and FTS appeals and a South Sudan DTM site list with their HDX
//! catalog entries), compiled into the binary. Loading archives them under the public URLs they come from and
//! replays them through the normal ingest path in offline mode, so the sample is exactly what an
//! online ingest of those payloads would produce. Origins and credits: `sample/NOTICE.md`.

use store::models::IngestRun;
use store::provenance::{self, FetchRecord};
use store::{DbPool, with_conn};

use crate::fetch::sha256_hex;
use crate::sources::{dtm, geography, hdx};
use crate::{FetchMode, IngestConfig, IngestError, Ingester, RunOptions, Source};

macro_rules! sample_file {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../sample/", $name)).as_slice()
    };
}

/// (URL path after the source's base, bytes) for each bundled payload.
fn dtm_payloads() -> Vec<(u8, &'static str, &'static [u8])> {
    vec![
        (0, "TCD", sample_file!("dtm/v3/displacement-admin0-admin0pcode-tcd.json")),
        (1, "TCD", sample_file!("dtm/v3/displacement-admin1-admin0pcode-tcd.json")),
        (2, "TCD", sample_file!("dtm/v3/displacement-admin2-admin0pcode-tcd.json")),
        (0, "HTI", sample_file!("dtm/v3/displacement-admin0-admin0pcode-hti.json")),
        (1, "HTI", sample_file!("dtm/v3/displacement-admin1-admin0pcode-hti.json")),
        (2, "HTI", sample_file!("dtm/v3/displacement-admin2-admin0pcode-hti.json")),
        (0, "AFG", sample_file!("dtm/v3/displacement-admin0-admin0pcode-afg.json")),
        (1, "AFG", sample_file!("dtm/v3/displacement-admin1-admin0pcode-afg.json")),
        (0, "MLI", sample_file!("dtm/mali_reconstructed/displacement-admin0-admin0pcode-mli.json")),
        (1, "MLI", sample_file!("dtm/mali_reconstructed/displacement-admin1-admin0pcode-mli.json")),
    ]
}

/// The DTM admin levels the sample holds for `iso3` (Mali and Afghanistan: 0 and 1; Chad and Haiti:
/// 0, 1 and 2), or `None` for a country it does not cover: what an offline ingest can replay.
pub fn dtm_levels_of(iso3: &str) -> Option<Vec<u8>> {
    let levels: Vec<u8> = dtm_payloads()
        .into_iter()
        .filter(|(_, code, _)| code.eq_ignore_ascii_case(iso3.trim()))
        .map(|(l, _, _)| l)
        .collect();
    (!levels.is_empty()).then_some(levels)
}

const PCODES: &[u8] = sample_file!("cod/global_pcodes_adm_1_2.AFG-HTI-MLI-SSD-TCD-subset.csv");

/// The countries the sample covers.
pub const SAMPLE_COUNTRIES: [&str; 5] = ["AFG", "HTI", "MLI", "SSD", "TCD"];

/// One bundled HDX payload: the URL path after the HDX base, the `id` of a `package_show` call
/// (none for a file), and the bytes.
pub type HdxPayload = (&'static str, Option<&'static str>, &'static [u8]);

/// The bundled HDX catalog entries and files (Mali population and funding, South Sudan sites), at
/// the paths HDX serves them from. Public so that tests serve exactly these.
pub fn hdx_payloads() -> Vec<HdxPayload> {
    const PACKAGE_SHOW: &str = "/api/3/action/package_show";
    vec![
        (PACKAGE_SHOW, Some("cod-ps-mli"), sample_file!("hdx/package_show.cod-ps-mli.json")),
        (
            "/dataset/ce21c7db-d8f0-40f8-adc2-452d2d2d105c/resource/6f243ba2-4d4a-4663-a7c4-e917dbbde73a/download/mli_pop_adm0_v2.csv",
            None,
            sample_file!("cod/mli_pop_adm0_v2.csv"),
        ),
        (
            "/dataset/ce21c7db-d8f0-40f8-adc2-452d2d2d105c/resource/0bd515ae-613c-400f-a84c-ea203cc529be/download/mli_pop_adm1_v2.csv",
            None,
            sample_file!("cod/mli_pop_adm1_v2.csv"),
        ),
        (
            "/dataset/ce21c7db-d8f0-40f8-adc2-452d2d2d105c/resource/af0c935f-d507-4252-945c-9d1a6cc1b598/download/mli_pop_adm2_v2.csv",
            None,
            sample_file!("cod/mli_pop_adm2_v2.csv"),
        ),
        (
            PACKAGE_SHOW,
            Some("fts-requirements-and-funding-data"),
            sample_file!("hdx/package_show.fts-requirements-and-funding-data.json"),
        ),
        (
            "/dataset/fts-requirements-and-funding-data/resource/constructed-fts-requirements-funding-global/download/fts_requirements_funding_global.csv",
            None,
            sample_file!("fts/fts_requirements_funding_global.MLI-subset.csv"),
        ),
        (
            PACKAGE_SHOW,
            Some("ssd-dtm-mobility-tracking-r16-baseline-locations"),
            sample_file!("hdx/package_show.ssd-dtm-mobility-tracking-r16-baseline-locations.json"),
        ),
        (
            "/dataset/ssd-dtm-mobility-tracking-r16-baseline-locations/resource/constructed-ssd-r16-baseline-locations-extract/download/ssd-dtm-mobility-tracking-r16-baseline-locations.first40rows.csv",
            None,
            sample_file!("dtm/hdx_xlsx_extract/ssd-dtm-mobility-tracking-r16-baseline-locations.first40rows.csv"),
        ),
    ]
}

/// Archives the bundled payloads at their public URLs and ingests them offline. Loading twice
/// changes nothing the second time.
pub async fn load_sample(pool: &DbPool) -> Result<Vec<IngestRun>, IngestError> {
    let config = IngestConfig::default();
    let mut payloads: Vec<(String, &'static [u8])> = vec![(geography::resource_info(&config.hdx_url).url, PCODES)];
    for (level, iso3, bytes) in dtm_payloads() {
        payloads.push((dtm::request_url(&config.dtm_url, level, iso3), bytes));
    }
    for (path, id, bytes) in hdx_payloads() {
        let url = match id {
            Some(id) => hdx::package_show_url(&config.hdx_url, id),
            None => format!("{}{path}", config.hdx_url),
        };
        payloads.push((url, bytes));
    }
    with_conn(pool, move |c| {
        for (url, bytes) in &payloads {
            let sha = sha256_hex(bytes);
            if provenance::last_good_fetch(c, url)?.is_some_and(|f| f.payload_sha256 == sha) {
                continue;
            }
            let now = store::now_utc();
            provenance::archive_payload(c, &sha, bytes, None, now)?;
            provenance::record_fetch(
                c,
                &FetchRecord {
                    run_id: None,
                    resource_id: None,
                    url: url.clone(),
                    http_status: 200,
                    not_modified: false,
                    payload_sha256: Some(sha),
                    etag: None,
                    last_modified: None,
                    fetched_at: now,
                },
            )?;
        }
        Ok(())
    })
    .await?;

    let ingester = Ingester::new(pool.clone(), config, FetchMode::Offline)?;
    let options = |countries: &[&str], levels: &[u8]| RunOptions {
        countries: countries.iter().map(|c| c.to_string()).collect(),
        dtm_levels: levels.to_vec(),
        trigger: "sample".into(),
        ..RunOptions::default()
    };
    let mut runs = vec![ingester.run(Source::Geography, &options(&SAMPLE_COUNTRIES, &[])).await?];
    runs.push(ingester.run(Source::Dtm, &options(&["HTI", "TCD"], &[0, 1, 2])).await?);
    runs.push(ingester.run(Source::Dtm, &options(&["AFG", "MLI"], &[0, 1])).await?);
    runs.push(ingester.run(Source::Population, &options(&["MLI"], &[])).await?);
    runs.push(ingester.run(Source::Funding, &options(&["MLI"], &[])).await?);
    runs.push(ingester.run(Source::Sites, &options(&["SSD"], &[])).await?);
    Ok(runs)
}
