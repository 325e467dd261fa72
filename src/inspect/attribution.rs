//! Whose log line is this? The file log (`/tmp/openclaw/openclaw-YYYY-MM-DD.log`) is shared
//! by every gateway, profile and CLI on the host, the real OpenClaw's too. A finding taken
//! from it counts for a gateway only when the line is that gateway's:
//!
//! - a line that names its writer's pid (this build writes `pid` into every record) is the
//!   gateway's when the pid is one of its runs: the lock owner, the service's main pid, the
//!   listener on its port, or a pid whose lines name this profile's config path (its
//!   current and previous runs announce it at start);
//! - a line without a pid (upstream's records have none) is the gateway's when it names the
//!   gateway's port or config path, and another's when it names only other ones;
//! - a line that names nothing is the gateway's only when no line in the same read belongs
//!   to another process; otherwise it stays unattributed and is not counted.
//!
//! Lines a profile keeps to itself (the service's `<state>/logs/gateway*.log`) are always
//! its own. `since` is the current run's start: older lines of the gateway are history.

use crate::logging::record::Parsed;
use chrono::{DateTime, FixedOffset};
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Written by this profile's gateway.
    Own,
    /// Written by another process (another gateway, profile or client).
    Other,
    /// Names no writer, and other processes write to the same file.
    Unattributed,
}

/// What a line says about its writer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Markers {
    pub pid: Option<u32>,
    /// Local ports the line names (`localPort=`, `host:port`, `port N`; never `remotePort=`).
    pub ports: Vec<u16>,
    /// Config file paths the line names.
    pub configs: Vec<String>,
}

/// How far around another writer's first and last line it counts as active.
pub const ACTIVE_SLACK_SECS: i64 = 5;

static HOST_PORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:\b(?:\d{1,3}(?:\.\d{1,3}){3}|localhost)|\[[0-9A-Fa-f:.]*\]):(\d{1,5})\b|\blocalPort=(\d{1,5})\b|(?:\bport|--port)[ =](\d{1,5})\b",
    )
    .expect("static regex")
});
static REMOTE_PORT: LazyLock<Regex> = LazyLock::new(|| {
    // The client's side of a connection: `remote=1.2.3.4:5678`, `peer=a:b->`, `remotePort=`.
    Regex::new(r"(?:\bremote(?:Addr)?=|\bpeer=)[^\s>]*:(\d{1,5})(?:\s|$)|\bremotePort=(\d{1,5})|(\S+:\d{1,5})->")
        .expect("static regex")
});
static CONFIG_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)config[^/\n]{0,16}?(/[^\s"'`,;()]+\.json5?)\b"#).expect("static regex")
});

/// Read the writer markers of a parsed line.
pub fn markers(p: &Parsed) -> Markers {
    let msg = p.message.as_str();
    let mut remote: Vec<(usize, usize)> = Vec::new();
    for c in REMOTE_PORT.captures_iter(msg) {
        if let Some(m) = c.get(1).or(c.get(2)).or(c.get(3)) {
            remote.push((m.start(), m.end()));
        }
    }
    let mut ports = Vec::new();
    for c in HOST_PORT.captures_iter(msg) {
        let Some(m) = c.get(1).or(c.get(2)).or(c.get(3)) else {
            continue;
        };
        if remote.iter().any(|(s, e)| m.start() >= *s && m.end() <= *e) {
            continue;
        }
        if let Ok(port) = m.as_str().parse::<u16>() {
            if port > 0 && !ports.contains(&port) {
                ports.push(port);
            }
        }
    }
    let configs = CONFIG_PATH
        .captures_iter(msg)
        .filter_map(|c| c.get(1).map(|m| m.as_str().to_string()))
        .collect();
    Markers {
        pid: p.pid,
        ports,
        configs,
    }
}

/// The gateway a log read is for.
#[derive(Debug, Clone, Default)]
pub struct Owner {
    pub pids: BTreeSet<u32>,
    pub port: Option<u16>,
    /// The config path as given and, when it resolves, canonical.
    pub config_paths: Vec<String>,
    /// When the gateway's current run started; `None` when no run is live.
    pub since: Option<DateTime<FixedOffset>>,
}

fn parse_time(t: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(t).ok()
}

impl Owner {
    pub fn new(config_path: &Path, port: Option<u16>) -> Owner {
        let mut config_paths = vec![config_path.display().to_string()];
        if let Ok(c) = std::fs::canonicalize(config_path) {
            let c = c.display().to_string();
            if !config_paths.contains(&c) {
                config_paths.push(c);
            }
        }
        Owner {
            pids: BTreeSet::new(),
            port,
            config_paths,
            since: None,
        }
    }

