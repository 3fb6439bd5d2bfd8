//! Organisation names and acronyms canonicalised the way HDX HAPI does, with its published mapping
//! (`ingest/reference/hapi_org_mapping.csv`: a spelling → canonical name, acronym and type, some
//! rows for one country only), and typed with OCHA's organisation types
//! (`ingest/reference/organization_types_beta.csv`) plus the French and Spanish terms 3W files use.
//!
//! A file's organisation is looked up by its name (its acronym when it has no name), compared
//! without case, accents or punctuation ([`match_text`]); a hit gives the canonical name and
//! acronym (the file's acronym when the mapping has none) and the mapping's type. Otherwise the
//! file's own name, acronym and type stand. Two organisations are the same when their canonical
//! acronym and name compare equal ([`Canonical::match_key`]).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::kit::reference::fold;

const ORG_MAPPING: &str = include_str!("../../../reference/hapi_org_mapping.csv");
const ORG_TYPES: &str = include_str!("../../../reference/organization_types_beta.csv");

/// Organisation type terms of 3W files and their HR.info code (HAPI's `org_type_map`, and the
/// codes HAPI adds to the published list).
const TYPE_ALIASES: &[(&str, &str)] = &[
    ("academy", "431"),
    ("agence un", "447"),
    ("agence du systeme des nations unies", "447"),
    ("autre type", "443"),
    ("civile society", "501"),
    ("cooperation internationale", "501"),
    ("croix rouge", "445"),
    ("donantes", "433"),
    ("entite gouvernementale", "435"),
    ("gouvernement", "435"),
    ("gov", "435"),
    ("govt", "435"),
    ("ingo", "437"),
    ("institution etatique", "435"),
    ("international institution", "438"),
    ("international ngos", "437"),
    ("local ngo", "504"),
    ("mouv cr", "445"),
    ("mouvement croix rouge", "445"),
    ("mouvement de la croix rouge", "445"),
    ("movimiento de la cruz roja media luna roja", "445"),
    ("nations unies", "447"),
    ("naciones unidas", "447"),
    ("nngo", "441"),
    ("observer", "502"),
    ("ong int", "437"),
    ("ong internacional", "437"),
    ("ong internationale", "437"),
    ("ong nat", "441"),
    ("ong national", "441"),
    ("ong nacional", "441"),
    ("ong nationale", "441"),
    ("organisation des nations unies", "447"),
    ("organismo internacional", "438"),
    ("others", "443"),
    ("otro", "443"),
    ("programme de developpement", "503"),
    ("red cross", "445"),
    ("red cross movement", "445"),
    ("red cross mvt", "445"),
    ("red cross and red crescent movement", "445"),
    ("religious group", "446"),
    ("service etatique", "435"),
    ("sociedad civil", "501"),
    ("societe civile", "501"),
    ("un", "447"),
    ("un agency", "447"),
    ("un agencies", "447"),
];

/// Codes HAPI uses beyond the published list.
const EXTRA_TYPES: &[(&str, &str)] =
    &[("501", "Civil Society"), ("502", "Observer"), ("503", "Development Programme"), ("504", "Local NGO")];

/// How names are compared: upper case, no accents, every run of punctuation or space one space.
pub fn match_text(text: &str) -> String {
    let folded = fold(text);
    let mut out = String::with_capacity(folded.len());
    for c in folded.chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    out.trim_end().to_string()
}

/// An organisation type: its HR.info code and preferred term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgType {
    pub code: String,
    pub name: String,
}

/// A canonical organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    /// Empty when neither the mapping nor the file gives one.
    pub acronym: String,
    pub name: String,
    pub org_type: Option<OrgType>,
}

impl Canonical {
    /// What makes two organisations one: acronym and name as [`match_text`] compares them.
    pub fn match_key(&self) -> String {
        format!("{}|{}", match_text(&self.acronym), match_text(&self.name))
    }
}

struct MappingEntry {
    acronym: String,
    name: String,
    type_code: String,
}

