//! `openclaw devices list|approve|reject|remove`: device pairing through the gateway's
//! `device.pair.*` RPCs. On the local loopback target, when the gateway refuses this CLI
//! itself (`pairing required`) or is not running, the commands work on the pairing files in
//! the state dir instead (as upstream's CLI does), which the gateway reads on every check.

use super::args::{DevicesArgs, DevicesCommand, DevicesOpts};
use super::call::{resolve_target, Resolved};
use super::context::Context;
use crate::client::{self, is_pairing_required, CallError, ConnectError};
use crate::contract::exit;
use crate::protocol::{methods as m, scopes};
use crate::state::devices::{self, Denial, DeviceStore};
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde_json::{json, Value};

pub const FALLBACK_NOTICE: &str = "Direct scope access failed; using local fallback.";
pub const UNREACHABLE_NOTICE: &str = "Gateway not reachable; using the local pairing files.";
const STATE_MISMATCH: &str = "Gateway requires device pairing, but local fallback pairing state does not contain the gateway request.";

/// Why the gateway could not serve the command.
enum Failure {
    /// Connect refused or failed: the local fallback may apply.
    Connect(ConnectError),
    Call(CallError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "gateway connect failed: {e}"),
            Failure::Call(e) => write!(f, "{e}"),
        }
    }
}

fn gateway_call(target: &Resolved, method: &str, params: Value) -> Result<Value, Failure> {
    super::block_on(async {
        let mut conn = target
            .connect(client::cli_scopes())
            .await
            .map_err(Failure::Connect)?;
        let r = conn.call(method, params, target.timeout).await;
        conn.close().await;
        r.map_err(Failure::Call)
    })
}

/// The request id a v4 gateway named in its `pairing required` close reason.
fn refused_request_id(e: &ConnectError) -> Option<String> {
    let (_, reason) = e.close()?;
    let rest = reason.split("(requestId: ").nth(1)?;
    Some(rest.trim_end_matches(')').to_string())
}

/// When the local files may stand in for the gateway: the implicit loopback target only,
/// and only when the gateway refused this CLI's own pairing or is not running.
fn local_fallback(target: &Resolved, f: &Failure) -> Option<&'static str> {
    let Failure::Connect(e) = f else { return None };
    if target.source != "local loopback" {
        return None;
    }
    if is_pairing_required(e) {
        Some(FALLBACK_NOTICE)
    } else if !e.transport_ok() {
        Some(UNREACHABLE_NOTICE)
    } else {
        None
    }
}

fn local_list(store: &DeviceStore) -> Result<Value, String> {
    let mut l = store
        .list(crate::util::now_ms())
        .map_err(|e| format!("cannot read {}: {e}", store.path().display()))?;
    if let Some(items) = l["paired"].as_array_mut() {
        for e in items.iter_mut() {
            *e = devices::redact_paired(e, None);
        }
    }
    Ok(l)
}

