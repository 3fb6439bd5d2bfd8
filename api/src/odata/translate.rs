//! Types a parsed `$filter` ([`Expr`]) against an entity's columns and turns it into the store's
//! [`Predicate`] (SQL with bound values, written by the store). Every literal is checked against the
//! property it meets: a number against a text property, a date against an instant, is refused
//! rather than compared loosely.

use chrono::Utc;
use store::bi::predicate::{Compare, Predicate, TextTest};
use store::bi::{Bind, Column, Entity, SqlType};

use super::filter::{Expr, Literal};
use super::metadata::edm_type;

/// The entity's column of that name (OData properties are the columns' names).
pub fn property<'e>(entity: &'e Entity, name: &str) -> Result<&'e Column, String> {
    entity
        .columns
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("{name:?} is not a property of this entity set; see $metadata for its properties"))
}

/// A literal as a bound value of the column's type (`None` for `null`).
pub fn typed(column: &Column, literal: &Literal) -> Result<Option<Bind>, String> {
    let mismatch =
        |what: &str| format!("{} is {}: it cannot be compared with {what}", column.name, edm_type(column.sql_type));
    Ok(Some(match (column.sql_type, literal) {
        (_, Literal::Null) => return Ok(None),
        (SqlType::Text, Literal::String(s)) => Bind::Text(s.clone()),
        (SqlType::Integer, Literal::Number(n)) => {
            Bind::Integer(n.parse::<i32>().map_err(|_| mismatch(&format!("{n} (not a 32-bit whole number)")))?)
        }
        (SqlType::BigInt, Literal::Number(n)) => {
            Bind::BigInt(n.parse::<i64>().map_err(|_| mismatch(&format!("{n} (not a 64-bit whole number)")))?)
        }
        (SqlType::Double, Literal::Number(n)) => Bind::Double(n.parse::<f64>().map_err(|_| mismatch(n))?),
        (SqlType::Bool, Literal::Bool(b)) => Bind::Bool(*b),
        (SqlType::Date, Literal::Date(d)) => Bind::Date(*d),
        (SqlType::Timestamp, Literal::DateTime(t)) => Bind::Timestamp(t.with_timezone(&Utc).naive_utc()),
        (_, Literal::String(s)) => return Err(mismatch(&format!("the string {s:?}"))),
        (_, Literal::Number(n)) => return Err(mismatch(&format!("the number {n}"))),
        (_, Literal::Bool(b)) => return Err(mismatch(&format!("the boolean {b}"))),
        (_, Literal::Date(d)) => return Err(mismatch(&format!("the date {d}"))),
        (_, Literal::DateTime(t)) => return Err(mismatch(&format!("the instant {}", t.to_rfc3339()))),
    }))
}

/// The predicate of a boolean `$filter` expression.
pub fn predicate(entity: &'static Entity, expr: &Expr) -> Result<Predicate, String> {
    Ok(match expr {
        Expr::And(a, b) => Predicate::And(vec![predicate(entity, a)?, predicate(entity, b)?]),
        Expr::Or(a, b) => Predicate::Or(vec![predicate(entity, a)?, predicate(entity, b)?]),
        Expr::Not(inner) => Predicate::Not(Box::new(predicate(entity, inner)?)),
        Expr::Literal(Literal::Bool(b)) => Predicate::Const(*b),
        Expr::Property(name) => {
            let column = property(entity, name)?;
            if column.sql_type != SqlType::Bool {
                return Err(format!("{name} is {}, not a condition", edm_type(column.sql_type)));
            }
            Predicate::Compare(column.name, Compare::Eq, Bind::Bool(true))
        }
        Expr::Compare(left, op, right) => comparison(entity, left, *op, right)?,
        Expr::In(left, items) => {
            let Expr::Property(name) = left.as_ref() else {
                return Err("`in` needs a property on its left".into());
            };
            let column = property(entity, name)?;
            let (mut values, mut with_null) = (Vec::new(), false);
            for item in items {
                let Expr::Literal(literal) = item else {
                    return Err("`in` lists values only".into());
                };
                match typed(column, literal)? {
                    Some(bind) => values.push(bind),
                    None => with_null = true,
                }
            }
            let listed = Predicate::In(column.name, values);
            if with_null { Predicate::Or(vec![Predicate::IsNull(column.name), listed]) } else { listed }
        }
        Expr::Call(function, arguments) => call(entity, function, arguments)?,
        Expr::Literal(other) => return Err(format!("the literal {other:?} is not a condition")),
    })
}

fn comparison(entity: &'static Entity, left: &Expr, op: Compare, right: &Expr) -> Result<Predicate, String> {
    match (left, right) {
        (Expr::Property(name), Expr::Literal(literal)) => {
            let column = property(entity, name)?;
            Ok(match (typed(column, literal)?, op) {
                (Some(bind), op) => Predicate::Compare(column.name, op, bind),
                (None, Compare::Eq) => Predicate::IsNull(column.name),
                (None, Compare::Ne) => Predicate::Not(Box::new(Predicate::IsNull(column.name))),
                // An order with null is false (OData's null propagates to false in a filter).
                (None, _) => Predicate::Const(false),
            })
        }
        (Expr::Literal(_), Expr::Property(_)) => comparison(entity, right, op.flipped(), left),
        (Expr::Property(a), Expr::Property(b)) => {
            Err(format!("comparing two properties ({a}, {b}) is not supported; compare a property with a value"))
        }
        // `contains(name,'x') eq true`, as some tools write it.
        (condition, Expr::Literal(Literal::Bool(b))) | (Expr::Literal(Literal::Bool(b)), condition)
            if matches!(op, Compare::Eq | Compare::Ne) =>
        {
            let inner = predicate(entity, condition)?;
            if (op == Compare::Eq) == *b { Ok(inner) } else { Ok(Predicate::Not(Box::new(inner))) }
        }
        _ => Err("a comparison needs a property on one side and a value on the other".into()),
    }
}

fn call(entity: &'static Entity, function: &str, arguments: &[Expr]) -> Result<Predicate, String> {
    let test = match function {
        "contains" => TextTest::Contains,
        "startswith" => TextTest::StartsWith,
        "endswith" => TextTest::EndsWith,
        other => {
            return Err(format!("the function {other} is not supported; these are: contains, startswith, endswith"));
        }
    };
    match arguments {
        [Expr::Property(name), Expr::Literal(Literal::String(text))] => {
            let column = property(entity, name)?;
            if column.sql_type != SqlType::Text {
                return Err(format!("{function} needs a text property; {name} is {}", edm_type(column.sql_type)));
            }
            Ok(Predicate::Text(column.name, test, text.clone()))
        }
        _ => Err(format!("{function} takes a text property and a string: {function}(name,'text')")),
    }
}
