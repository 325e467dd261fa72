//! Providers and model selection from the config, as upstream declares them:
//! `models.providers.<id>` (`baseUrl`, `api`, `apiKey` string or SecretRef, `models[]`),
//! `agents.defaults.model` (a `provider/model` string or `{primary, fallbacks}`) and
//! `agents.defaults.models["provider/model"].params` (per-model params such as `context1m`).
//!
//! Three providers are known without a config entry, as upstream bundles them: `anthropic`
//! (`https://api.anthropic.com`, `ANTHROPIC_API_KEY`), `openai` (`https://api.openai.com/v1`,
//! `OPENAI_API_KEY`) and `ollama` (`http://127.0.0.1:11434`, key optional).

use crate::config::env::Env;
use crate::config::load::LoadedConfig;
use crate::config::secret::Secret;
use serde_json::{Map, Value};
use std::time::Duration;

/// The wire protocol a provider speaks (`models.providers.<id>.api`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Api {
    /// `openai-completions`: `POST {baseUrl}/chat/completions`.
    OpenAiCompletions,
    /// `anthropic-messages`: `POST {baseUrl}/v1/messages`.
    AnthropicMessages,
    /// `ollama`: served through Ollama's OpenAI-compatible endpoint (`{host}/v1`).
    Ollama,
    /// An adapter upstream has and this build does not speak (named in errors).
    Unsupported(String),
}

impl Api {
    pub fn parse(s: &str) -> Api {
        match s {
            "openai-completions" => Api::OpenAiCompletions,
            "anthropic-messages" => Api::AnthropicMessages,
            "ollama" => Api::Ollama,
            other => Api::Unsupported(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Api::OpenAiCompletions => "openai-completions",
            Api::AnthropicMessages => "anthropic-messages",
            Api::Ollama => "ollama",
            Api::Unsupported(s) => s,
        }
    }

    /// Does it speak OpenAI's chat-completions shape?
    pub fn is_openai_shaped(&self) -> bool {
        matches!(self, Api::OpenAiCompletions | Api::Ollama)
    }
}

/// Where a provider's key came from (shown by `models status`, never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `models.providers.<id>.apiKey` as a string.
    Config,
    /// A SecretRef, by its `source:provider:id` key.
    ConfigRef(String),
    /// An environment variable.
    Env(&'static str),
    /// No key (a local backend that needs none, or a missing one: see [`Provider::key_error`]).
    None,
}

impl KeySource {
    pub fn label(&self) -> String {
        match self {
            KeySource::Config => "config".into(),
            KeySource::ConfigRef(k) => format!("secretref:{k}"),
            KeySource::Env(v) => format!("env:{v}"),
            KeySource::None => "none".into(),
        }
    }
}

/// One model a provider declares.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDef {
    pub id: String,
    pub name: Option<String>,
    pub context_window: Option<u64>,
    pub max_tokens: Option<u64>,
    pub input: Vec<String>,
}

/// A configured (or bundled) provider.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: String,
    pub base_url: String,
    pub api: Api,
    pub api_key: Option<Secret>,
    pub key_source: KeySource,
    /// Why the key could not be resolved (a SecretRef that failed), never the key.
    pub key_error: Option<String>,
    pub models: Vec<ModelDef>,
    pub timeout: Duration,
    /// Extra request headers (`headers`), values as configured.
    pub headers: Vec<(String, String)>,
    /// From `models.providers` (false: a bundled default).
    pub configured: bool,
}

impl Provider {
    pub fn model(&self, id: &str) -> Option<&ModelDef> {
        self.models.iter().find(|m| m.id == id)
    }

    /// A loopback, private-range or `.local` host: a local backend (the doctor probes these).
    pub fn is_local(&self) -> bool {
        host_of(&self.base_url).is_some_and(is_local_host)
    }
}

/// `provider/model`; the model part may itself contain `/` (`mlx/mlx-community/Qwen3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelRef {
    pub provider: String,
    pub model: String,
}