    /// The gateway as it runs on this host now: the owner of its lock (and when it took the
    /// lock) and the gateway processes among `listeners`, the port's listeners the caller
    /// already read from `/proc`.
    pub fn observed(
        config_path: &Path,
        port: u16,
        listeners: &[crate::os::proc::Listener],
    ) -> Owner {
        let mut owner = Owner::new(config_path, Some(port));
        let lock = crate::gateway::lock::lock_path(config_path);
        if let Some(v) = std::fs::read_to_string(&lock)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        {
            let pid = v["pid"].as_u64().and_then(|p| u32::try_from(p).ok());
            if let Some(pid) = pid.filter(|p| crate::os::proc::is_alive(*p)) {
                owner.pids.insert(pid);
                owner.since = match &v["createdAt"] {
                    Value::Number(n) => n.as_i64().and_then(|ms| {
                        DateTime::from_timestamp_millis(ms).map(|t| t.fixed_offset())
                    }),
                    Value::String(s) => parse_time(s),
                    _ => None,
                };
            }
        }
        for l in listeners {
            if let (Some(pid), true) = (l.pid, l.gateway_like) {
                owner.pids.insert(pid);
            }
        }
        owner
    }

    fn own_config(&self, m: &Markers) -> bool {
        m.configs.iter().any(|c| self.config_paths.contains(c))
    }

    fn judge(&self, m: &Markers) -> Origin {
        if let Some(pid) = m.pid {
            return if self.pids.contains(&pid) {
                Origin::Own
            } else {
                Origin::Other
            };
        }
        let own_port = self.port.is_some_and(|p| m.ports.contains(&p));
        if own_port || self.own_config(m) {
            Origin::Own
        } else if !m.ports.is_empty() || !m.configs.is_empty() {
            Origin::Other
        } else {
            Origin::Unattributed
        }
    }

    /// Attribute every line of one read (`times` in the same order, where known). The pids
    /// of this profile's runs are learnt from the lines that name its config path first. A
    /// line naming no writer is the gateway's when no other writer was active around its
    /// time (from that writer's first to its last line in this read, give or take
    /// `ACTIVE_SLACK`); otherwise it stays unattributed.
    pub fn attribute(&mut self, lines: &[Markers], times: &[Option<&str>]) -> Vec<Origin> {
        for m in lines {
            if let (Some(pid), true) = (m.pid, self.own_config(m)) {
                self.pids.insert(pid);
            }
        }
        let mut out: Vec<Origin> = lines.iter().map(|m| self.judge(m)).collect();
        let when = |i: usize| times.get(i).copied().flatten().and_then(parse_time);
        // When each other writer was active.
        let mut active: std::collections::BTreeMap<
            String,
            (DateTime<FixedOffset>, DateTime<FixedOffset>),
        > = Default::default();
        let mut timeless_other = false;
        for (i, m) in lines.iter().enumerate() {
            if out[i] != Origin::Other {
                continue;
            }
            let key = match (m.pid, m.ports.first(), m.configs.first()) {
                (Some(pid), _, _) => format!("pid {pid}"),
                (None, Some(port), _) => format!("port {port}"),
                (None, None, Some(c)) => format!("config {c}"),
                _ => continue,
            };
            match when(i) {
                Some(t) => {
                    let e = active.entry(key).or_insert((t, t));
                    e.0 = e.0.min(t);
                    e.1 = e.1.max(t);
                }
                None => timeless_other = true,
            }
        }
        let slack = chrono::Duration::seconds(ACTIVE_SLACK_SECS);
        for (i, o) in out.iter_mut().enumerate() {
            if *o != Origin::Unattributed {
                continue;
            }
            let alone = match when(i) {
                Some(t) => {
                    !timeless_other
                        && active
                            .values()
                            .all(|(a, b)| t < *a - slack || t > *b + slack)
                }
                None => active.is_empty() && !timeless_other,
            };
            if alone {
                *o = Origin::Own;
            }
        }
        out
    }

    /// Whether a line of the gateway written at `time` belongs to its current run (lines
    /// without a readable time do).
    pub fn current(&self, time: Option<&str>) -> bool {
        match (self.since, time.and_then(parse_time)) {
            (Some(since), Some(t)) => t >= since,
            _ => true,
        }
    }
}

