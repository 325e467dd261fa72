//! `openclaw logs`: tail the gateway's file log through `logs.tail` (its cursor), once or
//! `--follow`ing, as text or upstream's line-delimited JSON records. When the implicit local
//! loopback gateway does not answer, one read falls back to the configured file and says so.

use super::args::LogsArgs;
use super::call::Resolved;
use super::context::Context;
use crate::client::{self, CallError, ConnectError, Connection};
use crate::contract::exit;
use crate::logging::file::LogSettings;
use crate::logging::record::{self, View};
use crate::logging::tail::{self, TailResult};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

pub const LOCAL_FALLBACK_NOTICE: &str =
    "Local Gateway RPC unavailable; reading configured file log instead.";
pub const TRUNCATED_NOTICE: &str = "Log tail truncated (increase --limit or --max-bytes).";
pub const RESET_NOTICE: &str = "Log cursor reset (file rotated).";
pub const RECONNECTED_NOTICE: &str = "[logs] gateway reconnected";
pub const HINT: &str = "Hint: run `openclaw doctor`.";
/// Retries of a `--follow` after the gateway went away (upstream: 8, backoff 1 s doubling,
/// capped at 30 s).
pub const MAX_FOLLOW_RETRIES: u32 = 8;

/// Upstream's name for where the target came from.
fn source_name(source: &str) -> &str {
    match source {
        "explicit --url" => "cli --url",
        "gateway.remote.url" => "config gateway.remote.url",
        other => other,
    }
}

/// The target the implicit loopback resolution picked (a one-shot read may fall back to the
/// local file; the connection is upstream's backend client, with no device).
fn implicit_loopback(t: &Resolved) -> bool {
    t.source == "local loopback"
}

/// Upstream's connection details for an error: target, source, config and bind.
fn details(t: &Resolved, ctx: &Context) -> Value {
    let source = source_name(t.source);
    let mut lines = vec![
        format!("Gateway target: {}", t.url),
        format!("Source: {source}"),
        format!("Config: {}", ctx.config.path.display()),
    ];
    let bind = (source != "cli --url").then(|| {
        format!(
            "Bind: {}",
            ctx.config.get_str("gateway.bind").unwrap_or("loopback")
        )
    });
    lines.extend(bind.clone());
    json!({
        "url": t.url,
        "urlSource": source,
        "bindDetail": bind,
        "message": lines.join("\n"),
    })
}

/// Why a fetch failed, and what the loop may do about it.
struct Failure {
    message: String,
    /// The implicit loopback gateway did not answer (closed, timed out, refused, needs
    /// pairing): a one-shot read may use the local file.
    unavailable: bool,
    /// A `--follow` may reconnect (not a policy close or an application close code).
    transient: bool,
}

fn connect_failure(e: &ConnectError) -> Failure {
    let close = e.close().map(|(c, _)| c);
    let policy = close.is_some_and(|c| c == 1008 || (4000..=4999).contains(&c));
    let transient = match e {
        ConnectError::Open(_) | ConnectError::Timeout(_) => true,
        ConnectError::Closed { .. } => !policy,
        ConnectError::Rejected { .. } | ConnectError::Protocol(_) => false,
    };
    Failure {
        message: e.to_string(),
        unavailable: true,
        transient,
    }
}

fn call_failure(e: &CallError) -> Failure {
    match e {
        // A received RPC rejection is the error, not a reachability problem.
        CallError::Error(shape) => Failure {
            message: shape.message.clone(),
            unavailable: false,
            transient: false,
        },
        CallError::Timeout => Failure {
            message: e.to_string(),
            unavailable: true,
            transient: true,
        },
        CallError::Closed { code, .. } => Failure {
            message: e.to_string(),
            unavailable: true,
            transient: !(*code == 1008 || (4000..=4999).contains(code)),
        },
    }
}

/// One page of lines and where it came from.
struct Page {
    tail: TailResult,
    local_fallback: bool,
}

