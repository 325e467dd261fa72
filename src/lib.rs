//! OpenClaw gateway runtime and operator toolkit.
//!
//! Layers, lowest first (imports flow downward only): `contract`, `protocol`, `config`,
//! `os`, `util` → `state`, `logging`, `client` → `gateway`, `service` → `doctor` → `cli`.

// Protocol error shapes travel by value on the cold (failure) path of one request; boxing
// them would add noise to every handler for no measurable gain.
#![allow(clippy::result_large_err)]

pub mod cli;
pub mod client;
pub mod config;
pub mod contract;
pub mod doctor;
pub mod fuzzing;
pub mod gateway;
pub mod inspect;
pub mod logging;
pub mod models;
pub mod os;
pub mod protocol;
pub mod service;
pub mod state;
pub mod util;
