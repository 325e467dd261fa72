//! The launchd LaunchAgent plist (upstream `src/daemon/launchd-plist.ts`), same keys and
//! policy; logs go to `<state>/logs/gateway.log` and `gateway.err.log`.

use super::runner::{Output, Runner};
use super::systemctl::UnitState;
use super::{no_line_breaks, xml_escape, LineBreak, ServiceSpec};

const POLICY: &[(&str, &str)] = &[
    ("RunAtLoad", "<true/>"),
    ("KeepAlive", "<true/>"),
    ("ExitTimeOut", "<integer>20</integer>"),
    ("ProcessType", "<string>Interactive</string>"),
    ("ThrottleInterval", "<integer>10</integer>"),
    ("Umask", "<integer>63</integer>"),
    ("StandardInPath", "<string>/dev/null</string>"),
];

/// `~/Library/LaunchAgents/<label>.plist`.
pub fn plist_path(home: &std::path::Path, label: &str) -> std::path::PathBuf {
    home.join("Library/LaunchAgents")
        .join(format!("{label}.plist"))
}

/// The plist, byte for byte as upstream's `buildLaunchAgentPlist` writes it (including
/// its whitespace-only lines before `Comment` and `WorkingDirectory`), so a plist written
/// by either reads as current to the other.
pub fn render(spec: &ServiceSpec) -> Result<String, LineBreak> {
    let label = &spec.names.launchd_label;
    no_line_breaks(label, "launchd Label")?;
    let logs = spec.state_dir.join("logs");
    let args: String = spec
        .program
        .iter()
        .map(|a| format!("\n      <string>{}</string>", xml_escape(a)))
        .collect();
    let working_dir = spec
        .working_directory
        .as_ref()
        .map(|d| {
            format!(
                "\n    <key>WorkingDirectory</key>\n    <string>{}</string>",
                xml_escape(&d.display().to_string())
            )
        })
        .unwrap_or_default();
    let comment = match spec.description.trim() {
        "" => String::new(),
        c => format!(
            "\n    <key>Comment</key>\n    <string>{}</string>",
            xml_escape(c)
        ),
    };
    let policy: Vec<String> = POLICY
        .iter()
        .map(|(k, v)| format!("    <key>{k}</key>\n    {v}"))
        .collect();
    let env: String = spec
        .environment
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| {
            format!(
                "\n    <key>{}</key>\n    <string>{}</string>",
                xml_escape(k),
                xml_escape(v.trim())
            )
        })
        .collect();
    let env = if env.is_empty() {
        env
    } else {
        format!("\n    <key>EnvironmentVariables</key>\n    <dict>{env}\n    </dict>")
    };
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n  <dict>\n    <key>Label</key>\n    <string>{label}</string>\n    {comment}\n{policy}\n    <key>ProgramArguments</key>\n    <array>{args}\n    </array>\n    {working_dir}\n    <key>StandardOutPath</key>\n    <string>{out}</string>\n    <key>StandardErrorPath</key>\n    <string>{err}</string>{env}\n  </dict>\n</plist>\n",
        label = xml_escape(label),
        policy = policy.join("\n"),
        out = xml_escape(&logs.join("gateway.log").display().to_string()),
        err = xml_escape(&logs.join("gateway.err.log").display().to_string()),
    ))
}

/// `launchctl`, driven through a [`Runner`] for one LaunchAgent (`gui/<uid>/<label>`), the
/// way upstream drives it: `print` tells whether the job is loaded, `enable` + `bootstrap`
/// load it (RunAtLoad starts it), `kickstart [-k]` starts or restarts it, `bootout` stops
/// and unloads it.
pub struct Launchctl<R: Runner> {
    pub runner: R,
    /// `launchctl` (or `OPENCLAW_LAUNCHCTL`).
    pub program: String,
    pub uid: u32,
    pub label: String,
    pub plist: std::path::PathBuf,
}

/// "Not loaded" answers of `launchctl` (upstream `isLaunchctlNotLoaded`).
fn not_loaded(o: &Output) -> bool {
    let d = format!("{}{}", o.stderr, o.stdout).to_lowercase();
    d.contains("no such process") || d.contains("could not find service") || d.contains("not found")
}