fn resolve(args: &LogsArgs, ctx: &Context) -> Result<Resolved, String> {
    let t = super::args::TargetArgs {
        url: args.url.clone(),
        token: args.token.clone(),
        password: args.password.clone(),
        timeout: args.timeout,
    };
    let mut target = super::call::resolve_read_target_at(&t, args.port, ctx)?;
    // The implicit loopback reads as upstream's backend client and pairs nothing; an explicit
    // or remote target signs with the CLI's identity when it has one.
    if implicit_loopback(&target) {
        target.identity = None;
    }
    Ok(target)
}

async fn open(t: &Resolved) -> Result<Connection, Failure> {
    let (client_id, mode) = if implicit_loopback(t) {
        ("gateway-client", "backend")
    } else {
        ("cli", "cli")
    };
    t.connect_as(client_id, mode, client::probe_scopes())
        .await
        .map_err(|e| connect_failure(&e))
}

/// One `logs.tail` over the connection, opening it first when there is none.
async fn fetch(
    conn: &mut Option<Connection>,
    t: &Resolved,
    params: Value,
) -> Result<TailResult, Failure> {
    if conn.is_none() {
        *conn = Some(open(t).await?);
    }
    let Some(c) = conn.as_mut() else {
        unreachable!("opened above")
    };
    match c.call("logs.tail", params, t.timeout).await {
        Ok(v) => serde_json::from_value::<TailResult>(v).map_err(|e| Failure {
            message: format!("Unexpected logs.tail response: {e}"),
            unavailable: false,
            transient: false,
        }),
        Err(e) => {
            if let Some(c) = conn.take() {
                c.close().await;
            }
            Err(call_failure(&e))
        }
    }
}

/// The configured file log, or the newest file of its rolling family when today's does not
/// exist yet (as upstream's reader resolves it).
pub fn local_file(ctx: &Context) -> PathBuf {
    let settings = LogSettings::from_config(&ctx.config, &ctx.env, ctx.paths.profile.as_deref());
    let file = settings.current_file();
    if file.exists() || settings.file.is_some() {
        return file;
    }
    let Some(dir) = file.parent() else {
        return file;
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // `openclaw-[<profile>-]YYYY-MM-DD.log`: the family is everything before the date.
    let family = name
        .get(..name.len().saturating_sub("YYYY-MM-DD.log".len()))
        .unwrap_or_default()
        .to_string();
    let dated = |n: &str| {
        n.strip_prefix(family.as_str())
            .and_then(|r| r.strip_suffix(".log"))
            .is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
    };
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| dated(&e.file_name().to_string_lossy()))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, p)| p)
        .unwrap_or(file)
}

#[derive(Clone, Copy)]
struct Style {
    json: bool,
    pretty: bool,
    colour: bool,
    utc: bool,
}

fn paint(s: &Style, code: &str, text: &str) -> String {
    if s.colour && !text.is_empty() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// A record's time as upstream shows it: local ISO with offset (the default) or UTC
/// (`…Z`); pretty mode shows `HH:MM:SS+HH:MM`.
pub fn format_time(value: &str, pretty: bool, utc: bool) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) else {
        return value.to_string();
    };
    match (pretty, utc) {
        (false, false) => record::local_time(t.with_timezone(&chrono::Local)),
        (false, true) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string(),
        (true, false) => t
            .with_timezone(&chrono::Local)
            .format("%H:%M:%S%:z")
            .to_string(),
        (true, true) => t
            .with_timezone(&chrono::Utc)
            .format("%H:%M:%S+00:00")
            .to_string(),
    }
}

