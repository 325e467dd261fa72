//! Agent runs end to end through the real binary: the `agent` method over WebSocket (two
//! phases, events with seq, `agent.wait`, chat history), `/v1/chat/completions` streamed and
//! not, failover on Anthropic's long-context 429 with upstream's log lines, the empty-turn
//! line, and what the doctor then reports from the gateway's own log.
//! The backend is `model_backend` (real wire formats; hosted APIs cannot run here).

use crate::model_backend::Backend;
use crate::support::*;
use serde_json::{json, Value};
use std::time::Duration;

fn profile_with(backend: &Backend, model: &str, extra: &str) -> Profile {
    let p = Profile::new("");
    std::fs::write(
        p.config_path(),
        format!(
            r#"{{ gateway: {{ mode: "local", bind: "loopback", auth: {{ mode: "token", token: "{TOKEN}" }},
                 http: {{ endpoints: {{ chatCompletions: {{ enabled: true }} }} }} }},
               logging: {{ file: "{}" }},
               agents: {{ defaults: {{ model: {model} {extra} }} }},
               {} }}"#,
            p.log_path().display(),
            backend.providers()
        ),
    )
    .unwrap();
    p.private_config();
    p
}

/// The keys of `v` at the paths given (`a.b.c`), as (path, present) pairs.
fn has(v: &Value, path: &str) -> bool {
    let mut cur = v;
    for seg in path.split('.') {
        cur = match seg.parse::<usize>() {
            Ok(i) => &cur[i],
            Err(_) => &cur[seg],
        };
    }
    !cur.is_null()
}

