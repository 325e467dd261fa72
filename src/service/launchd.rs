//! The launchd LaunchAgent plist (upstream `src/daemon/launchd-plist.ts`), same keys and
//! policy; logs go to `<state>/logs/gateway.log` and `gateway.err.log`.

use super::{no_line_breaks, LineBreak, ServiceSpec};

const POLICY: &[(&str, &str)] = &[
    ("RunAtLoad", "<true/>"),
    ("KeepAlive", "<true/>"),
    ("ExitTimeOut", "<integer>20</integer>"),
    ("ProcessType", "<string>Interactive</string>"),
    ("ThrottleInterval", "<integer>10</integer>"),
    ("Umask", "<integer>63</integer>"),
    ("StandardInPath", "<string>/dev/null</string>"),
];

pub fn escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// `~/Library/LaunchAgents/<label>.plist`.
pub fn plist_path(home: &std::path::Path, label: &str) -> std::path::PathBuf {
    home.join("Library/LaunchAgents")
        .join(format!("{label}.plist"))
}

pub fn render(spec: &ServiceSpec) -> Result<String, LineBreak> {
    let label = &spec.names.launchd_label;
    no_line_breaks(label, "launchd Label")?;
    let logs = spec.state_dir.join("logs");
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n  <dict>\n",
    );
    x.push_str(&format!(
        "    <key>Label</key>\n    <string>{}</string>\n",
        escape(label)
    ));
    x.push_str(&format!(
        "    <key>Comment</key>\n    <string>{}</string>\n",
        escape(&spec.description)
    ));
    for (k, v) in POLICY {
        x.push_str(&format!("    <key>{k}</key>\n    {v}\n"));
    }
    x.push_str("    <key>ProgramArguments</key>\n    <array>\n");
    for a in &spec.program {
        x.push_str(&format!("      <string>{}</string>\n", escape(a)));
    }
    x.push_str("    </array>\n");
    if let Some(dir) = &spec.working_directory {
        x.push_str(&format!(
            "    <key>WorkingDirectory</key>\n    <string>{}</string>\n",
            escape(&dir.display().to_string())
        ));
    }
    x.push_str(&format!(
        "    <key>StandardOutPath</key>\n    <string>{}</string>\n",
        escape(&logs.join("gateway.log").display().to_string())
    ));
    x.push_str(&format!(
        "    <key>StandardErrorPath</key>\n    <string>{}</string>\n",
        escape(&logs.join("gateway.err.log").display().to_string())
    ));
    let env: Vec<_> = spec
        .environment
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
    if !env.is_empty() {
        x.push_str("    <key>EnvironmentVariables</key>\n    <dict>\n");
        for (k, v) in env {
            x.push_str(&format!(
                "      <key>{}</key>\n      <string>{}</string>\n",
                escape(k),
                escape(v.trim())
            ));
        }
        x.push_str("    </dict>\n");
    }
    x.push_str("  </dict>\n</plist>\n");
    Ok(x)
}

/// The `launchctl` command lines for each action (run by the manager layer).
pub fn commands(
    uid: u32,
    label: &str,
    plist: &std::path::Path,
) -> Vec<(&'static str, Vec<String>)> {
    let domain = format!("gui/{uid}");
    let target = format!("{domain}/{label}");
    vec![
        (
            "install",
            vec![
                "launchctl".into(),
                "bootstrap".into(),
                domain.clone(),
                plist.display().to_string(),
            ],
        ),
        (
            "start",
            vec!["launchctl".into(), "kickstart".into(), target.clone()],
        ),
        (
            "restart",
            vec![
                "launchctl".into(),
                "kickstart".into(),
                "-k".into(),
                target.clone(),
            ],
        ),
        (
            "stop",
            vec!["launchctl".into(), "bootout".into(), target.clone()],
        ),
        ("status", vec!["launchctl".into(), "print".into(), target]),
    ]
}
