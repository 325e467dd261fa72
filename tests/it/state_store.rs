//! The doctor on a state dir with upstream's SQLite store (built here from the upstream DDL
//! fixture; `interop.rs` has the real package write one).

use crate::support::*;

const UPSTREAM_SCHEMA: &str = include_str!("../../fixtures/state/openclaw-2026.9.6-schema.sql");

fn store(p: &Profile, schema_version: i64) -> rusqlite::Connection {
    let dir = p.path().join("state").join("state");
    std::fs::create_dir_all(&dir).unwrap();
    let c = rusqlite::Connection::open(dir.join("openclaw.sqlite")).unwrap();
    c.pragma_update(None, "journal_mode", "wal").unwrap();
    c.execute_batch(UPSTREAM_SCHEMA).unwrap();
    c.execute(
        "INSERT INTO schema_meta VALUES ('primary', 'global', ?1, NULL, '2026.9.6', 1, 1)",
        [schema_version],
    )
    .unwrap();
    c
}

#[test]
fn pending_requests_and_failing_cron_jobs_come_from_the_store() {
    let p = Profile::local_token();
    let c = store(&p, 18);
    let now = openclaw::util::now_ms() as i64;
    c.execute(
        "INSERT INTO device_pairing_pending (request_id, device_id, public_key, role, scopes_json, ts) \
         VALUES ('req-from-store', 'dev1', 'pk', 'operator', '[\"operator.read\"]', ?1)",
        [now],
    )
    .unwrap();
    c.execute_batch(
        r#"INSERT INTO cron_jobs (store_key, job_id, name, enabled, payload_kind, job_json,
             state_json, updated_at) VALUES ('main', 'j1', 'nightly report', 1, 'agentTurn', '{}',
             '{"lastStatus":"error","lastError":"model_not_found"}', 1);"#,
    )
    .unwrap();
    // A hold on the store while the doctor reads: a writer's open transaction.
    c.execute_batch("BEGIN IMMEDIATE; UPDATE schema_meta SET updated_at = 2;")
        .unwrap();
    let d = doctor_json(&p);
    assert_finding(
        &d,
        "state.device-pairing-pending",
        "warn",
        "openclaw devices approve req-from-store",
    );
    assert_finding(&d, "cron.job-errors", "warn", "model_not_found");
    assert_eq!(d["facts"]["state.store"]["schemaVersion"], 18);
    c.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn an_unreadable_store_leaves_the_state_facts_unknown_never_ok() {
    let p = Profile::local_token();
    let dir = p.path().join("state").join("state");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("openclaw.sqlite"), vec![0x42; 16 * 1024]).unwrap();
    // A legacy file beside it must not stand in for the store it was replaced by.
    let d = doctor_json(&p);
    let f = finding(&d, "state.store-readable");
    assert_eq!(f["status"], "fail", "{f:#}");
    assert!(f.to_string().contains("openclaw.sqlite"), "{f:#}");
    for id in [
        "state.device-pairing-pending",
        "state.dm-pairing-pending",
        "cron.job-errors",
    ] {
        let f = finding(&d, id);
        assert_ne!(f["status"], "ok", "{id}: {f:#}");
        assert!(
            f["skippedReason"]
                .as_str()
                .is_some_and(|r| r.contains("state store cannot be read")),
            "{id}: {f:#}"
        );
    }
}

#[test]
fn a_newer_store_is_read_with_a_warning_naming_both_versions() {
    let p = Profile::local_token();
    store(&p, 19);
    let d = doctor_json(&p);
    assert_finding(&d, "state.store-schema-newer", "warn", "schema version 19");
    assert_finding(
        &d,
        "state.store-schema-newer",
        "warn",
        "this build knows version 18",
    );
    assert_eq!(finding(&d, "state.device-pairing-pending")["status"], "ok");
}

/// The support bundle carries the state rows (tokens fingerprinted, never their values), and
/// triage of the bundle, or of a copy of the store itself, gives the same findings offline.
#[test]
fn bundles_carry_the_state_and_triage_reads_it_or_a_store_copy() {
    let p = Profile::local_token();
    let c = store(&p, 18);
    let now = openclaw::util::now_ms() as i64;
    c.execute(
        "INSERT INTO device_pairing_pending (request_id, device_id, public_key, role, ts) \
         VALUES ('req-in-bundle', 'dev1', 'pk', 'operator', ?1)",
        [now],
    )
    .unwrap();
    c.execute_batch(
        r#"INSERT INTO device_pairing_paired (device_id, public_key, role, tokens_json,
             created_at_ms, approved_at_ms) VALUES ('dev2', 'pk2', 'operator',
             '{"operator":{"token":"device-token-that-must-not-leave","role":"operator","scopes":[]}}', 1, 2);"#,
    )
    .unwrap();
    // Checkpoint so a plain copy of the main file holds the rows (as `sqlite3 .backup` would).
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    let bundle = p.path().join("bundle.tar.gz");
    let mut cmd = p.command();
    cmd.args(["doctor", "--json", "--bundle"]).arg(&bundle);
    let (_, out, err) = run(cmd, std::time::Duration::from_secs(60));
    assert!(bundle.exists(), "{out} {err}");
    let mut text = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&bundle).unwrap()),
        &mut text,
    )
    .unwrap();
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("openclaw-bundle/state.json"));
    assert!(text.contains("req-in-bundle"));
    assert!(!text.contains("device-token-that-must-not-leave"));
    assert!(text.contains("sha256:"));

    let copy = p.path().join("user-sent-openclaw.sqlite");
    std::fs::copy(p.path().join("state/state/openclaw.sqlite"), &copy).unwrap();
    for input in [&bundle, &copy] {
        let mut cmd = p.command();
        cmd.args(["doctor", "triage", "--json"]).arg(input);
        let (_, out, err) = run(cmd, std::time::Duration::from_secs(60));
        let d: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
        assert_finding(
            &d,
            "state.device-pairing-pending",
            "warn",
            "openclaw devices approve req-in-bundle",
        );
    }
}

