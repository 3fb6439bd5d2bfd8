//! The `$filter` expression language (OData v4 URL conventions, §5.1.1): a lexer and a recursive
//! descent parser giving an untyped [`Expr`]; [`crate::odata::translate`] types it against an entity.
//!
//! What it reads: `eq ne gt ge lt le`, `and or not`, parentheses, `in (...)`, the functions
//! `contains`, `startswith`, `endswith`, and literals: strings (`'it''s'`), numbers (`42`, `-1.5`,
//! `2e3`), `true`, `false`, `null`, dates (`2024-01-31`) and instants with an offset
//! (`2024-01-31T12:00:00Z`, `...+01:00`). Anything else is refused with the position it stopped at.
//! (No crate fits: the Rust OData parsers on crates.io are 0.0.x work in progress.)

use chrono::{DateTime, FixedOffset, NaiveDate};

/// How deeply expressions may nest (parentheses, `not`): a bound so that no URL can exhaust the stack.
const MAX_DEPTH: usize = 64;
/// How many `and`/`or` operators and `in` values one expression may have (the typed tree and its SQL
/// are walked recursively; and a filter this long is a mistake, not a question).
const MAX_TERMS: usize = 1_000;

/// A literal as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    String(String),
    /// A number, as written (its type depends on the property it meets).
    Number(String),
    Date(NaiveDate),
    DateTime(DateTime<FixedOffset>),
}

/// A comparison operator: the store's own, which the typed filter becomes.
pub use store::bi::predicate::Compare as CompareOp;

/// A parsed, untyped expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Property(String),
    Literal(Literal),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Box<Expr>, CompareOp, Box<Expr>),
    In(Box<Expr>, Vec<Expr>),
    Call(String, Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Literal(Literal),
    Open,
    Close,
    Comma,
    Equals,
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("`{w}`"),
        Token::Literal(l) => format!("the literal {l:?}"),
        Token::Open => "`(`".into(),
        Token::Close => "`)`".into(),
        Token::Comma => "`,`".into(),
        Token::Equals => "`=`".into(),
    }
}

/// Splits the text into tokens, each with the character position it starts at.
fn lex(text: &str) -> Result<Vec<(usize, Token)>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let token = match c {
            '(' => {
                i += 1;
                Token::Open
            }
            ')' => {
                i += 1;
                Token::Close
            }
            ',' => {
                i += 1;
                Token::Comma
            }
            '=' => {
                i += 1;
                Token::Equals
            }
            '\'' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("the string starting at position {start} is not closed")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            value.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            value.push(*ch);
                            i += 1;
                        }
                    }
                }
                Token::Literal(Literal::String(value))
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                match word.as_str() {
                    "null" => Token::Literal(Literal::Null),
                    "true" => Token::Literal(Literal::Bool(true)),
                    "false" => Token::Literal(Literal::Bool(false)),
                    _ => Token::Word(word),
                }
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                // A date, an instant or a number: the longest run of the characters they use.
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '-' | '+' | ':' | '.'))
                {
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                Token::Literal(number_or_date(&raw).ok_or_else(|| {
                    format!("{raw:?} at position {start} is not a number, a date (YYYY-MM-DD) or an instant with an offset (YYYY-MM-DDThh:mm:ssZ)")
                })?)
            }
            other => return Err(format!("unexpected character {other:?} at position {start}")),
        };
        tokens.push((start, token));
    }
    Ok(tokens)
}

