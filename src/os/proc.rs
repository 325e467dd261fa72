//! `/proc` readers: who listens on a TCP port, process details, signals.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

/// A process listening on a port.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    pub pid: Option<u32>,
    pub user: Option<String>,
    /// Short process name (`/proc/<pid>/comm`).
    pub command: Option<String>,
    pub command_line: Option<String>,
    /// `127.0.0.1:18789` or `[::1]:18789`.
    pub address: String,
    /// The process is an OpenClaw gateway (by its executable and arguments).
    pub gateway_like: bool,
}

fn parse_hex_addr(s: &str) -> Option<(String, u16)> {
    let (ip_hex, port_hex) = s.split_once(':')?;
    let port = u16::from_str_radix(port_hex, 16).ok()?;
    let ip = match ip_hex.len() {
        8 => {
            let n = u32::from_str_radix(ip_hex, 16).ok()?;
            std::net::Ipv4Addr::from(n.swap_bytes()).to_string()
        }
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(&ip_hex[i * 8..i * 8 + 8], 16).ok()?;
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            format!("[{}]", std::net::Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Listening sockets on `port`: (address, inode).
fn listening_inodes(port: u16) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != "0A" {
                continue;
            }
            let Some((ip, p)) = parse_hex_addr(cols[1]) else {
                continue;
            };
            if p != port {
                continue;
            }
            if let Ok(inode) = cols[9].parse::<u64>() {
                out.push((format!("{ip}:{p}"), inode));
            }
        }
    }
    out
}

/// Map socket inodes to the pids holding them.
fn pids_for_inodes(inodes: &HashSet<u64>) -> Vec<(u64, u32)> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            if let Some(inode) = t
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|n| n.parse::<u64>().ok())
            {
                if inodes.contains(&inode) {
                    found.push((inode, pid));
                }
            }
        }
    }
    found
}

/// Every listener on `port`, with pid and command when `/proc` lets us see them.
pub fn listeners_on_port(port: u16) -> Vec<Listener> {
    let sockets = listening_inodes(port);
    let inodes: HashSet<u64> = sockets.iter().map(|(_, i)| *i).collect();
    let owners = pids_for_inodes(&inodes);
    let mut out = Vec::new();
    for (address, inode) in sockets {
        let pids: Vec<u32> = owners
            .iter()
            .filter(|(i, _)| *i == inode)
            .map(|(_, p)| *p)
            .collect();
        if pids.is_empty() {
            out.push(Listener {
                pid: None,
                user: None,
                command: None,
                command_line: None,
                address,
                gateway_like: false,
            });
            continue;
        }
        for pid in pids {
            out.push(Listener {
                pid: Some(pid),
                user: process_user(pid),
                command: process_comm(pid),
                command_line: process_cmdline(pid),
                address: address.clone(),
                gateway_like: is_gateway_process(pid),
            });
        }
    }
    out.sort_by(|a, b| (a.pid, &a.address).cmp(&(b.pid, &b.address)));
    out.dedup();
    out
}

pub fn process_comm(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

pub fn process_argv(pid: u32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A process's environment (readable for processes of the same user, or as root).
pub fn process_environ(pid: u32) -> Vec<(String, String)> {
    fs::read(format!("/proc/{pid}/environ"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter_map(|kv| {
                    let s = String::from_utf8_lossy(kv);
                    s.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn process_cmdline(pid: u32) -> Option<String> {
    let parts = process_argv(pid);
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Is `argv` an OpenClaw gateway? Its executable is `openclaw…` (the real gateway renames
/// itself `openclaw-gateway`), or an interpreter runs an `openclaw` script, and it was
/// started as a gateway. Words elsewhere in the command line do not count.
pub fn is_gateway_argv(comm: &str, argv: &[String]) -> bool {
    let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    if comm.starts_with("openclaw-gatewa")
        || argv.first().is_some_and(|a| base(a) == "openclaw-gateway")
    {
        return true;
    }
    let exe_is_openclaw = argv
        .first()
        .is_some_and(|a| base(a).starts_with("openclaw"));
    let script_is_openclaw = argv.get(1).is_some_and(|a| base(a).starts_with("openclaw"));
    (exe_is_openclaw || script_is_openclaw) && argv.iter().skip(1).any(|a| a == "gateway")
}

pub fn is_gateway_process(pid: u32) -> bool {
    is_gateway_argv(&process_comm(pid).unwrap_or_default(), &process_argv(pid))
}

/// A command line for one line of human output: control characters collapsed, bounded.
pub fn display_command(cmd: &str) -> String {
    let flat: String = cmd.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 160 {
        format!("{}…", flat.chars().take(159).collect::<String>())
    } else {
        flat
    }
}

/// The process start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
pub fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

pub fn process_uid(pid: u32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|u| u.parse().ok())
}

/// User name for a uid from `/etc/passwd`, else the number.
pub fn user_name(uid: u32) -> String {
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id = f.nth(1)?;
                (id.parse::<u32>().ok()? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

pub fn process_user(pid: u32) -> Option<String> {
    process_uid(pid).map(user_name)
}

pub fn is_alive(pid: u32) -> bool {
    if Path::new(&format!("/proc/{pid}")).exists() {
        // A zombie has exited; treat it as gone.
        return !fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(false);
    }
    false
}

/// Send a signal; `Ok(false)` when the process no longer exists.
pub fn signal(pid: u32, sig: i32) -> std::io::Result<bool> {
    let pid = i32::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Raise the open-file soft limit to the hard limit (a gateway holds one fd per client).
/// Returns the new soft limit.
pub fn raise_nofile_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on this process with a valid, initialized struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return None;
            }
        }
    }
    Some(lim.rlim_cur)
}

pub fn current_uid() -> u32 {
    // SAFETY: getuid(2) cannot fail.
    unsafe { libc::getuid() }
}

/// The effective user id (owner checks on files this process opens).
pub fn current_euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_proc_addresses() {
        assert_eq!(
            parse_hex_addr("0100007F:4965"),
            Some(("127.0.0.1".into(), 18789))
        );
        assert_eq!(
            parse_hex_addr("00000000000000000000000001000000:4965"),
            Some(("[::1]".into(), 18789))
        );
    }

    #[test]
    fn gateway_processes_by_executable_not_by_words() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_gateway_argv(
            "openclaw-gatewa",
            &v(&["openclaw-gateway"])
        ));
        assert!(is_gateway_argv(
            "openclaw",
            &v(&["/usr/bin/openclaw", "gateway", "--port", "1"])
        ));
        assert!(is_gateway_argv(
            "node",
            &v(&["node", "/x/bin/openclaw", "gateway", "run"])
        ));
        assert!(!is_gateway_argv(
            "python3",
            &v(&["python3", "-c", "print('openclaw gateway')"])
        ));
        assert!(!is_gateway_argv(
            "openclaw",
            &v(&["openclaw", "gateway-probe-notes"])
        ));
        assert!(!is_gateway_argv("openclaw", &v(&["openclaw", "status"])));
        assert_eq!(display_command("a\n  b\tc"), "a b c");
    }

    #[test]
    fn finds_our_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let found = listeners_on_port(port);
        assert!(
            found.iter().any(|x| x.pid == Some(std::process::id())),
            "{found:?}"
        );
        assert!(is_alive(std::process::id()));
    }
}
