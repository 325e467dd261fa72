//! Agent runs: one user turn sent to the configured model (with failover), streamed as
//! `agent` and `chat` events, answered as upstream answers `agent` (`{runId,
//! status:"accepted"}` first, then `{runId, status:"ok"|"error", summary, result}`), waited
//! on by `agent.wait`, and fed to the OpenAI-compatible HTTP endpoints.
//!
//! A run belongs to the gateway, not to the connection that asked for it: it goes on when
//! that client leaves (another one can `agent.wait` for it), it is tracked by the gateway's
//! task tracker (a stop waits for it), and it is bounded by `agents.defaults.timeoutSeconds`.
//! Runs of one session are serialized so its transcript stays in order.
//!
//! Transcripts are kept in memory for this build (the last [`MAX_SESSION_MESSAGES`]
//! messages of at most [`MAX_SESSIONS`] sessions); upstream's per-agent SQLite store is not
//! written yet.

use super::state::Gateway;
use crate::config::env::Env;
use crate::models::catalog::{Catalog, ModelRef};
use crate::models::chat::{CallError, ChatRequest, Content, Delta, Message};
use crate::models::run::{self, Trace};
use crate::models::{anthropic, CallOptions, Client};
use crate::protocol::error::{ErrorShape, AGENT_TIMEOUT, UNAVAILABLE};
use crate::protocol::methods as m;
use crate::util::now_ms;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Runs that may be active at once (more: `UNAVAILABLE`, retryable).
pub const MAX_ACTIVE_RUNS: usize = 256;
/// Finished runs remembered for `agent.wait` and idempotent retries.
pub const MAX_FINISHED_RUNS: usize = 512;
/// Sessions whose transcript is kept.
pub const MAX_SESSIONS: usize = 1000;
/// Messages kept per session transcript.
pub const MAX_SESSION_MESSAGES: usize = 200;
/// Largest user message accepted (characters).
pub const MAX_MESSAGE_CHARS: usize = 2_000_000;
/// Per workspace file in the system prompt (`agents.defaults.bootstrapMaxChars`).
pub const DEFAULT_BOOTSTRAP_MAX_CHARS: usize = 20_000;
/// The workspace files upstream puts in the system prompt, in its order.
pub const WORKSPACE_FILES: &[&str] = &[
    "AGENTS.md",
    "SOUL.md",
    "TOOLS.md",
    "IDENTITY.md",
    "USER.md",
    "HEARTBEAT.md",
    "BOOTSTRAP.md",
    "MEMORY.md",
];
/// The user-visible text of a turn that produced nothing (upstream's).
pub const EMPTY_TURN_TEXT: &str = "⚠️ Agent couldn't generate a response. Please try again.";

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunEnd {
    /// `ok`, `error` or `timeout`.
    pub status: &'static str,
    pub ended_at: u64,
    pub stop_reason: String,
    /// The final `agent` response payload.
    pub payload: Value,
    /// Set when the final `agent` response is an error (`AGENT_TIMEOUT`).
    pub error: Option<ErrorShape>,
    pub text: String,
    pub model: Option<ModelRef>,
    pub usage: Option<crate::models::chat::Usage>,
    /// The provider error that ended it, if one did.
    pub failure: Option<CallError>,
}

/// What a streaming consumer (the HTTP endpoints) receives.
#[derive(Debug, Clone)]
pub enum RunEvent {
    Delta(Delta),
    End(Arc<RunEnd>),
}

/// One run, while it runs and for a while after.
pub struct RunSlot {
    pub run_id: String,
    pub session_key: String,
    pub agent_id: String,
    pub accepted_at: u64,
    done: watch::Sender<Option<Arc<RunEnd>>>,
    cancel: CancellationToken,
}

impl RunSlot {
    pub fn finished(&self) -> Option<Arc<RunEnd>> {
        self.done.borrow().clone()
    }

    /// Wait for the end (or `timeout`).
    pub async fn wait(&self, timeout: Duration) -> Option<Arc<RunEnd>> {
        let mut rx = self.done.subscribe();
        let r = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
        match r {
            Ok(Ok(v)) => v.clone(),
            _ => self.finished(),
        }
    }

    pub fn abort(&self) {
        self.cancel.cancel();
    }

    /// The first `agent` response.
    pub fn accepted(&self) -> Value {
        json!({"runId": self.run_id, "agentId": self.agent_id, "status": "accepted", "acceptedAt": self.accepted_at})
    }
}

