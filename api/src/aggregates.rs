//! IDP aggregates with the double-counting guards built in: one total per operation (round numbers
//! restart per operation, so totals of different operations are never added), baseline (BA)
//! preferred over site (SA) assessments of the same round, and an area without its own figure
//! rolled up from the nearest level below that has figures, saying which rule produced each number.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use store::idps::{IdpFilter, IdpSum, IdpTotal};

/// One figure's identity: what may be compared and what may never be added up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FigureKey {
    pub operation: String,
    pub round: i32,
    pub reporting_date: NaiveDate,
    pub assessment_type: String,
}

impl FigureKey {
    fn of(t: &IdpTotal) -> FigureKey {
        FigureKey {
            operation: t.operation.clone(),
            round: t.round_number,
            reporting_date: t.reporting_date,
            assessment_type: t.assessment_type.clone(),
        }
    }

    fn of_sum(s: &IdpSum) -> FigureKey {
        FigureKey {
            operation: s.operation.clone(),
            round: s.round_number,
            reporting_date: s.reporting_date,
            assessment_type: s.assessment_type.clone(),
        }
    }
}

/// How a total was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum IdpMethod {
    /// The source reported a figure for this very area.
    ReportedAtLevel,
    /// The source reported none for this area at that round: the figures of the areas below it
    /// (the nearest level that has figures) are added up.
    SummedFromChildren,
}

/// How the round was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum RoundRule {
    /// The round asked for.
    RequestedRound,
    /// The latest round reported on or before the date asked for, per operation.
    LatestOnOrBeforeDate,
    /// The latest round of each operation.
    LatestRoundPerOperation,
    /// Every round in the period asked for (time series).
    EveryRound,
}

/// One total.
#[derive(Debug, Clone)]
pub struct Aggregate {
    pub key: FigureKey,
    /// In 128 bits: a roll-up adds up many figures, and must not overflow whatever they are.
    pub individuals: i128,
    pub method: IdpMethod,
    pub round_rule: RoundRule,
    /// Admin level of the figures that were used.
    pub level_used: i32,
    /// How many areas' figures were used (1 when reported at level).
    pub areas_counted: usize,
    /// How many areas the level used has below this area (coverage of a roll-up).
    pub areas_at_level: usize,
    pub resource_id: i64,
    pub run_id: i64,
    pub retrieved_at: NaiveDateTime,
}

/// An area's own figures and, for each level below it, the figures of its areas there added up per
/// figure key (by the store: a roll-up never reads the areas' rows one by one).
#[derive(Debug, Clone, Default)]
pub struct Subtree {
    pub level: i32,
    pub own: Vec<IdpTotal>,
    /// (level, number of areas at that level below the area, their sums), nearest level first.
    pub below: Vec<(i32, usize, Vec<IdpSum>)>,
}

/// What to select.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selection {
    pub operation: Option<String>,
    pub round: Option<i32>,
    pub date: Option<NaiveDate>,
    pub assessment_type: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Selection {
    /// The part of the selection the store can apply before anything is read: operation, assessment
    /// type, period, round, and "on or before" a date.
    pub fn store_filter(&self) -> IdpFilter {
        let to = match (self.to, self.date) {
            (Some(to), Some(date)) => Some(to.min(date)),
            (to, date) => to.or(date),
        };
        IdpFilter {
            operation: self.operation.clone(),
            round: self.round,
            from: self.from,
            to,
            assessment_type: self.assessment_type.as_ref().map(|t| t.to_uppercase()),
            ..IdpFilter::default()
        }
    }
}

impl Subtree {
    /// Every figure key that can be answered for this area, with its total.
    fn candidates(&self) -> BTreeMap<FigureKey, Aggregate> {
        let mut out: BTreeMap<FigureKey, Aggregate> = BTreeMap::new();
        // Roll-ups first, nearest level last, so that a nearer level (and then the area's own
        // figure) replaces a farther one.
        for (level, areas_at_level, figures) in self.below.iter().rev() {
            let mut sums: BTreeMap<FigureKey, Aggregate> = BTreeMap::new();
            for t in figures {
                let entry = sums.entry(FigureKey::of_sum(t)).or_insert_with(|| Aggregate {
                    key: FigureKey::of_sum(t),
                    individuals: 0,
                    method: IdpMethod::SummedFromChildren,
                    round_rule: RoundRule::EveryRound,
                    level_used: *level,
                    areas_counted: 0,
                    areas_at_level: *areas_at_level,
                    resource_id: t.resource_id,
                    run_id: t.run_id,
                    retrieved_at: t.retrieved_at,
                });
                entry.individuals += t.individuals;
                entry.areas_counted += t.totals as usize;
                entry.run_id = entry.run_id.max(t.run_id);
                entry.retrieved_at = entry.retrieved_at.max(t.retrieved_at);
            }
            out.extend(sums);
        }
        for t in &self.own {
            out.insert(
                FigureKey::of(t),
                Aggregate {
                    key: FigureKey::of(t),
                    individuals: i128::from(t.individuals),
                    method: IdpMethod::ReportedAtLevel,
                    round_rule: RoundRule::EveryRound,
                    level_used: self.level,
                    areas_counted: 1,
                    areas_at_level: 1,
                    resource_id: t.resource_id,
                    run_id: t.run_id,
                    retrieved_at: t.retrieved_at,
                },
            );
        }
        out
    }

