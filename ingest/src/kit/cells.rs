//! Reading one cell of a published file: what counts as "no value", and how whole numbers, decimals
//! and dates are written. Every source reads its cells with these, so a count means the same thing
//! in every file. Each returns `Ok(None)` for a missing value and `Err(reason)` for a value that is
//! there but unusable: the caller rejects the row with that reason.

use chrono::NaiveDate;

use super::bounds;

/// Texts that stand for "no value" in published files: empty, `NA`, `N/A`, `<Null>`, `Not available`,
/// and spreadsheet error values such as `#N/A`.
pub fn is_missing(cell: &str) -> bool {
    let c = cell.trim();
    c.is_empty()
        || c.starts_with('#') && (c.ends_with('!') || c.ends_with("/A") || c.ends_with('?') || c == "#NULL!")
        || ["na", "n/a", "<null>", "null", "not available", "none", "-"].iter().any(|m| c.eq_ignore_ascii_case(m))
}

/// Why a number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    /// Not a whole number (text, or a fraction).
    NotWhole,
    /// A count or amount below zero.
    Negative(i64),
}

/// A count or amount: a whole number (written `123`, `123.0`, or with spaces as thousands
/// separators), not negative.
pub fn whole_number(cell: &str) -> Result<Option<i64>, NumberError> {
    if is_missing(cell) {
        return Ok(None);
    }
    let c = cell.trim().replace([' ', '\u{a0}'], "");
    let value = match c.parse::<i64>() {
        Ok(v) => v,
        Err(_) => match c.parse::<f64>() {
            Ok(f) if f.fract() == 0.0 && f.abs() < 1e15 => f as i64,
            _ => return Err(NumberError::NotWhole),
        },
    };
    if value < 0 {
        return Err(NumberError::Negative(value));
    }
    Ok(Some(value))
}

/// A count of people (or households) in column `label`, at most [`bounds::MAX_PEOPLE`], with the
/// reason a bad one is rejected.
pub fn people(cell: &str, label: &str) -> Result<Option<i64>, String> {
    let value = whole_number(cell).map_err(|e| match e {
        NumberError::NotWhole => format!("{label} {cell:?} is not a whole number"),
        NumberError::Negative(value) => format!("{label} is negative ({value})"),
    })?;
    value.map(|v| bounds::people(label, v)).transpose()
}

/// A decimal number, with `.` or `,` as decimal mark.
pub fn decimal(cell: &str, label: &str) -> Result<Option<f64>, String> {
    if is_missing(cell) {
        return Ok(None);
    }
    let value: f64 = cell.trim().replace(',', ".").parse().map_err(|_| format!("{label} {cell:?} is not a number"))?;
    if !value.is_finite() {
        return Err(format!("{label} {cell:?} is not a number"));
    }
    Ok(Some(value))
}

/// A date written `YYYY-MM-DD`, possibly followed by a time (`2024-01-31T00:00:00`), which is ignored.
pub fn date(cell: &str, label: &str) -> Result<Option<NaiveDate>, String> {
    if is_missing(cell) {
        return Ok(None);
    }
    let c = cell.trim();
    NaiveDate::parse_from_str(c.get(..10).unwrap_or(c), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| format!("{label} {cell:?} is not a YYYY-MM-DD date"))
}

/// "requirements 120 here, 100 there; ..." for the figures that differ between a duplicate row and
/// the row it repeats, given as (name, there, here): a repeat that disagrees is a conflicting
/// duplicate, rejected with both values. `None` when they all agree (a plain duplicate).
pub fn differences(figures: &[(&str, Option<i64>, Option<i64>)]) -> Option<String> {
    let show = |v: Option<i64>| v.map_or_else(|| "empty".to_string(), |v| v.to_string());
    let parts: Vec<String> = figures
        .iter()
        .filter(|(_, there, here)| there != here)
        .map(|(name, there, here)| format!("{name} {} here, {} there", show(*here), show(*there)))
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_markers() {
        for m in ["", " NA ", "n/a", "<Null>", "Not available", "#N/A", "#REF!", "#DIV/0!", "#NAME?"] {
            assert!(is_missing(m), "{m:?}");
        }
        for v in ["0", "Mopti", "#adm1+code", "NAB"] {
            assert!(!is_missing(v), "{v:?}");
        }
    }

    #[test]
    fn numbers_and_dates() {
        assert_eq!(whole_number("1 234"), Ok(Some(1234)));
        assert_eq!(whole_number("12.0"), Ok(Some(12)));
        assert_eq!(whole_number("<Null>"), Ok(None));
        assert_eq!(whole_number("12.5"), Err(NumberError::NotWhole));
        assert_eq!(whole_number("-3"), Err(NumberError::Negative(-3)));
        assert!(people("x", "T_TL").is_err_and(|m| m.contains("T_TL") && m.contains("not a whole number")));
        assert_eq!(people("10000000000", "T_TL"), Ok(Some(bounds::MAX_PEOPLE)));
        assert!(people("9223372036854775807", "T_TL").is_err_and(|m| m.contains("more people than live on Earth")));
        assert_eq!(differences(&[("a", Some(1), Some(1)), ("b", None, None)]), None);
        assert_eq!(
            differences(&[("a", Some(1), Some(2)), ("b", None, Some(3))]).as_deref(),
            Some("a 2 here, 1 there; b 3 here, empty there")
        );
        assert_eq!(decimal("4,5", "lat"), Ok(Some(4.5)));
        assert!(decimal("inf", "lat").is_err());
        assert_eq!(date("2024-01-31T00:00:00", "d"), Ok(NaiveDate::from_ymd_opt(2024, 1, 31)));
        assert!(date("31/01/2024", "d").is_err_and(|m| m.contains("YYYY-MM-DD")));
    }
}
