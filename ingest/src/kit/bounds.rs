//! The largest figures a source row may carry. A figure beyond them is a mistake (a placeholder such
//! as 2^63-1, a unit slip), never data: the row is rejected with its reason. Bounded figures also keep
//! every sum the store and the API make far from the 64-bit limit: a total of a billion figures of
//! at most [`MAX_PEOPLE`] each is still under 2^63.

/// The most people one figure can count: more than the world's population (8.1 billion in 2024).
pub const MAX_PEOPLE: i64 = 10_000_000_000;

/// The most US dollars one funding figure can be: far beyond the largest appeal ever made (about
/// 10^10) and global humanitarian requirements in a year (about 5 × 10^10).
pub const MAX_USD: i64 = 10_000_000_000_000;

/// `value` of `field`, if it is within [`MAX_PEOPLE`].
pub fn people(field: &str, value: i64) -> Result<i64, String> {
    if value > MAX_PEOPLE {
        return Err(format!("{field} is {value}, more people than live on Earth (at most {MAX_PEOPLE})"));
    }
    Ok(value)
}

/// `value` of `field`, if it is within [`MAX_USD`].
pub fn usd(field: &str, value: i64) -> Result<i64, String> {
    if value > MAX_USD {
        return Err(format!("{field} is {value} USD, more than any funding figure can be (at most {MAX_USD})"));
    }
    Ok(value)
}
