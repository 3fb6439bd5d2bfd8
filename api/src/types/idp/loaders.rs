//! The IDP theme's loaders: an area's page of figures, a subtree's figures for roll-ups and series,
//! and an area's older codes (for IDP shares); each one batched query per request level.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use chrono::NaiveDate;
use store::idps::{IdpFilter, IdpPage, IdpPosition, IdpSum, IdpTotal, PageBounds};
use store::models::AdminArea;
use store::{ReadSnapshot, geography, idps};

use crate::aggregates::{Selection, Subtree};
use crate::error::SharedStoreError;
use crate::pagination::PageArgs;

/// (area id, filters and page) → one page of the area's IDP totals.
pub struct AreaIdpsLoader(pub ReadSnapshot);


/// What an area's `idps` field asks for: its filters and its page (the Relay arguments).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AreaIdpsQuery {
    pub latest_round_only: bool,
    pub operation: Option<String>,
    pub round: Option<i32>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Upper-case, as stored.
    pub assessment_type: Option<String>,
    pub page: PageArgs<IdpPosition>,
    /// The client asked for `totalCount`: the matches are counted.
    pub counted: bool,
}

/// One area's page of IDP totals, and how many match in all (when counted).
#[derive(Debug, Clone, Default)]
pub struct AreaIdpsPage {
    pub page: IdpPage,
    pub total: i64,
}

/// The filters of an area's `idps` query, without the areas.
fn filter_of(query: &AreaIdpsQuery) -> IdpFilter {
    IdpFilter {
        latest_round_only: query.latest_round_only,
        operation: query.operation.clone(),
        round: query.round,
        from: query.from,
        to: query.to,
        assessment_type: query.assessment_type.clone(),
        ..IdpFilter::default()
    }
}

impl Loader<(i64, AreaIdpsQuery)> for AreaIdpsLoader {
    type Value = AreaIdpsPage;
    type Error = SharedStoreError;

