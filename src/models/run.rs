//! A model call with failover: try the chain (requested model, then the fallbacks) in order,
//! moving on on the errors upstream moves on on, logging each decision with upstream's
//! lines (`embedded run failover decision: …`, `model fallback decision: …`,
//! `Model "…" not found. Fell back to "…".`).

use super::call::{CallOptions, Client};
use super::catalog::{Catalog, ModelRef};
use super::chat::{CallError, ChatRequest, Completion, Delta, Reason};
use crate::logging::Logger;
use std::time::{Duration, Instant};

/// One model tried.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub model: ModelRef,
    pub error: Option<CallError>,
    pub duration: Duration,
}

impl Attempt {
    /// As `infer --json` and the doctor show it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "provider": self.model.provider,
            "model": self.model.model,
            "ok": self.error.is_none(),
            "reason": self.error.as_ref().map(|e| e.reason.as_str()),
            "status": self.error.as_ref().and_then(|e| e.status),
            "error": self.error.as_ref().map(CallError::describe),
            "durationMs": self.duration.as_millis() as u64,
        })
    }
}

/// A call that got an answer.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub model: ModelRef,
    pub completion: Completion,
    /// Every model tried, the answering one last.
    pub attempts: Vec<Attempt>,
}

/// A call that got none.
#[derive(Debug, Clone)]
pub struct Failed {
    pub attempts: Vec<Attempt>,
    pub error: CallError,
}

/// Where the log lines go and what they name.
pub struct Trace<'a> {
    pub logger: Option<&'a Logger>,
    pub run_id: &'a str,
}

/// Try `chain` in order. `build` makes the request for each candidate (its max tokens and
/// context budget differ). A candidate that already streamed text is not replaced: its
/// error is the run's.
pub async fn complete_with_failover(
    client: &Client,
    catalog: &Catalog,
    chain: &[ModelRef],
    build: &(dyn Fn(&ModelRef) -> ChatRequest + Sync),
    opts_for: &(dyn Fn(&ModelRef) -> CallOptions + Sync),
    trace: &Trace<'_>,
    on_delta: &mut (dyn FnMut(&ModelRef, Delta) + Send),
) -> Result<Outcome, Failed> {
    let mut attempts: Vec<Attempt> = Vec::new();
    let requested = chain.first().cloned();
    let Some(requested) = requested else {
        return Err(Failed {
            attempts,
            error: CallError::transport(
                Reason::ModelNotFound,
                "no model configured: set agents.defaults.model (for example `openclaw config set agents.defaults.model.primary <provider/model>`)",
            ),
        });
    };
    for (i, candidate) in chain.iter().enumerate() {
        let started = Instant::now();
        let result = match catalog.provider(&candidate.provider) {
            None => Err(CallError::transport(
                Reason::ModelNotFound,
                format!(
                    "Unknown model: {candidate} (no provider \"{}\" in models.providers)",
                    candidate.provider
                ),
            )),
            Some(p) => {
                let req = build(candidate);
                let opts = opts_for(candidate);
                let mut streamed = false;
                let mut sink = |d: Delta| {
                    streamed = true;
                    on_delta(candidate, d);
                };
                let r = client
                    .complete(p, &candidate.model, &req, &opts, &mut sink)
                    .await;
                match r {
                    Err(e) if streamed => {
                        attempts.push(Attempt {
                            model: candidate.clone(),
                            error: Some(e.clone()),
                            duration: started.elapsed(),
                        });
                        return Err(Failed { attempts, error: e });
                    }
                    r => r,
                }
            }
        };
        let duration = started.elapsed();
        match result {
            Ok(completion) => {
                attempts.push(Attempt {
                    model: candidate.clone(),
                    error: None,
                    duration,
                });
                if i > 0 {
                    log_succeeded(trace, &requested, candidate, &attempts);
                }
                return Ok(Outcome {
                    model: candidate.clone(),
                    completion,
                    attempts,
                });
            }
            Err(e) => {
                let next = chain.get(i + 1);
                log_failed(trace, &requested, candidate, &e, next);
                attempts.push(Attempt {
                    model: candidate.clone(),
                    error: Some(e.clone()),
                    duration,
                });
                if !e.reason.fails_over() || next.is_none() {
                    return Err(Failed { attempts, error: e });
                }
            }
        }
    }
    unreachable!("the loop returns on the last candidate")
}

fn log_failed(
    trace: &Trace<'_>,
    requested: &ModelRef,
    candidate: &ModelRef,
    e: &CallError,
    next: Option<&ModelRef>,
) {
    let Some(log) = trace.logger else { return };
    let decision = match next {
        Some(_) if e.reason.fails_over() => "fallback_model",
        _ => "surface_error",
    };
    log.warn(
        "agent/embedded",
        format!(
            "embedded run failover decision: runId={} stage=assistant decision={decision} reason={} from={candidate} error={} rawError={}",
            trace.run_id,
            e.reason.as_str(),
            e.describe(),
            raw(e)
        ),
    );
    log.warn(
        "model-fallback/decision",
        format!(
            "model fallback decision: decision=candidate_failed requested={requested} candidate={candidate} reason={}{} next={} detail={}",
            e.reason.as_str(),
            e.error_type.as_deref().map(|t| format!(" providerErrorType={t}")).unwrap_or_default(),
            next.map_or("none".to_string(), ToString::to_string),
            crate::util::log_safe(&e.message, 300)
        ),
    );
}

fn log_succeeded(
    trace: &Trace<'_>,
    requested: &ModelRef,
    candidate: &ModelRef,
    attempts: &[Attempt],
) {
    let Some(log) = trace.logger else { return };
    log.warn(
        "model-fallback/decision",
        format!(
            "model fallback decision: decision=candidate_succeeded requested={requested} candidate={candidate} reason=unknown next=none"
        ),
    );
    // Upstream's notice names the last model that was not found, when one was.
    if let Some(nf) = attempts.iter().rev().find(|a| {
        a.error
            .as_ref()
            .is_some_and(|e| e.reason == Reason::ModelNotFound)
    }) {
        log.warn(
            "model-fallback",
            format!(
                "Model \"{}\" not found. Fell back to \"{candidate}\".",
                nf.model
            ),
        );
    }
}

/// `rawError=` as upstream writes it: `<status>: <body>`.
fn raw(e: &CallError) -> String {
    match e.status {
        Some(s) => format!("{s}: {}", e.raw),
        None => e.raw.clone(),
    }
}

/// The chain for a run: `requested` (an explicit model) first, then the configured
/// fallbacks, then the configured primary (upstream appends it when the request named
/// another model); without `requested`, the configured primary and fallbacks.
pub fn chain_for(catalog: &Catalog, requested: Option<&ModelRef>) -> Vec<ModelRef> {
    let mut out = Vec::new();
    let mut push = |r: &ModelRef| {
        if !out.contains(r) {
            out.push(r.clone());
        }
    };
    match requested {
        Some(r) => {
            push(r);
            for f in &catalog.selection.fallbacks {
                push(f);
            }
            if let Some(p) = &catalog.selection.primary {
                push(p);
            }
        }
        None => {
            for r in catalog.selection.chain() {
                push(&r);
            }
        }
    }
    out
}
