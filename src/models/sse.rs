//! Server-sent events framing (the WHATWG `text/event-stream` format) as the model APIs use
//! it: `event:` and `data:` fields, events ended by a blank line, CR, LF or CRLF line ends.
//! Incremental and bounded: a line longer than [`MAX_LINE`] is an error, never a buffer that
//! grows with what the server sends.

/// Longest line accepted (a whole streamed chunk rides on one `data:` line).
pub const MAX_LINE: usize = 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event:` field (empty when the server sent none: the default `message`).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Feed bytes as they arrive; complete events come out.
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    /// The previous chunk ended in CR: a LF that starts the next one belongs to it.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("event stream line longer than {MAX_LINE} bytes")]
pub struct LineTooLong;

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse `bytes`, appending finished events to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Event>) -> Result<(), LineTooLong> {
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, out);
                }
                _ => {
                    if self.line.len() >= MAX_LINE {
                        return Err(LineTooLong);
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    /// The stream ended: an event without its blank line is dispatched (servers that close
    /// right after the last `data:` line).
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out);
        }
        self.dispatch(out);
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<Event>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // comment / keep-alive
        }
        let (field, value) = match line.iter().position(|c| *c == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event = value.into_owned(),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            _ => {} // id, retry: not used by the model APIs
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        if self.has_data {
            out.push(Event {
                event: std::mem::take(&mut self.event),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event.clear();
        self.has_data = false;
    }
}

/// Write one event (`event:` only when named), as the gateway's own streams send them.
pub fn frame(event: Option<&str>, data: &str) -> String {
    let mut s = String::with_capacity(data.len() + 16);
    if let Some(e) = event {
        s.push_str("event: ");
        s.push_str(e);
        s.push('\n');
    }
    for line in data.split('\n') {
        s.push_str("data: ");
        s.push_str(line);
        s.push('\n');
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<Event> {
        let mut p = Parser::new();
        let mut out = vec![];
        for c in chunks {
            p.push(c, &mut out).unwrap();
        }
        p.finish(&mut out);
        out
    }

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let text = b"event: message_start\ndata: {\"a\":1}\n\n: ping\r\ndata: x\r\ndata: y\r\n\r\ndata: [DONE]\n\n";
        let whole = all(&[text]);
        assert_eq!(
            whole,
            vec![
                Event {
                    event: "message_start".into(),
                    data: "{\"a\":1}".into()
                },
                Event {
                    event: String::new(),
                    data: "x\ny".into()
                },
                Event {
                    event: String::new(),
                    data: "[DONE]".into()
                },
            ]
        );
        for cut in 1..text.len() {
            assert_eq!(all(&[&text[..cut], &text[cut..]]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn a_last_event_without_its_blank_line_counts_and_long_lines_fail() {
        assert_eq!(
            all(&[b"data: tail"]),
            vec![Event {
                event: String::new(),
                data: "tail".into()
            }]
        );
        let mut p = Parser::new();
        let big = vec![b'a'; MAX_LINE + 1];
        assert_eq!(p.push(&big, &mut vec![]), Err(LineTooLong));
        assert_eq!(frame(Some("e"), "a\nb"), "event: e\ndata: a\ndata: b\n\n");
    }
}
