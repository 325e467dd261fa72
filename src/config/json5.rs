//! A JSON5 reader (comments, trailing commas, unquoted keys, single quotes, hex numbers)
//! that records the line and column of every key, so that validation errors can name them.
//! Kept in-house so that later config edits can preserve the file's comments and layout.

use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// A parse error with a 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "JSON5 parse failed: {} at {}:{}",
            self.message, self.line, self.column
        )
    }
}

/// The parsed document and where each key path starts (`gateway.auth.token`, `a.list[2]`).
#[derive(Debug, Clone, Default)]
pub struct Document {
    pub value: Value,
    pub positions: HashMap<String, (usize, usize)>,
    /// Byte range of each value, by path (`""` is the root).
    pub value_spans: HashMap<String, (usize, usize)>,
    /// Byte offset where each object member's key starts, by path.
    pub key_starts: HashMap<String, usize>,
}

impl Document {
    /// Line and column of a dotted key path, or of its nearest parent that has one.
    pub fn position_of(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// Nesting limit: a hostile file must not overflow the stack.
const MAX_DEPTH: usize = 128;

pub fn parse(text: &str) -> Result<Document, ParseError> {
    let mut p = Parser {
        src: text.as_bytes(),
        text,
        pos: 0,
        positions: HashMap::new(),
        value_spans: HashMap::new(),
        key_starts: HashMap::new(),
    };
    if text.starts_with('\u{feff}') {
        p.pos = 3;
    }
    p.skip_ws()?;
    if p.pos >= p.src.len() {
        return Err(p.error("empty document"));
    }
    let value = p.value(String::new(), 0)?;
    p.skip_ws()?;
    if p.pos < p.src.len() {
        return Err(p.error(&format!("invalid character '{}'", p.current_char())));
    }
    Ok(Document {
        value,
        positions: p.positions,
        value_spans: p.value_spans,
        key_starts: p.key_starts,
    })
}

struct Parser<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    positions: HashMap<String, (usize, usize)>,
    value_spans: HashMap<String, (usize, usize)>,
    key_starts: HashMap<String, usize>,
}

impl<'a> Parser<'a> {
    fn line_col(&self, pos: usize) -> (usize, usize) {
        let before = &self.text[..pos.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rsplit('\n')
            .next()
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }

    fn error(&self, message: &str) -> ParseError {
        let (line, column) = self.line_col(self.pos);
        ParseError {
            line,
            column,
            message: message.to_string(),
        }
    }

    fn current_char(&self) -> char {
        self.text[self.pos..].chars().next().unwrap_or('\0')
    }

    fn unexpected(&self) -> ParseError {
        if self.pos >= self.src.len() {
            self.error("invalid end of input")
        } else {
            self.error(&format!("invalid character '{}'", self.current_char()))
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_ws(&mut self) -> Result<(), ParseError> {
        loop {
            let rest = &self.text[self.pos..];
            let Some(c) = rest.chars().next() else {
                return Ok(());
            };
            if c.is_whitespace() || c == '\u{feff}' {
                self.pos += c.len_utf8();
            } else if rest.starts_with("//") {
                self.pos += rest.find('\n').unwrap_or(rest.len());
            } else if let Some(body) = rest.strip_prefix("/*") {
                match body.find("*/") {
                    Some(end) => self.pos += end + 4,
                    None => {
                        self.pos = self.src.len();
                        return Err(self.error("unterminated comment"));
                    }
                }
            } else {
                return Ok(());
            }
        }
    }

    fn value(&mut self, path: String, depth: usize) -> Result<Value, ParseError> {
        let start = self.pos;
        let v = self.value_inner(path.clone(), depth)?;
        self.value_spans.insert(path, (start, self.pos));
        Ok(v)
    }

    fn value_inner(&mut self, path: String, depth: usize) -> Result<Value, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        match self.peek() {
            Some(b'{') => self.object(path, depth),
            Some(b'[') => self.array(path, depth),
            Some(b'"') | Some(b'\'') => Ok(Value::String(self.string()?)),
            Some(c) if c == b'-' || c == b'+' || c == b'.' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_ascii_alphabetic() => {
                let word = self.identifier();
                match word.as_str() {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    "null" => Ok(Value::Null),
                    "Infinity" | "NaN" => {
                        Err(self.error(&format!("{word} is not supported in config values")))
                    }
                    _ => {
                        self.pos -= word.len();
                        Err(self.unexpected())
                    }
                }
            }
            _ => Err(self.unexpected()),
        }
    }

    fn object(&mut self, path: String, depth: usize) -> Result<Value, ParseError> {
        self.pos += 1;
        let mut map = Map::new();
        loop {
            self.skip_ws()?;
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                None => return Err(self.unexpected()),
                _ => {}
            }
            let key_pos = self.line_col(self.pos);
            let key_start = self.pos;
            let key = match self.peek() {
                Some(b'"') | Some(b'\'') => self.string()?,
                Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 => {
                    self.identifier()
                }
                _ => return Err(self.unexpected()),
            };
            // Canonical: a key holding `.` is `["a.b"]`, never two segments.
            let child = super::keypath::push(&path, &super::keypath::Seg::Key(key.clone()));
            self.positions.insert(child.clone(), key_pos);
            self.key_starts.insert(child.clone(), key_start);
            self.skip_ws()?;
            if self.peek() != Some(b':') {
                return Err(self.unexpected());
            }
            self.pos += 1;
            self.skip_ws()?;
            let v = self.value(child, depth + 1)?;
            map.insert(key, v);
            self.skip_ws()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(self.unexpected()),
            }
        }
    }

