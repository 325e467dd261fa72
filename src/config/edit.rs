//! Surgical edits of a JSON5 config text: set or remove one key by dotted path, leaving
//! every other byte (comments, order, formatting) as it was.

use super::json5::{self, Document};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError(pub String);

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EditError {}

fn parse(text: &str) -> Result<Document, EditError> {
    json5::parse(text).map_err(|e| {
        EditError(format!(
            "the config does not parse ({e}); fix or restore it first"
        ))
    })
}

fn line_indent(text: &str, at: usize) -> String {
    let line_start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    text[line_start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// Keys are written quoted, values as JSON (valid JSON5).
fn render(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Set `dotted` (a canonical path, `config::keypath`) to `value`, creating missing parent
/// objects.
pub fn set(text: &str, dotted: &str, value: &Value) -> Result<String, EditError> {
    use super::keypath::{self, Seg};
    let doc = parse(text)?;
    if let Some((start, end)) = doc.value_spans.get(dotted) {
        return Ok(format!(
            "{}{}{}",
            &text[..*start],
            render(value),
            &text[*end..]
        ));
    }
    let segs = keypath::parse(dotted).map_err(EditError)?;
    let keys: Vec<&str> = segs
        .iter()
        .map(|s| match s {
            Seg::Key(k) => Ok(k.as_str()),
            Seg::Index(_) => Err(EditError(format!(
                "cannot create {dotted}: an array element is set by writing the whole array"
            ))),
        })
        .collect::<Result<_, _>>()?;
    let parent_of = |depth: usize| keypath::join(&segs[..depth]);
    // Deepest existing ancestor that is an object.
    let mut depth = keys.len() - 1;
    loop {
        let parent = parent_of(depth);
        match keypath::get(&doc.value, &segs[..depth]) {
            Some(Value::Object(_)) => break,
            Some(_) => {
                return Err(EditError(format!(
                    "{parent} is not an object; cannot set {dotted}"
                )))
            }
            None => depth -= 1,
        }
    }
    let parent = parent_of(depth);
    let (obj_start, obj_end) = match doc.value_spans.get(&parent) {
        Some(span) => *span,
        None if depth == 0 => doc
            .value_spans
            .get("")
            .copied()
            .ok_or_else(|| EditError("cannot locate the config's root object".into()))?,
        None => return Err(EditError(format!("cannot locate {parent}"))),
    };
    // Build the missing part as one member: "k1": {"k2": value}.
    let mut nested = value.clone();
    for k in keys[depth + 1..].iter().rev() {
        let mut m = serde_json::Map::new();
        m.insert((*k).to_string(), nested);
        nested = Value::Object(m);
    }
    let member = format!("{}: {}", render(&Value::from(keys[depth])), render(&nested));
    let empty = keypath::get(&doc.value, &segs[..depth])
        .and_then(Value::as_object)
        .is_some_and(|m| m.is_empty());
    let open = obj_start + 1; // just after `{`
    let parent_indent = line_indent(text, obj_start);
    if empty {
        let indent = format!("{parent_indent}  ");
        return Ok(format!(
            "{}\n{indent}{member}\n{parent_indent}{}",
            &text[..open],
            &text[obj_end - 1..]
        ));
    }
    // Indent like the first existing member.
    let first_key = doc
        .key_starts
        .iter()
        .filter(|(p, _)| {
            keypath::parse(p)
                .ok()
                .is_some_and(|ps| ps.len() == depth + 1 && keypath::join(&ps[..depth]) == parent)
        })
        .map(|(_, s)| *s)
        .min()
        .unwrap_or(open);
    let same_line = !text[open..first_key].contains('\n');
    if same_line {
        Ok(format!(
            "{}{member}, {}",
            &text[..open],
            text[open..].trim_start_matches([' ', '\t'])
        ))
    } else {
        let indent = line_indent(text, first_key);
        Ok(format!(
            "{}\n{indent}{member},{}",
            &text[..open],
            &text[open..]
        ))
    }
}

/// Remove `dotted` (and the comma that separated it). `Ok(None)` when it was not set.
pub fn remove(text: &str, dotted: &str) -> Result<Option<String>, EditError> {
    let doc = parse(text)?;
    let (Some(&key_start), Some(&(_, value_end))) =
        (doc.key_starts.get(dotted), doc.value_spans.get(dotted))
    else {
        return Ok(None);
    };
    let bytes = text.as_bytes();
    let mut end = value_end;
    let mut j = end;
    while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
        j += 1;
    }
    let mut start = key_start;
    if j < bytes.len() && bytes[j] == b',' {
        end = j + 1;
    } else {
        // Last member: take the comma before it instead.
        let before = text[..key_start].trim_end();
        if before.ends_with(',') {
            start = before.len() - 1;
        }
    }
    // Drop the whole line when the member was alone on it.
    let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let rest_of_line_end = text[end..]
        .find('\n')
        .map(|i| end + i)
        .unwrap_or(text.len());
    let tail = text[end..rest_of_line_end].trim();
    // A trailing `// comment` on the member's own line belongs to the member.
    let tail_is_own_comment =
        tail.is_empty() || (tail.starts_with("//") && !tail[2..].contains('\n'));
    if text[line_start..start].trim().is_empty() && tail_is_own_comment && start == key_start {
        let cut_end = (rest_of_line_end + 1).min(text.len());
        return Ok(Some(format!("{}{}", &text[..line_start], &text[cut_end..])));
    }
    Ok(Some(format!("{}{}", &text[..start], &text[end..])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CFG: &str = "// my gateway\n{\n  gateway: {\n    mode: 'local', // keep me\n    token: 'old',\n    port: 18789,\n  },\n  /* agents */\n  agents: {},\n}\n";

    fn value(text: &str) -> Value {
        json5::parse(text).unwrap().value
    }

    #[test]
    fn set_replaces_in_place_and_keeps_comments() {
        let out = set(CFG, "gateway.port", &json!(20000)).unwrap();
        assert!(
            out.contains("// keep me")
                && out.contains("/* agents */")
                && out.contains("// my gateway")
        );
        assert_eq!(value(&out)["gateway"]["port"], 20000);
        assert_eq!(out.replace("20000", "18789"), CFG);
    }

    #[test]
    fn set_creates_missing_objects() {
        let out = set(CFG, "gateway.auth.token", &json!("abc")).unwrap();
        let v = value(&out);
        assert_eq!(v["gateway"]["auth"]["token"], "abc");
        assert_eq!(v["gateway"]["mode"], "local");
        assert!(
            out.contains("    \"auth\": {\"token\":\"abc\"},\n    mode: 'local', // keep me"),
            "{out}"
        );
        let out = set(CFG, "meta.lastTouchedVersion", &json!("1.2.3")).unwrap();
        assert_eq!(value(&out)["meta"]["lastTouchedVersion"], "1.2.3");
        let out = set(CFG, "agents.defaults", &json!({})).unwrap();
        assert_eq!(value(&out)["agents"]["defaults"], json!({}));
        let out = set("{}", "gateway.mode", &json!("local")).unwrap();
        assert_eq!(value(&out)["gateway"]["mode"], "local");
        let out = set(r#"{"a": 1}"#, "b", &json!(2)).unwrap();
        assert_eq!(value(&out), json!({"b": 2, "a": 1}));
        assert!(set(CFG, "gateway.mode.x", &json!(1)).is_err());
    }

    #[test]
    fn remove_takes_the_line_and_its_comma() {
        let out = remove(CFG, "gateway.token").unwrap().unwrap();
        assert!(!out.contains("token"));
        let with_comment = remove("{\n  a: 1, // about a\n  b: 2,\n}\n", "a")
            .unwrap()
            .unwrap();
        assert_eq!(with_comment, "{\n  b: 2,\n}\n");
        assert!(out.contains("// keep me"));
        assert_eq!(
            value(&out)["gateway"],
            json!({"mode": "local", "port": 18789})
        );
        let out = remove(r#"{"a": 1, "b": 2}"#, "b").unwrap().unwrap();
        assert_eq!(value(&out), json!({"a": 1}));
        let out = remove(r#"{"a": 1, "b": 2}"#, "a").unwrap().unwrap();
        assert_eq!(value(&out), json!({"b": 2}));
        assert_eq!(remove(CFG, "gateway.nope").unwrap(), None);
        assert!(remove("{", "a").is_err());
    }
}
