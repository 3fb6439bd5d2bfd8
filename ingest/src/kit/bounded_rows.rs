//! Bounds on the rows of a streamed JSON answer, applied to the bytes before any parser sees them.
//!
//! A JSON parser reading a row into memory reads all of it, however large: one 100 MB name is
//! 100 MB (and several copies of it) before anyone can look at its length. [`BoundedRows`] sits
//! between the payload and the parser and knows just enough JSON (strings, escapes, nesting, the
//! top-level keys) to find each element of the top-level `result` array. It holds one element at a
//! time, at most `max_row_bytes` of it: an element within the bounds passes unchanged; one that is
//! larger, or has a string longer than `max_field_bytes`, is read to its end without being kept and
//! replaced by `null` in what the parser sees, and its position, reason and first KiB are queued for
//! the parser (see [`Oversized`]). Everything outside `result` passes unchanged, so the parser still
//! judges the envelope. Memory: one element of at most `max_row_bytes`, whatever the answer holds.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Read;
use std::rc::Rc;

/// How much of a rejected oversized row is kept to show what it was.
pub const SAMPLE_BYTES: usize = 1024;

/// An element of `result` that broke a bound, in place of which the parser reads `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversized {
    /// 0-based position in `result`.
    pub index: u64,
    pub reason: String,
    /// The element's first [`SAMPLE_BYTES`], as sent.
    pub sample: String,
}

/// The queue of oversized elements, shared with the parser (one thread).
pub type OversizedQueue = Rc<RefCell<VecDeque<Oversized>>>;

/// The bytes of `inner` with every oversized element of `result` replaced by `null`.
pub struct BoundedRows<R> {
    inner: R,
    max_row: usize,
    max_field: usize,
    oversized: OversizedQueue,
    lexer: Lexer,
    input: Vec<u8>,
    output: Vec<u8>,
    out_pos: usize,
    done: bool,
}

/// Where the lexer is, outside the element being held.
#[derive(Debug, Default)]
struct Lexer {
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Depth 1 (the envelope object): the next string is a key.
    expect_key: bool,
    /// The key being read at depth 1, and the last one read (at most 64 bytes of each).
    key: Vec<u8>,
    reading_key: bool,
    last_key: Vec<u8>,
    /// The value after the last key has not started yet.
    value_pending: bool,
    /// Inside the `result` array (depth 2).
    in_result: bool,
    next_index: u64,
    element: Option<Element>,
}

/// The element of `result` being read.
#[derive(Debug, Default)]
struct Element {
    index: u64,
    kept: Vec<u8>,
    size: u64,
    /// Depth of the element's own brackets (0 for a string or a scalar).
    depth: u32,
    is_string: bool,
    is_scalar: bool,
    in_string: bool,
    escaped: bool,
    string_len: u64,
    /// In the element's own object: the next string is a key; the last key (for the reason).
    expect_key: bool,
    reading_key: bool,
    key: Vec<u8>,
    field: Vec<u8>,
    reason: Option<String>,
    longest_field: Option<(Vec<u8>, u64)>,
}

impl<R: Read> BoundedRows<R> {
    pub fn new(inner: R, max_row_bytes: usize, max_field_bytes: usize) -> (BoundedRows<R>, OversizedQueue) {
        let oversized = OversizedQueue::default();
        let reader = BoundedRows {
            inner,
            max_row: max_row_bytes.max(16),
            max_field: max_field_bytes.max(1),
            oversized: oversized.clone(),
            lexer: Lexer::default(),
            input: vec![0; 64 * 1024],
            output: Vec::with_capacity(64 * 1024),
            out_pos: 0,
            done: false,
        };
        (reader, oversized)
    }

    /// Reads and processes one chunk of the inner reader into `output`.
    fn fill(&mut self) -> std::io::Result<()> {
        self.output.clear();
        self.out_pos = 0;
        while self.output.is_empty() && !self.done {
            let n = self.inner.read(&mut self.input)?;
            if n == 0 {
                self.done = true;
                // An element cut off by the end of the input goes to the parser as it is: it fails there.
                if let Some(element) = self.lexer.element.take() {
                    self.output.extend_from_slice(&element.kept);
                }
                break;
            }
            for i in 0..n {
                let byte = self.input[i];
                self.step(byte);
            }
        }
        Ok(())
    }

