//! Shared runtime state: connected clients and their outbound queues (with slow-consumer
//! accounting), presence, state versions, heartbeat state and queued system events.

use crate::config::gateway::{AuthMode, AuthSettings};
use crate::config::LoadedConfig;
use crate::logging::Logger;
use crate::protocol::{self, close, frame, scopes};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tokio::sync::mpsc;

/// What a connection's writer task is asked to do.
#[derive(Debug)]
pub enum Outbound {
    Text(String),
    /// A broadcast event: one serialization shared by every recipient, framed with this
    /// client's sequence number only when its writer sends it.
    Event(Arc<Serialized>, u64),
    Close(u16, String),
}

impl Outbound {
    /// The bytes this frame counts for in the slow-consumer budget.
    fn weight(&self) -> usize {
        match self {
            Outbound::Text(t) => t.len(),
            Outbound::Event(e, _) => e.weight(),
            Outbound::Close(..) => 0,
        }
    }

    /// The text to put on the wire (`None` for a close).
    pub fn into_text(self) -> Option<String> {
        match self {
            Outbound::Text(t) => Some(t),
            Outbound::Event(e, seq) => Some(frame::event_from_parts(
                &e.name,
                &e.payload,
                seq,
                e.state_version.as_deref(),
            )),
            Outbound::Close(..) => None,
        }
    }
}

/// What the two halves of a connection's outbound path share.
#[derive(Debug, Default)]
struct OutletShared {
    /// Bytes queued and not yet written (the slow-consumer policy reads this).
    buffered: AtomicUsize,
    /// Set once the connection is to be dropped without sending its backlog.
    aborted: AtomicBool,
    abort_frame: Mutex<Option<(u16, String)>>,
    abort: tokio::sync::Notify,
}

/// The sending side of one socket: frames queued for its writer task, with the bytes not
/// yet written counted for the slow-consumer policy. The writer holds a [`Drain`], never
/// an `Outlet`, so the queue closes (and the writer ends) when the last `Outlet` is gone.
#[derive(Debug, Clone)]
pub struct Outlet {
    tx: mpsc::UnboundedSender<Outbound>,
    shared: Arc<OutletShared>,
}

/// The writer task's end of an [`Outlet`].
#[derive(Debug)]
pub struct Drain {
    rx: mpsc::UnboundedReceiver<Outbound>,
    shared: Arc<OutletShared>,
}

/// What the writer should do next.
#[derive(Debug)]
pub enum Next {
    Send(Outbound),
    /// Drop the backlog; send this close frame if the socket takes it at once.
    Abort(Option<(u16, String)>),
    /// Every `Outlet` is gone: flush and end.
    Done,
}

impl Outlet {
    /// A new outlet and the drain its writer reads (the writer calls [`Drain::sent`]).
    pub fn new() -> (Self, Drain) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(OutletShared::default());
        (
            Outlet {
                tx,
                shared: shared.clone(),
            },
            Drain { rx, shared },
        )
    }

    /// Queue a frame, counting its bytes until the writer has sent it.
    pub fn queue(&self, text: String) {
        self.push(Outbound::Text(text));
    }

    fn push(&self, out: Outbound) {
        if self.is_aborted() {
            return;
        }
        let weight = out.weight();
        self.shared.buffered.fetch_add(weight, Ordering::SeqCst);
        if self.tx.send(out).is_err() {
            self.shared.buffered.fetch_sub(weight, Ordering::SeqCst);
        }
    }

    /// Queue a reply under the shared `maxBufferedBytes` budget: a client whose unsent
    /// frames are already over it is aborted as a slow consumer instead (returns false).
    pub fn reply(&self, text: String) -> bool {
        if self.buffered() > protocol::MAX_BUFFERED_BYTES {
            self.abort(close::POLICY, close::REASON_SLOW_CONSUMER);
            return false;
        }
        self.queue(text);
        true
    }

    /// Close after the frames already queued.
    pub fn close(&self, code: u16, reason: &str) {
        let _ = self.tx.send(Outbound::Close(code, reason.to_string()));
    }

    /// Close now: the writer drops the backlog (a slow consumer never reads it) and sends
    /// the close frame only if the socket takes it within a short bound.
    pub fn abort(&self, code: u16, reason: &str) {
        let mut frame = self
            .shared
            .abort_frame
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if frame.is_none() {
            *frame = Some((code, reason.to_string()));
        }
        drop(frame);
        self.shared.aborted.store(true, Ordering::SeqCst);
        self.shared.abort.notify_one();
    }

    pub fn is_aborted(&self) -> bool {
        self.shared.aborted.load(Ordering::SeqCst)
    }

    pub fn buffered(&self) -> usize {
        self.shared.buffered.load(Ordering::SeqCst)
    }
}

