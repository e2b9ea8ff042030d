//! The organisation as the engine has it now, read through the API into a file's
//! expanded form ([`super::model`]): channels, monitors, alerting defaults, status pages
//! and maintenance windows, with the ids each name stands for.

use super::client::ApiClient;
use super::model::{Item, Kind, Org, Refs};
use super::{alerting, channels, monitors, pages, windows};
use netpulse_core::redact::HIDDEN;
use serde_json::Value;

/// How many monitors' maintenance windows are asked for at once.
const WINDOW_READS_AT_ONCE: usize = 8;

/// Read the caller's organisation. `Err` when the API fails, when this token is not
/// shown secrets' places (a read token), or when two objects of a kind share a name.
pub async fn read(api: &ApiClient) -> Result<(Org, Refs), String> {
    let list = |v: Value| v["data"].as_array().cloned().unwrap_or_default();
    let channel_rows = list(api.get("/api/v1/channels").await.map_err(|e| e.to_string())?);
    let monitor_rows = list(api.get("/api/v1/monitors").await.map_err(|e| e.to_string())?);
    if channel_rows.iter().chain(&monitor_rows).any(|r| r.to_string().contains(HIDDEN)) {
        return Err("this token sees the organisation with its settings hidden (a viewer's or read token): use a member's or admin's token (--token / NETPULSE_TOKEN)".into());
    }
    let mut refs = Refs::default();
    let mut org = Org::default();
    for r in &channel_rows {
        let c = channels::from_api(r);
        refs.add(Kind::Channel, &c.name, &c.ids[0]);
        org.channels.push(c);
    }
    for r in &monitor_rows {
        refs.add(Kind::Monitor, r["name"].as_str().unwrap_or_default(), r["id"].as_str().unwrap_or_default());
    }
    org.monitors = monitor_rows.iter().map(|r| monitors::from_api(r, &refs)).collect();
    let settings = api.get("/api/v1/settings/alerting").await.map_err(|e| e.to_string())?;
    org.alerting = Some(alerting::from_api(&settings, &refs));
    let page_rows = list(api.get("/api/v1/status-pages").await.map_err(|e| e.to_string())?);
    org.status_pages = page_rows.iter().map(|r| pages::from_api(r, &refs)).collect();
    let mut window_rows = Vec::new();
    // The API lists windows per monitor: a few monitors' at a time.
    for some in org.monitors.chunks(WINDOW_READS_AT_ONCE) {
        let paths: Vec<String> = some.iter().map(|m| format!("/api/v1/monitors/{}/maintenance", m.ids[0])).collect();
        for answer in futures_util::future::join_all(paths.iter().map(|p| api.get(p))).await {
            window_rows.extend(list(answer.map_err(|e| e.to_string())?));
        }
    }
    org.windows = windows::from_api(&window_rows, &refs)?;
    refuse_shared_names(&org)?;
    Ok((org, refs))
}

/// A file names one object per name and kind: two in the organisation would be ambiguous.
fn refuse_shared_names(org: &Org) -> Result<(), String> {
    for kind in [Kind::Channel, Kind::Monitor] {
        let items: &Vec<Item> = org.of(kind);
        for (i, a) in items.iter().enumerate() {
            if let Some(b) = items[i + 1..].iter().find(|b| b.name == a.name) {
                return Err(format!(
                    "the organisation has two {}s named \"{}\" ({} and {}); a file knows objects by name: rename one (in the dashboard or the API) first",
                    kind.noun(),
                    a.name,
                    a.ids[0],
                    b.ids[0]
                ));
            }
        }
    }
    Ok(())
}