    fn step(&mut self, byte: u8) {
        if self.lexer.element.is_some() {
            self.element_byte(byte);
            return;
        }
        let lx = &mut self.lexer;
        if lx.in_string {
            if lx.escaped {
                lx.escaped = false;
            } else if byte == b'\\' {
                lx.escaped = true;
            } else if byte == b'"' {
                lx.in_string = false;
                if lx.reading_key {
                    lx.reading_key = false;
                    lx.last_key = std::mem::take(&mut lx.key);
                }
            }
            if lx.reading_key && lx.in_string && lx.key.len() < 64 {
                lx.key.push(byte);
            }
            self.output.push(byte);
            return;
        }
        if lx.in_result && lx.depth == 2 && !matches!(byte, b',' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
            self.start_element(byte);
            return;
        }
        match byte {
            b'"' => {
                lx.in_string = true;
                if lx.depth == 1 && lx.expect_key {
                    lx.expect_key = false;
                    lx.reading_key = true;
                    lx.key.clear();
                } else {
                    lx.value_pending = false;
                }
            }
            b'{' | b'[' => {
                if lx.depth == 1 && lx.value_pending && byte == b'[' && key_is_result(&lx.last_key) {
                    lx.in_result = true;
                }
                lx.value_pending = false;
                lx.depth += 1;
                if lx.depth == 1 && byte == b'{' {
                    lx.expect_key = true;
                }
            }
            b'}' | b']' => {
                lx.depth = lx.depth.saturating_sub(1);
                if lx.depth < 2 {
                    lx.in_result = false;
                }
            }
            b':' if lx.depth == 1 => lx.value_pending = true,
            b',' if lx.depth == 1 => lx.expect_key = true,
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => lx.value_pending = false,
        }
        self.output.push(byte);
    }

    fn start_element(&mut self, byte: u8) {
        let index = self.lexer.next_index;
        self.lexer.next_index += 1;
        let mut element = Element { index, ..Element::default() };
        match byte {
            b'{' | b'[' => {
                element.depth = 1;
                element.expect_key = byte == b'{';
            }
            b'"' => {
                element.is_string = true;
                element.in_string = true;
            }
            _ => element.is_scalar = true,
        }
        element.kept.push(byte);
        element.size = 1;
        self.lexer.element = Some(element);
    }

    /// One byte of the element being held; emits it (or `null`) once it ends.
    fn element_byte(&mut self, byte: u8) {
        let (max_row, max_field) = (self.max_row, self.max_field);
        let Some(el) = self.lexer.element.as_mut() else { return };
        if el.is_scalar && matches!(byte, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
            // The scalar ended before this byte, which belongs to the array again.
            self.finish_element();
            self.step(byte);
            return;
        }
        el.size += 1;
        // Within the bounds the whole element is kept; past them, only its start.
        if el.reason.is_none() || el.kept.len() < SAMPLE_BYTES {
            el.kept.push(byte);
        }
        let mut ended = false;
        if el.in_string {
            if el.escaped {
                el.escaped = false;
            } else if byte == b'\\' {
                el.escaped = true;
            } else if byte == b'"' {
                el.in_string = false;
                if el.reading_key {
                    el.reading_key = false;
                    el.field = std::mem::take(&mut el.key);
                }
                ended = el.is_string;
            }
            if el.in_string {
                el.string_len += 1;
                if el.reading_key && el.key.len() < 64 {
                    el.key.push(byte);
                }
                if el.string_len > max_field as u64 && el.reason.is_none() {
                    let field = if el.reading_key || el.depth == 0 { Vec::new() } else { el.field.clone() };
                    el.longest_field = Some((field, 0));
                    el.reason = Some(String::new());
                    el.kept.truncate(SAMPLE_BYTES);
                }
            } else if let Some((_, len)) = el.longest_field.as_mut()
                && *len == 0
            {
                *len = el.string_len;
            }
        } else {
            match byte {
                b'"' => {
                    el.in_string = true;
                    el.string_len = 0;
                    if el.depth == 1 && el.expect_key {
                        el.expect_key = false;
                        el.reading_key = true;
                        el.key.clear();
                    }
                }
                b'{' | b'[' => el.depth += 1,
                b'}' | b']' => {
                    el.depth = el.depth.saturating_sub(1);
                    ended = el.depth == 0;
                }
                b',' if el.depth == 1 => el.expect_key = true,
                _ => {}
            }
        }
        if el.size > max_row as u64 && el.reason.is_none() {
            el.reason = Some(String::new());
            el.kept.truncate(SAMPLE_BYTES);
        }
        if ended {
            self.finish_element();
        }
    }

