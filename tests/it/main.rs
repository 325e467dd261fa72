//! Integration tests: one binary, a module per area. Every test starts the real
//! `openclaw` binary on an ephemeral loopback port and cleans up what it started.

mod agent;
mod attribution;
mod browser_auth;
mod config;
mod dbus;
mod doctor;
mod fuzz_corpus;
mod gateway_device;
mod gateway_handshake;
mod gateway_http;
mod gateway_lifecycle;
mod gateway_startup;
mod interop;
mod logs;
mod man;
mod model_backend;
mod pairing;
mod probe;
mod probe_honesty;
mod reliability;
mod reload;
mod schema;
mod secrets;
mod service;
mod snapshot;
mod ssh;
mod state_store;
mod status;
mod support;
mod triage_inputs;
