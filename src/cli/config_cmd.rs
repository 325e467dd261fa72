//! `openclaw config get|set|unset|file|validate|schema`.

use super::args::ConfigCommand;
use super::context::Context;
use crate::config::{self, edit, load, redact, schema, store};
use crate::contract::exit;
use serde_json::{json, Value};

/// A path as the user wrote it (dot or bracket notation): its segments and canonical form.
fn canonical(key: &str) -> Result<(Vec<config::keypath::Seg>, String), i32> {
    match config::keypath::parse(key) {
        Ok(segs) => {
            let joined = config::keypath::join(&segs);
            Ok((segs, joined))
        }
        Err(e) => {
            eprintln!(
                "{e}; write keys with dots in brackets: agents.defaults.models[\"openai/gpt-5.1\"]"
            );
            Err(exit::USAGE)
        }
    }
}

pub fn run(cmd: ConfigCommand, ctx: Context) -> i32 {
    match cmd {
        ConfigCommand::Get {
            key,
            json,
            show_secrets,
        } => get(&ctx, &key, json, show_secrets),
        ConfigCommand::Set {
            key,
            value,
            json_value,
            string,
        } => {
            let v = if string {
                Value::String(value)
            } else {
                match serde_json::from_str::<Value>(&value) {
                    Ok(v) => v,
                    Err(e) if json_value => {
                        eprintln!("--json-value: {value:?} is not JSON ({e})");
                        return exit::USAGE;
                    }
                    Err(_) => Value::String(value),
                }
            };
            write(&ctx, &key, Some(v))
        }
        ConfigCommand::Unset { key } => write(&ctx, &key, None),
        ConfigCommand::File { json } => {
            if json {
                println!(
                    "{}",
                    json!({"path": ctx.config.path.display().to_string(), "exists": ctx.config.exists})
                );
            } else {
                println!("{}", ctx.config.path.display());
            }
            exit::OK
        }
        ConfigCommand::Validate { json } => validate(&ctx, json),
        ConfigCommand::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&schema::json_schema()).unwrap_or_default()
            );
            exit::OK
        }
    }
}

fn get(ctx: &Context, key: &str, as_json: bool, show_secrets: bool) -> i32 {
    let (segs, key) = match canonical(key) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let key = key.as_str();
    let cfg = &ctx.config;
    if !cfg.exists {
        eprintln!(
            "no config at {} (create one with `openclaw setup`)",
            cfg.path.display()
        );
        return exit::FAILURE;
    }
    let Some(v) = config::keypath::get(&cfg.value, &segs) else {
        eprintln!("{key} is not set in {}", cfg.path.display());
        return exit::FAILURE;
    };
    let mut v = v.clone();
    if !show_secrets {
        // Redact as if the value sat at its path: wrap it under its last key.
        let last = segs
            .iter()
            .rev()
            .find_map(|s| match s {
                config::keypath::Seg::Key(k) => Some(k.as_str()),
                config::keypath::Seg::Index(_) => None,
            })
            .unwrap_or(key);
        let mut wrapper = json!({ last: v });
        redact::redact_value(&mut wrapper, &mut Vec::new());
        v = wrapper[last].take();
    }
    match (&v, as_json) {
        (Value::String(s), false) => println!("{s}"),
        _ => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
    }
    exit::OK
}

fn write(ctx: &Context, key: &str, value: Option<Value>) -> i32 {
    let (_, key) = match canonical(key) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let key = key.as_str();
    let cfg = &ctx.config;
    let path = &cfg.path;
    let (before, text) = match std::fs::read(path) {
        Ok(b) => {
            let t = String::from_utf8_lossy(&b).into_owned();
            (Some(b), t)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, "{}\n".to_string()),
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.display());
            return exit::FAILURE;
        }
    };
    let new_text = match &value {
        Some(v) => edit::set(&text, key, v).map(Some),
        None => edit::remove(&text, key),
    };
    let new_text = match new_text {
        Ok(Some(t)) => t,
        Ok(None) => {
            eprintln!("{key} is not set in {}; nothing to do", path.display());
            return exit::OK;
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return exit::FAILURE;
        }
    };
    // The change must not introduce validation errors (pre-existing ones are reported).
    let after = load::load_from_str(path, &new_text, &ctx.env);
    let was: Vec<String> = cfg
        .errors()
        .map(|i| format!("{}: {}", i.path, i.message))
        .collect();
    let new_errors: Vec<_> = after
        .errors()
        .filter(|i| !was.contains(&format!("{}: {}", i.path, i.message)))
        .collect();
    if !new_errors.is_empty() {
        eprintln!(
            "refusing to write {}: the change makes the config invalid:",
            path.display()
        );
        // Line numbers would point into text that is not on disk: name the key only.
        for i in new_errors {
            eprintln!("  - {}: {}", i.path, i.message);
        }
        return exit::FAILURE;
    }
    if let Some(dir) = path.parent() {
        if let Err(e) = config::write::ensure_private_dir(dir) {
            eprintln!("cannot create {}: {e}", dir.display());
            return exit::FAILURE;
        }
    }
    let expected = before.as_deref().map(store::hash);
    match store::commit(path, expected.as_deref(), &new_text) {
        Ok(backup) => {
            let what = if value.is_some() {
                "Updated"
            } else {
                "Removed"
            };
            eprintln!(
                "{what} {key} in {}{}",
                path.display(),
                backup
                    .map(|b| format!(" (backup: {})", b.display()))
                    .unwrap_or_default()
            );
            for w in after.warnings() {
                eprintln!("warning: {}", w.render(path));
            }
            if ctx.paths.config_path == *path {
                eprintln!("hint: a running gateway applies it when restarted (send it SIGUSR1 for an in-process restart)");
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("{e}");
            exit::FAILURE
        }
    }
}

fn validate(ctx: &Context, as_json: bool) -> i32 {
    let cfg = &ctx.config;
    let issue = |i: &load::ConfigIssue| json!({"path": i.path, "message": i.message, "line": i.line, "column": i.column, "kind": i.kind});
    if as_json {
        let mut doc = json!({
            "valid": cfg.exists && cfg.is_valid(),
            "path": cfg.path.display().to_string(),
            "exists": cfg.exists,
            "issues": cfg.errors().map(issue).collect::<Vec<_>>(),
            "warnings": cfg.warnings().map(issue).collect::<Vec<_>>(),
        });
        if !cfg.exists {
            doc["issues"] = json!([{"path": "<root>", "message": format!("no config file at {}", cfg.path.display())}]);
        }
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else if !cfg.exists {
        eprintln!(
            "Config missing: {} (create one with `openclaw setup`)",
            cfg.path.display()
        );
    } else if cfg.is_valid() {
        println!("Config valid: {}", cfg.path.display());
        for w in cfg.warnings() {
            eprintln!("warning: {}", w.render(&cfg.path));
        }
    } else {
        println!("Config invalid: {}", cfg.path.display());
        for i in cfg.errors() {
            println!("  - {}", i.render(&cfg.path));
        }
        eprintln!(
            "hint: openclaw doctor --fix repairs legacy keys and can restore the last good config"
        );
    }
    if cfg.exists && cfg.is_valid() {
        exit::OK
    } else {
        exit::FAILURE
    }
}
