//! Global ids: every object a client cache would key has an `id` of the form `Type:key`, unique across
//! types, that `node(id:)` resolves. The key is the row id, except for a country (its ISO3 code) and
//! an IDP figure, whose key is its natural key (encoded) because re-ingests rewrite its row.

use async_graphql::{ID, Interface};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use store::idps::IdpTotalKey;

use super::{AdminArea, Appeal, Country, Dataset, IdpFigure, IngestRun, Resource, Site};
use crate::ApiError;

/// Any entity reachable by its global id (`node(id:)`), as its `id` field gives it: `Type:key`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Global id: `Type:key`, unique across types."))]
pub enum Node {
    Country(Country),
    AdminArea(AdminArea),
    Dataset(Dataset),
    Resource(Resource),
    IngestRun(IngestRun),
    Appeal(Appeal),
    Site(Site),
    IdpFigure(IdpFigure),
}

/// The kinds of global id, and their key.
pub enum NodeKey {
    Country(String),
    AdminArea(i64),
    Dataset(i64),
    Resource(i64),
    IngestRun(i64),
    Appeal(i64),
    Site(i64),
    IdpFigure(IdpTotalKey),
}

/// The JSON form of an IDP figure's natural key inside its id.
type FigureKey = (String, i32, String, String, i32, NaiveDate, String, i64);

/// The global id of the IDP figure with natural key `key`.
pub fn idp_figure_id(key: &IdpTotalKey) -> ID {
    let parts: FigureKey = (
        key.country_iso3.clone(),
        key.admin_level,
        key.source_pcode.clone(),
        key.operation.clone(),
        key.round_number,
        key.reporting_date,
        key.assessment_type.clone(),
        key.resource_id,
    );
    ID(format!("IdpFigure:{}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&parts).unwrap_or_default())))
}

impl NodeKey {
    pub fn parse(id: &ID) -> Result<NodeKey, ApiError> {
        let bad = || ApiError::BadUserInput(format!("{:?} is not a node id (write Type:key, as `id` gives it)", id.0));
        let (kind, key) = id.0.split_once(':').ok_or_else(bad)?;
        let number = || key.parse::<i64>().map_err(|_| bad());
        Ok(match kind {
            "Country" => NodeKey::Country(key.to_uppercase()),
            "AdminArea" => NodeKey::AdminArea(number()?),
            "Dataset" => NodeKey::Dataset(number()?),
            "Resource" => NodeKey::Resource(number()?),
            "IngestRun" => NodeKey::IngestRun(number()?),
            "Appeal" => NodeKey::Appeal(number()?),
            "Site" => NodeKey::Site(number()?),
            "IdpFigure" => {
                let bytes = URL_SAFE_NO_PAD.decode(key).map_err(|_| bad())?;
                let (
                    country_iso3,
                    admin_level,
                    source_pcode,
                    operation,
                    round_number,
                    reporting_date,
                    assessment_type,
                    resource_id,
                ): FigureKey = serde_json::from_slice(&bytes).map_err(|_| bad())?;
                NodeKey::IdpFigure(IdpTotalKey {
                    country_iso3,
                    admin_level,
                    source_pcode,
                    operation,
                    round_number,
                    reporting_date,
                    assessment_type,
                    resource_id,
                })
            }
            _ => return Err(bad()),
        })
    }
}

/// The row id in a global id of type `kind` (`IngestRun:7`), or a bare row id (`7`, as the CLI shows
/// runs): what `ingestRun(id:)`, `dataset(id:)` and `cancelIngest(id:)` take.
pub fn row_id(id: &ID, kind: &str) -> Result<i64, ApiError> {
    let text = id.0.trim();
    let key = text.strip_prefix(kind).and_then(|rest| rest.strip_prefix(':')).unwrap_or(text);
    key.parse::<i64>()
        .map_err(|_| ApiError::BadUserInput(format!("{text:?} is not an id of a {kind} (write {kind}:<number>)")))
}
