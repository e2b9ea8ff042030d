//! Monitors as code: `netpulse plan`, `apply` and `export` (the CLI's own function, as the
//! binary runs it) against a real engine over HTTP, with files in YAML and TOML.

use crate::dashboard::{browse, csrf};
use crate::harness::{now_secs, spawn_app, Receiver, TestApp, TOKEN};
use clap::Parser;
use netpulse_engine::as_code::{run, Command, Outcome};
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Run `netpulse ARGS --url <app> --token <token>` with `env` as the environment.
pub(crate) async fn netpulse(app: &TestApp, token: &str, args: &[&str], env: &HashMap<&str, String>) -> Outcome {
    let url = format!("http://{}", app.addr);
    let mut argv = vec!["netpulse"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--url", &url, "--token", token]);
    let cli = Cli::try_parse_from(argv).expect("the command line parses");
    run(cli.command, &|k| env.get(k).cloned()).await
}

/// A file in `dir` with `text`; its path.
pub(crate) fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write the file");
    path.to_string_lossy().into_owned()
}

/// A time `secs` from now, to the minute, as the API writes times.
fn from_now(secs: i64) -> String {
    netpulse_core::Timestamp::from_millis((now_secs() + secs) / 60 * 60_000).to_rfc3339()
}

fn in_days(days: i64) -> String {
    from_now(days * 86_400)
}

/// The file of the first tests: two monitors, a webhook channel, a status page, a window and alerting defaults.
fn organisation(site: &str, interval_s: u32, with_worker: bool) -> String {
    let worker = if with_worker {
        "  - name: worker\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n    paused: true\n    channels: []\n"
    } else {
        ""
    };
    format!(
        r#"alerting:
  policy:
    confirm_threshold: 2
    escalate_to: [ops]
  storm_threshold: 7
channels:
  - name: ops
    kind: webhook
    url: ${{HOOK_URL}}
    secret: ${{HOOK_SECRET}}
    notify_degraded: true
monitors:
  - name: api
    kind: http
    url: {site}
    interval_s: {interval_s}
    tags: [prod]
    channels: [ops]
    policy:
      reminder_interval_s: none
{worker}status_pages:
  - slug: acme
    title: Acme status
    monitors:
      - monitor: api
        display_name: Public API
maintenance:
  - name: database upgrade
    monitors: [api]
    starts_at: {}
    ends_at: {}
    announce: true
"#,
        in_days(1),
        in_days(2)
    )
}

fn env_for(hook: &Receiver) -> HashMap<&'static str, String> {
    HashMap::from([("HOOK_URL", hook.url()), ("HOOK_SECRET", "whsec_0123456789abcdef0123".to_owned())])
}

pub(crate) async fn list(app: &TestApp, path: &str) -> Vec<Value> {
    let (status, body) = app.api("GET", path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body["data"].as_array().cloned().unwrap_or_default()
}

/// Every object's definition and `updated_at` as the API shows them (to see that nothing changed).
async fn snapshot(app: &TestApp) -> Value {
    let mut monitors = list(app, "/api/v1/monitors").await;
    let mut windows = Vec::new();
    for m in &mut monitors {
        windows.extend(list(app, &format!("/api/v1/monitors/{}/maintenance", m["id"].as_str().unwrap())).await);
        m.as_object_mut().unwrap().retain(|k, _| !["status", "uptime_24h"].contains(&k.as_str()));
    }
    let mut channels = list(app, "/api/v1/channels").await;
    channels.iter_mut().for_each(|c| {
        c.as_object_mut().unwrap().remove("health");
    });
    let (_, settings) = app.api("GET", "/api/v1/settings/alerting", None).await;
    json!({ "monitors": monitors, "channels": channels, "pages": list(app, "/api/v1/status-pages").await,
            "windows": windows, "settings": settings })
}

pub(crate) fn named<'a>(items: &'a [Value], name: &str) -> &'a Value {
    items.iter().find(|i| i["name"] == name).unwrap_or_else(|| panic!("no {name} in {items:?}"))
}

