//! A DTM run: per country, every admin level fetched (streamed to spooled files), then skipped when
//! nothing changed since the last applied run, or parsed and written in batches in one write
//! transaction. The write goes through the store's set-based writer of figures
//! ([`store::idps::IdpWriter`]: straight in on a first load, staged and merged otherwise), not the
//! generic keyed upsert: see `store::idps`.

use std::time::Instant;

use store::geography::{self, CountryInput};
use store::idps::{self, IdpInput};
use store::provenance::{self, AppliedPayload, AreaFingerprint};
use store::{AnyConnection, WriteCounts, with_conn};

use crate::control::RunControl;
use crate::fetch::Fetched;
use crate::kit::{CountryOutcome, Outcomes, RunContext, rejected_share_ok};
use crate::pcode::{AreaMatch, AreaMatcher};
use crate::runner::Step;
use crate::sources::{dtm, geography as pcodes};
use crate::{IngestError, RowLimits, Source};

pub(super) async fn run_dtm(ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
    let (run_id, countries, options, step) = (ctx.run_id, &ctx.countries, ctx.options, &ctx.step);
    let mut levels = options.dtm_levels.clone();
    levels.sort_unstable();
    levels.dedup();
    if levels.is_empty() || levels.iter().any(|l| *l > 2) {
        return Err(IngestError::Invalid(format!("DTM admin levels must be 0, 1 or 2, not {levels:?}")));
    }
    let base = ctx.config().dtm_url.trim_end_matches('/').to_string();
    let dataset = dtm::dataset_info(&base);
    let infos: Vec<_> = levels.iter().map(|l| dtm::resource_info(&base, *l)).collect();
    let recorded = ctx.record_source(dataset, infos).await?;
    let resources: Vec<(u8, i64)> = levels.iter().zip(&recorded).map(|(level, r)| (*level, r.id)).collect();
    let mut results = Vec::new();
    for iso3 in countries {
        step.check()?;
        let result = dtm_country(ctx, run_id, &base, iso3, &resources, step).await;
        results.push((iso3.clone(), result));
    }
    Ok(results)
}

/// One country of a DTM run: fetch every level (streamed to spooled files), then either skip (every
/// payload is the one last applied and the country's areas did not change since) or parse each level
/// from its file and stage its rows in batches while parsing, and merge them, all in one write
/// transaction: any fetch, parse or envelope failure leaves the store as it was for this country.
async fn dtm_country(
    ctx: &RunContext<'_>,
    run_id: i64,
    base: &str,
    iso3: &str,
    resources: &[(u8, i64)],
    step: &Step<'_>,
) -> Result<CountryOutcome, IngestError> {
    let headers: Vec<(String, String)> =
        ctx.config().dtm_key.iter().map(|k| ("Ocp-Apim-Subscription-Key".to_string(), k.clone())).collect();
    let fetch_started = Instant::now();
    let mut payloads = Vec::new();
    for (level, resource_id) in resources {
        step.check()?;
        let fetched = ctx.fetch(dtm::request_url(base, *level, iso3), *resource_id, headers.clone()).await?;
        step.done(&format!("{iso3}: fetched admin{level}"));
        payloads.push(LevelPayload { level: *level, resource_id: *resource_id, fetched });
    }
    let bytes: u64 = payloads.iter().map(|p| p.fetched.body.len()).sum();
    tracing::info!(run_id, iso3, bytes, ms = millis(fetch_started), "DTM phase: fetch");

    // The fingerprint is read before the areas: should a geography run commit in between, the
    // recorded fingerprint is the older one, and the next run does the work instead of skipping it.
    let code = iso3.to_string();
    let (fingerprint, areas, applied) = with_conn(ctx.pool(), move |c| {
        let fingerprint = provenance::area_fingerprint(c, &code)?;
        let areas = geography::areas_of_country(c, &code)?;
        let applied = provenance::applied_payloads(c, Source::Dtm.name(), &code)?;
        Ok((fingerprint, areas, applied))
    })
    .await?;
    if let Some(previous) = unchanged_since_applied(&payloads, &applied, &fingerprint) {
        return skip_unchanged(ctx, run_id, iso3, previous).await;
    }

    let matcher = AreaMatcher::new(iso3, &areas);
    drop(areas);
    let retrieved_at = store::now_utc();
    let scope = ctx.write_scope();
    let iso = iso3.to_string();
    let limits = ctx.limits().clone();
    let (written, summaries) = with_conn(ctx.pool(), move |c| {
        let mut summaries = Vec::new();
        let written = scope.run(c, |c| {
            write_dtm_country(
                c,
                run_id,
                &iso,
                &matcher,
                payloads,
                &fingerprint,
                retrieved_at,
                scope.control(),
                &limits,
                &mut summaries,
            )
        });
        Ok((written, summaries))
    })
    .await?;
    // The rejected rows are kept also when the write failed: they may be why.
    let (mut fetched_rows, mut rejected) = (0, 0);
    for (resource_id, sha, summary) in summaries {
        fetched_rows += summary.fetched();
        rejected += summary.rejected;
        ctx.record_payload_rejections(resource_id, sha, summary.rejections, summary.rejected).await?;
    }
    let written = written?;
    step.done(&format!("{iso3}: figures written"));
    Ok(CountryOutcome { fetched: fetched_rows, written, rejected })
}

