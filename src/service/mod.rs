//! Supervisors for the gateway (spec 4): service names per profile, the environment markers
//! a service carries, the files for systemd, launchd and schtasks rendered as upstream
//! renders them (`src/daemon/*`), and driving them: [`supervisor`] is the one interface the
//! commands use, over [`manager`] (systemd through [`bus`] or [`systemctl`]) and the
//! `launchctl`/`schtasks` drivers, which run their command lines through a [`runner`].
//! [`inspect`] reads what is installed for `gateway status`, `status` and the doctor.

pub mod bus;
pub mod inspect;
pub mod launchd;
pub mod manager;
pub mod runner;
pub mod schtasks;
pub mod supervisor;
pub mod systemctl;
pub mod systemd;

use crate::config::env::{self, Env};
use std::path::PathBuf;

pub const SERVICE_MARKER: &str = "openclaw";
pub const SERVICE_KIND_GATEWAY: &str = "gateway";

/// What a service is called under each supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// `openclaw-gateway[-<profile>]` (without `.service`).
    pub systemd_unit: String,
    /// `ai.openclaw.gateway` or `ai.openclaw.<profile>`.
    pub launchd_label: String,
    /// `OpenClaw Gateway` or `OpenClaw Gateway (<profile>)`.
    pub windows_task: String,
}

fn profile_of(env: &Env) -> Option<String> {
    env.get(env::PROFILE)
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "default")
        .map(String::from)
}

impl Names {
    /// Names for the active profile; `OPENCLAW_SYSTEMD_UNIT`, `OPENCLAW_LAUNCHD_LABEL` and
    /// `OPENCLAW_WINDOWS_TASK_NAME` override them.
    pub fn for_env(env: &Env) -> Names {
        let profile = profile_of(env);
        let unit = env
            .get("OPENCLAW_SYSTEMD_UNIT")
            .map(|u| u.trim().trim_end_matches(".service").to_string())
            .unwrap_or_else(|| match &profile {
                Some(p) => format!("openclaw-gateway-{p}"),
                None => "openclaw-gateway".into(),
            });
        let label = env
            .get("OPENCLAW_LAUNCHD_LABEL")
            .map(|l| l.trim().to_string())
            .unwrap_or_else(|| match &profile {
                Some(p) => format!("ai.openclaw.{p}"),
                None => "ai.openclaw.gateway".into(),
            });
        let task = env
            .get("OPENCLAW_WINDOWS_TASK_NAME")
            .map(|t| t.trim().to_string())
            .unwrap_or_else(|| match &profile {
                Some(p) => format!("OpenClaw Gateway ({p})"),
                None => "OpenClaw Gateway".into(),
            });
        Names {
            systemd_unit: unit,
            launchd_label: label,
            windows_task: task,
        }
    }
}

/// Everything a unit file needs.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub names: Names,
    pub description: String,
    /// The binary and its arguments (`/usr/bin/openclaw gateway --port 18789`).
    pub program: Vec<String>,
    pub working_directory: Option<PathBuf>,
    /// `KEY=value` pairs in the order they are written.
    pub environment: Vec<(String, String)>,
    pub state_dir: PathBuf,
    /// `--system`: the account the system unit runs as.
    pub system_user: Option<String>,
}

/// The minimal PATH a service runs with: the binary's directory, then the system dirs.
pub fn minimal_path(binary: &std::path::Path) -> String {
    let mut dirs: Vec<String> = Vec::new();
    if let Some(d) = binary.parent().filter(|d| !d.as_os_str().is_empty()) {
        dirs.push(d.display().to_string());
    }
    for d in ["/usr/local/bin", "/usr/bin", "/bin"] {
        if !dirs.iter().any(|x| x == d) {
            dirs.push(d.into());
        }
    }
    dirs.join(":")
}

