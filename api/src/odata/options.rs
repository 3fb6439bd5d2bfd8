//! The system query options of an entity set request (`$filter`, `$select`, `$orderby`, `$top`,
//! `$skip`, `$count`, `$skiptoken`, `$format`), validated against the entity; `Prefer:
//! odata.maxpagesize`; and the opaque `$skiptoken` of server-driven paging.
//!
//! The skiptoken carries where the next page starts: with the entity's own order, the keyset cursor
//! of the CSV export (the last key sent, and how many rows with that key were sent), so that a page
//! walk is one index range scan per page and stays exact when rows are inserted before the cursor;
//! with a client's `$orderby`, an offset.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value;
use store::bi::predicate::Predicate;
use store::bi::{Cell, Cursor, Entity, Link, SqlType};

use super::filter;
use super::translate;

/// Rows in a page when the client states no `odata.maxpagesize`.
pub const DEFAULT_PAGE: i64 = 5_000;
/// The largest page served, whatever the client prefers.
pub const MAX_PAGE: i64 = 50_000;
/// The largest `$top` (and `$skip`) accepted: the CSV export's largest `limit`.
pub const MAX_TOP: i64 = 1_000_000;

/// Options this service refuses by name (rather than as unknown), with why.
const UNSUPPORTED: [(&str, &str); 5] = [
    ("$apply", "aggregation is not supported; the GraphQL API aggregates"),
    ("$search", "free-text search is not supported; use $filter with contains()"),
    ("$compute", "computed properties are not supported"),
    ("$levels", "navigation properties are single-valued here: there are no levels to expand"),
    ("$index", "it applies to ordered collections only"),
];

/// A refused request: the query option at fault (the OData error's `target`) and what is wrong.
#[derive(Debug)]
pub struct Refused {
    pub target: &'static str,
    pub message: String,
}

fn refuse(target: &'static str, message: impl Into<String>) -> Refused {
    Refused { target, message: message.into() }
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// The entity's own order, from this cursor (keyset or offset, as the entity pages).
    Cursor(Cursor),
    /// A client's `$orderby`, from this row.
    Offset(i64),
}

/// A navigation property to expand (`$expand=AdminArea($select=name)`): the link, the entity it leads
/// to, and that entity's `$select`ed columns.
#[derive(Debug, Clone)]
pub struct Expand {
    pub link: &'static Link,
    pub target: &'static Entity,
    pub select: Option<Vec<usize>>,
}

/// A validated entity set request.
#[derive(Debug)]
pub struct Options {
    /// The `$select`ed columns' positions (all when `None`).
    pub select: Option<Vec<usize>>,
    pub filter: Option<Predicate>,
    /// `$orderby`: column names, `true` for descending.
    pub order_by: Vec<(&'static str, bool)>,
    /// How many rows the request (with its next links) gives at most.
    pub top: Option<i64>,
    pub count: bool,
    /// `$expand`: the navigation properties given inline, in the order asked.
    pub expand: Vec<Expand>,
    pub start: Start,
    /// The options to repeat in a next link (`$filter`, `$select`, `$orderby`, `$count`, `$format`).
    pub carried: Vec<(String, String)>,
}

/// The query options of a URL, decoded as HTML forms are (`+` is a space, as `requests` and most HTTP
/// clients encode one; a plus sign, as in an instant's offset, is `%2B`).
pub fn decode_query(query: &str) -> Result<Vec<(String, String)>, Refused> {
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(&text.replace('+', " "))
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| refuse("query", format!("{text:?} is not UTF-8 once decoded")))
        };
        pairs.push((decode(name)?, decode(value)?));
    }
    Ok(pairs)
}

/// Encodes a query option's value for a URL.
pub fn encode(text: &str) -> String {
    const SAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b',')
        .remove(b'$')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')');
    percent_encoding::utf8_percent_encode(text, SAFE).to_string()
}

