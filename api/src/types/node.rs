use async_graphql::{ID, Interface};

use super::{AdminArea, Appeal, Country, Dataset, IngestRun, Site};
use crate::ApiError;

/// Any entity reachable by a global id (`node(id:)`), as `nodeId` gives it: `Type:key`.
#[derive(Interface)]
#[graphql(field(name = "node_id", ty = "ID", desc = "Global id for `node(id:)`: `Type:key`."))]
pub enum Node {
    Country(Country),
    AdminArea(AdminArea),
    Dataset(Dataset),
    IngestRun(IngestRun),
    Appeal(Appeal),
    Site(Site),
}

/// The kinds of global id, and their key.
pub enum NodeKey {
    Country(String),
    AdminArea(i64),
    Dataset(i64),
    IngestRun(i64),
    Appeal(i64),
    Site(i64),
}

impl NodeKey {
    pub fn parse(id: &ID) -> Result<NodeKey, ApiError> {
        let bad =
            || ApiError::BadUserInput(format!("{:?} is not a node id (write Type:key, as `nodeId` gives it)", id.0));
        let (kind, key) = id.0.split_once(':').ok_or_else(bad)?;
        let number = || key.parse::<i64>().map_err(|_| bad());
        Ok(match kind {
            "Country" => NodeKey::Country(key.to_uppercase()),
            "AdminArea" => NodeKey::AdminArea(number()?),
            "Dataset" => NodeKey::Dataset(number()?),
            "IngestRun" => NodeKey::IngestRun(number()?),
            "Appeal" => NodeKey::Appeal(number()?),
            "Site" => NodeKey::Site(number()?),
            _ => return Err(bad()),
        })
    }
}