/// One line of text output: `time level label message` (a line that is not a record is
/// shown as it is). Control characters are escaped so no line can drive the terminal.
fn format_line(raw: &str, s: &Style) -> String {
    let Some(v) = record::view(raw) else {
        return crate::util::escape_controls(raw).into_owned();
    };
    let time = v
        .time
        .as_deref()
        .map(|t| format_time(t, s.pretty, s.utc))
        .unwrap_or_default();
    let level = v.level.clone().unwrap_or_default();
    let message = if v.message.is_empty() {
        v.raw.clone()
    } else {
        v.message.clone()
    };
    let message = crate::util::escape_controls(&message).into_owned();
    let label = crate::util::escape_controls(v.label()).into_owned();
    if !s.pretty {
        return [
            time.as_str(),
            level.as_str(),
            label.as_str(),
            message.as_str(),
        ]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_string();
    }
    let colour = match level.as_str() {
        "error" | "fatal" => "31",
        "warn" => "33",
        "debug" | "trace" => "2",
        _ => "36",
    };
    let head = [
        paint(s, "2", &time),
        paint(s, colour, &level),
        paint(s, "35", &label),
    ]
    .into_iter()
    .filter(|p| !p.is_empty())
    .collect::<Vec<_>>()
    .join(" ");
    format!("{head} {}", paint(s, colour, &message))
        .trim()
        .to_string()
}

fn meta_record(p: &Page) -> Value {
    let mut m = json!({
        "type": "meta",
        "file": p.tail.file,
        "sourceKind": "file",
        "cursor": p.tail.cursor,
        "size": p.tail.size,
    });
    if p.local_fallback {
        m["localFallback"] = json!(true);
    }
    m
}

fn notice(s: &Style, message: &str) {
    if s.json {
        eprintln!("{}", json!({"type": "notice", "message": message}));
    } else {
        eprintln!("{}", paint(s, "33", message));
    }
}

/// Print a page; `announce` when its source is new (the first page, or a fallback).
fn emit(p: &Page, announce: bool, s: &Style) {
    if s.json {
        if announce {
            println!("{}", meta_record(p));
        }
        for line in &p.tail.lines {
            match record::view(line) {
                Some(v) => println!("{}", log_record(&v)),
                None => println!("{}", json!({"type": "raw", "raw": line})),
            }
        }
        if p.tail.truncated {
            println!("{}", json!({"type": "notice", "message": TRUNCATED_NOTICE}));
        }
        if p.tail.reset {
            println!("{}", json!({"type": "notice", "message": RESET_NOTICE}));
        }
        return;
    }
    if announce {
        if p.local_fallback {
            eprintln!("{}", paint(s, "33", LOCAL_FALLBACK_NOTICE));
        }
        let label = if s.pretty {
            paint(s, "2", "Log file:")
        } else {
            "Log file:".into()
        };
        println!("{label} {}", p.tail.file);
    }
    for line in &p.tail.lines {
        println!("{}", format_line(line, s));
    }
    if p.tail.truncated {
        eprintln!("{TRUNCATED_NOTICE}");
    }
    if p.tail.reset {
        eprintln!("{RESET_NOTICE}");
    }
}

fn log_record(v: &View) -> Value {
    let mut r = json!({"type": "log"});
    if let (Value::Object(r), Ok(Value::Object(v))) = (&mut r, serde_json::to_value(v)) {
        r.extend(v);
    }
    r
}

fn emit_error(t: &Resolved, ctx: &Context, message: &str, s: &Style) {
    let details = details(t, ctx);
    if s.json {
        eprintln!(
            "{}",
            json!({"type": "error", "message": message, "error": message, "details": details, "hint": HINT})
        );
        return;
    }
    eprintln!("{}", paint(s, "31", message));
    eprintln!("{}", details["message"].as_str().unwrap_or_default());
    eprintln!("{}", paint(s, "2", HINT));
}

/// The wait before retry `n` (1-based): 1 s doubling, capped at 30 s, ±20 % jitter.
pub fn backoff(n: u32) -> Duration {
    let base = 1000f64 * 2f64.powi(n.saturating_sub(1).min(16) as i32);
    let capped = base.min(30_000.0);
    let mut b = [0u8; 2];
    let jitter = if getrandom::getrandom(&mut b).is_ok() {
        (u16::from_le_bytes(b) as f64 / u16::MAX as f64) * 0.4 - 0.2
    } else {
        0.0
    };
    Duration::from_millis((capped * (1.0 + jitter)).max(0.0) as u64)
}

