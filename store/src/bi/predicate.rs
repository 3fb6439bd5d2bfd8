//! Conditions of any shape on an entity's columns (the OData feed's `$filter`), written as SQL with
//! every value bound to a placeholder, the same on SQLite and PostgreSQL.
//!
//! Comparisons follow OData's two-valued logic rather than SQL's three-valued one: a comparison with a
//! missing value is false (not unknown), so `not (x gt 5)` holds for a row where `x` is missing, and
//! `x ne 5` too. Text tests are case-sensitive on both backends (`LIKE` is not on SQLite).

use super::{Bind, Entity, Statement};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Compare {
    /// The same comparison with its sides swapped (`5 lt x` is `x gt 5`).
    pub fn flipped(self) -> Compare {
        match self {
            Compare::Gt => Compare::Lt,
            Compare::Ge => Compare::Le,
            Compare::Lt => Compare::Gt,
            Compare::Le => Compare::Ge,
            other => other,
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Compare::Eq => "=",
            Compare::Ne => "<>",
            Compare::Gt => ">",
            Compare::Ge => ">=",
            Compare::Lt => "<",
            Compare::Le => "<=",
        }
    }
}

/// A test of a text column against a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextTest {
    Contains,
    StartsWith,
    EndsWith,
}

/// A condition on the columns of one entity's view. Column names must be the entity's (checked when
/// written: an unknown one is an error, never SQL).
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// Always true or always false.
    Const(bool),
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Not(Box<Predicate>),
    /// The column compared with a (present) value of its own type.
    Compare(&'static str, Compare, Bind),
    /// The column is missing (`eq null`).
    IsNull(&'static str),
    /// The text column contains, starts or ends with the text.
    Text(&'static str, TextTest, String),
    /// The column equals one of the values.
    In(&'static str, Vec<Bind>),
}

impl Entity {
    /// Writes `predicate` into `statement` as a parenthesised SQL condition that is never NULL.
    pub(crate) fn write_predicate(&self, statement: &mut Statement, predicate: &Predicate) -> Result<(), String> {
        let nullable = |name: &str| -> Result<bool, String> {
            self.column(name).map(|c| c.nullable).ok_or_else(|| format!("{} has no column {name}", self.view))
        };
        match predicate {
            Predicate::Const(true) => {
                statement.push("(1 = 1)");
            }
            Predicate::Const(false) => {
                statement.push("(1 = 0)");
            }
            Predicate::And(parts) | Predicate::Or(parts) => {
                if parts.is_empty() {
                    statement.push(if matches!(predicate, Predicate::And(_)) { "(1 = 1)" } else { "(1 = 0)" });
                    return Ok(());
                }
                let joint = if matches!(predicate, Predicate::And(_)) { " AND " } else { " OR " };
                statement.push("(");
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        statement.push(joint);
                    }
                    self.write_predicate(statement, part)?;
                }
                statement.push(")");
            }
            Predicate::Not(inner) => {
                statement.push("(NOT ");
                self.write_predicate(statement, inner)?;
                statement.push(")");
            }
            Predicate::IsNull(column) => {
                nullable(column)?;
                statement.push(&format!("({column} IS NULL)"));
            }
            Predicate::Compare(column, op, value) => {
                let nullable = nullable(column)?;
                match (op, nullable) {
                    (Compare::Ne, true) => {
                        statement.push(&format!("({column} IS NULL OR {column} <> ")).bind(value.clone()).push(")");
                    }
                    (_, true) => {
                        statement.push(&format!("({column} IS NOT NULL AND {column} {} ", op.sql()));
                        statement.bind(value.clone()).push(")");
                    }
                    (_, false) => {
                        statement.push(&format!("({column} {} ", op.sql())).bind(value.clone()).push(")");
                    }
                }
            }
            Predicate::In(column, values) => {
                let nullable = nullable(column)?;
                if values.is_empty() {
                    statement.push("(1 = 0)");
                    return Ok(());
                }
                statement.push("(");
                if nullable {
                    statement.push(&format!("{column} IS NOT NULL AND "));
                }
                statement.push(&format!("{column} IN ("));
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        statement.push(", ");
                    }
                    statement.bind(value.clone());
                }
                statement.push("))");
            }
            Predicate::Text(column, test, text) => {
                let nullable = nullable(column)?;
                statement.push("(");
                if nullable {
                    statement.push(&format!("{column} IS NOT NULL AND "));
                }
                if text.is_empty() {
                    // Every text contains, starts and ends with the empty text.
                    statement.push("1 = 1)");
                    return Ok(());
                }
                let postgres = statement.postgres;
                let value = || Bind::Text(text.clone());
                match test {
                    TextTest::Contains if postgres => {
                        statement.push(&format!("strpos({column}, ")).bind(value()).push(") > 0");
                    }
                    TextTest::Contains => {
                        statement.push(&format!("instr({column}, ")).bind(value()).push(") > 0");
                    }
                    TextTest::StartsWith => {
                        statement.push(&format!("substr({column}, 1, length(")).bind(value()).push(")) = ");
                        statement.bind(value());
                    }
                    TextTest::EndsWith if postgres => {
                        statement.push(&format!("right({column}, length(")).bind(value()).push(")) = ");
                        statement.bind(value());
                    }
                    TextTest::EndsWith => {
                        statement.push(&format!("substr({column}, -length(")).bind(value()).push(")) = ");
                        statement.bind(value());
                    }
                }
                statement.push(")");
            }
        }
        Ok(())
    }
}
