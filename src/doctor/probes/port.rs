//! Who listens on the gateway port.

use super::{ProbeContext, ProbeOutput};
use crate::os::proc;
use serde_json::json;

pub fn probe(ctx: &ProbeContext) -> ProbeOutput {
    let listeners = proc::listeners_on_port(ctx.port);
    // A listener of a gateway embedded in this very process is ours, never a conflict.
    let me = std::process::id();
    let embedded = crate::gateway::serves_port_in_process(ctx.port);
    let foreign = !listeners.is_empty()
        && !listeners
            .iter()
            .any(|l| l.gateway_like || (embedded && l.pid == Some(me)));
    ProbeOutput::ok(vec![
        ("port.number", json!(ctx.port)),
        ("port.busy", json!(!listeners.is_empty())),
        ("port.foreign_holder", json!(foreign)),
        (
            "port.hidden_holder",
            json!(listeners.iter().any(|l| l.pid.is_none())),
        ),
        ("port.listeners", json!(listeners)),
    ])
}
