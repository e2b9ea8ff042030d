//! A plan: what `apply` would do to make the organisation what the file says — objects to
//! create, fields to change, objects to delete (`--prune`) or keep — and how it is printed.

use super::model::{diff, show, FieldChange, Item, Kind, Org};
use super::{channels, windows};

/// What happens to one object.
#[derive(Debug)]
pub enum Action {
    Create,
    Change(Vec<FieldChange>),
    Delete,
    /// Not in the file, and `--prune` not given.
    Keep,
}

/// One object's step; `kind` `None` is the alerting defaults.
#[derive(Debug)]
pub struct Step {
    pub kind: Option<Kind>,
    pub name: String,
    pub action: Action,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    /// Whether applying would change anything.
    pub fn changes(&self) -> bool {
        self.steps.iter().any(|s| !matches!(s.action, Action::Keep))
    }

    /// The plan as printed: one line per object created or deleted and per field changed,
    /// then a summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let (mut create, mut change, mut delete, mut keep) = (0, 0, 0, 0);
        for s in &self.steps {
            let what = match s.kind {
                Some(k) => format!("{} \"{}\"", k.noun(), s.name),
                None => "alerting defaults".into(),
            };
            match &s.action {
                Action::Create => {
                    create += 1;
                    out.push_str(&format!("+ create {what}\n"));
                }
                Action::Change(fields) => {
                    change += 1;
                    for f in fields {
                        out.push_str(&format!(
                            "~ change {what}: {} {} → {}\n",
                            f.path,
                            show(f.old.as_ref()),
                            show(f.new.as_ref())
                        ));
                    }
                }
                Action::Delete => {
                    delete += 1;
                    out.push_str(&format!("- delete {what}\n"));
                }
                Action::Keep => {
                    keep += 1;
                    out.push_str(&format!("  {what}: not in the file (kept; --prune deletes)\n"));
                }
            }
        }
        let kept = if keep > 0 { format!("; {keep} not in the file, kept") } else { String::new() };
        if self.changes() {
            out.push_str(&format!("Plan: {create} to create, {change} to change, {delete} to delete{kept}.\n"));
        } else {
            out.push_str(&format!("No changes: the organisation matches the file{kept}.\n"));
        }
        out
    }
}

/// The steps that make `current` into `desired`; `Err` when the file changes what the API
/// cannot (a monitor's or channel's kind).
pub fn plan(current: &Org, desired: &Org, prune: bool) -> Result<Plan, String> {
    let mut steps = Vec::new();
    if let (Some(want), Some(have)) = (&desired.alerting, &current.alerting) {
        let fields = diff(have, want, &|_| false);
        if !fields.is_empty() {
            steps.push(Step { kind: None, name: String::new(), action: Action::Change(fields) });
        }
    }
    for kind in Kind::ALL {
        for want in desired.of(kind) {
            let action = match current.find(kind, &want.name) {
                None => Action::Create,
                Some(have) if have.fields.get("kind") != want.fields.get("kind") => {
                    let (was, now) = (show(have.fields.get("kind")), show(want.fields.get("kind")));
                    return Err(format!(
                        "{} \"{}\" is a {was} {} in the organisation, the file makes it {now}: a kind cannot change; give the new one another name (and --prune the old one)",
                        kind.noun(),
                        want.name,
                        kind.noun()
                    ));
                }
                Some(have) => match compare(kind, have, want) {
                    fields if fields.is_empty() => continue,
                    fields => Action::Change(fields),
                },
            };
            steps.push(Step { kind: Some(kind), name: want.name.clone(), action });
        }
        for have in current.of(kind).iter().filter(|h| desired.find(kind, &h.name).is_none()) {
            let action = if prune { Action::Delete } else { Action::Keep };
            steps.push(Step { kind: Some(kind), name: have.name.clone(), action });
        }
    }
    Ok(Plan { steps })
}

/// The fields of one object that differ (a channel's opaque ones, and those its file
/// entry leaves out, not compared).
fn compare(kind: Kind, have: &Item, want: &Item) -> Vec<FieldChange> {
    match kind {
        Kind::Channel => {
            let k = want.fields.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
            diff(&have.fields, &want.fields, &|p| !channels::compared(k, &want.fields, p))
        }
        Kind::Window => diff(&have.fields, &windows::same_occurrences(have, want), &|_| false),
        _ => diff(&have.fields, &want.fields, &|_| false),
    }
}
