//! What is installed: the gateway's unit for this profile (user unit first, then the system
//! unit), what it runs and with which environment, the config it resolves, and — only when a
//! unit is installed — its runtime through the manager. Shared by `gateway status` and the
//! doctor, so both say the same thing.

use super::systemctl::{self, Systemctl, UnitState};
use super::Names;
use crate::config::env::Env;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Inspection {
    /// `openclaw-gateway[-<profile>].service`.
    pub unit: String,
    /// The user unit path (where `install` writes without `--system`).
    pub user_path: PathBuf,
    /// The installed unit file, if any.
    pub path: Option<PathBuf>,
    pub system: bool,
    pub text: String,
    /// `ExecStart`, split into arguments.
    pub command: Vec<String>,
    pub working_dir: Option<String>,
    pub environment: Vec<(String, String)>,
    /// The config file the unit's environment resolves.
    pub config_path: Option<PathBuf>,
    /// `None` when nothing is installed (the manager is not asked); `Err` when it could
    /// not be reached.
    pub runtime: Option<Result<UnitState, String>>,
}

impl Inspection {
    pub fn installed(&self) -> bool {
        self.path.is_some()
    }

    /// `Environment=` values safe to show: secrets are redacted.
    pub fn shown_environment(&self) -> Vec<(String, String)> {
        self.environment
            .iter()
            .map(|(k, v)| {
                let secret = ["TOKEN", "PASSWORD", "SECRET", "KEY"]
                    .iter()
                    .any(|s| k.to_uppercase().contains(s));
                (k.clone(), if secret { "***".into() } else { v.clone() })
            })
            .collect()
    }
}

/// `Environment=` assignments of a unit (quoted or bare, `%%` unescaped).
pub fn unit_environment(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Environment="))
        .filter_map(|v| {
            let v = unquote(v.trim());
            let (k, val) = v.split_once('=')?;
            Some((k.to_string(), val.to_string()))
        })
        .collect()
}

fn unquote(v: &str) -> String {
    let v = match v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_string(),
    };
    v.replace("%%", "%")
}

/// Split an `ExecStart=` value into arguments (double quotes group, `\` escapes).
pub fn split_exec(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped, mut any) = (false, false, false);
    for c in v.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
            any = true;
        } else if c.is_whitespace() && !quoted {
            if any || !cur.is_empty() {
                out.push(std::mem::take(&mut cur).replace("%%", "%"));
                any = false;
            }
        } else {
            cur.push(c);
        }
    }
    if any || !cur.is_empty() {
        out.push(cur.replace("%%", "%"));
    }
    out
}

pub fn inspect(env: &Env) -> Inspection {
    let unit = format!("{}.service", Names::for_env(env).systemd_unit);
    let user_path = systemctl::unit_dir(env, false).join(&unit);
    let system_path = systemctl::unit_dir(env, true).join(&unit);
    let (path, system) = if user_path.exists() {
        (Some(user_path.clone()), false)
    } else if system_path.exists() {
        (Some(system_path), true)
    } else {
        (None, false)
    };
    let text = path
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(k).map(str::to_string))
    };
    let environment = unit_environment(&text);
    let config_path = path
        .as_ref()
        .map(|_| crate::config::paths::resolve(&Env::from_pairs(environment.clone())).config_path);
    let runtime = path.as_ref().map(|_| {
        let sc = Systemctl::new(env, system);
        sc.available().and_then(|_| sc.show(&unit))
    });
    Inspection {
        command: field("ExecStart=")
            .map(|v| split_exec(&v))
            .unwrap_or_default(),
        working_dir: field("WorkingDirectory=").map(|v| v.replace("%%", "%")),
        unit,
        user_path,
        path,
        system,
        text,
        environment,
        config_path,
        runtime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_and_exec_lines_are_parsed() {
        let text = "[Service]\nExecStart=/usr/bin/openclaw gateway \"--name\" \"a b\" 100%%\nEnvironment=HOME=/h\nEnvironment=\"OPENCLAW_STATE_DIR=/srv/open claw\"\nEnvironment=P=100%%\n";
        assert_eq!(
            unit_environment(text),
            vec![
                ("HOME".to_string(), "/h".to_string()),
                (
                    "OPENCLAW_STATE_DIR".to_string(),
                    "/srv/open claw".to_string()
                ),
                ("P".to_string(), "100%".to_string()),
            ]
        );
        let exec = text
            .lines()
            .nth(1)
            .unwrap()
            .strip_prefix("ExecStart=")
            .unwrap();
        assert_eq!(
            split_exec(exec),
            ["/usr/bin/openclaw", "gateway", "--name", "a b", "100%"]
        );
    }
}