/// The outcome of a run that found `previous` still current: the rows it stored are counted
/// unchanged and its rejections counted again, as a full run over the same bytes would, pointing
/// at the rows the applying run stored rather than storing them a second time.
async fn skip_unchanged(
    ctx: &RunContext<'_>,
    run_id: i64,
    iso3: &str,
    previous: Vec<AppliedPayload>,
) -> Result<CountryOutcome, IngestError> {
    let started = Instant::now();
    let fetched = previous.iter().map(|p| p.fetched_rows).sum();
    let unchanged = previous.iter().map(|p| p.stored_rows).sum();
    let rejected = with_conn(ctx.pool(), move |c| {
        previous.iter().map(|p| provenance::refer_to_rejections(c, p, run_id)).sum::<Result<i64, _>>()
    })
    .await?;
    tracing::info!(
        run_id,
        iso3,
        unchanged,
        rejected,
        ms = millis(started),
        "DTM: every payload is the one last applied and the areas are unchanged: parse and write skipped"
    );
    Ok(CountryOutcome { fetched, written: WriteCounts { unchanged, ..WriteCounts::default() }, rejected })
}

/// One fetched admin level of a DTM country.
struct LevelPayload {
    level: u8,
    resource_id: i64,
    fetched: Fetched,
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The applied records that make this fetch a no-op: one per payload, with the same URL, resource and
/// bytes, recorded with the current fingerprint of the country's areas. `None` when any differs.
fn unchanged_since_applied(
    payloads: &[LevelPayload],
    applied: &[AppliedPayload],
    areas: &AreaFingerprint,
) -> Option<Vec<AppliedPayload>> {
    if payloads.is_empty() {
        return None;
    }
    payloads
        .iter()
        .map(|p| {
            applied
                .iter()
                .find(|a| {
                    a.url == p.fetched.url
                        && a.resource_id == p.resource_id
                        && a.payload_sha256 == p.fetched.sha256
                        && a.areas == *areas
                })
                .cloned()
        })
        .collect()
}

/// The write of one DTM country, inside its transaction: each level parsed from its payload on a
/// thread of its own, valid rows matched and handed over in batches of [`idps::STAGING_CHUNK`] to this
/// thread, which writes them as they come ([`idps::IdpWriter`]: so that the parse and the store's work
/// overlap), then merged, and what was applied recorded. Each level's parse summary (rejections) is
/// pushed to `summaries`.
#[allow(clippy::too_many_arguments)]
fn write_dtm_country(
    c: &mut AnyConnection,
    run_id: i64,
    iso3: &str,
    matcher: &AreaMatcher,
    payloads: Vec<LevelPayload>,
    areas: &AreaFingerprint,
    retrieved_at: chrono::NaiveDateTime,
    control: &RunControl,
    limits: &RowLimits,
    summaries: &mut Vec<(i64, String, dtm::ParseSummary)>,
) -> Result<WriteCounts, IngestError> {
    let started = Instant::now();
    let levels: Vec<i32> = payloads.iter().map(|p| i32::from(p.level)).collect();
    let mut writer = idps::IdpWriter::begin(c, iso3, &levels, run_id, retrieved_at)?;
    // The country as the source names it (its first row), set by the parser before its first batch:
    // the country must exist before a figure can refer to it.
    let source_name = std::sync::OnceLock::new();
    // One batch waiting while one is written and one parsed: memory stays bounded by three batches.
    let (batches, received) = std::sync::mpsc::sync_channel::<Vec<IdpInput>>(1);
    let (parsed, written) = std::thread::scope(|scope| {
        let parser = scope.spawn(|| parse_levels(iso3, matcher, payloads, limits, &source_name, batches));
        let mut staged = 0usize;
        let mut written = Ok(());
        for batch in received.iter() {
            if control.stop_reason().is_some() {
                written = Err(IngestError::Cancelled);
                break;
            }
            let mut write = |c: &mut AnyConnection| -> Result<(), IngestError> {
                if staged == 0 {
                    geography::ensure_country(c, &country(iso3, source_name.get().cloned()))?;
                }
                Ok(writer.write(c, &batch)?)
            };
            if let Err(e) = write(c) {
                written = Err(e);
                break;
            }
            staged += batch.len();
        }
        // A failed write drops the receiver: the parser's next hand-over fails and it stops.
        drop(received);
        let parsed = parser.join().unwrap_or_else(|_| Err(IngestError::Invalid("the DTM parser panicked".into())));
        (parsed, written.map(|()| staged))
    });
    // The writer's error is the cause when both failed (the parser then only saw the channel close).
    let staged = written?;
    let mut applied = Vec::new();
    for ParsedLevel { resource_id, url, sha256, summary } in parsed? {
        applied.push(AppliedPayload {
            source: Source::Dtm.name().to_string(),
            country_iso3: iso3.to_string(),
            url,
            payload_sha256: sha256.clone(),
            run_id,
            resource_id,
            fetched_rows: summary.fetched(),
            stored_rows: summary.valid,
            rejected_rows: summary.rejected,
            areas: areas.clone(),
        });
        summaries.push((resource_id, sha256, summary));
    }
    tracing::info!(
        run_id,
        iso3,
        staged,
        first_load = writer.is_first_load(),
        ms = millis(started),
        "DTM phase: parse and write"
    );
    let fetched: i64 = summaries.iter().map(|(_, _, s)| s.fetched()).sum();
    let rejected: i64 = summaries.iter().map(|(_, _, s)| s.rejected).sum();
    rejected_share_ok(limits, &format!("dtm {iso3}"), fetched, rejected)?;

    let started = Instant::now();
    // When no row was valid nothing was written, and the country may still be missing: its runs and
    // payloads refer to it.
    if staged == 0 {
        geography::ensure_country(c, &country(iso3, source_name.get().cloned()))?;
    }
    let counts = writer.merge(c)?;
    for record in &applied {
        provenance::record_applied_payload(c, record)?;
    }
    tracing::info!(
        run_id,
        iso3,
        inserted = counts.inserted,
        updated = counts.updated,
        unchanged = counts.unchanged,
        ms = millis(started),
        "DTM phase: merge"
    );
    let merged = Instant::now();
    writer.refresh_totals(c, &counts)?;
    tracing::info!(run_id, iso3, ms = millis(merged), "DTM phase: totals refreshed");
    Ok(counts)
}

/// The country a DTM figure belongs to: named from our list of countries, else as the source
/// spells it, else by its code.
fn country(iso3: &str, source_name: Option<String>) -> CountryInput {
    CountryInput {
        iso3: iso3.to_string(),
        iso2: pcodes::country_name(iso3).map(|(_, iso2)| iso2),
        name: pcodes::country_name(iso3).map(|(name, _)| name).or(source_name).unwrap_or_else(|| iso3.to_string()),
    }
}

/// What the parse of one level's payload found besides its rows.
struct ParsedLevel {
    resource_id: i64,
    url: String,
    sha256: String,
    summary: dtm::ParseSummary,
}

/// Parses each level's payload, handing the matched rows over `batches` in batches of
/// [`idps::STAGING_CHUNK`], in source order, and the country's name as the first row spells it to
/// `source_name` before the first batch. Fails when a payload is malformed or the receiving writer
/// stopped.
fn parse_levels(
    iso3: &str,
    matcher: &AreaMatcher,
    payloads: Vec<LevelPayload>,
    limits: &RowLimits,
    source_name: &std::sync::OnceLock<String>,
    batches: std::sync::mpsc::SyncSender<Vec<IdpInput>>,
) -> Result<Vec<ParsedLevel>, IngestError> {
    let writer_stopped = || IngestError::Invalid("the DTM write stopped before the parse ended".into());
    let mut batch: Vec<IdpInput> = Vec::with_capacity(idps::STAGING_CHUNK);
    let mut parsed = Vec::new();
    for LevelPayload { level, resource_id, fetched } in payloads {
        let Fetched { url, sha256, body, .. } = fetched;
        let reader = body.into_reader()?;
        let summary = dtm::parse_stream(reader, level, iso3, limits, &mut |row| {
            source_name.get_or_init(|| row.admin0_name.clone());
            batch.push(idp_input(matcher, iso3, &row, resource_id));
            if batch.len() >= idps::STAGING_CHUNK {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(idps::STAGING_CHUNK));
                batches.send(full).map_err(|_| writer_stopped())?;
            }
            Ok(())
        })?;
        parsed.push(ParsedLevel { resource_id, url, sha256, summary });
    }
    if !batch.is_empty() {
        batches.send(batch).map_err(|_| writer_stopped())?;
    }
    Ok(parsed)
}

