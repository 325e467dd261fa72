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
