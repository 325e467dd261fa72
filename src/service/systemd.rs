//! The systemd unit (upstream `src/daemon/systemd-unit.ts`): the same fixed policy
//! (restart, `RestartPreventExitStatus=78`, `SuccessExitStatus=0 143`, start limits) and
//! quoting, plus `Type=notify` and a watchdog because this gateway speaks sd-notify.

use super::{no_line_breaks, LineBreak, ServiceSpec};

/// How long systemd waits for a watchdog ping before restarting the gateway.
pub const WATCHDOG_SEC: u32 = 60;

const UNIT_POLICY: &[(&str, &str)] = &[
    ("After", "network-online.target"),
    ("Wants", "network-online.target"),
    ("StartLimitBurst", "10"),
    ("StartLimitIntervalSec", "300"),
];

/// Open files the unit allows (upstream's unit sets none).
pub const LIMIT_NOFILE: u32 = 65536;

const SERVICE_POLICY: &[(&str, &str)] = &[
    ("Restart", "always"),
    ("RestartSec", "5"),
    ("RestartPreventExitStatus", "78"),
    ("TimeoutStopSec", "30"),
    ("TimeoutStartSec", "30"),
    ("SuccessExitStatus", "0 143"),
    ("OOMPolicy", "continue"),
    ("KillMode", "mixed"),
];

/// Quote a value the way upstream does: bare unless it has whitespace, a quote or a
/// backslash; `%` is doubled (systemd specifiers).
pub fn escape_arg(value: &str) -> Result<String, LineBreak> {
    no_line_breaks(value, "Systemd unit values")?;
    let v = value.replace('%', "%%");
    if !v.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\') {
        return Ok(v);
    }
    Ok(format!(
        "\"{}\"",
        v.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// The unit file's text.
pub fn render(spec: &ServiceSpec) -> Result<String, LineBreak> {
    no_line_breaks(&spec.description, "Systemd Description")?;
    let mut out = vec![
        "[Unit]".to_string(),
        format!("Description={}", spec.description),
    ];
    out.extend(UNIT_POLICY.iter().map(|(k, v)| format!("{k}={v}")));
    out.push(String::new());
    out.push("[Service]".into());
    out.push("Type=notify".into());
    out.push("NotifyAccess=main".into());
    let exec: Result<Vec<String>, LineBreak> = spec.program.iter().map(|a| escape_arg(a)).collect();
    out.push(format!("ExecStart={}", exec?.join(" ")));
    out.extend(SERVICE_POLICY.iter().map(|(k, v)| format!("{k}={v}")));
    out.push(format!("WatchdogSec={WATCHDOG_SEC}"));
    // One descriptor per client: systemd's default soft limit (1024) would cap the
    // gateway at about a thousand connections.
    out.push(format!("LimitNOFILE={LIMIT_NOFILE}"));
    if let Some(user) = &spec.system_user {
        no_line_breaks(user, "Systemd User")?;
        out.push(format!("User={user}"));
    }
    if let Some(dir) = &spec.working_directory {
        let d = dir.display().to_string();
        no_line_breaks(&d, "Systemd WorkingDirectory")?;
        out.push(format!("WorkingDirectory={}", d.replace('%', "%%")));
    }
    for (k, v) in &spec.environment {
        no_line_breaks(k, "Systemd environment variable names")?;
        no_line_breaks(v, "Systemd environment variable values")?;
        if v.trim().is_empty() {
            continue;
        }
        out.push(format!(
            "Environment={}",
            escape_arg(&format!("{k}={}", v.trim()))?
        ));
    }
    out.push(String::new());
    out.push("[Install]".into());
    out.push(format!(
        "WantedBy={}",
        if spec.system_user.is_some() {
            "multi-user.target"
        } else {
            "default.target"
        }
    ));
    out.push(String::new());
    Ok(out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_upstream() {
        assert_eq!(escape_arg("plain").unwrap(), "plain");
        assert_eq!(escape_arg("a b").unwrap(), "\"a b\"");
        assert_eq!(escape_arg("say \"hi\"").unwrap(), "\"say \\\"hi\\\"\"");
        assert_eq!(escape_arg("c:\\x").unwrap(), "\"c:\\\\x\"");
        assert_eq!(escape_arg("100%").unwrap(), "100%%");
        assert!(escape_arg("a\nExecStartPre=/bin/evil").is_err());
    }
}
