//! Keyset pages: a read asks for one row more than the page, so it knows whether more follow without
//! counting them.

/// The row limit a read asks for to fill a page of `size` and learn whether more follow.
pub fn probe_limit(size: usize) -> i64 {
    size as i64 + 1
}

/// Cuts rows read with [`probe_limit`] to the page, and says whether more follow.
pub fn split_page<T>(mut rows: Vec<T>, size: usize) -> (Vec<T>, bool) {
    let more = rows.len() > size;
    rows.truncate(size);
    (rows, more)
}