pub fn run(args: DevicesArgs, ctx: Context) -> i32 {
    let opts: &DevicesOpts = match &args.command {
        DevicesCommand::List { opts }
        | DevicesCommand::Approve { opts, .. }
        | DevicesCommand::Reject { opts, .. }
        | DevicesCommand::Remove { opts, .. }
        | DevicesCommand::Rotate { opts, .. }
        | DevicesCommand::Revoke { opts, .. }
        | DevicesCommand::Clear { opts, .. } => opts,
    };
    let json_out = opts.json;
    let target = match resolve_target(&opts.target, &ctx) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let store = DeviceStore::at(&ctx.paths.state_dir);
    let result = match args.command {
        DevicesCommand::List { .. } => list(&target, &store),
        DevicesCommand::Approve {
            request_id, latest, ..
        } => approve(&target, &store, request_id, latest, json_out),
        DevicesCommand::Reject { request_id, .. } => simple(
            &target,
            &store,
            m::DEVICE_PAIR_REJECT,
            json!({"requestId": request_id}),
        ),
        DevicesCommand::Remove { device_id, .. } => simple(
            &target,
            &store,
            m::DEVICE_PAIR_REMOVE,
            json!({"deviceId": device_id}),
        ),
        DevicesCommand::Rotate {
            device_id,
            role,
            scopes,
            ..
        } => {
            let mut params = json!({"deviceId": device_id, "role": role});
            if !scopes.is_empty() {
                params["scopes"] = json!(scopes);
            }
            token_change(&target, &store, &ctx, m::DEVICE_TOKEN_ROTATE, params)
        }
        DevicesCommand::Revoke {
            device_id, role, ..
        } => token_change(
            &target,
            &store,
            &ctx,
            m::DEVICE_TOKEN_REVOKE,
            json!({"deviceId": device_id, "role": role}),
        ),
        DevicesCommand::Clear { yes, pending, .. } => clear(&target, &store, yes, pending),
    };
    for w in store.take_warnings() {
        eprintln!("warning: {w}");
    }
    match result {
        Ok(Outcome {
            value,
            notice,
            human,
        }) => {
            if let Some(n) = notice {
                if !json_out {
                    eprintln!("{n}");
                }
            }
            if json_out {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
            } else {
                println!("{}", human(&value));
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("{}", e.message);
            for h in e.hints {
                eprintln!("hint: {h}");
            }
            if json_out {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"ok": false, "error": e.message}))
                        .unwrap_or_default()
                );
            }
            exit::FAILURE
        }
    }
}

struct Outcome {
    value: Value,
    notice: Option<&'static str>,
    human: fn(&Value) -> String,
}

struct CmdError {
    message: String,
    hints: Vec<String>,
}

impl From<String> for CmdError {
    fn from(message: String) -> Self {
        CmdError {
            message,
            hints: Vec::new(),
        }
    }
}

fn list(target: &Resolved, store: &DeviceStore) -> Result<Outcome, CmdError> {
    match gateway_call(target, m::DEVICE_PAIR_LIST, json!({})) {
        Ok(v) => Ok(Outcome {
            value: v,
            notice: None,
            human: render_list,
        }),
        Err(f) => {
            let notice = local_fallback(target, &f).ok_or_else(|| f.to_string())?;
            let l = local_list(store)?;
            if let Failure::Connect(e) = &f {
                if let Some(id) = refused_request_id(e) {
                    mismatch_check(&l, &id)?;
                }
            }
            Ok(Outcome {
                value: l,
                notice: Some(notice),
                human: render_list,
            })
        }
    }
}

fn pending_ids(l: &Value) -> Vec<String> {
    l["pending"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["requestId"].as_str().map(String::from))
        .collect()
}

/// Upstream's guard: the gateway named a request the local files do not have, so this CLI
/// is looking at another state dir than the gateway.
fn mismatch_check(l: &Value, gateway_request: &str) -> Result<(), CmdError> {
    let ids = pending_ids(l);
    if ids.iter().any(|i| i == gateway_request) {
        return Ok(());
    }
    let mut hints = Vec::new();
    match ids.first() {
        Some(current) => {
            hints.push("That request was superseded by a newer pending request.".into());
            hints.push(format!(
                "Approve the current request instead: openclaw devices approve {current}"
            ));
        }
        None => {
            hints.push("The running gateway may be using a different OPENCLAW_PROFILE or OPENCLAW_STATE_DIR than this CLI.".into());
            hints.push("Rerun with the gateway's profile/state-dir; if the gateway uses shared auth, pass --token/--password to approve through it.".into());
        }
    }
    Err(CmdError {
        message: format!("{STATE_MISMATCH} Missing requestId: {gateway_request}."),
        hints,
    })
}