/// Where a run's input comes from.
#[derive(Debug, Clone)]
pub enum Input {
    /// One user message appended to the session's transcript (`agent`, `chat.send`).
    Turn(Content),
    /// A whole conversation given by the caller (`/v1/chat/completions`); the session's
    /// transcript is not read.
    Conversation {
        system: Option<String>,
        messages: Vec<Message>,
    },
}

/// What a caller asks for.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub run_id: String,
    pub agent_id: String,
    pub session_key: String,
    pub input: Input,
    /// An explicit `provider/model` (fallbacks still apply).
    pub model: Option<ModelRef>,
    pub timeout: Option<Duration>,
    pub extra_system_prompt: Option<String>,
    pub tools: Vec<Value>,
    pub tool_choice: Option<Value>,
    pub sampling: serde_json::Map<String, Value>,
    /// Emit `chat` events too (`chat.send`, and `agent` runs as upstream does).
    pub chat_events: bool,
}

#[derive(Default)]
struct Registry {
    by_id: HashMap<String, Arc<RunSlot>>,
    finished: VecDeque<String>,
    active: usize,
}

#[derive(Default)]
struct Sessions {
    by_key: HashMap<String, Arc<tokio::sync::Mutex<Transcript>>>,
    order: VecDeque<String>,
}

/// A session's messages (bounded) and its id.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub session_id: String,
    pub messages: VecDeque<(Message, u64)>,
    pub updated_at: u64,
    pub model: Option<ModelRef>,
}

/// The runs and transcripts of one gateway.
#[derive(Default)]
pub struct Agents {
    client: Client,
    registry: Mutex<Registry>,
    sessions: Mutex<Sessions>,
}

impl Agents {
    pub fn find(&self, run_id: &str) -> Option<Arc<RunSlot>> {
        self.lock().by_id.get(run_id).cloned()
    }

    pub fn active(&self) -> usize {
        self.lock().active
    }

    /// Abort the runs of a session (or one run); returns the run ids aborted.
    pub fn abort(&self, session_key: &str, run_id: Option<&str>) -> Vec<String> {
        let reg = self.lock();
        let mut out = vec![];
        for slot in reg.by_id.values() {
            if slot.session_key == session_key
                && run_id.is_none_or(|r| r == slot.run_id)
                && slot.finished().is_none()
            {
                slot.abort();
                out.push(slot.run_id.clone());
            }
        }
        out
    }

    /// The session's transcript (a copy), if it has one.
    pub fn transcript(&self, session_key: &str) -> Option<Arc<tokio::sync::Mutex<Transcript>>> {
        self.sessions_lock().by_key.get(session_key).cloned()
    }

    fn session(&self, key: &str) -> Arc<tokio::sync::Mutex<Transcript>> {
        let mut s = self.sessions_lock();
        if let Some(t) = s.by_key.get(key) {
            return t.clone();
        }
        let t = Arc::new(tokio::sync::Mutex::new(Transcript {
            session_id: uuid::Uuid::new_v4().to_string(),
            messages: VecDeque::new(),
            updated_at: now_ms(),
            model: None,
        }));
        s.by_key.insert(key.to_string(), t.clone());
        s.order.push_back(key.to_string());
        while s.order.len() > MAX_SESSIONS {
            if let Some(old) = s.order.pop_front() {
                s.by_key.remove(&old);
            }
        }
        t
    }

    /// Every session key with a transcript, oldest first.
    pub fn session_keys(&self) -> Vec<String> {
        self.sessions_lock().order.iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sessions_lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finish(&self, run_id: &str) {
        let mut reg = self.lock();
        reg.active = reg.active.saturating_sub(1);
        reg.finished.push_back(run_id.to_string());
        while reg.finished.len() > MAX_FINISHED_RUNS {
            if let Some(old) = reg.finished.pop_front() {
                reg.by_id.remove(&old);
            }
        }
    }
}

/// Start a run (or find the one this `run_id` already names: idempotent retries get the
/// same run). `sink` receives the deltas and the end (the HTTP endpoints); when it is
/// closed by its receiver, the run is aborted.
pub fn start(
    gw: &Arc<Gateway>,
    req: RunRequest,
    sink: Option<mpsc::Sender<RunEvent>>,
) -> Result<(Arc<RunSlot>, bool), ErrorShape> {
    let slot = {
        let mut reg = gw.agents.lock();
        if let Some(existing) = reg.by_id.get(&req.run_id) {
            return Ok((existing.clone(), false));
        }
        if reg.active >= MAX_ACTIVE_RUNS {
            let mut e = ErrorShape::new(
                UNAVAILABLE,
                format!("too many agent runs in progress (max {MAX_ACTIVE_RUNS}); retry"),
            );
            e.retryable = Some(true);
            return Err(e);
        }
        let (done, _) = watch::channel(None);
        let slot = Arc::new(RunSlot {
            run_id: req.run_id.clone(),
            session_key: req.session_key.clone(),
            agent_id: req.agent_id.clone(),
            accepted_at: now_ms(),
            done,
            cancel: CancellationToken::new(),
        });
        reg.by_id.insert(req.run_id.clone(), slot.clone());
        reg.active += 1;
        slot
    };
    let task_gw = gw.clone();
    let task_slot = slot.clone();
    gw.tasks.spawn(async move {
        let end = execute(&task_gw, &task_slot, req, sink.clone()).await;
        let end = Arc::new(end);
        if let Some(s) = sink {
            let _ = s.send(RunEvent::End(end.clone())).await;
        }
        task_slot.done.send_replace(Some(end));
        task_gw.agents.finish(&task_slot.run_id);
    });
    Ok((slot, true))
}

/// Per-run event sequence and the broadcast of `agent` / `chat` events.
struct Emitter<'a> {
    gw: &'a Gateway,
    slot: &'a RunSlot,
    session_id: String,
    seq: u64,
    chat: bool,
    text: String,
    item_id: String,
}

