//! Every log signature of the catalogue compiled into one `RegexSet`, so a log is read once
//! whatever the number of checks.

use super::catalog::Catalog;
use super::facts::LogLine;
use regex::RegexSet;

/// Where signature `i` belongs: (check index, signature index).
pub struct Matcher {
    set: RegexSet,
    /// The same patterns, tolerant of JSON escaping (`"` may appear as `\"`), as one
    /// alternation run over raw buffers: only lines containing a match are decoded.
    raw: regex::bytes::Regex,
    owners: Vec<(usize, usize)>,
}

/// Rewrite a pattern so it also matches inside a JSON string: a `"` (or a character class
/// containing one) may be preceded by a backslash. Only ever widens the match.
pub fn json_tolerant(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                if chars[i + 1] == '"' {
                    out.push_str(r#"\\?""#);
                } else {
                    out.push(chars[i]);
                    out.push(chars[i + 1]);
                }
                i += 2;
            }
            '[' => {
                let start = i;
                i += 1;
                if i < chars.len() && chars[i] == '^' {
                    i += 1;
                }
                if i < chars.len() && chars[i] == ']' {
                    i += 1;
                }
                while i < chars.len() && chars[i] != ']' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let class: String = chars[start..(i + 1).min(chars.len())].iter().collect();
                if class.contains('"') && !class.starts_with("[^") {
                    out.push_str(&format!(r"(?:\\?{class})"));
                } else {
                    out.push_str(&class);
                }
                i += 1;
            }
            '"' => {
                out.push_str(r#"\\?""#);
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The prefilter runs over whole buffers, where `^` and `$` would mean the buffer's ends
/// (and a JSON record's message never starts its line): drop the anchors there. Only
/// widens the match; the exact, anchored pattern is applied to each decoded line.
pub fn unanchored(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // `[^…]` and a leading `]` belong to the class.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                if chars.peek() == Some(&']') {
                    out.push(chars.next().unwrap_or(']'));
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '^' | '$' if !in_class => {}
            c => out.push(c),
        }
    }
    out
}

/// What one signature matched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hits {
    pub count: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// Up to 3 first lines and the last one.
    pub lines: Vec<String>,
}

/// Hits per check index.
pub type Results = std::collections::BTreeMap<usize, Hits>;

/// The hits of one read of the logs, split by whose lines they are.
#[derive(Debug, Default, Clone)]
pub struct Scan {
    /// The gateway's lines of its current run (or of the input, in triage).
    pub now: Results,
    /// The gateway's lines from before its current run started: history.
    pub before_start: Results,
    /// Other processes' lines and lines naming no writer: listed, never counted.
    pub other: Results,
}

impl Scan {
    /// A scan where every line is the gateway's (triage over a user's input).
    pub fn own(now: Results) -> Scan {
        Scan {
            now,
            ..Scan::default()
        }
    }
}

impl Matcher {
    pub fn new(cat: &Catalog) -> Result<Self, regex::Error> {
        let mut patterns = Vec::new();
        let mut owners = Vec::new();
        for (ci, c) in cat.checks.iter().enumerate() {
            for (si, s) in c.signatures.iter().enumerate() {
                patterns.push(s.pattern());
                owners.push((ci, si));
            }
        }
        let alternation = if patterns.is_empty() {
            "[^\\s\\S]".to_string()
        } else {
            patterns
                .iter()
                .map(|p| format!("(?:{})", unanchored(&json_tolerant(p))))
                .collect::<Vec<_>>()
                .join("|")
        };
        // ASCII semantics for the prefilter (`\b`, classes): the DFA stays on its fast path;
        // the exact match on the decoded line below is Unicode-aware.
        let raw = regex::bytes::RegexBuilder::new(&alternation)
            .unicode(false)
            .size_limit(64 << 20)
            .dfa_size_limit(64 << 20)
            .build()?;
        Ok(Matcher {
            set: RegexSet::new(patterns)?,
            raw,
            owners,
        })
    }

