//! Config key paths as segments. Users write upstream's dot or bracket notation
//! (`agents.defaults.models["openai/gpt-5.1"].alias`, `agents.list[0]`); inside this crate a
//! path is one canonical string: keys joined by `.`, a key that holds `.`, `[`, `]` or `"`
//! (or is empty) as `["…"]` (JSON-escaped), an array position as `[n]`. So `["x.y"]` and
//! `x.y` never meet, and plain paths (`gateway.auth.token`) read as they always did.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

fn needs_brackets(key: &str) -> bool {
    key.is_empty() || key.contains(['.', '[', ']', '"'])
}

/// Append one segment to a canonical path.
pub fn push(path: &str, seg: &Seg) -> String {
    match seg {
        Seg::Index(i) => format!("{path}[{i}]"),
        Seg::Key(k) if needs_brackets(k) => format!(
            "{path}[{}]",
            serde_json::to_string(k).unwrap_or_else(|_| "\"\"".into())
        ),
        Seg::Key(k) if path.is_empty() => k.clone(),
        Seg::Key(k) => format!("{path}.{k}"),
    }
}

/// The canonical string of `segs`.
pub fn join(segs: &[Seg]) -> String {
    segs.iter().fold(String::new(), |p, s| push(&p, s))
}

/// Parse dot/bracket notation. Errors name the position.
pub fn parse(path: &str) -> Result<Vec<Seg>, String> {
    let bytes = path.as_bytes();
    let mut segs = Vec::new();
    let mut i = 0;
    let mut key = String::new();
    let mut after_bracket = false;
    let bad = |at: usize, what: &str| format!("invalid config path {path:?} at {}: {what}", at + 1);
    while i < bytes.len() {
        match bytes[i] {
            b'.' => {
                if key.is_empty() && !after_bracket {
                    return Err(bad(i, "empty key"));
                }
                if !key.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut key)));
                }
                after_bracket = false;
                i += 1;
                if i == bytes.len() {
                    return Err(bad(i - 1, "path ends with `.`"));
                }
            }
            b'[' => {
                if !key.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut key)));
                }
                let close;
                let inner = match bytes.get(i + 1) {
                    Some(q @ (b'"' | b'\'')) => {
                        // A quoted key: up to the matching unescaped quote.
                        let mut j = i + 2;
                        while j < bytes.len() && bytes[j] != *q {
                            j += if bytes[j] == b'\\' { 2 } else { 1 };
                        }
                        if j >= bytes.len() || bytes.get(j + 1) != Some(&b']') {
                            return Err(bad(i, "unterminated quoted key"));
                        }
                        close = j + 1;
                        let raw = &path[i + 2..j];
                        let text = if *q == b'"' {
                            serde_json::from_str::<String>(&format!("\"{raw}\""))
                                .map_err(|e| bad(i, &e.to_string()))?
                        } else {
                            raw.replace("\\'", "'")
                        };
                        Seg::Key(text)
                    }
                    _ => {
                        let Some(off) = path[i..].find(']') else {
                            return Err(bad(i, "missing `]`"));
                        };
                        close = i + off;
                        let raw = &path[i + 1..close];
                        match raw.parse::<usize>() {
                            Ok(n) => Seg::Index(n),
                            Err(_) if !raw.is_empty() => Seg::Key(raw.to_string()),
                            Err(_) => return Err(bad(i, "empty brackets")),
                        }
                    }
                };
                segs.push(inner);
                i = close + 1;
                after_bracket = true;
                if i < bytes.len() && !matches!(bytes[i], b'.' | b'[') {
                    return Err(bad(i, "expected `.` or `[` after `]`"));
                }
            }
            _ => {
                let ch = path[i..].chars().next().unwrap_or_default();
                key.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if !key.is_empty() {
        segs.push(Seg::Key(key));
    }
    if segs.is_empty() {
        return Err(format!("invalid config path {path:?}: empty"));
    }
    Ok(segs)
}

/// The value at `segs`.
pub fn get<'a>(value: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    segs.iter().try_fold(value, |v, s| match s {
        Seg::Key(k) => v.as_object()?.get(k),
        Seg::Index(n) => v.as_array()?.get(*n),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dots_brackets_and_quotes() {
        let k = |s: &str| Seg::Key(s.into());
        assert_eq!(
            parse(r#"agents.defaults.models["openai/gpt-5.1"].alias"#).unwrap(),
            vec![
                k("agents"),
                k("defaults"),
                k("models"),
                k("openai/gpt-5.1"),
                k("alias")
            ]
        );
        assert_eq!(
            parse("agents.list[0].id").unwrap(),
            vec![k("agents"), k("list"), Seg::Index(0), k("id")]
        );
        assert_eq!(parse("a['x.y']").unwrap(), vec![k("a"), k("x.y")]);
        assert_eq!(parse("a[b]").unwrap(), vec![k("a"), k("b")]);
        assert_eq!(parse("gateway.auth.token").unwrap().len(), 3);
        for bad in ["", "a..b", "a.", ".a", "a[", "a[\"x]", "a[]", "a[0]b"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn canonical_paths_round_trip_and_never_confuse_a_dotted_key() {
        for p in [
            "gateway.auth.token",
            r#"agents.defaults.models["openai/gpt-5.1"].alias"#,
            "agents.list[2]",
            r#"a["x.y"]"#,
            r#"a["q\"uote"]"#,
        ] {
            assert_eq!(join(&parse(p).unwrap()), p);
        }
        let v = json!({"x.y": 1, "x": {"y": 2}});
        assert_eq!(get(&v, &parse(r#"["x.y"]"#).unwrap()), Some(&json!(1)));
        assert_eq!(get(&v, &parse("x.y").unwrap()), Some(&json!(2)));
        assert_eq!(join(&parse("['x.y']").unwrap()), r#"["x.y"]"#);
    }
}
