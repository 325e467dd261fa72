//! `openclaw doctor` (live, read-only) and `openclaw doctor triage FILE...` (offline).

use super::args::{DoctorArgs, SelectArgs, SeverityArg, TriageArgs};
use super::context::Context;
use crate::config::gateway as gwcfg;
use crate::contract::doctor::{DoctorReport, Severity, Status};
use crate::contract::exit;
use crate::doctor::{self, catalog::Catalog, probes::ProbeContext, Selection};
use std::fmt::Write;
use std::time::Duration;

fn selection(s: &SelectArgs) -> Selection {
    Selection {
        only: s.only.clone(),
        skip: s.skip.clone(),
        severity_min: s.severity_min.map(|m| match m {
            SeverityArg::Info => Severity::Info,
            SeverityArg::Warning => Severity::Warning,
            SeverityArg::Error => Severity::Error,
        }),
    }
}

fn catalog(s: &SelectArgs) -> Result<Catalog, String> {
    let extra = match &s.checks {
        Some(dir) => doctor::catalog::read_dir(dir).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    doctor::load_catalog(&extra).map_err(|e| e.to_string())
}

/// Print the report (JSON or human) and return its exit code.
fn emit(r: &DoctorReport, json: bool, verbose: bool, cat: Option<&Catalog>) -> i32 {
    if json {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
    } else {
        print!("{}", human(r, verbose, cat));
    }
    r.exit_code()
}

fn fail_to_run(mode: &str, msg: String, json: bool) -> i32 {
    let r = doctor::could_not_run(mode, msg.clone());
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    }
    eprintln!("doctor could not run: {msg}");
    exit::doctor::COULD_NOT_RUN
}

pub fn parse_window(s: &str) -> Option<u64> {
    crate::gateway::health::parse_duration_ms(s).map(|ms| ms / 1000)
}

pub fn run(args: DoctorArgs, ctx: Context) -> i32 {
    match args.command {
        Some(super::args::DoctorCommand::Triage(t)) => return triage(t),
        Some(super::args::DoctorCommand::Selftest(a)) => return selftest(a.json),
        None => {}
    }
    let json = args.select.json;
    let cat = match catalog(&args.select) {
        Ok(c) => c,
        Err(e) => return fail_to_run("live", e, json),
    };
    if args.check_config {
        println!(
            "{} check(s) in {} section(s): ok",
            cat.checks.len(),
            cat.sections.len()
        );
        return exit::OK;
    }
    if args.list_checks {
        for c in &cat.checks {
            println!(
                "{:<40} {:<8} {:<45} {}",
                c.id,
                format!("{:?}", c.severity).to_lowercase(),
                c.section,
                c.symptoms.join(",")
            );
        }
        return exit::OK;
    }
    if let Some(id) = &args.explain {
        return explain(&cat, id);
    }
    let Some(window) = parse_window(&args.since) else {
        return fail_to_run(
            "live",
            format!(
                "--since {:?} is not a duration (use 30m, 2h, 1d)",
                args.since
            ),
            json,
        );
    };
    let (port, _) = gwcfg::resolve_port(None, &ctx.env, &ctx.config);
    let pctx = ProbeContext {
        env: ctx.env.clone(),
        paths: ctx.paths.clone(),
        config: ctx.config.clone(),
        port,
        timeout: Duration::from_millis(args.target.timeout.max(250)),
        log_window_secs: Some(window),
        url: args.target.url.clone(),
        token: args.target.token.clone(),
        password: args.target.password.clone(),
        deep: args.deep,
    };
    let sel = selection(&args.select);
    let report = if args.fix || args.yes || args.dry_run {
        super::block_on(doctor::run_fix(
            &cat,
            &pctx,
            &sel,
            args.dry_run,
            args.non_interactive,
        ))
    } else {
        super::block_on(doctor::run_live(&cat, &pctx, &sel))
    };
    if let Some(path) = &args.bundle {
        if let Err(e) = write_bundle(path, &report, &args, &ctx) {
            eprintln!("{e}");
            emit(&report, json, args.select.verbose, Some(&cat));
            return exit::doctor::COULD_NOT_RUN;
        }
    }
    emit(&report, json, args.select.verbose, Some(&cat))
}

