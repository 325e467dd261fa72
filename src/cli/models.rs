//! `openclaw models status|list` (what the config selects and whether its providers have
//! what they need) and `openclaw infer model run` (one prompt to one provider).

use super::args::{InferRunArgs, ModelsCommand, ModelsStatusArgs};
use super::context::Context;
use crate::contract::exit;
use crate::models::catalog::{Catalog, KeySource, ModelRef, Provider};
use crate::models::chat::{ChatRequest, Message};
use crate::models::run::{self, Trace};
use crate::models::{CallOptions, Client};
use serde_json::{json, Value};
use std::time::Duration;

pub fn run(cmd: ModelsCommand, ctx: Context) -> i32 {
    match cmd {
        ModelsCommand::Status(a) => status(a, &ctx),
        ModelsCommand::List(a) => list(a, &ctx),
    }
}

/// A key shown as upstream masks it: `sk...al` (first two, last two characters).
pub fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 6 {
        return "***".into();
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}...{tail}")
}

/// Does this provider have what a call needs? (`None`: yes; else why not)
pub fn auth_problem(p: &Provider) -> Option<String> {
    if let Some(e) = &p.key_error {
        return Some(e.clone());
    }
    if p.api_key.is_none() && !p.is_local() {
        return Some(match p.id.as_str() {
            "anthropic" => {
                "no API key (set ANTHROPIC_API_KEY or models.providers.anthropic.apiKey)".into()
            }
            "openai" => "no API key (set OPENAI_API_KEY or models.providers.openai.apiKey)".into(),
            id => format!("no API key (set models.providers.{id}.apiKey)"),
        });
    }
    None
}

fn provider_json(p: &Provider) -> Value {
    json!({
        "provider": p.id,
        "api": p.api.as_str(),
        "baseUrl": p.base_url,
        "configured": p.configured,
        "local": p.is_local(),
        "auth": {
            "source": p.key_source.label(),
            "value": p.api_key.as_ref().map(|k| mask(k.expose())),
            "problem": auth_problem(p),
        },
        "models": p.models.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
    })
}

/// The providers a status shows: configured ones and bundled ones the selection uses.
fn shown(cat: &Catalog) -> Vec<&Provider> {
    let used: Vec<String> = cat
        .selection
        .chain()
        .into_iter()
        .map(|r| r.provider)
        .collect();
    cat.providers
        .iter()
        .filter(|p| p.configured || used.contains(&p.id))
        .collect()
}