#[tokio::test]
async fn an_agent_run_streams_events_then_answers_twice_and_agent_wait_sees_it() {
    let backend = Backend::start();
    let p = profile_with(&backend, r#""local/tiny""#, "");
    let gw = Gateway::start(&p, &[], &[]);
    let (mut c, hello) =
        connected(&gw.url(), "backend", &["operator.read", "operator.write"]).await;
    let methods = hello["payload"]["features"]["methods"].to_string();
    for m in [
        "\"agent\"",
        "\"agent.wait\"",
        "\"chat.send\"",
        "\"chat.history\"",
    ] {
        assert!(methods.contains(m), "{m} advertised: {methods}");
    }
    c.send(json!({"type": "req", "id": "a1", "method": "agent",
                  "params": {"message": "hi", "idempotencyKey": "run-1", "sessionKey": "agent:main:main"}}))
        .await;
    let mut responses = vec![];
    let mut agent_events = vec![];
    let mut chat_states = vec![];
    while responses.len() < 2 {
        let f = c.next(Duration::from_secs(10)).await.expect("frame");
        match (f["type"].as_str(), f["event"].as_str()) {
            (Some("res"), _) if f["id"] == "a1" => responses.push(f),
            (Some("event"), Some("agent")) => agent_events.push(f["payload"].clone()),
            (Some("event"), Some("chat")) => chat_states.push(
                f["payload"]["state"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ),
            _ => {}
        }
    }
    // Phase one: accepted, with upstream's fields.
    let accepted = &responses[0]["payload"];
    assert_eq!(
        (accepted["runId"].as_str(), accepted["status"].as_str()),
        (Some("run-1"), Some("accepted")),
        "{accepted}"
    );
    assert!(accepted["acceptedAt"].is_u64() && accepted["agentId"] == "main");
    // Events: lifecycle start, the model, the deltas, the end; seq counts up per run.
    let streams: Vec<String> = agent_events
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["stream"].as_str().unwrap_or(""),
                e["data"]["phase"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        streams.first().map(String::as_str),
        Some("lifecycle:start"),
        "{streams:?}"
    );
    assert!(
        streams.contains(&"lifecycle:model".to_string())
            && streams.last().map(String::as_str) == Some("lifecycle:end"),
        "{streams:?}"
    );
    let deltas: Vec<&str> = agent_events
        .iter()
        .filter(|e| e["stream"] == "assistant")
        .filter_map(|e| e["data"]["delta"].as_str())
        .collect();
    assert_eq!(deltas, ["po", "ng"]);
    let seqs: Vec<u64> = agent_events
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1) && seqs[0] == 1,
        "{seqs:?}"
    );
    assert_eq!(
        chat_states.last().map(String::as_str),
        Some("final"),
        "{chat_states:?}"
    );
    // Phase two: the final answer, with the fields the real gateway's answer has.
    let fin = &responses[1]["payload"];
    assert_eq!(
        (fin["status"].as_str(), fin["summary"].as_str()),
        (Some("ok"), Some("completed")),
        "{fin}"
    );
    assert_eq!(fin["result"]["payloads"][0]["text"], "pong");
    let peer: Value = serde_json::from_str(include_str!(
        "../../fixtures/agent/peer-2026.9.6/agent-final.json"
    ))
    .unwrap();
    for path in [
        "runId",
        "status",
        "summary",
        "result.payloads.0.text",
        "result.meta.durationMs",
        "result.meta.agentMeta.sessionId",
        "result.meta.agentMeta.provider",
        "result.meta.agentMeta.model",
        "result.meta.agentMeta.contextTokens",
        "result.meta.agentMeta.usage.input",
        "result.meta.agentMeta.usage.total",
    ] {
        assert!(has(&peer, path), "the real answer has {path}");
        assert!(has(fin, path), "ours has {path}: {fin}");
    }
    assert_eq!(fin["result"]["meta"]["agentMeta"]["provider"], "local");
    // The backend got upstream's request: streamed, usage asked for, the model's max tokens,
    // the system prompt first, the gateway's key.
    let req = backend
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/chat/completions")
        .expect("a completion request");
    assert_eq!(req.body["stream"], true);
    assert_eq!(req.body["stream_options"]["include_usage"], true);
    assert_eq!(req.body["max_completion_tokens"], 256);
    assert_eq!(req.body["messages"][0]["role"], "system");
    assert_eq!(req.header("authorization"), Some("Bearer sk-local"));
    // agent.wait after the end, and for a run nobody started.
    let w = c
        .call(
            "w1",
            "agent.wait",
            json!({"runId": "run-1", "timeoutMs": 1000}),
        )
        .await;
    assert_eq!(
        (
            w["payload"]["status"].as_str(),
            w["payload"]["stopReason"].as_str()
        ),
        (Some("ok"), Some("stop")),
        "{w}"
    );
    let w = c
        .call(
            "w2",
            "agent.wait",
            json!({"runId": "nope", "timeoutMs": 200}),
        )
        .await;
    assert_eq!(w["payload"], json!({"runId": "nope", "status": "timeout"}));
    // The session keeps the turn; a second turn sends it as context.
    let h = c
        .call(
            "h1",
            "chat.history",
            json!({"sessionKey": "agent:main:main"}),
        )
        .await;
    let roles: Vec<&str> = h["payload"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["user", "assistant"], "{h}");
    // Bad params are refused before any run starts.
    let bad = c.call("b1", "agent", json!({"idempotencyKey": "x"})).await;
    assert_eq!(bad["error"]["code"], "INVALID_REQUEST", "{bad}");
    assert!(bad["error"]["message"]
        .as_str()
        .unwrap()
        .contains("message"));
}