impl Emitter<'_> {
    fn agent(&mut self, stream: &str, data: Value, with_session_id: bool) {
        self.seq += 1;
        let mut p = json!({
            "runId": self.slot.run_id,
            "sessionKey": self.slot.session_key,
            "agentId": self.slot.agent_id,
            "stream": stream,
            "data": data,
            "seq": self.seq,
            "ts": now_ms(),
        });
        if with_session_id {
            p["sessionId"] = Value::from(self.session_id.as_str());
        }
        // Deltas may be dropped for a slow client (the final carries the whole text);
        // lifecycle events may not.
        self.gw
            .broadcast(m::EV_AGENT, &p, stream == "assistant", false);
    }

    fn chat(&mut self, state: &str, extra: Value) {
        if !self.chat {
            return;
        }
        let mut p = json!({
            "runId": self.slot.run_id,
            "sessionKey": self.slot.session_key,
            "agentId": self.slot.agent_id,
            "seq": self.seq,
            "state": state,
        });
        if let (Value::Object(o), Value::Object(e)) = (&mut p, extra) {
            o.extend(e);
        }
        self.gw.broadcast(m::EV_CHAT, &p, state == "delta", false);
    }

    fn delta(&mut self, text: &str) {
        self.text.push_str(text);
        let data = json!({"text": self.text, "delta": text, "itemId": self.item_id});
        self.agent("assistant", data, false);
        let msg = json!({"role": "assistant", "content": [{"type": "text", "text": self.text}], "timestamp": now_ms()});
        self.chat("delta", json!({"deltaText": text, "message": msg}));
    }
}