/// Is `path` a log only this profile writes (the service's logs under its state dir)?
pub fn private_source(path: &Path, state_dir: &Path) -> bool {
    path.starts_with(state_dir.join("logs"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::record::parse_line;

    fn m(line: &str) -> Markers {
        markers(&parse_line(line))
    }

    #[test]
    fn reads_local_ports_not_the_clients() {
        let x = m("unauthorized conn=c5 peer=127.0.0.1:39274->127.0.0.1:28789 remote=127.0.0.1 client=cli");
        assert_eq!(x.ports, vec![28789]);
        let x = m("← open remoteAddr=127.0.0.1 remotePort=40576 localAddr=127.0.0.1 localPort=28789 endpoint=127.0.0.1:40576->127.0.0.1:28789 conn=09ad");
        assert_eq!(x.ports, vec![28789]);
        let x = m("client disconnected conn=abc remote=127.0.0.1:5555 code=1005 reason=n/a");
        assert!(x.ports.is_empty(), "{x:?}");
        assert_eq!(
            m("Gateway failed to start: another gateway instance is already listening on ws://127.0.0.1:18789").ports,
            vec![18789]
        );
        assert_eq!(
            m("listen EADDRINUSE: address already in use [::1]:18790").ports,
            vec![18790]
        );
        assert_eq!(m("force: no listeners on port 18791").ports, vec![18791]);
        assert!(m("gateway token mismatch").ports.is_empty());
    }

    #[test]
    fn reads_config_paths() {
        assert_eq!(
            m("Config valid: /tmp/ocpeer/openclaw.json").configs,
            vec!["/tmp/ocpeer/openclaw.json"]
        );
        assert_eq!(
            m("gateway run: config=/home/u/.openclaw/openclaw.json port=18789").configs,
            vec!["/home/u/.openclaw/openclaw.json"]
        );
        assert!(m("Config write audit: /x/logs/config-audit.jsonl")
            .configs
            .is_empty());
    }

    #[test]
    fn pids_decide_then_ports_then_the_sole_writer_rule() {
        let mine = crate::logging::record::render_for(
            1111,
            crate::logging::Level::Info,
            "gateway",
            "gateway run: config=/p/openclaw.json port=18789",
            "h",
            chrono::Local::now(),
        );
        let theirs = crate::logging::record::render_for(
            2222,
            crate::logging::Level::Warn,
            "gateway",
            "unauthorized conn=x peer=127.0.0.1:5->127.0.0.1:18789 gateway token mismatch",
            "h",
            chrono::Local::now(),
        );
        let mut owner = Owner::new(Path::new("/p/openclaw.json"), Some(18789));
        let lines = [m(&mine), m(&theirs), m("plain line naming nothing")];
        assert_eq!(
            owner.attribute(&lines, &[]),
            vec![Origin::Own, Origin::Other, Origin::Unattributed]
        );
        assert!(owner.pids.contains(&1111));
        // Alone in the file: the unmarked line is the gateway's.
        let mut owner = Owner::new(Path::new("/p/openclaw.json"), Some(18789));
        assert_eq!(
            owner.attribute(&[m(&mine), m("plain line")], &[]),
            vec![Origin::Own, Origin::Own]
        );
        // Upstream's lines carry no pid: the port decides.
        let mut owner = Owner::new(Path::new("/p/openclaw.json"), Some(18789));
        assert_eq!(
            owner.attribute(
                &[
                    m("unauthorized conn=x peer=127.0.0.1:5->127.0.0.1:18789"),
                    m("unauthorized conn=y peer=127.0.0.1:6->127.0.0.1:28789"),
                ],
                &[]
            ),
            vec![Origin::Own, Origin::Other]
        );
    }

    #[test]
    fn an_unmarked_line_is_the_gateways_only_while_no_other_writer_is_active() {
        let mut owner = Owner::new(Path::new("/p/openclaw.json"), Some(18789));
        let lines = [
            m("← open localPort=28789"),
            m("config reload skipped (invalid config)"),
            m("→ close endpoint=127.0.0.1:5->127.0.0.1:28789"),
            m("received SIGTERM; shutting down"),
            m("config reload skipped (invalid config)"),
        ];
        let times = [
            Some("2026-12-03T10:00:00.000+00:00"),
            Some("2026-12-03T10:00:30.000+00:00"),
            Some("2026-12-03T10:01:00.000+00:00"),
            Some("2026-12-03T10:01:04.000+00:00"),
            Some("2026-12-03T10:30:00.000+00:00"),
        ];
        assert_eq!(
            owner.attribute(&lines, &times),
            vec![
                Origin::Other,
                Origin::Unattributed,
                Origin::Other,
                Origin::Unattributed,
                Origin::Own
            ]
        );
    }

    #[test]
    fn lines_before_the_current_start_are_history() {
        let mut owner = Owner::new(Path::new("/p.json"), None);
        owner.since = parse_time("2026-12-03T10:00:00.000+00:00");
        assert!(!owner.current(Some("2026-12-03T09:59:59.000+00:00")));
        assert!(owner.current(Some("2026-12-03T11:00:00.000+01:00")));
        assert!(owner.current(Some("2026-12-03T10:00:01.000+00:00")));
        assert!(owner.current(None));
    }
}