#[tokio::test]
async fn apply_creates_what_the_file_declares_and_again_changes_nothing() {
    let app = spawn_app().await;
    let hook = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "netpulse.yaml", &organisation("http://127.0.0.1:9/health", 30, true));
    let env = env_for(&hook);

    let out = netpulse(&app, TOKEN, &["apply", "-f", &file], &env).await;
    assert_eq!(out.code, 0, "{out:?}");
    for line in [
        "+ create channel \"ops\"",
        "+ create monitor \"api\"",
        "+ create monitor \"worker\"",
        "+ create status page \"acme\"",
        "+ create maintenance window \"database upgrade\"",
        "~ change alerting defaults: policy.confirm_threshold",
    ] {
        assert!(out.stdout.contains(line), "{line} in {}", out.stdout);
    }

    let channels = list(&app, "/api/v1/channels").await;
    let ops = named(&channels, "ops");
    assert_eq!(
        (ops["kind"].as_str(), ops["url"].as_str(), ops["notify_degraded"].as_bool()),
        (Some("webhook"), Some(hook.url().as_str()), Some(true))
    );
    let monitors = list(&app, "/api/v1/monitors").await;
    let api = named(&monitors, "api");
    assert_eq!(api["interval_s"], 30);
    assert_eq!(api["url"], "http://127.0.0.1:9/health");
    assert_eq!(api["tags"], json!(["prod"]));
    assert_eq!(api["channels"], json!([ops["id"]]));
    assert_eq!(api["policy"]["reminder_interval_s"], Value::Null, "none: no reminders");
    let worker = named(&monitors, "worker");
    assert_eq!(
        (worker["kind"].as_str(), worker["paused"].as_bool(), &worker["channels"]),
        (Some("tcp"), Some(true), &json!([]))
    );
    let (_, settings) = app.api("GET", "/api/v1/settings/alerting", None).await;
    assert_eq!(
        (settings["policy"]["confirm_threshold"].as_u64(), settings["storm_threshold"].as_u64()),
        (Some(2), Some(7))
    );
    assert_eq!(settings["policy"]["escalate_to"], json!([ops["id"]]));
    let pages = list(&app, "/api/v1/status-pages").await;
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0]["monitors"], json!([{ "monitor_id": api["id"], "display_name": "Public API", "group": "" }]));
    let windows = list(&app, &format!("/api/v1/monitors/{}/maintenance", api["id"].as_str().unwrap())).await;
    assert_eq!(windows.len(), 1);
    assert_eq!(
        (windows[0]["reason"].as_str(), windows[0]["announce"].as_bool()),
        (Some("database upgrade"), Some(true))
    );

    let before = snapshot(&app).await;
    let out = netpulse(&app, TOKEN, &["apply", "-f", &file], &env).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "No changes: the organisation matches the file.\n"), "{out:?}");
    let out = netpulse(&app, TOKEN, &["plan", "-f", &file], &env).await;
    assert_eq!(out.code, 0, "plan exits 0 when nothing is pending: {out:?}");
    assert_eq!(snapshot(&app).await, before, "a second apply changed nothing");
}

#[tokio::test]
async fn an_edited_field_is_one_planned_change_and_apply_changes_only_it() {
    let app = spawn_app().await;
    let hook = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&hook);
    let text = organisation("http://127.0.0.1:9/health", 60, true);
    let file = write(&dir, "netpulse.yaml", &text);
    assert_eq!(netpulse(&app, TOKEN, &["apply", "-f", &file], &env).await.code, 0);
    let before = snapshot(&app).await;

    let file = write(&dir, "netpulse.yaml", &text.replace("interval_s: 60", "interval_s: 30"));
    let out = netpulse(&app, TOKEN, &["plan", "-f", &file], &env).await;
    assert_eq!(out.code, 2, "plan exits 2 while changes are pending: {out:?}");
    assert_eq!(
        out.stdout,
        "~ change monitor \"api\": interval_s 60 → 30\nPlan: 0 to create, 1 to change, 0 to delete.\n"
    );
    assert_eq!(snapshot(&app).await, before, "plan changes nothing");

    let out = netpulse(&app, TOKEN, &["apply", "-f", &file], &env).await;
    assert_eq!(out.code, 0, "{out:?}");
    let after = snapshot(&app).await;
    let monitors = after["monitors"].as_array().unwrap();
    assert_eq!(named(monitors, "api")["interval_s"], 30);
    let old = before["monitors"].as_array().unwrap();
    assert_eq!(named(monitors, "worker"), named(old, "worker"), "the other monitor is untouched");
    let mut was = named(old, "api").clone();
    let mut now = named(monitors, "api").clone();
    for m in [&mut was, &mut now] {
        m.as_object_mut().unwrap().retain(|k, _| !["interval_s", "updated_at"].contains(&k.as_str()));
    }
    assert_eq!(was, now, "only interval_s changed");
    for k in ["channels", "pages", "windows", "settings"] {
        assert_eq!(after[k], before[k], "{k} untouched");
    }
}

