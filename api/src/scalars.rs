//! The two time scalars of the schema. Instants are `DateTime`: RFC 3339 in UTC with `Z`, to the
//! second (`2026-11-30T10:18:37Z`), so that every client reads them as UTC (a naive timestamp is read
//! as local time by JavaScript). Calendar dates are `Date` (`2026-11-30`). The exports and the CLI
//! write instants with [`utc_rfc3339`], so all of them agree.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{NaiveDate, NaiveDateTime, Timelike};

/// An instant in UTC, as RFC 3339 with `Z`, to the second.
pub fn utc_rfc3339(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An instant: RFC 3339 in UTC with `Z`, to the second, e.g. `2026-11-30T10:18:37Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub NaiveDateTime);

impl From<NaiveDateTime> for DateTime {
    fn from(at: NaiveDateTime) -> Self {
        DateTime(at)
    }
}

impl From<chrono::DateTime<chrono::Utc>> for DateTime {
    fn from(at: chrono::DateTime<chrono::Utc>) -> Self {
        DateTime(at.naive_utc())
    }
}

/// An instant: RFC 3339 in UTC with `Z`, to the second, e.g. `2026-11-30T10:18:37Z`. Input may carry
/// any offset; it is converted to UTC.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
                .map(|at| DateTime(at.naive_utc().with_nanosecond(0).unwrap_or(at.naive_utc())))
                .map_err(|_| InputValueError::custom(format!("{text:?} is not an RFC 3339 instant"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(utc_rfc3339(self.0))
    }
}

/// A calendar date, ISO 8601 `YYYY-MM-DD`, e.g. `2020-10-31`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

impl From<NaiveDate> for Date {
    fn from(day: NaiveDate) -> Self {
        Date(day)
    }
}

/// A calendar date, ISO 8601 `YYYY-MM-DD`, e.g. `2020-10-31`.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("{text:?} is not a date YYYY-MM-DD"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_utc_with_z_to_the_second() {
        let at = NaiveDate::from_ymd_opt(2026, 11, 30).and_then(|d| d.and_hms_micro_opt(10, 18, 37, 318_538));
        let at = at.expect("a valid instant");
        assert_eq!(DateTime(at).to_value(), Value::String("2026-11-30T10:18:37Z".into()));
        let parsed = DateTime::parse(Value::String("2026-11-30T11:18:37+01:00".into())).expect("RFC 3339");
        assert_eq!(parsed.to_value(), Value::String("2026-11-30T10:18:37Z".into()));
        assert!(Date::parse(Value::String("30/11/2026".into())).is_err());
    }
}
