//! The dashboard's forms over HTTP, as a browser sends them: signed in by cookie, urlencoded
//! bodies, the CSRF token from the page. Monitor forms: a bad field comes back next to that
//! field with the API's own message and the user's input kept; a good form creates or edits
//! the monitor the API then shows (reminders and quorum: inherit, a number, or an explicit
//! never / majority). Incidents: the list filters by status, and its buttons
//! acknowledge and resolve. The overview filters by name, tag and state and shows uptime and
//! a sparkline. A monitor page pages through its results and shows latency per region. The
//! channels page adds channels and sends tests without ever showing a secret again; the
//! maintenance page schedules and cancels windows. A form without the page's token changes
//! nothing.

use crate::harness::*;
use netpulse_checker::HttpRequest;
use serde_json::{json, Value};
use std::time::Duration;

const COOKIE: &str = "np_session=np_test_owner_token_0123456789abcdef";

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) html: String,
}

/// A dashboard request as the owner's browser sends it (signed in by cookie; a POST's form
/// urlencoded), redirects not followed.
pub(crate) async fn browse(app: &TestApp, method: &str, path: &str, form: &[(&str, &str)]) -> Page {
    let mut req = HttpRequest::new(method.parse().unwrap(), app.url(path).parse().unwrap(), Duration::from_secs(10));
    req.follow_redirects = false;
    req.headers.push(("cookie".into(), COOKIE.into()));
    if method == "POST" {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        req.headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
        req.body = Some(body.into());
    }
    let resp = app.client.send(req).await.expect("dashboard answers");
    let location = resp.headers.get("location").map(|v| v.to_str().unwrap().to_owned());
    Page { status: resp.status, location, html: String::from_utf8_lossy(&resp.body).into_owned() }
}

/// The id of the monitor a form post created: it answered 303 to the monitor's page.
pub(crate) fn created_monitor(page: &Page) -> String {
    assert_eq!(page.status, 303, "{}", page.html);
    page.location.as_deref().and_then(|l| l.strip_prefix("/monitors/")).expect("to the monitor page").to_owned()
}

/// The text of the element with `id` (the first text node after its opening tag).
pub(crate) fn text_of<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[start..];
    let open_end = rest.find('>')? + 1;
    rest[open_end..].split('<').next()
}