async fn execute(
    gw: &Arc<Gateway>,
    slot: &Arc<RunSlot>,
    req: RunRequest,
    sink: Option<mpsc::Sender<RunEvent>>,
) -> RunEnd {
    let started = Instant::now();
    let cfg = gw.config();
    let env = Env::from_process();
    let catalog = Catalog::from_config(&cfg.loaded, &env);
    let timeout = req.timeout.unwrap_or(catalog.run_timeout);
    let transcript = gw.agents.session(&req.session_key);
    // One run of a session at a time.
    let mut t = transcript.lock().await;
    let mut em = Emitter {
        gw,
        slot,
        session_id: t.session_id.clone(),
        seq: 0,
        chat: req.chat_events,
        text: String::new(),
        item_id: format!("{}:1", uuid::Uuid::new_v4()),
    };
    em.agent(
        "lifecycle",
        json!({"phase": "start", "startedAt": now_ms()}),
        true,
    );
    let system = system_prompt(&cfg.loaded, &env, &cfg.state_dir, &req);
    let (system, messages) = match &req.input {
        Input::Turn(content) => {
            let mut msgs: Vec<Message> = t.messages.iter().map(|(m, _)| m.clone()).collect();
            msgs.push(Message {
                role: "user".into(),
                content: content.clone(),
                tool_call_id: None,
                tool_calls: vec![],
            });
            (Some(system), msgs)
        }
        Input::Conversation {
            system: s,
            messages,
        } => {
            let joined = match s {
                Some(s) if !s.is_empty() => format!("{system}\n\n{s}"),
                _ => system,
            };
            (Some(joined), messages.clone())
        }
    };
    let chain = run::chain_for(&catalog, req.model.as_ref());
    let build = |r: &ModelRef| ChatRequest {
        system: system.clone(),
        messages: messages.clone(),
        max_tokens: catalog.max_tokens(r),
        tools: req.tools.clone(),
        tool_choice: req.tool_choice.clone(),
        sampling: req.sampling.clone(),
    };
    let opts_for = |r: &ModelRef| {
        let per_call = catalog
            .provider(&r.provider)
            .map_or(crate::models::catalog::DEFAULT_PROVIDER_TIMEOUT, |p| {
                p.timeout
            });
        CallOptions::streaming(per_call.min(timeout))
    };
    let trace = Trace {
        logger: Some(&gw.logger),
        run_id: &slot.run_id,
    };
    // Deltas go out as events and to the sink; a model announcement precedes the first.
    // Unbounded: what it holds is bounded by the provider stream's cap (`call::MAX_STREAM`).
    let (dtx, mut drx) = mpsc::unbounded_channel::<(ModelRef, Delta)>();
    let call = async {
        // Owned here: the channel closes (and the pump ends) when the call is over.
        let dtx = dtx;
        let mut on_delta = |r: &ModelRef, d: Delta| {
            let _ = dtx.send((r.clone(), d));
        };
        let first = run::complete_with_failover(
            &gw.agents.client,
            &catalog,
            &chain,
            &build,
            &opts_for,
            &trace,
            &mut on_delta,
        )
        .await;
        // Upstream retries an empty turn once before it gives up on it.
        match first {
            Ok(o) if o.completion.is_empty() => {
                gw.logger.warn(
                    "agent/embedded",
                    format!(
                        "empty response detected: runId={} sessionId={} provider={} — retrying 1/1 with visible-answer continuation",
                        slot.run_id, t.session_id, o.model
                    ),
                );
                let again = [o.model.clone()];
                let second = run::complete_with_failover(
                    &gw.agents.client,
                    &catalog,
                    &again,
                    &build,
                    &opts_for,
                    &trace,
                    &mut on_delta,
                )
                .await;
                match second {
                    Ok(mut o2) => {
                        let mut attempts = o.attempts;
                        attempts.append(&mut o2.attempts);
                        o2.attempts = attempts;
                        Ok(o2)
                    }
                    Err(f) => Err(f),
                }
            }
            other => other,
        }
    };
    let mut announced: Option<ModelRef> = None;
    let pump = async {
        while let Some((r, d)) = drx.recv().await {
            if announced.as_ref() != Some(&r) {
                em.agent(
                    "lifecycle",
                    json!({"phase": "model", "provider": r.provider, "model": r.model}),
                    true,
                );
                announced = Some(r.clone());
            }
            if let Delta::Text(t) = &d {
                em.delta(t);
            }
            if let Some(s) = &sink {
                if s.send(RunEvent::Delta(d)).await.is_err() {
                    // The HTTP client went away: upstream cancels the run.
                    slot.abort();
                }
            }
        }
    };
    let outcome = tokio::select! {
        r = tokio::time::timeout(timeout, async {
            let (r, ()) = tokio::join!(call, pump);
            r
        }) => match r {
            Ok(r) => Ok(r),
            Err(_) => Err("timeout"),
        },
        _ = slot.cancel.cancelled() => Err("aborted"),
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    let ended_at = now_ms();
    let session_id = t.session_id.clone();
    let (end, user_content) = {
        let user_content = match &req.input {
            Input::Turn(c) => Some(c.clone()),
            Input::Conversation { .. } => None,
        };
        let end = match outcome {
            Ok(Ok(o)) if !o.completion.is_empty() => {
                let c = &o.completion;
                let usage = c.usage.unwrap_or_default();
                let context_tokens = context_tokens(&catalog, &o.model);
                let payload = json!({
                    "runId": slot.run_id,
                    "status": "ok",
                    "summary": "completed",
                    "result": {
                        "payloads": [{"text": c.text, "mediaUrl": null}],
                        "meta": {
                            "durationMs": duration_ms,
                            "agentMeta": {
                                "sessionId": session_id,
                                "sessionFile": slot.session_key,
                                "provider": o.model.provider,
                                "model": o.model.model,
                                "contextTokens": context_tokens,
                                "agentHarnessId": "openclaw",
                                "usage": usage.to_json(),
                                "lastCallUsage": usage.to_json(),
                                "promptTokens": usage.input,
                            },
                            "stopReason": c.stop_reason,
                            "attempts": o.attempts.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
                            "toolCalls": c.tool_calls.iter().map(|t| json!({
                                "id": t.id, "type": "function",
                                "function": {"name": t.name, "arguments": t.arguments},
                            })).collect::<Vec<_>>(),
                        }
                    }
                });
                RunEnd {
                    status: "ok",
                    ended_at,
                    stop_reason: c.stop_reason.clone(),
                    payload,
                    error: None,
                    text: c.text.clone(),
                    model: Some(o.model.clone()),
                    usage: c.usage,
                    failure: None,
                }
            }
            Ok(Ok(o)) => {
                // Empty twice: upstream's incomplete-turn line and its user-facing text.
                gw.logger.warn(
                    "agent/embedded",
                    format!(
                        "empty response retries exhausted: runId={} sessionId={session_id} provider={} attempts=1/1 — surfacing incomplete-turn error",
                        slot.run_id, o.model
                    ),
                );
                gw.logger.warn(
                    "agent/embedded",
                    format!(
                        "incomplete turn detected: runId={} sessionId={session_id} provider={} stopReason={} hasLastAssistant=yes hasCurrentAttemptAssistant=yes payloads=0 tools={} replaySafe=yes compactions=0 reasoningRetries=0/2 emptyRetries=1/1 missingAssistantRetries=0/1 — surfacing error to user",
                        slot.run_id,
                        o.model,
                        if o.completion.stop_reason.is_empty() { "missing" } else { &o.completion.stop_reason },
                        o.completion.tool_calls.len()
                    ),
                );
                error_end(
                    slot,
                    &session_id,
                    duration_ms,
                    ended_at,
                    EMPTY_TURN_TEXT.to_string(),
                    Some(o.model.clone()),
                    "stop",
                    None,
                )
            }
            Ok(Err(f)) => {
                let model = f.attempts.last().map(|a| a.model.clone());
                let text = match &model {
                    Some(mr) => format!(
                        "⚠️ {} ({}) failed: {}",
                        mr.provider,
                        mr.model,
                        f.error.describe()
                    ),
                    None => format!("⚠️ {}", f.error.describe()),
                };
                gw.logger.warn(
                    "agent/embedded",
                    format!(
                        "embedded run agent end: runId={} isError=true model={} provider={} error={}",
                        slot.run_id,
                        model.as_ref().map_or("-", |m| m.model.as_str()),
                        model.as_ref().map_or("-", |m| m.provider.as_str()),
                        f.error.describe()
                    ),
                );
                error_end(
                    slot,
                    &session_id,
                    duration_ms,
                    ended_at,
                    text,
                    model,
                    "error",
                    Some(f.error),
                )
            }
            Err(why) => {
                let timed_out = why == "timeout";
                let text = if timed_out {
                    format!("⚠️ Agent run timed out after {} s.", timeout.as_secs())
                } else {
                    "⚠️ Agent run aborted.".to_string()
                };
                let mut end = error_end(
                    slot,
                    &session_id,
                    duration_ms,
                    ended_at,
                    text,
                    None,
                    if timed_out { "timeout" } else { "aborted" },
                    None,
                );
                if timed_out {
                    end.status = "timeout";
                    end.error = Some(ErrorShape::new(
                        AGENT_TIMEOUT,
                        format!(
                            "agent run {} timed out after {} ms",
                            slot.run_id,
                            timeout.as_millis()
                        ),
                    ));
                }
                end
            }
        };
        (end, user_content)
    };
    // The transcript keeps the turn when it produced an answer.
    if let (Some(u), "ok") = (user_content, end.status) {
        let now = now_ms();
        t.messages.push_back((
            Message {
                role: "user".into(),
                content: u,
                tool_call_id: None,
                tool_calls: vec![],
            },
            now,
        ));
        t.messages
            .push_back((Message::assistant(end.text.clone()), now));
        while t.messages.len() > MAX_SESSION_MESSAGES {
            t.messages.pop_front();
        }
        t.updated_at = now;
        t.model = end.model.clone();
    }
    drop(t);
    em.agent(
        "lifecycle",
        json!({"phase": "end", "startedAt": slot.accepted_at, "endedAt": end.ended_at,
               "aborted": end.stop_reason == "aborted", "stopReason": end.stop_reason,
               "terminalReply": {"disposition": "visible", "text": end.payload["result"]["payloads"][0]["text"]}}),
        true,
    );
    let final_text = end.payload["result"]["payloads"][0]["text"].clone();
    let msg = json!({"role": "assistant", "content": [{"type": "text", "text": final_text}], "timestamp": now_ms()});
    if end.status == "ok" {
        em.chat(
            "final",
            json!({"stopReason": end.stop_reason, "message": msg}),
        );
    } else {
        em.chat(
            "error",
            json!({"stopReason": end.stop_reason, "errorMessage": final_text, "message": msg}),
        );
    }
    gw.logger.info(
        "agents/agent-command",
        format!(
            "[agent] run {} ended with stopReason={}",
            slot.run_id, end.stop_reason
        ),
    );
    end
}

#[allow(clippy::too_many_arguments)]
fn error_end(
    slot: &RunSlot,
    session_id: &str,
    duration_ms: u64,
    ended_at: u64,
    text: String,
    model: Option<ModelRef>,
    stop_reason: &str,
    failure: Option<CallError>,
) -> RunEnd {
    let payload = json!({
        "runId": slot.run_id,
        "status": "error",
        "summary": "failed",
        "result": {
            "payloads": [{"text": text, "isError": true, "mediaUrl": null}],
            "meta": {
                "durationMs": duration_ms,
                "agentMeta": {
                    "sessionId": session_id,
                    "sessionFile": slot.session_key,
                    "provider": model.as_ref().map(|m| m.provider.clone()),
                    "model": model.as_ref().map(|m| m.model.clone()),
                    "agentHarnessId": "openclaw",
                },
                "stopReason": stop_reason,
                "error": failure.as_ref().map(|e| json!({
                    "reason": e.reason.as_str(), "status": e.status, "message": e.describe()
                })),
            }
        }
    });
    RunEnd {
        status: "error",
        ended_at,
        stop_reason: stop_reason.to_string(),
        payload,
        error: None,
        text,
        model,
        usage: None,
        failure,
    }
}

/// The context budget of a model: its `contextWindow`, 1M with `context1m` on a model that
/// has the window, else upstream's 200k default.
pub fn context_tokens(catalog: &Catalog, r: &ModelRef) -> u64 {
    let declared = catalog
        .provider(&r.provider)
        .and_then(|p| p.model(&r.model))
        .and_then(|m| m.context_window);
    if catalog.context1m(r) && anthropic::supports_1m(&r.model) {
        return anthropic::CONTEXT_1M_TOKENS;
    }
    declared.unwrap_or(200_000)
}

/// The system prompt: upstream's opening line, the workspace files that exist (each cut at
/// `agents.defaults.bootstrapMaxChars`), the run's extra prompt.
pub fn system_prompt(
    cfg: &crate::config::load::LoadedConfig,
    env: &Env,
    state_dir: &std::path::Path,
    req: &RunRequest,
) -> String {
    let mut s = String::from("You are a personal assistant running inside OpenClaw.\n");
    let workspace = workspace_dir(cfg, env, state_dir);
    let max = cfg
        .get("agents.defaults.bootstrapMaxChars")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_BOOTSTRAP_MAX_CHARS, |v| v as usize);
    for name in WORKSPACE_FILES {
        let p = workspace.join(name);
        let Ok(text) = read_capped(&p, max) else {
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        s.push_str(&format!("\n## {name}\n{}\n", text.trim_end()));
    }
    if let Some(extra) = &req.extra_system_prompt {
        s.push('\n');
        s.push_str(extra);
        s.push('\n');
    }
    s
}

fn read_capped(p: &std::path::Path, max_chars: usize) -> std::io::Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(p)?;
    let mut buf = Vec::new();
    f.take((max_chars as u64).saturating_mul(4))
        .read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    Ok(text.chars().take(max_chars).collect())
}

