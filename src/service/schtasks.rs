//! The Windows Scheduled Task (upstream `src/daemon/schtasks.ts`): the task runs
//! `<state>\gateway.cmd`, a launcher that sets the service environment and starts the gateway.

use super::runner::{Output, Runner};
use super::systemctl::UnitState;
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

/// `schtasks`, driven through a [`Runner`] for one task: `/Create` registers it to run
/// the launcher at logon, `/Run` starts it, `/End` stops it, `/Delete` removes it, and
/// `/Query /V /FO LIST` reads its state.
pub struct Schtasks<R: Runner> {
    pub runner: R,
    /// `schtasks` (or `OPENCLAW_SCHTASKS`).
    pub program: String,
    pub task: String,
    /// `<state>\gateway.cmd`.
    pub launcher: std::path::PathBuf,
}

/// `ERROR: The system cannot find the file specified.` and its kin: no such task.
fn no_task(o: &Output) -> bool {
    let d = format!("{}{}", o.stderr, o.stdout).to_lowercase();
    d.contains("cannot find") || d.contains("does not exist")
}

/// Parse `schtasks /Query /V /FO LIST` (`Status: Running`, `Last Result: 0`).
pub fn parse_query(text: &str) -> UnitState {
    let mut s = UnitState {
        load_state: "loaded".into(),
        ..UnitState::default()
    };
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_lowercase().as_str() {
            "status" => {
                s.sub_state = v.to_lowercase();
                s.active_state = if v.eq_ignore_ascii_case("running") {
                    "active"
                } else {
                    "inactive"
                }
                .into();
            }
            "last result" => {
                let n = match v.strip_prefix("0x") {
                    Some(hex) => u32::from_str_radix(hex, 16).ok().map(|n| n as i32),
                    None => v.parse().ok(),
                };
                if let Some(n) = n {
                    s.exec_main_status = Some(n);
                    s.exec_main_code = Some("exited".into());
                }
            }
            "scheduled task state" => {
                s.unit_file_state = if v.eq_ignore_ascii_case("enabled") {
                    "enabled"
                } else {
                    "disabled"
                }
                .into();
            }
            _ => {}
        }
    }
    s
}

impl<R: Runner> Schtasks<R> {
    fn run(&mut self, args: &[&str]) -> Output {
        let mut argv = vec![self.program.clone()];
        argv.extend(args.iter().map(|a| a.to_string()));
        argv.extend(["/TN".to_string(), self.task.clone()]);
        self.runner.run(&argv)
    }

    fn checked(&mut self, args: &[&str]) -> Result<(), String> {
        let o = self.run(args);
        if o.ok {
            Ok(())
        } else {
            Err(format!(
                "schtasks {} failed: {}",
                args.join(" "),
                o.reason()
            ))
        }
    }

    pub fn runtime(&mut self) -> Result<UnitState, String> {
        let o = self.run(&["/Query", "/V", "/FO", "LIST"]);
        if o.ok {
            Ok(parse_query(&o.stdout))
        } else if no_task(&o) {
            Ok(UnitState {
                load_state: "not-found".into(),
                active_state: "inactive".into(),
                sub_state: "not registered".into(),
                ..UnitState::default()
            })
        } else {
            Err(format!("schtasks /Query failed: {}", o.reason()))
        }
    }

    /// After the launcher was written: register (or replace) the logon task and run it.
    pub fn install(&mut self) -> Result<(), String> {
        let tr = format!("\"{}\"", self.launcher.display());
        let mut argv = vec![self.program.clone()];
        argv.extend(
            ["/Create", "/F", "/SC", "ONLOGON", "/RL", "LIMITED", "/TN"]
                .iter()
                .map(|s| s.to_string()),
        );
        argv.extend([self.task.clone(), "/TR".into(), tr]);
        let o = self.runner.run(&argv);
        if !o.ok {
            return Err(format!("schtasks /Create failed: {}", o.reason()));
        }
        self.start()
    }

    pub fn start(&mut self) -> Result<(), String> {
        self.checked(&["/Run"])
    }

    /// `/End`; a task that is not running is already stopped.
    pub fn stop(&mut self) -> Result<(), String> {
        let o = self.run(&["/End"]);
        let d = format!("{}{}", o.stderr, o.stdout).to_lowercase();
        if o.ok || d.contains("not running") {
            Ok(())
        } else {
            Err(format!("schtasks /End failed: {}", o.reason()))
        }
    }

    pub fn restart(&mut self) -> Result<(), String> {
        self.stop()?;
        self.start()
    }

    /// Stop and delete the task.
    pub fn remove(&mut self) -> Result<(), String> {
        self.stop()?;
        let o = self.run(&["/Delete", "/F"]);
        if o.ok || no_task(&o) {
            Ok(())
        } else {
            Err(format!("schtasks /Delete failed: {}", o.reason()))
        }
    }
}