pub(crate) async fn csrf(app: &TestApp, path: &str) -> String {
    let page = browse(app, "GET", path, &[]).await;
    assert_eq!(page.status, 200, "{path}: {}", page.html);
    let at = page.html.find("name=\"csrf\" value=\"").expect("the form carries a CSRF token") + 19;
    page.html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_bad_interval_is_shown_next_to_its_field_with_the_apis_message_and_the_input_kept() {
    let app = spawn_app().await;
    let token = csrf(&app, "/monitors/new").await;
    let form = [
        ("csrf", token.as_str()),
        ("kind", "http"),
        ("name", "Shop front"),
        ("url", "http://127.0.0.1:9/health"),
        ("interval_s", "90000"),
        ("tags", "shop, eu"),
    ];
    let page = browse(&app, "POST", "/monitors/new", &form).await;
    assert_eq!(page.status, 422);
    let inline = text_of(&page.html, "f-interval_s-error").expect("an error next to the interval field");
    let api_body =
        json!({ "name": "Shop front", "kind": "http", "url": "http://127.0.0.1:9/health", "interval_s": 90000 });
    let (status, api) = app.api("POST", "/api/v1/monitors", Some(api_body)).await;
    assert_eq!(status, 422);
    assert_eq!(api["error"]["message"].as_str().unwrap(), format!("interval_s: {inline}"));
    assert!(page.html.contains("value=\"Shop front\"") && page.html.contains("value=\"90000\""), "input kept");
    assert!(page.html.contains("value=\"shop, eu\""), "tags kept");
    assert_eq!(app.api("GET", "/api/v1/monitors", None).await.1["data"], json!([]), "nothing was created");
}

#[tokio::test]
async fn a_form_without_the_pages_csrf_token_changes_nothing() {
    let app = spawn_app().await;
    let form = [("csrf", "guessed"), ("kind", "tcp"), ("name", "db"), ("host", "127.0.0.1"), ("port", "5432")];
    let page = browse(&app, "POST", "/monitors/new", &form).await;
    assert_eq!(page.status, 403);
    let page = browse(&app, "POST", "/monitors/new", &form[1..]).await;
    assert_eq!(page.status, 403);
    assert_eq!(app.api("GET", "/api/v1/monitors", None).await.1["data"], json!([]));
}

#[tokio::test]
async fn a_monitor_created_and_edited_through_the_form_is_what_the_api_shows() {
    let app = spawn_app().await;
    let token = csrf(&app, "/monitors/new").await;
    let form = [
        ("csrf", token.as_str()),
        ("kind", "http"),
        ("name", "Shop front"),
        ("url", "http://127.0.0.1:9/health"),
        ("method", "HEAD"),
        ("headers", "X-Probe: dashboard\nAccept: text/html"),
        ("expected_status", "200-299"),
        ("interval_s", "30"),
        ("tags", "shop, eu"),
        ("policy.confirm_threshold", "3"),
        ("verify_tls", "on"),
        ("host", "ignored.example"),
    ];
    let id = &created_monitor(&browse(&app, "POST", "/monitors/new", &form).await);
    let m = app.monitor(id).await;
    assert_eq!(
        (m["method"].clone(), m["interval_s"].clone(), m["tags"].clone()),
        (json!("HEAD"), json!(30), json!(["shop", "eu"]))
    );
    assert_eq!(m["headers"][0], json!({ "name": "X-Probe", "value": "dashboard" }));
    assert_eq!((m["follow_redirects"].clone(), m["policy"]["confirm_threshold"].clone()), (json!(false), json!(3)));

    let edit = format!("/monitors/{id}/edit");
    let token = csrf(&app, &edit).await;
    let shown = browse(&app, "GET", &edit, &[]).await.html;
    assert!(shown.contains("X-Probe: dashboard") && shown.contains("value=\"shop, eu\""), "the form shows the monitor");
    let changes = [
        ("csrf", token.as_str()),
        ("kind", "tcp"),
        ("name", "Shop front (EU)"),
        ("url", "http://127.0.0.1:9/health"),
        ("interval_s", "60"),
        ("tags", "shop"),
        ("paused", "on"),
    ];
    let page = browse(&app, "POST", &edit, &changes).await;
    assert_eq!(page.status, 303, "{}", page.html);
    let m = app.monitor(id).await;
    assert_eq!(
        (m["kind"].clone(), m["name"].clone(), m["interval_s"].clone()),
        (json!("http"), json!("Shop front (EU)"), json!(60))
    );
    assert_eq!(
        (m["tags"].clone(), m["paused"].clone(), m["status"]["health"].clone()),
        (json!(["shop"]), json!(true), json!("paused"))
    );
    assert_eq!(m["policy"]["confirm_threshold"], json!(2), "a field left empty takes its default");
}

#[tokio::test]
async fn editing_through_the_form_keeps_the_policy_the_form_does_not_show() {
    let app = spawn_app().await;
    let (id, channel, _oncall) = app.create_escalating_monitor().await;
    let edit = format!("/monitors/{id}/edit");
    let token = csrf(&app, &edit).await;
    let changes = [
        ("csrf", token.as_str()),
        ("name", "Checkout (EU)"),
        ("url", "http://127.0.0.1:9/"),
        ("interval_s", "60"),
        ("policy.confirm_threshold", "3"),
    ];
    let page = browse(&app, "POST", &edit, &changes).await;
    assert_eq!(page.status, 303, "{}", page.html);
    let m = app.monitor(&id).await;
    assert_eq!((m["name"].clone(), m["policy"]["confirm_threshold"].clone()), (json!("Checkout (EU)"), json!(3)));
    assert_eq!(
        (m["policy"]["escalate_to"].clone(), m["policy"]["escalate_after_s"].clone()),
        (json!([channel]), json!(300)),
        "escalation survives an edit: {m}"
    );
    assert!(
        m["policy"]["reminder_interval_s"].is_null()
            && m["policy_inherited"].as_array().unwrap().contains(&json!("reminder_interval_s")),
        "a shown policy field left empty returns to the organisation's default (here: none): {m}"
    );
}

#[tokio::test]
async fn editing_through_the_form_keeps_the_channels_that_still_exist() {
    let app = spawn_app().await;
    let (a, b) = (Receiver::start().await, Receiver::start().await);
    let ((kept, _), (deleted, _)) = (app.create_webhook(&a).await, app.create_webhook(&b).await);
    let id = app
        .create_monitor(
            json!({ "name": "Checkout", "kind": "http", "url": "http://127.0.0.1:9/", "channels": [kept, deleted] }),
        )
        .await;
    let (status, _) = app.api("DELETE", &format!("/api/v1/channels/{deleted}"), None).await;
    assert_eq!(status, 204);
    let (status, e) =
        app.api("PATCH", &format!("/api/v1/monitors/{id}"), Some(json!({ "name": "Checkout (EU)" }))).await;
    assert_eq!((status, e["error"]["field"].as_str()), (422, Some("channels[1]")), "the API names the stale id: {e}");

    let edit = format!("/monitors/{id}/edit");
    let token = csrf(&app, &edit).await;
    let changes =
        [("csrf", token.as_str()), ("name", "Checkout (EU)"), ("url", "http://127.0.0.1:9/"), ("interval_s", "60")];
    let page = browse(&app, "POST", &edit, &changes).await;
    assert_eq!(page.status, 303, "the form, which shows no channels, still saves: {}", page.html);
    let m = app.monitor(&id).await;
    assert_eq!((m["name"].clone(), m["channels"].clone()), (json!("Checkout (EU)"), json!([kept])), "{m}");
}

/// The `<input …>` tag with `id`.
fn input_tag<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id}"));
    let open = html[..start].rfind('<').unwrap();
    &html[open..start + html[start..].find('>').unwrap()]
}