/// Validates an entity set request's query options. `single` forbids the collection's options
/// (a request for one entity by key).
pub fn parse(entity: &'static Entity, pairs: &[(String, String)]) -> Result<Options, Refused> {
    let mut seen: Vec<&str> = Vec::new();
    let mut options = Options {
        select: None,
        filter: None,
        order_by: Vec::new(),
        top: None,
        count: false,
        expand: Vec::new(),
        start: Start::Cursor(Cursor::default()),
        carried: Vec::new(),
    };
    let (mut skip, mut token) = (None, None);
    for (name, value) in pairs {
        if let Some((option, why)) = UNSUPPORTED.iter().find(|(o, _)| o == name) {
            return Err(refuse(option, format!("{option} is not supported: {why}")));
        }
        if name.starts_with('@') {
            return Err(refuse("query", format!("parameter aliases ({name}) are not supported")));
        }
        if !name.starts_with('$') {
            // A custom query option: OData services ignore those they do not know.
            continue;
        }
        if seen.contains(&name.as_str()) {
            return Err(refuse("query", format!("{name} is given twice")));
        }
        match name.as_str() {
            "$filter" => {
                let expr = filter::parse(value).map_err(|m| refuse("$filter", format!("$filter: {m}")))?;
                let predicate = translate::predicate(entity, &expr).map_err(|m| refuse("$filter", m))?;
                options.filter = Some(predicate);
                options.carried.push((name.clone(), value.clone()));
            }
            "$select" => {
                options.select = select(entity, value)?;
                options.carried.push((name.clone(), value.clone()));
            }
            "$expand" => {
                options.expand = expand(entity, value)?;
                options.carried.push((name.clone(), value.clone()));
            }
            "$orderby" => {
                options.order_by = order_by(entity, value)?;
                options.carried.push((name.clone(), value.clone()));
            }
            "$top" => options.top = Some(whole("$top", value)?),
            "$skip" => skip = Some(whole("$skip", value)?),
            "$count" => {
                options.count = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    other => return Err(refuse("$count", format!("$count must be true or false, not {other:?}"))),
                };
                options.carried.push((name.clone(), value.clone()));
            }
            "$format" => {
                if !matches!(value.as_str(), "json" | "application/json") && !value.starts_with("application/json;") {
                    return Err(refuse("$format", format!("$format {value:?} is not served; only json is")));
                }
                options.carried.push((name.clone(), value.clone()));
            }
            "$skiptoken" => token = Some(value.clone()),
            other => {
                return Err(refuse(
                    "query",
                    format!(
                        "{other} is not a system query option this service knows; these are: $filter, $select, \
                         $expand, $orderby, $top, $skip, $count, $skiptoken, $format"
                    ),
                ));
            }
        }
        if let Some(known) =
            ["$filter", "$select", "$expand", "$orderby", "$top", "$skip", "$count", "$format", "$skiptoken"]
                .into_iter()
                .find(|k| k == name)
        {
            seen.push(known);
        }
    }
    if let Some(top) = options.top
        && top > MAX_TOP
    {
        return Err(refuse("$top", format!("$top must be at most {MAX_TOP}; page through more with the next links")));
    }
    let skip = skip.unwrap_or(0);
    if skip > MAX_TOP {
        return Err(refuse("$skip", format!("$skip must be at most {MAX_TOP}")));
    }
    options.start = match (token, options.order_by.is_empty()) {
        (Some(_), _) if skip > 0 => {
            return Err(refuse("$skip", "$skip cannot be combined with $skiptoken (the token already skips)"));
        }
        (Some(token), own_order) => decode_token(entity, &token, own_order)?,
        (None, true) => Start::Cursor(Cursor { offset: skip, after: None }),
        (None, false) => Start::Offset(skip),
    };
    Ok(options)
}

fn whole(option: &'static str, value: &str) -> Result<i64, Refused> {
    match value.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(refuse(option, format!("{option} must be a whole number, 0 or more, not {value:?}"))),
    }
}

fn select(entity: &Entity, value: &str) -> Result<Option<Vec<usize>>, Refused> {
    let mut positions = Vec::new();
    for item in value.split(',').map(str::trim) {
        if item == "*" {
            return Ok(None);
        }
        let position = entity.columns.iter().position(|c| c.name == item).ok_or_else(|| {
            refuse("$select", format!("$select: {item:?} is not a property of this entity set; see $metadata"))
        })?;
        if !positions.contains(&position) {
            positions.push(position);
        }
    }
    positions.sort_unstable();
    Ok(Some(positions))
}

