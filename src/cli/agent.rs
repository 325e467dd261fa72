//! `openclaw agent`: one agent turn through the gateway, waited for (`agent` with
//! `expectFinal`), printed as text or as the gateway's final JSON.

use super::args::AgentArgs;
use super::call::resolve_target;
use super::context::Context;
use crate::client;
use crate::contract::exit;
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;

pub fn run(args: AgentArgs, ctx: Context) -> i32 {
    if args.message.trim().is_empty() {
        eprintln!("--message must contain non-whitespace text");
        return exit::USAGE;
    }
    if let Some(m) = &args.model {
        if crate::models::ModelRef::parse(m).is_none() {
            eprintln!("--model must be provider/model, got \"{m}\"");
            return exit::USAGE;
        }
    }
    let target = match resolve_target(&args.target, &ctx) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let session_key = match (&args.session_id, &args.to) {
        (Some(id), _) | (None, Some(id)) => format!("agent:{}:explicit:{id}", args.agent),
        (None, None) => format!("agent:{}:main", args.agent),
    };
    let mut params = json!({
        "message": args.message,
        "agentId": args.agent,
        "sessionKey": session_key,
        "idempotencyKey": uuid::Uuid::new_v4().to_string(),
    });
    if let Some(m) = &args.model {
        params["model"] = Value::from(m.as_str());
    }
    if let Some(t) = args.run_timeout {
        params["timeout"] = Value::from(t);
    }
    // The wait covers the run: its timeout (or the gateway default, 600 s) plus the connect.
    let wait = Duration::from_secs(args.run_timeout.unwrap_or(600) + 30);
    let stream = args.stream && !args.json;
    let result = super::block_on(async {
        let mut conn = target
            .connect(client::cli_scopes())
            .await
            .map_err(|e| (true, e.to_string()))?;
        let mut printed = false;
        let mut on_event = |name: &str, p: &Value| {
            if stream && name == "agent" && p["stream"] == "assistant" {
                if let Some(d) = p["data"]["delta"].as_str() {
                    print!("{d}");
                    let _ = std::io::stdout().flush();
                    printed = true;
                }
            }
        };
        let r = conn.call_final("agent", params, wait, &mut on_event).await;
        conn.close().await;
        r.map(|v| (v, printed)).map_err(|e| (false, e.to_string()))
    });
    match result {
        Ok((payload, printed)) => {
            let ok = payload["status"] == "ok";
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&payload).unwrap_or_default()
                );
            } else {
                let texts: Vec<&str> = payload["result"]["payloads"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|p| p["text"].as_str()).collect())
                    .unwrap_or_default();
                if printed && ok {
                    println!();
                } else {
                    for t in &texts {
                        if ok {
                            println!("{t}");
                        } else {
                            eprintln!("{t}");
                        }
                    }
                }
                if !ok {
                    eprintln!(
                        "Agent run {} ended with status {}. Next: openclaw logs --follow, openclaw models status",
                        payload["runId"].as_str().unwrap_or("?"),
                        payload["status"].as_str().unwrap_or("?")
                    );
                }
            }
            if ok {
                exit::OK
            } else {
                exit::FAILURE
            }
        }
        Err((connect_failed, message)) => {
            if connect_failed {
                eprintln!("gateway connect failed: {message}");
                eprintln!("Gateway target: {} ({})", target.url, target.source);
                eprintln!("Next: openclaw gateway status");
            } else {
                eprintln!("Agent run failed: {message}");
            }
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "ok": false,
                        "error": {"message": message, "stage": if connect_failed { "connect" } else { "call" }},
                        "gateway": {"url": target.url, "source": target.source},
                    }))
                    .unwrap_or_default()
                );
            }
            exit::FAILURE
        }
    }
}
