//! Every channel kind against a local receiver: what every kind's message says (what, since
//! when, from which regions, why, the configured dashboard link), Slack, Discord and Teams payloads, PagerDuty
//! trigger → acknowledge → resolve on one dedup key, e-mail through an in-test SMTP server
//! (with a header-injection attempt), and the API's kind-specific validation.

use crate::harness::*;
use netpulse_pipeline::alerts::smtp::SmtpTls;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const ROUTING_KEY: &str = "R0UTINGKEY0123456789abcdefABCDEF";

fn http_monitor(name: &str, target: &Target) -> Value {
    json!({ "name": name, "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 800 })
}

async fn create_channel(app: &TestApp, body: Value) -> (String, Value) {
    let (status, json) = app.api("POST", "/api/v1/channels", Some(body)).await;
    assert_eq!(status, 201, "create channel: {json}");
    (json["id"].as_str().unwrap().to_owned(), json)
}

async fn requests(r: &Receiver, n: usize) -> Vec<Received> {
    wait_for(20, &format!("{n} requests"), || async {
        let got = r.received();
        (got.len() >= n).then_some(got)
    })
    .await
}

#[tokio::test]
async fn slack_discord_and_teams_say_what_since_when_where_why_with_a_link() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let (slack, discord, teams) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    let (slack_id, created) =
        create_channel(&app, json!({ "name": "s", "kind": "slack", "url": slack.url() + "/T000/B000/XXXXsecret" }))
            .await;
    assert!(created.get("secret").is_none(), "{created}");
    create_channel(&app, json!({ "name": "d", "kind": "discord", "url": discord.url() })).await;
    create_channel(&app, json!({ "name": "t", "kind": "teams", "url": teams.url() })).await;
    target.set_status(503);
    app.create_monitor(http_monitor("Checkout <!channel> API", &target)).await;

    let s = requests(&slack, 1).await[0].clone();
    assert_eq!(s.header("content-type"), "application/json");
    let a = &s.json()["attachments"][0];
    assert_eq!(a["color"], "#D93025", "red while down: {a}");
    assert_eq!(a["title"], "DOWN: Checkout &lt;!channel&gt; API", "Slack markup is escaped");
    assert!(a["title_link"].as_str().unwrap().contains("/incidents/inc_"));
    assert!(a["text"].as_str().unwrap().contains("is down since"), "{a}");
    let fields = a["fields"].to_string();
    let url = target.url();
    for fact in ["Down since", "Regions", "local", "503", url.as_str()] {
        assert!(fields.contains(fact), "{fact} missing from {fields}");
    }

    let d = requests(&discord, 1).await[0].json();
    assert_eq!(d["allowed_mentions"]["parse"], json!([]), "nobody gets pinged by a monitor name");
    let e = &d["embeds"][0];
    assert_eq!((e["color"].as_u64(), e["title"].as_str()), (Some(0xD93025), Some("DOWN: Checkout <!channel> API")));
    assert!(e["url"].as_str().unwrap().contains("/incidents/inc_") && e["fields"].to_string().contains("503"));

    let t = requests(&teams, 1).await[0].json();
    assert_eq!(t["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &t["attachments"][0]["content"];
    assert_eq!((card["type"].as_str(), card["body"][0]["color"].as_str()), (Some("AdaptiveCard"), Some("attention")));
    assert!(card["body"][2]["facts"].to_string().contains("503"), "{card}");
    assert!(card["actions"][0]["url"].as_str().unwrap().contains("/incidents/inc_"));

    target.set_status(200);
    assert_eq!(requests(&slack, 2).await[1].json()["attachments"][0]["color"], "#1E8E3E", "green when resolved");
    assert_eq!(requests(&discord, 2).await[1].json()["embeds"][0]["color"], 0x1E8E3E);
    assert_eq!(requests(&teams, 2).await[1].json()["attachments"][0]["content"]["body"][0]["color"], "good");

    let (_, shown) = app.api("GET", &format!("/api/v1/channels/{slack_id}"), None).await;
    assert!(!shown.to_string().contains("XXXXsecret"), "chat webhook URLs are masked: {shown}");
    let (_, body) = app.api("POST", &format!("/api/v1/channels/{slack_id}/test"), None).await;
    assert_eq!(body["delivered"], true, "{body}");
    assert!(requests(&slack, 3).await[2].json()["text"].as_str().unwrap().starts_with("TEST"));
}

#[tokio::test]
async fn pagerduty_trigger_acknowledge_and_resolve_share_one_dedup_key() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let pd = Receiver::start().await;
    pd.reply_with(&[(202, None), (202, None), (202, None)]);
    let (channel, created) =
        create_channel(&app, json!({ "name": "pd", "kind": "pagerduty", "url": pd.url(), "secret": ROUTING_KEY }))
            .await;
    assert!(!created.to_string().contains(ROUTING_KEY), "the routing key is never shown: {created}");
    target.set_status(503);
    let id = app.create_monitor(http_monitor("Checkout API", &target)).await;

    let trigger = requests(&pd, 1).await[0].json();
    let incident = app.incidents(&id).await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (trigger["event_action"].as_str(), trigger["routing_key"].as_str()),
        (Some("trigger"), Some(ROUTING_KEY))
    );
    assert_eq!(trigger["dedup_key"], incident.as_str(), "the dedup key is the incident id");
    let p = &trigger["payload"];
    assert!(p["summary"].as_str().unwrap().contains("Checkout API") && p["summary"].as_str().unwrap().contains("503"));
    let source = format!("GET {}", target.url());
    assert_eq!((p["source"].as_str(), p["severity"].as_str()), (Some(source.as_str()), Some("critical")));
    assert!(p["timestamp"].as_str().unwrap().ends_with('Z') && p["custom_details"]["regions"] == "local", "{p}");
    assert!(trigger["links"][0]["href"].as_str().unwrap().ends_with(&format!("/incidents/{incident}")));

    let (status, body) = app.api("POST", &format!("/api/v1/incidents/{incident}/acknowledge"), None).await;
    assert_eq!(status, 200, "{body}");
    let ack = requests(&pd, 2).await[1].json();
    assert_eq!(
        (ack["event_action"].as_str(), ack["dedup_key"].as_str()),
        (Some("acknowledge"), Some(incident.as_str()))
    );

    target.set_status(200);
    let resolve = requests(&pd, 3).await[2].json();
    assert_eq!((resolve["event_action"].as_str(), resolve["dedup_key"].as_str()), (Some("resolve"), Some(&*incident)));
    assert_eq!(pd.received().len(), 3, "one event per transition");

    let (_, listed) = app.api("GET", "/api/v1/channels", None).await;
    assert!(!listed.to_string().contains(ROUTING_KEY), "{listed}");
    let (_, body) = app.api("POST", &format!("/api/v1/channels/{channel}/test"), None).await;
    assert_eq!(body["delivered"], true, "{body}");
    let test = requests(&pd, 4).await[3].json();
    assert!(test["event_action"] == "trigger" && test["dedup_key"].as_str().unwrap().starts_with("test:"), "{test}");
    pd.reply_with(&[(400, None)]);
    let (_, body) = app.api("POST", &format!("/api/v1/channels/{channel}/test"), None).await;
    assert!(body["delivered"] == false && body["error"].as_str().unwrap().contains("400"), "{body}");
}

/// What the in-test SMTP server received in one session.
#[derive(Clone, Debug, Default)]
pub(crate) struct Mail {
    pub(crate) auth: Vec<String>,
    pub(crate) from: String,
    pub(crate) rcpt: Vec<String>,
    pub(crate) data: String,
}

/// A plain-text SMTP server on 127.0.0.1:0 that accepts everything and records it.
pub(crate) async fn smtp_server() -> (u16, Arc<Mutex<Vec<Mail>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
    let store = mails.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                let mut mail = Mail::default();
                w.write_all(b"220 test ESMTP\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("AUTH") {
                        mail.auth.push(line.clone());
                        b"235 ok\r\n"
                    } else if let Some(a) = line.strip_prefix("MAIL FROM:") {
                        mail.from = a.to_owned();
                        b"250 ok\r\n"
                    } else if let Some(a) = line.strip_prefix("RCPT TO:") {
                        mail.rcpt.push(a.to_owned());
                        b"250 ok\r\n"
                    } else if upper == "DATA" {
                        w.write_all(b"354 go on\r\n").await.unwrap();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            mail.data.push_str(l.strip_prefix('.').unwrap_or(&l));
                            mail.data.push_str("\r\n");
                        }
                        store.lock().unwrap().push(std::mem::take(&mut mail));
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    w.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, mails)
}

