//! The sources crisisgraph ingests: one module each (what it is, how it parses, how a run goes), and
//! below, the one list of them. The [`Source`] enum, its names, `FromStr`, the CLI's choices, the
//! default schedules, the status rows, the sample and the docs' source table all come from this
//! list and the modules' [`SourceSpec`]s; nothing else names a source.

pub mod catalog;
pub mod conflict;
pub mod dtm;
pub mod food_prices;
pub mod food_security;
pub mod funding;
pub mod geography;
pub mod national_risk;
pub mod needs;
pub mod population;
pub mod presence;
pub mod refugees;
pub mod sites;

/// Paths kept from before the kit, for callers of `ingest::sources::{hdx, table, sheet}`.
pub use crate::kit::{hdx, table};

/// XLSX reading and missing markers, at their former path (now [`crate::kit::table`] and
/// [`crate::kit::cells`]).
pub mod sheet {
    pub use crate::kit::cells::is_missing;
    pub use crate::kit::table::xlsx_table;
}

use std::fmt;
use std::str::FromStr;

use crate::kit::{HdxDataset, Outcomes, RunContext, Sample, SourceJob, SourceSpec};
use crate::{IngestConfig, IngestError, RunOptions};

/// Declares the list: the [`Source`] enum (one variant per source, in the order the bundled sample
/// loads them: geography first, since the others match their areas to it) and its static
/// dispatch to each source's [`SourceJob`].
macro_rules! sources {
    ($($variant:ident => $job:path),+ $(,)?) => {
        /// A source crisisgraph can ingest. Each is declared by its module's `Job` and `SPEC`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Source {
            $(#[doc = concat!("See [`", stringify!($job), "`].")] $variant,)+
        }

        impl Source {
            /// Every source, in the list's order.
            pub const ALL: [Source; [$(stringify!($variant)),+].len()] = [$(Source::$variant),+];

            /// What the source is: name, summary, origin, default schedule.
            pub fn spec(self) -> &'static SourceSpec {
                match self {
                    $(Source::$variant => &<$job as SourceJob>::SPEC,)+
                }
            }

            pub(crate) fn steps(self, ctx: &RunContext<'_>) -> u64 {
                match self {
                    $(Source::$variant => $job.steps(ctx),)+
                }
            }

            pub(crate) fn params(self, options: &RunOptions) -> serde_json::Map<String, serde_json::Value> {
                match self {
                    $(Source::$variant => $job.params(options),)+
                }
            }

            pub(crate) async fn run(self, ctx: &RunContext<'_>) -> Result<Outcomes, IngestError> {
                match self {
                    $(Source::$variant => $job.run(ctx).await,)+
                }
            }

            pub(crate) fn hdx_datasets(self, iso3: Option<&str>) -> Vec<HdxDataset> {
                match self {
                    $(Source::$variant => $job.hdx_datasets(iso3),)+
                }
            }

            pub(crate) fn sample(self, config: &IngestConfig) -> Sample {
                match self {
                    $(Source::$variant => $job.sample(config),)+
                }
            }
        }
    };
}

sources! {
    Geography => geography::Job,
    Dtm => dtm::Job,
    Catalog => catalog::Job,
    Population => population::Job,
    Funding => funding::Job,
    Sites => sites::Job,
    Needs => needs::Job,
    Presence => presence::Job,
    FoodPrices => food_prices::Job,
    NationalRisk => national_risk::Job,
    Refugees => refugees::Job,
    FoodSecurity => food_security::Job,
    Conflict => conflict::Job,
}

impl Source {
    /// The name the CLI, the API, the run records and the metrics use.
    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Source {
    type Err = IngestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .into_iter()
            .find(|src| src.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| IngestError::UnknownSource(s.to_string()))
    }
}

/// The names of every source, comma-separated, for messages.
pub fn known_names() -> String {
    Source::ALL.map(Source::name).join(", ")
}

/// The operator guide's source table (docs/operator.md, section "Sources"), generated from the specs
/// (`crisisgraph sources --markdown` prints it).
pub fn markdown_table() -> String {
    let mut out = String::from("| source | what | from | default schedule |\n|---|---|---|---|\n");
    for source in Source::ALL {
        let spec = source.spec();
        let schedule = match spec.default_cron {
            Some(cron) => match crate::scheduler::parse_cron(cron) {
                Ok(parsed) => format!("`{cron}` ({})", parsed.describe()),
                Err(_) => format!("`{cron}`"),
            },
            None => "manual runs only".to_string(),
        };
        out.push_str(&format!("| `{}` | {} | {} | {schedule} |\n", spec.name, spec.summary, spec.origin));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lowercase_and_parse_back() {
        let mut names: Vec<&str> = Source::ALL.iter().map(|s| s.name()).collect();
        // Lowercase words, joined by hyphens where a name has two (`national-risk`, as issue 12 names it).
        let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase());
        assert!(names.iter().all(|n| n.split('-').all(word)), "{names:?}");
        for source in Source::ALL {
            assert_eq!(source.name().parse::<Source>().ok(), Some(source));
            assert_eq!(format!(" {} ", source.name().to_uppercase()).parse::<Source>().ok(), Some(source));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Source::ALL.len());
    }

    #[test]
    fn unknown_source_names_the_known_ones() {
        let message = "weather".parse::<Source>().expect_err("unknown").to_string();
        assert!(message.contains("unknown source \"weather\""), "{message}");
        for source in Source::ALL {
            assert!(message.contains(source.name()), "{message}");
        }
    }

    #[test]
    fn every_default_schedule_is_a_valid_cron() {
        for source in Source::ALL {
            if let Some(cron) = source.spec().default_cron {
                assert!(crate::scheduler::parse_cron(cron).is_ok(), "{source}: {cron}");
            }
        }
    }

    #[test]
    fn default_schedules_are_the_specs() {
        let schedules = crate::SourceSchedule::defaults();
        assert_eq!(schedules.iter().map(|s| s.source).collect::<Vec<_>>(), Source::ALL);
        for schedule in schedules {
            let spec = schedule.source.spec();
            assert_eq!(schedule.cron.as_deref(), spec.default_cron);
            assert_eq!(schedule.cadence.as_secs(), u64::from(spec.period_days + 1) * 24 * 3600);
        }
    }

    /// The operator guide's table is the generated one, so the docs cannot drift from the specs.
    #[test]
    fn the_operator_guide_lists_the_sources_as_declared() {
        let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operator.md"))
            .expect("docs/operator.md");
        let table = markdown_table();
        assert!(
            guide.contains(&table),
            "docs/operator.md's source table differs from the specs; replace it with:\n{table}"
        );
        assert_eq!(table.lines().count(), Source::ALL.len() + 2);
    }
}