/// The mapping and the type list, read once.
struct Reference {
    /// (country ISO3 or "" for every country, matched text) → entry; a later row wins, as in HAPI.
    mapping: HashMap<(String, String), MappingEntry>,
    /// Matched text of a code or term → code.
    type_codes: HashMap<String, String>,
    /// Code → preferred term.
    type_names: HashMap<String, String>,
}

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let mut type_codes = HashMap::new();
        let mut type_names = HashMap::new();
        let mut types = csv::ReaderBuilder::new().from_reader(ORG_TYPES.as_bytes());
        for record in types.records().filter_map(Result::ok) {
            let (Some(code), Some(name)) = (record.get(0), record.get(1)) else { continue };
            if code.starts_with('#') || code.trim().is_empty() {
                continue;
            }
            type_codes.insert(match_text(code), code.trim().to_string());
            type_codes.insert(match_text(name), code.trim().to_string());
            type_names.insert(code.trim().to_string(), name.trim().to_string());
        }
        for (code, name) in EXTRA_TYPES {
            type_codes.insert(match_text(name), code.to_string());
            type_names.insert(code.to_string(), name.to_string());
        }
        for (alias, code) in TYPE_ALIASES {
            type_codes.insert(match_text(alias), code.to_string());
        }
        let mut mapping = HashMap::new();
        let mut rows = csv::ReaderBuilder::new().from_reader(ORG_MAPPING.as_bytes());
        for record in rows.records().filter_map(Result::ok) {
            let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("").to_string();
            let (pattern, name, acronym, type_code, country) = (cell(0), cell(1), cell(2), cell(6), cell(7));
            if pattern.starts_with('#') || name.is_empty() {
                continue;
            }
            for text in [&name, &acronym, &pattern] {
                if !text.is_empty() {
                    let entry =
                        MappingEntry { acronym: acronym.clone(), name: name.clone(), type_code: type_code.clone() };
                    mapping.insert((country.to_uppercase(), match_text(text)), entry);
                }
            }
        }
        Reference { mapping, type_codes, type_names }
    })
}

/// The type a term or code stands for (`ONG Int`, `Agence UN`, `437`, `International NGO`).
pub fn org_type(term: &str) -> Option<OrgType> {
    let r = reference();
    let code = r.type_codes.get(&match_text(term))?;
    Some(OrgType { code: code.clone(), name: r.type_names.get(code).cloned().unwrap_or_else(|| code.clone()) })
}

/// The canonical organisation of a file's row in country `iso3`: its `name` (or its `acronym` when
/// it has no name) looked up in the mapping, for that country first; `None` when the row names no
/// organisation at all.
pub fn canonical(iso3: &str, name: &str, acronym: &str, type_term: &str) -> Option<Canonical> {
    let (name, acronym) = (name.trim(), acronym.trim());
    let looked_up = if name.is_empty() { acronym } else { name };
    if looked_up.is_empty() {
        return None;
    }
    let r = reference();
    let text = match_text(looked_up);
    let file_type = || org_type(type_term);
    let found = r.mapping.get(&(iso3.to_uppercase(), text.clone())).or_else(|| r.mapping.get(&(String::new(), text)));
    Some(match found {
        Some(entry) => Canonical {
            acronym: if entry.acronym.is_empty() { acronym.to_string() } else { entry.acronym.clone() },
            name: entry.name.clone(),
            org_type: org_type(&entry.type_code).or_else(file_type),
        },
        None => Canonical { acronym: acronym.to_string(), name: looked_up.to_string(), org_type: file_type() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapping_canonicalises_french_names_and_types() {
        let oim = canonical("MLI", "Organisation Internationale pour les Migrations", "OIM", "Agence UN").expect("IOM");
        assert_eq!((oim.acronym.as_str(), oim.name.as_str()), ("IOM", "International Organization for Migration"));
        assert_eq!(oim.org_type, Some(OrgType { code: "447".into(), name: "United Nations".into() }));
        let oms = canonical("MLI", "Organisation Mondiale de la Santé", "OMS", "Agence UN").expect("WHO");
        assert_eq!((oms.acronym.as_str(), oms.name.as_str()), ("WHO", "World Health Organization"));
        // Spacing and case do not matter; the mapping has no acronym for the Mali Red Cross, so the file's stays.
        let imc = canonical("MLI", "International  Médical Corps ", "IMC", "ONG Int").expect("IMC");
        assert_eq!(imc.name, "International Medical Corps");
        let crm = canonical("MLI", "Croix Rouge Malienne", "CRM", "Mouv. CR").expect("CRM");
        assert_eq!((crm.acronym.as_str(), crm.name.as_str()), ("CRM", "Mali Red Cross"));
        assert_eq!(crm.org_type.map(|t| t.name), Some("National NGO".into()));
        // A row for one country applies to that country only.
        assert_eq!(canonical("MLI", "ONG MUSO", "MUSO", "").map(|c| c.name), Some("Muso".into()));
        assert_eq!(canonical("TCD", "ONG MUSO", "MUSO", "").map(|c| c.name), Some("ONG MUSO".into()));
        // Unknown: the file's own spelling and type.
        let own = canonical("TCD", "Medair", "Medair", "ONG Internationale").expect("Medair");
        assert_eq!((own.acronym.as_str(), own.org_type.clone().map(|t| t.code)), ("Medair", Some("437".into())));
        assert_eq!(own.match_key(), "MEDAIR|MEDAIR");
        assert_eq!(canonical("TCD", "", "AFEST ", "").map(|c| c.name), Some("AFEST".into()));
        assert!(canonical("TCD", " ", "", "").is_none());
        assert_eq!(org_type("Entité Gouvernementale").map(|t| t.name), Some("Government".into()));
        assert_eq!(org_type("ONG Nationale").map(|t| t.name), Some("National NGO".into()));
        assert!(org_type("").is_none());
    }
}
