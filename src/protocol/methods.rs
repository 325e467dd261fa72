//! Method and event names. The methods served are registered in `gateway::methods::METHODS`
//! (the one list `hello-ok.features.methods` reads); events emitted are listed in [`EVENTS`].

pub const CONNECT: &str = "connect";
pub const HEALTH: &str = "health";
pub const STATUS: &str = "status";
pub const SYSTEM_PRESENCE: &str = "system-presence";
pub const SYSTEM_EVENT: &str = "system-event";
pub const LOGS_TAIL: &str = "logs.tail";
pub const CONFIG_GET: &str = "config.get";
pub const LAST_HEARTBEAT: &str = "last-heartbeat";
pub const SET_HEARTBEATS: &str = "set-heartbeats";
pub const GATEWAY_IDENTITY_GET: &str = "gateway.identity.get";
pub const DEVICE_PAIR_LIST: &str = "device.pair.list";
pub const DEVICE_PAIR_APPROVE: &str = "device.pair.approve";
pub const DEVICE_PAIR_REJECT: &str = "device.pair.reject";
pub const DEVICE_PAIR_REMOVE: &str = "device.pair.remove";
pub const DEVICE_TOKEN_ROTATE: &str = "device.token.rotate";
pub const DEVICE_TOKEN_REVOKE: &str = "device.token.revoke";
pub const GATEWAY_RESTART_REQUEST: &str = "gateway.restart.request";
pub const AGENT: &str = "agent";
pub const AGENT_WAIT: &str = "agent.wait";
pub const CHAT_SEND: &str = "chat.send";
pub const CHAT_HISTORY: &str = "chat.history";
pub const CHAT_ABORT: &str = "chat.abort";
pub const MODELS_LIST: &str = "models.list";

pub const EV_CONNECT_CHALLENGE: &str = "connect.challenge";
pub const EV_TICK: &str = "tick";
pub const EV_PRESENCE: &str = "presence";
pub const EV_HEALTH: &str = "health";
pub const EV_SHUTDOWN: &str = "shutdown";
pub const EV_DEVICE_PAIR_REQUESTED: &str = "device.pair.requested";
pub const EV_DEVICE_PAIR_RESOLVED: &str = "device.pair.resolved";
pub const EV_AGENT: &str = "agent";
pub const EV_CHAT: &str = "chat";

/// Events advertised in `hello-ok.features.events`.
pub const EVENTS: &[&str] = &[
    EV_CONNECT_CHALLENGE,
    EV_PRESENCE,
    EV_TICK,
    EV_SHUTDOWN,
    EV_HEALTH,
    EV_DEVICE_PAIR_REQUESTED,
    EV_DEVICE_PAIR_RESOLVED,
    EV_AGENT,
    EV_CHAT,
];
