//! The error-shape sweep: every route and method of the OpenAPI document, asked wrongly in
//! every way a client can (no credentials, a path id that is not UTF-8, a bad query string,
//! malformed, mistyped and oversized bodies, the wrong content type, a method the path does
//! not have, an over-long target, oversized headers), answers each refusal in the one shape
//! `{"error": {"code", "message"}}` as JSON — never a framework's plain text or an empty body.
//! Then the specific answers: 413 for a body over the limit, 405 for a method a path does
//! not have, 414 and 431, 404 for a path id that is not UTF-8, 422 naming the field of a bad query
//! or body (`"policy": null` included), and the token list under `data`.

use crate::harness::*;
use crate::openapi::{doc, documented};
use serde_json::{json, Value};

/// A request of the sweep: method, path, body (content type, bytes), extra headers.
struct Ask {
    method: String,
    path: String,
    body: Option<(&'static str, Vec<u8>)>,
    headers: Vec<(String, String)>,
}

impl Ask {
    fn new(method: &str, path: &str) -> Self {
        Self { method: method.into(), path: path.into(), body: None, headers: Vec::new() }
    }
    fn token(mut self) -> Self {
        self.headers.push(("authorization".into(), format!("Bearer {TOKEN}")));
        self
    }
    fn body(mut self, kind: &'static str, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some((kind, bytes.into()));
        self
    }
}

/// Send `ask`; status, headers and body text.
async fn send(app: &TestApp, ask: &Ask) -> (u16, http::HeaderMap, String) {
    let mut req = netpulse_checker::HttpRequest::new(
        ask.method.parse().expect("method"),
        app.url(&ask.path).parse().expect("url"),
        std::time::Duration::from_secs(10),
    );
    req.follow_redirects = false;
    req.headers.extend(ask.headers.iter().cloned());
    if let Some((kind, bytes)) = &ask.body {
        req.headers.push(("content-type".into(), (*kind).into()));
        req.body = Some(bytes.clone().into());
    }
    let resp = app.client.send(req).await.unwrap_or_else(|e| panic!("{} {}: {e}", ask.method, ask.path));
    (resp.status, resp.headers, String::from_utf8_lossy(&resp.body).into_owned())
}

/// Send `ask` and assert that a refusal is in the one shape; returns status and JSON body.
async fn answered(app: &TestApp, ask: &Ask) -> (u16, Value) {
    let (status, headers, text) = send(app, ask).await;
    let at = format!("{} {} → {status}", ask.method, &ask.path[..ask.path.len().min(120)]);
    if status < 400 {
        return (status, serde_json::from_str(&text).unwrap_or(Value::Null));
    }
    let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(kind.starts_with("application/json"), "{at}: content type {kind:?}, body {text:?}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{at}: not JSON ({e}): {text:?}"));
    let e = &body["error"];
    assert!(e["code"].as_str().is_some_and(|c| !c.is_empty()), "{at}: no error code: {body}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{at}: no message: {body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{at}: only `error`: {body}");
    (status, body)
}

/// `path` with each `{…}` parameter replaced by `with`.
fn filled(path: &str, with: &str) -> String {
    path.split('/').map(|s| if s.starts_with('{') { with } else { s }).collect::<Vec<_>>().join("/")
}

#[tokio::test]
async fn every_route_and_method_of_the_openapi_document_refuses_in_the_one_json_shape() {
    let app = spawn_app().await;
    let ops = documented(&doc());
    assert!(ops.len() >= 50, "{} operations", ops.len());
    let bad_query = "?limit=abc&from=yesterday&to=%FF&window=-1&status=zz&monitor_id=%C3%28&cursor=&token=&since=x";
    let bodies: [(&'static str, &[u8]); 5] = [
        ("application/json", b"{\"email\": "),
        ("application/json", b"[1, 2]"),
        ("application/json", b"{\"policy\": null, \"email\": 5, \"name\": null, \"kind\": [], \"token\": {}}"),
        ("text/plain", b"hello"),
        ("application/x-www-form-urlencoded", b"email=x&password=y"),
    ];
    let mut refusals = 0;
    for (method, path) in &ops {
        let with_id = filled(path, "x_00000000000000000000000000");
        let mut asks = vec![
            Ask::new(method, &with_id),
            Ask::new(method, &with_id).token(),
            Ask::new(method, &format!("{with_id}{bad_query}")).token(),
            Ask::new(method, &format!("{with_id}?{}", "q".repeat(9000))).token(),
            Ask::new(method, &with_id).token(),
        ];
        asks.last_mut().unwrap().headers.push(("x-padding".into(), "p".repeat(40_000)));
        if path.contains('{') {
            asks.push(Ask::new(method, &filled(path, "%FF%FE")).token());
        }
        if ["POST", "PUT", "PATCH"].contains(&method.as_str()) {
            for (kind, bytes) in bodies {
                asks.push(Ask::new(method, &with_id).token().body(kind, bytes));
            }
            let big = format!("{{\"name\": \"{}\"}}", "x".repeat(2_200_000));
            asks.push(Ask::new(method, &with_id).token().body("application/json", big));
        }
        for other in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if !ops.contains(&(other.to_owned(), path.clone())) {
                asks.push(Ask::new(other, &with_id).token().body("application/json", "{}"));
            }
        }
        for ask in &asks {
            refusals += usize::from(answered(&app, ask).await.0 >= 400);
        }
    }
    assert!(refusals > 8 * ops.len(), "{refusals} refusals checked over {} operations", ops.len());
}

