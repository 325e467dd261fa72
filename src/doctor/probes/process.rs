//! Gateway processes on this host and the lock file for this config.

use super::{ProbeContext, ProbeOutput};
use crate::gateway::lock;
use crate::os::proc;
use serde_json::{json, Value};

pub fn probe(ctx: &ProbeContext) -> ProbeOutput {
    let lock_path = lock::lock_path(&ctx.config.path);
    let owner = std::fs::read_to_string(&lock_path)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["pid"].as_u64());
    let stale = owner
        .map(|pid| !proc::is_alive(pid as u32))
        .unwrap_or(false);
    let live_owner = owner.filter(|pid| proc::is_alive(*pid as u32));
    let mut gateways = Vec::new();
    let mut colliding = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if !proc::is_gateway_process(pid) {
                continue;
            }
            // Resolve the process's own config and state dir from its environment.
            let env = crate::config::Env::from_pairs(proc::process_environ(pid));
            let theirs = crate::config::paths::resolve(&env);
            let entry = json!({
                "pid": pid,
                "user": proc::process_user(pid),
                "commandLine": proc::process_cmdline(pid),
                "configPath": theirs.config_path.display().to_string(),
                "stateDir": theirs.state_dir.display().to_string(),
            });
            if theirs.config_path == ctx.paths.config_path
                || theirs.state_dir == ctx.paths.state_dir
            {
                colliding.push(entry.clone());
            }
            gateways.push(entry);
        }
    }
    ProbeOutput::ok(vec![
        ("process.lock_path", json!(lock_path.display().to_string())),
        ("process.lock_stale", json!(stale)),
        ("process.lock_owner", json!(live_owner)),
        ("process.gateway_count", json!(gateways.len())),
        ("process.gateways", json!(gateways)),
        // Several gateways on this config or state dir (one is expected).
        (
            "process.colliding",
            json!(if colliding.len() > 1 {
                colliding
            } else {
                Vec::new()
            }),
        ),
    ])
}
