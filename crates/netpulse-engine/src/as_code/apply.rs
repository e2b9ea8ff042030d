//! Carrying out a [`Plan`] through the API: channels, then the alerting defaults, monitors
//! (parents before the monitors that depend on them), status pages and maintenance
//! windows are created or changed; then what `--prune` deletes goes, in the opposite order.
//! It stops at the first refusal, saying what was done before it.

use super::client::{ApiClient, ApiFailure};
use super::model::{Item, Kind, Org, Refs};
use super::plan::{Action, Plan, Step};
use super::{alerting, channels, monitors, pages, windows};
use serde_json::Value;

/// Apply `plan` (made from `current` and `desired`); the number of steps carried out, or
/// the failure with how many came before it.
pub async fn apply(
    api: &ApiClient,
    plan: &Plan,
    current: &Org,
    desired: &Org,
    refs: &mut Refs,
) -> Result<usize, (usize, ApiFailure)> {
    let mut done = 0;
    let mut ordered: Vec<&Step> = Vec::new();
    for kind in [Some(Kind::Channel), None, Some(Kind::Monitor), Some(Kind::StatusPage), Some(Kind::Window)] {
        let mut of_kind: Vec<&Step> = plan
            .steps
            .iter()
            .filter(|s| s.kind == kind && !matches!(s.action, Action::Delete | Action::Keep))
            .collect();
        if kind == Some(Kind::Monitor) {
            of_kind = parents_first(of_kind, desired);
        }
        ordered.extend(of_kind);
    }
    for kind in Kind::ALL.iter().rev() {
        ordered.extend(plan.steps.iter().filter(|s| s.kind == Some(*kind) && matches!(s.action, Action::Delete)));
    }
    for step in ordered {
        run(api, step, current, desired, refs).await.map_err(|e| (done, e))?;
        done += 1;
    }
    Ok(done)
}

/// Monitor steps in the plan's order, except that one waits for the creation of the monitor
/// it depends on.
fn parents_first<'a>(mut steps: Vec<&'a Step>, desired: &Org) -> Vec<&'a Step> {
    let mut out: Vec<&Step> = Vec::with_capacity(steps.len());
    while !steps.is_empty() {
        let ready = steps.iter().position(|s| {
            let parent =
                desired.find(Kind::Monitor, &s.name).and_then(|m| m.fields.get("depends_on")).and_then(Value::as_str);
            let waits = |p: &str| steps.iter().any(|o| o.name == p && matches!(o.action, Action::Create));
            parent.is_none_or(|p| !waits(p))
        });
        // A cycle is the API's to refuse; take the next one as it comes.
        out.push(steps.remove(ready.unwrap_or(0)));
    }
    out
}

async fn run(api: &ApiClient, step: &Step, current: &Org, desired: &Org, refs: &mut Refs) -> Result<(), ApiFailure> {
    let Some(kind) = step.kind else {
        let want = desired.alerting.as_ref().expect("a plan changes the defaults only when the file has them");
        api.call("PUT", "/api/v1/settings/alerting", Some(&alerting::to_api(want, refs))).await?;
        return Ok(());
    };
    let have = current.find(kind, &step.name);
    let want = desired.find(kind, &step.name);
    match (&step.action, have, want) {
        (Action::Create, _, Some(w)) => create(api, kind, w, refs).await,
        (Action::Change(fields), Some(h), Some(w)) => {
            let changed: Vec<String> = fields.iter().map(|f| f.path.clone()).collect();
            change(api, kind, h, w, &changed, fields, refs).await
        }
        (Action::Delete, Some(h), _) => delete(api, kind, h).await,
        _ => Ok(()),
    }
}

async fn create(api: &ApiClient, kind: Kind, w: &Item, refs: &mut Refs) -> Result<(), ApiFailure> {
    let (path, body) = match kind {
        Kind::Channel => ("/api/v1/channels", channels::to_api(&w.name, &w.fields)),
        Kind::Monitor => ("/api/v1/monitors", monitors::to_api(&w.name, &w.fields, refs)),
        Kind::StatusPage => ("/api/v1/status-pages", pages::to_api(&w.name, &w.fields, refs)),
        Kind::Window => {
            for (monitor, body) in windows::to_api(&w.name, &w.fields, refs) {
                api.call("POST", &format!("/api/v1/monitors/{monitor}/maintenance"), Some(&body)).await?;
            }
            return Ok(());
        }
    };
    let made = api.call("POST", path, Some(&Value::Object(body))).await?;
    refs.add(kind, &w.name, made["id"].as_str().unwrap_or_default());
    Ok(())
}

async fn change(
    api: &ApiClient,
    kind: Kind,
    h: &Item,
    w: &Item,
    changed: &[String],
    fields: &[super::model::FieldChange],
    refs: &mut Refs,
) -> Result<(), ApiFailure> {
    let id = &h.ids[0];
    let (path, body) = match kind {
        Kind::Channel => (format!("/api/v1/channels/{id}"), channels::patch(changed, &w.fields)),
        Kind::Monitor => (format!("/api/v1/monitors/{id}"), monitors::patch(fields, &w.name, &w.fields, refs)),
        Kind::StatusPage => (format!("/api/v1/status-pages/{id}"), pages::to_api(&w.name, &w.fields, refs)),
        Kind::Window => {
            delete(api, kind, h).await?;
            return create(api, kind, w, refs).await;
        }
    };
    api.call("PATCH", &path, Some(&Value::Object(body))).await?;
    Ok(())
}

async fn delete(api: &ApiClient, kind: Kind, h: &Item) -> Result<(), ApiFailure> {
    for id in &h.ids {
        let path = match kind {
            Kind::Channel => format!("/api/v1/channels/{id}"),
            Kind::Monitor => format!("/api/v1/monitors/{id}"),
            Kind::StatusPage => format!("/api/v1/status-pages/{id}"),
            Kind::Window => format!("/api/v1/maintenance/{id}"),
        };
        api.call("DELETE", &path, None).await?;
    }
    Ok(())
}