/// "Already loaded" answers of `bootstrap` (upstream `isLaunchctlAlreadyLoaded`).
fn already_loaded(o: &Output) -> bool {
    o.code == Some(130)
        || format!("{}{}", o.stderr, o.stdout)
            .to_lowercase()
            .contains("already exists in domain")
}

/// Parse `launchctl print <target>` into the runtime fields `gateway status` shows.
pub fn parse_print(text: &str) -> UnitState {
    let mut s = UnitState {
        load_state: "loaded".into(),
        ..UnitState::default()
    };
    for line in text.lines() {
        let Some((k, v)) = line.split_once(" = ") else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "state" => {
                s.sub_state = v.to_string();
                s.active_state = if v == "running" { "active" } else { "inactive" }.into();
            }
            "pid" => s.main_pid = v.parse().ok().filter(|p| *p > 0),
            "last exit status" | "last exit code" => {
                if let Ok(n) = v.parse() {
                    s.exec_main_status = Some(n);
                    s.exec_main_code = Some("exited".into());
                }
            }
            _ => {}
        }
    }
    s
}

impl<R: Runner> Launchctl<R> {
    fn domain(&self) -> String {
        format!("gui/{}", self.uid)
    }

    pub fn target(&self) -> String {
        format!("gui/{}/{}", self.uid, self.label)
    }

    fn ctl(&mut self, args: &[&str]) -> Output {
        let mut argv = vec![self.program.clone()];
        argv.extend(args.iter().map(|a| a.to_string()));
        self.runner.run(&argv)
    }

    fn fail(what: &str, o: &Output) -> String {
        format!("launchctl {what} failed: {}", o.reason())
    }

    /// The job's state when it is loaded, `None` when it is not.
    fn loaded(&mut self) -> Result<Option<UnitState>, String> {
        let target = self.target();
        let o = self.ctl(&["print", &target]);
        if o.ok {
            Ok(Some(parse_print(&o.stdout)))
        } else if not_loaded(&o) {
            Ok(None)
        } else {
            Err(Self::fail("print", &o))
        }
    }

    /// The job's state: `LoadState=not-loaded` when the plist exists but launchd has not
    /// loaded it (after `bootout`), `not-found` when there is no plist either.
    pub fn runtime(&mut self) -> Result<UnitState, String> {
        Ok(self.loaded()?.unwrap_or_else(|| UnitState {
            load_state: if self.plist.is_file() {
                "not-loaded"
            } else {
                "not-found"
            }
            .into(),
            active_state: "inactive".into(),
            sub_state: "not loaded".into(),
            ..UnitState::default()
        }))
    }

    /// `enable` + `bootstrap` (a job already loaded counts as loaded).
    fn load(&mut self) -> Result<(), String> {
        let (target, domain) = (self.target(), self.domain());
        let plist = self.plist.display().to_string();
        self.ctl(&["enable", &target]);
        let o = self.ctl(&["bootstrap", &domain, &plist]);
        if o.ok || already_loaded(&o) {
            Ok(())
        } else {
            Err(Self::fail("bootstrap", &o))
        }
    }

    /// After the plist was written: unload the old definition if loaded, then load this one.
    pub fn install(&mut self) -> Result<(), String> {
        if self.loaded()?.is_some() {
            self.stop()?;
        }
        self.load()
    }

    pub fn start(&mut self) -> Result<(), String> {
        if self.loaded()?.is_none() {
            return self.load();
        }
        let target = self.target();
        let o = self.ctl(&["kickstart", &target]);
        if o.ok {
            Ok(())
        } else {
            Err(Self::fail("kickstart", &o))
        }
    }

    pub fn restart(&mut self) -> Result<(), String> {
        if self.loaded()?.is_none() {
            return self.load();
        }
        let target = self.target();
        let o = self.ctl(&["kickstart", "-k", &target]);
        if o.ok {
            Ok(())
        } else {
            Err(Self::fail("kickstart -k", &o))
        }
    }

    /// `bootout`: stops the job and unloads it (a job not loaded is already stopped).
    pub fn stop(&mut self) -> Result<(), String> {
        let target = self.target();
        let o = self.ctl(&["bootout", &target]);
        if o.ok || not_loaded(&o) {
            Ok(())
        } else {
            Err(Self::fail("bootout", &o))
        }
    }
}