fn write_bundle(
    path: &std::path::Path,
    report: &DoctorReport,
    args: &DoctorArgs,
    ctx: &Context,
) -> Result<(), String> {
    let probe = super::block_on(crate::client::probe::run(
        crate::client::probe::ProbeRequest {
            url: args.target.url.clone(),
            token: args.target.token.clone(),
            password: args.target.password.clone(),
            timeout_ms: args.target.timeout,
            ..crate::client::probe::ProbeRequest::new(&ctx.config, &ctx.env, &ctx.paths.state_dir)
        },
    ));
    let status_args = super::args::GatewayStatusArgs {
        target: args.target.clone(),
        json: true,
        deep: false,
        no_probe: false,
        require_rpc: false,
    };
    let (status, _) = super::gateway_status::gather(&status_args, ctx);
    let log_file = crate::logging::file::LogSettings::from_config(
        &ctx.config,
        &ctx.env,
        ctx.paths.profile.as_deref(),
    )
    .current_file();
    let contents = doctor::bundle::assemble(
        &ctx.config,
        &ctx.env,
        &ctx.paths.state_dir,
        &log_file,
        &serde_json::to_value(report).unwrap_or_default(),
        &serde_json::to_value(&probe).unwrap_or_default(),
        &status,
    )?;
    doctor::bundle::write(&contents, path)?;
    eprintln!(
        "Support bundle written: {} ({} files; secrets redacted, hosts pseudonymised)",
        path.display(),
        contents.files.len()
    );
    Ok(())
}

fn triage(t: TriageArgs) -> i32 {
    let json = t.select.json;
    let cat = match catalog(&t.select) {
        Ok(c) => c,
        Err(e) => return fail_to_run("triage", e, json),
    };
    let mut report = doctor::run_triage(&cat, &t.paths, &selection(&t.select));
    if let Some(e) = &report.error {
        return fail_to_run("triage", e.clone(), json);
    }
    // Offline, a check is only worth showing when an input spoke to it.
    if !t.select.verbose {
        report.findings.retain(|f| f.status != Status::Skipped);
    }
    // Rank: errors first, then warnings, then by how often they were seen.
    report.findings.sort_by(|a, b| {
        rank(b.status)
            .cmp(&rank(a.status))
            .then(b.severity.cmp(&a.severity))
            .then(
                b.matches
                    .as_ref()
                    .map(|m| m.count)
                    .cmp(&a.matches.as_ref().map(|m| m.count)),
            )
    });
    emit(&report, json, t.select.verbose, Some(&cat))
}

fn selftest(json: bool) -> i32 {
    let cat = match doctor::load_catalog(&[]) {
        Ok(c) => c,
        Err(e) => return fail_to_run("selftest", e.to_string(), json),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail_to_run(
                "selftest",
                format!("cannot start the async runtime: {e}"),
                json,
            )
        }
    };
    if !json {
        eprintln!("doctor selftest: seeding each fault into a throwaway profile…");
    }
    let results = rt.block_on(doctor::selftest::run(&cat));
    let passed = results.iter().filter(|r| r.passed).count();
    let failed = results.len() - passed;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "schema_version": crate::contract::SCHEMA_VERSION,
                "ok": failed == 0,
                "passed": passed,
                "failed": failed,
                "scenarios": results,
            }))
            .unwrap_or_default()
        );
    } else {
        println!(
            "OpenClaw doctor selftest {}",
            crate::config::version::CURRENT
        );
        for r in &results {
            println!(
                "  {} {:<48} {}",
                if r.passed { "✓" } else { "✗" },
                r.name,
                r.detail
            );
        }
        println!("selftest: {passed} passed, {failed} failed");
    }
    if failed == 0 {
        exit::OK
    } else {
        exit::FAILURE
    }
}