fn approve(
    target: &Resolved,
    store: &DeviceStore,
    request_id: Option<String>,
    latest: bool,
    json_out: bool,
) -> Result<Outcome, CmdError> {
    let Some(request_id) = request_id.filter(|_| !latest) else {
        // Bare `approve` / `--latest` only shows what would be approved.
        let l = list(target, store)?;
        let newest = l.value["pending"]
            .as_array()
            .and_then(|p| p.last())
            .cloned();
        return Err(match newest {
            Some(r) => {
                let id = r["requestId"].as_str().unwrap_or_default();
                if !json_out {
                    println!("{}", render_pending(std::slice::from_ref(&r)));
                }
                CmdError {
                    message: format!("Not approved: review the request above, then run: openclaw devices approve {id}"),
                    hints: Vec::new(),
                }
            }
            None => "No pending device pairing requests.".to_string().into(),
        });
    };
    match gateway_call(
        target,
        m::DEVICE_PAIR_APPROVE,
        json!({"requestId": request_id}),
    ) {
        Ok(v) => Ok(Outcome {
            value: v,
            notice: None,
            human: render_approved,
        }),
        Err(f) => {
            let Some(notice) = local_fallback(target, &f) else {
                return Err(f.to_string().into());
            };
            if let Failure::Connect(e) = &f {
                if let Some(id) = refused_request_id(e).filter(|id| *id != request_id) {
                    // The gateway refused this CLI for another request than the one asked.
                    let l = local_list(store)?;
                    if !pending_ids(&l).contains(&request_id) {
                        mismatch_check(&l, &id)?;
                    }
                }
            }
            let device = store
                .approve(
                    &request_id,
                    "operator",
                    None,
                    scopes::satisfies,
                    crate::util::now_ms(),
                )
                .map_err(|e| format!("cannot write the pairing files: {e}"))?;
            match device {
                Ok(d) => Ok(Outcome {
                    value: json!({"requestId": request_id, "device": devices::redact_paired(&d, None)}),
                    notice: Some(notice),
                    human: render_approved,
                }),
                Err(Denial::UnknownRequest) => Err(CmdError {
                    message: "unknown requestId".into(),
                    hints: vec!["openclaw devices list".into()],
                }),
                Err(Denial::CallerMissingScope(s)) => Err(format!("missing scope: {s}").into()),
            }
        }
    }
}

fn simple(
    target: &Resolved,
    store: &DeviceStore,
    method: &'static str,
    params: Value,
) -> Result<Outcome, CmdError> {
    match gateway_call(target, method, params.clone()) {
        Ok(v) => Ok(Outcome {
            value: v,
            notice: None,
            human: render_entry,
        }),
        Err(f) => {
            let notice = local_fallback(target, &f).ok_or_else(|| f.to_string())?;
            let r = if method == m::DEVICE_PAIR_REJECT {
                let id = params["requestId"].as_str().unwrap_or_default();
                store
                    .reject(id)
                    .map_err(|e| format!("cannot write the pairing files: {e}"))?
                    .ok_or_else(|| "unknown requestId".to_string())?
            } else {
                let id = params["deviceId"].as_str().unwrap_or_default();
                store
                    .remove(id)
                    .map_err(|e| format!("cannot write the pairing files: {e}"))?
                    .ok_or_else(|| "unknown deviceId".to_string())?
            };
            Ok(Outcome {
                value: r,
                notice: Some(notice),
                human: render_entry,
            })
        }
    }
}

