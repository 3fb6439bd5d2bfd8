//! The bundled offline sample: real published payloads (p-codes of Mali, Chad, Haiti and Afghanistan;
//! DTM API v3 responses for Chad, Haiti and Afghanistan; IOM's Mali figures restated in the same
//! shape), compiled into the binary. Loading archives them under the public URLs they come from and
//! replays them through the normal ingest path in offline mode, so the sample is exactly what an
//! online ingest of those payloads would produce. Origins and credits: `sample/NOTICE.md`.

use store::models::IngestRun;
use store::provenance::{self, FetchRecord};
use store::{DbPool, with_conn};

use crate::fetch::sha256_hex;
use crate::sources::{dtm, geography};
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

const PCODES: &[u8] = sample_file!("cod/global_pcodes_adm_1_2.AFG-HTI-MLI-TCD-subset.csv");

/// The countries the sample covers.
pub const SAMPLE_COUNTRIES: [&str; 4] = ["AFG", "HTI", "MLI", "TCD"];

/// Archives the bundled payloads at their public URLs and ingests them offline. Loading twice
/// changes nothing the second time.
pub async fn load_sample(pool: &DbPool) -> Result<Vec<IngestRun>, IngestError> {
    let config = IngestConfig::default();
    let mut payloads: Vec<(String, &'static [u8])> = vec![(geography::resource_info(&config.hdx_url).url, PCODES)];
    for (level, iso3, bytes) in dtm_payloads() {
        payloads.push((dtm::request_url(&config.dtm_url, level, iso3), bytes));
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
    Ok(runs)
}
