//! Redaction of secrets in config values and raw config text, by key name.

use serde_json::Value;

/// The sentinel upstream uses for redacted config values.
pub const REDACTED: &str = "__OPENCLAW_REDACTED__";

/// Does a key name hold a secret?
pub fn is_sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "token",
        "password",
        "secret",
        "apikey",
        "api_key",
        "privatekey",
        "credential",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// Redact in place; returns every secret string that was replaced (to scrub raw text).
pub fn redact_value(v: &mut Value, found: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if is_sensitive_key(k) {
                    redact_all_strings(child, found);
                } else {
                    redact_value(child, found);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_value(i, found)),
        _ => {}
    }
}

fn redact_all_strings(v: &mut Value, found: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.is_empty() => {
            found.push(std::mem::replace(s, REDACTED.to_string()));
        }
        // A SecretRef names where the secret lives, not the secret: keep it.
        Value::Object(map) if map.contains_key("source") && map.contains_key("id") => {}
        Value::Object(map) => map.values_mut().for_each(|c| redact_all_strings(c, found)),
        Value::Array(items) => items.iter_mut().for_each(|c| redact_all_strings(c, found)),
        _ => {}
    }
}

/// Replace every occurrence of each secret in `text`.
pub fn scrub_text(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| s.len() >= 4).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in sorted {
        out = out.replace(s.as_str(), REDACTED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_by_key_and_scrubs_raw() {
        let mut v = json!({"gateway": {"auth": {"token": "abcd1234", "mode": "token"},
                    "remote": {"password": {"source": "env", "id": "P"}}}});
        let mut found = Vec::new();
        redact_value(&mut v, &mut found);
        assert_eq!(v["gateway"]["auth"]["token"], REDACTED);
        assert_eq!(v["gateway"]["auth"]["mode"], "token");
        assert_eq!(v["gateway"]["remote"]["password"]["id"], "P");
        assert_eq!(
            scrub_text("{token: 'abcd1234'}", &found),
            format!("{{token: '{REDACTED}'}}")
        );
    }
}
