//! Matching a source's area codes to our admin areas, with p-code normalisation as HDX HAPI does it:
//! the country prefix may be ISO2 or ISO3 (`MLI05` → `ML05`, DTM's `TD07` → COD's `TCD07`) and
//! segments may carry extra or missing leading zeros (`YEM30001` → `YE3001`).

use std::collections::HashMap;

use store::models::AdminArea;

/// The name of a country from its ISO 3166 code, in English, and its ISO2 code.
pub fn country_name(iso3: &str) -> Option<(String, String)> {
    let code = isocountry::CountryCode::for_alpha3_caseless(iso3).ok()?;
    Some((code.name().to_string(), code.alpha2().to_string()))
}

/// How a source code was matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AreaMatch {
    /// The code is one of ours, as given or after normalisation (`normalised_from` is the source's code then).
    Matched { area_id: i64, pcode: String, normalised_from: Option<String> },
    /// No area has this code; `nearest_parent` is the closest matched ancestor, if any.
    Unmatched { nearest_parent: Option<i64> },
}

/// The areas of one country, indexed for matching.
#[derive(Debug, Clone)]
pub struct AreaMatcher {
    /// p-code → (area id, level); the current edition wins over retired ones.
    by_pcode: HashMap<String, (i64, i32)>,
    /// The country's own prefix (e.g. `ML`, `TCD`), from its admin1 codes.
    prefix: Option<String>,
    /// Digits each level adds, from the country's codes (e.g. Mali: [2, 2]).
    widths: Vec<usize>,
    country_area: Option<i64>,
    iso3: String,
}

fn split_code(code: &str) -> Option<(&str, &str)> {
    let split = code.find(|c: char| c.is_ascii_digit())?;
    let (prefix, digits) = code.split_at(split);
    (!prefix.is_empty()
        && prefix.chars().all(|c| c.is_ascii_alphabetic())
        && digits.chars().all(|c| c.is_ascii_digit()))
    .then_some((prefix, digits))
}

impl AreaMatcher {
    pub fn new(iso3: &str, areas: &[AdminArea]) -> Self {
        let mut ordered: Vec<&AdminArea> = areas.iter().collect();
        // Retired editions first, so that current areas overwrite them in the index.
        ordered.sort_by_key(|a| (a.valid_to.is_none(), a.valid_from));
        let mut by_pcode = HashMap::new();
        for a in &ordered {
            by_pcode.insert(a.pcode.to_uppercase(), (a.id, a.level));
        }
        let mut prefix_votes: HashMap<String, usize> = HashMap::new();
        let mut digit_votes: HashMap<(i32, usize), usize> = HashMap::new();
        for a in areas.iter().filter(|a| a.level >= 1) {
            if let Some((p, d)) = split_code(&a.pcode) {
                *prefix_votes.entry(p.to_uppercase()).or_default() += 1;
                *digit_votes.entry((a.level, d.len())).or_default() += 1;
            }
        }
        let prefix = prefix_votes.into_iter().max_by_key(|(p, n)| (*n, p.clone())).map(|(p, _)| p);
        let max_level = areas.iter().map(|a| a.level).max().unwrap_or(0);
        let mut widths = Vec::new();
        let mut previous_total = 0usize;
        for level in 1..=max_level {
            let total =
                digit_votes.iter().filter(|((l, _), _)| *l == level).max_by_key(|(_, n)| **n).map(|((_, len), _)| *len);
            match total {
                Some(total) if total > previous_total => {
                    widths.push(total - previous_total);
                    previous_total = total;
                }
                _ => break,
            }
        }
        let country_area = areas.iter().find(|a| a.level == 0 && a.valid_to.is_none()).map(|a| a.id);
        AreaMatcher { by_pcode, prefix, widths, country_area, iso3: iso3.to_uppercase() }
    }

    /// The country's own (level 0) area.
    pub fn country_area(&self) -> Option<i64> {
        self.country_area
    }

    /// Finds the area a source code at `level` denotes. `parent_codes` are the source's codes of
    /// the enclosing areas, nearest first, used when the code itself matches nothing.
    pub fn match_code(&self, level: i32, code: &str, parent_codes: &[(i32, &str)]) -> AreaMatch {
        if level == 0 {
            return match self.country_area {
                Some(id) if code.trim().eq_ignore_ascii_case(&self.iso3) => {
                    AreaMatch::Matched { area_id: id, pcode: self.iso3.clone(), normalised_from: None }
                }
                _ => AreaMatch::Unmatched { nearest_parent: None },
            };
        }
        if let Some((id, pcode)) = self.find(level, code) {
            let normalised_from = (pcode != code).then(|| code.to_string());
            return AreaMatch::Matched { area_id: id, pcode, normalised_from };
        }
        let nearest_parent =
            parent_codes.iter().find_map(|(l, c)| self.find(*l, c).map(|(id, _)| id)).or(self.country_area);
        AreaMatch::Unmatched { nearest_parent }
    }