/// Undo quoted-printable (soft breaks and `=XX`).
pub(crate) fn unqp(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn email_goes_through_smtp_and_a_monitor_name_cannot_add_headers() {
    let (port, mails) = smtp_server().await;
    let app = spawn_app_adjusted(|config| {
        config.smtp.host = "127.0.0.1".into();
        config.smtp.port = port;
        config.smtp.from = "alerts@netpulse.test".into();
        config.smtp.username = "netpulse".into();
        config.smtp.password = netpulse_store::Secret::new("hunter22");
        config.smtp.tls = SmtpTls::None;
    })
    .await;
    let target = Target::start().await;
    let to = "ops@example.com, On-Call+np@example.org";
    let (channel, created) = create_channel(&app, json!({ "name": "mail", "kind": "email", "url": to })).await;
    assert_eq!(created["url"], to);
    target.set_status(503);
    // A name carrying a line break is refused at the API (so it can never reach a mail header;
    // the mail layer also flattens one, see alerts::email's `header_text` tests).
    let (status, refused) =
        app.api("POST", "/api/v1/monitors", Some(http_monitor("Checkout API\r\nBcc: x@evil.example", &target))).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (422, Some("name")), "{refused}");
    app.create_monitor(http_monitor("Checkout API Bcc: x@evil.example", &target)).await;

    let mail = wait_for(20, "a mail", || async { mails.lock().unwrap().first().cloned() }).await;
    assert_eq!(mail.auth, ["AUTH PLAIN AG5ldHB1bHNlAGh1bnRlcjIy"], "AUTH PLAIN of \\0netpulse\\0hunter22");
    assert_eq!(mail.from, "<alerts@netpulse.test>");
    assert_eq!(mail.rcpt, ["<ops@example.com>", "<On-Call+np@example.org>"]);
    let (head, body) = mail.data.split_once("\r\n\r\n").expect("headers, blank line, body");
    let headers: Vec<&str> = head.split("\r\n").collect();
    assert!(!headers.iter().any(|h| h.to_ascii_lowercase().starts_with("bcc")), "no injected header: {headers:#?}");
    let subject = headers.iter().find(|h| h.starts_with("Subject: ")).expect("a subject");
    assert_eq!(*subject, "Subject: [NetPulse] DOWN: Checkout API Bcc: x@evil.example");
    assert!(headers.contains(&"To: ops@example.com, On-Call+np@example.org"), "{headers:#?}");
    assert!(headers.contains(&"X-NetPulse-Event: opened"));
    let body = unqp(body);
    let url = target.url();
    for fact in ["is down since", "Regions: local", "503", url.as_str(), "/incidents/inc_"] {
        assert!(body.contains(fact), "{fact} missing from the body:\n{body}");
    }

    let (_, body) = app.api("POST", &format!("/api/v1/channels/{channel}/test"), None).await;
    assert_eq!(body["delivered"], true, "{body}");
    wait_for(5, "the test mail", || async { (mails.lock().unwrap().len() >= 2).then_some(()) }).await;
    assert!(mails.lock().unwrap()[1].data.contains("Subject: [NetPulse] TEST"));
}