impl Drain {
    /// The next thing to do; an abort wins over anything queued.
    pub async fn next(&mut self) -> Next {
        if self.shared.aborted.load(Ordering::SeqCst) {
            return self.abort_now();
        }
        tokio::select! {
            biased;
            _ = self.shared.abort.notified() => self.abort_now(),
            out = self.rx.recv() => match out {
                Some(o) => Next::Send(o),
                None => Next::Done,
            },
        }
    }

    /// Resolves once the outlet is aborted (to cut short a write the client never reads).
    pub async fn aborted(&self) {
        if self.shared.aborted.load(Ordering::SeqCst) {
            return;
        }
        // `next` looks at the flag first, so the permit this consumes is not needed there.
        self.shared.abort.notified().await;
    }

    fn abort_now(&mut self) -> Next {
        self.rx.close();
        let frame = self
            .shared
            .abort_frame
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        Next::Abort(frame)
    }

    /// The writer reports a frame as written (or dropped).
    pub fn sent(&self, out: &Outbound) {
        self.shared
            .buffered
            .fetch_sub(out.weight(), Ordering::SeqCst);
    }
}

/// A connected, authenticated client.
#[derive(Debug, Clone)]
pub struct ClientHandle {
    pub conn_id: String,
    pub role: String,
    pub scopes: Vec<String>,
    pub presence_key: Option<String>,
    /// The paired device this connection signed as, if any.
    pub device_id: Option<String>,
    outlet: Outlet,
    seq: Arc<AtomicU64>,
}

impl ClientHandle {
    pub fn new(conn_id: String, role: String, scopes: Vec<String>, outlet: Outlet) -> Self {
        ClientHandle {
            conn_id,
            role,
            scopes,
            presence_key: None,
            device_id: None,
            outlet,
            seq: Arc::new(AtomicU64::new(0)),
        }
    }

    fn may_receive(&self, event: &str) -> bool {
        match scopes::event_scope(event) {
            None => true,
            Some(_) if self.role != scopes::ROLE_OPERATOR => false,
            Some(needed) => scopes::satisfies(&self.scopes, needed),
        }
    }

    /// Queue a broadcast event; applies the slow-consumer policy. Returns false when the
    /// client was closed for being slow.
    fn send_event(&self, event: &Arc<Serialized>, drop_if_slow: bool) -> bool {
        // The sequence advances even for a dropped event so the client can see the gap.
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        if self.outlet.buffered() > protocol::MAX_BUFFERED_BYTES {
            if drop_if_slow {
                return true;
            }
            self.outlet
                .abort(close::POLICY, close::REASON_SLOW_CONSUMER);
            return false;
        }
        self.outlet.push(Outbound::Event(event.clone(), seq));
        true
    }

    pub fn close(&self, code: u16, reason: &str) {
        self.outlet.close(code, reason);
    }
}

/// A broadcast event serialized once for all recipients.
#[derive(Debug)]
pub struct Serialized {
    name: String,
    payload: String,
    state_version: Option<String>,
}

impl Serialized {
    fn new(name: String, payload: String, state_version: Option<String>) -> Arc<Self> {
        Arc::new(Serialized {
            name,
            payload,
            state_version,
        })
    }

    /// The framed size, give or take the digits of the sequence number.
    fn weight(&self) -> usize {
        48 + self.name.len()
            + self.payload.len()
            + self.state_version.as_ref().map_or(0, |s| 16 + s.len())
    }
}

