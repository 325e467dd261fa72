//! Anthropic Messages (`POST {baseUrl}/v1/messages`), as upstream sends it: `x-api-key`,
//! `anthropic-version: 2023-06-01`, the default betas in `anthropic-beta`, the system prompt
//! as `system`, `max_tokens`, `stream: true`; the event stream `message_start`,
//! `content_block_start/delta/stop`, `message_delta` (stop reason, usage), `message_stop`,
//! `error`.
//!
//! `params.context1m: true` on a 1M-capable model gives the run a 1,000,000-token context
//! budget (upstream 2026.9.6 no longer sends the legacy `context-1m-2025-08-07` beta for it;
//! the models that have the window take it natively). A credential that is not eligible for
//! long-context use answers such requests with `HTTP 429: rate_limit_error: Extra usage is
//! required for long context requests`.

use super::catalog::Provider;
use super::chat::{ChatRequest, Completion, Content, Delta, ToolCall, Usage};
use serde_json::{json, Map, Value};

pub const VERSION: &str = "2023-06-01";
/// The betas upstream sends on every API-key request.
pub const DEFAULT_BETAS: &str =
    "fine-grained-tool-streaming-2025-05-14,interleaved-thinking-2025-05-14";
/// The legacy long-context beta (what the doctor's eligibility probe asks with).
pub const CONTEXT_1M_BETA: &str = "context-1m-2025-08-07";
/// The context budget of a 1M-capable model with `context1m`.
pub const CONTEXT_1M_TOKENS: u64 = 1_000_000;

pub fn url(p: &Provider) -> String {
    let base = p.base_url.trim_end_matches('/');
    if base.ends_with("/v1") {
        format!("{base}/messages")
    } else {
        format!("{base}/v1/messages")
    }
}

/// Does this model have a native 1M window (upstream's `supportsClaude1MContext`)?
pub fn supports_1m(model: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"(?:^|-)claude-(?:fable-5|mythos-(?:5|preview)|opus-(?:5|4-(?:6|7|8))|sonnet-(?:5|4-6))(?:$|[^a-z0-9])",
        )
        .expect("static regex")
    })
    .is_match(model)
}

fn content_blocks(c: &Content) -> Value {
    match c {
        Content::Text(t) => json!([{"type": "text", "text": t}]),
        Content::Parts(parts) => Value::Array(
            parts
                .iter()
                .map(|p| match p.get("type").and_then(Value::as_str) {
                    Some("text") => json!({"type": "text", "text": p["text"]}),
                    _ => p.clone(),
                })
                .collect(),
        ),
    }
}