fn number_or_date(raw: &str) -> Option<Literal> {
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        && raw.len() == 10
    {
        return Some(Literal::Date(date));
    }
    if raw.contains('T') {
        return DateTime::parse_from_rfc3339(raw).ok().map(Literal::DateTime);
    }
    let plain = raw.strip_prefix(['-', '+']).unwrap_or(raw);
    let valid = !plain.is_empty()
        && plain.chars().next().is_some_and(|c| c.is_ascii_digit())
        && plain.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && raw.parse::<f64>().is_ok_and(f64::is_finite);
    valid.then(|| Literal::Number(raw.to_string()))
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    depth: usize,
    terms: usize,
    length: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.at).map(|(p, _)| *p).unwrap_or(self.length)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).map(|(_, t)| t.clone());
        self.at += 1;
        token
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == word)
    }

    fn expect(&mut self, wanted: Token, what: &str) -> Result<(), String> {
        let position = self.position();
        match self.next() {
            Some(token) if token == wanted => Ok(()),
            Some(token) => Err(format!("expected {what} at position {position}, found {}", describe(&token))),
            None => Err(format!("expected {what} at the end")),
        }
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("the expression nests more than {MAX_DEPTH} levels deep"));
        }
        Ok(())
    }

    fn term(&mut self) -> Result<(), String> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(format!("the expression has more than {MAX_TERMS} terms"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.term()?;
            self.next();
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.term()?;
            self.next();
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_word("not") {
            self.next();
            self.deeper()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let left = self.primary()?;
        let op = match self.peek() {
            Some(Token::Word(w)) => match w.as_str() {
                "eq" => Some(CompareOp::Eq),
                "ne" => Some(CompareOp::Ne),
                "gt" => Some(CompareOp::Gt),
                "ge" => Some(CompareOp::Ge),
                "lt" => Some(CompareOp::Lt),
                "le" => Some(CompareOp::Le),
                "in" => {
                    self.next();
                    self.expect(Token::Open, "`(` after `in`")?;
                    let mut items = vec![self.primary()?];
                    while self.peek() == Some(&Token::Comma) {
                        self.term()?;
                        self.next();
                        items.push(self.primary()?);
                    }
                    self.expect(Token::Close, "`)` closing the `in` list")?;
                    return Ok(Expr::In(Box::new(left), items));
                }
                "and" | "or" => None,
                other => {
                    return Err(format!(
                        "`{other}` at position {} is not an operator this service supports (eq, ne, gt, ge, lt, le, in, and, or, not)",
                        self.position()
                    ));
                }
            },
            _ => None,
        };
        let Some(op) = op else { return Ok(left) };
        self.next();
        let right = self.primary()?;
        Ok(Expr::Compare(Box::new(left), op, Box::new(right)))
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let position = self.position();
        match self.next() {
            Some(Token::Open) => {
                self.deeper()?;
                let inner = self.or()?;
                self.depth -= 1;
                self.expect(Token::Close, "`)`")?;
                Ok(inner)
            }
            Some(Token::Literal(literal)) => Ok(Expr::Literal(literal)),
            Some(Token::Word(word)) if self.peek() == Some(&Token::Open) => {
                self.next();
                self.deeper()?;
                let mut arguments = Vec::new();
                if self.peek() != Some(&Token::Close) {
                    arguments.push(self.primary()?);
                    while self.peek() == Some(&Token::Comma) {
                        self.next();
                        arguments.push(self.primary()?);
                    }
                }
                self.expect(Token::Close, "`)` closing the function's arguments")?;
                self.depth -= 1;
                Ok(Expr::Call(word, arguments))
            }
            Some(Token::Word(word)) if matches!(word.as_str(), "and" | "or" | "not" | "eq" | "ne" | "in") => {
                Err(format!("expected a property or a value at position {position}, found `{word}`"))
            }
            Some(Token::Word(word)) => Ok(Expr::Property(word)),
            Some(token) => {
                Err(format!("expected a property or a value at position {position}, found {}", describe(&token)))
            }
            None => Err("the expression ends too early".into()),
        }
    }
}

/// Parses a `$filter` expression.
pub fn parse(text: &str) -> Result<Expr, String> {
    let tokens = lex(text)?;
    if tokens.is_empty() {
        return Err("the expression is empty".into());
    }
    let mut parser = Parser { tokens, at: 0, depth: 0, terms: 0, length: text.chars().count() };
    let expr = parser.or()?;
    if let Some(token) = parser.peek() {
        return Err(format!("unexpected {} at position {}", describe(token), parser.position()));
    }
    Ok(expr)
}

/// Parses a key predicate, the text between the parentheses of `Idps(...)`: one value, or
/// `name=value` pairs separated by commas.
pub fn parse_key(text: &str) -> Result<Vec<(Option<String>, Literal)>, String> {
    let tokens = lex(text)?;
    let mut parts = Vec::new();
    let mut iter = tokens.into_iter().map(|(_, t)| t).peekable();
    loop {
        let part = match (iter.next(), iter.peek()) {
            (Some(Token::Word(name)), Some(Token::Equals)) => {
                iter.next();
                match iter.next() {
                    Some(Token::Literal(l)) => (Some(name), l),
                    _ => return Err(format!("the key property {name} needs a value")),
                }
            }
            (Some(Token::Literal(l)), _) => (None, l),
            _ => return Err("a key is one value, or name=value pairs separated by commas".into()),
        };
        parts.push(part);
        match iter.next() {
            None => return Ok(parts),
            Some(Token::Comma) => {}
            Some(_) => return Err("a key is one value, or name=value pairs separated by commas".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(name: &str) -> Box<Expr> {
        Box::new(Expr::Property(name.into()))
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let e = parse("a eq 1 or not b and c gt -2.5").expect("parses");
        let expected = Expr::Or(
            Box::new(Expr::Compare(prop("a"), CompareOp::Eq, Box::new(Expr::Literal(Literal::Number("1".into()))))),
            Box::new(Expr::And(
                Box::new(Expr::Not(prop("b"))),
                Box::new(Expr::Compare(
                    prop("c"),
                    CompareOp::Gt,
                    Box::new(Expr::Literal(Literal::Number("-2.5".into()))),
                )),
            )),
        );
        assert_eq!(e, expected);
    }

    #[test]
    fn literals() {
        assert_eq!(parse("'it''s'"), Ok(Expr::Literal(Literal::String("it's".into()))));
        assert!(matches!(parse("2024-01-31"), Ok(Expr::Literal(Literal::Date(_)))));
        assert!(matches!(parse("2024-01-31T10:00:00+01:00"), Ok(Expr::Literal(Literal::DateTime(_)))));
        assert!(matches!(parse("2024-01-31T10:00:00.5Z"), Ok(Expr::Literal(Literal::DateTime(_)))));
        assert_eq!(parse("null"), Ok(Expr::Literal(Literal::Null)));
        assert!(matches!(parse("x in ('a', 'b')"), Ok(Expr::In(_, items)) if items.len() == 2));
        assert!(matches!(parse("contains(name, 'Mo')"), Ok(Expr::Call(f, args)) if f == "contains" && args.len() == 2));
    }

    #[test]
    fn bad_input_is_refused() {
        for bad in [
            "",
            "a eq",
            "a eq 'x",
            "(a eq 1",
            "a eq 1)",
            "a like 'x'",
            "a eq 1 and",
            "a eq 1x",
            "a eq 2024-13-45",
            "a eq #",
            "eq 1",
            "a eq 2024-01-01T10:00:00",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} is refused");
        }
        assert!(parse(&format!("{}a eq 1{}", "(".repeat(500), ")".repeat(500))).is_err(), "deep nesting is bounded");
        assert!(parse(&format!("{}a", "not ".repeat(500))).is_err());
        assert!(parse(&format!("{}a{}", "f(".repeat(500), ")".repeat(500))).is_err());
        assert!(parse(&vec!["a eq 1"; 2_000].join(" or ")).is_err(), "long chains are bounded");
        assert!(parse(&format!("a in ({})", vec!["1"; 2_000].join(","))).is_err());
        assert!(parse(&vec!["a eq 1"; 500].join(" and ")).is_ok());
    }

    #[test]
    fn keys() {
        assert_eq!(parse_key("'HTI'"), Ok(vec![(None, Literal::String("HTI".into()))]));
        let pairs = parse_key("country_iso3='MLI',year=2021").expect("parses");
        assert_eq!(pairs[1], (Some("year".into()), Literal::Number("2021".into())));
        assert!(parse_key("a=").is_err());
        assert!(parse_key("").is_err());
    }
}
