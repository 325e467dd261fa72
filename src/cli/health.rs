//! `openclaw health`: the gateway's HealthSummary, for people or as JSON.

use super::args::HealthArgs;
use super::call::resolve_read_target;
use super::context::Context;
use crate::client::{self, ConnectError};
use crate::contract::exit::{self, probe};
use crate::contract::SCHEMA_VERSION;
use serde_json::{json, Value};

pub fn run(args: HealthArgs, ctx: Context) -> i32 {
    run_as(args, ctx, false)
}

/// `openclaw gateway health`: the same call, shown as upstream's two lines
/// (`Gateway Health`, then `OK (<ms>ms)`); `--json` prints what `health --json` does.
pub fn run_brief(args: HealthArgs, ctx: Context) -> i32 {
    run_as(args, ctx, true)
}

fn run_as(args: HealthArgs, ctx: Context, brief: bool) -> i32 {
    let target = match resolve_read_target(&args.target, &ctx) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let timeout = target.timeout;
    let outcome: Result<(Value, u128), (i32, &'static str, String)> = super::block_on(async {
        let mut conn = match target.connect(client::probe_scopes()).await {
            Ok(c) => c,
            Err(e @ (ConnectError::Open(_) | ConnectError::Timeout(_))) if !e.transport_ok() => {
                return Err((probe::UNREACHABLE, "gateway_unreachable", e.to_string()))
            }
            Err(e) => return Err((probe::DEGRADED, "gateway_connect_refused", e.to_string())),
        };
        let started = std::time::Instant::now();
        let r = conn
            .call("health", json!({"probe": args.verbose}), timeout)
            .await;
        let elapsed = started.elapsed().as_millis();
        conn.close().await;
        let r = r.map(|mut v| {
            if let Value::Object(m) = &mut v {
                m.entry("durationMs").or_insert(json!(elapsed));
            }
            (v, elapsed)
        });
        r.map_err(|e| (probe::DEGRADED, "health_rpc_failed", e.to_string()))
    });
    match outcome {
        Ok((mut health, elapsed)) => {
            let healthy = health["ok"] == true;
            if brief && !args.json {
                println!("Gateway Health");
                println!("{} ({elapsed}ms)", if healthy { "OK" } else { "NOT OK" });
            } else if args.json {
                if let Value::Object(m) = &mut health {
                    m.insert("schema_version".into(), json!(SCHEMA_VERSION));
                }
                println!(
                    "{}",
                    serde_json::to_string_pretty(&health).unwrap_or_default()
                );
            } else {
                println!(
                    "Gateway: {} ({})",
                    target.url,
                    if healthy { "ok" } else { "not ok" }
                );
                if let Some(ms) = health["durationMs"].as_u64() {
                    println!("Gateway probe duration: {ms}ms");
                }
                if let Some(agents) = health["agents"].as_array() {
                    let names: Vec<String> = agents
                        .iter()
                        .map(|a| {
                            let id = a["agentId"].as_str().unwrap_or("?");
                            if a["isDefault"] == true {
                                format!("{id} (default)")
                            } else {
                                id.to_string()
                            }
                        })
                        .collect();
                    println!("Agents: {}", names.join(", "));
                    for a in agents {
                        let hb = &a["heartbeat"];
                        let every = if hb["enabled"] == true {
                            hb["every"].as_str().unwrap_or("?")
                        } else {
                            "disabled"
                        };
                        println!(
                            "Heartbeat interval: {every} ({})",
                            a["agentId"].as_str().unwrap_or("?")
                        );
                        println!(
                            "Session store ({}): {} ({} entries)",
                            a["agentId"].as_str().unwrap_or("?"),
                            a["sessions"]["path"].as_str().unwrap_or("?"),
                            a["sessions"]["count"].as_u64().unwrap_or(0)
                        );
                    }
                }
                let channels = health["channelOrder"]
                    .as_array()
                    .map(|a| a.len())
                    .unwrap_or(0);
                println!("Channels: {channels} configured");
            }
            if healthy {
                probe::HEALTHY
            } else {
                probe::DEGRADED
            }
        }
        Err((code, kind, message)) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "schema_version": SCHEMA_VERSION,
                        "ok": false,
                        "error": {"type": kind, "message": message},
                        "gateway": {"reachable": code != probe::UNREACHABLE, "url": target.url, "source": target.source},
                    }))
                    .unwrap_or_default()
                );
            }
            if code == probe::UNREACHABLE {
                eprintln!("Gateway not reachable at {} ({message}).", target.url);
                eprintln!(
                    "hint: start it with `openclaw gateway`, or check `openclaw gateway status`"
                );
            } else {
                eprintln!("gateway connect failed: {message}");
                eprintln!("Gateway target: {} ({})", target.url, target.source);
            }
            code
        }
    }
}
