//! Small helpers shared by every layer.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The strings of a JSON array (other items and non-arrays give nothing).
pub fn string_list(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(serde_json::Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// `text` made safe for a terminal or a log line: control characters (C0, DEL, C1: an
/// ESC that would drive the terminal, a newline that would forge a second line) are
/// written as `\n`, `\t`, `\u{1b}`…, and anything past `max_chars` is cut and counted.
pub fn log_safe(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars + 16));
    let mut chars = text.chars();
    for c in chars.by_ref().take(max_chars) {
        escape_control(c, &mut out);
    }
    let rest = chars.count();
    if rest > 0 {
        out.push_str(&format!("…(+{rest} chars)"));
    }
    out
}

/// [`log_safe`] without a length cap: console lines keep whole messages.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        escape_control(c, &mut out);
    }
    std::borrow::Cow::Owned(out)
}

fn escape_control(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_cut() {
        assert_eq!(
            log_safe("v1\u{1b}[2J\n2026 [gateway] ready\u{9b}", 100),
            "v1\\u{1b}[2J\\n2026 [gateway] ready\\u{9b}"
        );
        assert_eq!(log_safe(&"é".repeat(10), 4), "éééé…(+6 chars)");
        assert_eq!(escape_controls("plain"), "plain");
        assert_eq!(escape_controls("a\u{7f}b"), "a\\u{7f}b");
    }
}