    /// The normalised p-code of `code` at `level`, if it denotes one of the country's areas.
    pub fn normalise(&self, level: i32, code: &str) -> Option<String> {
        self.find(level, code).map(|(_, p)| p)
    }

    fn find(&self, level: i32, code: &str) -> Option<(i64, String)> {
        let code = code.trim().to_uppercase();
        let hit = |candidate: &str| {
            self.by_pcode.get(candidate).filter(|(_, l)| *l == level).map(|(id, _)| (*id, candidate.to_string()))
        };
        if let Some(found) = hit(&code) {
            return Some(found);
        }
        let (source_prefix, digits) = split_code(&code)?;
        let mut prefixes: Vec<String> = Vec::new();
        if let Some(p) = &self.prefix {
            prefixes.push(p.clone());
        }
        prefixes.push(source_prefix.to_string());
        for prefix in &prefixes {
            if let Some(found) = hit(&format!("{prefix}{digits}")) {
                return Some(found);
            }
            for candidate in self.repadded(level, digits) {
                if let Some(found) = hit(&format!("{prefix}{candidate}")) {
                    return Some(found);
                }
            }
        }
        None
    }

    /// Re-splits `digits` into `level` segments and pads or trims each to the country's width.
    fn repadded(&self, level: i32, digits: &str) -> Vec<String> {
        let level = level as usize;
        if level == 0 || level > self.widths.len() || digits.len() > 16 {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut parts = Vec::new();
        split_segments(digits, level, &mut parts, &mut |segments: &[&str]| {
            let mut candidate = String::new();
            for (segment, width) in segments.iter().zip(&self.widths) {
                let value: u64 = match segment.parse() {
                    Ok(v) => v,
                    Err(_) => return,
                };
                let formatted = format!("{value:0width$}", width = *width);
                if formatted.len() != *width {
                    return;
                }
                candidate.push_str(&formatted);
            }
            if !out.contains(&candidate) {
                out.push(candidate);
            }
        });
        out
    }
}

fn split_segments<'a>(rest: &'a str, remaining: usize, parts: &mut Vec<&'a str>, emit: &mut dyn FnMut(&[&str])) {
    if remaining == 1 {
        parts.push(rest);
        emit(parts);
        parts.pop();
        return;
    }
    for cut in 1..rest.len() {
        parts.push(&rest[..cut]);
        split_segments(&rest[cut..], remaining - 1, parts, emit);
        parts.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn area(id: i64, pcode: &str, level: i32) -> AdminArea {
        let day = NaiveDate::from_ymd_opt(2021, 12, 20).expect("valid date");
        AdminArea {
            id,
            country_iso3: "X".into(),
            pcode: pcode.into(),
            name: pcode.into(),
            level,
            parent_pcode: None,
            parent_id: None,
            valid_from: day,
            valid_to: None,
            resource_id: None,
            run_id: None,
            created_at: day.and_hms_opt(0, 0, 0).expect("valid time"),
            updated_at: day.and_hms_opt(0, 0, 0).expect("valid time"),
        }
    }

    #[test]
    fn iso3_prefix_becomes_the_countrys_own() {
        let m = AreaMatcher::new("MLI", &[area(1, "MLI", 0), area(2, "ML05", 1), area(3, "ML0501", 2)]);
        assert_eq!(m.normalise(1, "MLI05").as_deref(), Some("ML05"));
        assert_eq!(m.normalise(2, "MLI0501").as_deref(), Some("ML0501"));
        assert_eq!(m.normalise(1, "ml05").as_deref(), Some("ML05"));
    }

    #[test]
    fn iso2_prefix_becomes_iso3_where_cod_uses_it() {
        let m = AreaMatcher::new("TCD", &[area(1, "TCD", 0), area(2, "TCD07", 1), area(3, "TCD0704", 2)]);
        assert_eq!(m.normalise(1, "TD07").as_deref(), Some("TCD07"));
        assert_eq!(m.normalise(2, "TD0704").as_deref(), Some("TCD0704"));
    }

    #[test]
    fn segment_zeros_are_fixed() {
        let m = AreaMatcher::new("YEM", &[area(1, "YEM", 0), area(2, "YE30", 1), area(3, "YE3001", 2)]);
        assert_eq!(m.normalise(2, "YEM30001").as_deref(), Some("YE3001"));
        assert_eq!(m.normalise(2, "YE301").as_deref(), Some("YE3001"));
    }

    #[test]
    fn unknown_code_points_at_nearest_matched_parent() {
        let m = AreaMatcher::new("MLI", &[area(1, "MLI", 0), area(2, "ML05", 1), area(3, "ML0501", 2)]);
        assert_eq!(m.match_code(2, "ML0599", &[(1, "ML05")]), AreaMatch::Unmatched { nearest_parent: Some(2) });
        assert_eq!(m.match_code(1, "ML77", &[]), AreaMatch::Unmatched { nearest_parent: Some(1) });
        // A code of the wrong level is not a match.
        assert_eq!(m.normalise(1, "ML0501"), None);
    }
}