/// `agents.defaults.workspace` (with `~`), else `<state>/workspace`.
pub fn workspace_dir(
    cfg: &crate::config::load::LoadedConfig,
    env: &Env,
    state_dir: &std::path::Path,
) -> std::path::PathBuf {
    match cfg
        .get_str("agents.defaults.workspace")
        .filter(|w| !w.is_empty())
    {
        Some(w) => env.expand_home(w),
        None => state_dir.join("workspace"),
    }
}

// ---- RPC methods ----

/// The session key for an `agent` request: `sessionKey`, else upstream's
/// `agent:<agentId>:explicit:<sessionId or runId>`.
fn session_key_for(p: &Value, agent_id: &str, run_id: &str) -> String {
    if let Some(k) = p
        .get("sessionKey")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
    {
        return k.to_string();
    }
    let sid = p
        .get("sessionId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(run_id);
    format!("agent:{agent_id}:explicit:{sid}")
}

fn message_param(p: &Value, method: &str) -> Result<Content, ErrorShape> {
    let msg = p.get("message").ok_or_else(|| {
        ErrorShape::invalid(format!(
            "invalid {method} params: must have required property 'message'"
        ))
    })?;
    let content = match msg {
        Value::String(s) if !s.trim().is_empty() => Content::Text(s.clone()),
        Value::Array(parts) if !parts.is_empty() => Content::Parts(parts.clone()),
        _ => {
            return Err(ErrorShape::invalid(format!(
                "invalid {method} params: message must be a non-empty string"
            )))
        }
    };
    if content.text().chars().count() > MAX_MESSAGE_CHARS {
        return Err(ErrorShape::invalid(format!(
            "invalid {method} params: message longer than {MAX_MESSAGE_CHARS} characters"
        )));
    }
    Ok(content)
}

/// A required non-empty string param.
fn required_str<'a>(p: &'a Value, method: &str, key: &str) -> Result<&'a str, ErrorShape> {
    p.get(key)
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ErrorShape::invalid(format!(
                "invalid {method} params: must have required property '{key}'"
            ))
        })
}

