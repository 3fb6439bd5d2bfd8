//! The SQL crisisgraph actually runs for one request, read back from the PostgreSQL server log, so that
//! the pgbench floor is the same statements and not hand-written equivalents.
//!
//! The bench turns on `log_min_duration_statement = 0` for its database, sends one request, and hands
//! the new part of the server log to [`statements`]: every executed statement of the given backends,
//! in log order, with the `DETAIL:  parameters: $1 = '...'` values substituted as literals. Only the
//! parsing lives here; starting servers and reading files is the bench driver's job.

/// One record of a PostgreSQL stderr log: the backend's pid, the severity (`LOG`, `DETAIL`, ...) and
/// the message, continuation lines included (their leading tab removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub pid: u32,
    pub severity: String,
    pub message: String,
}

const SEVERITIES: [&str; 10] =
    ["LOG", "DETAIL", "STATEMENT", "ERROR", "WARNING", "NOTICE", "HINT", "CONTEXT", "FATAL", "INFO"];

/// Splits a stderr log (any `log_line_prefix` that starts with a timestamp and holds `[%p]`) into records.
pub fn records(text: &str) -> Vec<LogRecord> {
    let mut out: Vec<LogRecord> = Vec::new();
    for line in text.lines() {
        match record_start(line) {
            Some(record) => out.push(record),
            None => {
                if let Some(last) = out.last_mut() {
                    last.message.push('\n');
                    last.message.push_str(line.strip_prefix('\t').unwrap_or(line));
                }
            }
        }
    }
    out
}

/// A line that opens a record: `2026-11-29 21:24:23.035 UTC [2213] user@db LOG:  message`.
fn record_start(line: &str) -> Option<LogRecord> {
    let bytes = line.as_bytes();
    let dated = bytes.len() > 10
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b' ';
    if !dated {
        return None;
    }
    let open = line.find('[')?;
    let close = open + line[open..].find(']')?;
    let pid = line[open + 1..close].parse::<u32>().ok()?;
    let rest = &line[close + 1..];
    SEVERITIES.iter().find_map(|severity| {
        let marker = format!("{severity}:  ");
        rest.find(&marker).map(|at| LogRecord {
            pid,
            severity: (*severity).to_string(),
            message: rest[at + marker.len()..].to_string(),
        })
    })
}

/// The statements the backends `pids` executed, in log order, parameters substituted, ready for a pgbench
/// script. Understands both `log_min_duration_statement` (`duration: ... ms  execute NAME: ...`) and
/// `log_statement = all` (`statement: ...`); parse and bind records are skipped (the execute follows).
pub fn statements(log: &str, pids: &[u32]) -> Vec<String> {
    let records: Vec<LogRecord> = records(log).into_iter().filter(|r| pids.contains(&r.pid)).collect();
    let mut out = Vec::new();
    for (i, record) in records.iter().enumerate() {
        if record.severity != "LOG" {
            continue;
        }
        let message = strip_duration(&record.message);
        let sql = if let Some(sql) = message.strip_prefix("statement: ") {
            sql
        } else if let Some(rest) = message.strip_prefix("execute ") {
            match rest.split_once(": ") {
                Some((_, sql)) => sql,
                None => continue,
            }
        } else {
            continue;
        };
        let parameters = records[i + 1..]
            .iter()
            .find(|r| r.pid == record.pid)
            .filter(|r| r.severity == "DETAIL")
            .and_then(|r| r.message.strip_prefix("parameters: "))
            .and_then(parse_parameters)
            .unwrap_or_default();
        out.push(substitute(sql.trim().trim_end_matches(';').trim_end(), &parameters));
    }
    out
}

fn strip_duration(message: &str) -> &str {
    match message.strip_prefix("duration: ") {
        Some(rest) => rest.split_once(" ms  ").map_or(message, |(_, m)| m),
        None => message,
    }
}

/// `$1 = 'HTI', $2 = NULL, $3 = 'it''s'` → `[(1, "'HTI'"), (2, "NULL"), (3, "'it''s'")]`: each value as
/// the SQL literal it was logged as. `None` if the text is not in that shape.
pub fn parse_parameters(text: &str) -> Option<Vec<(usize, String)>> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        rest = rest.strip_prefix('$')?;
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let index = rest[..digits].parse::<usize>().ok()?;
        rest = rest[digits..].strip_prefix(" = ")?;
        let value_len = if let Some(quoted) = rest.strip_prefix('\'') {
            let mut end = None;
            let mut chars = quoted.char_indices().peekable();
            while let Some((at, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().map(|&(_, next)| next) == Some('\'') {
                        chars.next();
                    } else {
                        end = Some(at);
                        break;
                    }
                }
            }
            end? + 2
        } else if rest.starts_with("NULL") {
            4
        } else {
            return None;
        };
        out.push((index, rest[..value_len].to_string()));
        rest = rest[value_len..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Some(out)
}