#[tokio::test]
async fn each_kind_is_validated_and_names_the_field() {
    let app = spawn_app().await;
    #[rustfmt::skip]
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({ "name": "x", "kind": "sms", "url": "https://a.example" }), "kind", "unknown variant"),
        (json!({ "name": "x", "kind": "slack" }), "url", "is required"),
        (json!({ "name": "x", "kind": "discord", "url": "ftp://a.example" }), "url", "http:// or https://"),
        (json!({ "name": "x", "kind": "teams", "url": "https://a.example", "secret": "0123456789abcdefgh" }), "secret", "not used"),
        (json!({ "name": "x", "kind": "pagerduty" }), "secret", "routing key"),
        (json!({ "name": "x", "kind": "pagerduty", "secret": "short" }), "secret", "8 to 128"),
        (json!({ "name": "x", "kind": "email", "url": "ops@example.com" }), "kind", "smtp.host"),
    ];
    for (body, field, message) in cases {
        let (status, json) = app.api("POST", "/api/v1/channels", Some(body.clone())).await;
        assert_eq!((status, json["error"]["field"].as_str()), (422, Some(field)), "{body} → {json}");
        assert!(json["error"]["message"].as_str().unwrap().contains(message), "{body} → {json}");
    }
    let (id, created) = create_channel(&app, json!({ "name": "pd", "kind": "pagerduty", "secret": ROUTING_KEY })).await;
    assert_eq!(created["url"], "https://events.pagerduty.com/v2/enqueue", "the default endpoint");
    let (status, json) = app.api("PATCH", &format!("/api/v1/channels/{id}"), Some(json!({ "name": "renamed" }))).await;
    assert_eq!(status, 200, "the stored routing key still counts: {json}");
    let (status, json) = app.api("PATCH", &format!("/api/v1/channels/{id}"), Some(json!({ "kind": "slack" }))).await;
    assert_eq!((status, json["error"]["field"].as_str()), (422, Some("kind")), "{json}");

    let (port, _) = smtp_server().await;
    let app = spawn_app_adjusted(|config| {
        (config.smtp.host, config.smtp.port, config.smtp.from) = ("127.0.0.1".into(), port, "a@netpulse.test".into());
    })
    .await;
    let many: Vec<String> = (0..21).map(|i| format!("u{i}@example.com")).collect();
    for (url, message) in [("ops@example.com\r\nRCPT TO:<x@evil.example>", "invalid"), (&*many.join(","), "at most 20")]
    {
        let (status, json) =
            app.api("POST", "/api/v1/channels", Some(json!({ "name": "m", "kind": "email", "url": url }))).await;
        assert_eq!((status, json["error"]["field"].as_str()), (422, Some("url")), "{json}");
        assert!(json["error"]["message"].as_str().unwrap().contains(message), "{json}");
    }
}