/// The gateway and several CLI processes write the store at once and lose nothing: signed
/// devices pair silently through the gateway while `openclaw pairing approve` processes
/// approve DM senders; then the gateway is killed with SIGKILL in the middle of a connect
/// storm and the store is still consistent.
#[test]
fn concurrent_writers_lose_no_row_and_kill_9_leaves_the_store_consistent() {
    use openclaw::state::dm_pairing::{DmPairing, Upsert};
    use openclaw::state::identity::DeviceIdentity;
    let p = Profile::local_token();
    let state = p.path().join("state");
    let dm = DmPairing::at(&state);
    let now = openclaw::util::now_ms();
    let mut codes = Vec::new();
    for account in ["a1", "a2", "a3", "a4"] {
        for sender in 0..3 {
            let Upsert::Created(code) = dm
                .upsert(
                    "telegram",
                    Some(account),
                    &format!("{account}-s{sender}"),
                    &serde_json::Map::new(),
                    now,
                )
                .unwrap()
            else {
                panic!("created")
            };
            codes.push((account, code));
        }
    }
    let mut gw = Gateway::start(&p, &[], &[]);
    let url = gw.url();
    let ids: Vec<DeviceIdentity> = (0..12)
        .map(|i| DeviceIdentity::load_or_create(&p.path().join(format!("dev{i}"))).unwrap())
        .collect();
    let approvals: Vec<_> = codes
        .iter()
        .map(|(account, code)| {
            let mut c = p.command();
            c.args(["pairing", "approve", "telegram", code, "--account", account]);
            c.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let hellos = rt.block_on(async {
        let tasks: Vec<_> = ids
            .iter()
            .map(|id| {
                let (url, id) = (url.clone(), id.device_id.clone());
                let dir = p.path().join(format!(
                    "dev{}",
                    ids.iter().position(|x| x.device_id == id).unwrap()
                ));
                tokio::spawn(async move {
                    let id = DeviceIdentity::load(&dir).unwrap().unwrap();
                    let mut c = Client::open(&url).await;
                    let nonce = c.challenge["payload"]["nonce"].as_str().unwrap().to_string();
                    let params = token_signed(&id, &nonce);
                    c.send(serde_json::json!({"type": "req", "id": "c", "method": "connect", "params": params}))
                        .await;
                    c.response("c").await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    for h in &hellos {
        assert_eq!(h["ok"], true, "{h:#}");
    }
    for mut a in approvals {
        let status = a.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(a.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(status.success(), "{err}");
    }
    let store = openclaw::state::store::Store::open_read_only(&state).unwrap();
    let paired = store.paired_devices().unwrap();
    for id in &ids {
        assert!(paired.contains_key(&id.device_id), "{} lost", id.device_id);
    }
    for account in ["a1", "a2", "a3", "a4"] {
        let mut allowed = dm.allow_from("telegram", Some(account));
        allowed.sort();
        assert_eq!(
            allowed,
            (0..3)
                .map(|s| format!("{account}-s{s}"))
                .collect::<Vec<_>>(),
            "{account}"
        );
    }
    assert!(dm.list("telegram", None, now).unwrap().is_empty());

    // SIGKILL while new devices are being paired.
    let more: Vec<std::path::PathBuf> = (0..24)
        .map(|i| {
            let d = p.path().join(format!("late{i}"));
            DeviceIdentity::load_or_create(&d).unwrap();
            d
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = more
            .iter()
            .cloned()
            .map(|dir| {
                let url = url.clone();
                tokio::spawn(async move {
                    let id = DeviceIdentity::load(&dir).unwrap().unwrap();
                    use futures_util::{SinkExt, StreamExt};
                    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await
                    else {
                        return;
                    };
                    let Some(Ok(first)) = ws.next().await else {
                        return;
                    };
                    let challenge: serde_json::Value =
                        serde_json::from_str(first.to_text().unwrap_or("{}")).unwrap_or_default();
                    let nonce = challenge["payload"]["nonce"].as_str().unwrap_or_default().to_string();
                    let params = token_signed(&id, &nonce);
                    let req = serde_json::json!({"type": "req", "id": "c", "method": "connect", "params": params});
                    let _ = ws
                        .send(tokio_tungstenite::tungstenite::Message::text(req.to_string()))
                        .await;
                    let _ = ws.next().await;
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(15)).await;
        gw.signal(libc::SIGKILL);
        for t in tasks {
            let _ = t.await;
        }
    });
    let _ = gw.wait_exit(std::time::Duration::from_secs(5));
    let c = rusqlite::Connection::open(openclaw::state::store::path(&state)).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let store = openclaw::state::store::Store::open_read_only(&state).unwrap();
    let paired = store.paired_devices().unwrap();
    assert!(paired.len() >= 12, "{}", paired.len());
    for (id, d) in &paired {
        assert_eq!(d["deviceId"], id.as_str());
        assert!(d["tokens"].is_object() || d.get("tokens").is_none(), "{d}");
    }
}
