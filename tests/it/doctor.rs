//! `openclaw doctor` against seeded faults, a fresh machine, a healthy gateway, and
//! `doctor triage` over fixture logs for every symptom id.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn doctor_json(p: &Profile, args: &[&str], envs: &[(&str, String)]) -> (i32, Value) {
    let mut c = p.command();
    c.arg("doctor").arg("--json").args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    let (code, out, err) = run(c, T);
    let v: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: stdout={out} stderr={err}"));
    assert_eq!(v["schema_version"], 1);
    (code, v)
}

/// Symptom ids of findings that fired (warn or fail).
fn fired(v: &Value) -> BTreeSet<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "warn" || f["status"] == "fail")
        .flat_map(|f| {
            f["symptoms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
        })
        .collect()
}

fn private_config(p: &Profile, text: &str) {
    std::fs::write(p.config_path(), text).unwrap();
    std::fs::set_permissions(p.config_path(), std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn fresh_machine_gets_a_useful_report_and_exit_2() {
    let p = Profile::new("");
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let (code, v) = doctor_json(
        &p,
        &[],
        &[
            ("OPENCLAW_GATEWAY_PORT", free.clone()),
            ("OPENCLAW_GATEWAY_TOKEN", "env-secret-value-123".into()),
        ],
    );
    assert_eq!(code, 2);
    assert_eq!(v["verdict"], "errors");
    assert_eq!(
        v["facts"]["env.resolution"]["OPENCLAW_GATEWAY_PORT"],
        free.as_str()
    );
    assert_eq!(
        v["facts"]["env.resolution"]["OPENCLAW_GATEWAY_TOKEN"],
        "(set)"
    );
    assert!(
        !v.to_string().contains("env-secret-value-123"),
        "no secret in the report"
    );
    let f = fired(&v);
    assert!(
        f.contains("mode-unset") && f.contains("connect-failed"),
        "{f:?}"
    );
    assert_eq!(finding(&v, "config.exists")["status"], "fail");
    let mut c = p.command();
    c.arg("doctor").env("OPENCLAW_GATEWAY_PORT", &free);
    let (code, out, _) = run(c, T);
    assert_eq!(code, 2);
    assert!(out.contains("✗ No config file"), "{out}");
    assert!(out.contains("hint: openclaw --dev gateway"), "{out}");
    assert!(out.contains("Verdict: errors"), "{out}");
    assert!(!p.config_path().exists(), "the doctor is read-only");
}

#[test]
fn healthy_gateway_is_exit_0() {
    let p = Profile::local_token();
    std::fs::set_permissions(p.config_path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let gw = Gateway::start(&p, &[], &[]);
    let (code, v) = doctor_json(&p, &[], &[("OPENCLAW_GATEWAY_PORT", gw.port.to_string())]);
    assert_eq!(code, 0, "{:#?}", problems(&v));
    assert_eq!(v["verdict"], "healthy");
    assert_eq!(v["probes"]["gateway"]["status"], "ok");
    // No unit is installed here: the service probe runs and says so.
    assert_eq!(v["probes"]["service"]["status"], "ok");
    assert_eq!(v["facts"]["service.installed"], false);
    assert!(v["facts"].get("service.runtime").is_none(), "never guessed");
    assert!(v["checksRun"].as_u64().unwrap() > 50);
}

#[test]
fn seeded_faults_each_raise_their_symptom() {
    // mode unset + legacy gateway.token + a clobbered copy + a pending device.
    let p = Profile::new("");
    private_config(
        &p,
        r#"{"gateway": {"token": "old-token", "auth": {"token": "abcdefgh"}}}"#,
    );
    std::fs::write(
        p.path()
            .join("openclaw.json.clobbered.2026-11-23T18-28-02-946Z"),
        "{",
    )
    .unwrap();
    let devices = p.path().join("state").join("devices");
    std::fs::create_dir_all(&devices).unwrap();
    std::fs::write(
        devices.join("pending.json"),
        serde_json::json!({"r-1": {"requestId": "r-1", "deviceId": "d1", "role": "operator", "ts": openclaw::util::now_ms()}}).to_string(),
    )
    .unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let (code, v) = doctor_json(&p, &[], &[("OPENCLAW_GATEWAY_PORT", free)]);
    assert_eq!(code, 2);
    let f = fired(&v);
    for s in [
        "mode-unset",
        "legacy-token-key",
        "config-clobbered-file",
        "pairing-required",
    ] {
        assert!(f.contains(s), "{s} missing from {f:?}");
    }
    assert_eq!(
        finding(&v, "config.mode-unset")["evidence"]["config.gateway_mode"],
        Value::Null
    );
    assert_eq!(finding(&v, "config.legacy-gateway-token")["fixable"], true);

    // Port held by another process.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let p = Profile::local_token();
    let (_, v) = doctor_json(
        &p,
        &["--timeout", "500"],
        &[("OPENCLAW_GATEWAY_PORT", port)],
    );
    assert!(fired(&v).contains("port-in-use"), "{:?}", fired(&v));
    let listeners = &finding(&v, "port.in-use")["evidence"]["port.listeners"];
    assert_eq!(listeners[0]["pid"], std::process::id());

    // Non-loopback bind without auth.
    let p = Profile::new("");
    private_config(
        &p,
        r#"{"gateway": {"mode": "local", "bind": "lan", "auth": {"mode": "none"}}}"#,
    );
    let (_, v) = doctor_json(&p, &[], &[]);
    assert!(fired(&v).contains("bind-without-auth"), "{:?}", fired(&v));

    // Config written by a newer version.
    let p = Profile::new("");
    private_config(
        &p,
        r#"{"meta": {"lastTouchedVersion": "2099.1.1"}, "gateway": {"mode": "local", "auth": {"token": "abcdefgh"}}}"#,
    );
    let (_, v) = doctor_json(&p, &[], &[]);
    assert!(fired(&v).contains("split-brain"), "{:?}", fired(&v));

    // Invalid config: named with line and column.
    let p = Profile::new("");
    private_config(
        &p,
        "{\n  gateway: {\n    mode: 'local',\n    prot: 1,\n  },\n}\n",
    );
    let (_, v) = doctor_json(&p, &[], &[]);
    let errors = finding(&v, "config.parses")["evidence"]["config.errors"].to_string();
    assert!(
        errors.contains(":4:5: gateway: Unrecognized key: \\\"prot\\\""),
        "{errors}"
    );
    assert_eq!(
        finding(&v, "config.mode-unset")["status"],
        "skipped",
        "depends on a parsing config"
    );
    assert!(finding(&v, "config.mode-unset")["skippedReason"]
        .as_str()
        .unwrap()
        .contains("depends on config.parses"));
}

#[test]
fn wrong_token_against_a_running_gateway() {
    let p = Profile::local_token();
    std::fs::set_permissions(p.config_path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let gw = Gateway::start(&p, &[], &[]);
    let (code, v) = doctor_json(
        &p,
        &["--token", "wrong"],
        &[("OPENCLAW_GATEWAY_PORT", gw.port.to_string())],
    );
    assert_eq!(code, 2);
    let f = fired(&v);
    assert!(
        f.contains("auth-token-mismatch") && f.contains("rpc-probe-failed-runtime-running"),
        "{f:?}"
    );
    assert_eq!(
        finding(&v, "auth.token-mismatch")["evidence"]["gateway.error"],
        "unauthorized: gateway token mismatch (provide gateway auth token)"
    );
}

#[test]
fn selection_list_and_explain() {
    let p = Profile::local_token();
    let (code, v) = doctor_json(&p, &["--only", "config.parses"], &[]);
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
    assert_eq!(code, 0);
    let (_, v) = doctor_json(
        &p,
        &[
            "--only",
            "gateway-service-not-running",
            "--skip",
            "port-in-use",
        ],
        &[],
    );
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["section"] == "gateway-service-not-running" && f["checkId"] != "port.in-use"));
    let (_, v) = doctor_json(&p, &["--severity-min", "error"], &[]);
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["severity"] == "error"));

    let mut c = p.command();
    c.args(["doctor", "--list-checks"]);
    let (code, out, _) = run(c, T);
    assert_eq!(code, 0);
    assert!(
        out.lines().count() > 70 && out.contains("config.mode-unset"),
        "{out}"
    );
    let mut c = p.command();
    c.args(["doctor", "--explain", "config.mode-unset"]);
    let (code, out, _) = run(c, T);
    assert_eq!(code, 0);
    assert!(
        out.contains("log signature: Gateway start blocked: set gateway.mode=local"),
        "{out}"
    );
    assert!(
        out.contains("$ openclaw config set gateway.mode local"),
        "{out}"
    );
    let mut c = p.command();
    c.args(["doctor", "--explain", "nope"]);
    assert_eq!(run(c, T).0, 2);
}

