//! DataLoaders: every link from one entity to another is loaded in one batched query per
//! request level, never one query per row.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use chrono::NaiveDate;
use store::idps::{IdpFilter, IdpPage, IdpPosition, IdpSum, IdpTotal, PageBounds};
use store::models::{AdminArea, Country, Dataset, IngestRun};
use store::{ReadSnapshot, geography, idps, provenance, runs};

use crate::aggregates::{Selection, Subtree};
use crate::error::SharedStoreError;
use crate::pagination::PageArgs;

pub struct AreaLoader(pub ReadSnapshot);
pub struct ChildrenLoader(pub ReadSnapshot);
pub struct CountryLoader(pub ReadSnapshot);
pub struct RunLoader(pub ReadSnapshot);
/// (country ISO3, level) → the country's current areas at that level.
pub struct CountryAreasLoader(pub ReadSnapshot);
/// Resource id → the dataset it belongs to.
pub struct DatasetByResourceLoader(pub ReadSnapshot);
/// (area id, filters and page) → one page of the area's IDP totals.
pub struct AreaIdpsLoader(pub ReadSnapshot);

impl Loader<i64> for AreaLoader {
    type Value = AdminArea;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, AdminArea>, Self::Error> {
        let ids = keys.to_vec();
        let areas = self.0.run(move |c| geography::areas_by_ids(c, &ids)).await?;
        Ok(areas.into_iter().map(|a| (a.id, a)).collect())
    }
}

impl Loader<i64> for ChildrenLoader {
    type Value = Vec<AdminArea>;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<AdminArea>>, Self::Error> {
        let ids = keys.to_vec();
        let children = self.0.run(move |c| geography::current_children_of(c, &ids)).await?;
        let mut out: HashMap<i64, Vec<AdminArea>> = HashMap::new();
        for child in children {
            if let Some(parent) = child.parent_id {
                out.entry(parent).or_default().push(child);
            }
        }
        Ok(out)
    }
}

impl Loader<String> for CountryLoader {
    type Value = Country;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Country>, Self::Error> {
        let codes = keys.to_vec();
        let countries = self.0.run(move |c| geography::countries_by_iso3(c, &codes)).await?;
        Ok(countries.into_iter().map(|c| (c.iso3.clone(), c)).collect())
    }
}

impl Loader<i64> for DatasetByResourceLoader {
    type Value = Dataset;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Dataset>, Self::Error> {
        let ids = keys.to_vec();
        let pairs = self
            .0
            .run(move |c| {
                let resources = provenance::resources_by_ids(c, &ids)?;
                let dataset_ids: Vec<i64> = resources.iter().map(|r| r.dataset_id).collect();
                let datasets: HashMap<i64, Dataset> =
                    provenance::datasets_by_ids(c, &dataset_ids)?.into_iter().map(|d| (d.id, d)).collect();
                Ok(resources
                    .into_iter()
                    .filter_map(|r| datasets.get(&r.dataset_id).map(|d| (r.id, d.clone())))
                    .collect::<HashMap<_, _>>())
            })
            .await?;
        Ok(pairs)
    }
}

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

    /// Per distinct query: the first pages of the areas whose whole list fits in one page come from
    /// one query (after one count per area); any other page is one keyset read of its area's rows.
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
                    let shared = first_page && ids.len() > 1;
                    let filter = IdpFilter { area_ids: Some(ids.clone()), ..filter_of(&query) };
                    let counts: HashMap<i64, i64> = if shared || query.counted {
                        idps::count_idp_totals_by_area(c, &filter)?.into_iter().collect()
                    } else {
                        HashMap::new()
                    };
                    let count = |id: &i64| counts.get(id).copied().unwrap_or(0);
                    let whole: Vec<i64> = if shared {
                        ids.iter().copied().filter(|id| (1..=size as i64).contains(&count(id))).collect()
                    } else {
                        Vec::new()
                    };
                    let mut rows_of: HashMap<i64, Vec<IdpTotal>> = HashMap::new();
                    if !whole.is_empty() {
                        let all = IdpFilter { area_ids: Some(whole.clone()), ..filter.clone() };
                        for total in idps::idp_totals(c, &all, None, 0)? {
                            if let Some(area) = total.area_id {
                                rows_of.entry(area).or_default().push(total);
                            }
                        }
                    }
                    for id in ids {
                        let result = match rows_of.remove(&id) {
                            Some(rows) => IdpPage { rows, has_previous: false, has_next: false },
                            None if shared && count(&id) == 0 => IdpPage::default(),
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
                        out.insert((id, query.clone()), AreaIdpsPage { page: result, total: count(&id) });
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(out)
    }
}

