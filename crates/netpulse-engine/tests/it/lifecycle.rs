//! The engine as an operator runs it: graceful shutdown loses no check in flight and leaves
//! the SQLite file whole, the data directory and its files are private to the engine's user,
//! and the command line refuses bad configuration naming the key, where it was set and the fix.

use crate::harness::*;
use serde_json::json;
use std::process::Command;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn shutdown_waits_for_checks_in_flight_and_stores_their_results() {
    let env = test_env().await;
    let target = Target::start().await;
    target.set_delay_ms(1500);
    let mut app = env.spawn().await;
    let id = app
        .create_monitor(
            json!({ "name": "slow", "kind": "http", "url": target.url(), "interval_s": 5, "timeout_ms": 4000 }),
        )
        .await;
    wait_for(10, "a check in flight", || async { (target.hits.load(Ordering::SeqCst) >= 1).then_some(()) }).await;
    app.stop().await; // while the target is still answering

    let app = env.spawn().await;
    let (_, page) = app.api("GET", &format!("/api/v1/monitors/{id}/results"), None).await;
    let rows = page["data"].as_array().unwrap();
    assert!(!rows.is_empty(), "the check that was in flight at shutdown was stored");
    assert_eq!(rows.last().unwrap()["outcome"], "up");
    assert!(rows.last().unwrap()["timings"]["total_ms"].as_u64().unwrap() >= 1400);
}

/// The mode bits of `path` (permissions only).
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[tokio::test]
async fn data_files_are_private_to_the_user_the_engine_runs_as() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("netpulse-data");
    let mut app = spawn_app_with(test_config(&data)).await; // SQLite, as `netpulse serve` with no config
    app.create_monitor(json!({ "name": "db", "kind": "tcp", "host": "db.example.com", "port": 5432, "paused": true }))
        .await;
    assert_eq!(mode(&data), 0o700, "the data dir");
    for file in ["netpulse.db", "netpulse.db-wal", "netpulse.db-shm", "badge-secret"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    app.stop().await;

    // A database an older version left readable by all is made private when it is opened.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data.join("netpulse.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut app = spawn_app_with(test_config(&data)).await;
    assert_eq!(mode(&data.join("netpulse.db")), 0o600);
    app.stop().await;
}

#[tokio::test]
async fn data_file_alone_holds_every_result_after_a_graceful_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("netpulse-data");
    let target = Target::start().await;
    let mut app = spawn_app_with(test_config(&data)).await;
    let id = app
        .create_monitor(
            json!({ "name": "site", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 500 }),
        )
        .await;
    wait_for(20, "three stored results", || async {
        let (_, page) = app.api("GET", &format!("/api/v1/monitors/{id}/results"), None).await;
        (page["data"].as_array().map_or(0, Vec::len) >= 3).then_some(())
    })
    .await;
    app.stop().await;

    let count = |db: &std::path::Path| -> i64 {
        let c = rusqlite::Connection::open(db).unwrap();
        c.query_row("SELECT count(*) FROM check_results", [], |r| r.get(0)).unwrap_or(-1)
    };
    let backup = tempfile::tempdir().unwrap();
    std::fs::copy(data.join("netpulse.db"), backup.path().join("netpulse.db")).unwrap();
    let (copied, stored) = (count(&backup.path().join("netpulse.db")), count(&data.join("netpulse.db")));
    assert!(stored >= 3, "{stored} results stored");
    assert_eq!(copied, stored, "a copy of netpulse.db alone holds every result (-1: not even the table)");
}

fn netpulse(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_netpulse"));
    cmd.args(args).current_dir(dir.path()).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("netpulse runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_names_the_bad_key_its_source_and_the_fix() {
    let (code, out, _) = netpulse(&["check-config"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("configuration is valid"));

    let (code, _, err) = netpulse(&["check-config"], &[("NETPULSE_HTTP__LISTEN", "localhost")]);
    assert_eq!(code, 2);
    assert!(err.contains("http.listen") && err.contains("NETPULSE_HTTP__LISTEN"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("netpulse.toml");
    std::fs::write(&file, "[monitors]\nmin_interval_s = 30\ndefault_interval_s = 10\n").unwrap();
    let (code, _, err) = netpulse(&["check-config", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("monitors.default_interval_s")
            && err.contains("at least monitors.min_interval_s (30)")
            && err.contains("netpulse.toml"),
        "{err}"
    );

    let (code, _, err) = netpulse(&["check-config"], &[("NETPULSE_SSRF__ALLOW", "[\"10.0.0.0/33\"]")]);
    assert_eq!(code, 2);
    assert!(err.contains("ssrf.allow") && err.contains("10.0.0.0/33"), "{err}");
}

/// `check-config` prints the configuration in effect as TOML one can save: loaded back with
/// `--config` (and nothing else), it is the same configuration, printed the same.
#[test]
fn check_config_prints_toml_that_loads_back_as_the_same_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.toml");
    std::fs::write(
        &file,
        "[monitors]\nmin_interval_s = 20\ndefault_interval_s = 40\n[ssrf]\nallow = [\"10.1.0.0/16\"]\n",
    )
    .unwrap();
    let env = [
        ("NETPULSE_HTTP__LISTEN", "127.0.0.1:9911"),
        ("NETPULSE_ROLES", "api,ingest"),
        ("NETPULSE_STORAGE__BACKEND", "postgres"),
        ("NETPULSE_STORAGE__POSTGRES__URL", "postgres://np:hunter2-pw@db.example:5432/np"),
    ];
    let (code, first, err) = netpulse(&["check-config", "--config", file.to_str().unwrap()], &env);
    assert_eq!(code, 0, "{err}");
    let saved = dir.path().join("saved.toml");
    std::fs::write(&saved, &first).unwrap();
    let table: toml::Table = first.parse().unwrap_or_else(|e| panic!("TOML: {e}\n{first}"));
    assert_eq!(table["http"]["listen"].as_str(), Some("127.0.0.1:9911"), "{first}");
    assert_eq!(table["monitors"]["default_interval_s"].as_integer(), Some(40));
    assert!(!first.contains("hunter2"), "a database URL's password is not printed: {first}");
    assert!(first.contains("postgres://np@db.example:5432/np"), "{first}");
    let (code, again, err) = netpulse(&["check-config", "--config", saved.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "the printed file loads: {err}");
    assert_eq!(again, first, "loaded back, the same configuration is in effect");
}

#[test]
fn secrets_are_not_printed_by_check_config() {
    let secrets = [
        ("NETPULSE_ADMIN_TOKEN", "np_super_secret_value_123456"),
        ("NETPULSE_ADMIN_EMAIL", "owner@example.com"),
        ("NETPULSE_ADMIN_PASSWORD", "super_secret_password"),
        ("NETPULSE_SMTP__PASSWORD", "super_secret_smtp"),
    ];
    let (code, out, err) = netpulse(&["check-config"], &secrets);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("super_secret"), "{out}");
}
