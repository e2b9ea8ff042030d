//! The OpenAPI document at `/api/v1/openapi.json`: served without credentials, and checked
//! against the route table read from the router source (see [`crate::routes`]), so a route
//! added to the API without documenting it (or one removed and still documented) fails here.

use crate::harness::*;
use crate::routes;
use serde_json::Value;
use std::collections::BTreeSet;

const SOURCE: &str = netpulse_web::api::system::OPENAPI;

pub(crate) fn doc() -> Value {
    serde_json::from_str(SOURCE).expect("openapi.json is JSON")
}

/// The `(METHOD, full path)` pairs the document lists. Paths are relative to the server
/// `/api/v1`, except path items with their own server `/` (health, readiness, metrics).
pub(crate) fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (key, item) in doc["paths"].as_object().expect("paths") {
        let root = item["servers"].as_array().is_some_and(|s| s.iter().any(|s| s["url"] == "/"));
        let full = if root { key.clone() } else { format!("/api/v1{key}") };
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), full.clone()));
            }
        }
    }
    out
}

#[test]
fn the_document_lists_exactly_the_api_routes() {
    let doc = doc();
    let routes: BTreeSet<(String, String)> =
        routes::all().into_iter().filter(|r| !r.dashboard).map(|r| (r.method.to_owned(), r.path)).collect();
    let listed = documented(&doc);
    let missing: Vec<_> = routes.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&routes).collect();
    assert!(missing.is_empty(), "API routes missing from openapi.json: {missing:?}");
    assert!(extra.is_empty(), "openapi.json lists routes the router lacks: {extra:?}");
    assert!(routes.contains(&("GET".into(), "/api/v1/openapi.json".into())), "{routes:?}");
}

#[test]
fn every_operation_has_a_summary_its_path_parameters_and_the_one_error_shape() {
    let doc = doc();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "NetPulse");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"), "bump info.version with the crate");
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!((&schemes["session"]["in"], &schemes["session"]["name"]), (&"cookie".into(), &"np_session".into()));
    assert_eq!((&schemes["csrf"]["in"], &schemes["csrf"]["name"]), (&"header".into(), &"X-CSRF-Token".into()));
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["properties"]["error"]["required"], serde_json::json!(["code", "message"]), "{error}");
    assert_eq!(
        doc["components"]["responses"]["Error"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Error"
    );
    for (key, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap().iter().filter(|(k, _)| *k != "servers") {
            let at = format!("{method} {key}");
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{at} has no summary");
            let params: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path" && p["required"] == true)
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let in_path: BTreeSet<&str> =
                key.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
            assert_eq!(params, in_path, "{at}: path parameters");
            let responses = op["responses"].as_object().expect("responses");
            for (code, r) in responses {
                if code == "default" || code.starts_with('4') || code.starts_with('5') {
                    assert_eq!(r["$ref"], "#/components/responses/Error", "{at} {code} is not the error shape");
                }
            }
            assert!(responses.contains_key("default"), "{at} documents no errors");
        }
    }
}

#[test]
fn the_main_request_bodies_name_their_fields() {
    let doc = doc();
    let fields = |method: &str, path: &str| -> BTreeSet<String> {
        let schema = &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
        let schema = match schema["$ref"].as_str() {
            Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
            None => schema,
        };
        schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default()
    };
    let has = |method: &str, path: &str, want: &[&str]| {
        let got = fields(method, path);
        for w in want {
            assert!(got.contains(*w), "{method} {path} body lacks `{w}`: {got:?}");
        }
    };
    has("post", "/monitors", &["name", "kind", "interval_s", "timeout_ms", "regions", "policy", "channels"]);
    has("patch", "/monitors/{id}", &["name", "interval_s", "paused", "policy"]);
    has("post", "/channels", &["name", "kind", "url", "secret", "enabled", "notify_degraded"]);
    has("post", "/incidents/{id}/public-message", &["message"]);
    has("post", "/incidents/{id}/updates", &["state", "impact", "message"]);
    has("post", "/status-pages", &["slug", "title", "message", "logo_url", "monitors"]);
    has("patch", "/status-pages/{id}", &["slug", "title", "monitors"]);
    has("put", "/settings/alerting", &["policy", "storm_threshold", "storm_window_s"]);
    has("post", "/auth/register", &["email", "password", "organisation"]);
    has("post", "/auth/login", &["email", "password"]);
}

#[tokio::test]
async fn the_document_is_served_without_credentials_as_json() {
    let app = spawn_app().await;
    let (status, body, headers) = app.raw("GET", "/api/v1/openapi.json", None, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    let served: Value = serde_json::from_str(&body).expect("served document is JSON");
    assert_eq!(served, doc());
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(served["paths"]["/monitors"]["post"].is_object(), "documents monitors");
}
