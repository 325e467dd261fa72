//! Who listens on the gateway port.

use super::{ProbeContext, ProbeOutput};
use crate::os::proc;
use serde_json::json;

pub fn probe(ctx: &ProbeContext) -> ProbeOutput {
    let listeners = proc::listeners_on_port(ctx.port);
    // A listener of a gateway embedded in this very process is ours, never a conflict.
    let me = std::process::id();
    let embedded = crate::gateway::serves_port_in_process(ctx.port);
    let lock_owner = crate::gateway::lock::owner(&ctx.config.path);
    // Whose gateway each gateway-like listener is: this profile's (the lock owner, or its
    // environment resolves to this config), another profile's (another config), or unknown.
    let mut own = false;
    let mut other_configs: Vec<String> = Vec::new();
    for l in &listeners {
        let Some(pid) = l.pid else { continue };
        if (embedded && pid == me) || lock_owner == Some(pid) {
            own = true;
            continue;
        }
        if !l.gateway_like {
            continue;
        }
        let env = proc::process_environ(pid);
        if env.is_empty() {
            // Its environment is not readable here: a gateway, whose we cannot tell.
            continue;
        }
        let theirs = crate::config::paths::resolve(&crate::config::Env::from_pairs(env));
        if theirs.config_path == ctx.paths.config_path || theirs.config_path == ctx.config.path {
            own = true;
        } else {
            let c = theirs.config_path.display().to_string();
            if !other_configs.contains(&c) {
                other_configs.push(c);
            }
        }
    }
    let not_a_gateway = !listeners.is_empty() && !listeners.iter().any(|l| l.gateway_like);
    // Another profile's gateway on this port is a conflict too, unless this profile's own
    // gateway listens beside it.
    let foreign = !own && (not_a_gateway || !other_configs.is_empty());
    ProbeOutput::ok(vec![
        ("port.number", json!(ctx.port)),
        ("port.busy", json!(!listeners.is_empty())),
        ("port.own_listener", json!(own)),
        ("port.foreign_holder", json!(foreign)),
        ("port.holder_configs", json!(other_configs)),
        (
            "port.hidden_holder",
            json!(listeners.iter().any(|l| l.pid.is_none())),
        ),
        ("port.listeners", json!(listeners)),
    ])
}
