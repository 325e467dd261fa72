//! The Windows Scheduled Task (upstream `src/daemon/schtasks.ts`): the task runs
//! `<state>\gateway.cmd`, a launcher that sets the service environment and starts the gateway.

use super::runner::{Output, Runner};
use super::systemctl::UnitState;
use super::{no_line_breaks, xml_escape, LineBreak, ServiceSpec};

/// Upstream's `quoteCmdScriptArg` (delayed expansion on): `"` becomes `\"`, `%` doubles,
/// `!` becomes `^!`, and the whole is quoted when it holds a blank or a cmd special.
pub fn cmd_quote(v: &str) -> String {
    if v.is_empty() {
        return "\"\"".into();
    }
    let escaped = v.replace('"', "\\\"").replace('%', "%%").replace('!', "^!");
    if v.contains(|c: char| " \t\"&|<>^()%!".contains(c)) {
        format!("\"{escaped}\"")
    } else {
        escaped
    }
}

/// Upstream's `renderCmdSetAssignment`: `set "K=V"` with `^`, `!`, `%` and `"` escaped.
fn cmd_set(k: &str, v: &str) -> String {
    let esc = |s: &str| {
        s.replace('^', "^^")
            .replace('!', "^!")
            .replace('%', "%%")
            .replace('"', "^\"")
    };
    format!("set \"{}={}\"", esc(k), esc(v))
}

/// `gateway.cmd` as upstream's `buildTaskScript` writes it (CRLF): description, working
/// directory, the service environment without `PATH` (the task keeps Windows' own), then
/// the gateway with stdin from `NUL`. Upstream also appends `--task-supervisor` (its
/// Node-specific Job Object supervisor); this gateway runs directly under the task, whose
/// definition restarts it on failure.
pub fn launcher(spec: &ServiceSpec) -> Result<String, LineBreak> {
    let mut lines = vec!["@echo off".to_string()];
    let description = spec.description.trim();
    if !description.is_empty() {
        no_line_breaks(description, "Task description")?;
        lines.push(format!("rem {description}"));
    }
    if let Some(dir) = &spec.working_directory {
        let dir = dir.display().to_string();
        no_line_breaks(&dir, "Working directory")?;
        lines.push(format!("cd /d {}", cmd_quote(&dir)));
    }
    for (k, v) in &spec.environment {
        no_line_breaks(k, "Environment variable name")?;
        no_line_breaks(v, "Environment variable value")?;
        let upper = k.to_ascii_uppercase();
        if (v.is_empty() && upper != "NODE_OPTIONS")
            || upper == "PATH"
            || upper == "OPENCLAW_WINDOWS_TASK_HIDDEN_LAUNCHER"
        {
            continue;
        }
        lines.push(cmd_set(k, v));
    }
    let mut args = Vec::new();
    for a in &spec.program {
        no_line_breaks(a, "Command argument")?;
        args.push(cmd_quote(a));
    }
    lines.push(format!("{} < NUL", args.join(" ")));
    Ok(format!("{}\r\n", lines.join("\r\n")))
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
    /// The task's description ([`super::description`]).
    pub description: String,
    /// The account the logon trigger is for ([`task_user`]); `None`: the Users group.
    pub user: Option<String>,
}

/// The Scheduled Task definition registered with `schtasks /Create /XML` (upstream
/// `buildScheduledTaskXml`): a logon trigger, least privilege, no time limit, restart on
/// failure three times a minute apart, running the launcher.
pub fn task_xml(description: &str, launch_path: &str, task_user: Option<&str>) -> String {
    let user = task_user.map(xml_escape);
    let principal = match &user {
        Some(u) => {
            format!("\n      <UserId>{u}</UserId>\n      <LogonType>InteractiveToken</LogonType>")
        }
        None => "\n      <GroupId>S-1-5-32-545</GroupId>".to_string(),
    };
    let trigger_user = user
        .as_ref()
        .map(|u| format!("\n      <UserId>{u}</UserId>"))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>{description}</Description>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>{trigger_user}
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">{principal}
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>false</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>3</Count>
    </RestartOnFailure>
    <Priority>7</Priority>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{command}</Command>
    </Exec>
  </Actions>
</Task>"#,
        description = xml_escape(description),
        command = xml_escape(launch_path),
    )
}

/// `DOMAIN\user` (or `user` in a workgroup) from `USERNAME`/`USER`/`LOGNAME` and
/// `USERDOMAIN`, as upstream resolves the task's user.
pub fn task_user(env: &crate::config::env::Env) -> Option<String> {
    let name = ["USERNAME", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| env.get(k).filter(|v| !v.is_empty()))?;
    if name.contains('\\') {
        return Some(name.to_string());
    }
    match env.get("USERDOMAIN").filter(|d| !d.is_empty()) {
        Some(d) if d.eq_ignore_ascii_case("workgroup") => Some(name.to_string()),
        Some(d) => Some(format!("{d}\\{name}")),
        None => Some(name.to_string()),
    }
}

/// The bytes `schtasks /XML` reads: UTF-16LE with a byte-order mark.
pub fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
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

    /// After the launcher was written: register (or replace) the task from its XML
    /// definition (a private temp file, removed after), then run it.
    pub fn install(&mut self) -> Result<(), String> {
        let xml = task_xml(
            &self.description,
            &self.launcher.display().to_string(),
            self.user.as_deref(),
        );
        let dir = std::env::temp_dir().join(format!(
            "openclaw-task-xml-{}-{}",
            std::process::id(),
            crate::util::now_ms()
        ));
        let path = dir.join("task.xml");
        let written = crate::config::write::ensure_private_dir(&dir).and_then(|_| {
            crate::config::write::atomic_write(&path, &utf16le_with_bom(&xml), 0o600)
        });
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!(
                "cannot write the task definition {}: {e}",
                path.display()
            ));
        }
        let argv = [
            self.program.clone(),
            "/Create".into(),
            "/F".into(),
            "/TN".into(),
            self.task.clone(),
            "/XML".into(),
            path.display().to_string(),
        ];
        let o = self.runner.run(&argv);
        let _ = std::fs::remove_dir_all(&dir);
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