fn rank(s: Status) -> u8 {
    match s {
        Status::Fail | Status::Error => 3,
        Status::Warn => 2,
        Status::Ok => 1,
        Status::Skipped => 0,
    }
}

fn explain(cat: &Catalog, id: &str) -> i32 {
    let Some(c) = cat.checks.iter().find(|c| c.id == id) else {
        eprintln!("no check {id:?}; list them with `openclaw doctor --list-checks`");
        return exit::USAGE;
    };
    println!("{} — {}", c.id, c.title);
    println!(
        "section: {} ({}#{})",
        c.section,
        doctor::catalog::RUNBOOK_URL,
        c.section
    );
    println!(
        "symptoms: {}",
        if c.symptoms.is_empty() {
            "-".into()
        } else {
            c.symptoms.join(", ")
        }
    );
    println!("severity: {:?}", c.severity);
    println!("file: checks/{}", c.file);
    println!("fires with: {}", c.message);
    for w in &c.when {
        println!("  when   {}", describe(w));
    }
    for w in &c.when_any {
        println!("  any of {}", describe(w));
    }
    for s in &c.signatures {
        println!("  log signature: {}", s.display());
    }
    if !c.depends_on.is_empty() {
        println!("depends on: {}", c.depends_on.join(", "));
    }
    println!("remediation: {}", c.remediation);
    for cmd in &c.commands {
        println!("  $ {cmd}");
    }
    if let Some(f) = &c.fix {
        println!("fix (doctor --fix): {}", f.action);
    }
    exit::OK
}

fn describe(c: &doctor::catalog::Condition) -> String {
    let op = if let Some(v) = &c.is {
        format!("is {}", doctor::catalog::to_json(v))
    } else if let Some(v) = &c.is_not {
        format!("is not {}", doctor::catalog::to_json(v))
    } else if let Some(m) = c.missing {
        if m {
            "is missing".into()
        } else {
            "is present".into()
        }
    } else if let Some(n) = c.non_empty {
        if n {
            "is not empty".into()
        } else {
            "is empty".into()
        }
    } else if let Some(g) = c.gt {
        format!("> {g}")
    } else if let Some(l) = c.lt {
        format!("< {l}")
    } else if let Some(s) = &c.contains {
        format!("contains {s:?}")
    } else if let Some(r) = &c.matches {
        format!("matches /{r}/")
    } else if let Some(l) = &c.any_of {
        format!("is one of {l:?}")
    } else {
        String::new()
    };
    let meaning = doctor::facts::KNOWN
        .iter()
        .find(|(k, _)| *k == c.fact)
        .map(|(_, m)| *m)
        .unwrap_or("");
    format!("{} {op}   ({meaning})", c.fact)
}