/// `$expand`: navigation properties of the entity, each optionally with `($select=...)`, one level deep.
pub fn expand(entity: &'static Entity, value: &str) -> Result<Vec<Expand>, Refused> {
    let bad = |message: String| refuse("$expand", format!("$expand: {message}"));
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in value.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| bad(format!("{value:?} closes a parenthesis it did not open")))?
            }
            ',' if depth == 0 => {
                items.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(bad(format!("{value:?} leaves a parenthesis open")));
    }
    items.push(&value[start..]);
    let names = || entity.links().iter().map(|l| l.name).collect::<Vec<_>>().join(", ");
    let mut out: Vec<Expand> = Vec::new();
    for item in items.iter().map(|i| i.trim()) {
        let (name, inner) = match item.split_once('(') {
            Some((name, rest)) => match rest.strip_suffix(')') {
                Some(inner) => (name.trim(), Some(inner)),
                None => return Err(bad(format!("{item:?}: nothing may follow the parenthesis"))),
            },
            None => (item, None),
        };
        if name.contains('/') || name == "*" || name.contains('$') {
            return Err(bad(format!(
                "{name:?}: name a navigation property of this entity set (one level deep); these are: {}",
                names()
            )));
        }
        let link = entity.link(name).ok_or_else(|| {
            bad(format!("{name:?} is not a navigation property of this entity set; these are: {}", names()))
        })?;
        let target = link.target().ok_or_else(|| bad(format!("{name:?} leads nowhere")))?;
        let mut nested = None;
        for option in inner.into_iter().flat_map(|i| i.split(';')).map(str::trim).filter(|o| !o.is_empty()) {
            match option.split_once('=') {
                Some(("$select", columns)) => {
                    nested = select(target, columns).map_err(|r| bad(format!("{name}: {}", r.message)))?;
                }
                _ => {
                    return Err(bad(format!(
                        "{name}: only $select is supported inside an expanded property, not {option:?}"
                    )));
                }
            }
        }
        if out.iter().any(|e| e.link.name == link.name) {
            return Err(bad(format!("{name} is expanded twice")));
        }
        out.push(Expand { link, target, select: nested });
    }
    Ok(out)
}

fn order_by(entity: &Entity, value: &str) -> Result<Vec<(&'static str, bool)>, Refused> {
    let mut terms = Vec::new();
    for item in value.split(',').map(str::trim) {
        let mut words = item.split_whitespace();
        let name = words.next().unwrap_or_default();
        let descending = match words.next() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(refuse("$orderby", format!("$orderby: {other:?} is neither asc nor desc"))),
        };
        if words.next().is_some() {
            return Err(refuse("$orderby", format!("$orderby: {item:?} is not `property [asc|desc]`")));
        }
        let column = translate::property(entity, name).map_err(|m| refuse("$orderby", format!("$orderby: {m}")))?;
        terms.push((column.name, descending));
    }
    Ok(terms)
}

/// The `Prefer` header's `odata.maxpagesize` (or 4.01's `maxpagesize`), if any, clamped to the pages
/// served (at least one row).
pub fn max_page_size(prefer: Option<&str>) -> Option<i64> {
    let prefer = prefer?;
    prefer.split(',').find_map(|item| {
        let (name, value) = item.split_once('=')?;
        matches!(name.trim(), "odata.maxpagesize" | "maxpagesize")
            .then(|| value.trim().trim_matches('"').parse::<i64>().ok())
            .flatten()
            .map(|n| n.clamp(1, MAX_PAGE))
    })
}

/// The skiptoken of the page starting at `start`.
pub fn encode_token(entity: &Entity, start: &Start) -> String {
    let json = match start {
        Start::Offset(offset) => serde_json::json!({ "o": offset }),
        Start::Cursor(cursor) => match &cursor.after {
            None => serde_json::json!({ "o": cursor.offset }),
            Some((key, sent)) => {
                let cells: Vec<Value> = key.iter().map(cell_json).collect();
                serde_json::json!({ "o": cursor.offset, "k": cells, "n": sent, "e": entity.export })
            }
        },
    };
    URL_SAFE_NO_PAD.encode(json.to_string())
}

