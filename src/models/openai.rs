//! OpenAI chat completions (`POST {baseUrl}/chat/completions`), as upstream sends it: the
//! system prompt as the first message, `stream: true` with `stream_options.include_usage`,
//! `max_completion_tokens`; chunks of `choices[0].delta` with content and tool-call
//! fragments, a `finish_reason`, a trailing usage chunk, `data: [DONE]`.
//! Ollama's OpenAI-compatible mode is the same wire at `{host}/v1`.

use super::catalog::{Api, Provider};
use super::chat::{ChatRequest, Completion, Content, Delta, ToolCall, Usage};
use serde_json::{json, Map, Value};

/// The endpoint for a provider.
pub fn url(p: &Provider, path: &str) -> String {
    let base = p.base_url.trim_end_matches('/');
    match p.api {
        // Ollama's host URL (`http://127.0.0.1:11434`) or its `/v1` base both work.
        Api::Ollama if !base.ends_with("/v1") => format!("{base}/v1/{path}"),
        _ => format!("{base}/{path}"),
    }
}

/// The request body.
pub fn body(req: &ChatRequest, model: &str, stream: bool) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(s) = &req.system {
        messages.push(json!({"role": "system", "content": s}));
    }
    for m in &req.messages {
        let mut o = Map::new();
        o.insert("role".into(), Value::from(m.role.as_str()));
        o.insert("content".into(), m.content.to_json());
        if let Some(id) = &m.tool_call_id {
            o.insert("tool_call_id".into(), Value::from(id.as_str()));
        }
        if !m.tool_calls.is_empty() {
            o.insert(
                "tool_calls".into(),
                Value::Array(
                    m.tool_calls
                        .iter()
                        .map(|t| {
                            json!({"id": t.id, "type": "function",
                                   "function": {"name": t.name, "arguments": t.arguments}})
                        })
                        .collect(),
                ),
            );
        }
        messages.push(Value::Object(o));
    }
    let mut b = Map::new();
    b.insert("model".into(), Value::from(model));
    b.insert("messages".into(), Value::Array(messages));
    if stream {
        b.insert("stream".into(), Value::Bool(true));
        b.insert("stream_options".into(), json!({"include_usage": true}));
    } else {
        b.insert("stream".into(), Value::Bool(false));
    }
    if !req.tools.is_empty() {
        b.insert("tools".into(), Value::Array(req.tools.clone()));
        b.insert(
            "tool_choice".into(),
            req.tool_choice
                .clone()
                .unwrap_or_else(|| Value::from("auto")),
        );
    }
    b.insert("max_completion_tokens".into(), Value::from(req.max_tokens));
    for (k, v) in &req.sampling {
        b.insert(k.clone(), v.clone());
    }
    Value::Object(b)
}

/// Upstream's stop reason for OpenAI's `finish_reason`.
pub fn stop_reason(finish: &str) -> String {
    match finish {
        "tool_calls" | "function_call" => "toolUse".into(),
        other => other.to_string(),
    }
}

/// Accumulates a streamed answer.
#[derive(Debug, Default)]
pub struct Stream {
    pub out: Completion,
    /// Tool calls by index as fragments arrive.
    calls: Vec<ToolCall>,
    pub done: bool,
    pub saw_finish: bool,
}