fn inherits(m: &Value, field: &str) -> bool {
    m["policy_inherited"].as_array().unwrap().contains(&json!(field))
}

/// Reminders and quorum are each a three-way choice in the form: inherit (showing the
/// organisation's value), a number, or an explicit never / majority that the API then shows
/// as set on the monitor; editing shows the stored choice, and back to inherit follows the
/// organisation's default again.
#[tokio::test]
async fn the_form_sets_never_and_majority_explicitly_and_back_to_inherit() {
    let app = spawn_app().await;
    let defaults = json!({ "policy": { "reminder_interval_s": 600, "quorum": 1 } });
    let (status, d) = app.api("PUT", "/api/v1/settings/alerting", Some(defaults)).await;
    assert_eq!(status, 200, "{d}");
    let new = browse(&app, "GET", "/monitors/new", &[]).await.html;
    assert!(new.contains("Inherit (organisation default: every 600 s)"), "the inherited value is shown: {new}");
    assert!(new.contains("Inherit (organisation default: 1 region)"), "{new}");
    assert!(input_tag(&new, "f-policy-reminder_interval_s-inherit").contains("checked"), "a new monitor inherits");

    let token = csrf(&app, "/monitors/new").await;
    let form = [
        ("csrf", token.as_str()),
        ("kind", "tcp"),
        ("name", "db"),
        ("host", "127.0.0.1"),
        ("port", "9"),
        ("policy.reminder_interval_s.choice", "never"),
        ("policy.reminder_interval_s", ""),
        ("policy.quorum.choice", "majority"),
        ("policy.quorum", ""),
    ];
    let id = &created_monitor(&browse(&app, "POST", "/monitors/new", &form).await);
    let m = app.monitor(id).await;
    assert!(m["policy"]["reminder_interval_s"].is_null() && m["policy"]["quorum"].is_null(), "effective: {m}");
    assert!(!inherits(&m, "reminder_interval_s") && !inherits(&m, "quorum"), "set on the monitor: {m}");

    let edit = format!("/monitors/{id}/edit");
    let shown = browse(&app, "GET", &edit, &[]).await.html;
    assert!(input_tag(&shown, "f-policy-reminder_interval_s-never").contains("checked"), "{shown}");
    assert!(input_tag(&shown, "f-policy-quorum-majority").contains("checked"), "{shown}");
    assert!(!input_tag(&shown, "f-policy-reminder_interval_s-inherit").contains("checked"), "{shown}");

    let token = csrf(&app, &edit).await;
    let base = [("csrf", token.as_str()), ("name", "db"), ("host", "127.0.0.1"), ("port", "9")];
    let no_number =
        [&base[..], &[("policy.reminder_interval_s.choice", "value"), ("policy.reminder_interval_s", "")]].concat();
    let page = browse(&app, "POST", &edit, &no_number).await;
    assert_eq!(page.status, 422, "{}", page.html);
    let inline = text_of(&page.html, "f-policy-reminder_interval_s-error").expect("an error next to the field");
    assert!(inline.contains("enter a number"), "{inline}");
    let too_often =
        [&base[..], &[("policy.reminder_interval_s.choice", "value"), ("policy.reminder_interval_s", "30")]].concat();
    let page = browse(&app, "POST", &edit, &too_often).await;
    assert_eq!(page.status, 422, "{}", page.html);
    let inline = text_of(&page.html, "f-policy-reminder_interval_s-error").expect("the API's message at the field");
    assert!(inline.contains("at least 60"), "{inline}");
    assert!(input_tag(&page.html, "f-policy-reminder_interval_s-value").contains("checked"), "the choice is kept");
    assert!(app.monitor(id).await["policy"]["reminder_interval_s"].is_null(), "nothing saved");

    let back = [
        &base[..],
        &[
            ("policy.reminder_interval_s.choice", "inherit"),
            ("policy.reminder_interval_s", ""),
            ("policy.quorum.choice", "value"),
            ("policy.quorum", "2"),
        ],
    ]
    .concat();
    let page = browse(&app, "POST", &edit, &back).await;
    assert_eq!(page.status, 303, "{}", page.html);
    let m = app.monitor(id).await;
    assert_eq!((m["policy"]["reminder_interval_s"].clone(), m["policy"]["quorum"].clone()), (json!(600), json!(2)));
    assert!(inherits(&m, "reminder_interval_s") && !inherits(&m, "quorum"), "{m}");
    let (status, _) =
        app.api("PUT", "/api/v1/settings/alerting", Some(json!({ "policy": { "reminder_interval_s": 900 } }))).await;
    assert_eq!(status, 200);
    assert_eq!(app.monitor(id).await["policy"]["reminder_interval_s"], json!(900), "it follows the default again");
}