impl ModelRef {
    pub fn parse(s: &str) -> Option<ModelRef> {
        let (p, m) = s.trim().split_once('/')?;
        (!p.is_empty() && !m.is_empty()).then(|| ModelRef {
            provider: p.to_string(),
            model: m.to_string(),
        })
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// Which models a run tries, in order, and why the first one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub primary: Option<ModelRef>,
    pub fallbacks: Vec<ModelRef>,
    /// Where `primary` came from (`agents.defaults.model`, `agents.defaults.model.primary`,
    /// `the only configured model`, or `not configured`).
    pub source: &'static str,
    /// Entries that are not `provider/model` refs (named by `models status`).
    pub invalid: Vec<String>,
}

impl Selection {
    /// Primary then fallbacks, without repeats.
    pub fn chain(&self) -> Vec<ModelRef> {
        let mut out: Vec<ModelRef> = Vec::new();
        for r in self.primary.iter().chain(&self.fallbacks) {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
        out
    }
}

/// Everything a model call needs from the config.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub providers: Vec<Provider>,
    pub selection: Selection,
    /// `agents.defaults.models`: per-ref entries (`alias`, `params`).
    pub model_entries: Map<String, Value>,
    /// `agents.defaults.timeoutSeconds` (default 600).
    pub run_timeout: Duration,
}

/// Default per-request timeout of a provider (`timeoutSeconds`).
pub const DEFAULT_PROVIDER_TIMEOUT: Duration = Duration::from_secs(120);
/// Default agent run timeout (`agents.defaults.timeoutSeconds`).
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// `max_tokens` when neither the model nor the provider declares one (upstream's default).
pub const DEFAULT_MAX_TOKENS: u64 = 8192;

const BUNDLED: &[(&str, &str, &str, &str)] = &[
    (
        "anthropic",
        "https://api.anthropic.com",
        "anthropic-messages",
        "ANTHROPIC_API_KEY",
    ),
    (
        "openai",
        "https://api.openai.com/v1",
        "openai-completions",
        "OPENAI_API_KEY",
    ),
    (
        "ollama",
        "http://127.0.0.1:11434",
        "ollama",
        "OLLAMA_API_KEY",
    ),
];

impl Catalog {
    pub fn from_config(cfg: &LoadedConfig, env: &Env) -> Catalog {
        let mut providers = Vec::new();
        if let Some(map) = cfg.get("models.providers").and_then(Value::as_object) {
            for (id, entry) in map {
                providers.push(provider_from(cfg, env, id, entry));
            }
        }
        for (id, base, api, var) in BUNDLED {
            if providers.iter().any(|p| p.id == *id) {
                continue;
            }
            let key = env.get(var).filter(|v| !v.is_empty());
            providers.push(Provider {
                id: id.to_string(),
                base_url: base.to_string(),
                api: Api::parse(api),
                api_key: key.map(Secret::new),
                key_source: if key.is_some() {
                    KeySource::Env(var)
                } else {
                    KeySource::None
                },
                key_error: None,
                models: Vec::new(),
                timeout: DEFAULT_PROVIDER_TIMEOUT,
                headers: Vec::new(),
                configured: false,
            });
        }
        let model_entries = cfg
            .get("agents.defaults.models")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let selection = selection_from(cfg, &providers);
        let run_timeout = cfg
            .get("agents.defaults.timeoutSeconds")
            .and_then(Value::as_u64)
            .filter(|s| *s > 0)
            .map_or(DEFAULT_RUN_TIMEOUT, Duration::from_secs);
        Catalog {
            providers,
            selection,
            model_entries,
            run_timeout,
        }
    }

    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Only the providers from `models.providers`.
    pub fn configured(&self) -> impl Iterator<Item = &Provider> {
        self.providers.iter().filter(|p| p.configured)
    }

