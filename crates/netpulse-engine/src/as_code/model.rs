//! The organisation as a file describes it: per kind, objects keyed by name, each a map of
//! fields in their *expanded* form — every field present, defaults filled in, references
//! by name. A file is expanded ([`super::file`]); the engine's current state is read into
//! the same form ([`super::current`]); a plan is the difference of the two, field by field;
//! `export` writes the current state *compacted* (fields equal to their default left out).

use serde_json::{Map, Value};

/// The kinds of object a file declares, in the order `apply` creates them (references
/// point to earlier kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Channel,
    Monitor,
    StatusPage,
    Window,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Channel, Kind::Monitor, Kind::StatusPage, Kind::Window];

    /// The file's section for this kind.
    pub fn section(self) -> &'static str {
        match self {
            Kind::Channel => "channels",
            Kind::Monitor => "monitors",
            Kind::StatusPage => "status_pages",
            Kind::Window => "maintenance",
        }
    }

    /// The field that names an object of this kind (unique within the kind).
    pub fn key(self) -> &'static str {
        match self {
            Kind::StatusPage => "slug",
            _ => "name",
        }
    }

    /// What the plan calls one.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Channel => "channel",
            Kind::Monitor => "monitor",
            Kind::StatusPage => "status page",
            Kind::Window => "maintenance window",
        }
    }
}

/// One object: its name and its expanded fields (the key field not among them).
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub name: String,
    pub fields: Map<String, Value>,
    /// The engine's ids of the object (a maintenance window is one per monitor); empty in a file.
    pub ids: Vec<String>,
}

/// A whole organisation (or file): the alerting defaults (`None`: a file that leaves them
/// alone) and the objects of each kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Org {
    pub alerting: Option<Map<String, Value>>,
    pub channels: Vec<Item>,
    pub monitors: Vec<Item>,
    pub status_pages: Vec<Item>,
    pub windows: Vec<Item>,
}

impl Org {
    pub fn of(&self, kind: Kind) -> &Vec<Item> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Monitor => &self.monitors,
            Kind::StatusPage => &self.status_pages,
            Kind::Window => &self.windows,
        }
    }

    pub fn of_mut(&mut self, kind: Kind) -> &mut Vec<Item> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Monitor => &mut self.monitors,
            Kind::StatusPage => &mut self.status_pages,
            Kind::Window => &mut self.windows,
        }
    }

    pub fn find(&self, kind: Kind, name: &str) -> Option<&Item> {
        self.of(kind).iter().find(|i| i.name == name)
    }
}

/// A field that differs: its path (`interval_s`, `policy.quorum`) and both values (`None`: absent).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// The fields of `desired` that differ from `current`, in a stable order; nested objects
/// are compared key by key (`policy.quorum`), other values whole. `skip` names top-level
/// fields not to compare (values the API does not show).
pub fn diff(
    current: &Map<String, Value>,
    desired: &Map<String, Value>,
    skip: &dyn Fn(&str) -> bool,
) -> Vec<FieldChange> {
    let mut out = Vec::new();
    diff_into("", current, desired, skip, &mut out);
    out
}

fn diff_into(
    prefix: &str,
    current: &Map<String, Value>,
    desired: &Map<String, Value>,
    skip: &dyn Fn(&str) -> bool,
    out: &mut Vec<FieldChange>,
) {
    let mut keys: Vec<&String> = current.keys().chain(desired.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let path = format!("{prefix}{k}");
        if skip(&path) {
            continue;
        }
        match (current.get(k), desired.get(k)) {
            (Some(Value::Object(a)), Some(Value::Object(b))) => diff_into(&format!("{path}."), a, b, skip, out),
            (a, b) if a != b => out.push(FieldChange { path, old: a.cloned(), new: b.cloned() }),
            _ => {}
        }
    }
}

/// A value as the plan shows it: strings quoted, the rest as compact JSON, absent as `(none)`.
pub fn show(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(none)".into(),
        Some(v) => v.to_string(),
    }
}

/// A problem with a file, named by its path (`monitors[1].interval_s`) and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FileError {
    pub path: String,
    pub message: String,
}

impl FileError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// Refuse a key of `fields` (the table at `path`) that is not in `known`, naming its path
/// and what `what` (`a channel`) takes.
pub fn refuse_unknown(fields: &Map<String, Value>, known: &[&str], path: &str, what: &str) -> Result<(), FileError> {
    match fields.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => {
            let at = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            Err(FileError::new(at, format!("unknown field; {what} takes {}", known.join(", "))))
        }
    }
}

/// Ids and names of the engine's channels and monitors, both ways: the file refers by
/// name, the API by id. Objects `apply` creates are added as it goes.
#[derive(Default)]
pub struct Refs {
    ids: std::collections::HashMap<(Kind, String), String>,
    names: std::collections::HashMap<String, String>,
}

impl Refs {
    pub fn add(&mut self, kind: Kind, name: &str, id: &str) {
        self.ids.insert((kind, name.to_owned()), id.to_owned());
        self.names.insert(id.to_owned(), name.to_owned());
    }

    pub fn id(&self, kind: Kind, name: &str) -> Option<&str> {
        self.ids.get(&(kind, name.to_owned())).map(String::as_str)
    }

    /// The name of the object with `id`; the id itself when it is unknown (it then shows as a dangling name).
    pub fn name(&self, id: &str) -> String {
        self.names.get(id).cloned().unwrap_or_else(|| id.to_owned())
    }

    /// A name → id for a reference `apply` sends; unknown names were refused before any change.
    pub fn to_id(&self, kind: Kind, v: &Value) -> Value {
        match v.as_str().and_then(|n| self.id(kind, n)) {
            Some(id) => Value::from(id),
            None => v.clone(),
        }
    }

    /// An id → name for a reference the API answered.
    pub fn to_name(&self, v: &Value) -> Value {
        match v.as_str() {
            Some(id) => Value::from(self.name(id)),
            None => v.clone(),
        }
    }
}

/// Where a secret `field` of object `name` stands in the current state: the variable
/// `OPS_SLACK_URL` between two [`PLACEHOLDER`] marks, which `export` writes as `${OPS_SLACK_URL}`
/// once it has escaped every `${` the organisation's own values hold.
pub fn placeholder(name: &str, field: &str) -> String {
    let upper = |s: &str| -> String {
        s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
    };
    format!("{PLACEHOLDER}{}_{}{PLACEHOLDER}", upper(name).trim_matches('_'), upper(field))
}

/// The mark around a placeholder's variable (a control character no API value holds).
pub const PLACEHOLDER: char = '\u{1}';