#[tokio::test]
async fn framework_refusals_get_their_own_status_and_name_what_is_wrong() {
    let app = spawn_app().await;
    let code = |body: &Value| body["error"]["code"].as_str().unwrap_or_default().to_owned();

    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(2_200_000));
    let (status, body) =
        answered(&app, &Ask::new("POST", "/api/v1/monitors").token().body("application/json", big)).await;
    assert_eq!((status, code(&body).as_str()), (413, "payload_too_large"), "{body}");

    let (status, body) = answered(&app, &Ask::new("PUT", "/api/v1/monitors").token()).await;
    assert_eq!((status, code(&body).as_str()), (405, "method_not_allowed"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("PUT is not allowed"), "{body}");

    let long = format!("/api/v1/monitors?name={}", "a".repeat(9000));
    assert_eq!(answered(&app, &Ask::new("GET", &long).token()).await.0, 414);
    let mut padded = Ask::new("GET", "/api/v1/monitors").token();
    padded.headers.push(("x-padding".into(), "p".repeat(40_000)));
    assert_eq!(answered(&app, &padded).await.0, 431);
    let mut many = Ask::new("GET", "/api/v1/monitors").token();
    many.headers.extend((0..120).map(|i| (format!("x-h{i}"), "v".into())));
    assert_eq!(answered(&app, &many).await.0, 431, "more than 100 headers, in the error shape too");

    let (status, body) = answered(&app, &Ask::new("GET", "/api/v1/monitors/%FF%FE").token()).await;
    assert_eq!((status, code(&body).as_str()), (404, "not_found"), "an id that is not UTF-8: {body}");

    let m = app
        .create_monitor(json!({ "name": "db", "kind": "tcp", "host": "db.example.com", "port": 5432, "paused": true }))
        .await;
    let (status, body) =
        answered(&app, &Ask::new("GET", &format!("/api/v1/monitors/{m}/results?limit=abc")).token()).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("limit")), "{body}");
    let (status, body) = answered(&app, &Ask::new("GET", "/api/v1/auth/verify?nothing=1")).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("token")), "{body}");

    for (path, body) in [
        ("/api/v1/auth/register", "{\"email\": \"a@example.com\"}"),
        ("/api/v1/auth/login", "{\"email\": \"a@example.com\", \"password\": 5}"),
        ("/api/v1/tokens", "{\"name\": \"ci\"}"),
    ] {
        let (status, got) = answered(&app, &Ask::new("POST", path).token().body("application/json", body)).await;
        assert_eq!(status, 422, "{path}: {got}");
        assert!(got["error"]["field"].as_str().is_some(), "{path} names the field: {got}");
        let (status, _) = answered(&app, &Ask::new("POST", path).token().body("application/json", "{")).await;
        assert_eq!(status, 400, "{path}: malformed JSON");
    }

    let null_policy = json!({ "policy": null }).to_string();
    let put = Ask::new("PUT", "/api/v1/settings/alerting").token().body("application/json", null_policy);
    let (status, body) = answered(&app, &put).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("policy")), "{body}");

    let (_, listed) = app.api("GET", "/api/v1/tokens", None).await;
    assert!(listed["data"].is_array(), "the token list is under `data` like every list: {listed}");
    assert_eq!(listed["tokens"], listed["data"], "its old key holds the same list for this release");
}
