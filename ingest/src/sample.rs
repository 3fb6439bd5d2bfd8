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
pub use crate::kit::HdxPayload;
use crate::kit::hdx;
use crate::{FetchMode, IngestConfig, IngestError, Ingester, RunOptions, Source};

/// The DTM admin levels the sample holds for `iso3` (Mali and Afghanistan: 0 and 1; Chad and Haiti:
/// 0, 1 and 2), or `None` for a country it does not cover: what an offline ingest can replay.
pub fn dtm_levels_of(iso3: &str) -> Option<Vec<u8>> {
    let sample = Source::Dtm.sample(&IngestConfig::default());
    sample
        .runs
        .into_iter()
        .find(|(countries, _)| countries.iter().any(|c| c.eq_ignore_ascii_case(iso3.trim())))
        .map(|(_, levels)| levels.to_vec())
}

/// The countries the sample covers.
pub const SAMPLE_COUNTRIES: [&str; 5] = ["AFG", "HTI", "MLI", "SSD", "TCD"];

/// The bundled HDX catalog entries and files of every source (Mali population and funding, South
/// Sudan sites), at the paths HDX serves them from. Public so that tests serve exactly these.
pub fn hdx_payloads() -> Vec<HdxPayload> {
    let config = IngestConfig::default();
    Source::ALL.into_iter().flat_map(|source| source.sample(&config).hdx).collect()
}

/// Archives the bundled payloads at their public URLs and ingests them offline. Loading twice
/// changes nothing the second time.
pub async fn load_sample(pool: &DbPool) -> Result<Vec<IngestRun>, IngestError> {
    let config = IngestConfig::default();
    let samples: Vec<_> = Source::ALL.into_iter().map(|source| (source, source.sample(&config))).collect();
    let mut payloads: Vec<(String, &'static [u8])> = Vec::new();
    for (_, sample) in &samples {
        payloads.extend(sample.fixed.iter().cloned());
        for (path, id, bytes) in &sample.hdx {
            let url = match id {
                Some(id) => hdx::package_show_url(&config.hdx_url, id),
                None => format!("{}{path}", config.hdx_url),
            };
            payloads.push((url, bytes));
        }
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
    let mut runs = Vec::new();
    for (source, sample) in samples {
        for (countries, levels) in sample.runs {
            let options = RunOptions {
                countries: countries.iter().map(|c| c.to_string()).collect(),
                dtm_levels: levels.to_vec(),
                trigger: "sample".into(),
                ..RunOptions::default()
            };
            runs.push(ingester.run(source, &options).await?);
        }
    }
    Ok(runs)
}
