//! Roles, operator scopes, and the method → required-scope map (spec 1.14).

pub const ROLE_OPERATOR: &str = "operator";
pub const ROLE_NODE: &str = "node";

pub const ADMIN: &str = "operator.admin";
pub const READ: &str = "operator.read";
pub const WRITE: &str = "operator.write";
pub const APPROVALS: &str = "operator.approvals";
pub const PAIRING: &str = "operator.pairing";
pub const TALK_SECRETS: &str = "operator.talk.secrets";

/// Scopes the CLI asks for on ordinary calls.
pub const CLI_DEFAULT_SCOPES: &[&str] = &[ADMIN, READ, WRITE, APPROVALS, PAIRING, TALK_SECRETS];

/// What a method requires of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Any authenticated role (`health`).
    Authenticated,
    /// Only `role: node` connections.
    NodeRole,
    /// An operator scope.
    Scope(&'static str),
}

const NODE_ONLY: &[&str] = &[
    "node.invoke.result",
    "node.event",
    "node.pending.drain",
    "node.canvas.capability.refresh",
    "node.pending.pull",
    "node.pending.ack",
    "skills.bins",
];

const READ_METHODS: &[&str] = &[
    "doctor.memory.status",
    "doctor.memory.dreamDiary",
    "logs.tail",
    "channels.status",
    "status",
    "usage.status",
    "usage.cost",
    "tts.status",
    "tts.providers",
    "commands.list",
    "models.list",
    "tools.catalog",
    "tools.effective",
    "agents.list",
    "agent.identity.get",
    "skills.status",
    "skills.search",
    "skills.detail",
    "voicewake.get",
    "sessions.list",
    "sessions.get",
    "sessions.preview",
    "sessions.resolve",
    "sessions.compaction.list",
    "sessions.compaction.get",
    "sessions.subscribe",
    "sessions.unsubscribe",
    "sessions.messages.subscribe",
    "sessions.messages.unsubscribe",
    "sessions.usage",
    "sessions.usage.timeseries",
    "sessions.usage.logs",
    "cron.list",
    "cron.status",
    "cron.runs",
    "gateway.identity.get",
    "system-presence",
    "last-heartbeat",
    "node.list",
    "node.describe",
    "chat.history",
    "config.get",
    "config.schema.lookup",
    "talk.config",
    "agents.files.list",
    "agents.files.get",
];

const WRITE_METHODS: &[&str] = &[
    "message.action",
    "send",
    "poll",
    "agent",
    "agent.wait",
    "wake",
    "talk.mode",
    "talk.speak",
    "tts.enable",
    "tts.disable",
    "tts.convert",
    "tts.setProvider",
    "voicewake.set",
    "node.invoke",
    "chat.send",
    "chat.abort",
    "sessions.create",
    "sessions.send",
    "sessions.steer",
    "sessions.abort",
    "sessions.compaction.branch",
    "push.test",
    "node.pending.enqueue",
];

const APPROVAL_METHODS: &[&str] = &[
    "exec.approval.get",
    "exec.approval.list",
    "exec.approval.request",
    "exec.approval.waitDecision",
    "exec.approval.resolve",
    "plugin.approval.list",
    "plugin.approval.request",
    "plugin.approval.waitDecision",
    "plugin.approval.resolve",
];

const PAIRING_METHODS: &[&str] = &[
    "node.pair.request",
    "node.pair.list",
    "node.pair.reject",
    "node.pair.verify",
    "node.pair.approve",
    "device.pair.list",
    "device.pair.approve",
    "device.pair.reject",
    "device.pair.remove",
    "device.token.rotate",
    "device.token.revoke",
    "node.rename",
];

/// The requirement of a method; unclassified methods are admin (default deny).
pub fn requirement(method: &str) -> Requirement {
    if method == "health" {
        Requirement::Authenticated
    } else if NODE_ONLY.contains(&method) {
        Requirement::NodeRole
    } else if READ_METHODS.contains(&method) {
        Requirement::Scope(READ)
    } else if WRITE_METHODS.contains(&method) {
        Requirement::Scope(WRITE)
    } else if APPROVAL_METHODS.contains(&method) {
        Requirement::Scope(APPROVALS)
    } else if PAIRING_METHODS.contains(&method) {
        Requirement::Scope(PAIRING)
    } else {
        Requirement::Scope(ADMIN)
    }
}

/// Does a set of granted scopes satisfy `needed`? Admin satisfies all; write satisfies read.
pub fn satisfies(granted: &[String], needed: &str) -> bool {
    granted
        .iter()
        .any(|s| s == ADMIN || s == needed || (needed == READ && s == WRITE))
}

/// Scopes an event family is gated behind (operators only; nodes never get gated events).
pub fn event_scope(event: &str) -> Option<&'static str> {
    if event.starts_with("exec.approval.") || event.starts_with("plugin.approval.") {
        Some(APPROVALS)
    } else if event.starts_with("device.pair.") || event.starts_with("node.pair.") {
        Some(PAIRING)
    } else if matches!(
        event,
        "sessions.changed" | "session.message" | "session.tool" | "agent" | "chat"
    ) {
        Some(READ)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_and_satisfaction() {
        assert_eq!(requirement("health"), Requirement::Authenticated);
        assert_eq!(requirement("status"), Requirement::Scope(READ));
        assert_eq!(requirement("set-heartbeats"), Requirement::Scope(ADMIN));
        assert_eq!(requirement("config.apply"), Requirement::Scope(ADMIN));
        assert_eq!(requirement("made.up"), Requirement::Scope(ADMIN));
        assert!(satisfies(&["operator.write".into()], READ));
        assert!(!satisfies(&["operator.read".into()], WRITE));
        assert!(satisfies(&["operator.admin".into()], PAIRING));
        assert!(!satisfies(&[], READ));
    }
}
