//! Reference lists every theme normalises to, compiled in from `ingest/reference/` (see its NOTICE):
//! the global coordination groups (sectors and clusters) that HNO, 3W and funding by cluster share.
//!
//! One code names one sector everywhere: the HXL acronym of the global list (`FSC`, `PRO-CPN`...),
//! plus [`INTERSECTORAL`] (`ALL`) and [`MULTI_SECTOR`] (`MS`). Sources spell them differently (Mali's
//! HNO writes `PRO_CPM`, HAPI `Intersectoral`, a 3W file the French cluster name), so [`sector`] takes
//! any of those spellings and answers the one code.

use std::sync::OnceLock;

/// The code of the intersectoral figure (all sectors together, never a sum of sectors).
pub const INTERSECTORAL: &str = "ALL";
/// The code of multi-sector assistance that a source does not split by sector.
pub const MULTI_SECTOR: &str = "MS";

/// A sector or cluster of the global coordination groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sector {
    /// The one code crisisgraph stores (`FSC`, `PRO-CPN`, `ALL`...).
    pub code: String,
    /// Its English preferred term.
    pub name: String,
    /// Its French preferred term (the 3W and HNO files of francophone countries use it).
    pub name_fr: String,
}

const GLOBAL_COORDINATION_GROUPS: &str = include_str!("../../reference/global_coordination_groups_beta.csv");

/// Spellings that sources use for a code besides the list's own.
const ALIASES: &[(&str, &str)] = &[
    ("INTERSECTORAL", INTERSECTORAL),
    ("INTERSECTORIEL", INTERSECTORAL),
    ("MULTI", MULTI_SECTOR),
    ("MULTI-SECTOR", MULTI_SECTOR),
    ("MULTISECTORAL", MULTI_SECTOR),
    ("PRO-CPM", "PRO-CPN"),
    ("CP", "PRO-CPN"),
    ("GBV", "PRO-GBV"),
    ("HLP", "PRO-HLP"),
    ("MA", "PRO-MIN"),
    ("WASH", "WSH"),
    ("FS", "FSC"),
    ("CCCM", "CCM"),
    ("ES/NFI", "SHL"),
    ("SHELTER", "SHL"),
];

/// Every sector: the global list in its file's order, then intersectoral and multi-sector.
pub fn sectors() -> &'static [Sector] {
    static SECTORS: OnceLock<Vec<Sector>> = OnceLock::new();
    SECTORS.get_or_init(|| {
        let mut reader = csv::ReaderBuilder::new().from_reader(GLOBAL_COORDINATION_GROUPS.as_bytes());
        let mut list: Vec<Sector> = reader
            .records()
            .filter_map(Result::ok)
            .filter(|record| !record.get(0).unwrap_or("").starts_with('#'))
            .filter_map(|record| {
                Some(Sector {
                    code: record.get(3)?.trim().to_string(),
                    name: record.get(1)?.trim().to_string(),
                    name_fr: record.get(2)?.trim().to_string(),
                })
            })
            .collect();
        list.push(Sector { code: INTERSECTORAL.into(), name: "Intersectoral".into(), name_fr: "Intersectoriel".into() });
        list.push(Sector {
            code: MULTI_SECTOR.into(),
            name: "Multi-sector (unspecified)".into(),
            name_fr: "Multisectoriel".into(),
        });
        list
    })
}

/// The sector a source's code or name stands for: the list's code (`FSC`), with `_` for `-`
/// (`PRO_CPM`), an alias (`Intersectoral`, `WASH`), or the English or French name, in any case.
pub fn sector(code_or_name: &str) -> Option<&'static Sector> {
    let wanted = code_or_name.trim().to_uppercase().replace('_', "-");
    if wanted.is_empty() {
        return None;
    }
    let code = ALIASES.iter().find(|(alias, _)| *alias == wanted).map_or(wanted.as_str(), |(_, code)| code);
    sectors().iter().find(|s| s.code == code).or_else(|| {
        sectors()
            .iter()
            .find(|s| s.name.to_uppercase() == wanted || s.name_fr.to_uppercase() == wanted)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_global_list_and_the_two_extra_codes() {
        // 15 rows in the published file (PROVENANCE.md section A), plus ALL and MS.
        assert_eq!(sectors().len(), 17);
        assert_eq!(sector("FSC").map(|s| s.name.as_str()), Some("Food Security"));
        assert_eq!(sector("pro_cpm").map(|s| s.code.as_str()), Some("PRO-CPN"));
        assert_eq!(sector("Intersectoral").map(|s| s.code.as_str()), Some(INTERSECTORAL));
        assert_eq!(sector("Sécurité alimentaire").map(|s| s.code.as_str()), Some("FSC"));
        assert_eq!(sector("Eau, assainissement et hygiène").map(|s| s.code.as_str()), Some("WSH"));
        assert_eq!(sector("MS").map(|s| s.code.as_str()), Some(MULTI_SECTOR));
        assert!(sector("XYZ").is_none());
        assert!(sector("").is_none());
    }
}