    /// Scan one line, recording hits per check.
    pub fn scan(&self, line: &LogLine, out: &mut Results) {
        if !self.set.is_match(&line.message) {
            return;
        }
        let mut seen = Vec::new();
        for i in self.set.matches(&line.message).iter() {
            let check = self.owners[i].0;
            if seen.contains(&check) {
                continue;
            }
            seen.push(check);
            let h = out.entry(check).or_default();
            h.count += 1;
            let when = line.time.clone().unwrap_or_else(|| line.source.clone());
            if h.first_seen.is_none() {
                h.first_seen = Some(when.clone());
            }
            h.last_seen = Some(when);
            let text: String = line.message.chars().take(500).collect();
            if h.lines.len() <= 3 {
                h.lines.push(text);
            } else {
                *h.lines.last_mut().unwrap_or(&mut String::new()) = text;
            }
        }
    }

    /// Scan a buffer of whole raw log lines (JSON records or plain text). The combined
    /// pattern runs over the buffer; only lines that contain a candidate are decoded.
    pub fn scan_buffer(&self, buf: &[u8], source: &str, out: &mut Results) {
        let mut next_line_start = 0usize;
        for m in self.raw.find_iter(buf) {
            if m.start() < next_line_start {
                continue; // another hit inside a line already scanned
            }
            let start = buf[..m.start()]
                .iter()
                .rposition(|b| *b == b'\n')
                .map(|i| i + 1)
                .unwrap_or(0);
            let end = buf[m.end()..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|i| m.end() + i)
                .unwrap_or(buf.len());
            next_line_start = end + 1;
            let text = String::from_utf8_lossy(&buf[start..end]);
            let parsed = crate::logging::record::parse_line(text.trim_end_matches('\r'));
            let line = LogLine::own(parsed.message, parsed.time, source.to_string());
            self.scan(&line, out);
        }
    }

    /// [`Matcher::scan_buffer`] on two threads: the buffer is cut at a line end near its
    /// middle, both halves are scanned at once, and the results merged as one sequential
    /// scan would have produced them. Small buffers are scanned on this thread.
    pub fn scan_buffer_parallel(&self, buf: &[u8], source: &str, out: &mut Results) {
        const MIN_SPLIT: usize = 1 << 20;
        let cut = (buf.len() >= MIN_SPLIT)
            .then(|| buf[buf.len() / 2..].iter().position(|b| *b == b'\n'))
            .flatten()
            .map(|i| buf.len() / 2 + i + 1);
        let Some(cut) = cut else {
            return self.scan_buffer(buf, source, out);
        };
        let (first, second) = buf.split_at(cut);
        let mut later = Results::new();
        std::thread::scope(|s| {
            let helper = s.spawn(|| {
                let mut r = Results::new();
                self.scan_buffer(second, source, &mut r);
                r
            });
            self.scan_buffer(first, source, out);
            later = helper.join().unwrap_or_default();
        });
        merge(out, later);
    }

    /// Scan lines into the gateway's current, its earlier and other processes' hits.
    pub fn scan_attributed(&self, lines: &[LogLine]) -> Scan {
        use crate::inspect::attribution::Origin;
        let mut scan = Scan::default();
        for l in lines {
            let out = match (l.origin, l.before_start) {
                (Origin::Own, false) => &mut scan.now,
                (Origin::Own, true) => &mut scan.before_start,
                _ => &mut scan.other,
            };
            self.scan(l, out);
        }
        scan
    }

    pub fn scan_all<'a>(&self, lines: impl IntoIterator<Item = &'a LogLine>) -> Results {
        let mut out = Results::new();
        for l in lines {
            self.scan(l, &mut out);
        }
        out
    }
}