fn idempotency_key(p: &Value, method: &str) -> Result<String, ErrorShape> {
    match p.get("idempotencyKey").and_then(Value::as_str) {
        Some(k) if !k.is_empty() && k.len() <= 200 => Ok(k.to_string()),
        _ => Err(ErrorShape::invalid(format!(
            "invalid {method} params: must have required property 'idempotencyKey'"
        ))),
    }
}

fn model_param(p: &Value) -> Result<Option<ModelRef>, ErrorShape> {
    match p
        .get("model")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(s) => ModelRef::parse(s).map(Some).ok_or_else(|| {
            ErrorShape::invalid(format!(
                "invalid agent params: model must be provider/model, got \"{s}\""
            ))
        }),
    }
}

/// `agent`: accepted at once (sent through `interim`), the final answer when the run ends.
pub async fn agent_method(
    gw: Arc<Gateway>,
    p: Value,
    interim: super::methods::Interim,
) -> Result<Value, ErrorShape> {
    let content = message_param(&p, "agent")?;
    let run_id = idempotency_key(&p, "agent")?;
    let agent_id = p
        .get("agentId")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .unwrap_or("main")
        .to_string();
    let req = RunRequest {
        session_key: session_key_for(&p, &agent_id, &run_id),
        run_id,
        agent_id,
        input: Input::Turn(content),
        model: model_param(&p)?,
        timeout: p
            .get("timeout")
            .and_then(Value::as_u64)
            .filter(|t| *t > 0)
            .map(Duration::from_secs),
        extra_system_prompt: p
            .get("extraSystemPrompt")
            .and_then(Value::as_str)
            .map(str::to_string),
        tools: vec![],
        tool_choice: None,
        sampling: Default::default(),
        chat_events: true,
    };
    let (slot, _) = start(&gw, req, None)?;
    interim.send(slot.accepted());
    let end = slot.wait(Duration::MAX).await;
    match end {
        Some(e) => match &e.error {
            Some(err) => Err(err.clone()),
            None => Ok(e.payload.clone()),
        },
        None => Err(ErrorShape::new(
            UNAVAILABLE,
            "agent run ended without a result (gateway stopping)",
        )),
    }
}

