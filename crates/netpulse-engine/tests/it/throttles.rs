//! The account endpoints' limits as an attacker meets them: sign-ups per IP address (and per
//! destination domain of the mail they send) answer `429` with `Retry-After`, the same for
//! taken and new addresses; a burst of concurrent sign-ups hashes a few passwords at a time and
//! refuses the rest at once with `503 busy` and `Retry-After` instead of queueing without end;
//! wrong passwords from elsewhere do not lock out an owner signing in from an address that
//! signed in before; `X-Forwarded-For` names the client only when a trusted proxy sends it.

use crate::accounts::{register, send, PASSWORD};
use crate::harness::*;
use serde_json::{json, Value};

/// An engine behind a reverse proxy on 127.0.0.1 (`http.trusted_proxies`), adjusted by `f`.
async fn behind_proxy(f: impl FnOnce(&mut netpulse_engine::config::Config)) -> TestApp {
    spawn_app_adjusted(|c| {
        c.http.trusted_proxies = vec!["127.0.0.1".into()];
        f(c);
    })
    .await
}

async fn sign_up(app: &TestApp, email: &str, from: Option<&str>) -> (u16, Value, http::HeaderMap) {
    let body = json!({ "email": email, "password": PASSWORD, "organisation": "O" });
    let headers: Vec<(&str, &str)> = from.map(|ip| ("x-forwarded-for", ip)).into_iter().collect();
    send(app, "POST", "/api/v1/auth/register", Some(body), &headers).await
}

async fn log_in(app: &TestApp, email: &str, password: &str, from: &str) -> u16 {
    let body = json!({ "email": email, "password": password });
    send(app, "POST", "/api/v1/auth/login", Some(body), &[("x-forwarded-for", from)]).await.0
}

fn retry_after(h: &http::HeaderMap) -> u64 {
    h.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn forty_sign_ups_from_one_address_are_refused_after_the_limit_alike_for_taken_and_new_addresses() {
    let app = spawn_app().await;
    assert_eq!(register(&app, "taken@taken.example.com", "T").await.0, 202);
    let mut answers = Vec::new();
    for i in 1..40 {
        answers.push(sign_up(&app, &format!("user{i}@d{i}.example.com"), None).await);
    }
    let accepted = answers.iter().take_while(|(s, _, _)| *s == 202).count();
    assert_eq!(accepted, 9, "10 an hour from one address (the first sign-up counted)");
    for (status, body, headers) in &answers[accepted..] {
        assert_eq!((*status, body["error"]["code"].as_str()), (429, Some("rate_limited")), "{body}");
        assert!(retry_after(headers) >= 60, "with Retry-After: {headers:?}");
    }
    let (_, taken, _) = sign_up(&app, "taken@taken.example.com", None).await;
    let (_, new, _) = sign_up(&app, "new@new.example.com", None).await;
    assert_eq!(taken, new, "the limit does not tell a taken address from a new one");
}

#[tokio::test]
async fn account_mail_to_one_domain_is_capped() {
    let app = behind_proxy(|c| c.accounts.mail_per_hour_domain = 3).await;
    for i in 0..3 {
        let (status, body, _) = sign_up(&app, &format!("u{i}@victim.example"), Some(&format!("192.0.2.{i}"))).await;
        assert_eq!(status, 202, "{body}");
    }
    let (status, body, headers) = sign_up(&app, "u9@victim.example", Some("192.0.2.9")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("domain") && retry_after(&headers) > 0, "{body}");
    let resend = json!({ "email": "u0@victim.example" });
    let headers = [("x-forwarded-for", "192.0.2.20")];
    let (status, _, _) = send(&app, "POST", "/api/v1/auth/resend-verification", Some(resend), &headers).await;
    assert_eq!(status, 429, "every account mail to the domain counts");
    assert_eq!(sign_up(&app, "u0@elsewhere.example", Some("192.0.2.21")).await.0, 202, "other domains are open");
}

#[tokio::test]
async fn sixty_four_concurrent_sign_ups_hash_a_few_at_a_time_and_refuse_the_rest_with_retry_after() {
    let app = behind_proxy(|c| {
        c.accounts.password_hashes = 1;
        c.accounts.password_hash_queue = 2;
    })
    .await;
    let asks = (0..64).map(|i| {
        let app = &app;
        async move { sign_up(app, &format!("burst{i}@b{i}.example.com"), Some(&format!("198.51.100.{i}"))).await }
    });
    let answers = futures_util::future::join_all(asks).await;
    let accepted = answers.iter().filter(|(s, _, _)| *s == 202).count();
    let busy: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 503).collect();
    assert_eq!(accepted + busy.len(), 64, "{:?}", answers.iter().map(|a| a.0).collect::<Vec<_>>());
    assert!(accepted >= 3, "the running one and the queued ones are served: {accepted}");
    assert!(busy.len() >= 64 / 2, "the rest are refused, not queued: {} refused", busy.len());
    for (_, body, headers) in busy {
        assert_eq!(body["error"]["code"], "busy", "{body}");
        assert!(retry_after(headers) >= 1, "{headers:?}");
    }
}

#[tokio::test]
async fn wrong_passwords_from_elsewhere_do_not_lock_out_an_owner_at_an_address_that_signed_in_before() {
    let app = behind_proxy(|_| {}).await;
    register(&app, "owner@example.com", "A").await;
    assert_eq!(log_in(&app, "owner@example.com", PASSWORD, "203.0.113.7").await, 200, "the owner's usual address");
    let mut guesses = Vec::new();
    for i in 1..=8 {
        guesses.push(log_in(&app, "owner@example.com", "wrong password!", &format!("198.51.100.{i}")).await);
    }
    assert_eq!(guesses, [401, 401, 401, 401, 429, 429, 429, 429], "the account's 5 a minute (the owner's took one)");
    assert_eq!(log_in(&app, "owner@example.com", PASSWORD, "198.51.100.99").await, 429, "new addresses wait");
    assert_eq!(log_in(&app, "owner@example.com", PASSWORD, "203.0.113.7").await, 200, "the owner still gets in");
}

#[tokio::test]
async fn x_forwarded_for_names_the_client_only_from_a_trusted_proxy() {
    // Not trusted: every client shares the peer's budget, whatever the header says.
    let app = spawn_app().await;
    let statuses = {
        let mut v = Vec::new();
        for i in 0..11 {
            v.push(log_in(&app, &format!("nobody{i}@example.com"), "x", &format!("192.0.2.{i}")).await);
        }
        v
    };
    assert_eq!(statuses.last(), Some(&429), "the header is ignored: {statuses:?}");

    // Trusted: each client behind the proxy has its own budget.
    let app = behind_proxy(|_| {}).await;
    for i in 0..10 {
        assert_eq!(log_in(&app, &format!("nobody{i}@example.com"), "x", "192.0.2.1").await, 401);
    }
    assert_eq!(log_in(&app, "nobody@example.com", "x", "192.0.2.1").await, 429, "192.0.2.1's budget is spent");
    assert_eq!(log_in(&app, "nobody@example.com", "x", "10.9.8.7, 192.0.2.2").await, 401, "192.0.2.2 has its own");
}
