//! `gateway probe --ssh user@host[:port]`: a real `ssh -N -L` child forwarding a local
//! loopback port to the remote gateway's loopback port. The child is killed when the tunnel
//! is closed or dropped, on every exit path.

use super::credentials;
use super::probe::TargetSpec;
use crate::config::{Env, LoadedConfig};
use crate::contract::probe::Tunnel as TunnelInfo;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// `user@host[:port]` split into the ssh destination and port.
pub fn parse_target(target: &str) -> Result<(String, Option<u16>), String> {
    let t = target.trim();
    if t.is_empty() || t.starts_with('-') || t.contains(char::is_whitespace) {
        return Err(format!(
            "invalid SSH target {target:?} (use user@host or user@host:port)"
        ));
    }
    match t.rsplit_once(':') {
        Some((dest, port)) if !dest.contains(']') || dest.ends_with(']') => {
            match port.parse::<u16>() {
                Ok(p) => Ok((dest.to_string(), Some(p))),
                Err(_) => Err(format!("invalid SSH port in {target:?}")),
            }
        }
        _ => Ok((t.to_string(), None)),
    }
}

pub struct Tunnel {
    child: Option<Child>,
    pub target: String,
    pub local_port: u16,
    pub remote_port: u16,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.start_kill();
        }
    }
}

fn free_local_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Tunnel {
    /// Start the tunnel and wait (within `timeout_ms`) until the local end accepts.
    pub async fn open(
        target: &str,
        identity: Option<&Path>,
        remote_port: u16,
        strict_host_keys: bool,
        ssh_command: Option<&str>,
        timeout_ms: u64,
    ) -> Result<Tunnel, String> {
        let (dest, port) = parse_target(target)?;
        let local_port = free_local_port().map_err(|e| format!("no free local port: {e}"))?;
        let connect_timeout = (timeout_ms / 1000).max(1);
        // `OPENCLAW_SSH_COMMAND` replaces `ssh` (program plus options, split on whitespace).
        let mut words = ssh_command.unwrap_or("ssh").split_whitespace();
        let program = words.next().unwrap_or("ssh");
        let mut cmd = Command::new(program);
        cmd.args(words);
        cmd.arg("-N")
            .arg("-L")
            .arg(format!("127.0.0.1:{local_port}:127.0.0.1:{remote_port}"))
            .args(["-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes"])
            .args(["-o", &format!("ConnectTimeout={connect_timeout}")])
            .args([
                "-o",
                if strict_host_keys {
                    "StrictHostKeyChecking=yes"
                } else {
                    "StrictHostKeyChecking=accept-new"
                },
            ]);
        if let Some(p) = port {
            cmd.args(["-p", &p.to_string()]);
        }
        if let Some(id) = identity {
            cmd.arg("-i").arg(id).args(["-o", "IdentitiesOnly=yes"]);
        }
        cmd.arg(&dest)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("{program} not found on PATH"),
            _ => format!("cannot start ssh: {e}"),
        })?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms.max(1000));
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err).await;
                }
                let last = err
                    .lines()
                    .rfind(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim()
                    .to_string();
                return Err(format!(
                    "ssh exited with {status}{}",
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(": {last}")
                    }
                ));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", local_port))
                .await
                .is_ok()
            {
                return Ok(Tunnel {
                    child: Some(child),
                    target: target.to_string(),
                    local_port,
                    remote_port,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = child.kill().await;
                return Err(format!(
                    "ssh did not open the forward within {timeout_ms}ms"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// The probe target for this tunnel, with remote-mode credentials.
    pub fn target_spec(
        &self,
        cfg: &LoadedConfig,
        env: &Env,
        token: Option<&str>,
        password: Option<&str>,
    ) -> TargetSpec {
        TargetSpec {
            id: "sshTunnel",
            url: format!("ws://127.0.0.1:{}", self.local_port),
            active: true,
            credentials: credentials::resolve(cfg, env, token, password, true),
            tunnel: Some(TunnelInfo {
                kind: "ssh".into(),
                target: self.target.clone(),
                local_port: self.local_port,
                remote_port: self.remote_port,
                pid: self.pid(),
            }),
        }
    }

    /// Stop the ssh child and reap it.
    pub async fn close(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(parse_target("me@host").unwrap(), ("me@host".into(), None));
        assert_eq!(
            parse_target("me@host:2222").unwrap(),
            ("me@host".into(), Some(2222))
        );
        assert!(
            parse_target("-oProxyCommand=x").is_err(),
            "no option injection"
        );
        assert!(parse_target("me@host:abc").is_err());
        assert!(parse_target("a b").is_err());
    }
}