/// Append the hits of a later part of the input to `out` (an earlier part), exactly as one
/// sequential scan records them: counts add, the first 3 lines and the last one are kept.
pub fn merge(out: &mut Results, later: Results) {
    for (check, b) in later {
        let a = out.entry(check).or_default();
        let total = a.count + b.count;
        let firsts: Vec<String> = a.lines[..(a.count.min(3) as usize).min(a.lines.len())]
            .iter()
            .chain(&b.lines[..(b.count.min(3) as usize).min(b.lines.len())])
            .take(3)
            .cloned()
            .collect();
        let last = if b.count > 0 {
            b.lines.last()
        } else {
            a.lines.last()
        }
        .cloned();
        let mut lines = firsts;
        if total >= 4 {
            lines.extend(last);
        }
        a.lines = lines;
        a.count = total;
        if a.first_seen.is_none() {
            a.first_seen = b.first_seen;
        }
        if b.last_seen.is_some() {
            a.last_seen = b.last_seen;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_scan_merges_to_what_one_scan_records() {
        let cat = crate::doctor::load_catalog(&[]).unwrap();
        let m = Matcher::new(&cat).unwrap();
        // Lines that hit one check a varying number of times, spread over both halves.
        let mut text = String::new();
        for i in 0..40_000 {
            if i % 7919 == 0 || i == 39_999 {
                text.push_str(&format!(
                    "{{\"time\":\"t{i}\",\"0\":\"cron: timer tick failed: boom {i}\"}}\n"
                ));
            } else {
                text.push_str(&format!("filler line {i} with nothing to see here\n"));
            }
        }
        assert!(text.len() > 1 << 20);
        let mut one = Results::new();
        m.scan_buffer(text.as_bytes(), "t", &mut one);
        let mut two = Results::new();
        m.scan_buffer_parallel(text.as_bytes(), "t", &mut two);
        assert_eq!(one, two);
        let h = one.values().next().unwrap();
        assert_eq!(h.count, 7);
        assert_eq!(h.lines.len(), 4);
        assert_eq!(h.first_seen.as_deref(), Some("t0"));
        assert_eq!(h.last_seen.as_deref(), Some("t39999"));
        // Hits only in one half, and fewer than four in all.
        for lines in [&text[..text.len() / 3], &text[text.len() / 2..]] {
            let (mut a, mut b) = (Results::new(), Results::new());
            m.scan_buffer(lines.as_bytes(), "t", &mut a);
            m.scan_buffer_parallel(lines.as_bytes(), "t", &mut b);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn anchors_are_dropped_only_outside_classes() {
        assert_eq!(unanchored("^boom at start$"), "boom at start");
        assert_eq!(unanchored(r"[^$]x\^\$[]^]"), r"[^$]x\^\$[]^]");
    }

    #[test]
    fn anchored_signatures_apply_per_line_in_buffers() {
        let checks = r#"
[section]
id = "t"
title = "t"

[[checks]]
id = "t.anchored"
title = "anchored"
symptoms = ["legacy-token-key"]
severity = "warning"
message = "m"
remediation = "none"

  [[checks.signatures]]
  regex = '^boom at start$'
  example = "boom at start"
  near_miss = "not boom at start"
"#;
        let cat = crate::doctor::load_catalog(&[("t.toml".into(), checks.into())]).unwrap();
        let m = Matcher::new(&cat).unwrap();
        let idx = cat
            .checks
            .iter()
            .position(|c| c.id == "t.anchored")
            .unwrap();
        let buf = b"first line\nnot boom at start\nboom at start\n{\"0\":\"boom at start\"}\nboom at start, then more\n";
        let mut r = Results::new();
        m.scan_buffer(buf, "t", &mut r);
        assert_eq!(r.get(&idx).map(|h| h.count), Some(2), "{r:?}");
    }

    #[test]
    fn json_tolerant_patterns_match_escaped_quotes() {
        let lit = json_tolerant(&regex::escape(r#"Config uses "gateway.token"."#));
        let re = regex::Regex::new(&lit).unwrap();
        assert!(re.is_match(r#"{"1":"Config uses \"gateway.token\"."}"#));
        assert!(re.is_match(r#"Config uses "gateway.token"."#));
        let cls = regex::Regex::new(&json_tolerant(r#"unknown command ["']browser["']"#)).unwrap();
        assert!(cls.is_match(r#"{"message":"unknown command \"browser\""}"#));
        assert!(cls.is_match("unknown command 'browser'"));
    }
}