/// Rotate or revoke through the gateway, or on the files when the local fallback applies.
/// A token delivered in-band for this CLI's own device goes to its cache, never to stdout.
fn token_change(
    target: &Resolved,
    store: &DeviceStore,
    ctx: &Context,
    method: &'static str,
    params: Value,
) -> Result<Outcome, CmdError> {
    let device_id = params["deviceId"].as_str().unwrap_or_default().to_string();
    let role = params["role"].as_str().unwrap_or_default().to_string();
    let (mut v, notice) = match gateway_call(target, method, params.clone()) {
        Ok(v) => (v, None),
        Err(f) => {
            let notice = local_fallback(target, &f).ok_or_else(|| f.to_string())?;
            let now = crate::util::now_ms();
            let r = if method == m::DEVICE_TOKEN_ROTATE {
                let scopes: Option<Vec<String>> = params["scopes"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                });
                store
                    .rotate_token(
                        &device_id,
                        &role,
                        scopes.as_deref(),
                        None,
                        scopes::satisfies,
                        now,
                    )
                    .map_err(|e| format!("cannot write the pairing files: {e}"))?
                    .map(|e| {
                        json!({"deviceId": device_id, "role": role, "token": e["token"],
                               "scopes": e["scopes"], "rotatedAtMs": e["rotatedAtMs"],
                               "tokenDelivery": "in-band"})
                    })
            } else {
                store
                    .revoke_token(&device_id, &role, None, scopes::satisfies, now)
                    .map_err(|e| format!("cannot write the pairing files: {e}"))?
                    .map(|e| json!({"deviceId": device_id, "role": role, "revokedAtMs": e["revokedAtMs"]}))
            };
            let v = r.map_err(|d| {
                format!(
                    "device token {} denied: {}",
                    if method == m::DEVICE_TOKEN_ROTATE {
                        "rotation"
                    } else {
                        "revocation"
                    },
                    d.reason()
                )
            })?;
            (v, Some(notice))
        }
    };
    if let Some(token) = v.get("token").and_then(Value::as_str).map(String::from) {
        let own = target
            .identity
            .as_ref()
            .is_some_and(|id| id.device_id == device_id);
        let scopes: Vec<String> = v["scopes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let o = v.as_object_mut().expect("object");
        o.remove("token");
        if own {
            crate::state::device_auth::save(
                &ctx.paths.state_dir,
                &device_id,
                &role,
                &token,
                &scopes,
            )
            .map_err(|e| format!("rotated, but the new token could not be stored: {e}"))?;
            o.insert(
                "tokenStored".into(),
                json!(crate::state::device_auth::path(&ctx.paths.state_dir)
                    .display()
                    .to_string()),
            );
        }
    }
    Ok(Outcome {
        value: v,
        notice,
        human: render_token_change,
    })
}

fn clear(
    target: &Resolved,
    store: &DeviceStore,
    yes: bool,
    pending: bool,
) -> Result<Outcome, CmdError> {
    if !yes {
        return Err(CmdError {
            message: "Refusing to clear paired devices without --yes.".into(),
            hints: vec![
                "openclaw devices list".into(),
                "openclaw devices clear --yes [--pending]".into(),
            ],
        });
    }
    let l = list(target, store)?;
    let mut removed = Vec::new();
    let mut rejected = Vec::new();
    for d in l.value["paired"].as_array().into_iter().flatten() {
        let id = d["deviceId"].as_str().unwrap_or_default();
        simple(
            target,
            store,
            m::DEVICE_PAIR_REMOVE,
            json!({"deviceId": id}),
        )?;
        removed.push(id.to_string());
    }
    if pending {
        for r in l.value["pending"].as_array().into_iter().flatten() {
            let id = r["requestId"].as_str().unwrap_or_default();
            simple(
                target,
                store,
                m::DEVICE_PAIR_REJECT,
                json!({"requestId": id}),
            )?;
            rejected.push(id.to_string());
        }
    }
    Ok(Outcome {
        value: json!({"removed": removed, "rejected": rejected}),
        notice: l.notice,
        human: |v| {
            format!(
                "Removed {} paired device(s), rejected {} pending request(s)",
                v["removed"].as_array().map_or(0, Vec::len),
                v["rejected"].as_array().map_or(0, Vec::len)
            )
        },
    })
}

