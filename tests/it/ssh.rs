//! `gateway probe --ssh` through a real OpenSSH server on a loopback port, forwarding to the
//! gateway. Runs when `/usr/sbin/sshd` exists (`.ci/run` installs openssh-server).

use crate::schema::assert_valid;
use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Sshd(Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Start sshd on 127.0.0.1:<free port> accepting `client_key`'s public half.
fn start_sshd(dir: &Path) -> Option<(Sshd, u16)> {
    let sshd = Path::new("/usr/sbin/sshd");
    if !sshd.exists() {
        eprintln!("SSH SKIPPED: /usr/sbin/sshd is not installed (apt-get install openssh-server)");
        return None;
    }
    std::fs::create_dir_all("/run/sshd").ok();
    keygen(&dir.join("host_key"));
    keygen(&dir.join("client_key"));
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.join("sshd_config");
    std::fs::write(
        &cfg,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nAllowTcpForwarding local\n\
             GatewayPorts no\nX11Forwarding no\n",
            dir.join("host_key").display(),
            dir.join("authorized_keys").display(),
            dir.join("sshd.pid").display()
        ),
    )
    .unwrap();
    let child = Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sshd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((Sshd(child), port))
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn probe_through_a_real_ssh_tunnel() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let Some((_sshd, ssh_port)) = start_sshd(p.path()) else {
        return;
    };
    // The remote side of the tunnel is the gateway's port on the "remote" host (here: loopback).
    // The client reads its own config: rewriting the running gateway's file would hot-reload
    // it (mode change: restart) in the middle of the probe.
    let client_config = p.path().join("client.json");
    std::fs::write(
        &client_config,
        format!(
            r#"{{"gateway": {{"mode": "remote", "auth": {{"token": "{TOKEN}"}}, "remote": {{"token": "{TOKEN}", "remotePort": {}}}}}}}"#,
            gw.port
        ),
    )
    .unwrap();
    let known_hosts = p.path().join("known_hosts");
    let mut cmd = p.command();
    cmd.env("OPENCLAW_CONFIG_PATH", &client_config)
        .args(["gateway", "probe", "--json", "--timeout", "8000"])
        .arg("--ssh")
        .arg(format!("{}@127.0.0.1:{ssh_port}", user()))
        .arg("--ssh-identity")
        .arg(p.path().join("client_key"))
        .env(
            "OPENCLAW_SSH_COMMAND",
            format!(
                "ssh -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
                known_hosts.display()
            ),
        );
    let (code, out, err) = run(cmd, Duration::from_secs(30));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_valid("gateway-probe.schema.json", &v);
    let t = target(&v, "sshTunnel");
    assert_eq!(t["connect"]["rpcOk"], true, "{v:#}");
    assert_eq!(v["primaryTargetId"], "sshTunnel");
    assert_eq!(t["tunnel"]["remotePort"], gw.port);
    assert_eq!(code, 0, "{v:#}");
    // The ssh child is gone once the probe returned.
    let pid = t["tunnel"]["pid"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "ssh child {pid} still running: {stat}"
    );
    assert!(
        known_hosts.exists(),
        "host keys stay in the test's own file"
    );
}
