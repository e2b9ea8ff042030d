//! The server-rendered dashboard: monitors with their state, last check and 24 h uptime;
//! a monitor page with a latency chart, recent results and incidents; an incident page with
//! its timeline; forms to create and edit monitors ([`forms`]). Pages update live without reload: `dashboard.js` (vendored, inline) listens
//! to `GET /events` ([`events`], Server-Sent Events) and patches the cells, rows and badges.
//! Public SVG badges live in [`badges`]; the server-side latency chart in [`chart`].
//!
//! Signing in opens a login session (e-mail and password, [`account_pages`]) or keeps a
//! pasted API token in an HttpOnly, SameSite=Strict cookie (Secure when the public URL is
//! https), so no other site can make the browser use it, and page scripts cannot read it.
//! Every form of a signed-in page — the header's "Sign out" too — carries the CSRF token
//! and is checked by [`forms::submitted`]; the signed-out ones (sign-in, sign-up, reset,
//! invitation) carry a pre-session one ([`form_guard`]). A page shows a form or a link to
//! one only to callers the handler would let use it ([`SignedIn::may_write`] and its
//! siblings, the handlers' own checks); the demo's header offers "Leave the demo". Every page
//! is sent with a Content-Security-Policy allowing only its own inline script and style,
//! no framing, `nosniff` and a same-origin referrer policy ([`headers`]).

use crate::base::cookies::{session_token, SESSION_COOKIE};
use crate::base::{ApiError, AppState, Caller};
use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use form_guard::FormGuard;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use netpulse_core::Timestamp;
use netpulse_store::clock;
use netpulse_store::MonitorView;
use serde::Deserialize;

pub mod account_pages;
pub mod badges;
pub mod certificate;
pub mod channels;
pub mod chart;
pub mod deliveries;
pub mod demo;
pub mod events;
pub mod first_run;
pub mod form_fields;
pub(crate) mod form_guard;
pub mod forms;
pub mod headers;
pub mod incidents;
pub mod maintenance;
pub mod monitor;
pub mod overview;
pub mod range_chart;
pub mod regions;
pub mod settings;
pub mod status_feed;
pub mod status_history;
pub mod status_page;
pub mod status_pages;
pub mod status_subscribe;
pub mod team_pages;
pub mod times;
pub mod visitor_beacons;
pub mod visitor_sources;

const STYLE: &str = include_str!("dashboard.css");
const SCRIPT: &str = include_str!("dashboard.js");
/// Every inline `<script>` and `<style>` text a dashboard page carries: its CSP allows these
/// by hash and nothing else inline ([`headers`]). A new inline text joins here.
const INLINE_SCRIPTS: [&str; 3] = [times::LOCAL_TIME, SCRIPT, regions::RELOAD_ON_REGION];
const INLINE_STYLES: [&str; 2] = [STYLE, regions::STYLE];
/// Whether a page offers something to the signed-in caller.
type Offered = fn(&SignedIn) -> bool;

/// The header's links, one line per page, with who is offered the link: "New monitor" and
/// "Alerting defaults" lead to forms only some callers may send.
const NAV: &[(&str, &str, Offered)] = &[
    ("/", "Monitors", |_| true),
    ("/monitors/new", "New monitor", SignedIn::may_write),
    ("/incidents", "Incidents", |_| true),
    ("/channels", "Channels", |_| true),
    ("/deliveries", "Deliveries", |_| true),
    ("/settings/alerting", "Alerting defaults", SignedIn::may_admin),
    ("/status-pages", "Status pages", |_| true),
    ("/regions", "Regions", |_| true),
    ("/members", "Members", |_| true),
    ("/tokens", "API tokens", |_| true),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::show))
        .route("/login", get(login_page).post(login))
        .route("/demo", get(demo::enter))
        .route("/demo/leave", get(demo::leave))
        .route("/login/password", post(account_pages::password_login))
        .route("/forgot", get(account_pages::forgot_page).post(account_pages::forgot))
        .route("/reset", get(account_pages::reset_page).post(account_pages::reset))
        .route("/invite", get(account_pages::invite_page).post(account_pages::accept_invite))
        .route("/signup", get(account_pages::signup_page).post(account_pages::signup))
        .route("/verify", get(account_pages::verify_page))
        .route("/members", get(team_pages::members))
        .route("/members/invite", post(team_pages::invite))
        .route("/members/switch", post(team_pages::switch))
        .route("/members/leave", post(team_pages::leave))
        .route("/members/{id}/role", post(team_pages::set_role))
        .route("/members/{id}/remove", post(team_pages::remove))
        .route("/invitations/{id}/revoke", post(team_pages::revoke_invitation))
        .route("/tokens", get(team_pages::tokens).post(team_pages::create_token))
        .route("/tokens/{id}/revoke", post(team_pages::revoke_token))
        .route("/regions", get(regions::show))
        .route("/status-pages", get(status_pages::list))
        .route("/logout", post(logout))
        .route("/monitors/new", get(forms::new_form).post(forms::create))
        .route("/monitors/{id}", get(monitor::show))
        .route("/monitors/{id}/edit", get(forms::edit_form).post(forms::update))
        .route("/monitors/{id}/maintenance", get(maintenance::show).post(maintenance::create))
        .route("/maintenance/{id}/cancel", post(maintenance::cancel))
        .route("/incidents", get(incidents::list))
        .route("/incidents/{id}", get(incidents::show))
        .route("/incidents/{id}/acknowledge", post(incidents::acknowledge))
        .route("/incidents/{id}/resolve", post(incidents::resolve))
        .route("/channels", get(channels::list).post(channels::create))
        .route("/channels/{id}/test", post(channels::test))
        .route("/deliveries", get(deliveries::log))
        .route("/settings/alerting", get(settings::show).post(settings::save))
        .route("/events", get(events::events))
        .route("/badge/{id}/status.svg", get(badges::status))
        .route("/badge/{id}/uptime.svg", get(badges::uptime))
        .route("/monitors/{id}/visitors", get(visitor_sources::show).post(visitor_sources::create))
        .route("/visitor-sources/{id}/delete", post(visitor_sources::delete))
        .route("/rv/{key}/script.js", get(visitor_beacons::script))
        .route("/rv/{key}/beacon", post(visitor_beacons::beacon).layer(axum::extract::DefaultBodyLimit::max(16 * 1024)))
        .route("/rv/{key}/pixel.gif", get(visitor_beacons::pixel))
        .route("/privacy/real-visitors", get(visitor_beacons::privacy))
        .route("/status/{slug}", get(status_page::show))
        .route("/status/{slug}/{feed}", get(status_page::feed))
        .route("/status/{slug}/subscribe", post(status_subscribe::subscribe))
        .route("/status/{slug}/confirm", get(status_subscribe::confirm_page).post(status_subscribe::confirm))
        .route(
            "/status/{slug}/unsubscribe",
            get(status_subscribe::unsubscribe_page).post(status_subscribe::unsubscribe),
        )
        .layer(axum::middleware::map_response(headers::secure))
}