fn render_token_change(v: &Value) -> String {
    let who = format!(
        "{} token for device {}",
        v["role"].as_str().unwrap_or_default(),
        v["deviceId"].as_str().unwrap_or_default()
    );
    if v.get("revokedAtMs").is_some() {
        return format!("Revoked {who}");
    }
    let delivery = match (v["tokenStored"].as_str(), v["tokenDelivery"].as_str()) {
        (Some(p), _) => format!("stored in {p}"),
        (None, Some("withheld-cross-device")) => {
            "withheld (the device receives it in its next hello)".into()
        }
        _ => "not shown".into(),
    };
    format!(
        "Rotated {who} (scopes {}); new token {delivery}",
        strs(&v["scopes"])
    )
}

fn table(header: Vec<&str>) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    if let Some(w) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        t.set_width(w);
    }
    t
}

fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

fn strs(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn age(ts: &Value) -> String {
    let Some(ts) = ts.as_u64() else {
        return String::new();
    };
    let s = crate::util::now_ms().saturating_sub(ts) / 1000;
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

fn render_pending(pending: &[Value]) -> String {
    let mut t = table(vec![
        "Request", "Device", "Client", "Role", "Scopes", "Reason", "IP", "Age",
    ]);
    for r in pending {
        t.add_row(vec![
            r["requestId"].as_str().unwrap_or_default().to_string(),
            short(r["deviceId"].as_str().unwrap_or_default()),
            format!(
                "{}/{}",
                r["clientId"].as_str().unwrap_or("?"),
                r["clientMode"].as_str().unwrap_or("?")
            ),
            r["role"].as_str().unwrap_or_default().to_string(),
            strs(&r["scopes"]),
            r["reason"].as_str().unwrap_or_default().to_string(),
            r["remoteIp"].as_str().unwrap_or_default().to_string(),
            age(&r["ts"]),
        ]);
    }
    t.to_string()
}

fn render_list(v: &Value) -> String {
    let empty = Vec::new();
    let pending = v["pending"].as_array().unwrap_or(&empty);
    let paired = v["paired"].as_array().unwrap_or(&empty);
    let mut out = String::new();
    if pending.is_empty() {
        out.push_str("Pending: none\n");
    } else {
        out.push_str(&format!(
            "Pending ({})\n{}\n",
            pending.len(),
            render_pending(pending)
        ));
        for r in pending {
            out.push_str(&format!(
                "hint: approve with: openclaw devices approve {}\n",
                r["requestId"].as_str().unwrap_or_default()
            ));
        }
    }
    if paired.is_empty() {
        out.push_str("Paired: none");
    } else {
        let mut t = table(vec![
            "Device",
            "Client",
            "Roles",
            "Scopes",
            "Approved",
            "Connected",
        ]);
        for d in paired {
            t.add_row(vec![
                short(d["deviceId"].as_str().unwrap_or_default()),
                format!(
                    "{}/{}",
                    d["clientId"].as_str().unwrap_or("?"),
                    d["clientMode"].as_str().unwrap_or("?")
                ),
                strs(&d["roles"]),
                strs(&d["scopes"]),
                format!(
                    "{} {}",
                    d["approvedVia"].as_str().unwrap_or(""),
                    age(&d["approvedAtMs"])
                )
                .trim()
                .to_string(),
                match d["connected"].as_bool() {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => "unknown".into(),
                },
            ]);
        }
        out.push_str(&format!("Paired ({})\n{t}", paired.len()));
    }
    out
}

fn render_approved(v: &Value) -> String {
    format!(
        "Approved {} (device {}, role {}, scopes {})",
        v["requestId"].as_str().unwrap_or_default(),
        v["device"]["deviceId"].as_str().unwrap_or_default(),
        v["device"]["role"].as_str().unwrap_or_default(),
        strs(&v["device"]["scopes"])
    )
}

fn render_entry(v: &Value) -> String {
    match (v["requestId"].as_str(), v["deviceId"].as_str()) {
        (Some(r), Some(d)) => format!("Rejected {r} (device {d})"),
        (None, Some(d)) => format!("Removed device {d}"),
        _ => v.to_string(),
    }
}
