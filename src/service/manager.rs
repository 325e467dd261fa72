//! One systemd manager, reached over D-Bus ([`super::bus`]) or, when the bus is not there,
//! through `systemctl` ([`super::systemctl`]). Everything that drives or inspects the
//! gateway's unit goes through this, so the two transports answer the same questions the
//! same way.
//!
//! `OPENCLAW_SYSTEMD_TRANSPORT` chooses: `auto` (default: D-Bus, then `systemctl`), `dbus`
//! or `systemctl`. Under `sudo` without `--system` the user's manager is reached with
//! `systemctl --machine <user>@ --user` (root cannot join the user's session bus).

use super::bus::{Bus, Job};
use super::systemctl::{self, Systemctl, UnitState};
use crate::config::env::Env;
use std::sync::Arc;

#[derive(Debug, Clone)]
enum Transport {
    Bus(Arc<Bus>),
    Systemctl(Systemctl),
}

#[derive(Debug, Clone)]
pub struct Manager {
    transport: Transport,
    /// Why D-Bus was not used, when `auto` fell back to `systemctl`.
    pub fallback: Option<String>,
}

impl Manager {
    /// Reach the scope's manager; `Err` names every transport tried and why it failed
    /// (the `systemctl` reason first, as upstream words it).
    pub fn connect(env: &Env, system: bool) -> Result<Manager, String> {
        let choice = env
            .get("OPENCLAW_SYSTEMD_TRANSPORT")
            .map(|s| s.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let via_systemctl = |fallback: Option<String>| {
            let sc = Systemctl::new(env, system);
            sc.available().map(|_| Manager {
                transport: Transport::Systemctl(sc),
                fallback,
            })
        };
        let via_bus = || {
            Bus::connect(env, system).map(|b| Manager {
                transport: Transport::Bus(Arc::new(b)),
                fallback: None,
            })
        };
        match choice.as_str() {
            "systemctl" => via_systemctl(None),
            "dbus" => via_bus().map_err(|e| format!("systemd over D-Bus unavailable: {e}")),
            _ if !system && systemctl::sudo_user(env).is_some() => {
                via_systemctl(Some("running under sudo".into()))
            }
            _ => match via_bus() {
                Ok(m) => Ok(m),
                Err(bus_why) => via_systemctl(Some(bus_why.clone()))
                    .map_err(|sc_why| format!("{sc_why} (D-Bus: {bus_why})")),
            },
        }
    }

    /// `dbus` or `systemctl`.
    pub fn via(&self) -> &'static str {
        match self.transport {
            Transport::Bus(_) => "dbus",
            Transport::Systemctl(_) => "systemctl",
        }
    }

    fn systemctl(sc: &Systemctl, args: &[&str]) -> Result<(), String> {
        let o = sc.run(args);
        if o.ok {
            Ok(())
        } else {
            Err(format!(
                "systemctl --{} {} failed: {}",
                sc.scope(),
                args.join(" "),
                o.reason()
            ))
        }
    }

    /// The unit's state (`LoadState=not-found` when there is no such unit).
    pub fn show(&self, unit: &str) -> Result<UnitState, String> {
        match &self.transport {
            Transport::Bus(b) => b.show(unit),
            Transport::Systemctl(sc) => sc
                .show(unit)
                .map_err(|e| format!("systemctl --{} show {unit}: {e}", sc.scope())),
        }
    }

    /// `daemon-reload`: the manager re-reads unit files.
    pub fn reload(&self) -> Result<(), String> {
        match &self.transport {
            Transport::Bus(b) => b.reload(),
            Transport::Systemctl(sc) => Self::systemctl(sc, &["daemon-reload"]),
        }
    }

    pub fn enable(&self, unit: &str) -> Result<(), String> {
        match &self.transport {
            Transport::Bus(b) => b.enable(unit),
            Transport::Systemctl(sc) => Self::systemctl(sc, &["enable", unit]),
        }
    }

    pub fn disable(&self, unit: &str) -> Result<(), String> {
        match &self.transport {
            Transport::Bus(b) => b.disable(unit),
            Transport::Systemctl(sc) => Self::systemctl(sc, &["disable", unit]),
        }
    }

    /// Start, stop or restart the unit and wait until the manager says how it went.
    pub fn job(&self, job: Job, unit: &str) -> Result<(), String> {
        match &self.transport {
            Transport::Bus(b) => b.job(job, unit),
            Transport::Systemctl(sc) => Self::systemctl(sc, &[job.verb(), unit]),
        }
    }
}
