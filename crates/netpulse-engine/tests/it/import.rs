//! `netpulse import gatus FILE` and `netpulse import kuma FILE`: a realistic Gatus
//! configuration and Uptime Kuma backup (written from their documented formats,
//! import_samples/) become NetPulse files whose objects carry the mappings, with a report of
//! what was skipped or approximated; each file is accepted by `plan` against a fresh engine,
//! `apply` creates what it declares, and a second `plan` finds nothing to change.

use crate::as_code::{list, named, netpulse, write};
use crate::harness::{spawn_app_adjusted, TOKEN};
use clap::Parser;
use netpulse_engine::as_code::{run, Command, Outcome};
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const GATUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/import_samples/gatus.yaml");

async fn import(args: &[&str]) -> Outcome {
    let mut argv = vec!["netpulse", "import"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("the command line parses");
    run(cli.command, &|_| None).await
}

/// The object of `section` named `name` in a written file.
fn object<'a>(file: &'a Value, section: &str, name: &str) -> &'a Value {
    let items = file[section].as_array().unwrap_or_else(|| panic!("no {section} in {file}"));
    items.iter().find(|i| i["name"] == name).unwrap_or_else(|| panic!("no {name} in {section}"))
}

#[tokio::test]
async fn a_gatus_config_becomes_a_file_with_each_mapping_and_a_report() {
    let out = import(&["gatus", GATUS]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let file: Value = serde_norway::from_str(&out.stdout).expect("the file is YAML");

    let website = object(&file, "monitors", "website");
    assert_eq!(website["kind"], "http");
    assert_eq!(website["url"], "https://example.org/");
    assert_eq!(website["interval_s"], 300, "interval 5m");
    assert_eq!(website["expected_status"], "200", "[STATUS] == 200");
    assert_eq!(website["assertions"], json!(["status != 503"]), "a second [STATUS] condition");
    assert_eq!(website["keyword"], "Example Domain", "[BODY] == pat(*Example Domain*)");
    assert_eq!(website["degraded_after_ms"], 300, "[RESPONSE_TIME] < 300");
    assert_eq!(website["tags"], json!(["core"]), "the group is a tag");
    assert_eq!(website["channels"], json!(["slack", "pagerduty"]));
    assert_eq!(
        website["policy"],
        json!({ "confirm_threshold": 2, "recovery_threshold": 2, "notify_on_resolve": true }),
        "the smallest thresholds of its alerts (slack's default-alert: 2; pagerduty's success 3 vs default 2)"
    );
    let cert = object(&file, "monitors", "website certificate");
    assert_eq!((&cert["kind"], &cert["host"], &cert["warn_days"]), (&json!("tls"), &json!("example.org"), &json!(10)));

    let api = object(&file, "monitors", "api-health");
    assert_eq!((&api["method"], &api["body"]), (&json!("POST"), &json!("{\"probe\": true}")));
    assert_eq!(api["expected_status"], "100-299", "[STATUS] < 300");
    assert_eq!(
        api["assertions"],
        json!([r#"$.status == "UP""#, "$.data.items.length > 0", r#"$.version matches "^2\\..*$""#]),
        "a glob is a regular expression, written as a JSON string"
    );
    assert_eq!(
        (&api["verify_tls"], &api["timeout_ms"]),
        (&json!(false), &json!(5000)),
        "client.insecure, client.timeout"
    );
    assert_eq!(
        api["headers"],
        json!([{ "name": "Authorization", "value": "${API_HEALTH_HEADER_AUTHORIZATION}" },
               { "name": "Content-Type", "value": "application/json" }]),
        "a credential header is a placeholder, never the secret"
    );
    assert_eq!(api["channels"], json!(["custom"]));
    assert!(!out.stdout.contains("abcdef123456") && !out.stdout.contains("s3cr3t"), "no secret in the file");

    let postgres = object(&file, "monitors", "postgres");
    assert_eq!(
        (&postgres["kind"], &postgres["host"], &postgres["port"]),
        (&json!("tcp"), &json!("10.0.0.12"), &json!(5432))
    );
    assert_eq!(postgres["channels"], json!(["ntfy", "email"]), "the disabled telegram alert is left out");
    assert_eq!(postgres["policy"]["notify_on_resolve"], false, "Gatus's send-on-resolved defaults to false");
    let gateway = object(&file, "monitors", "gateway");
    assert_eq!(
        (&gateway["kind"], &gateway["host"], &gateway["degraded_after_ms"]),
        (&json!("ping"), &json!("192.0.2.1"), &json!(50))
    );
    assert_eq!(gateway["channels"], json!([]), "an endpoint without alerts notifies no channel");
    let dns = object(&file, "monitors", "example-dns");
    assert_eq!(
        (&dns["kind"], &dns["query"], &dns["expected"], &dns["resolver"]),
        (&json!("dns"), &json!("example.org"), &json!("93.184.215.14"), &json!("8.8.8.8:53"))
    );
    let mail = object(&file, "monitors", "mail-cert");
    assert_eq!((&mail["kind"], &mail["port"], &mail["warn_days"]), (&json!("tls"), &json!(465), &json!(2)));
    assert_eq!(object(&file, "monitors", "token-check")["url"], "https://api.example.org/v2/ping?env=${DEPLOY_ENV}");
    assert_eq!(object(&file, "monitors", "token-check")["expected_status"], "200,204");
    let backup = object(&file, "monitors", "nightly-backup");
    assert_eq!((&backup["kind"], &backup["grace_s"]), (&json!("heartbeat"), &json!(86_400)), "26h, at most a day");

    let slack = object(&file, "channels", "slack");
    assert_eq!((&slack["kind"], &slack["url"]), (&json!("slack"), &json!("${SLACK_URL}")));
    assert_eq!(
        object(&file, "channels", "pagerduty")["secret"],
        "${PAGERDUTY_KEY}",
        "the source's own variable is kept"
    );
    let telegram = object(&file, "channels", "telegram");
    assert_eq!((&telegram["chat_id"], &telegram["secret"]), (&json!("-1001234567890"), &json!("${TELEGRAM_SECRET}")));
    let ntfy = object(&file, "channels", "ntfy");
    assert_eq!((&ntfy["url"], &ntfy["topic"]), (&json!("https://ntfy.example.com/"), &json!("${NTFY_TOPIC}")));
    assert_eq!(object(&file, "channels", "email")["url"], "ops@example.org, oncall@example.org");
    let custom = object(&file, "channels", "custom");
    assert_eq!(custom["kind"], "templated_webhook");
    assert_eq!(custom["body_template"], "{\"text\": \"{{event}}: {{monitor.name}} - {{summary}}\"}\n");
    assert_eq!(custom["headers"], json!({ "X-Api-Key": "${CUSTOM_HEADER_X_API_KEY}" }));
    assert_eq!(custom["content_type"], "application/json");
    // Every provider key as Gatus's own config structs name it (alerting/provider/*/*.go).
    for (name, kind, key, value) in [
        ("discord", "discord", "url", "${DISCORD_URL}"),
        ("teams-workflows", "teams", "url", "${TEAMS_WORKFLOWS_URL}"),
        ("googlechat", "google_chat", "url", "${GOOGLECHAT_URL}"),
        ("gotify", "gotify", "url", "https://gotify.example.org/"),
        ("gotify", "gotify", "secret", "${GOTIFY_SECRET}"),
        ("matrix", "matrix", "room_id", "!ops:example.org"),
        ("matrix", "matrix", "secret", "${MATRIX_SECRET}"),
        ("opsgenie", "opsgenie", "secret", "${OPSGENIE_SECRET}"),
        ("pushover", "pushover", "secret", "${PUSHOVER_SECRET}"),
        ("pushover", "pushover", "user_key", "${PUSHOVER_USER_KEY}"),
    ] {
        let channel = object(&file, "channels", name);
        assert_eq!((&channel["kind"], &channel[key]), (&json!(kind), &json!(value)), "{name}.{key}");
    }

    let names = |section: &str| -> Vec<String> {
        file[section].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect()
    };
    assert!(
        !names("monitors").iter().any(|n| ["ssh", "legacy", "typo"].contains(&n.as_str())),
        "{:?}",
        names("monitors")
    );
    assert_eq!(object(&file, "monitors", "eu/frontend")["host"], "eu.example.org", "same names in two groups");
    assert!(!names("channels").contains(&"twilio".to_owned()));

    for line in [
        "imported 11 monitors, 13 channels\n",
        "  endpoint `frontend`: named `eu/frontend`: another endpoint has the same name (NetPulse names are unique)\n",
        "  endpoint `frontend`: named `us/frontend`: another endpoint has the same name (NetPulse names are unique)\n",
        "  endpoint `typo`: NetPulse would refuse its url: ",
        "  endpoint `ssh`: ssh:// checks are not supported by NetPulse\n",
        "  endpoint `legacy`: `enabled: false`\n",
        "  alerting.twilio: NetPulse has no channel of this kind; use a templated_webhook by hand\n",
        "  endpoint `api-health`: alert `twilio`: its provider is not configured or not imported\n",
        "  endpoint `api-health`: condition `[DOMAIN_EXPIRATION] > 720h`: `[DOMAIN_EXPIRATION]` is not mapped",
        "  endpoint `postgres`: alert `telegram`: `enabled: false`\n",
        "  `storage`: configures the Gatus server itself, not monitors; not imported\n",
        "  endpoint `website`: condition `[RESPONSE_TIME] < 300`: degraded_after_ms 300: slower is *degraded*",
        "  alerting.email.host: not imported: NetPulse sends mail through the engine's [smtp] settings\n",
        "  alerting.ntfy.priority: not imported (NetPulse has no such channel setting)\n",
        "  alerting.opsgenie.priority: not imported (NetPulse has no such channel setting)\n",
        "  external endpoint `nightly-backup`: heartbeat.interval 93600 s: grace_s 86400, NetPulse's longest\n",
        "  SLACK_URL: the value of alerting.slack.webhook-url\n",
        "  PAGERDUTY_KEY: (the source's own variable for alerting.pagerduty.integration-key)\n",
        "  DEPLOY_ENV: (the source's own variable, in endpoint `token-check`)\n",
        "  API_HEALTH_HEADER_AUTHORIZATION: a credential of a monitor's header or URL in the source\n",
    ] {
        assert!(out.stderr.contains(line), "{line:?} in the report:\n{}", out.stderr);
    }
}

/// Import `sample` from `source` to a file, `plan` it against a fresh engine (changes pending),
/// `apply` it, and `plan` again (nothing pending); the engine's channels and monitors.
async fn apply_imported(source: &str, sample: &str, env: &[(&'static str, &str)]) -> (Vec<Value>, Vec<Value>) {
    // The engine sends an imported e-mail channel's mail through its own SMTP server.
    let app = spawn_app_adjusted(|config| {
        config.smtp.host = "127.0.0.1".into();
        config.smtp.from = "netpulse@example.org".into();
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netpulse.yaml");
    let out = import(&[source, sample, "-o", path.to_str().unwrap()]).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");
    let file = path.to_string_lossy().into_owned();
    let env: HashMap<&str, String> = env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let plan = netpulse(&app, TOKEN, &["plan", "-f", &file], &env).await;
    assert_eq!(plan.code, 2, "changes pending: {plan:?}");
    let applied = netpulse(&app, TOKEN, &["apply", "-f", &file], &env).await;
    assert_eq!(applied.code, 0, "{applied:?}");
    let again = netpulse(&app, TOKEN, &["plan", "-f", &file], &env).await;
    assert_eq!(again.code, 0, "applied: nothing pending: {again:?}");
    (list(&app, "/api/v1/channels").await, list(&app, "/api/v1/monitors").await)
}

#[tokio::test]
async fn the_imported_gatus_file_plans_and_applies_on_a_fresh_engine() {
    let env = [
        ("API_HEALTH_HEADER_AUTHORIZATION", "Bearer t"),
        ("CUSTOM_HEADER_X_API_KEY", "k"),
        ("DEPLOY_ENV", "set-by-test"),
        ("DISCORD_URL", "https://discord.com/api/webhooks/1/X"),
        ("GOOGLECHAT_URL", "https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t"),
        ("GOTIFY_SECRET", "Agotify-app-token"),
        ("MATRIX_SECRET", "syt_matrix_access_token"),
        ("NTFY_TOPIC", "topic"),
        ("OPSGENIE_SECRET", "00000000-0000-0000-0000-000000000000"),
        ("PAGERDUTY_KEY", "routing-key"),
        ("PUSHOVER_SECRET", "azGDORePK8gMaC0QOYAMyEEuzJnyUi"),
        ("PUSHOVER_USER_KEY", "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"),
        ("SLACK_URL", "https://hooks.slack.com/services/T0/B0/X"),
        (
            "TEAMS_WORKFLOWS_URL",
            "https://prod-00.westeurope.logic.azure.com/workflows/a/triggers/manual/paths/invoke?sig=s",
        ),
        ("TELEGRAM_SECRET", "123456:ABCdefGHIjklMNOpqrSTUvwxYZ"),
    ];
    let (channels, monitors) = apply_imported("gatus", GATUS, &env).await;
    assert_eq!(channels.len(), 13, "{channels:?}");
    assert_eq!(monitors.len(), 11);
    assert_eq!(named(&monitors, "us/frontend")["host"], "us.example.org");
    let api = named(&monitors, "api-health");
    assert_eq!(api["assertions"].as_array().map(Vec::len), Some(3));
    assert_eq!(api["channels"], json!([named(&channels, "custom")["id"]]));
    assert_eq!(api["url"], "https://api.example.org/health");
    assert_eq!(named(&monitors, "token-check")["url"], "https://api.example.org/v2/ping?env=set-by-test");
}

#[tokio::test]
async fn a_file_that_is_not_yaml_is_refused_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(&dir, "config.yaml", "endpoints:\n  - name: a\n    url: [unclosed\n");
    let out = import(&["gatus", &bad]).await;
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    assert!(out.stderr.contains("is not valid YAML") && out.stderr.contains("line 3"), "{}", out.stderr);
    let wrong = write(&dir, "list.yaml", "endpoints:\n  name: a\n");
    let out = import(&["gatus", &wrong]).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("endpoints: must be a list of endpoints"), "{}", out.stderr);
}

const KUMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/import_samples/kuma-backup.json");

#[tokio::test]
async fn a_kuma_backup_becomes_a_file_with_each_mapping_and_a_report() {
    let out = import(&["kuma", KUMA]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let file: Value = serde_norway::from_str(&out.stdout).expect("the file is YAML");

    let shop = object(&file, "monitors", "Shop");
    assert_eq!((&shop["kind"], &shop["url"]), (&json!("http"), &json!("https://shop.example.org/")));
    assert_eq!((&shop["interval_s"], &shop["timeout_ms"]), (&json!(30), &json!(24_000)));
    assert_eq!(shop["expected_status"], "200-299,301", "accepted_statuscodes");
    assert_eq!(shop["tags"], json!(["Production", "prod", "team:web"]), "its group, then its tags");
    assert_eq!(shop["channels"], json!(["Ops Slack", "Phone"]), "notificationIDList by name");
    assert_eq!(
        shop["policy"],
        json!({ "confirm_threshold": 3, "recovery_threshold": 1, "reminder_interval_s": 300 }),
        "maxretries 2 → 3 failures; resendInterval 10 beats of 30 s"
    );
    assert_eq!(shop["headers"][1], json!({ "name": "X-Api-Key", "value": "${SHOP_HEADER_X_API_KEY}" }));
    assert_eq!(object(&file, "monitors", "Shop certificate")["warn_days"], 21, "expiryNotification");
    let login = object(&file, "monitors", "Login page");
    assert_eq!(
        (&login["keyword"], &login["channels"]),
        (&json!("Sign in"), &json!(["Ops Telegram"])),
        "a notification switched off is left out"
    );
    assert_eq!(
        object(&file, "monitors", "Maintenance banner")["keyword_absent"],
        "down for maintenance",
        "invertKeyword"
    );
    let api = object(&file, "monitors", "API status");
    assert_eq!((&api["assertions"], &api["method"]), (&json!([r#"$.status == "ok""#]), &json!("POST")), "json-query");
    let db = object(&file, "monitors", "Database");
    assert_eq!(
        (&db["kind"], &db["port"], &db["paused"]),
        (&json!("tcp"), &json!(5432), &json!(true)),
        "inactive: paused"
    );
    assert_eq!(object(&file, "monitors", "Router")["kind"], "ping");
    let dns = object(&file, "monitors", "Resolver");
    assert_eq!((&dns["record_type"], &dns["resolver"]), (&json!("MX"), &json!("9.9.9.9:53")));
    let router2 = object(&file, "monitors", "Router 2");
    assert_eq!(
        (&router2["host"], &router2["channels"]),
        (&json!("192.0.2.253"), &json!(["Ops Slack 2"])),
        "names made unique"
    );
    assert_eq!(object(&file, "channels", "Ops Slack 2")["url"], "${OPS_SLACK_2_URL}");
    let push = object(&file, "monitors", "Nightly job");
    assert_eq!((&push["kind"], &push["grace_s"]), (&json!("heartbeat"), &json!(3600)));

    assert_eq!(object(&file, "channels", "Ops Slack")["url"], "${OPS_SLACK_URL}");
    let telegram = object(&file, "channels", "Ops Telegram");
    assert_eq!((&telegram["chat_id"], &telegram["secret"]), (&json!("-100555"), &json!("${OPS_TELEGRAM_SECRET}")));
    assert_eq!(object(&file, "channels", "Phone")["secret"], "${PHONE_SECRET}");
    assert_eq!(object(&file, "channels", "Receiver")["kind"], "webhook");
    assert_eq!(
        object(&file, "channels", "Mail")["url"],
        "ops@example.org, lead@example.org, cto@example.org",
        "smtpCC joins the recipients; smtpBCC does not"
    );
    // Every notification key as the provider reading it names it (server/notification-providers/*.js).
    for (name, kind, key, value) in [
        ("Ops Discord", "discord", "url", "${OPS_DISCORD_URL}"),
        ("Ops Teams", "teams", "url", "${OPS_TEAMS_URL}"),
        ("Ops Chat", "google_chat", "url", "${OPS_CHAT_URL}"),
        ("Ops Mattermost", "slack", "url", "${OPS_MATTERMOST_URL}"),
        ("On-call Genie", "opsgenie", "secret", "${ON_CALL_GENIE_SECRET}"),
        ("On-call Genie", "opsgenie", "region", "eu"),
        ("Phone", "pagerduty", "url", "https://events.pagerduty.com/v2/enqueue"),
    ] {
        let channel = object(&file, "channels", name);
        assert_eq!((&channel["kind"], &channel[key]), (&json!(kind), &json!(value)), "{name}.{key}");
    }
    assert!(
        !out.stdout.contains("kumaSecret") && !out.stdout.contains("shop-key-123") && !out.stdout.contains("mail-pw")
    );

    for line in [
        "imported 10 monitors, 11 channels\n",
        "  notification `Ops Slack`: named `Ops Slack 2`: another notification has the same name\n",
        "  monitor `Router`: named `Router 2`: another monitor has the same name\n",
        "  notification `Home Assistant`: type HomeAssistant: NetPulse has no channel of this kind\n",
        "  monitor `Redis container`: type docker: NetPulse has no such check\n",
        "  monitor `Broker`: type mqtt: NetPulse has no such check\n",
        "  monitor `Inverted`: upside-down mode (up when unreachable) has no NetPulse equivalent\n",
        "  notification `Ops Slack`: slackchannel: not imported",
        "  notification `Mail`: sent through the engine's [smtp] settings",
        "  notification `Mail`: smtpCC: its addresses are recipients like smtpTo's\n",
        "  notification `Mail`: smtpBCC: not imported: NetPulse's recipients see one another",
        "  notification `On-call Genie`: opsgeniePriority: not imported",
        "  group monitors: their names are tags of their members",
        "  OPS_SLACK_URL: the value of notification `Ops Slack`.slackwebhookURL\n",
    ] {
        assert!(out.stderr.contains(line), "{line:?} in the report:\n{}", out.stderr);
    }
    assert!(!out.stderr.contains("smtpHost"), "the mail server is reported once: {}", out.stderr);
}

#[tokio::test]
async fn the_imported_kuma_file_plans_and_applies_on_a_fresh_engine() {
    let env = [
        ("OPS_SLACK_URL", "https://hooks.slack.com/services/T1/B1/X"),
        ("OPS_SLACK_2_URL", "https://hooks.slack.com/services/T2/B2/X"),
        ("OPS_TELEGRAM_SECRET", "987654:ZYXwvuTSRqpONMlkjIHGfed"),
        ("PHONE_SECRET", "routing-key"),
        ("SHOP_HEADER_X_API_KEY", "k"),
        ("OPS_DISCORD_URL", "https://discord.com/api/webhooks/1/X"),
        ("OPS_TEAMS_URL", "https://example.webhook.office.com/webhookb2/X"),
        ("OPS_CHAT_URL", "https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t"),
        ("OPS_MATTERMOST_URL", "https://mattermost.example.org/hooks/X"),
        ("ON_CALL_GENIE_SECRET", "genie-key-0000"),
    ];
    let (channels, monitors) = apply_imported("kuma", KUMA, &env).await;
    assert_eq!(channels.len(), 11);
    assert_eq!(monitors.len(), 10);
    let shop = named(&monitors, "Shop");
    assert_eq!(shop["policy"]["confirm_threshold"], 3);
    assert_eq!(shop["channels"], json!([named(&channels, "Ops Slack")["id"], named(&channels, "Phone")["id"]]));
    assert_eq!(named(&monitors, "Database")["paused"], true);
}

#[tokio::test]
async fn a_file_that_is_not_a_kuma_backup_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(&dir, "backup.json", "{\"version\": \"1.23.0\",\n \"monitorList\": [\n");
    let out = import(&["kuma", &bad]).await;
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    assert!(out.stderr.contains("is not valid JSON") && out.stderr.contains("line 3"), "{}", out.stderr);
    let other = write(&dir, "other.json", "{\"monitors\": []}");
    let out = import(&["kuma", &other]).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("monitorList: is missing: this is not an Uptime Kuma backup"), "{}", out.stderr);
}