#[test]
fn extra_check_files_are_validated_and_used() {
    let p = Profile::local_token();
    let dir = p.path().join("mychecks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("site.toml"),
        "[section]\nid = \"site\"\ntitle = \"Site rules\"\n\n[[checks]]\nid = \"site.no-remote\"\ntitle = \"Not remote\"\nsymptoms = []\nseverity = \"warning\"\nmessage = \"remote!\"\nremediation = \"r\"\nwhen = [{ fact = \"config.mode_remote\", is = false }]\n",
    )
    .unwrap();
    let dir_s = dir.display().to_string();
    let (code, v) = doctor_json(&p, &["--checks", &dir_s, "--only", "site"], &[]);
    assert_eq!(code, 1);
    assert_eq!(finding(&v, "site.no-remote")["status"], "warn");
    std::fs::write(
        dir.join("site.toml"),
        "[section]\nid = \"site\"\ntitle = \"t\"\nbogus = 1\n",
    )
    .unwrap();
    let (code, v) = doctor_json(&p, &["--checks", &dir_s], &[]);
    assert_eq!(code, 3);
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("site.toml:4:1") && e.contains("bogus"), "{e}");
    let mut c = p.command();
    c.args(["doctor", "--check-config", "--checks", &dir_s]);
    assert_eq!(run(c, T).0, 3);
}