fn human(r: &DoctorReport, verbose: bool, cat: Option<&Catalog>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "OpenClaw doctor {} ({}){}",
        r.version,
        r.mode,
        r.config_path
            .as_ref()
            .map(|p| format!(" — config {p}"))
            .unwrap_or_default()
    );
    for i in &r.inputs {
        let _ = writeln!(s, "input: {i}");
    }
    if let Some(e) = &r.error {
        let _ = writeln!(s, "\nThe doctor could not run: {e}");
        return s;
    }
    let sections: Vec<(String, String)> = cat
        .map(|c| {
            c.sections
                .iter()
                .map(|x| (x.id.clone(), x.title.clone()))
                .collect()
        })
        .unwrap_or_default();
    for (sid, title) in &sections {
        let items: Vec<_> = r
            .findings
            .iter()
            .filter(|f| {
                &f.section == sid
                    && (verbose || matches!(f.status, Status::Warn | Status::Fail | Status::Error))
            })
            .collect();
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n{title}");
        for f in items {
            let tag = if f.symptoms.is_empty() {
                String::new()
            } else {
                format!("  [{}]", f.symptoms.join(", "))
            };
            match f.status {
                Status::Ok => {
                    let _ = writeln!(s, "  {} {}", f.status.marker(), f.title);
                }
                Status::Skipped => {
                    let _ = writeln!(
                        s,
                        "  {} {} (skipped: {})",
                        f.status.marker(),
                        f.title,
                        f.skipped_reason.as_deref().unwrap_or("")
                    );
                }
                _ => {
                    let _ = writeln!(s, "  {} {}{tag}", f.status.marker(), f.message);
                    if let Some(obj) = f.evidence.as_object() {
                        for (k, v) in obj {
                            let _ = writeln!(s, "      {k}: {}", compact(v));
                        }
                    }
                    if let Some(m) = &f.matches {
                        let _ = writeln!(
                            s,
                            "      seen {} time(s) in logs{}{}",
                            m.count,
                            m.first_seen
                                .as_ref()
                                .map(|t| format!(", first {t}"))
                                .unwrap_or_default(),
                            m.last_seen
                                .as_ref()
                                .map(|t| format!(", last {t}"))
                                .unwrap_or_default()
                        );
                        if let Some(l) = m.lines.last() {
                            let _ =
                                writeln!(s, "      > {}", l.chars().take(200).collect::<String>());
                        }
                    }
                    let _ = writeln!(s, "      fix: {}", f.remediation.text);
                    for c in &f.remediation.commands {
                        let _ = writeln!(s, "      hint: {c}");
                    }
                    let _ = writeln!(s, "      runbook: {}", f.runbook);
                }
            }
        }
    }
    if let Some(fixes) = &r.fixes {
        let _ = writeln!(s, "\nFixes");
        if fixes.is_empty() {
            let _ = writeln!(s, "  nothing to fix automatically");
        }
        for f in fixes {
            let mark = match f.status.as_str() {
                "applied" => "✓",
                "planned" => "~",
                "refused" => "-",
                _ => "✗",
            };
            let _ = writeln!(
                s,
                "  {mark} [{}] {} ({}): {}",
                f.status, f.action, f.check_id, f.summary
            );
            if f.status == "planned" {
                for line in f.diff.as_deref().unwrap_or("").lines() {
                    let _ = writeln!(s, "      {line}");
                }
            }
            for b in &f.backups {
                let _ = writeln!(s, "      backup: {b}");
            }
        }
    }
    if let Some(o) = &r.other_processes {
        if !o.matched.is_empty() || verbose {
            let _ = writeln!(
                s,
                "\nOther processes on this host (the shared file log; not this gateway's, not counted)"
            );
            let _ = writeln!(
                s,
                "  {} line(s) by other processes, {} naming no writer",
                o.lines, o.unattributed_lines
            );
            for m in &o.matched {
                let _ = writeln!(
                    s,
                    "  i {} ×{} (last {})",
                    m.check_id,
                    m.matches.count,
                    m.matches.last_seen.as_deref().unwrap_or("?")
                );
                if verbose {
                    for l in &m.matches.lines {
                        let _ = writeln!(s, "      > {}", l.chars().take(200).collect::<String>());
                    }
                }
            }
        }
    }
    let c = &r.counts;
    let verdict = match r.exit_code() {
        0 => "healthy",
        1 => "warnings",
        _ => "errors",
    };
    let _ = writeln!(
        s,
        "\nVerdict: {verdict} — {} error(s), {} warning(s), {} ok, {} skipped{}",
        c.fail,
        c.warn,
        c.ok,
        c.skipped,
        if verbose {
            ""
        } else {
            " (--verbose lists every check)"
        }
    );
    s
}

fn compact(v: &serde_json::Value) -> String {
    let t = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "(missing)".into(),
        other => other.to_string(),
    };
    if t.chars().count() > 300 {
        format!("{}…", t.chars().take(299).collect::<String>())
    } else {
        t
    }
}