fn status(a: ModelsStatusArgs, ctx: &Context) -> i32 {
    let cat = Catalog::from_config(&ctx.config, &ctx.env);
    let sel = &cat.selection;
    let mut issues: Vec<String> = Vec::new();
    for r in sel.chain() {
        match cat.provider(&r.provider) {
            None => issues.push(format!(
                "{r}: no provider \"{}\" (models.providers.{} is missing)",
                r.provider, r.provider
            )),
            Some(p) => {
                if let Some(why) = auth_problem(p) {
                    issues.push(format!("{r}: {why}"));
                }
                if p.configured && !p.models.is_empty() && p.model(&r.model).is_none() {
                    issues.push(format!(
                        "{r}: model \"{}\" is not in models.providers.{}.models",
                        r.model, r.provider
                    ));
                }
            }
        }
    }
    for bad in &sel.invalid {
        issues.push(format!("\"{bad}\" is not a provider/model reference"));
    }
    if sel.primary.is_none() {
        issues.push("no default model: set agents.defaults.model.primary".into());
    }
    let context1m: Vec<String> = cat
        .model_entries
        .keys()
        .filter_map(|k| ModelRef::parse(k))
        .filter(|r| cat.context1m(r))
        .map(|r| r.to_string())
        .collect();
    let providers = shown(&cat);
    let ok = issues.is_empty();
    if a.json {
        let v = json!({
            "configPath": ctx.config.path,
            "defaultModel": sel.primary.as_ref().map(ToString::to_string),
            "resolvedDefault": sel.primary.as_ref().map(ToString::to_string),
            "defaultSource": sel.source,
            "fallbacks": sel.fallbacks.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "allowed": cat.model_entries.keys().collect::<Vec<_>>(),
            "context1m": context1m,
            "auth": {"providers": providers.iter().map(|p| provider_json(p)).collect::<Vec<_>>()},
            "issues": issues,
            "ok": ok,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        let dash = |s: Option<String>| s.unwrap_or_else(|| "-".into());
        println!("Config        : {}", ctx.config.path.display());
        println!(
            "Default       : {} ({})",
            dash(sel.primary.as_ref().map(ToString::to_string)),
            sel.source
        );
        let fb: Vec<String> = sel.fallbacks.iter().map(ToString::to_string).collect();
        println!(
            "Fallbacks ({}) : {}",
            fb.len(),
            if fb.is_empty() {
                "-".into()
            } else {
                fb.join(", ")
            }
        );
        println!(
            "Allowed models ({}): {}",
            cat.model_entries.len(),
            if cat.model_entries.is_empty() {
                "-".to_string()
            } else {
                cat.model_entries
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        if !context1m.is_empty() {
            println!("params.context1m: true: {}", context1m.join(", "));
        }
        println!();
        println!("Auth overview");
        for p in &providers {
            let effective = match (&p.api_key, &p.key_source) {
                (Some(k), src) => format!("{}:{}", src.label(), mask(k.expose())),
                (None, KeySource::None) if p.is_local() => "none (local)".into(),
                (None, _) => "missing".into(),
            };
            println!(
                "- {} effective={effective} api={} baseUrl={}",
                p.id,
                p.api.as_str(),
                p.base_url
            );
        }
        if !issues.is_empty() {
            println!();
            println!("Problems");
            for i in &issues {
                println!("- {i}");
            }
            println!();
            println!("Next: openclaw config get models, openclaw config get agents.defaults.model");
        }
    }
    if ok {
        exit::OK
    } else {
        exit::FAILURE
    }
}

fn list(a: ModelsStatusArgs, ctx: &Context) -> i32 {
    let cat = Catalog::from_config(&ctx.config, &ctx.env);
    let mut rows: Vec<Value> = Vec::new();
    for p in cat.configured() {
        for m in &p.models {
            let r = ModelRef {
                provider: p.id.clone(),
                model: m.id.clone(),
            };
            let mut tags = vec!["configured"];
            if cat.selection.primary.as_ref() == Some(&r) {
                tags.push("default");
            }
            if cat.selection.fallbacks.contains(&r) {
                tags.push("fallback");
            }
            rows.push(json!({
                "key": r.to_string(),
                "name": m.name.clone().unwrap_or_else(|| m.id.clone()),
                "input": m.input.join("+"),
                "contextWindow": m.context_window,
                "local": p.is_local(),
                "available": auth_problem(p).is_none(),
                "tags": tags,
            }));
        }
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"count": rows.len(), "models": rows}))
                .unwrap_or_default()
        );
    } else {
        println!(
            "{:<42} {:<10} {:<11} {:<5} {:<5} Tags",
            "Model", "Input", "Ctx", "Local", "Auth"
        );
        for r in &rows {
            let yn = |b: bool| if b { "yes" } else { "no" };
            println!(
                "{:<42} {:<10} {:<11} {:<5} {:<5} {}",
                r["key"].as_str().unwrap_or_default(),
                r["input"].as_str().unwrap_or_default(),
                r["contextWindow"]
                    .as_u64()
                    .map_or("-".to_string(), |c| c.to_string()),
                yn(r["local"] == true),
                yn(r["available"] == true),
                r["tags"]
                    .as_array()
                    .map(|t| t
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","))
                    .unwrap_or_default()
            );
        }
    }
    exit::OK
}

