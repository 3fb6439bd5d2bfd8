//! The sector every theme names (needs, presence, funding by cluster...): one GraphQL type over
//! `ingest::kit::reference`, the list every source normalises its codes to.

use async_graphql::Object;

/// A sector or cluster of the global coordination groups (OCHA's list, as HDX HAPI uses it), plus
/// `ALL` (intersectoral), `MS` (multi-sector, where refugee responses sit) and `CSS` (coordination
/// and support services). Every theme names sectors with these codes.
pub struct Sector {
    code: String,
    name: String,
    name_fr: String,
}

impl Sector {
    /// The sector of a stored code (a code the list lacks keeps its code as its name).
    pub fn of(code: &str) -> Sector {
        match ingest::kit::reference::sector(code) {
            Some(s) => Sector { code: s.code.clone(), name: s.name.clone(), name_fr: s.name_fr.clone() },
            None => Sector { code: code.to_string(), name: code.to_string(), name_fr: code.to_string() },
        }
    }
}

/// A sector or cluster of the global coordination groups (OCHA's list, as HDX HAPI uses it), plus
/// `ALL` (intersectoral), `MS` (multi-sector, where refugee responses sit) and `CSS` (coordination
/// and support services). Every theme names sectors with these codes.
#[Object]
impl Sector {
    /// The sector's code, e.g. `FSC`, `WSH`, `PRO-CPN`, `ALL`.
    async fn code(&self) -> &str {
        &self.code
    }
    /// Its English name, e.g. "Food Security".
    async fn name(&self) -> &str {
        &self.name
    }
    /// Its French name, e.g. "Sécurité alimentaire".
    async fn name_fr(&self) -> &str {
        &self.name_fr
    }
}