/// Every check's signature examples as one log, plus inputs for the state-only symptoms.
#[test]
fn triage_detects_every_symptom_id_from_fixture_inputs() {
    let p = Profile::new("{}");
    let cat = openclaw::doctor::load_catalog(&[]).unwrap();
    let log = p.path().join("support.log");
    let mut lines = Vec::new();
    let mut near = Vec::new();
    for c in &cat.checks {
        for s in &c.signatures {
            lines.push(s.example.clone());
            near.push(s.near_miss.clone());
        }
    }
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/triage");
    let mut c = p.command();
    c.args(["doctor", "triage", "--json"])
        .arg(&log)
        .arg(fixtures.join("remote-mode-config.json5"))
        .arg(fixtures.join("gateway-status-busy.json"))
        .arg(fixtures.join("probe-scope-limited.json"));
    let (code, out, err) = run(c, T);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(code, 2);
    assert_eq!(v["mode"], "triage");
    let f = fired(&v);
    let missing: Vec<String> = openclaw::doctor::symptoms::ids()
        .into_iter()
        .filter(|s| !f.contains(s))
        .collect();
    assert!(
        missing.is_empty(),
        "symptom ids not found by triage: {missing:?}"
    );
    // Ranked: failures first, with counts and the matched lines.
    assert_eq!(v["findings"][0]["status"], "fail");
    let restored = finding(&v, "config.restored");
    assert_eq!(restored["matches"]["count"], 4);
    assert!(restored["matches"]["lines"][0]
        .as_str()
        .unwrap()
        .starts_with("Config auto-restored from last-known-good"));

    // The same lines as JSON-lines records (quotes escaped): every signature check still fires.
    let jsonl = p.path().join("support.jsonl");
    let now = chrono::Local::now();
    let records: Vec<String> = lines
        .iter()
        .map(|l| {
            openclaw::logging::record::render(
                openclaw::logging::Level::Error,
                "gateway",
                l,
                "host",
                now,
            )
        })
        .collect();
    std::fs::write(&jsonl, records.join("\n") + "\n").unwrap();
    let mut c = p.command();
    c.args(["doctor", "triage", "--json"]).arg(&jsonl);
    let (_, out, _) = run(c, T);
    let v: Value = serde_json::from_str(&out).unwrap();
    for check in cat.checks.iter().filter(|c| !c.signatures.is_empty()) {
        let st = &finding(&v, &check.id)["status"];
        assert!(
            st == "warn" || st == "fail",
            "{} did not fire on JSON lines: {st}",
            check.id
        );
    }

    // Near-misses alone fire no signature-only check.
    std::fs::write(&log, near.join("\n") + "\n").unwrap();
    let mut c = p.command();
    c.args(["doctor", "triage", "--json"]).arg(&log);
    let (_, out, _) = run(c, T);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(fired(&v).is_empty(), "near-misses fired: {:?}", fired(&v));
}