/// `agent.wait {runId, timeoutMs}`: the end of a run, or `status: "timeout"`.
pub async fn agent_wait_method(gw: Arc<Gateway>, p: Value) -> Result<Value, ErrorShape> {
    let run_id = p
        .get("runId")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            ErrorShape::invalid("invalid agent.wait params: must have required property 'runId'")
        })?
        .to_string();
    let timeout_ms = p
        .get("timeoutMs")
        .and_then(Value::as_u64)
        .unwrap_or(30_000)
        .min(600_000);
    let slot = gw.agents.find(&run_id);
    let end = match slot {
        Some(s) => s.wait(Duration::from_millis(timeout_ms)).await,
        None => {
            // Unknown runs are waited for too (a run may be started after the wait).
            let deadline = Instant::now() + Duration::from_millis(timeout_ms);
            let mut found = None;
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50).min(deadline - Instant::now())).await;
                if let Some(s) = gw.agents.find(&run_id) {
                    found = s
                        .wait(deadline.saturating_duration_since(Instant::now()))
                        .await;
                    break;
                }
            }
            found
        }
    };
    Ok(match end {
        Some(e) => json!({
            "runId": run_id,
            "status": if e.status == "ok" { "ok" } else { e.status },
            "endedAt": e.ended_at,
            "stopReason": e.stop_reason,
        }),
        None => json!({"runId": run_id, "status": "timeout"}),
    })
}

