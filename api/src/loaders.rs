//! DataLoaders: every link from one entity to another is loaded in one batched query per
//! request level, never one query per row. Here are the core ones (areas, countries, datasets,
//! resources, runs); a theme's own loaders live in its module and are added by its `Theme::loaders`.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use store::models::{AdminArea, Country, Dataset, IngestRun};
use store::{ReadSnapshot, geography, provenance, runs};

use crate::error::SharedStoreError;

pub struct AreaLoader(pub ReadSnapshot);
pub struct ChildrenLoader(pub ReadSnapshot);
pub struct CountryLoader(pub ReadSnapshot);
pub struct RunLoader(pub ReadSnapshot);
/// (country ISO3, level) → the country's current areas at that level.
pub struct CountryAreasLoader(pub ReadSnapshot);
/// Resource id → the dataset it belongs to.
pub struct DatasetByResourceLoader(pub ReadSnapshot);
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

/// Wraps a loader: no batch window on a timer. A batch is sent once only loaders can move the
/// request on (api/src/batching.rs): every resolver of the level has asked for its keys by then, and
/// the snapshot connection is held only while statements run, not through a sleep per level.
///
/// Keys asked for outside a tracked request (a subscription's stream) are sent after the worker's
/// other tasks have run twice and the snapshot's statements have run: a good guess, not a certainty.
pub(crate) fn loader<T: async_graphql::dataloader::Loader<K>, K>(
    inner: T,
    snapshot: &ReadSnapshot,
) -> async_graphql::dataloader::DataLoader<T>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
{
    let snapshot = snapshot.clone();
    async_graphql::dataloader::DataLoader::new(inner, move |dispatch| {
        let snapshot = snapshot.clone();
        let resolvers = crate::batching::Resolvers::polling();
        tokio::spawn(async move {
            match resolvers {
                Some(resolvers) => {
                    if resolvers.until_only_loaders_can_go_on(|| snapshot.is_quiet()).await {
                        let _out = resolvers.batch_out();
                        dispatch.await;
                    }
                }
                None => {
                    loop {
                        tokio::task::yield_now().await;
                        tokio::task::yield_now().await;
                        if snapshot.is_quiet() {
                            break;
                        }
                        snapshot.quiet().await;
                    }
                    dispatch.await;
                }
            }
        })
    })
    .delay(std::time::Duration::ZERO)
    .max_batch_size(1000)
}

/// Gives a request its own loaders, all reading through the request's snapshot (loaders cache per
/// request anyway, so nothing is lost by not sharing them between requests).
pub(crate) fn with_loaders(request: async_graphql::Request, snapshot: &ReadSnapshot) -> async_graphql::Request {
    let s = || snapshot.clone();
    crate::types::theme_loaders(request, snapshot)
        .data(loader(AreaLoader(s()), snapshot))
        .data(loader(ChildrenLoader(s()), snapshot))
        .data(loader(CountryLoader(s()), snapshot))
        .data(loader(CountryAreasLoader(s()), snapshot))
        .data(loader(DatasetByResourceLoader(s()), snapshot))
        .data(loader(RunLoader(s()), snapshot))
        .data(loader(ResourceLoader(s()), snapshot))
        .data(loader(DatasetResourcesLoader(s()), snapshot))
        .data(loader(DatasetRunsLoader(s()), snapshot))
        .data(loader(CountryThemesLoader(s()), snapshot))
}

/// The themes each country has figures for (`Country.themes`), with the datasets they come from: one
/// grouped read per theme for every country of the request.
pub struct CountryThemesLoader(pub ReadSnapshot);

impl Loader<String> for CountryThemesLoader {
    type Value = Vec<(store::availability::ThemeCoverage, Vec<Dataset>)>;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let codes = keys.to_vec();
        let (themes, datasets) = self
            .0
            .run(move |c| {
                let themes = store::availability::themes_of(c, &codes)?;
                let mut keys: Vec<String> = themes.iter().flat_map(|t| t.datasets.iter().cloned()).collect();
                keys.sort();
                keys.dedup();
                Ok((themes, store::catalog::datasets_by_keys(c, &keys)?))
            })
            .await?;
        let mut by_country: HashMap<String, Self::Value> = HashMap::new();
        for theme in themes {
            let sources = datasets.iter().filter(|d| theme.datasets.contains(&d.source_key)).cloned().collect();
            by_country.entry(theme.country_iso3.clone()).or_default().push((theme, sources));
        }
        Ok(by_country)
    }
}
