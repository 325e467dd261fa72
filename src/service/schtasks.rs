//! The Windows Scheduled Task (upstream `src/daemon/schtasks.ts`): the task runs
//! `<state>\gateway.cmd`, a launcher that sets the service environment and starts the gateway.

use super::{no_line_breaks, LineBreak, ServiceSpec};

/// Quote for `cmd.exe`: `"` around values with spaces or specials; `%` doubled.
fn cmd_quote(v: &str) -> String {
    let v = v.replace('%', "%%");
    if v.contains(|c: char| c.is_whitespace() || "&|<>^()\"".contains(c)) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// `gateway.cmd`, with CRLF line endings.
pub fn launcher(spec: &ServiceSpec) -> Result<String, LineBreak> {
    let mut lines = vec!["@echo off".to_string(), format!("rem {}", spec.description)];
    for (k, v) in &spec.environment {
        no_line_breaks(k, "Windows environment variable names")?;
        no_line_breaks(v, "Windows environment variable values")?;
        if v.trim().is_empty() {
            continue;
        }
        lines.push(format!("set \"{k}={}\"", v.trim().replace('%', "%%")));
    }
    if let Some(dir) = &spec.working_directory {
        lines.push(format!("cd /d {}", cmd_quote(&dir.display().to_string())));
    }
    let args: Vec<String> = spec.program.iter().map(|a| cmd_quote(a)).collect();
    lines.push(args.join(" "));
    lines.push(String::new());
    Ok(lines.join("\r\n"))
}

/// The `schtasks` command lines for each action (run by the manager layer).
pub fn commands(task: &str, launcher: &std::path::Path) -> Vec<(&'static str, Vec<String>)> {
    let tn = || vec!["/TN".to_string(), task.to_string()];
    vec![
        (
            "install",
            [
                vec![
                    "schtasks".into(),
                    "/Create".into(),
                    "/F".into(),
                    "/SC".into(),
                    "ONLOGON".into(),
                    "/RL".into(),
                    "LIMITED".into(),
                ],
                tn(),
                vec!["/TR".into(), format!("\"{}\"", launcher.display())],
            ]
            .concat(),
        ),
        (
            "start",
            [vec!["schtasks".into(), "/Run".into()], tn()].concat(),
        ),
        (
            "stop",
            [vec!["schtasks".into(), "/End".into()], tn()].concat(),
        ),
        (
            "status",
            [
                vec!["schtasks".into(), "/Query".into()],
                tn(),
                vec!["/V".into(), "/FO".into(), "LIST".into()],
            ]
            .concat(),
        ),
        (
            "uninstall",
            [vec!["schtasks".into(), "/Delete".into(), "/F".into()], tn()].concat(),
        ),
    ]
}
