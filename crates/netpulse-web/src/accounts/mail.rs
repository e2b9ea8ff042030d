//! Account mail (verification links, reset links, invitations, the notice to an address that
//! someone tried to register again): through `[smtp]` when it is configured, otherwise
//! written to the log so that a fresh install without mail can still verify its first user.
//! Written by the alert mail's composer ([`email::Letter`]), so it has the same headers
//! (`Date`, a `Message-ID` of its own, …).

use netpulse_pipeline::alerts::email;
use netpulse_pipeline::alerts::smtp;
use netpulse_pipeline::alerts::smtp::SmtpConfig;
use std::time::Duration;

/// Send `subject`/`text` to `to`, or log it when no SMTP server is configured. Runs in the
/// background: the caller's answer must not depend on mail delivery (timing and outcome).
pub fn send_link(cfg: &SmtpConfig, to: &str, subject: &str, text: String) {
    if !cfg.is_configured() {
        tracing::warn!(to, subject, "no [smtp] configured; account mail written to the log instead:\n{text}");
        return;
    }
    let cfg = cfg.clone();
    let to = vec![to.to_owned()];
    let id = email::fresh_id();
    let letter =
        email::Letter { from: &cfg.from, to: &to, subject, date: email::date_now(), id: &id, extra: &[], body: &text };
    let message = letter.render();
    tokio::spawn(async move {
        let mail = smtp::Mail { from: &cfg.from, to: &to, message: &message };
        if let Err(e) = smtp::send(&cfg, mail, Duration::from_secs(30)).await {
            tracing::warn!(error = %e, "account mail was not delivered");
        }
    });
}