/// Turns a parsed DTM row into a stored figure, matched to an area or to its nearest matched parent.
fn idp_input(matcher: &AreaMatcher, iso3: &str, row: &dtm::DtmRow, resource_id: i64) -> IdpInput {
    let (code, name) = row.area();
    let level = i32::from(row.admin_level);
    let parents: Vec<(i32, &str)> = match (level, row.admin1_pcode.as_deref()) {
        (2, Some(admin1)) => vec![(1, admin1)],
        _ => Vec::new(),
    };
    let (area_id, area_matched) = match matcher.match_code(level, code, &parents) {
        AreaMatch::Matched { area_id, .. } => (Some(area_id), true),
        AreaMatch::Unmatched { nearest_parent } => (nearest_parent, false),
    };
    IdpInput {
        country_iso3: iso3.to_string(),
        admin_level: level,
        area_id,
        area_matched,
        source_pcode: code.to_string(),
        source_name: name.to_string(),
        operation: row.operation.clone(),
        round_number: row.round_number,
        reporting_date: row.reporting_date,
        assessment_type: row.assessment_type.clone(),
        displacement_reason: row.displacement_reason.clone(),
        origin_pcode: row.origin_pcode.clone(),
        origin_name: row.origin_name.clone(),
        individuals: row.individuals,
        males: row.males,
        females: row.females,
        resource_id,
    }
}