    /// Emits the element held, or `null` and its entry in the queue when it broke a bound.
    fn finish_element(&mut self) {
        let Some(el) = self.lexer.element.take() else { return };
        if el.reason.is_none() {
            self.output.extend_from_slice(&el.kept);
            return;
        }
        let reason = match &el.longest_field {
            Some((field, len)) => {
                let name =
                    if field.is_empty() { "a field".to_string() } else { String::from_utf8_lossy(field).into_owned() };
                let len = if *len == 0 { el.string_len } else { *len };
                format!("{name} is longer than the {} bytes a field may have ({len} bytes)", self.max_field)
            }
            None => format!("the row is larger than the {} bytes a row may have ({} bytes)", self.max_row, el.size),
        };
        let mut sample = String::from_utf8_lossy(&el.kept[..el.kept.len().min(SAMPLE_BYTES)]).into_owned();
        sample.push('…');
        self.oversized.borrow_mut().push_back(Oversized { index: el.index, reason, sample });
        self.output.extend_from_slice(b"null");
    }
}

/// Whether a key read raw (escapes and all) is `result`.
fn key_is_result(raw: &[u8]) -> bool {
    if raw == b"result" {
        return true;
    }
    if !raw.contains(&b'\\') {
        return false;
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice::<String>(&quoted).is_ok_and(|k| k == "result")
}

impl<R: Read> Read for BoundedRows<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.out_pos >= self.output.len() {
            if self.done {
                return Ok(0);
            }
            self.fill()?;
        }
        let available = &self.output[self.out_pos..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounded(input: &str, max_row: usize, max_field: usize) -> (String, Vec<Oversized>) {
        let (mut reader, queue) = BoundedRows::new(input.as_bytes(), max_row, max_field);
        let mut out = String::new();
        reader.read_to_string(&mut out).expect("reads");
        let oversized = queue.borrow().iter().cloned().collect();
        (out, oversized)
    }

    #[test]
    fn rows_within_the_bounds_pass_unchanged() {
        let input = r#" {"statusCode":200, "result" : [ {"a":"x\"]}","b":[1,{"c":2}]} , 7, "s", null,true ], "x":[{"big":"not a row"}] }"#;
        let (out, oversized) = bounded(input, 1 << 20, 1 << 20);
        assert_eq!(out, input);
        assert!(oversized.is_empty());
    }

    #[test]
    fn a_long_field_and_a_large_row_become_null_with_their_reason() {
        let long = "n".repeat(100);
        let many: String = (0..50).map(|i| format!("\"k{i}\":{i},")).collect();
        let input = format!(
            r#"{{"result":[{{"id":1,"name":"{long}"}},{{"id":2}},{{{many}"end":0}},"{long}",123456789012345678901234567890],"isSuccess":true}}"#
        );
        let (out, oversized) = bounded(&input, 200, 50);
        let parsed: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
        assert_eq!(
            parsed["result"],
            serde_json::json!([null, {"id": 2}, null, null, 123456789012345678901234567890.0_f64])
        );
        assert_eq!(parsed["isSuccess"], true);
        let reasons: Vec<(u64, &str)> = oversized.iter().map(|o| (o.index, o.reason.as_str())).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert_eq!(reasons[0], (0, "name is longer than the 50 bytes a field may have (100 bytes)"));
        assert_eq!(reasons[1].0, 2);
        assert!(reasons[1].1.starts_with("the row is larger than the 200 bytes a row may have"), "{reasons:?}");
        assert_eq!(reasons[2], (3, "a field is longer than the 50 bytes a field may have (100 bytes)"));
        assert!(oversized[0].sample.starts_with(r#"{"id":1,"name":"nnn"#));
    }

    #[test]
    fn an_escaped_result_key_is_still_the_result() {
        let input = format!(r#"{{"r\u0065sult":[{{"name":"{}"}}]}}"#, "n".repeat(100));
        let (out, oversized) = bounded(&input, 1 << 20, 10);
        assert_eq!(out, r#"{"r\u0065sult":[null]}"#);
        assert_eq!(oversized.len(), 1);
    }
}