    /// Per distinct query: the first pages of all its areas come from one read (see
    /// [`idps::idp_first_pages`]); any other page is one keyset read of its area's rows. Rows are
    /// counted only when the client asked for `totalCount`.
    async fn load(
        &self,
        keys: &[(i64, AreaIdpsQuery)],
    ) -> Result<HashMap<(i64, AreaIdpsQuery), AreaIdpsPage>, Self::Error> {
        let keys = keys.to_vec();
        let out = self
            .0
            .run(move |c| {
                let mut by_query: HashMap<AreaIdpsQuery, Vec<i64>> = HashMap::new();
                for (id, query) in keys {
                    by_query.entry(query).or_default().push(id);
                }
                let mut out = HashMap::new();
                for (query, ids) in by_query {
                    let page = &query.page;
                    let size = page.size();
                    let first_page = page.after.is_none() && page.before.is_none() && !page.backward();
                    let filter = IdpFilter { area_ids: Some(ids.clone()), ..filter_of(&query) };
                    let counts: HashMap<i64, i64> = if query.counted {
                        idps::count_idp_totals_by_area(c, &filter)?.into_iter().collect()
                    } else {
                        HashMap::new()
                    };
                    let mut pages = if first_page && ids.len() > 1 {
                        idps::idp_first_pages(c, &filter, &ids, size)?
                    } else {
                        HashMap::new()
                    };
                    for id in ids {
                        let result = match pages.remove(&id) {
                            Some(found) => found,
                            None => {
                                let one = IdpFilter { area_ids: Some(vec![id]), ..filter.clone() };
                                let bounds = PageBounds {
                                    after: page.after.as_ref(),
                                    before: page.before.as_ref(),
                                    size,
                                    backward: page.backward(),
                                };
                                idps::idp_totals_page(c, &one, bounds)?
                            }
                        };
                        let total = counts.get(&id).copied().unwrap_or(0);
                        out.insert((id, query.clone()), AreaIdpsPage { page: result, total });
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(out)
    }
}

/// (area id, selection) → the area's own IDP totals and, per level below it, its areas' totals
/// added up per figure key (for roll-ups and series), both narrowed to the selection by the store.
pub struct SubtreeIdpsLoader(pub ReadSnapshot);

impl Loader<(i64, Selection)> for SubtreeIdpsLoader {
    type Value = Subtree;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[(i64, Selection)]) -> Result<HashMap<(i64, Selection), Subtree>, Self::Error> {
        let keys = keys.to_vec();
        let trees = self
            .0
            .run(move |c| {
                let mut roots: Vec<i64> = keys.iter().map(|(id, _)| *id).collect();
                roots.sort_unstable();
                roots.dedup();
                let root_areas = geography::areas_by_ids(c, &roots)?;
                // Walk down one level at a time: depth → (root → area ids at that depth).
                let mut depths: Vec<HashMap<i64, Vec<AdminArea>>> = Vec::new();
                let mut frontier: HashMap<i64, i64> = root_areas.iter().map(|a| (a.id, a.id)).collect();
                while !frontier.is_empty() && depths.len() < 4 {
                    let ids: Vec<i64> = frontier.keys().copied().collect();
                    let children = geography::current_children_of(c, &ids)?;
                    let mut level: HashMap<i64, Vec<AdminArea>> = HashMap::new();
                    let mut next = HashMap::new();
                    for child in children {
                        let Some(root) = child.parent_id.and_then(|p| frontier.get(&p)).copied() else { continue };
                        next.insert(child.id, root);
                        level.entry(root).or_default().push(child);
                    }
                    let mut all_ids: Vec<i64> = root_areas.iter().map(|a| a.id).collect();
                    for level in &depths {
                        all_ids.extend(level.values().flatten().map(|a| a.id));
                    }
                    depths.push(level);
                    frontier = next;
                }
                let mut by_selection: HashMap<Selection, Vec<i64>> = HashMap::new();
                for (id, selection) in keys {
                    by_selection.entry(selection).or_default().push(id);
                }
                let mut trees = HashMap::new();
                for (selection, ids) in by_selection {
                    let filter = selection.store_filter();
                    let own_filter = IdpFilter { area_ids: Some(ids.clone()), ..filter.clone() };
                    let mut own: HashMap<i64, Vec<IdpTotal>> = HashMap::new();
                    for t in idps::idp_totals(c, &own_filter, None, 0)? {
                        if let Some(area) = t.area_id {
                            own.entry(area).or_default().push(t);
                        }
                    }
                    // Per depth, one query adds up the figures of every root's areas at that depth.
                    let mut below: HashMap<i64, Vec<(i32, usize, Vec<IdpSum>)>> = HashMap::new();
                    for (depth, level) in depths.iter().enumerate() {
                        let areas: Vec<i64> =
                            ids.iter().filter_map(|root| level.get(root)).flatten().map(|a| a.id).collect();
                        if areas.is_empty() {
                            continue;
                        }
                        let level_filter = IdpFilter { area_ids: Some(areas), ..filter.clone() };
                        let mut sums: HashMap<i64, Vec<IdpSum>> = HashMap::new();
                        for (root, sum) in idps::idp_sums_by_ancestor(c, &level_filter, depth + 1)? {
                            sums.entry(root).or_default().push(sum);
                        }
                        for root in &ids {
                            if let Some(areas) = level.get(root) {
                                let at = areas.first().map(|a| a.level).unwrap_or(0);
                                let figures = sums.remove(root).unwrap_or_default();
                                below.entry(*root).or_default().push((at, areas.len(), figures));
                            }
                        }
                    }
                    for root in root_areas.iter().filter(|a| ids.contains(&a.id)) {
                        let tree = Subtree {
                            level: root.level,
                            own: own.remove(&root.id).unwrap_or_default(),
                            below: below.remove(&root.id).unwrap_or_default(),
                        };
                        trees.insert((root.id, selection.clone()), tree);
                    }
                }
                Ok(trees)
            })
            .await?;
        Ok(trees)
    }
}

/// Area id → its crosswalk entries (codes of older boundary editions).
pub struct AreaAliasesLoader(pub ReadSnapshot);

impl Loader<i64> for AreaAliasesLoader {
    type Value = Vec<store::population::AliasRow>;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<store::population::AliasRow>>, Self::Error> {
        let ids = keys.to_vec();
        let rows = self.0.run(move |c| store::population::aliases_of_areas(c, &ids)).await?;
        let mut out: HashMap<i64, Vec<store::population::AliasRow>> = HashMap::new();
        for row in rows {
            out.entry(row.area_id).or_default().push(row);
        }
        Ok(out)
    }
}