    fn array(&mut self, path: String, depth: usize) -> Result<Value, ParseError> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws()?;
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                None => return Err(self.unexpected()),
                _ => {}
            }
            let child = format!("{path}[{}]", items.len());
            self.positions
                .insert(child.clone(), self.line_col(self.pos));
            items.push(self.value(child, depth + 1)?);
            self.skip_ws()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {}
                _ => return Err(self.unexpected()),
            }
        }
    }

    fn identifier(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.text[self.pos..].chars().next() {
            if c.is_alphanumeric() || c == '_' || c == '$' {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        self.text[start..self.pos].to_string()
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let quote = self.src[self.pos];
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.text[self.pos..].chars().next() else {
                return Err(self.error("unterminated string"));
            };
            self.pos += c.len_utf8();
            match c {
                c if c as u32 == u32::from(quote) => return Ok(out),
                '\n' | '\r' => {
                    self.pos -= 1;
                    return Err(self.error("invalid line break in string"));
                }
                '\\' => self.escape(&mut out)?,
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), ParseError> {
        let Some(c) = self.text[self.pos..].chars().next() else {
            return Err(self.error("unterminated string"));
        };
        self.pos += c.len_utf8();
        match c {
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '0' if !self.peek().is_some_and(|d| d.is_ascii_digit()) => out.push('\0'),
            'x' => {
                let n = self.hex_digits(2)?;
                out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
            }
            'u' => {
                let hi = self.hex_digits(4)?;
                if (0xd800..0xdc00).contains(&hi) && self.text[self.pos..].starts_with("\\u") {
                    self.pos += 2;
                    let lo = self.hex_digits(4)?;
                    let cp = 0x10000 + ((hi - 0xd800) << 10) + (lo.wrapping_sub(0xdc00) & 0x3ff);
                    out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                } else {
                    out.push(char::from_u32(hi).unwrap_or('\u{fffd}'));
                }
            }
            '\n' | '\u{2028}' | '\u{2029}' => {}
            '\r' => {
                if self.peek() == Some(b'\n') {
                    self.pos += 1;
                }
            }
            c if c.is_ascii_digit() => return Err(self.error("invalid escape")),
            c => out.push(c),
        }
        Ok(())
    }

    fn hex_digits(&mut self, n: usize) -> Result<u32, ParseError> {
        let digits = self
            .text
            .get(self.pos..self.pos + n)
            .ok_or_else(|| self.error("invalid escape"))?;
        let v = u32::from_str_radix(digits, 16).map_err(|_| self.error("invalid escape"))?;
        self.pos += n;
        Ok(v)
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        let mut negative = false;
        if let Some(sign @ (b'+' | b'-')) = self.peek() {
            negative = sign == b'-';
            self.pos += 1;
        }
        let rest = &self.text[self.pos..];
        if rest.starts_with("Infinity") || rest.starts_with("NaN") {
            return Err(self.error("Infinity and NaN are not supported in config values"));
        }
        if rest.starts_with("0x") || rest.starts_with("0X") {
            self.pos += 2;
            let hs = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                self.pos += 1;
            }
            let n =
                i64::from_str_radix(&self.text[hs..self.pos], 16).map_err(|_| self.unexpected())?;
            return Ok(Value::Number(Number::from(if negative { -n } else { n })));
        }
        let body_start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            // A sign is part of the number only right after an exponent marker.
            if matches!(self.peek(), Some(b'+' | b'-'))
                && !matches!(self.src.get(self.pos - 1), Some(b'e' | b'E'))
            {
                break;
            }
            self.pos += 1;
        }
        let mut body = self.text[body_start..self.pos].to_string();
        if body.is_empty() {
            return Err(self.unexpected());
        }
        if body.starts_with('.') {
            body.insert(0, '0');
        }
        if body.ends_with('.') {
            body.push('0');
        }
        let signed = if negative { format!("-{body}") } else { body };
        if let Ok(i) = signed.parse::<i64>() {
            return Ok(Value::Number(Number::from(i)));
        }
        if let Ok(u) = signed.parse::<u64>() {
            return Ok(Value::Number(Number::from(u)));
        }
        signed
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| {
                self.pos = start;
                self.unexpected()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_json5_features() {
        let doc = parse(
            "// top comment\n{\n  gateway: { mode: 'local', port: 0x4965, /* c */ bind: \"loopback\", },\n  list: [1, .5, 2., +3, -4e2,],\n  'quoted key': 'it\\'s',\n}\n",
        )
        .unwrap();
        assert_eq!(doc.value["gateway"]["port"], json!(18789));
        assert_eq!(doc.value["list"], json!([1, 0.5, 2.0, 3, -400.0]));
        assert_eq!(doc.value["quoted key"], json!("it's"));
        assert_eq!(doc.positions["gateway.mode"], (3, 14));
        assert_eq!(doc.position_of("gateway.port.nope"), Some((3, 29)));
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = parse("{\n  \"gateway\": {\n    \"mode\": \"local\",,\n  }\n}").unwrap_err();
        assert_eq!((e.line, e.column), (3, 21));
        assert_eq!(e.message, "invalid character ','");
        let e = parse("{\"a\": 1").unwrap_err();
        assert_eq!(e.message, "invalid end of input");
        assert!(parse("").is_err());
        assert!(parse("{} x").is_err());
        assert!(parse("/* open").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(100_000);
        assert!(parse(&text).is_err());
    }

    #[test]
    fn escapes() {
        let doc = parse(
            r#"{"a": "\u00e9\x41\n\"", b: 'line\
continued'}"#,
        )
        .unwrap();
        assert_eq!(doc.value["a"], json!("éA\n\""));
        assert_eq!(doc.value["b"], json!("linecontinued"));
    }
}