impl Stream {
    /// One `data:` payload; the deltas it carried are appended to `deltas`.
    pub fn data(&mut self, data: &str, deltas: &mut Vec<Delta>) -> Result<(), String> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let v: Value = serde_json::from_str(data).map_err(|e| {
            format!(
                "malformed stream chunk ({e}): {}",
                crate::util::log_safe(data, 200)
            )
        })?;
        if let Some(e) = v.get("error") {
            // Some servers report a failure mid-stream as a chunk.
            return Err(e
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| e.to_string(), str::to_string));
        }
        if let Some(m) = v.get("model").and_then(Value::as_str) {
            self.out.response_model.get_or_insert_with(|| m.to_string());
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.out.usage = Some(usage(u));
        }
        let Some(choice) = v.get("choices").and_then(|c| c.get(0)) else {
            return Ok(());
        };
        let delta = &choice["delta"];
        if let Some(t) = delta.get("content").and_then(Value::as_str) {
            if !t.is_empty() {
                self.out.text.push_str(t);
                deltas.push(Delta::Text(t.to_string()));
            }
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for c in calls {
                let index = c.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                if index > 127 {
                    return Err(format!("tool call index {index} out of range"));
                }
                while self.calls.len() <= index {
                    self.calls.push(ToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                let id = c.get("id").and_then(Value::as_str).map(str::to_string);
                let f = &c["function"];
                let name = f.get("name").and_then(Value::as_str).map(str::to_string);
                let args = f.get("arguments").and_then(Value::as_str).unwrap_or("");
                let slot = &mut self.calls[index];
                if let Some(id) = &id {
                    slot.id.clone_from(id);
                }
                if let Some(n) = &name {
                    slot.name.push_str(n);
                }
                slot.arguments.push_str(args);
                deltas.push(Delta::ToolCall {
                    index,
                    id,
                    name,
                    arguments: args.to_string(),
                });
            }
        }
        if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
            self.saw_finish = true;
            self.out.stop_reason = stop_reason(f);
        }
        Ok(())
    }

    pub fn finish(mut self) -> Completion {
        self.out.tool_calls = std::mem::take(&mut self.calls);
        if self.out.stop_reason.is_empty() {
            self.out.stop_reason = "stop".into();
        }
        self.out
    }
}

fn usage(u: &Value) -> Usage {
    Usage {
        input: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
        output: u
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    }
}

/// The `tool_calls` of an OpenAI-shaped message (arguments default to `{}`).
pub fn tool_calls_of(msg: &Value) -> Vec<ToolCall> {
    msg.get("tool_calls")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| ToolCall {
                    id: c["id"].as_str().unwrap_or_default().to_string(),
                    name: c["function"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    arguments: c["function"]["arguments"]
                        .as_str()
                        .unwrap_or("{}")
                        .to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A non-streamed answer.
pub fn parse_full(v: &Value) -> Result<Completion, String> {
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| "response has no choices".to_string())?;
    let msg = &choice["message"];
    let text = Content::from_json(&msg["content"]).text();
    let tool_calls = tool_calls_of(msg);
    Ok(Completion {
        text,
        tool_calls,
        stop_reason: stop_reason(choice["finish_reason"].as_str().unwrap_or("stop")),
        usage: v.get("usage").filter(|u| u.is_object()).map(usage),
        response_model: v["model"].as_str().map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::chat::Message;

    #[test]
    fn the_body_is_what_upstream_sends() {
        let req = ChatRequest {
            system: Some("sys".into()),
            messages: vec![Message::user("hi")],
            max_tokens: 256,
            ..Default::default()
        };
        assert_eq!(
            body(&req, "tiny", true),
            json!({"model":"tiny","messages":[{"role":"system","content":"sys"},{"role":"user","content":"hi"}],
                   "stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":256})
        );
    }

    #[test]
    fn a_stream_with_text_tool_calls_and_usage() {
        let mut s = Stream::default();
        let mut d = vec![];
        for chunk in [
            r#"{"model":"tiny","choices":[{"index":0,"delta":{"role":"assistant","content":"po"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"ng"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get","arguments":"{\"a\""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
            "[DONE]",
        ] {
            s.data(chunk, &mut d).unwrap();
        }
        assert!(s.done);
        let c = s.finish();
        assert_eq!(c.text, "pong");
        assert_eq!(c.stop_reason, "toolUse");
        assert_eq!(
            c.tool_calls,
            vec![ToolCall {
                id: "call_1".into(),
                name: "get".into(),
                arguments: "{\"a\":1}".into()
            }]
        );
        assert_eq!(
            c.usage,
            Some(Usage {
                input: 3,
                output: 2
            })
        );
        assert_eq!(d[0], Delta::Text("po".into()));
        assert!(Stream::default().data("{not json", &mut vec![]).is_err());
    }
}