#[test]
fn symptom_catalog_copy_matches_the_spec() {
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/spec/symptoms.md");
    let Ok(md) = std::fs::read_to_string(&spec) else {
        eprintln!("SPEC SKIPPED: {} not found", spec.display());
        return;
    };
    let from_md: BTreeSet<String> = md
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    assert_eq!(from_md, openclaw::doctor::symptoms::ids());
}

fn sha(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn fix_repairs_seeded_faults_and_a_second_run_is_clean() {
    let p = Profile::new("");
    let log = p.path().join("gw.log");
    std::fs::write(
        p.config_path(),
        format!(
            "// hand-written\n{{\n  gateway: {{\n    token: \"legacy-secret-0123\", // old key\n    bind: \"127.0.0.1\",\n  }},\n  logging: {{ file: \"{}\" }},\n}}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(p.config_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let env = [("OPENCLAW_GATEWAY_PORT", port.clone())];

    // Dry run: diffs, and nothing written.
    let before = sha(&p.config_path());
    let (_, v) = doctor_json(&p, &["--dry-run"], &env);
    let fixes = v["fixes"].as_array().unwrap();
    assert!(
        fixes
            .iter()
            .any(|f| f["action"] == "normalize-bind-alias" && f["status"] == "planned"),
        "{fixes:#?}"
    );
    let diff = fixes
        .iter()
        .find(|f| f["action"] == "normalize-bind-alias")
        .unwrap()["diff"]
        .as_str()
        .unwrap();
    assert!(
        diff.contains("-     bind: \"127.0.0.1\",") && diff.contains("+     bind: \"loopback\","),
        "{diff}"
    );
    assert!(
        !v.to_string().contains("legacy-secret-0123"),
        "no secret in diffs or output"
    );
    assert_eq!(sha(&p.config_path()), before, "--dry-run writes nothing");

    // Fix.
    let (_, v) = doctor_json(&p, &["--fix"], &env);
    let fixes = v["fixes"].as_array().unwrap();
    for action in [
        "normalize-bind-alias",
        "move-legacy-gateway-token",
        "set-gateway-mode-local",
        "fix-permissions",
    ] {
        let f = fixes
            .iter()
            .find(|f| f["action"] == action)
            .unwrap_or_else(|| panic!("{action} not attempted: {fixes:#?}"));
        assert_eq!(f["status"], "applied", "{f:#}");
    }
    let text = std::fs::read_to_string(p.config_path()).unwrap();
    assert!(
        text.starts_with("// hand-written\n"),
        "comments kept: {text}"
    );
    let cfg: Value =
        serde_json::to_value(openclaw::config::json5::parse(&text).unwrap().value).unwrap();
    assert_eq!(cfg["gateway"]["mode"], "local");
    assert_eq!(cfg["gateway"]["bind"], "loopback");
    assert_eq!(cfg["gateway"]["auth"]["token"], "legacy-secret-0123");
    assert!(cfg["gateway"].get("token").is_none());
    assert_eq!(cfg["meta"]["lastTouchedVersion"], env!("CARGO_PKG_VERSION"));
    let mode = std::fs::metadata(p.config_path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(p.path().join("openclaw.json.bak").exists());

    // With the gateway the repaired config describes, the second run is clean.
    let mut gw_cmd = p.command();
    gw_cmd.args(["gateway", "--port", &port]);
    let _gw = Gateway::spawn(gw_cmd);
    let (code, v) = doctor_json(&p, &[], &env);
    let problems: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "warn" || f["status"] == "fail")
        .collect();
    assert_eq!(code, 0, "{problems:#?}");
}

#[test]
fn fix_restores_last_known_good_and_keeps_the_broken_file() {
    let p = Profile::new("");
    private_config(&p, "{\n  \"gateway\": {\n    \"mode\": \"local\",,\n  }\n}");
    let good = r#"{"gateway": {"mode": "local", "auth": {"token": "abcdefgh"}}}"#;
    std::fs::write(p.path().join("openclaw.json.bak.1"), good).unwrap();
    std::fs::write(p.path().join("openclaw.json.bak"), "{ still broken").unwrap();
    let (_, v) = doctor_json(&p, &["--fix"], &[]);
    let f = v["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["action"] == "restore-last-known-good")
        .unwrap()
        .clone();
    assert_eq!(f["status"], "applied", "{f:#}");
    assert!(f["summary"]
        .as_str()
        .unwrap()
        .starts_with("Config auto-restored from last-known-good: "));
    let restored = std::fs::read_to_string(p.config_path()).unwrap();
    assert!(restored.contains("abcdefgh"));
    let clobbered = p.clobbered();
    assert_eq!(clobbered.len(), 1);
    let name = clobbered[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.ends_with('Z') && !name.contains(':'), "{name}");
    assert!(std::fs::read_to_string(&clobbered[0])
        .unwrap()
        .contains(",,"));
    assert_eq!(
        clobbered[0].metadata().unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Without any valid backup it refuses and says why.
    let p = Profile::new("");
    private_config(&p, "{ broken");
    let (_, v) = doctor_json(&p, &["--fix"], &[]);
    let f = v["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["action"] == "restore-last-known-good")
        .unwrap()
        .clone();
    assert_eq!(f["status"], "refused");
    assert!(f["summary"]
        .as_str()
        .unwrap()
        .contains("is not parseable and cannot be repaired automatically"));
}

#[test]
fn fixes_that_do_not_resolve_their_check_are_rolled_back() {
    let p = Profile::local_token();
    std::fs::set_permissions(p.config_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    // A site check that fires on something fix-permissions cannot change.
    let dir = p.path().join("mychecks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("site.toml"),
        "[section]\nid = \"site\"\ntitle = \"Site\"\n\n[[checks]]\nid = \"site.always\"\ntitle = \"t\"\nsymptoms = []\nseverity = \"warning\"\nmessage = \"m\"\nremediation = \"r\"\nwhen = [{ fact = \"config.mode_remote\", is = false }]\nfix = { action = \"fix-permissions\" }\n",
    )
    .unwrap();
    let d = dir.display().to_string();
    let (_, v) = doctor_json(&p, &["--fix", "--checks", &d, "--only", "site"], &[]);
    let f = &v["fixes"][0];
    assert_eq!(f["status"], "rolled-back", "{f:#}");
    assert!(f["summary"].as_str().unwrap().contains("still fires"));
    let mode = std::fs::metadata(p.config_path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o644, "the chmod was undone");
}

#[test]
fn fixes_are_refused_when_the_config_is_from_a_newer_version() {
    let p = Profile::new("");
    private_config(
        &p,
        r#"{"meta": {"lastTouchedVersion": "2099.1.1"}, "gateway": {"token": "x-legacy", "auth": {"token": "abcdefgh"}, "mode": "local"}}"#,
    );
    let before = sha(&p.config_path());
    let (_, v) = doctor_json(&p, &["--fix"], &[]);
    let f = v["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["action"] == "move-legacy-gateway-token")
        .unwrap()
        .clone();
    assert_eq!(f["status"], "refused");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("OPENCLAW_ALLOW_OLDER_BINARY_DESTRUCTIVE_ACTIONS=1"),
        "{f:#}"
    );
    assert_eq!(sha(&p.config_path()), before);
    let (_, v) = doctor_json(
        &p,
        &["--fix"],
        &[(
            "OPENCLAW_ALLOW_OLDER_BINARY_DESTRUCTIVE_ACTIONS",
            "1".into(),
        )],
    );
    let f = v["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["action"] == "move-legacy-gateway-token")
        .unwrap()
        .clone();
    assert_eq!(f["status"], "applied", "{f:#}");
}

#[test]
fn fix_removes_a_stale_lock_and_generates_a_missing_token() {
    let p = Profile::new("");
    private_config(
        &p,
        r#"{"gateway": {"mode": "local", "auth": {"mode": "token"}}}"#,
    );
    let lock = openclaw::gateway::lock::lock_path(&p.config_path());
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(
        &lock,
        r#"{"pid": 999999999, "createdAt": 1, "configPath": "x"}"#,
    )
    .unwrap();
    let (_, v) = doctor_json(&p, &["--fix"], &[]);
    let by = |a: &str| {
        v["fixes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["action"] == a)
            .unwrap()
            .clone()
    };
    assert_eq!(by("remove-stale-lock")["status"], "applied");
    assert!(!lock.exists());
    assert_eq!(by("generate-gateway-token")["status"], "applied");
    assert!(
        !v.to_string().contains(&read_token(&p)),
        "the generated token is never printed"
    );
    assert_eq!(read_token(&p).len(), 48);
}

fn read_token(p: &Profile) -> String {
    let text = std::fs::read_to_string(p.config_path()).unwrap();
    openclaw::config::json5::parse(&text).unwrap().value["gateway"]["auth"]["token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn selftest_detects_every_seeded_fault() {
    let p = Profile::new("");
    let mut c = p.command();
    c.args(["doctor", "selftest", "--json"]);
    let (code, out, err) = run(c, Duration::from_secs(120));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let failed: Vec<&Value> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["passed"] != true)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(code, 0);
    assert!(v["passed"].as_u64().unwrap() >= 9);
    assert!(
        err.lines().count() <= 2,
        "the embedded gateway stays quiet: {err}"
    );
}

#[test]
fn bundle_round_trip_finds_the_same_symptoms_and_leaks_no_secret() {
    let p = Profile::new("");
    let log = p.path().join("gw.log");
    let secret = "supersecret-token-0987654321";
    let legacy = "legacy-secret-x1y2z3";
    private_config(
        &p,
        &format!(
            r#"{{"gateway": {{"token": "{legacy}", "auth": {{"token": "{secret}"}}, "remote": {{"url": "ws://gw.corp.example:18789"}}}}, "logging": {{"file": "{}"}}}}"#,
            log.display()
        ),
    );
    let now = chrono::Local::now();
    // Written by a run of this profile's gateway (it names its config when it starts).
    let lines = [
        format!("gateway run: config={}", p.config_path().display()),
        format!("client 10.20.30.40 sent token {secret} by mistake"),
        "cron: timer tick failed: EACCES".to_string(),
        "dialing wss://gw.corp.example/ws from 10.20.30.40".to_string(),
    ];
    let records: Vec<String> = lines
        .iter()
        .map(|l| {
            openclaw::logging::record::render(
                openclaw::logging::Level::Warn,
                "gateway",
                l,
                "host",
                now,
            )
        })
        .collect();
    std::fs::write(&log, records.join("\n") + "\n").unwrap();
    let bundle = p.path().join("support.tar.gz");
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut c = p.command();
    c.args(["doctor", "--json", "--bundle"])
        .arg(&bundle)
        .env("OPENCLAW_GATEWAY_PORT", &free);
    let (code, out, err) = run(c, T);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Support bundle written:"), "{err}");
    let live: Value = serde_json::from_str(&out).unwrap();
    let live_fired = fired(&live);
    assert!(
        live_fired.contains("mode-unset")
            && live_fired.contains("legacy-token-key")
            && live_fired.contains("cron-tick-failed"),
        "{live_fired:?}"
    );
    assert_eq!(
        std::fs::metadata(&bundle).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Nothing secret or identifying in any file.
    let dir = p.path().join("unpacked");
    std::fs::create_dir_all(&dir).unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success(), "tar -xzf {}", bundle.display());
    let mut files = Vec::new();
    let mut todo = vec![dir.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    let names: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    for want in [
        "openclaw-bundle/manifest.json",
        "openclaw-bundle/config/openclaw.json",
        "openclaw-bundle/doctor.json",
        "openclaw-bundle/probe.json",
        "openclaw-bundle/status.json",
        "openclaw-bundle/logs/openclaw.log",
        "openclaw-bundle/env.txt",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    let mut all = String::new();
    for f in &files {
        all.push_str(&std::fs::read_to_string(f).unwrap());
    }
    for leak in [secret, legacy, "10.20.30.40", "gw.corp.example"] {
        assert!(!all.contains(leak), "{leak} leaked into the bundle");
    }
    assert!(
        all.contains("192.0.2.1") && all.contains("host-1.invalid"),
        "pseudonyms are used consistently"
    );
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("openclaw-bundle/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["kind"], "openclaw-support-bundle");
    assert!(manifest["redaction"]["secretsReplaced"].as_u64().unwrap() >= 2);

    // Triage of the bundle finds the same config and log symptoms.
    let mut c = p.command();
    c.args(["doctor", "triage", "--json"]).arg(&bundle);
    let (_, out, _) = run(c, T);
    let tri: Value = serde_json::from_str(&out).unwrap();
    let tri_fired = fired(&tri);
    for s in ["mode-unset", "legacy-token-key", "cron-tick-failed"] {
        assert!(
            tri_fired.contains(s),
            "{s} not found in the bundle: {tri_fired:?}"
        );
    }
    assert!(tri["inputs"][0]
        .as_str()
        .unwrap()
        .ends_with("(support bundle)"));
}

#[tokio::test]
async fn without_a_local_log_the_gateway_log_tail_is_scanned() {
    let a = Profile::local_token();
    let gw = Gateway::start(&a, &[], &[]);
    // Leave a refusal in gateway A's log.
    let mut c = Client::open(&gw.url()).await;
    c.send(serde_json::json!({"type": "req", "id": "1", "method": "connect",
        "params": connect_params("gateway-client", "backend", &[], serde_json::json!({"token": "wrong"}))})).await;
    let _ = c.response("1").await;
    // Profile B has no config and no log file of its own.
    let b = Profile::new("");
    let url = gw.url();
    let (_, v) = tokio::task::spawn_blocking(move || {
        doctor_json(&b, &["--url", &url, "--token", TOKEN], &[])
    })
    .await
    .unwrap();
    assert_eq!(
        v["facts"]["logs.source"],
        serde_json::json!(["logs.tail"]),
        "{:#}",
        v["probes"]
    );
    let f = finding(&v, "auth.token-mismatch");
    assert_eq!(f["status"], "warn", "{f:#}");
    assert_eq!(f["severity"], "info", "seen in the logs, not observed now");
    assert!(f["matches"]["count"].as_u64().unwrap() >= 1);
    assert_eq!(v["facts"]["gateway.rpc_ok"], true);
}

#[test]
fn yes_is_fix_and_non_interactive_leaves_judgement_calls() {
    let p = Profile::new("");
    private_config(&p, r#"{"gateway": {"auth": {"token": "abcdefgh"}}}"#);
    let (_, v) = doctor_json(&p, &["--yes", "--non-interactive"], &[]);
    let f = v["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["action"] == "set-gateway-mode-local")
        .unwrap()
        .clone();
    assert_eq!(f["status"], "refused");
    assert!(f["summary"].as_str().unwrap().contains("--non-interactive"));
    let (_, v) = doctor_json(&p, &["--yes"], &[]);
    let f = v["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["action"] == "set-gateway-mode-local")
        .unwrap()
        .clone();
    assert_eq!(f["status"], "applied", "{f:#}");
    assert_eq!(v["facts"]["config.gateway_mode"], "local");
}

#[test]
fn a_remote_mode_client_is_not_told_a_local_gateway_lacks_a_token() {
    // Remote mode: this machine runs no gateway, so gateway.auth.token is not needed here.
    let p = Profile::new("");
    private_config(
        &p,
        r#"{"gateway": {"mode": "remote", "remote": {"url": "ws://127.0.0.1:1", "token": "remote-token-123"}}}"#,
    );
    let (_, v) = doctor_json(&p, &[], &[]);
    assert_eq!(finding(&v, "config.token-missing")["status"], "ok", "{v:#}");
}