/// Whose dashboard this is, the CSRF token its forms must send back, and how many of the
/// organisation's channels are failing to deliver (flagged in the header).
pub(crate) struct SignedIn {
    pub caller: Caller,
    pub csrf: String,
    pub failing_channels: usize,
}

impl SignedIn {
    fn tenant(&self) -> &netpulse_core::TenantId {
        self.caller.tenant()
    }

    /// A login session's caller and its CSRF token.
    pub(crate) fn of_session(a: netpulse_store::SessionAuth) -> Self {
        let via = crate::base::Via::Session { user: a.user };
        let caller = Caller { tenant_id: a.tenant_id, role: a.role, verified: a.verified, via };
        SignedIn { csrf: a.csrf, caller, failing_channels: 0 }
    }

    /// Whether the page shows controls that change monitors, incidents and maintenance: the
    /// handlers' own rule ([`Caller::require_write`]), so a read-only audience (viewers, read
    /// tokens, the demo) sees no control that could only answer 403.
    pub(crate) fn may_write(&self) -> bool {
        self.caller.require_write().is_ok()
    }

    /// Whether the page shows controls for channels, alerting defaults, members and the
    /// token list ([`Caller::require_admin`]).
    pub(crate) fn may_admin(&self) -> bool {
        self.caller.require_admin().is_ok()
    }

    /// Whether the members page offers "Leave organisation", and if not why
    /// ([`crate::accounts::members::may_leave`]; `owners`: the organisation's owners now).
    pub(crate) fn may_leave(&self, owners: usize) -> Result<(), ApiError> {
        crate::accounts::members::may_leave(&self.caller, owners)
    }

    /// Whether the page shows the form creating API tokens ([`crate::accounts::tokens::may_create`]).
    pub(crate) fn may_create_tokens(&self) -> bool {
        crate::accounts::tokens::may_create(&self.caller).is_ok()
    }
}