pub fn run(args: LogsArgs, ctx: Context) -> i32 {
    let style = Style {
        json: args.json,
        pretty: !args.json && !args.plain && std::io::stdout().is_terminal(),
        colour: !args.json
            && !args.plain
            && !args.no_color
            && ctx.env.get("NO_COLOR").is_none()
            && std::io::stdout().is_terminal(),
        utc: args.utc,
    };
    let target = match resolve(&args, &ctx) {
        Ok(t) => t,
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    json!({"ok": false, "error": {"type": "cli_error", "message": e}})
                );
            } else {
                eprintln!("{e}");
            }
            return exit::FAILURE;
        }
    };
    let limit = args.limit.min(tail::MAX_LIMIT as u64);
    let max_bytes = args.max_bytes.min(tail::MAX_MAX_BYTES);
    let interval = Duration::from_millis(args.interval.max(1));
    super::block_on(async {
        let mut conn: Option<Connection> = None;
        let mut cursor: Option<u64> = None;
        let mut last_source: Option<(String, bool)> = None;
        let mut retries = 0u32;
        loop {
            let mut params = json!({"limit": limit, "maxBytes": max_bytes});
            if let Some(c) = cursor {
                params["cursor"] = json!(c);
            }
            let page = match fetch(&mut conn, &target, params).await {
                Ok(tail) => Page {
                    tail,
                    local_fallback: false,
                },
                Err(f) if args.follow && f.transient && retries < MAX_FOLLOW_RETRIES => {
                    retries += 1;
                    let wait = backoff(retries);
                    notice(
                        &style,
                        &format!(
                            "[logs] gateway disconnected, reconnecting in {}s...",
                            (wait.as_millis() as f64 / 1000.0).round()
                        ),
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(f) if !args.follow && f.unavailable && implicit_loopback(&target) => {
                    let file = local_file(&ctx);
                    match tail::tail(&file, cursor, limit as usize, max_bytes) {
                        Ok(tail) => Page {
                            tail,
                            local_fallback: true,
                        },
                        Err(e) => {
                            emit_error(
                                &target,
                                &ctx,
                                &format!("{}; log read failed: {}: {e}", f.message, file.display()),
                                &style,
                            );
                            return exit::FAILURE;
                        }
                    }
                }
                Err(f) => {
                    emit_error(&target, &ctx, &f.message, &style);
                    return exit::FAILURE;
                }
            };
            if retries > 0 {
                notice(&style, RECONNECTED_NOTICE);
                retries = 0;
            }
            let source = (page.tail.file.clone(), page.local_fallback);
            let announce = last_source.as_ref() != Some(&source);
            emit(&page, announce, &style);
            last_source = Some(source);
            cursor = Some(page.tail.cursor);
            if !args.follow {
                if let Some(c) = conn.take() {
                    c.close().await;
                }
                return exit::OK;
            }
            tokio::time::sleep(interval).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_upstream_shows_them() {
        assert_eq!(
            format_time("2026-11-23T18:21:02.107+00:00", false, true),
            "2026-11-23T18:21:02.107Z"
        );
        assert_eq!(
            format_time("2026-11-23T19:21:02.107+01:00", true, true),
            "18:21:02+00:00"
        );
        assert_eq!(format_time("not a time", false, false), "not a time");
    }

    #[test]
    fn plain_lines_are_time_level_label_message() {
        let s = Style {
            json: false,
            pretty: false,
            colour: false,
            utc: true,
        };
        let line = record::render(
            crate::logging::Level::Warn,
            "gateway/ws",
            "hello\x1b[2J",
            "h",
            chrono::DateTime::parse_from_rfc3339("2026-11-23T18:21:02.107+00:00")
                .unwrap()
                .with_timezone(&chrono::Local),
        );
        assert_eq!(
            format_line(&line, &s),
            "2026-11-23T18:21:02.107Z warn gateway/ws hello\\u{1b}[2J"
        );
        assert_eq!(format_line("plain text", &s), "plain text");
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        for (n, base) in [
            (1u32, 1000u64),
            (2, 2000),
            (3, 4000),
            (6, 30_000),
            (8, 30_000),
        ] {
            let ms = backoff(n).as_millis() as u64;
            assert!(ms >= base * 8 / 10 && ms <= base * 12 / 10, "{n}: {ms}");
        }
    }
}