#[tokio::test]
async fn every_kind_says_what_since_when_from_which_regions_why_and_links_the_configured_dashboard() {
    let (port, mails) = smtp_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    (config.smtp.host, config.smtp.port, config.smtp.from) = ("127.0.0.1".into(), port, "a@netpulse.test".into());
    config.smtp.tls = SmtpTls::None;
    config.http.public_url = "https://np.example.test".into();
    let app = spawn_app_with(config).await;
    let target = Target::start().await;
    let hooks: Vec<(&str, Receiver)> = vec![
        ("webhook", Receiver::start().await),
        ("slack", Receiver::start().await),
        ("discord", Receiver::start().await),
        ("teams", Receiver::start().await),
        ("pagerduty", Receiver::start().await),
    ];
    for (kind, r) in &hooks {
        let secret = (*kind == "pagerduty").then_some(ROUTING_KEY);
        create_channel(&app, json!({ "name": kind, "kind": kind, "url": r.url(), "secret": secret })).await;
    }
    create_channel(&app, json!({ "name": "mail", "kind": "email", "url": "ops@example.com" })).await;
    target.set_status(503);
    let id = app.create_monitor(http_monitor("Checkout API", &target)).await;
    wait_for(20, "an incident", || async { app.incidents(&id).await.first().cloned() }).await;
    let incident = app.incidents(&id).await[0]["id"].as_str().unwrap().to_owned();
    let link = format!("https://np.example.test/incidents/{incident}");

    let mut payloads: Vec<(&str, String)> = Vec::new();
    for (kind, r) in &hooks {
        payloads.push((kind, requests(r, 1).await[0].body.clone()));
    }
    let mail = wait_for(20, "a mail", || async { mails.lock().unwrap().first().cloned() }).await;
    let (_, mail_body) = mail.data.split_once("\r\n\r\n").expect("headers, blank line, body");
    payloads.push(("email", unqp(mail_body)));
    let url = target.url();
    for (kind, text) in &payloads {
        let mut facts = vec!["Checkout API", url.as_str(), "503", link.as_str()];
        match *kind {
            "webhook" => {} // JSON fields, checked below
            "pagerduty" => facts.extend(["down_since", "down_from", "local (1 of 1 regions)"]),
            _ => facts.extend(["Down since", "Down from", "local (1 of 1 regions)"]),
        }
        for fact in facts {
            assert!(text.contains(fact), "{kind}: `{fact}` missing from\n{text}");
        }
    }
    let webhook: Value = serde_json::from_str(&payloads[0].1).unwrap();
    assert_eq!(
        (webhook["affected_regions"].clone(), webhook["incident"]["url"].as_str()),
        (json!(["local"]), Some(&*link))
    );
    assert!(webhook["since"].as_str().unwrap().ends_with('Z'), "{webhook}");
}