/// The effective configuration the runtime serves with.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub loaded: LoadedConfig,
    pub state_dir: PathBuf,
    pub port: u16,
    pub bind_mode: String,
    pub bind_host: String,
    pub auth: AuthSettings,
    pub log_file: PathBuf,
    pub tick_interval_ms: u64,
    pub handshake_timeout_ms: u64,
    /// Unauthenticated sockets allowed per client IP (`OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP`).
    pub preauth_max_per_ip: usize,
}

impl RuntimeConfig {
    pub fn auth_mode(&self) -> AuthMode {
        self.auth.mode
    }

    /// `agents.defaults.heartbeat.every` (default `30m`).
    pub fn heartbeat_every(&self) -> &str {
        self.loaded
            .get_str("agents.defaults.heartbeat.every")
            .unwrap_or("30m")
    }

    /// `commands.restart` (default true): may SIGUSR1 restart the gateway?
    pub fn restart_allowed(&self) -> bool {
        crate::config::gateway::restart_allowed(&self.loaded)
    }
}

/// Everything the connection handlers share.
pub struct Gateway {
    pub started: Instant,
    pub boot_id: String,
    pub instance_id: String,
    pub config: RwLock<Arc<RuntimeConfig>>,
    pub logger: Logger,
    pub gateway_device_id: Option<String>,
    pub gateway_public_key: Option<String>,
    clients: Mutex<HashMap<String, ClientHandle>>,
    /// Most clients connected at once since the heap was last trimmed.
    client_mark: AtomicUsize,
    trim_pending: AtomicBool,
    /// This gateway, for tasks it spawns on its own behalf.
    me: std::sync::Weak<Gateway>,
    /// Every task this serving generation runs (accept loops, connections and their
    /// writers, timers, the reload watcher): shutdown closes it and waits for it to drain.
    pub tasks: tokio_util::task::TaskTracker,
    presence: Mutex<BTreeMap<String, Value>>,
    presence_version: AtomicU64,
    health_version: AtomicU64,
    pub health_cache: Mutex<Option<(Instant, Value)>>,
    pub heartbeats_enabled: AtomicBool,
    pub last_heartbeat: Mutex<Option<Value>>,
    pub system_events: Mutex<VecDeque<Value>>,
    pub draining: AtomicBool,
    /// The `shutdown` event's payload once draining started (for clients that finish their
    /// handshake after the broadcast).
    shutdown_payload: Mutex<Option<Value>>,
    pub presence_dirty: tokio::sync::Notify,
    /// A `gateway.restart.request` is pending (the serve loop restarts in process).
    restart_pending: AtomicBool,
    pub restart_requested: tokio::sync::Notify,
    /// Device pairing (pending and paired), loaded at start.
    pub devices: crate::state::devices::DeviceStore,
    /// Agent runs and session transcripts.
    pub agents: super::agent::Agents,
    /// Sockets per IP that have not finished the handshake.
    pub preauth: super::guard::PreauthBudget,
    /// Failed-auth limiters: the configured general one and the always-on browser one.
    pub auth_limiter: super::guard::RateLimiter,
    pub browser_limiter: super::guard::RateLimiter,
}

/// Window in which presence changes are merged into one broadcast.
pub const PRESENCE_COALESCE: std::time::Duration = std::time::Duration::from_millis(50);

/// The coalescing window for `clients` connections: every presence event carries the whole
/// list to every client, so a burst costs O(clients²) bytes; the window widens with the
/// audience (50 ms per 25 clients, at most 1 s) to keep that bounded per second.
pub fn presence_window(clients: usize) -> std::time::Duration {
    let steps = (clients / 25).max(1) as u32;
    (PRESENCE_COALESCE * steps).min(std::time::Duration::from_secs(1))
}

/// How long after a crowd leaves the heap is trimmed (requests in between are merged).
const HEAP_TRIM_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// At most this many queued system events are kept.
pub const MAX_SYSTEM_EVENTS: usize = 20;