#[test]
fn chat_completions_over_http_streamed_and_not_with_bearer_auth() {
    let backend = Backend::start();
    let p = profile_with(&backend, r#""local/tiny""#, "");
    let gw = Gateway::start(&p, &[], &[]);
    let base = format!("http://127.0.0.1:{}", gw.port);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let http = reqwest::Client::new();
        let body =
            json!({"model": "openclaw/default", "messages": [{"role": "user", "content": "hi"}]});
        let r = http
            .post(format!("{base}/v1/chat/completions"))
            .json_body(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"error": {"message": "Unauthorized", "type": "unauthorized"}})
        );
        let r = http
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(TOKEN)
            .json_body(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], "openclaw/default");
        assert_eq!(
            v["choices"][0]["message"],
            json!({"role": "assistant", "content": "pong"})
        );
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["usage"]["total_tokens"], 4);
        // Streamed: a role delta, the content deltas, the finish, the usage, [DONE].
        let mut sbody = body.clone();
        sbody["stream"] = json!(true);
        sbody["stream_options"] = json!({"include_usage": true});
        let r = http
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(TOKEN)
            .json_body(&sbody)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let text = r.text().await.unwrap();
        let datas: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .collect();
        assert_eq!(datas.last(), Some(&"[DONE]"), "{text}");
        let chunks: Vec<Value> = datas[..datas.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(
            chunks[0]["choices"][0]["delta"],
            json!({"role": "assistant"})
        );
        let content: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(content, "pong");
        assert!(chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop"));
        assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 1);
        // Upstream's request errors.
        let r = http
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(TOKEN)
            .body(r#"{"messages":"x"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(
            v["error"]["message"],
            "messages: Invalid input: expected array, received string"
        );
        // /v1/models lists agent targets, not backend models.
        let v: Value = serde_json::from_str(
            &http
                .get(format!("{base}/v1/models"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        let ids: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["id"].as_str())
            .collect();
        assert_eq!(ids, ["openclaw", "openclaw/default", "openclaw/main"]);
        let one = http
            .get(format!("{base}/v1/models/openclaw%2Fdefault"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(one.status(), 200);
    });
    drop(gw);
    // Disabled (the default): the endpoints are not there.
    let off = Profile::local_token();
    let gw = Gateway::start(&off, &[], &[]);
    let base = format!("http://127.0.0.1:{}", gw.port);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(TOKEN)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    });
}

/// reqwest without its `json` feature: a JSON body by hand.
trait JsonBody {
    fn json_body(self, v: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, v: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(v.to_string())
    }
}

#[test]
fn a_long_context_429_fails_over_with_upstreams_lines_and_the_doctor_names_it() {
    let backend = Backend::start();
    let p = profile_with(
        &backend,
        r#"{ primary: "anth/claude-x", fallbacks: ["local/missing", "local/tiny"] }"#,
        r#", models: { "anth/claude-x": { params: { context1m: true } } }"#,
    );
    let mut gw = Gateway::start(&p, &[], &[]);
    let mut c = p.command();
    c.args([
        "agent",
        "--message",
        "hi",
        "--json",
        "--url",
        &gw.url(),
        "--token",
        TOKEN,
    ]);
    let (code, out, err) = run(c, Duration::from_secs(60));
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["result"]["payloads"][0]["text"], "pong");
    assert_eq!(v["result"]["meta"]["agentMeta"]["provider"], "local");
    let attempts: Vec<(String, Value)> = v["result"]["meta"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                format!(
                    "{}/{}",
                    a["provider"].as_str().unwrap(),
                    a["model"].as_str().unwrap()
                ),
                a["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        vec![
            ("anth/claude-x".to_string(), json!("billing")),
            ("local/missing".to_string(), json!("model_not_found")),
            ("local/tiny".to_string(), Value::Null),
        ]
    );
    // The runbook's string, and upstream's decision lines.
    gw.wait_for_lines(&[
        "HTTP 429: rate_limit_error: Extra usage is required for long context requests",
        "model fallback decision: decision=candidate_failed requested=anth/claude-x candidate=anth/claude-x reason=billing",
        "model fallback decision: decision=candidate_succeeded requested=anth/claude-x candidate=local/tiny",
        "Model \"local/missing\" not found. Fell back to \"local/tiny\".",
    ], Duration::from_secs(5));
    // The Anthropic request carried upstream's headers and the key.
    let anth = backend
        .requests()
        .into_iter()
        .find(|r| r.path == "/anthropic/v1/messages")
        .expect("anthropic call");
    assert_eq!(anth.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(anth.header("x-api-key"), Some("sk-ant-test"));
    assert!(anth
        .header("anthropic-beta")
        .unwrap_or_default()
        .contains("interleaved-thinking-2025-05-14"));
    // The doctor reads the run's lines from the gateway's log.
    let report = doctor_json(&p);
    let f = finding(&report, "models.anthropic-long-context");
    assert_eq!(f["status"], "warn", "{f}");
    assert!(
        f.to_string()
            .contains("Extra usage is required for long context requests"),
        "{f}"
    );
    let nf = finding(&report, "models.local-model-not-found");
    assert_eq!(nf["status"], "warn", "{nf}");
}