#[tokio::test]
async fn an_object_left_out_is_kept_unless_pruned() {
    let app = spawn_app().await;
    let hook = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&hook);
    let file = write(&dir, "netpulse.yaml", &organisation("http://127.0.0.1:9/", 60, true));
    assert_eq!(netpulse(&app, TOKEN, &["apply", "-f", &file], &env).await.code, 0);

    let file = write(&dir, "netpulse.yaml", &organisation("http://127.0.0.1:9/", 60, false));
    let out = netpulse(&app, TOKEN, &["apply", "-f", &file], &env).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("  monitor \"worker\": not in the file (kept; --prune deletes)\n"), "{}", out.stdout);
    assert_eq!(list(&app, "/api/v1/monitors").await.len(), 2, "kept without --prune");

    let out = netpulse(&app, TOKEN, &["plan", "-f", &file, "--prune"], &env).await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (2, "- delete monitor \"worker\"\nPlan: 0 to create, 0 to change, 1 to delete.\n")
    );
    let out = netpulse(&app, TOKEN, &["apply", "-f", &file, "--prune"], &env).await;
    assert_eq!(out.code, 0, "{out:?}");
    let monitors = list(&app, "/api/v1/monitors").await;
    assert_eq!(
        monitors.iter().map(|m| m["name"].as_str().unwrap()).collect::<Vec<_>>(),
        ["api"],
        "deleted with --prune"
    );
}