impl Gateway {
    pub fn new(
        config: RuntimeConfig,
        logger: Logger,
        identity: Option<(String, String)>,
    ) -> Arc<Self> {
        let devices = crate::state::devices::DeviceStore::at(&config.state_dir);
        let gw = Arc::new_cyclic(|me| Gateway {
            started: Instant::now(),
            boot_id: uuid::Uuid::new_v4().to_string(),
            instance_id: uuid::Uuid::new_v4().to_string(),
            config: RwLock::new(Arc::new(config)),
            logger,
            gateway_device_id: identity.as_ref().map(|(id, _)| id.clone()),
            gateway_public_key: identity.map(|(_, k)| k),
            clients: Mutex::new(HashMap::new()),
            client_mark: AtomicUsize::new(0),
            trim_pending: AtomicBool::new(false),
            me: me.clone(),
            tasks: tokio_util::task::TaskTracker::new(),
            presence: Mutex::new(BTreeMap::new()),
            presence_version: AtomicU64::new(0),
            health_version: AtomicU64::new(0),
            health_cache: Mutex::new(None),
            heartbeats_enabled: AtomicBool::new(true),
            last_heartbeat: Mutex::new(None),
            system_events: Mutex::new(VecDeque::new()),
            draining: AtomicBool::new(false),
            shutdown_payload: Mutex::new(None),
            presence_dirty: tokio::sync::Notify::new(),
            restart_pending: AtomicBool::new(false),
            restart_requested: tokio::sync::Notify::new(),
            devices,
            agents: Default::default(),
            preauth: Default::default(),
            auth_limiter: Default::default(),
            browser_limiter: Default::default(),
        });
        gw.upsert_presence(gw.instance_id.clone(), gw.self_presence());
        gw
    }

    pub fn config(&self) -> Arc<RuntimeConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn self_presence(&self) -> Value {
        let host = crate::logging::record::hostname();
        let version = env!("CARGO_PKG_VERSION");
        json!({
            "host": host,
            "version": version,
            "platform": std::env::consts::OS,
            "deviceFamily": "Linux",
            "mode": "gateway",
            "reason": "self",
            "instanceId": self.instance_id,
            "text": format!("Gateway: {host} · app {version} · mode gateway · reason self"),
            "ts": crate::util::now_ms(),
        })
    }

    pub fn state_version(&self) -> Value {
        json!({
            "presence": self.presence_version.load(Ordering::SeqCst),
            "health": self.health_version.load(Ordering::SeqCst),
        })
    }

    pub fn bump_health_version(&self) {
        self.health_version.fetch_add(1, Ordering::SeqCst);
    }

    pub fn presence_list(&self) -> Vec<Value> {
        let p = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        p.values().cloned().collect()
    }