/// The caller of the cookie: a login session (`nps_…`) or a pasted API token. A session's
/// forms carry its CSRF token; a pasted token's carry a secret derived from the token.
pub(crate) async fn signed_in(s: &AppState, headers: &HeaderMap) -> Result<SignedIn, Response> {
    let token = session_token(headers).ok_or_else(|| Redirect::to("/login").into_response())?;
    if token == crate::base::demo::COOKIE_VALUE && s.config.accounts.demo {
        let role = netpulse_store::Role::Viewer;
        let caller =
            Caller { tenant_id: netpulse_store::demo::tenant(), role, verified: false, via: crate::base::Via::Demo };
        // The demo changes nothing (every mutation is refused before its handler), and its
        // forms carry a secret nobody can send back.
        let csrf = format!("{:032x}", clock::random_u128());
        return Ok(SignedIn { caller, csrf, failing_channels: 0 });
    }
    let hash = clock::token_hash(&token);
    let found = if token.starts_with(crate::base::cookies::SESSION_PREFIX) {
        s.store.session(&hash, clock::now()).await.map(|o| o.map(SignedIn::of_session))
    } else {
        let csrf = clock::token_hash(&format!("dashboard-form:{token}"));
        s.store
            .authenticate(&hash)
            .await
            .map(|o| o.map(|a| SignedIn { caller: Caller::from_token(a), csrf, failing_channels: 0 }))
    };
    match found {
        Ok(Some(mut signed_in)) => {
            signed_in.failing_channels = deliveries::failing_count(s, signed_in.tenant()).await;
            Ok(signed_in)
        }
        Ok(None) => Err(Redirect::to("/login").into_response()),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// A dashboard page. `signed_in` is whose page it is (its header offers the pages they may
/// use and "Sign out", whose form carries the CSRF secret; the demo's offers "Leave the
/// demo"), or `None` on a signed-out page.
fn page(title: &str, signed_in: Option<&SignedIn>, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · NetPulse" }
                    style { (PreEscaped(STYLE)) }
                }
                body {
                    header {
                        a.brand href="/" { "NetPulse" }
                        @if let Some(auth) = signed_in {
                            nav { @for (href, text, offered) in NAV { @if offered(auth) { a href=(href) { (text) } } } }
                            @if auth.failing_channels > 0 {
                                a.alarm #failing-channels href="/channels" title="Notifications are not getting through" {
                                    (auth.failing_channels) " channel" @if auth.failing_channels != 1 { "s" } " failing"
                                }
                            }
                            @if auth.caller.is_demo() {
                                a #leave-demo href="/demo/leave" { "Leave the demo" }
                            } @else {
                                form #sign-out method="post" action="/logout" {
                                    input type="hidden" name="csrf" value=(auth.csrf);
                                    button.link type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                    main { (body) }
                    script { (PreEscaped(times::LOCAL_TIME)) }
                    @if signed_in.is_some() { script { (PreEscaped(SCRIPT)) } }
                }
            }
        }
        .into_string(),
    )
}

/// "3 min ago" with the exact time on hover, or "never" ([`times::relative`]).
pub(crate) fn ago(t: Option<Timestamp>, now: Timestamp) -> Markup {
    times::relative_or_never(t, now)
}

/// A check's latency as shown: "–" for a failed check (its time is how long failing took,
/// often 0 ms for a refused connection, not how fast the site answers) and when unmeasured.
pub(crate) fn latency(ms: Option<u32>, outcome: Option<netpulse_core::Outcome>) -> String {
    match ms {
        Some(ms) if !outcome.is_some_and(netpulse_core::Outcome::is_failure) => format!("{ms} ms"),
        _ => "–".into(),
    }
}

pub(crate) fn badge(state: &str) -> Markup {
    html! { span class={ "badge " (state) } { (state) } }
}

pub(crate) fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "–".into(), |p| format!("{p:.2} %"))
}

pub(crate) fn state_of(v: &MonitorView) -> &'static str {
    if v.record.draft.paused {
        "paused"
    } else {
        v.status.health.as_str()
    }
}

fn not_found(auth: &SignedIn) -> Response {
    (
        StatusCode::NOT_FOUND,
        page("Not found", Some(auth), html! { h1 { "Not found" } p { a href="/" { "Back to monitors" } } }),
    )
        .into_response()
}

async fn login_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let guard = FormGuard::for_page(&headers);
    guard.respond(&s, StatusCode::OK, login_form(&guard, None))
}

fn login_form(guard: &FormGuard, error: Option<&str>) -> Html<String> {
    page(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.login method="post" action="/login" {
                (guard.field())
                label for="token" { "API token" }
                input #token type="password" name="token" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
            p.sub { "The owner token was printed at first start and saved in netpulse-data/admin-token." }
            (account_pages::password_form(guard))
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    token: String,
}

async fn login(State(s): State<AppState>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Response {
    let guard = match FormGuard::check(&headers, &f.csrf) {
        Ok(g) => g,
        Err(forged) => return forged.into_response(),
    };
    match s.store.authenticate(&clock::token_hash(f.token.trim())).await {
        Ok(Some(_)) => {
            let secure = crate::base::cookies::secure_attribute(&s.base_url);
            let cookie = format!(
                "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000{secure}",
                f.token.trim()
            );
            let mut r = Redirect::to("/").into_response();
            r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("token is ASCII"));
            r
        }
        Ok(None) => guard.respond(&s, StatusCode::UNAUTHORIZED, login_form(&guard, Some("That token is not valid."))),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `POST /logout` (the header's "Sign out" form): CSRF-checked like every dashboard form,
/// so another site cannot sign the browser out. Revokes a login session and drops the
/// cookies.
async fn logout(State(s): State<AppState>, headers: HeaderMap, form: forms::Submitted) -> Response {
    let (auth, _) = match forms::submitted(&s, &headers, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if auth.caller.is_session() {
        if let Some(t) = session_token(&headers) {
            if let Err(e) = s.store.revoke_session(&clock::token_hash(&t), clock::now()).await {
                return ApiError::from(e).into_response();
            }
        }
    }
    let mut r = Redirect::to("/login").into_response();
    for c in crate::base::cookies::cleared_cookies() {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}