    /// Candidates passing the selection's filters, with BA kept over SA for the same round and date.
    fn filtered(&self, s: &Selection) -> Vec<Aggregate> {
        let all: Vec<Aggregate> = self
            .candidates()
            .into_values()
            .filter(|a| s.operation.as_ref().is_none_or(|o| &a.key.operation == o))
            .filter(|a| s.assessment_type.as_ref().is_none_or(|t| a.key.assessment_type.eq_ignore_ascii_case(t)))
            .filter(|a| s.from.is_none_or(|f| a.key.reporting_date >= f))
            .filter(|a| s.to.is_none_or(|t| a.key.reporting_date <= t))
            .collect();
        let has_baseline: std::collections::HashSet<(String, i32, NaiveDate)> = all
            .iter()
            .filter(|a| a.key.assessment_type == "BA")
            .map(|a| (a.key.operation.clone(), a.key.round, a.key.reporting_date))
            .collect();
        all.into_iter()
            .filter(|a| {
                a.key.assessment_type == "BA"
                    || s.assessment_type.is_some()
                    || !has_baseline.contains(&(a.key.operation.clone(), a.key.round, a.key.reporting_date))
            })
            .collect()
    }

    /// One total per operation: the round asked for, the latest on or before a date, or the latest.
    pub fn totals(&self, s: &Selection) -> Vec<Aggregate> {
        let rule = match (s.round, s.date) {
            (Some(_), _) => RoundRule::RequestedRound,
            (None, Some(_)) => RoundRule::LatestOnOrBeforeDate,
            (None, None) => RoundRule::LatestRoundPerOperation,
        };
        let mut per_operation: HashMap<String, Aggregate> = HashMap::new();
        for a in self.filtered(s) {
            if s.round.is_some_and(|r| a.key.round != r) || s.date.is_some_and(|d| a.key.reporting_date > d) {
                continue;
            }
            let newer = |current: &Aggregate| {
                (a.key.reporting_date, a.key.round, a.method == IdpMethod::ReportedAtLevel)
                    > (current.key.reporting_date, current.key.round, current.method == IdpMethod::ReportedAtLevel)
            };
            match per_operation.get(&a.key.operation) {
                Some(current) if !newer(current) => {}
                _ => {
                    per_operation.insert(a.key.operation.clone(), a);
                }
            }
        }
        let mut out: Vec<Aggregate> =
            per_operation.into_values().map(|a| Aggregate { round_rule: rule, ..a }).collect();
        out.sort_by(|a, b| a.key.operation.cmp(&b.key.operation));
        out
    }

    /// Every round in the period, per operation, oldest first.
    pub fn series(&self, s: &Selection) -> Vec<Aggregate> {
        let mut out = self.filtered(s);
        out.sort_by(|a, b| {
            (&a.key.operation, a.key.reporting_date, a.key.round).cmp(&(
                &b.key.operation,
                b.key.reporting_date,
                b.key.round,
            ))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(area: i64, level: i32, op: &str, round: i32, day: u32, kind: &str, n: i64) -> IdpTotal {
        let date = NaiveDate::from_ymd_opt(2020, 1, day).expect("date");
        IdpTotal {
            id: area * 1000 + i64::from(round),
            country_iso3: "X".into(),
            admin_level: level,
            source_pcode: format!("P{area}"),
            area_id: Some(area),
            area_matched: true,
            operation: op.into(),
            round_number: round,
            reporting_date: date,
            assessment_type: kind.into(),
            resource_id: 1,
            source_name: "n".into(),
            individuals: n,
            run_id: 1,
            retrieved_at: date.and_hms_opt(0, 0, 0).expect("time"),
        }
    }

    /// One area's total as the store's sum of a single total.
    fn sum(t: IdpTotal) -> IdpSum {
        IdpSum {
            operation: t.operation,
            round_number: t.round_number,
            reporting_date: t.reporting_date,
            assessment_type: t.assessment_type,
            individuals: i128::from(t.individuals),
            totals: 1,
            resource_id: t.resource_id,
            run_id: t.run_id,
            retrieved_at: t.retrieved_at,
        }
    }

    #[test]
    fn own_figure_wins_children_fill_gaps_operations_never_mix() {
        let tree = Subtree {
            level: 1,
            own: vec![total(1, 1, "A", 2, 2, "BA", 100)],
            below: vec![(
                2,
                3,
                vec![
                    total(2, 2, "A", 2, 2, "BA", 60),
                    total(3, 2, "A", 3, 3, "BA", 10),
                    total(4, 2, "A", 3, 3, "BA", 15),
                    total(2, 2, "B", 1, 1, "SA", 7),
                ]
                .into_iter()
                .map(sum)
                .collect(),
            )],
        };
        let totals = tree.totals(&Selection::default());
        assert_eq!(totals.len(), 2, "one total per operation");
        assert_eq!(
            (totals[0].key.round, totals[0].individuals, totals[0].method),
            (3, 25, IdpMethod::SummedFromChildren)
        );
        assert_eq!((totals[0].areas_counted, totals[0].areas_at_level), (2, 3));
        assert_eq!(totals[1].individuals, 7);
        let round2 = tree.totals(&Selection { round: Some(2), operation: Some("A".into()), ..Selection::default() });
        assert_eq!((round2[0].individuals, round2[0].method), (100, IdpMethod::ReportedAtLevel));
        assert_eq!(round2[0].round_rule, RoundRule::RequestedRound);
    }

    #[test]
    fn baseline_is_preferred_over_site_assessment_of_the_same_round() {
        let tree = Subtree {
            level: 0,
            own: vec![total(1, 0, "A", 1, 1, "BA", 50), total(1, 0, "A", 1, 1, "SA", 50)],
            below: vec![],
        };
        assert_eq!(tree.series(&Selection::default()).len(), 1);
        assert_eq!(tree.totals(&Selection::default())[0].key.assessment_type, "BA");
    }
}