#[tokio::test]
async fn every_kind_can_be_created_through_the_form() {
    let app = spawn_app().await;
    let token = csrf(&app, "/monitors/new").await;
    #[rustfmt::skip]
    let kinds: [(&str, &[(&str, &str)]); 6] = [
        ("tcp", &[("host", "127.0.0.1"), ("port", "5432")]),
        ("dns", &[("query", "example.com"), ("record_type", "AAAA")]),
        ("tls", &[("host", "example.com"), ("warn_days", "30")]),
        ("heartbeat", &[("grace_s", "120")]),
        ("ping", &[("host", "::1"), ("count", "5"), ("packet_interval_ms", "50"), ("loss_threshold_percent", "40"),
                   ("degraded_after_ms", "300"), ("ip_version", "6")]),
        ("grpc", &[("host", "grpc.example.com"), ("port", "50051"), ("service", "shop.v1.Cart"), ("tls", "true"),
                   ("verify_tls", "true")]),
    ];
    for (kind, fields) in kinds {
        let mut form = vec![("csrf", token.as_str()), ("kind", kind), ("name", kind), ("interval_s", "60")];
        form.extend_from_slice(fields);
        let page = browse(&app, "POST", "/monitors/new", &form).await;
        assert_eq!(page.status, 303, "{kind}: {}", page.html);
        let m = app.monitor(page.location.unwrap().strip_prefix("/monitors/").unwrap()).await;
        for (k, v) in fields {
            let got = match &m[*k] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!((kind, got.as_str()), (kind, *v), "{k}");
        }
    }
}