    pub fn upsert_presence(&self, key: String, mut entry: Value) {
        // PresenceEntry is a closed object of optional fields: omit, never send null.
        if let Value::Object(map) = &mut entry {
            map.retain(|_, v| !v.is_null());
        }
        self.presence
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, entry);
        self.presence_version.fetch_add(1, Ordering::SeqCst);
    }

    pub fn remove_presence(&self, key: &str) {
        self.presence
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.presence_version.fetch_add(1, Ordering::SeqCst);
    }

    /// Ask for a `presence` broadcast. Requests within [`PRESENCE_COALESCE`] are merged into
    /// one event: each carries the whole list and `stateVersion`, so nothing is lost, and a
    /// burst of N connects costs one fan-out instead of N.
    pub fn broadcast_presence(&self) {
        self.presence_dirty.notify_one();
    }

    /// Send the current presence list now (the coalescing task calls this).
    pub fn flush_presence(&self) {
        let payload = json!({ "presence": self.presence_list() });
        self.broadcast(protocol::methods::EV_PRESENCE, &payload, true, true);
    }

    /// Track a client that finished its handshake. Under the same lock as
    /// [`Gateway::start_draining`], so a client is either in the shutdown broadcast or, once
    /// draining started, told here: it gets the `shutdown` event and the close itself
    /// (returns false).
    pub fn register(&self, client: ClientHandle) -> bool {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if self.draining.load(Ordering::SeqCst) {
            drop(clients);
            let payload = self
                .shutdown_payload
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or(Value::Null);
            let event = Serialized::new(
                Value::from(protocol::methods::EV_SHUTDOWN).to_string(),
                payload.to_string(),
                None,
            );
            client.send_event(&event, false);
            client.close(close::SERVICE_RESTART, close::REASON_SERVICE_RESTART);
            return false;
        }
        clients.insert(client.conn_id.clone(), client);
        self.client_mark.fetch_max(clients.len(), Ordering::SeqCst);
        true
    }

    /// Stop taking clients: from here every client registered is in the snapshot the
    /// shutdown broadcast and `close_all` use, and every later one is closed by `register`.
    pub fn start_draining(&self, shutdown_payload: Value) {
        *self
            .shutdown_payload
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(shutdown_payload);
        let _clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn unregister(&self, conn_id: &str) -> Option<ClientHandle> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let gone = clients.remove(conn_id);
        let left = clients.len();
        drop(clients);
        // When most of a crowd has left, give the freed heap back to the system (glibc
        // keeps it otherwise, and a gateway that once served a burst would stay large).
        let mark = self.client_mark.load(Ordering::SeqCst);
        if ((mark >= 8 && left * 2 < mark) || (left == 0 && mark > 0))
            && self
                .client_mark
                .compare_exchange(mark, left, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            self.schedule_heap_trim();
        }
        gone
    }

    /// Trim the heap once, a second from now: requests in between are merged, so a client
    /// that connects and leaves in a loop costs one trim a second, not one per visit.
    fn schedule_heap_trim(&self) {
        if self.trim_pending.swap(true, Ordering::SeqCst) {
            return;
        }
        self.after(HEAP_TRIM_DELAY, |gw| {
            gw.trim_pending.store(false, Ordering::SeqCst);
            // A large heap takes milliseconds to trim: not on an async worker.
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(crate::os::mem::release_free_heap)),
                Err(_) => crate::os::mem::release_free_heap(),
            }
        });
    }

    /// Run `f` on this gateway `delay` from now, as one of its tracked tasks (at once when
    /// there is no runtime: a unit test).
    fn after(&self, delay: std::time::Duration, f: impl FnOnce(&Gateway) + Send + 'static) {
        match (self.me.upgrade(), tokio::runtime::Handle::try_current()) {
            (Some(me), Ok(rt)) => {
                let tasks = me.tasks.clone();
                tasks.spawn_on(
                    async move {
                        tokio::time::sleep(delay).await;
                        f(&me);
                    },
                    &rt,
                );
            }
            _ => f(self),
        }
    }

    /// The connected clients, copied out so no lock is held while sending.
    fn snapshot(&self) -> Vec<ClientHandle> {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn client_count(&self) -> usize {
        self.clients.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Send an event to every client allowed to see it. Slow consumers are closed unless
    /// the event may be dropped.
    pub fn broadcast(
        &self,
        event: &str,
        payload: &Value,
        drop_if_slow: bool,
        with_state_version: bool,
    ) {
        let serialized = Serialized::new(
            Value::from(event).to_string(),
            payload.to_string(),
            with_state_version.then(|| self.state_version().to_string()),
        );
        let clients = self.snapshot();
        for c in clients {
            if c.may_receive(event) && !c.send_event(&serialized, drop_if_slow) {
                self.logger.warn(
                    "gateway",
                    format!(
                        "closing slow consumer conn={} (buffered > {} bytes)",
                        c.conn_id,
                        protocol::MAX_BUFFERED_BYTES
                    ),
                );
            }
        }
    }

    /// Ask the serve loop for an in-process restart; false when one is already pending.
    pub fn request_restart(&self) -> bool {
        if self.restart_pending.swap(true, Ordering::SeqCst) {
            return false;
        }
        // A moment's grace so the requester's reply is queued before the shutdown closes.
        self.after(std::time::Duration::from_millis(100), |gw| {
            gw.restart_requested.notify_one()
        });
        true
    }

    /// Device ids with at least one open connection.
    pub fn connected_devices(&self) -> Vec<String> {
        self.snapshot()
            .into_iter()
            .filter_map(|c| c.device_id)
            .collect()
    }

    /// Close the connections a device signed in with (removed or revoked), except `keep`
    /// (the caller, which closes itself after its reply).
    pub fn close_device(&self, device_id: &str, keep: Option<&str>, code: u16, reason: &str) {
        self.close_device_role(device_id, None, keep, code, reason);
    }

    /// As [`Gateway::close_device`], limited to connections in `role` when given.
    pub fn close_device_role(
        &self,
        device_id: &str,
        role: Option<&str>,
        keep: Option<&str>,
        code: u16,
        reason: &str,
    ) {
        for c in self.snapshot().iter().filter(|c| {
            c.device_id.as_deref() == Some(device_id)
                && role.is_none_or(|r| c.role == r)
                && Some(c.conn_id.as_str()) != keep
        }) {
            c.close(code, reason);
        }
    }

    /// Close every client (shutdown / restart).
    pub fn close_all(&self, code: u16, reason: &str) {
        let clients = self.snapshot();
        for c in clients {
            c.close(code, reason);
        }
    }

    pub fn push_system_event(&self, event: Value) {
        let mut q = self.system_events.lock().unwrap_or_else(|e| e.into_inner());
        q.push_back(event);
        while q.len() > MAX_SYSTEM_EVENTS {
            q.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serialized() -> Arc<Serialized> {
        Serialized::new("\"shutdown\"".into(), "{}".into(), None)
    }

    impl Drain {
        fn try_next(&mut self) -> Option<Next> {
            if self.shared.aborted.load(Ordering::SeqCst) {
                return Some(self.abort_now());
            }
            self.rx.try_recv().ok().map(Next::Send)
        }
    }

    #[test]
    fn slow_consumer_is_aborted_for_non_droppable_events() {
        let (outlet, mut drain) = Outlet::new();
        let client = ClientHandle::new("c".into(), "operator".into(), vec![], outlet.clone());
        // Nothing drains the queue: it grows past the cap.
        outlet.queue("x".repeat(protocol::MAX_BUFFERED_BYTES + 1));
        assert!(
            client.send_event(&serialized(), true),
            "droppable events are dropped, not fatal"
        );
        assert!(!client.send_event(&serialized(), false));
        // The abort wins over the backlog, and nothing is queued after it.
        match drain.try_next() {
            Some(Next::Abort(Some((code, reason)))) => {
                assert_eq!((code, reason.as_str()), (1008, "slow consumer"));
            }
            other => panic!("expected abort, got {other:?}"),
        }
        outlet.queue("late".into());
        let left: Vec<_> = std::iter::from_fn(|| drain.rx.try_recv().ok()).collect();
        assert!(
            left.iter()
                .all(|o| !matches!(o, Outbound::Text(t) if t == "late")),
            "nothing is queued once aborted"
        );
    }

    #[test]
    fn replies_share_the_budget() {
        let (outlet, mut drain) = Outlet::new();
        assert!(outlet.reply("ok".into()));
        outlet.queue("x".repeat(protocol::MAX_BUFFERED_BYTES));
        assert!(!outlet.reply("one more".into()));
        assert!(matches!(
            drain.try_next(),
            Some(Next::Abort(Some((1008, _))))
        ));
    }

    #[tokio::test]
    async fn the_writer_sees_done_when_every_outlet_is_gone() {
        let (outlet, mut drain) = Outlet::new();
        let client = ClientHandle::new("c".into(), "operator".into(), vec![], outlet.clone());
        outlet.queue("a".into());
        drop(outlet);
        drop(client);
        assert!(matches!(drain.next().await, Next::Send(Outbound::Text(_))));
        let (outlet, mut drain) = Outlet::new();
        drop(outlet);
        assert!(matches!(drain.next().await, Next::Done));
    }

    #[test]
    fn sequence_advances_even_when_dropping() {
        let (outlet, mut drain) = Outlet::new();
        let client = ClientHandle::new("c".into(), "operator".into(), vec![], outlet.clone());
        assert!(client.send_event(&serialized(), true));
        outlet.queue("x".repeat(protocol::MAX_BUFFERED_BYTES + 1));
        assert!(client.send_event(&serialized(), true)); // dropped: seq 2
        drain.sent(&Outbound::Text(
            "x".repeat(protocol::MAX_BUFFERED_BYTES + 1),
        ));
        assert!(client.send_event(&serialized(), true)); // seq 3
        let seqs: Vec<u64> = std::iter::from_fn(|| drain.rx.try_recv().ok())
            .filter_map(|o| {
                let t = o.into_text()?;
                serde_json::from_str::<Value>(&t).ok()?["seq"].as_u64()
            })
            .collect();
        assert_eq!(seqs, vec![1, 3]);
    }
}