/// `OpenClaw Gateway`, or `OpenClaw Gateway (profile: <p>, v<version>)`.
pub fn description(env: &Env) -> String {
    match profile_of(env) {
        Some(p) => format!(
            "OpenClaw Gateway (profile: {p}, v{})",
            env!("CARGO_PKG_VERSION")
        ),
        None => "OpenClaw Gateway".to_string(),
    }
}

impl ServiceSpec {
    /// The gateway service for this environment: `binary gateway --port <port>`, the
    /// markers upstream's inspectors look for, and the profile's paths when they are set.
    pub fn gateway(env: &Env, binary: &std::path::Path, port: u16, state_dir: PathBuf) -> Self {
        let names = Names::for_env(env);
        let version = env!("CARGO_PKG_VERSION");
        let profile = profile_of(env);
        let description = description(env);
        let mut environment = vec![
            ("HOME".to_string(), env.home().display().to_string()),
            ("PATH".to_string(), minimal_path(binary)),
        ];
        if let Some(p) = &profile {
            environment.push((env::PROFILE.into(), p.clone()));
        }
        environment.extend([
            (env::GATEWAY_PORT.to_string(), port.to_string()),
            (
                "OPENCLAW_SYSTEMD_UNIT".to_string(),
                format!("{}.service", names.systemd_unit),
            ),
            (
                "OPENCLAW_LAUNCHD_LABEL".to_string(),
                names.launchd_label.clone(),
            ),
            (
                "OPENCLAW_WINDOWS_TASK_NAME".to_string(),
                names.windows_task.clone(),
            ),
            (env::SERVICE_MARKER.to_string(), SERVICE_MARKER.to_string()),
            (
                "OPENCLAW_SERVICE_KIND".to_string(),
                SERVICE_KIND_GATEWAY.to_string(),
            ),
            ("OPENCLAW_SERVICE_VERSION".to_string(), version.to_string()),
        ]);
        for key in [env::STATE_DIR, env::CONFIG_PATH] {
            if let Some(v) = env.get(key) {
                environment.push((key.to_string(), v.to_string()));
            }
        }
        ServiceSpec {
            names,
            description,
            program: vec![
                binary.display().to_string(),
                "gateway".into(),
                "--port".into(),
                port.to_string(),
            ],
            working_directory: Some(state_dir.clone()),
            environment,
            state_dir,
            system_user: None,
        }
    }
}

/// Escape text for XML (plist and task definition), as upstream's `plistEscape` and
/// `escapeXmlText` do.
pub fn xml_escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The inverse of [`xml_escape`].
pub fn xml_unescape(value: &str) -> String {
    value
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// A value that cannot go into a unit file (a line break would inject directives).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} cannot contain CR or LF characters")]
pub struct LineBreak {
    pub what: &'static str,
}

pub(crate) fn no_line_breaks(value: &str, what: &'static str) -> Result<(), LineBreak> {
    if value.contains(['\r', '\n']) {
        Err(LineBreak { what })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_profile_and_overrides() {
        let n = Names::for_env(&Env::default());
        assert_eq!(
            (
                n.systemd_unit.as_str(),
                n.launchd_label.as_str(),
                n.windows_task.as_str()
            ),
            (
                "openclaw-gateway",
                "ai.openclaw.gateway",
                "OpenClaw Gateway"
            )
        );
        let n = Names::for_env(&Env::from_pairs([(env::PROFILE, "work")]));
        assert_eq!(
            (
                n.systemd_unit.as_str(),
                n.launchd_label.as_str(),
                n.windows_task.as_str()
            ),
            (
                "openclaw-gateway-work",
                "ai.openclaw.work",
                "OpenClaw Gateway (work)"
            )
        );
        let n = Names::for_env(&Env::from_pairs([(
            "OPENCLAW_SYSTEMD_UNIT",
            "custom.service",
        )]));
        assert_eq!(n.systemd_unit, "custom");
        assert_eq!(
            minimal_path(std::path::Path::new("/opt/oc/bin/openclaw")),
            "/opt/oc/bin:/usr/local/bin:/usr/bin:/bin"
        );
    }
}