#[tokio::test]
async fn no_channel_kind_shows_the_credentials_in_a_monitors_url() {
    let (port, mails) = smtp_server().await;
    let app = spawn_app_adjusted(|config| {
        (config.smtp.host, config.smtp.port, config.smtp.from) = ("127.0.0.1".into(), port, "a@netpulse.test".into());
        config.smtp.tls = SmtpTls::None;
    })
    .await;
    let target = Target::start().await;
    let mut hooks: Vec<(&str, Receiver)> = Vec::new();
    for kind in ["webhook", "slack", "discord", "teams", "pagerduty"] {
        let r = Receiver::start().await;
        let secret = (kind == "pagerduty").then_some(ROUTING_KEY);
        create_channel(&app, json!({ "name": kind, "kind": kind, "url": r.url(), "secret": secret })).await;
        hooks.push((kind, r));
    }
    create_channel(&app, json!({ "name": "mail", "kind": "email", "url": "ops@example.com" })).await;
    target.set_status(503);
    let url = format!("http://ops-user-7a:hunter22@{}/health?api_token=abc123xyz&page=2", target.addr);
    app.create_monitor(
        json!({ "name": "Checkout API", "kind": "http", "url": url, "interval_s": 1, "timeout_ms": 800 }),
    )
    .await;

    let mut payloads: Vec<(&str, String)> = Vec::new();
    for (kind, r) in &hooks {
        payloads.push((kind, requests(r, 1).await[0].body.clone()));
    }
    let mail = wait_for(20, "a mail", || async { mails.lock().unwrap().first().cloned() }).await;
    let (head, body) = mail.data.split_once("\r\n\r\n").expect("headers, blank line, body");
    payloads.push(("email", format!("{head}\r\n\r\n{}", unqp(body))));
    for (kind, text) in &payloads {
        for secret in ["ops-user-7a", "hunter22", "abc123xyz"] {
            assert!(!text.contains(secret), "{kind} shows `{secret}`:\n{text}");
        }
        for kept in ["Checkout API", "/health", "page=2", "hidden"] {
            assert!(text.contains(kept), "{kind}: `{kept}` missing from\n{text}");
        }
    }
    let webhook: Value = serde_json::from_str(&payloads[0].1).unwrap();
    let shown = format!("GET http://%5Bhidden%5D:%5Bhidden%5D@{}/health?api_token=%5Bhidden%5D&page=2", target.addr);
    assert_eq!(webhook["monitor"]["target"], shown.as_str(), "{webhook}");
    assert!(webhook["summary"].as_str().unwrap().contains(&shown), "{webhook}");
}
