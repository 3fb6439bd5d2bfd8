//! `ingest catalog`: records the HDX datasets behind the configured sources (provenance, licence,
//! last modified) and the resources each source reads, without downloading them.

use store::provenance::PendingProvenance;
use store::{WriteCounts, with_conn};

use super::Outcomes;
use crate::runner::Step;
use crate::runner::{CountryOutcome, in_transaction};
use crate::sources::{funding, population, sites};
use crate::{IngestError, Ingester};

impl Ingester {
    pub(crate) async fn run_catalog(
        &self,
        run_id: i64,
        countries: &[String],
        dry_run: bool,
        step: &Step<'_>,
    ) -> Result<Outcomes, IngestError> {
        // (dataset, resource pattern, formats, credit)
        let mut wanted = vec![(funding::DATASET.to_string(), funding::resource_pattern(), vec!["CSV"], None)];
        for iso3 in countries {
            let p = population::config_for(iso3);
            wanted.push((p.dataset, p.resources, vec!["CSV"], None));
            if let Some(s) = sites::config_for(iso3) {
                wanted.push((s.dataset.to_string(), s.resources, s.formats.to_vec(), Some(s.credit)));
            }
        }
        let mut results = Vec::new();
        for (dataset, pattern, formats, credit) in wanted {
            let outcome = async {
                let (recorded, package, dataset_info) = self.catalog_entry(step, run_id, &dataset, credit).await?;
                let infos: Vec<_> = package
                    .pick(&pattern, &formats)
                    .into_iter()
                    .map(|r| r.resource_info(&self.config.hdx_url))
                    .collect();
                if infos.is_empty() {
                    return Err(IngestError::Invalid(format!(
                        "{dataset} lists no {formats:?} resource named like {:?}",
                        pattern.0
                    )));
                }
                let count = infos.len() as i64;
                let mut pending = PendingProvenance::default();
                pending.dataset(dataset_info);
                for info in infos {
                    pending.resource(recorded.id, info);
                }
                let control = step.control.clone();
                with_conn(&self.pool, move |c| {
                    Ok(in_transaction(c, dry_run, &control, |c| {
                        pending.apply(c)?;
                        Ok(WriteCounts::default())
                    }))
                })
                .await??;
                Ok(CountryOutcome { fetched: count, ..CountryOutcome::default() })
            }
            .await;
            step.done(&format!("{dataset}: done"));
            results.push((dataset, outcome));
        }
        Ok(results)
    }
}
