//! Model providers: the catalog the config declares, the wire formats of the APIs this
//! build speaks (OpenAI chat completions, Anthropic Messages, Ollama's OpenAI-compatible
//! mode), one bounded HTTP client, and failover across the configured fallbacks.
//!
//! Used by the gateway's agent runs and HTTP endpoints, by `openclaw infer` and
//! `openclaw models`, and by the doctor's live backend probes. It sits beside `client/`:
//! it imports `config` and `logging`, nothing above them.

pub mod anthropic;
pub mod call;
pub mod catalog;
pub mod chat;
pub mod openai;
pub mod run;
pub mod sse;

pub use call::{CallOptions, Client};
pub use catalog::{Api, Catalog, ModelRef, Provider};
pub use chat::{CallError, ChatRequest, Completion, Content, Delta, Message, Reason};