fn cell_json(cell: &Cell) -> Value {
    match cell {
        Cell::Text(Some(t)) => Value::from(t.as_str()),
        Cell::Int(Some(n)) => Value::from(*n),
        Cell::Float(Some(x)) => Value::from(*x),
        Cell::Bool(Some(b)) => Value::from(*b),
        Cell::Date(Some(d)) => Value::from(d.format("%Y-%m-%d").to_string()),
        Cell::Time(Some(t)) => Value::from(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        _ => Value::Null,
    }
}

fn decode_token(entity: &Entity, token: &str, own_order: bool) -> Result<Start, Refused> {
    let bad = || refuse("$skiptoken", "the $skiptoken is not one this service gave for this request");
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| bad())?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let offset = json.get("o").and_then(Value::as_i64).filter(|o| *o >= 0).ok_or_else(bad)?;
    if !own_order {
        return if json.get("k").is_some() { Err(bad()) } else { Ok(Start::Offset(offset)) };
    }
    let Some(key) = json.get("k") else {
        return Ok(Start::Cursor(Cursor { offset, after: None }));
    };
    if json.get("e").and_then(Value::as_str) != Some(entity.export) {
        return Err(bad());
    }
    let sent = json.get("n").and_then(Value::as_i64).filter(|n| *n >= 1).ok_or_else(bad)?;
    let values = key.as_array().ok_or_else(bad)?;
    let names: Vec<&str> = entity.order[..entity.keyset].iter().map(|o| o.trim_end_matches(" DESC")).collect();
    if values.len() != names.len() || names.is_empty() {
        return Err(bad());
    }
    let mut cells = Vec::new();
    for (name, value) in names.iter().zip(values) {
        let column = entity.columns.iter().find(|c| c.name == *name).ok_or_else(bad)?;
        let cell = match column.sql_type {
            SqlType::Text => value.as_str().map(|s| Cell::Text(Some(s.to_string()))),
            SqlType::Integer | SqlType::BigInt => value.as_i64().map(|n| Cell::Int(Some(n))),
            SqlType::Double => value.as_f64().map(|x| Cell::Float(Some(x))),
            SqlType::Bool => value.as_bool().map(|b| Cell::Bool(Some(b))),
            SqlType::Date => {
                value.as_str().and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()).map(|d| Cell::Date(Some(d)))
            }
            SqlType::Timestamp => value
                .as_str()
                .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok())
                .map(|t| Cell::Time(Some(t))),
        };
        cells.push(cell.ok_or_else(bad)?);
    }
    Ok(Start::Cursor(Cursor { offset, after: Some((cells, sent)) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let entity = &store::idps::IDPS_BI;
        let key = vec![
            Cell::Text(Some("HTI".into())),
            Cell::Int(Some(2)),
            Cell::Date(NaiveDate::from_ymd_opt(2024, 3, 1)),
            Cell::Text(Some("op".into())),
            Cell::Int(Some(7)),
            Cell::Text(Some("BA".into())),
            Cell::Text(Some("HT0101".into())),
        ];
        let start = Start::Cursor(Cursor { offset: 40, after: Some((key, 2)) });
        let token = encode_token(entity, &start);
        assert_eq!(decode_token(entity, &token, true).ok(), Some(start));
        assert!(decode_token(entity, &token, false).is_err(), "a keyset token does not page a client's order");
        assert!(decode_token(&store::population::POPULATION_BI, &token, true).is_err(), "nor another entity");
        assert!(decode_token(entity, "not a token", true).is_err());
        let offset = Start::Offset(10);
        assert_eq!(decode_token(entity, &encode_token(entity, &offset), false).ok(), Some(offset));
    }

    #[test]
    fn page_size_preference() {
        assert_eq!(max_page_size(Some("odata.maxpagesize=50")), Some(50));
        assert_eq!(max_page_size(Some("return=minimal, odata.maxpagesize=0")), Some(1));
        assert_eq!(max_page_size(Some("maxpagesize=9999999")), Some(MAX_PAGE));
        assert_eq!(max_page_size(Some("odata.track-changes")), None);
        assert_eq!(max_page_size(None), None);
    }

    #[test]
    fn plus_is_a_space_and_percent_2b_a_plus() {
        let pairs = decode_query("$filter=retrieved_at+ge%202024-01-01T00:00:00%2B01:00&$top=5").expect("decodes");
        assert_eq!(pairs[0].1, "retrieved_at ge 2024-01-01T00:00:00+01:00");
        assert_eq!(pairs[1], ("$top".into(), "5".into()));
    }
}