/// `infer model run`.
pub fn infer_run(a: InferRunArgs, ctx: Context) -> i32 {
    if a.prompt.trim().is_empty() {
        eprintln!("--prompt must contain non-whitespace text");
        return exit::USAGE;
    }
    let cat = Catalog::from_config(&ctx.config, &ctx.env);
    let model = match &a.model {
        Some(m) => match ModelRef::parse(m) {
            Some(r) => r,
            None => {
                eprintln!("--model must be provider/model, got \"{m}\"");
                return exit::USAGE;
            }
        },
        None => {
            match &cat.selection.primary {
                Some(r) => r.clone(),
                None => {
                    return fail(&a, "no model: pass --model provider/model or set agents.defaults.model.primary");
                }
            }
        }
    };
    if a.gateway {
        return infer_via_gateway(&a, &model, ctx);
    }
    let Some(provider) = cat.provider(&model.provider) else {
        return fail(
            &a,
            &format!(
                "Unknown model: {model} (no provider \"{}\" in models.providers)",
                model.provider
            ),
        );
    };
    if let Some(why) = auth_problem(provider) {
        return fail(&a, &format!("provider \"{}\": {why}", provider.id));
    }
    let req = ChatRequest {
        system: None,
        messages: vec![Message::user(a.prompt.clone())],
        max_tokens: cat.max_tokens(&model),
        ..Default::default()
    };
    let client = Client::new();
    let timeout = Duration::from_millis(a.timeout_ms.max(1));
    let result = super::block_on(async {
        let opts = CallOptions::streaming(timeout);
        run::complete_with_failover(
            &client,
            &cat,
            std::slice::from_ref(&model),
            &|_| req.clone(),
            &|_| opts.clone(),
            &Trace {
                logger: None,
                run_id: "infer",
            },
            &mut |_, _| {},
        )
        .await
    });
    match result {
        Ok(o) if !o.completion.text.trim().is_empty() => {
            if a.json {
                let v = json!({
                    "ok": true,
                    "capability": "model.run",
                    "transport": "local",
                    "provider": model.provider,
                    "model": model.model,
                    "attempts": [],
                    "outputs": [{"text": o.completion.text, "mediaUrl": null}],
                });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                println!("{}", o.completion.text);
            }
            exit::OK
        }
        Ok(_) => fail(
            &a,
            &format!(
                "No text output returned for provider \"{}\" model \"{}\".",
                model.provider, model.model
            ),
        ),
        Err(f) => {
            let detail = match f.error.status {
                Some(s) => format!("{s} {}", f.error.message),
                None => f.error.message.clone(),
            };
            fail(
                &a,
                &format!(
                    "No text output returned for provider \"{}\" model \"{}\": {detail}.",
                    model.provider, model.model
                ),
            )
        }
    }
}

fn fail(a: &InferRunArgs, message: &str) -> i32 {
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"ok": false, "error": {"type": "cli_error", "message": message}})
            )
            .unwrap_or_default()
        );
    }
    eprintln!("{message}");
    eprintln!("Next: openclaw models status, openclaw logs --follow");
    exit::FAILURE
}

fn infer_via_gateway(a: &InferRunArgs, model: &ModelRef, ctx: Context) -> i32 {
    let t = super::args::TargetArgs {
        url: None,
        token: None,
        password: None,
        timeout: 5000,
    };
    let target = match super::call::resolve_target(&t, &ctx) {
        Ok(t) => t,
        Err(e) => return fail(a, &e),
    };
    let params = json!({
        "message": a.prompt,
        "model": model.to_string(),
        "sessionKey": format!("agent:main:explicit:infer-{}", uuid::Uuid::new_v4()),
        "idempotencyKey": uuid::Uuid::new_v4().to_string(),
    });
    let wait = Duration::from_millis(a.timeout_ms.max(1) + 30_000);
    let r = super::block_on(async {
        let mut conn = target
            .connect(crate::client::cli_scopes())
            .await
            .map_err(|e| format!("gateway connect failed: {e}"))?;
        let r = conn.call_final("agent", params, wait, &mut |_, _| {}).await;
        conn.close().await;
        r.map_err(|e| e.to_string())
    });
    match r {
        Ok(p) if p["status"] == "ok" => {
            let text = p["result"]["payloads"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let meta = &p["result"]["meta"]["agentMeta"];
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "ok": true, "capability": "model.run", "transport": "gateway",
                        "provider": meta["provider"], "model": meta["model"],
                        "attempts": p["result"]["meta"]["attempts"].clone(),
                        "outputs": [{"text": text, "mediaUrl": null}],
                    }))
                    .unwrap_or_default()
                );
            } else {
                println!("{text}");
            }
            exit::OK
        }
        Ok(p) => fail(
            a,
            p["result"]["payloads"][0]["text"]
                .as_str()
                .unwrap_or("agent run failed"),
        ),
        Err(e) => fail(a, &e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_masked_as_upstream_masks_them() {
        assert_eq!(super::mask("sk-local"), "sk...al");
        assert_eq!(super::mask("short"), "***");
    }
}
