//! The engine's route table, read from the router sources (`api/mod.rs`, `dashboard/mod.rs`)
//! so that suites generated over it (tenant isolation, the read-only demo, what viewers
//! see) cover a new route without being edited.

/// One `(method, path)` pair of a router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: String,
    /// Whether it is a dashboard route (else an API route).
    pub dashboard: bool,
}

impl Route {
    pub fn is_mutation(&self) -> bool {
        self.method != "GET"
    }
}

/// The routes of one router source: every `.route("path", handlers)` call, also when
/// rustfmt split it over several lines.
fn parse(src: &str, dashboard: bool) -> Vec<Route> {
    let body = src.split("Router::new()").nth(1).expect("a Router::new() in the source");
    let body = body.split("\n}").next().unwrap_or(body);
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    for call in flat.split(".route(").skip(1) {
        let path = call.split('"').nth(1).expect("a path literal").to_owned();
        let handlers = call.split_once("\",").map_or("", |(_, h)| h);
        for (needle, method) in
            [("get(", "GET"), ("post(", "POST"), ("put(", "PUT"), ("patch(", "PATCH"), ("delete(", "DELETE")]
        {
            let called = handlers.match_indices(needle).any(|(i, _)| {
                // `get(` but not `target(`: the name starts the token.
                i == 0 || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric() && handlers.as_bytes()[i - 1] != b'_'
            });
            if called {
                out.push(Route { method, path: path.clone(), dashboard });
            }
        }
    }
    out
}

/// Every route of the API and the dashboard.
pub fn all() -> Vec<Route> {
    let mut r = parse(include_str!("../../src/api/mod.rs"), false);
    r.extend(parse(include_str!("../../src/dashboard/mod.rs"), true));
    r
}

#[test]
fn the_route_table_is_read_whole() {
    let routes = all();
    let has = |m: &str, p: &str| routes.iter().any(|r| r.method == m && r.path == p);
    assert!(has("PATCH", "/api/v1/status-pages/{id}"), "a route split over lines: {routes:?}");
    assert!(has("POST", "/api/v1/heartbeat/{token}") && has("GET", "/api/v1/heartbeat/{token}"));
    assert!(has("POST", "/login") && has("GET", "/monitors/{id}"), "dashboard routes: {routes:?}");
    assert!(has("PUT", "/api/v1/settings/alerting") && has("POST", "/settings/alerting"), "{routes:?}");
    assert!(routes.len() >= 45, "{} routes: {routes:?}", routes.len());
}