#[tokio::test]
async fn incidents_are_listed_by_status_and_acknowledged_and_resolved_with_the_buttons() {
    let app = spawn_app().await;
    let target = Target::start().await;
    target.set_status(503);
    let body = json!({ "name": "Checkout", "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 900 });
    let monitor = app.create_monitor(body).await;
    let incident = wait_for(20, "an incident", || async {
        app.incidents(&monitor).await.first().map(|i| i["id"].as_str().unwrap().to_owned())
    })
    .await;
    let row = format!("data-incident=\"{incident}\"");
    let open = browse(&app, "GET", "/incidents", &[]).await.html;
    assert!(open.contains(&row) && open.contains("data-action=\"acknowledge\""), "open by default, with buttons");
    assert!(!browse(&app, "GET", "/incidents?status=resolved", &[]).await.html.contains(&row));

    let token = csrf(&app, "/incidents").await;
    let ack = format!("/incidents/{incident}/acknowledge");
    assert_eq!(browse(&app, "POST", &ack, &[("csrf", "forged")]).await.status, 403);
    assert_eq!(app.api("GET", &format!("/api/v1/incidents/{incident}"), None).await.1["status"], "open");
    let page = browse(&app, "POST", &ack, &[("csrf", token.as_str())]).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some(format!("/incidents/{incident}").as_str())));
    let (_, got) = app.api("GET", &format!("/api/v1/incidents/{incident}"), None).await;
    assert_eq!(got["status"], "acknowledged");
    assert!(got["acknowledged_by"].as_str().unwrap().starts_with("token "), "{got}");
    let listed = |status: &'static str| {
        let (app, row) = (&app, &row);
        async move { browse(app, "GET", &format!("/incidents?status={status}"), &[]).await.html.contains(row.as_str()) }
    };
    assert!(listed("acknowledged").await && !listed("open").await);

    let page = browse(&app, "POST", &format!("/incidents/{incident}/resolve"), &[("csrf", token.as_str())]).await;
    assert_eq!(page.status, 303);
    assert!(listed("resolved").await && listed("all").await && !listed("acknowledged").await);
    let shown = browse(&app, "GET", &format!("/incidents/{incident}"), &[]).await.html;
    let timeline = &shown[shown.find("id=\"timeline\"").expect("a timeline")..];
    assert!(timeline.matches("<li>").count() >= 3, "opened, acknowledged, resolved: {timeline}");
    assert!(!shown.contains("data-action="), "a resolved incident has no buttons");
}

