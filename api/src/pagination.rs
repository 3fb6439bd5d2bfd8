//! Relay pagination: page sizes, what a page costs, and opaque keyset cursors.
//!
//! A cursor is the position of a row in its list's order (its sort key and row id), never an offset:
//! the next page is "the rows after this one", so a row written between two requests neither repeats
//! a row nor skips one. It is base64url of JSON `[list, key]`; `list` names the list and its order, so
//! that a cursor of one list is refused by another.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// The largest page a client may ask for.
pub const MAX_PAGE: usize = 1000;
/// The page size when a client gives neither `first` nor `last`.
pub const DEFAULT_PAGE: usize = 100;

/// A connection's complexity: what one item costs times the items a page may hold, so that a query
/// asking for big pages of nested lists is refused before it runs.
pub fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let items = first.or(last).map(|n| n.clamp(0, MAX_PAGE as i32) as usize).unwrap_or(DEFAULT_PAGE);
    1 + items.max(1) / 10 * child_complexity.max(1)
}

/// A validated page request: its cursors decoded into positions of type `K`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageArgs<K> {
    pub after: Option<K>,
    pub before: Option<K>,
    pub first: Option<usize>,
    pub last: Option<usize>,
}

impl<K: DeserializeOwned> PageArgs<K> {
    /// Checks the sizes (not negative, at most [`MAX_PAGE`]) and decodes the cursors of list `list`.
    pub fn parse(
        list: &str,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<PageArgs<K>, ApiError> {
        Ok(PageArgs {
            first: page_size(first, "first")?,
            last: page_size(last, "last")?,
            after: after.map(|c| decode_cursor(list, &c)).transpose()?,
            before: before.map(|c| decode_cursor(list, &c)).transpose()?,
        })
    }
}

impl<K> PageArgs<K> {
    /// A page counted from the end (`last` without `first`).
    pub fn backward(&self) -> bool {
        self.first.is_none() && self.last.is_some()
    }

    /// How many rows the page holds at most.
    pub fn size(&self) -> usize {
        self.first.or(self.last).unwrap_or(DEFAULT_PAGE)
    }
}

/// `first` or `last` as a size: not negative, at most [`MAX_PAGE`].
fn page_size(value: Option<i32>, name: &str) -> Result<Option<usize>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let size = usize::try_from(value).map_err(|_| ApiError::BadUserInput(format!("`{name}` must not be negative")))?;
    if size > MAX_PAGE {
        return Err(ApiError::LimitExceeded(format!("`{name}` may be at most {MAX_PAGE}")));
    }
    Ok(Some(size))
}

/// The cursor of the row at `key` in list `list`.
pub fn encode_cursor<K: Serialize>(list: &str, key: &K) -> String {
    let json = serde_json::to_vec(&(list, key)).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// The position a cursor of list `list` stands for.
fn decode_cursor<K: DeserializeOwned>(list: &str, cursor: &str) -> Result<K, ApiError> {
    let invalid = || ApiError::BadUserInput(format!("invalid cursor {cursor:?}: pass a cursor this list gave"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| invalid())?;
    let (kind, key): (String, K) = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if kind != list {
        return Err(invalid());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_belong_to_their_list() {
        let cursor = encode_cursor("runs", &42_i64);
        assert!(cursor.parse::<i64>().is_err(), "opaque");
        let args = PageArgs::<i64>::parse("runs", Some(cursor.clone()), None, Some(5), None).expect("valid");
        assert_eq!((args.after, args.size(), args.backward()), (Some(42), 5, false));
        assert!(matches!(
            PageArgs::<i64>::parse("sites", Some(cursor), None, None, None),
            Err(ApiError::BadUserInput(_))
        ));
        assert!(matches!(
            PageArgs::<i64>::parse("runs", Some("2".into()), None, None, None),
            Err(ApiError::BadUserInput(_))
        ));
        assert!(matches!(
            PageArgs::<i64>::parse("runs", None, None, Some(1001), None),
            Err(ApiError::LimitExceeded(_))
        ));
        assert!(matches!(PageArgs::<i64>::parse("runs", None, None, Some(-1), None), Err(ApiError::BadUserInput(_))));
        assert!(PageArgs::<i64>::parse("runs", None, None, None, Some(3)).expect("valid").backward());
    }
}