/// Export an organisation made through the API, apply the file to an empty engine, export
/// that: the same file, in YAML and in TOML.
#[tokio::test]
async fn export_applied_to_an_empty_engine_exports_the_same_file() {
    let source = spawn_app().await;
    let hook = Receiver::start().await;
    let (_, ch) = source
        .api("POST", "/api/v1/channels", Some(json!({ "name": "on-call team", "kind": "webhook", "url": hook.url() })))
        .await;
    let (_, chat) = source.api("POST", "/api/v1/channels", Some(json!({ "name": "chat", "kind": "slack", "url": format!("{}/services/T000/B000/XXXXXXXXXXXXXXXX", hook.url()), "enabled": false }))).await;
    let (status, _) = source.api("PUT", "/api/v1/settings/alerting", Some(json!({ "policy": { "quorum": null, "escalate_after_s": 600, "escalate_to": [ch["id"]] }, "storm_window_s": 120 }))).await;
    assert_eq!(status, 200);
    let parent = source
        .create_monitor(json!({ "name": "db", "kind": "tcp", "host": "127.0.0.1", "port": 9, "paused": true }))
        .await;
    let api = source.create_monitor(json!({
        "name": "api", "kind": "http", "url": "http://probe:pw0rd@127.0.0.1:9/?api_token=t0ken&page=2", "method": "HEAD", "interval_s": 120, "timeout_ms": 5000,
        "headers": [{ "name": "Authorization", "value": "Bearer s3cret" }], "keyword": "ok", "retries": 2,
        "channels": [chat["id"]], "depends_on": parent, "paused": true, "policy": { "notify_on_resolve": false, "quorum": 2 },
    })).await;
    source.create_monitor(json!({ "name": "cron", "kind": "heartbeat", "grace_s": 300 })).await;
    let search = json!({ "name": "search", "kind": "http", "url": "http://127.0.0.1:9/q", "method": "POST", "body": "{\"q\": \"${not_a_variable}\"}", "paused": true });
    source.create_monitor(search).await;
    let (status, _) = source.api("POST", "/api/v1/status-pages", Some(json!({ "slug": "acme", "title": "Acme", "message": "All good",
        "monitors": [{ "monitor_id": api, "display_name": "API", "group": "Core" }, { "monitor_id": parent, "display_name": "db" }] }))).await;
    assert_eq!(status, 201);
    for m in [&api, &parent] {
        let w =
            json!({ "reason": "upgrade", "starts_at": in_days(1), "ends_at": in_days(2), "repeat_every_s": 604_800 });
        assert_eq!(source.api("POST", &format!("/api/v1/monitors/{m}/maintenance"), Some(w)).await.0, 201);
    }

    let none = HashMap::new();
    for (format, name) in [("yaml", "export.yaml"), ("toml", "export.toml")] {
        let first = netpulse(&source, TOKEN, &["export", "--format", format], &none).await;
        assert_eq!(first.code, 0, "{first:?}");
        for secret in ["s3cret", "XXXXXXXX", "probe", "pw0rd", "t0ken"] {
            assert!(!first.stdout.contains(secret), "no {secret} in the file: {}", first.stdout);
        }
        assert!(
            first.stdout.contains("$${not_a_variable}"),
            "a `${{` of the organisation's own is escaped: {}",
            first.stdout
        );
        let url = "${API_URL_USER}:${API_URL_PASSWORD}@127.0.0.1:9/?api_token=${API_URL_API_TOKEN}&page=2";
        assert!(first.stdout.contains(url), "{}", first.stdout);
        let vars = ["ON_CALL_TEAM_SECRET", "CHAT_URL", "API_HEADER_AUTHORIZATION", "API_URL_USER", "API_URL_PASSWORD"];
        for var in vars.into_iter().chain(["API_URL_API_TOKEN"]) {
            assert!(first.stdout.contains(&format!("#   {var}\n")), "{var} listed: {}", first.stdout);
        }
        let env = HashMap::from([
            ("ON_CALL_TEAM_SECRET", "whsec_0123456789abcdef0123".to_owned()),
            ("CHAT_URL", format!("{}/services/T000/B000/YYYYYYYYYYYYYYYY", hook.url())),
            ("API_HEADER_AUTHORIZATION", "Bearer s3cret".to_owned()),
            ("API_URL_USER", "probe".to_owned()),
            ("API_URL_PASSWORD", "pw0rd".to_owned()),
            ("API_URL_API_TOKEN", "t0ken".to_owned()),
        ]);
        let empty = spawn_app().await;
        let dir = tempfile::tempdir().unwrap();
        let file = write(&dir, name, &first.stdout);
        let out = netpulse(&empty, TOKEN, &["apply", "-f", &file], &env).await;
        assert_eq!(out.code, 0, "{format}: {out:?}\n{}", first.stdout);
        let second = netpulse(&empty, TOKEN, &["export", "--format", format], &none).await;
        assert_eq!(second.stdout, first.stdout, "{format}: the round trip is exact");
        let out = netpulse(&empty, TOKEN, &["plan", "-f", &file], &env).await;
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "No changes: the organisation matches the file.\n"),
            "{format}"
        );
    }
}

