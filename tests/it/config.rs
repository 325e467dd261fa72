//! `config get|set|unset|file|validate|schema` and `setup` through the real binary, and
//! crash safety of config writes under SIGKILL.

use crate::support::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn oc(p: &Profile, args: &[&str]) -> (i32, String, String) {
    let mut c = p.command();
    c.args(args);
    run(c, T)
}

fn parse(p: &Profile) -> Value {
    let text = std::fs::read_to_string(p.config_path()).unwrap();
    openclaw::config::json5::parse(&text).unwrap().value
}

#[test]
fn setup_creates_a_working_config_once() {
    let p = Profile::new("");
    let (code, out, _) = oc(&p, &["setup"]);
    assert_eq!(code, 0, "{out}");
    let v = parse(&p);
    assert_eq!(v["gateway"]["mode"], "local");
    assert_eq!(v["gateway"]["bind"], "loopback");
    let token = v["gateway"]["auth"]["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 48);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(!out.contains(&token), "the token is not printed");
    assert_eq!(
        std::fs::metadata(p.config_path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let state = p.path().join("state");
    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let (code, _, err) = oc(&p, &["setup"]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists; nothing was changed"), "{err}");
    assert_eq!(oc(&p, &["setup", "--non-interactive"]).0, 0);
    assert_eq!(
        parse(&p)["gateway"]["auth"]["token"],
        token.as_str(),
        "unchanged"
    );
    let (code, _, _) = oc(&p, &["setup", "--force"]);
    assert_eq!(code, 0);
    assert_ne!(parse(&p)["gateway"]["auth"]["token"], token.as_str());
    assert!(
        p.path().join("openclaw.json.bak").exists(),
        "the replaced config was backed up"
    );
    // And the gateway starts with it.
    let mut gw = Gateway::start(&p, &[], &[]);
    gw.signal(libc::SIGTERM);
    assert_eq!(gw.wait_exit(T), 0);
}

#[test]
fn get_set_unset_keep_comments_and_refuse_invalid_values() {
    let p = Profile::new("// mine\n{\n  gateway: {\n    mode: 'local', // keep\n    auth: { token: 'abcdefgh-secret' },\n    list: [1, 2],\n  },\n}\n");
    let (code, out, _) = oc(&p, &["config", "get", "gateway.auth.token"]);
    assert_eq!((code, out.trim()), (0, "__OPENCLAW_REDACTED__"));
    let (_, out, _) = oc(
        &p,
        &["config", "get", "gateway.auth.token", "--show-secrets"],
    );
    assert_eq!(out.trim(), "abcdefgh-secret");
    let (_, out, _) = oc(&p, &["config", "get", "gateway", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["auth"]["token"], "__OPENCLAW_REDACTED__");
    assert_eq!(oc(&p, &["config", "get", "gateway.nope"]).0, 1);

    assert_eq!(oc(&p, &["config", "set", "gateway.port", "19999"]).0, 0);
    assert_eq!(parse(&p)["gateway"]["port"], 19999);
    let text = std::fs::read_to_string(p.config_path()).unwrap();
    assert!(
        text.starts_with("// mine\n") && text.contains("mode: 'local', // keep"),
        "{text}"
    );
    assert_eq!(
        parse(&p)["meta"]["lastTouchedVersion"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        oc(
            &p,
            &["config", "set", "gateway.auth.mode", "token", "--string"]
        )
        .0,
        0
    );

    let before = std::fs::read(p.config_path()).unwrap();
    let (code, _, err) = oc(&p, &["config", "set", "gateway.port", "not-a-port"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("the change makes the config invalid")
            && err.contains("gateway.port: Expected integer"),
        "{err}"
    );
    let (code, _, err) = oc(&p, &["config", "set", "gateway.bogus", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("Unrecognized key: \"bogus\""), "{err}");
    assert_eq!(
        oc(&p, &["config", "set", "gateway.port", "{", "--json-value"]).0,
        2
    );
    assert_eq!(
        std::fs::read(p.config_path()).unwrap(),
        before,
        "refused writes change nothing"
    );

    assert_eq!(oc(&p, &["config", "unset", "gateway.port"]).0, 0);
    assert!(parse(&p)["gateway"].get("port").is_none());
    let (_, out, _) = oc(&p, &["config", "get", "gateway.list[1]"]);
    assert_eq!(out.trim(), "2");
}

#[test]
fn validate_file_and_schema() {
    let p = Profile::new("{\n  gateway: {\n    mode: 'local',\n    prot: 1,\n  },\n}\n");
    let (code, out, _) = oc(&p, &["config", "validate"]);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!(
            "{}:4:5: gateway: Unrecognized key: \"prot\"",
            p.config_path().display()
        )),
        "{out}"
    );
    let (code, out, _) = oc(&p, &["config", "validate", "--json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(
        (
            v["issues"][0]["line"].clone(),
            v["issues"][0]["column"].clone()
        ),
        (Value::from(4), Value::from(5))
    );
    let (_, out, _) = oc(&p, &["config", "file"]);
    assert_eq!(out.trim(), p.config_path().display().to_string());

    let (code, out, _) = oc(&p, &["config", "schema"]);
    assert_eq!(code, 0);
    let schema: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        schema["properties"]["gateway"]["properties"]["port"]["maximum"],
        65535
    );
    // A valid config satisfies the published schema (validated with the test's validator).
    let ok =
        serde_json::json!({"gateway": {"mode": "local", "port": 18789, "auth": {"token": "x"}}});
    let mut errors = Vec::new();
    crate::schema::validate(&schema, &schema, &ok, "", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    let bad = serde_json::json!({"gateway": {"port": 70000, "prot": 1}});
    let mut errors = Vec::new();
    crate::schema::validate(&schema, &schema, &bad, "", &mut errors);
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn config_writes_survive_sigkill_at_any_moment() {
    let p =
        Profile::new("{ gateway: { mode: 'local', port: 20000, auth: { token: 'abcdefgh' } } }\n");
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..300u32 {
        let mut c = p.command();
        c.args(["config", "set", "gateway.port", &(20001 + i).to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = c.spawn().unwrap();
        // Kill at a different moment each time (from immediately to after it finished);
        // every fifth writer runs to completion, so the count of completed writes does not
        // depend on how loaded the machine is.
        if i % 5 != 4 {
            std::thread::sleep(Duration::from_micros(u64::from(i % 25) * 600));
            unsafe {
                libc::kill(child.id() as i32, libc::SIGKILL);
            }
        }
        let _ = child.wait();
        let text = std::fs::read_to_string(p.config_path()).expect("the config is never missing");
        let v = openclaw::config::json5::parse(&text)
            .unwrap_or_else(|e| panic!("iteration {i}: torn config ({e}): {text}"));
        let port = v.value["gateway"]["port"].as_u64().unwrap();
        assert!(
            port == 20000 || (20001..=20001 + u64::from(i)).contains(&port),
            "iteration {i}: {port}"
        );
        assert_eq!(
            v.value["gateway"]["auth"]["token"], "abcdefgh",
            "nothing else is lost"
        );
        seen.insert(port);
    }
    assert!(
        seen.len() > 10,
        "enough writes completed to mean something: {}",
        seen.len()
    );
    // No temp files left behind by the killed writers are visible as configs.
    let stray: Vec<_> = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name().to_string_lossy().starts_with("openclaw.json")
                && !e.file_name().to_string_lossy().contains(".bak")
        })
        .collect();
    assert_eq!(stray.len(), 1, "{stray:?}");
    // The temp files of killed writers hold the whole config (its token too): the next write
    // that completes removes them.
    assert_eq!(oc(&p, &["config", "set", "gateway.port", "20999"]).0, 0);
    let orphans: Vec<_> = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".openclaw.json.tmp-"))
        .collect();
    assert!(orphans.is_empty(), "left behind: {orphans:?}");
}

/// What the real OpenClaw 2026.9.6 writes after `doctor --fix` (`meta.migrations`, `wizard.*`,
/// captured in shared/peer/captures/fail-f2-after-doctor-fix-files.txt) is a valid config
/// here: `config validate` accepts it, the doctor's `config.parses` passes, a gateway starts.
#[test]
fn a_config_the_real_openclaw_wrote_after_doctor_fix_is_valid() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/config/openclaw-2026.9.6-after-doctor-fix.json"),
    )
    .unwrap();
    let p = Profile::new(&text);
    p.private_config();
    let (code, out, err) = oc(&p, &["config", "validate"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = oc(&p, &["doctor", "--json", "--only", "config.parses"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(finding(&v, "config.parses")["status"], "ok", "{v:#}");
    let gw = Gateway::start(&p, &[], &[]);
    assert!(gw.port > 0);
}

/// Keys with dots: upstream's bracket notation reads and writes them, and `"x.y"` is never
/// confused with `x.y`.
#[test]
fn config_paths_are_segments_with_bracket_keys() {
    let p = Profile::new(
        "{\n  // mine\n  agents: { defaults: { models: { \"openai/gpt-5.1\": { alias: \"g\" } } } },\n  \"x.y\": 1,\n  x: { y: 2 },\n}\n",
    );
    let cfg = |args: &[&str]| {
        let mut c = p.command();
        c.arg("config").args(args);
        run(c, std::time::Duration::from_secs(30))
    };
    let (code, out, err) = cfg(&["get", r#"agents.defaults.models["openai/gpt-5.1"].alias"#]);
    assert_eq!((code, out.as_str()), (0, "g\n"), "{err}");
    assert_eq!(cfg(&["get", r#"["x.y"]"#]).1, "1\n");
    assert_eq!(cfg(&["get", "['x.y']"]).1, "1\n");
    assert_eq!(cfg(&["get", "x.y"]).1, "2\n");
    assert_eq!(cfg(&["set", r#"["x.y"]"#, "5"]).0, 0);
    assert_eq!(cfg(&["set", "x.y", "7"]).0, 0);
    assert_eq!(
        cfg(&[
            "set",
            r#"agents.defaults.models["anthropic/claude-4.5"].alias"#,
            "c"
        ])
        .0,
        0
    );
    let text = std::fs::read_to_string(p.config_path()).unwrap();
    assert!(text.contains("// mine"), "{text}");
    let v: serde_json::Value = {
        let (code, out, _) = cfg(&["get", "agents.defaults.models", "--json"]);
        assert_eq!(code, 0);
        serde_json::from_str(&out).unwrap()
    };
    assert_eq!(v["anthropic/claude-4.5"]["alias"], "c");
    assert_eq!(v["openai/gpt-5.1"]["alias"], "g");
    assert_eq!(cfg(&["get", r#"["x.y"]"#]).1, "5\n");
    assert_eq!(cfg(&["get", "x.y"]).1, "7\n");
    assert_eq!(cfg(&["unset", r#"["x.y"]"#]).0, 0);
    assert_eq!(cfg(&["get", "x.y"]).1, "7\n");
    assert_ne!(cfg(&["get", r#"["x.y"]"#]).0, 0);
    let (code, _, err) = cfg(&["get", "a..b"]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid config path \"a..b\""), "{err}");
}