/// `chat.send {sessionKey, message, idempotencyKey}`: `{runId, status:"started"}`; the run
/// streams `chat` events.
pub fn chat_send(gw: &Arc<Gateway>, p: &Value) -> Result<Value, ErrorShape> {
    let content = message_param(p, "chat.send")?;
    let run_id = idempotency_key(p, "chat.send")?;
    let session_key = required_str(p, "chat.send", "sessionKey")?.to_string();
    let agent_id = agent_of(&session_key);
    let req = RunRequest {
        run_id,
        agent_id,
        session_key,
        input: Input::Turn(content),
        model: None,
        timeout: None,
        extra_system_prompt: None,
        tools: vec![],
        tool_choice: None,
        sampling: Default::default(),
        chat_events: true,
    };
    let (slot, fresh) = start(gw, req, None)?;
    let status = match slot.finished() {
        Some(_) => "ok",
        None if fresh => "started",
        None => "in_flight",
    };
    Ok(json!({"runId": slot.run_id, "status": status}))
}

/// `agent:<id>:…` → `<id>` (else `main`).
pub fn agent_of(session_key: &str) -> String {
    let mut parts = session_key.split(':');
    match (parts.next(), parts.next()) {
        (Some("agent"), Some(id)) if !id.is_empty() => id.to_string(),
        _ => "main".to_string(),
    }
}

/// `chat.history {sessionKey, limit?}`.
pub async fn chat_history(gw: Arc<Gateway>, p: Value) -> Result<Value, ErrorShape> {
    let key = required_str(&p, "chat.history", "sessionKey")?.to_string();
    let limit = p
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(200)
        .clamp(1, 1000) as usize;
    let (messages, total, session_id) = match gw.agents.transcript(&key) {
        Some(t) => {
            let t = t.lock().await;
            let total = t.messages.len();
            let msgs: Vec<Value> = t
                .messages
                .iter()
                .skip(total.saturating_sub(limit))
                .map(|(m, ts)| {
                    let content = match &m.content {
                        Content::Text(s) => json!([{"type": "text", "text": s}]),
                        Content::Parts(p) => Value::Array(p.clone()),
                    };
                    json!({"role": m.role, "content": content, "timestamp": ts})
                })
                .collect();
            (msgs, total, Some(t.session_id.clone()))
        }
        None => (vec![], 0, None),
    };
    Ok(json!({
        "sessionKey": key,
        "sessionId": session_id,
        "messages": messages,
        "hasMore": total > messages.len(),
        "totalMessages": total,
    }))
}

/// `chat.abort {sessionKey, runId?}`.
pub fn chat_abort(gw: &Gateway, p: &Value) -> Result<Value, ErrorShape> {
    let key = required_str(p, "chat.abort", "sessionKey")?;
    let run_id = p.get("runId").and_then(Value::as_str);
    let aborted = gw.agents.abort(key, run_id);
    Ok(json!({"ok": true, "aborted": !aborted.is_empty(), "runIds": aborted}))
}

/// `models.list`: the configured models (`{models:[{id, name, provider, contextWindow}]}`).
pub fn models_list(gw: &Gateway) -> Value {
    let cfg = gw.config();
    let catalog = Catalog::from_config(&cfg.loaded, &Env::from_process());
    let models: Vec<Value> = catalog
        .configured()
        .flat_map(|p| {
            p.models.iter().map(move |m| {
                json!({"id": m.id, "name": m.name.clone().unwrap_or_else(|| m.id.clone()),
                       "provider": p.id, "contextWindow": m.context_window,
                       "input": m.input})
            })
        })
        .collect();
    json!({"models": models})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_follow_upstream() {
        assert_eq!(
            session_key_for(&json!({}), "main", "k3"),
            "agent:main:explicit:k3"
        );
        assert_eq!(
            session_key_for(&json!({"sessionId": "s"}), "ops", "k"),
            "agent:ops:explicit:s"
        );
        assert_eq!(
            session_key_for(&json!({"sessionKey": "agent:main:main"}), "main", "k"),
            "agent:main:main"
        );
        assert_eq!(agent_of("agent:ops:main"), "ops");
        assert_eq!(agent_of("weird"), "main");
    }

    #[test]
    fn params_are_checked() {
        assert!(message_param(&json!({}), "agent").is_err());
        assert!(message_param(&json!({"message": "  "}), "agent").is_err());
        assert!(idempotency_key(&json!({"message": "x"}), "agent").is_err());
        assert!(model_param(&json!({"model": "bare"})).is_err());
        assert_eq!(
            model_param(&json!({"model": "a/b"})).unwrap(),
            ModelRef::parse("a/b")
        );
    }
}