/// The monitor ids of the overview's rows, in order.
fn rows(html: &str) -> Vec<String> {
    html.split("<tr data-monitor=\"").skip(1).map(|r| r.split('"').next().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_overview_filters_by_name_tag_and_state_and_shows_uptime_and_a_sparkline() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let monitor = |name: &str, tags: &[&str], paused: bool| json!({ "name": name, "kind": "http", "url": target.url(), "interval_s": 1, "timeout_ms": 900, "tags": tags, "paused": paused });
    let eu = app.create_monitor(monitor("Shop EU", &["shop", "eu"], true)).await;
    let us = app.create_monitor(monitor("Shop US", &["shop", "us"], false)).await;
    let db = app.create_monitor(monitor("Database", &["db"], true)).await;
    let overview = wait_for(20, "the US shop's uptime on the overview", || async {
        let html = browse(&app, "GET", "/", &[]).await.html;
        html.contains("data-cell=\"uptime-24h\">100.00 %").then_some(html)
    })
    .await;
    assert_eq!(rows(&overview).len(), 3);
    assert_eq!(overview.matches("<svg class=\"spark\"").count(), 3, "a sparkline per monitor");
    assert!(overview.contains("data-cell=\"uptime-30d\">100.00 %"));
    assert!(overview.contains("fill=\"#16803c\""), "the current hour's bar is green");
    for (query, expected) in [
        ("q=shop", vec![&eu, &us]),
        ("q=SHOP%20u", vec![&us]),
        ("tag=eu", vec![&eu]),
        ("state=paused", vec![&eu, &db]),
        ("q=shop&state=paused", vec![&eu]),
        ("tag=db&state=up", vec![]),
    ] {
        let html = browse(&app, "GET", &format!("/?{query}"), &[]).await.html;
        let mut got = rows(&html);
        got.sort();
        let mut want: Vec<String> = expected.into_iter().cloned().collect();
        want.sort();
        assert_eq!(got, want, "{query}");
        assert!(html.contains(&format!("{} of 3", want.len())) && html.contains("data-filtered=\"1\""), "{query}");
    }
}

#[tokio::test]
async fn a_monitor_page_pages_through_results_and_shows_latency_per_region() {
    use netpulse_core::{Outcome, Provenance};
    let app = spawn_app().await;
    let body = json!({ "name": "Edge", "kind": "tcp", "host": "127.0.0.1", "port": 9, "paused": true });
    let id = app.create_monitor(body).await;
    let store = app.running.as_ref().unwrap().store.clone();
    let tenant = store.authenticate(&netpulse_store::clock::token_hash(TOKEN)).await.unwrap().unwrap().tenant_id;
    let monitor = netpulse_core::MonitorId::parse(&id).unwrap();
    let now = netpulse_store::clock::now();
    let batch: Vec<_> = (0..60_i64)
        .map(|i| {
            let outcome = if i % 10 == 9 { Outcome::Down } else { Outcome::Up };
            let mut r = crate::status_pages::result(
                &tenant,
                &monitor,
                now.minus_ms(i * 1000),
                outcome,
                Provenance::Live,
                "refused",
            );
            r.region = if i % 2 == 0 { "eu".into() } else { "us".into() };
            r.timings.total_ms = Some(if i % 2 == 0 { 10 + i as u32 } else { 200 + i as u32 });
            r
        })
        .collect();
    store.ingest(&batch, now).await.unwrap();

    let first = browse(&app, "GET", &format!("/monitors/{id}"), &[]).await.html;
    let result_rows = |html: &str| -> Vec<String> {
        html.split("<tr data-result=\"").skip(1).map(|r| r.split('"').next().unwrap().to_owned()).collect()
    };
    let newest = result_rows(&first);
    assert_eq!(newest.len(), 50);
    assert!(!first.contains("data-paged"), "the first page updates live");
    let eu = &first[first.find("data-region=\"eu\"").expect("an eu row")..];
    // The 25 newest eu results are i = 0, 2, …, 48 (10..58 ms): median 34 ms, slowest 58 ms;
    // the failures (i = 9, 19, …) are all in us.
    assert!(
        eu.starts_with(
            "data-region=\"eu\"><td>eu</td><td>25</td><td>0</td><td data-cell=\"median\">34 ms</td><td>58 ms</td>"
        ),
        "{}",
        &eu[..200]
    );
    assert!(first.contains("data-region=\"us\"><td>us</td><td>25</td><td>5</td><td data-cell=\"median\">225 ms</td>"));
    // The chart: a line per region, and the points the page's script redraws it from.
    assert!(first.contains("<polyline data-series=\"eu\"") && first.contains("<polyline data-series=\"us\""));
    let at = first.find("data-points=\"").expect("the chart's points") + 13;
    let points: Value = serde_json::from_str(&first[at..].split('"').next().unwrap().replace("&quot;", "\"")).unwrap();
    assert_eq!(points.as_array().unwrap().len(), 50, "the shown results, oldest first");
    assert!(points[0][0].as_i64() < points[49][0].as_i64());

    let needle = "id=\"older\" rel=\"next\" href=\"";
    let at = first.find(needle).expect("a link to older results") + needle.len();
    let older_link = first[at..].split('"').next().unwrap().replace("&amp;", "&");
    let older = browse(&app, "GET", &older_link, &[]).await.html;
    let rest = result_rows(&older);
    assert_eq!(rest.len(), 10);
    assert!(rest.iter().all(|r| !newest.contains(r)), "no result on both pages");
    assert!(older.contains("data-paged=\"1\"") && !older.contains("id=\"older\""), "the last page stays put and ends");
}

/// The screenshot's "Latency: No results yet" and "unknown" next to a filled results table: a
/// monitor page rendered just before the monitor's first result, whose stream opened only
/// after that result was stored (the health change went out to nobody), then only got rows
/// for later results. The page's stream now opens with what it missed: the state the
/// monitor has now and the results after the page's newest (for the table and the chart),
/// and these replayed events are not counted as check-to-dashboard latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_page_rendered_before_the_first_result_catches_up_when_its_stream_opens() {
    use netpulse_core::{Outcome, Provenance};
    // No scheduler or checker: the only result is the one this test stores.
    let app =
        spawn_app_adjusted(|c| c.roles = netpulse_engine::roles::Roles::parse("api,dashboard,ingest").unwrap()).await;
    let body = json!({ "name": "Edge", "kind": "tcp", "host": "127.0.0.1", "port": 9, "interval_s": 60 });
    let id = app.create_monitor(body).await;
    let html = browse(&app, "GET", &format!("/monitors/{id}"), &[]).await.html;
    assert!(html.contains(r#"<span id="state"><span class="badge unknown">"#), "rendered before any result");
    assert!(html.contains("No results yet"));
    let at = html.find("data-since=\"").expect("the page says where its results end") + 12;
    let since = html[at..].split('"').next().unwrap().to_owned();

    let running = app.running.as_ref().unwrap();
    let tenant = running.store.authenticate(&netpulse_store::clock::token_hash(TOKEN)).await.unwrap().unwrap();
    let monitor = netpulse_core::MonitorId::parse(&id).unwrap();
    let now = netpulse_store::clock::now();
    let first = crate::status_pages::result(&tenant.tenant_id, &monitor, now, Outcome::Up, Provenance::Live, "");
    running.store.ingest(std::slice::from_ref(&first), now).await.unwrap();

    let stream = crate::fanout::LiveStream::open_at(app.addr, &format!("/events?monitor={id}&since={since}")).await;
    let health = wait_for(5, "the monitor's state now", || async { stream.of_kind("health").first().cloned() }).await;
    assert_eq!((&health["monitor_id"], &health["health"]), (&json!(id), &json!("up")));
    let missed =
        wait_for(5, "the result the page missed", || async { stream.of_kind("result").first().cloned() }).await;
    assert_eq!((&missed["id"], &missed["latency_ms"]), (&json!(first.id), &json!(first.timings.total_ms)));
    assert_eq!(missed["region"], first.region);
    assert_eq!(running.metrics.check_to_dashboard_ms.count(), 0, "a replayed result is no latency sample");
}

#[tokio::test]
async fn channels_are_added_and_tested_from_the_dashboard_and_secrets_are_never_shown_again() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let token = csrf(&app, "/channels").await;
    let typed_secret = "typed-secret-0123456789";
    let bad =
        [("csrf", token.as_str()), ("name", "ops"), ("kind", "webhook"), ("url", "ftp://x"), ("secret", typed_secret)];
    let page = browse(&app, "POST", "/channels", &bad).await;
    assert_eq!(page.status, 422);
    let (_, api) =
        app.api("POST", "/api/v1/channels", Some(json!({ "name": "ops", "kind": "webhook", "url": "ftp://x" }))).await;
    let inline = text_of(&page.html, "c-url-error").expect("an error next to the URL");
    assert_eq!(api["error"]["message"].as_str().unwrap(), format!("url: {inline}"));
    assert!(page.html.contains("value=\"ops\"") && !page.html.contains(typed_secret), "name kept, secret not echoed");

    let url = receiver.url();
    let good =
        [("csrf", token.as_str()), ("name", "ops"), ("kind", "webhook"), ("url", url.as_str()), ("enabled", "on")];
    let page = browse(&app, "POST", "/channels", &good).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let secret = text_of(&page.html, "webhook-secret").expect("the signing secret, once").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let slack = json!({ "name": "chat", "kind": "slack", "url": "https://hooks.slack.example/services/T0/B0/slack-path-secret-9z" });
    assert_eq!(app.api("POST", "/api/v1/channels", Some(slack)).await.0, 201);
    let listed = browse(&app, "GET", "/channels", &[]).await.html;
    assert!(listed.contains("set (hidden)") && !listed.contains(&secret), "the secret is not shown again");
    assert!(!listed.contains("slack-path-secret"), "chat webhook URLs are masked");

    let (_, channels) = app.api("GET", "/api/v1/channels", None).await;
    let id = channels["data"].as_array().unwrap().iter().find(|c| c["name"] == "ops").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = browse(&app, "POST", &format!("/channels/{id}/test"), &[("csrf", token.as_str())]).await;
    assert!(text_of(&page.html, "notice").is_some_and(|t| t.contains("Test notification to ")), "{}", page.html);
    assert!(page.html.contains("delivered (HTTP 200)"), "{}", page.html);
    assert_eq!(receiver.wait_for_events(1, 10).await.len(), 1, "the receiver got the test");
    assert!(!page.html.contains(&secret));
}

#[tokio::test]
async fn maintenance_windows_are_scheduled_and_cancelled_from_the_monitor_s_page() {
    let app = spawn_app().await;
    let id = app
        .create_monitor(json!({ "name": "db", "kind": "tcp", "host": "127.0.0.1", "port": 9, "paused": true }))
        .await;
    let path = format!("/monitors/{id}/maintenance");
    assert!(browse(&app, "GET", &format!("/monitors/{id}"), &[]).await.html.contains(&format!("href=\"{path}\"")));
    let token = csrf(&app, &path).await;
    let bad = [("csrf", token.as_str()), ("duration_s", "30"), ("reason", "too short")];
    let page = browse(&app, "POST", &path, &bad).await;
    assert_eq!(page.status, 422);
    let (_, api) =
        app.api("POST", &format!("/api/v1/monitors/{id}/maintenance"), Some(json!({ "duration_s": 30 }))).await;
    let inline = text_of(&page.html, "w-duration_s-error").expect("an error next to the duration");
    assert_eq!(api["error"]["message"].as_str().unwrap(), format!("duration_s: {inline}"));
    assert!(page.html.contains("value=\"too short\""), "input kept");

    let good = [("csrf", token.as_str()), ("duration_s", "3600"), ("reason", "database upgrade")];
    let page = browse(&app, "POST", &path, &good).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some(path.as_str())));
    let (_, windows) = app.api("GET", &format!("/api/v1/monitors/{id}/maintenance"), None).await;
    let window = windows["data"][0].clone();
    assert_eq!((window["reason"].as_str(), window["phase"].as_str()), (Some("database upgrade"), Some("active")));
    let listed = browse(&app, "GET", &path, &[]).await.html;
    assert!(listed.contains("database upgrade") && listed.contains("data-action=\"cancel\""));

    let w = window["id"].as_str().unwrap();
    let cancel = [("csrf", token.as_str()), ("monitor", id.as_str())];
    let page = browse(&app, "POST", &format!("/maintenance/{w}/cancel"), &cancel).await;
    assert_eq!(page.status, 303, "{}", page.html);
    let (_, after) = app.api("GET", &format!("/api/v1/monitors/{id}/maintenance"), None).await;
    assert!(after["data"].as_array().unwrap().iter().all(|x| x["id"] != w || x["phase"] != "active"), "{after}");
}