/// The request body.
pub fn body(req: &ChatRequest, model: &str, stream: bool) -> Value {
    let mut messages: Vec<Value> = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        let v = match m.role.as_str() {
            "tool" => json!({"role": "user", "content": [{
                "type": "tool_result",
                "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                "content": m.content.text(),
            }]}),
            "assistant" if !m.tool_calls.is_empty() => {
                let mut blocks = vec![];
                let t = m.content.text();
                if !t.is_empty() {
                    blocks.push(json!({"type": "text", "text": t}));
                }
                for c in &m.tool_calls {
                    let input: Value = serde_json::from_str(&c.arguments).unwrap_or(json!({}));
                    blocks.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                    );
                }
                json!({"role": "assistant", "content": blocks})
            }
            role => json!({"role": role, "content": content_blocks(&m.content)}),
        };
        messages.push(v);
    }
    let mut b = Map::new();
    b.insert("model".into(), Value::from(model));
    b.insert("messages".into(), Value::Array(messages));
    if let Some(s) = &req.system {
        b.insert("system".into(), json!([{"type": "text", "text": s}]));
    }
    b.insert("max_tokens".into(), Value::from(req.max_tokens));
    b.insert("stream".into(), Value::Bool(stream));
    if !req.tools.is_empty() {
        b.insert(
            "tools".into(),
            Value::Array(
                req.tools
                    .iter()
                    .map(|t| {
                        let f = &t["function"];
                        json!({"name": f["name"], "description": f.get("description").cloned().unwrap_or(Value::from("")),
                               "input_schema": f.get("parameters").cloned().unwrap_or(json!({"type":"object"}))})
                    })
                    .collect(),
            ),
        );
    }
    for (k, v) in &req.sampling {
        match k.as_str() {
            "stop" => {
                let seqs = match v {
                    Value::String(s) => json!([s]),
                    other => other.clone(),
                };
                b.insert("stop_sequences".into(), seqs);
            }
            "temperature" | "top_p" | "top_k" => {
                b.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    Value::Object(b)
}

/// Upstream's stop reason for Anthropic's.
pub fn stop_reason(s: &str) -> String {
    match s {
        "end_turn" | "stop_sequence" => "stop".into(),
        "max_tokens" => "length".into(),
        "tool_use" => "toolUse".into(),
        other => other.to_string(),
    }
}

/// Accumulates a streamed answer.
#[derive(Debug, Default)]
pub struct Stream {
    pub out: Completion,
    /// Content blocks by index: a tool call's id and name, its JSON so far.
    blocks: Vec<Option<ToolCall>>,
    pub done: bool,
    input_tokens: u64,
}

impl Stream {
    /// One event (`event:` name and `data:` payload).
    pub fn event(
        &mut self,
        data: &str,
        deltas: &mut Vec<Delta>,
    ) -> Result<(), super::chat::CallError> {
        let v: Value = serde_json::from_str(data).map_err(|e| {
            super::chat::CallError::transport(
                super::chat::Reason::ServerError,
                format!(
                    "malformed stream event ({e}): {}",
                    crate::util::log_safe(data, 200)
                ),
            )
        })?;
        match v["type"].as_str().unwrap_or_default() {
            "message_start" => {
                let m = &v["message"];
                self.out.response_model = m["model"].as_str().map(str::to_string);
                self.input_tokens = m["usage"]["input_tokens"].as_u64().unwrap_or(0);
            }
            "content_block_start" => {
                let i = v["index"].as_u64().unwrap_or(0) as usize;
                if i > 255 {
                    return Ok(());
                }
                while self.blocks.len() <= i {
                    self.blocks.push(None);
                }
                let b = &v["content_block"];
                if b["type"] == "tool_use" {
                    let call = ToolCall {
                        id: b["id"].as_str().unwrap_or_default().to_string(),
                        name: b["name"].as_str().unwrap_or_default().to_string(),
                        arguments: String::new(),
                    };
                    deltas.push(Delta::ToolCall {
                        index: i,
                        id: Some(call.id.clone()),
                        name: Some(call.name.clone()),
                        arguments: String::new(),
                    });
                    self.blocks[i] = Some(call);
                }
            }
            "content_block_delta" => {
                let i = v["index"].as_u64().unwrap_or(0) as usize;
                let d = &v["delta"];
                match d["type"].as_str() {
                    Some("text_delta") => {
                        let t = d["text"].as_str().unwrap_or_default();
                        if !t.is_empty() {
                            self.out.text.push_str(t);
                            deltas.push(Delta::Text(t.to_string()));
                        }
                    }
                    Some("input_json_delta") => {
                        let part = d["partial_json"].as_str().unwrap_or_default();
                        if let Some(Some(call)) = self.blocks.get_mut(i) {
                            call.arguments.push_str(part);
                            deltas.push(Delta::ToolCall {
                                index: i,
                                id: None,
                                name: None,
                                arguments: part.to_string(),
                            });
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(s) = v["delta"]["stop_reason"].as_str() {
                    self.out.stop_reason = stop_reason(s);
                }
                let output = v["usage"]["output_tokens"].as_u64().unwrap_or(0);
                self.out.usage = Some(Usage {
                    input: v["usage"]["input_tokens"]
                        .as_u64()
                        .unwrap_or(self.input_tokens),
                    output,
                });
            }
            "message_stop" => self.done = true,
            "error" => {
                let e = &v["error"];
                let body = json!({"type": "error", "error": e}).to_string();
                // Mid-stream errors carry no HTTP status: overloaded_error is the usual one.
                let status = match e["type"].as_str() {
                    Some("overloaded_error") => 529,
                    Some("rate_limit_error") => 429,
                    Some("invalid_request_error") => 400,
                    _ => 500,
                };
                return Err(super::chat::CallError::from_http(status, &body));
            }
            _ => {} // ping
        }
        Ok(())
    }

    pub fn finish(mut self) -> Completion {
        self.out.tool_calls = self.blocks.into_iter().flatten().collect();
        if self.out.stop_reason.is_empty() {
            self.out.stop_reason = "stop".into();
        }
        self.out
    }
}

/// A non-streamed answer.
pub fn parse_full(v: &Value) -> Result<Completion, String> {
    let blocks = v["content"].as_array().ok_or("response has no content")?;
    let mut out = Completion {
        response_model: v["model"].as_str().map(str::to_string),
        stop_reason: stop_reason(v["stop_reason"].as_str().unwrap_or("end_turn")),
        usage: Some(Usage {
            input: v["usage"]["input_tokens"].as_u64().unwrap_or(0),
            output: v["usage"]["output_tokens"].as_u64().unwrap_or(0),
        }),
        ..Default::default()
    };
    for b in blocks {
        match b["type"].as_str() {
            Some("text") => out.text.push_str(b["text"].as_str().unwrap_or_default()),
            Some("tool_use") => out.tool_calls.push(ToolCall {
                id: b["id"].as_str().unwrap_or_default().to_string(),
                name: b["name"].as_str().unwrap_or_default().to_string(),
                arguments: b["input"].to_string(),
            }),
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::chat::Message;

    #[test]
    fn body_and_stream_follow_the_messages_api() {
        let req = ChatRequest {
            system: Some("sys".into()),
            messages: vec![Message::user("hi")],
            max_tokens: 8192,
            ..Default::default()
        };
        let b = body(&req, "claude-x", true);
        assert_eq!(b["system"][0]["text"], "sys");
        assert_eq!(
            b["messages"][0],
            json!({"role":"user","content":[{"type":"text","text":"hi"}]})
        );
        assert_eq!(
            (b["max_tokens"].as_u64(), b["stream"].as_bool()),
            (Some(8192), Some(true))
        );
        let mut s = Stream::default();
        let mut d = vec![];
        for (_, data) in [
            (
                "message_start",
                r#"{"type":"message_start","message":{"id":"m","model":"claude-x","usage":{"input_tokens":5,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"pong"}}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ] {
            s.event(data, &mut d).unwrap();
        }
        assert!(s.done);
        let c = s.finish();
        assert_eq!((c.text.as_str(), c.stop_reason.as_str()), ("pong", "stop"));
        assert_eq!(
            c.usage,
            Some(Usage {
                input: 5,
                output: 1
            })
        );
        let e = Stream::default()
            .event(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                &mut d,
            )
            .unwrap_err();
        assert_eq!(e.reason, crate::models::chat::Reason::Overloaded);
        assert!(
            supports_1m("claude-opus-4-6")
                && supports_1m("claude-sonnet-4-6")
                && !supports_1m("claude-3-haiku")
        );
    }
}