#[test]
fn an_empty_turn_logs_the_incomplete_turn_line_and_the_doctor_sees_it() {
    let backend = Backend::start();
    let p = profile_with(&backend, r#""local/empty""#, "");
    let mut gw = Gateway::start(&p, &[], &[]);
    let mut c = p.command();
    c.args([
        "agent",
        "--message",
        "hi",
        "--url",
        &gw.url(),
        "--token",
        TOKEN,
    ]);
    let (code, out, err) = run(c, Duration::from_secs(60));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("Agent couldn't generate a response"), "{err}");
    let line = gw.wait_for_line("incomplete turn detected", Duration::from_secs(5));
    assert!(
        line.contains("stopReason=stop") && line.contains("payloads=0"),
        "{line}"
    );
    // Upstream retries an empty turn once: two completion requests.
    let calls = backend
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .count();
    assert_eq!(calls, 2);
    let report = doctor_json(&p);
    assert_eq!(
        finding(&report, "models.local-incomplete-turn")["status"],
        "warn"
    );
}

#[test]
fn infer_model_run_and_models_status_read_the_config_as_upstream() {
    let backend = Backend::start();
    let p = profile_with(
        &backend,
        r#"{ primary: "local/tiny", fallbacks: ["anth/claude-ok"] }"#,
        "",
    );
    let mut c = p.command();
    c.args([
        "infer",
        "model",
        "run",
        "--model",
        "local/tiny",
        "--prompt",
        "hi",
        "--json",
    ]);
    let (code, out, err) = run(c, Duration::from_secs(30));
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        json!({"ok": true, "capability": "model.run", "transport": "local", "provider": "local",
                         "model": "tiny", "attempts": [], "outputs": [{"text": "pong", "mediaUrl": null}]})
    );
    // Only the prompt goes out (no system prompt on the local path).
    let req = backend.requests().into_iter().last().unwrap();
    assert_eq!(
        req.body["messages"],
        json!([{"role": "user", "content": "hi"}])
    );
    // Anthropic through the same command.
    let mut c = p.command();
    c.args([
        "infer",
        "model",
        "run",
        "--model",
        "anth/claude-ok",
        "--prompt",
        "hi",
    ]);
    let (code, out, _) = run(c, Duration::from_secs(30));
    assert_eq!((code, out.trim()), (0, "pong"));
    // A model the backend does not know: the real CLI's message, exit 1.
    let mut c = p.command();
    c.args([
        "infer",
        "model",
        "run",
        "--model",
        "local/missing",
        "--prompt",
        "hi",
        "--json",
    ]);
    let (code, out, _) = run(c, Duration::from_secs(30));
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["error"]["message"],
        "No text output returned for provider \"local\" model \"missing\": 404 model 'missing' not found."
    );
    let mut c = p.command();
    c.args(["infer", "model", "run", "--prompt", " "]);
    assert_eq!(run(c, Duration::from_secs(10)).0, 2);
    // models status: selection, fallbacks, masked keys, never the key itself.
    let mut c = p.command();
    c.args(["models", "status", "--json"]);
    let (code, out, err) = run(c, Duration::from_secs(10));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains("sk-local") && !out.contains("sk-ant-test"),
        "{out}"
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["defaultModel"], "local/tiny");
    assert_eq!(v["fallbacks"], json!(["anth/claude-ok"]));
    let local = v["auth"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "local")
        .unwrap();
    assert_eq!(local["auth"]["value"], "sk...al");
    // A selection whose provider is missing: exit 1 and the problem named.
    let broken = Profile::new(r#"{ agents: { defaults: { model: "nowhere/m" } } }"#);
    let mut c = broken.command();
    c.args(["models", "status"]);
    let (code, out, _) = run(c, Duration::from_secs(10));
    assert_eq!(code, 1);
    assert!(out.contains("nowhere/m: no provider \"nowhere\""), "{out}");
}