/// A missing variable, an unknown field, a dangling reference, a name used twice: each
/// refused naming the path, before anything is sent.
#[tokio::test]
async fn bad_files_are_refused_naming_the_path_and_change_nothing() {
    let app = spawn_app().await;
    let hook = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let good = organisation("http://127.0.0.1:9/", 60, true);
    let before = snapshot(&app).await;
    let cases = [
        (
            good.clone(),
            "netpulse.yaml",
            HashMap::from([("HOOK_URL", hook.url())]),
            "netpulse.yaml: channels[0].secret: environment variable HOOK_SECRET is not set",
        ),
        (
            good.replace("    interval_s: 60", "    interval_s: 60\n    intervall_s: 30"),
            "netpulse.yaml",
            env_for(&hook),
            "monitors[0].intervall_s: unknown field `intervall_s`",
        ),
        (
            good.replace("port: 9", "port: 9\n    colour: red"),
            "netpulse.yaml",
            env_for(&hook),
            "monitors[1].colour: unknown field `colour`",
        ),
        (
            good.replace("    notify_degraded: true", "    notify_degraded: true\n    colour: red"),
            "netpulse.yaml",
            env_for(&hook),
            "channels[0].colour: unknown field; a channel (besides its name) takes kind, url, secret",
        ),
        (
            good.replace("    title: Acme status", "    title: Acme status\n    colour: red"),
            "netpulse.yaml",
            env_for(&hook),
            "status_pages[0].colour: unknown field; a status page (besides its slug) takes",
        ),
        (
            good.replace("    announce: true", "    announce: true\n    colour: red"),
            "netpulse.yaml",
            env_for(&hook),
            "maintenance[0].colour: unknown field; a window (besides its name) takes",
        ),
        (
            good.replace("  storm_threshold: 7", "  storm_treshold: 7"),
            "netpulse.yaml",
            env_for(&hook),
            "alerting.storm_treshold: unknown field; `alerting` takes policy, storm_threshold, storm_window_s",
        ),
        (
            good.replace("      - monitor: api", "      - monitor: apii"),
            "netpulse.yaml",
            env_for(&hook),
            "status_pages[0].monitors[0].monitor: no monitor named \"apii\" in the file",
        ),
        (
            good.replace("channels: [ops]", "channels: [opps]"),
            "netpulse.yaml",
            env_for(&hook),
            "monitors[0].channels[0]: no channel named \"opps\" in the file",
        ),
        (
            good.replace("monitors: [api]", "monitors: [apj]"),
            "netpulse.yaml",
            env_for(&hook),
            "maintenance[0].monitors[0]: no monitor named \"apj\" in the file",
        ),
        (
            good.replace("escalate_to: [ops]", "escalate_to: [pager]"),
            "netpulse.yaml",
            env_for(&hook),
            "alerting.policy.escalate_to[0]: no channel named \"pager\" in the file",
        ),
        (
            good.replace("name: worker", "name: api"),
            "netpulse.yaml",
            env_for(&hook),
            "monitors[1].name: \"api\" is also monitors[0]'s name",
        ),
        (
            "[[monitors]]\nname = \"x\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n[monitors.policy]\nconfirm = 2\n"
                .into(),
            "netpulse.toml",
            HashMap::new(),
            "monitors[0].policy.confirm: unknown field; a policy takes confirm_threshold, ",
        ),
        (
            "[[monitors]]\nname = \"x\"\nkind = \"tcp\"\nhost = \"h\"\nport = \"one\"\n".into(),
            "netpulse.toml",
            HashMap::new(),
            "monitors[0].port: invalid type: string \"one\"",
        ),
        (
            "teams = []\n".into(),
            "netpulse.toml",
            HashMap::new(),
            "teams: unknown field; a file takes alerting, channels, monitors, status_pages, maintenance",
        ),
    ];
    for (text, name, env, says) in cases {
        let file = write(&dir, name, &text);
        for command in ["plan", "apply"] {
            let out = netpulse(&app, TOKEN, &[command, "-f", &file], &env).await;
            assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{command} {says}: {out:?}");
            assert!(out.stderr.contains(says), "{command}: `{says}` in {}", out.stderr);
        }
    }
    assert_eq!(snapshot(&app).await, before, "nothing changed");
}

/// A read token may plan (nothing is hidden from it here), but `apply` gets the API's 403, said clearly.
#[tokio::test]
async fn a_read_token_cannot_apply() {
    let app = spawn_app().await;
    let hook = Receiver::start().await;
    let (status, tok) = app.api("POST", "/api/v1/tokens", Some(json!({ "name": "ci", "scope": "read" }))).await;
    assert_eq!(status, 201, "{tok}");
    let read = tok["token"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file =
        write(&dir, "netpulse.yaml", "monitors:\n  - name: api\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n");
    let out = netpulse(&app, read, &["plan", "-f", &file], &env_for(&hook)).await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (2, "+ create monitor \"api\"\nPlan: 1 to create, 0 to change, 0 to delete.\n"),
        "{out:?}"
    );
    let out = netpulse(&app, read, &["apply", "-f", &file], &env_for(&hook)).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.starts_with("apply stopped after 0 step(s): POST /api/v1/monitors: 403 "), "{}", out.stderr);
    assert!(out.stderr.contains("use a token with write access"), "{}", out.stderr);
    assert!(list(&app, "/api/v1/monitors").await.is_empty(), "nothing created");
}