    /// `agents.defaults.models["p/m"].params` (an empty map when none).
    pub fn params(&self, r: &ModelRef) -> Map<String, Value> {
        self.model_entries
            .get(&r.to_string())
            .and_then(|e| e.get("params"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// Is `params.context1m` set for this model?
    pub fn context1m(&self, r: &ModelRef) -> bool {
        self.params(r).get("context1m") == Some(&Value::Bool(true))
    }

    /// The `max_tokens` a request to this model carries.
    pub fn max_tokens(&self, r: &ModelRef) -> u64 {
        self.provider(&r.provider)
            .and_then(|p| p.model(&r.model))
            .and_then(|m| m.max_tokens)
            .unwrap_or(DEFAULT_MAX_TOKENS)
    }
}

fn provider_from(cfg: &LoadedConfig, env: &Env, id: &str, entry: &Value) -> Provider {
    let api_name = entry.get("api").and_then(Value::as_str);
    let bundled = BUNDLED.iter().find(|b| b.0 == id);
    let api = Api::parse(
        api_name
            .or(bundled.map(|b| b.2))
            .unwrap_or("openai-completions"),
    );
    let base_url = entry
        .get("baseUrl")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(bundled.map(|b| b.1.to_string()))
        .unwrap_or_default();
    let (api_key, key_source, key_error) = match entry.get("apiKey") {
        Some(v) => match crate::config::secrets::resolve_input(cfg, v, env) {
            Ok(Some((s, src))) => (
                Some(s),
                match src {
                    crate::config::gateway::SecretSource::ConfigRef(k) => KeySource::ConfigRef(k),
                    _ => KeySource::Config,
                },
                None,
            ),
            Ok(None) => (None, KeySource::None, None),
            Err(e) => (None, KeySource::None, Some(e)),
        },
        None => {
            match bundled.and_then(|b| env.get(b.3).filter(|v| !v.is_empty()).map(|v| (b.3, v))) {
                Some((var, v)) => (Some(Secret::new(v)), KeySource::Env(var), None),
                None => (None, KeySource::None, None),
            }
        }
    };
    let provider_max = entry.get("maxTokens").and_then(Value::as_u64);
    let models = entry
        .get("models")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| {
                    Some(ModelDef {
                        id: m.get("id")?.as_str()?.to_string(),
                        name: m.get("name").and_then(Value::as_str).map(str::to_string),
                        context_window: m.get("contextWindow").and_then(Value::as_u64),
                        max_tokens: m.get("maxTokens").and_then(Value::as_u64).or(provider_max),
                        input: m
                            .get("input")
                            .and_then(Value::as_array)
                            .map(|i| {
                                i.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_string)
                                    .collect()
                            })
                            .unwrap_or_else(|| vec!["text".to_string()]),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let headers = entry
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Provider {
        id: id.to_string(),
        base_url,
        api,
        api_key,
        key_source,
        key_error,
        models,
        timeout: entry
            .get("timeoutSeconds")
            .and_then(Value::as_u64)
            .filter(|s| *s > 0)
            .map_or(DEFAULT_PROVIDER_TIMEOUT, Duration::from_secs),
        headers,
        configured: true,
    }
}

fn selection_from(cfg: &LoadedConfig, providers: &[Provider]) -> Selection {
    let mut invalid = Vec::new();
    let mut parse = |s: &str| -> Option<ModelRef> {
        let r = ModelRef::parse(s);
        if r.is_none() {
            invalid.push(s.to_string());
        }
        r
    };
    let (primary, fallbacks, source) = match cfg.get("agents.defaults.model") {
        Some(Value::String(s)) => (parse(s), vec![], "agents.defaults.model"),
        Some(Value::Object(o)) => {
            let primary = o
                .get("primary")
                .and_then(Value::as_str)
                .and_then(&mut parse);
            let fallbacks = o
                .get("fallbacks")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .filter_map(&mut parse)
                        .collect()
                })
                .unwrap_or_default();
            (primary, fallbacks, "agents.defaults.model.primary")
        }
        _ => (None, vec![], "not configured"),
    };
    if primary.is_some() {
        return Selection {
            primary,
            fallbacks,
            source,
            invalid,
        };
    }
    // Nothing selected: the only model of the only configured provider is the one a run
    // would use; anything else is ambiguous and reported as not configured.
    let declared: Vec<ModelRef> = providers
        .iter()
        .filter(|p| p.configured)
        .flat_map(|p| {
            p.models.iter().map(|m| ModelRef {
                provider: p.id.clone(),
                model: m.id.clone(),
            })
        })
        .collect();
    if declared.len() == 1 {
        return Selection {
            primary: declared.into_iter().next(),
            fallbacks,
            source: "the only configured model",
            invalid,
        };
    }
    Selection {
        primary: None,
        fallbacks,
        source: "not configured",
        invalid,
    }
}

/// The host of an `http(s)://host[:port]/…` URL.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

fn is_local_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host.ends_with(".local") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        Ok(std::net::IpAddr::V6(v6)) => v6.is_loopback(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> LoadedConfig {
        crate::config::load::load_from_str(
            std::path::Path::new("/tmp/openclaw.json"),
            text,
            &Env::default(),
        )
    }

    #[test]
    fn providers_models_and_selection_read_as_upstream_declares_them() {
        let c = cfg(r#"{
          agents: { defaults: { model: { primary: "local/tiny", fallbacks: ["anth/claude-x", "bad", "local/tiny"] },
                                models: { "anth/claude-x": { params: { context1m: true } } } } },
          models: { providers: {
            local: { baseUrl: "http://127.0.0.1:8000/v1", apiKey: "sk-local", api: "openai-completions",
                     models: [ { id: "tiny", name: "Tiny", contextWindow: 4096, maxTokens: 256 }, { id: "big", name: "B" } ] },
            anth: { baseUrl: "https://api.anthropic.com", apiKey: "k", api: "anthropic-messages", models: [ { id: "claude-x", name: "C" } ] } } }
        }"#);
        let cat = Catalog::from_config(&c, &Env::default());
        let local = cat.provider("local").unwrap();
        assert_eq!(local.api, Api::OpenAiCompletions);
        assert!(local.is_local());
        assert_eq!(local.key_source, KeySource::Config);
        assert!(!cat.provider("anth").unwrap().is_local());
        assert_eq!(cat.selection.primary, ModelRef::parse("local/tiny"));
        assert_eq!(cat.selection.invalid, vec!["bad".to_string()]);
        assert_eq!(
            cat.selection
                .chain()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["local/tiny", "anth/claude-x"]
        );
        assert!(cat.context1m(&ModelRef::parse("anth/claude-x").unwrap()));
        assert!(!cat.context1m(&ModelRef::parse("local/tiny").unwrap()));
        assert_eq!(cat.max_tokens(&ModelRef::parse("local/tiny").unwrap()), 256);
        assert_eq!(
            cat.max_tokens(&ModelRef::parse("local/big").unwrap()),
            DEFAULT_MAX_TOKENS
        );
        // The bundled providers are there without config.
        assert_eq!(cat.provider("ollama").unwrap().api, Api::Ollama);
        assert!(!cat.provider("anthropic").unwrap().configured);
    }

    #[test]
    fn refs_and_hosts() {
        let r = ModelRef::parse("mlx/mlx-community/Qwen3").unwrap();
        assert_eq!(
            (r.provider.as_str(), r.model.as_str()),
            ("mlx", "mlx-community/Qwen3")
        );
        assert!(ModelRef::parse("bare").is_none() && ModelRef::parse("/x").is_none());
        assert_eq!(host_of("http://[::1]:8080/v1"), Some("::1"));
        assert_eq!(
            host_of("https://u:p@api.example.com/v1"),
            Some("api.example.com")
        );
        assert!(is_local_host("192.168.1.4") && is_local_host("::1") && !is_local_host("8.8.8.8"));
        let one = cfg(
            r#"{ models: { providers: { l: { baseUrl: "http://127.0.0.1:1/v1", models: [ { id: "m", name: "m" } ] } } } }"#,
        );
        let cat = Catalog::from_config(&one, &Env::default());
        assert_eq!(cat.selection.source, "the only configured model");
        assert_eq!(cat.selection.primary, ModelRef::parse("l/m"));
    }
}