#[tokio::test]
async fn the_alerting_defaults_page_saves_what_is_set_and_shows_a_refusal_next_to_its_field() {
    let app = spawn_app().await;
    let overview = browse(&app, "GET", "/", &[]).await;
    assert!(overview.html.contains("href=\"/settings/alerting\""), "linked from the nav");
    let token = csrf(&app, "/settings/alerting").await;
    let bad = [("csrf", token.as_str()), ("policy.confirm_threshold", "0"), ("storm_threshold", "3")];
    let page = browse(&app, "POST", "/settings/alerting", &bad).await;
    assert_eq!(page.status, 422, "{}", page.html);
    let inline = text_of(&page.html, "f-policy-confirm_threshold-error").expect("an error next to the field");
    assert!(inline.contains("between 1 and 20"), "{inline}");
    assert!(page.html.contains("value=\"3\""), "input kept");
    assert_eq!(app.api("GET", "/api/v1/settings/alerting", None).await.1["storm_threshold"], 5, "nothing saved");

    let good = [
        ("csrf", token.as_str()),
        ("policy.confirm_threshold", "4"),
        ("policy.notify_on_resolve", "no"),
        ("policy.quorum", ""),
        ("storm_threshold", "3"),
    ];
    let page = browse(&app, "POST", "/settings/alerting", &good).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(text_of(&page.html, "notice").is_some_and(|t| t.contains("saved")), "{}", page.html);
    let (_, d) = app.api("GET", "/api/v1/settings/alerting", None).await;
    assert_eq!(
        (
            d["policy"]["confirm_threshold"].clone(),
            d["policy"]["notify_on_resolve"].clone(),
            d["storm_threshold"].clone()
        ),
        (json!(4), json!(false), json!(3))
    );
    assert!(d["policy_inherited"].as_array().unwrap().contains(&json!("quorum")), "an empty field is not set: {d}");
    let id = app.create_monitor(json!({ "name": "a", "kind": "tcp", "host": "127.0.0.1", "port": 9 })).await;
    assert_eq!(app.monitor(&id).await["policy"]["confirm_threshold"], 4, "a new monitor inherits it");
}