/// What `apply` creates is marked as kept by a file: the API says so, the dashboard tags
/// it, the monitor's edit form warns before an edit, and an edit there keeps the mark.
#[tokio::test]
async fn what_apply_creates_is_marked_managed_and_the_edit_form_warns() {
    let app = spawn_app().await;
    let hook = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "netpulse.yaml", &organisation("http://127.0.0.1:9/", 60, true));
    assert_eq!(netpulse(&app, TOKEN, &["apply", "-f", &file], &env_for(&hook)).await.code, 0);
    let by_hand = app.create_monitor(json!({ "name": "by hand", "kind": "tcp", "host": "127.0.0.1", "port": 9 })).await;

    let monitors = list(&app, "/api/v1/monitors").await;
    let api = named(&monitors, "api");
    assert_eq!((api["managed_by"].as_str(), named(&monitors, "by hand")["managed_by"].as_str()), (Some("file"), None));
    assert_eq!(named(&list(&app, "/api/v1/channels").await, "ops")["managed_by"], "file");

    let id = api["id"].as_str().unwrap();
    let edit = format!("/monitors/{id}/edit");
    let app = &app;
    let html = |path: String| async move { browse(app, "GET", &path, &[]).await.html };
    let form = html(edit.clone()).await;
    assert!(form.contains("<strong>Managed by a file:</strong> edits here are overwritten by the next"), "{form}");
    assert!(html(format!("/monitors/{id}")).await.contains(">managed by a file<"), "the monitor's page tags it");
    assert!(
        !html(format!("/monitors/{by_hand}/edit")).await.contains("Managed by a file"),
        "no warning on a monitor made by hand"
    );
    assert!(!html(format!("/monitors/{by_hand}")).await.contains("managed by a file"));
    assert!(html("/channels".into()).await.contains(">managed by a file<"), "the channel list tags it");

    let token = csrf(app, &edit).await;
    let changes = [
        ("csrf", token.as_str()),
        ("name", "api"),
        ("url", "http://127.0.0.1:9/"),
        ("interval_s", "120"),
        ("tags", "prod"),
    ];
    let page = browse(app, "POST", &edit, &changes).await;
    assert_eq!(page.status, 303, "the form saves: {}", page.html);
    let after = app.monitor(id).await;
    assert_eq!(
        (after["interval_s"].as_u64(), after["managed_by"].as_str()),
        (Some(120), Some("file")),
        "an edit keeps the mark"
    );
    let out = netpulse(app, TOKEN, &["plan", "-f", &file], &env_for(&hook)).await;
    assert!(
        out.stdout.contains("~ change monitor \"api\": interval_s 120 → 60\n"),
        "the next apply would undo it: {}",
        out.stdout
    );
}

/// A file that changes a monitor's kind is refused before anything changes (the API cannot
/// change a kind), and a repeating window the engine moved on to its next occurrence still
/// matches the file that scheduled its first.
#[tokio::test]
async fn a_kind_change_is_refused_and_a_moved_repeating_window_still_matches() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let none = HashMap::new();
    let (start, end) = (from_now(-3 * 86_400), from_now(-3 * 86_400 + 3_600));
    let text = format!(
        "monitors:\n  - name: db\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\nmaintenance:\n  - name: nightly\n    monitors: [db]\n    starts_at: {start}\n    ends_at: {end}\n    repeat_every_s: 86400\n"
    );
    let file = write(&dir, "netpulse.yaml", &text);
    let out = netpulse(&app, TOKEN, &["apply", "-f", &file], &none).await;
    assert_eq!(out.code, 0, "{out:?}");
    let db = list(&app, "/api/v1/monitors").await[0]["id"].as_str().unwrap().to_owned();
    let windows = list(&app, &format!("/api/v1/monitors/{db}/maintenance")).await;
    assert_ne!(
        windows[0]["starts_at"].as_str(),
        Some(start.as_str()),
        "the engine moved it to its next occurrence: {windows:?}"
    );
    let out = netpulse(&app, TOKEN, &["plan", "-f", &file], &none).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "No changes: the organisation matches the file.\n"));

    let before = snapshot(&app).await;
    let file = write(
        &dir,
        "netpulse.yaml",
        &text.replace("kind: tcp\n    host: 127.0.0.1\n    port: 9", "kind: ping\n    host: 127.0.0.1"),
    );
    let out = netpulse(&app, TOKEN, &["apply", "-f", &file], &none).await;
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    assert!(
        out.stderr.contains(
            "monitor \"db\" is a \"tcp\" monitor in the organisation, the file makes it \"ping\": a kind cannot change"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(snapshot(&app).await, before, "nothing changed");
}