impl Loader<(String, i32)> for CountryAreasLoader {
    type Value = Vec<AdminArea>;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[(String, i32)]) -> Result<HashMap<(String, i32), Vec<AdminArea>>, Self::Error> {
        let mut countries: Vec<String> = keys.iter().map(|(c, _)| c.clone()).collect();
        let mut levels: Vec<i32> = keys.iter().map(|(_, l)| *l).collect();
        countries.sort();
        countries.dedup();
        levels.sort_unstable();
        levels.dedup();
        let areas = self.0.run(move |c| geography::current_areas_at_levels(c, &countries, &levels)).await?;
        let mut out: HashMap<(String, i32), Vec<AdminArea>> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for area in areas {
            if let Some(list) = out.get_mut(&(area.country_iso3.clone(), area.level)) {
                list.push(area);
            }
        }
        Ok(out)
    }
}

impl Loader<i64> for RunLoader {
    type Value = IngestRun;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, IngestRun>, Self::Error> {
        let ids = keys.to_vec();
        let found = self.0.run(move |c| runs::runs_by_ids(c, &ids)).await?;
        Ok(found.into_iter().map(|r| (r.id, r)).collect())
    }
}

// --- the catalog ---

use store::catalog;
use store::models::Resource;

/// Dataset id → its resources.
pub struct DatasetResourcesLoader(pub ReadSnapshot);
/// Dataset id → the ingest runs that read it, newest first.
pub struct DatasetRunsLoader(pub ReadSnapshot);

impl Loader<i64> for DatasetResourcesLoader {
    type Value = Vec<Resource>;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<Resource>>, Self::Error> {
        let ids = keys.to_vec();
        let rows = self.0.run(move |c| catalog::resources_of_datasets(c, &ids)).await?;
        let mut out: HashMap<i64, Vec<Resource>> = HashMap::new();
        for row in rows {
            out.entry(row.dataset_id).or_default().push(row);
        }
        Ok(out)
    }
}

impl Loader<i64> for DatasetRunsLoader {
    type Value = Vec<IngestRun>;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<IngestRun>>, Self::Error> {
        let ids = keys.to_vec();
        let rows = self.0.run(move |c| catalog::runs_of_datasets(c, &ids)).await?;
        let mut out: HashMap<i64, Vec<IngestRun>> = HashMap::new();
        for (dataset, run) in rows {
            out.entry(dataset).or_default().push(run);
        }
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

/// Resource id → the resource (file or endpoint) a figure was read from.
pub struct ResourceLoader(pub ReadSnapshot);

impl Loader<i64> for ResourceLoader {
    type Value = store::models::Resource;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, store::models::Resource>, Self::Error> {
        let ids = keys.to_vec();
        let rows = self.0.run(move |c| provenance::resources_by_ids(c, &ids)).await?;
        Ok(rows.into_iter().map(|r| (r.id, r)).collect())
    }
}

/// Loads the resource of a figure, for its `resource` field.
pub async fn resource_of(
    ctx: &async_graphql::Context<'_>,
    resource_id: i64,
) -> async_graphql::Result<Option<crate::types::Resource>> {
    let loader = ctx.data::<async_graphql::dataloader::DataLoader<ResourceLoader>>()?;
    Ok(loader.load_one(resource_id).await.map_err(crate::error::shared)?.map(crate::types::Resource))
}

/// Wraps a loader: a batch waits a few milliseconds so that every sibling in a list joins it (a
/// sibling may first await another read before it asks for its key). Loaders live for one request,
/// and the wait holds the request's snapshot connection idle: 5 ms, half of what it was when loaders
/// were shared between requests.
pub(crate) fn loader<T: async_graphql::dataloader::Loader<K>, K>(inner: T) -> async_graphql::dataloader::DataLoader<T>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
{
    async_graphql::dataloader::DataLoader::new(inner, tokio::spawn)
        .delay(std::time::Duration::from_millis(5))
        .max_batch_size(1000)
}

/// Gives a request its own loaders, all reading through the request's snapshot (loaders cache per
/// request anyway, so nothing is lost by not sharing them between requests).
pub(crate) fn with_loaders(request: async_graphql::Request, snapshot: &ReadSnapshot) -> async_graphql::Request {
    let s = || snapshot.clone();
    crate::types::theme_loaders(request, snapshot)
        .data(loader(AreaLoader(s())))
        .data(loader(ChildrenLoader(s())))
        .data(loader(CountryLoader(s())))
        .data(loader(CountryAreasLoader(s())))
        .data(loader(DatasetByResourceLoader(s())))
        .data(loader(AreaIdpsLoader(s())))
        .data(loader(RunLoader(s())))
        .data(loader(SubtreeIdpsLoader(s())))
        .data(loader(AreaAliasesLoader(s())))
        .data(loader(ResourceLoader(s())))
        .data(loader(DatasetResourcesLoader(s())))
        .data(loader(DatasetRunsLoader(s())))
}