/// Replaces each `$N` outside quotes with parameter N's literal (unknown-typed, so PostgreSQL infers the
/// type from the context as it did for the bound parameter; the bench checks the script runs).
pub fn substitute(sql: &str, parameters: &[(usize, String)]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.char_indices().peekable();
    let mut quote: Option<char> = None;
    while let Some((at, c)) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '$' => {
                let digits: String = sql[at + 1..].chars().take_while(char::is_ascii_digit).collect();
                let value =
                    digits.parse::<usize>().ok().and_then(|n| parameters.iter().find(|(i, _)| *i == n)).map(|(_, v)| v);
                match value {
                    Some(value) => {
                        out.push_str(value);
                        for _ in 0..digits.len() {
                            chars.next();
                        }
                    }
                    None => out.push(c),
                }
            }
            None => out.push(c),
        }
    }
    out
}

/// A pgbench transaction script: one statement per command, each ended by `;`.
pub fn pgbench_script(statements: &[String]) -> String {
    statements.iter().map(|s| format!("{s};\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2026-11-29 21:40:00.001 UTC [100] postgres@cg_bench LOG:  duration: 0.051 ms  parse __diesel_stmt_0: SELECT id FROM admin_areas WHERE pcode = $1
2026-11-29 21:40:00.002 UTC [100] postgres@cg_bench LOG:  duration: 0.020 ms  bind __diesel_stmt_0: SELECT id FROM admin_areas WHERE pcode = $1
2026-11-29 21:40:00.002 UTC [100] postgres@cg_bench DETAIL:  parameters: $1 = 'HT0111'
2026-11-29 21:40:00.003 UTC [200] postgres@other LOG:  duration: 0.010 ms  statement: SELECT 'not ours'
2026-11-29 21:40:00.004 UTC [100] postgres@cg_bench LOG:  duration: 0.030 ms  execute __diesel_stmt_0: SELECT id FROM admin_areas WHERE pcode = $1
2026-11-29 21:40:00.004 UTC [100] postgres@cg_bench DETAIL:  parameters: $1 = 'HT0111'
2026-11-29 21:40:00.005 UTC [101] postgres@cg_bench LOG:  duration: 0.010 ms  statement: SELECT 1
2026-11-29 21:40:00.006 UTC [101] postgres@cg_bench LOG:  duration: 1.500 ms  execute <unnamed>: SELECT a, b
\tFROM t WHERE a = $1 AND b IN ($2, $10) AND c = '$1' LIMIT $3
2026-11-29 21:40:00.006 UTC [101] postgres@cg_bench DETAIL:  parameters: $1 = 'it''s, $2', $2 = NULL, $3 = '101', $10 = '7'
";

    #[test]
    fn executed_statements_of_the_given_backends_with_parameters() {
        let got = statements(LOG, &[100, 101]);
        assert_eq!(
            got,
            vec![
                "SELECT id FROM admin_areas WHERE pcode = 'HT0111'".to_string(),
                "SELECT 1".to_string(),
                "SELECT a, b\nFROM t WHERE a = 'it''s, $2' AND b IN (NULL, '7') AND c = '$1' LIMIT '101'".to_string(),
            ]
        );
    }

    #[test]
    fn other_backends_are_left_out() {
        assert_eq!(statements(LOG, &[200]), vec!["SELECT 'not ours'".to_string()]);
        assert!(statements(LOG, &[]).is_empty());
    }

    #[test]
    fn log_statement_all_format() {
        let log = "2026-11-29 21:40:00.001 UTC [7] LOG:  execute s1: SELECT $1\n\
                   2026-11-29 21:40:00.001 UTC [7] DETAIL:  parameters: $1 = '5'\n\
                   2026-11-29 21:40:00.002 UTC [7] LOG:  statement: BEGIN\n";
        assert_eq!(statements(log, &[7]), vec!["SELECT '5'".to_string(), "BEGIN".to_string()]);
    }

    #[test]
    fn malformed_parameters_are_refused() {
        assert_eq!(parse_parameters("$1 = 'unterminated"), None);
        assert_eq!(parse_parameters("$1 = 12"), None);
        assert_eq!(parse_parameters(""), Some(vec![]));
    }

    #[test]
    fn script_ends_each_statement() {
        assert_eq!(pgbench_script(&["SELECT 1".into(), "SELECT 2".into()]), "SELECT 1;\nSELECT 2;\n");
    }
}
