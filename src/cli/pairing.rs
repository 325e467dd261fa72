//! `openclaw pairing list|approve`: DM pairing codes for chat senders, on the files in the
//! state dir (the gateway and channels read the same files).

use super::args::{PairingArgs, PairingCommand};
use super::context::Context;
use crate::contract::exit;
use crate::state::dm_pairing::{valid_channel, DmPairing};
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde_json::{json, Value};

fn channel(positional: Option<String>, opt: Option<String>) -> Result<String, String> {
    let c = match (positional, opt) {
        (Some(p), Some(o)) if p != o => {
            return Err(format!(
                "Conflicting pairing channels: \"{o}\" and \"{p}\". Pass the channel either positionally or with --channel."
            ))
        }
        (Some(c), _) | (None, Some(c)) => c,
        (None, None) => {
            return Err("Missing channel. Use `openclaw pairing list --channel <channel>`.".into())
        }
    };
    let c = c.trim().to_string();
    if !valid_channel(&c) {
        return Err(format!(
            "Invalid channel \"{c}\". Use lowercase letters, numbers, \"_\" or \"-\", for example \"telegram\"."
        ));
    }
    Ok(c)
}

fn account(raw: Option<String>) -> Result<Option<String>, String> {
    match raw {
        Some(a) if a.trim().is_empty() => Err("--account must not be blank".into()),
        other => Ok(other.map(|a| a.trim().to_string())),
    }
}

pub fn run(args: PairingArgs, ctx: Context) -> i32 {
    let store = DmPairing::at(&ctx.paths.state_dir);
    let now = crate::util::now_ms();
    let result = match args.command {
        PairingCommand::List { channel: pos, opts } => (|| {
            let (channel_opt, acc, as_json) = (opts.channel, opts.account, opts.json);
            let c = channel(pos, channel_opt)?;
            let a = account(acc)?;
            let reqs = store
                .list(&c, a.as_deref(), now)
                .map_err(|e| format!("cannot read {}: {e}", store.pairing_path(&c).display()))?;
            if as_json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"channel": c, "requests": reqs}))
                        .unwrap_or_default()
                );
            } else if reqs.is_empty() {
                println!("No pending {c} pairing requests.");
            } else {
                println!("Pairing requests ({})", reqs.len());
                println!("{}", table(&reqs));
                for r in &reqs {
                    println!(
                        "hint: approve with: openclaw pairing approve {c} {}",
                        r["code"].as_str().unwrap_or_default()
                    );
                }
            }
            Ok(())
        })(),
        PairingCommand::Approve { args: pos, opts } => (|| {
            let (channel_opt, acc, as_json) = (opts.channel, opts.account, opts.json);
            let usage = || {
                "Usage: openclaw pairing approve <channel> <code> (or: openclaw pairing approve --channel <channel> <code>)".to_string()
            };
            let (c, code) = match (pos.as_slice(), channel_opt) {
                ([ch, code], opt) => (channel(Some(ch.clone()), opt)?, code.clone()),
                ([code], Some(opt)) => (channel(None, Some(opt))?, code.clone()),
                _ => return Err(usage()),
            };
            let a = account(acc)?;
            let approved = store
                .approve(&c, &code, a.as_deref(), now)
                .map_err(|e| format!("cannot write {}: {e}", store.pairing_path(&c).display()))?
                .ok_or_else(|| {
                    format!(
                        "No pending pairing request found for code \"{code}\". Run `openclaw pairing list --channel {c}` to list pending requests."
                    )
                })?;
            let sender = approved["meta"]["senderId"]
                .as_str()
                .or(approved["id"].as_str())
                .unwrap_or_default()
                .to_string();
            if as_json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"ok": true, "channel": c, "id": approved["id"], "entry": approved})
                    )
                    .unwrap_or_default()
                );
            } else {
                println!("Approved {c} sender {sender}.");
            }
            Ok(())
        })(),
    };
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("{e}");
            exit::FAILURE
        }
    }
}

fn table(reqs: &[Value]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["Code", "ID", "Meta", "Requested"]);
    if let Some(w) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        t.set_width(w);
    }
    for r in reqs {
        let meta = r["meta"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(&v.to_string())))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        t.add_row(vec![
            r["code"].as_str().unwrap_or_default().to_string(),
            r["id"].as_str().unwrap_or_default().to_string(),
            meta,
            r["createdAt"].as_str().unwrap_or_default().to_string(),
        ]);
    }
    t
}
