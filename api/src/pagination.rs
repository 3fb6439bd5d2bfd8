//! Relay pagination over ordered results: turning first/after/last/before into an offset window.

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

/// The rows [start, end) of `total` that a Relay request selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: usize,
    pub end: usize,
}

impl Window {
    pub fn new(
        total: usize,
        after: Option<usize>,
        before: Option<usize>,
        first: Option<usize>,
        last: Option<usize>,
    ) -> Result<Window, ApiError> {
        for (name, value) in [("first", first), ("last", last)] {
            if value.is_some_and(|v| v > MAX_PAGE) {
                return Err(ApiError::LimitExceeded(format!("`{name}` may be at most {MAX_PAGE}")));
            }
        }
        let mut start = after.map(|a| a + 1).unwrap_or(0).min(total);
        let mut end = before.unwrap_or(total).min(total).max(start);
        match (first, last) {
            (Some(f), _) => end = end.min(start + f),
            (None, Some(l)) => start = start.max(end.saturating_sub(l)),
            (None, None) => end = end.min(start + DEFAULT_PAGE),
        }
        Ok(Window { start, end })
    }

    pub fn has_previous(&self) -> bool {
        self.start > 0
    }

    pub fn has_next(&self, total: usize) -> bool {
        self.end < total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(Window::new(10, None, None, Some(3), None).ok(), Some(Window { start: 0, end: 3 }));
        assert_eq!(Window::new(10, Some(2), None, Some(3), None).ok(), Some(Window { start: 3, end: 6 }));
        assert_eq!(Window::new(10, None, None, None, Some(4)).ok(), Some(Window { start: 6, end: 10 }));
        assert_eq!(Window::new(10, Some(8), None, Some(5), None).ok(), Some(Window { start: 9, end: 10 }));
        assert_eq!(Window::new(10, Some(20), None, Some(5), None).ok(), Some(Window { start: 10, end: 10 }));
        assert!(matches!(Window::new(10, None, None, Some(1001), None), Err(ApiError::LimitExceeded(_))));
    }
}
