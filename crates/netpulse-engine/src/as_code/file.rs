//! Reading and writing the file: YAML (`.yaml`, `.yml`) or TOML (`.toml`) with one schema,
//! `${VAR}` substitution in string values, and the checks made before anything is sent —
//! unknown fields, names unique within their kind, references to objects of the file —
//! each refused naming its path.

use super::model::{refuse_unknown, FileError, Item, Kind, Org, PLACEHOLDER};
use super::{alerting, channels, monitors, pages, windows};
use serde_json::{Map, Value};

/// The two ways to write a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Toml,
}

impl Format {
    /// The format a file's name says (`.yaml`, `.yml`, `.toml`).
    pub fn of(path: &std::path::Path) -> Result<Format, String> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Ok(Format::Yaml),
            Some("toml") => Ok(Format::Toml),
            _ => Err(format!("-f {}: name a .yaml, .yml or .toml file", path.display())),
        }
    }
}

const SECTIONS: [&str; 5] = ["alerting", "channels", "monitors", "status_pages", "maintenance"];

/// Parse `text`, substitute `${VAR}`s from `env`, check it and expand it.
pub fn read(text: &str, format: Format, env: &dyn Fn(&str) -> Option<String>) -> Result<Org, FileError> {
    let doc: Value = match format {
        Format::Yaml => {
            serde_norway::from_str(text).map_err(|e| FileError::new("(file)", format!("is not valid YAML: {e}")))?
        }
        Format::Toml => {
            toml::from_str(text).map_err(|e| FileError::new("(file)", format!("is not valid TOML: {e}")))?
        }
    };
    let doc = match doc {
        Value::Null => Value::Object(Map::new()), // an empty file
        d => d,
    };
    let doc = substitute(doc, "", env)?;
    let Value::Object(top) = doc else {
        return Err(FileError::new("(file)", format!("must be a table of {}", SECTIONS.join(", "))));
    };
    refuse_unknown(&top, &SECTIONS, "", "a file")?;
    let mut org = Org { alerting: top.get("alerting").map(alerting::expand).transpose()?, ..Org::default() };
    for kind in Kind::ALL {
        *org.of_mut(kind) = items(&top, kind)?;
    }
    check_references(&org)?;
    Ok(org)
}

/// The objects of one section, each checked and expanded; names unique.
fn items(top: &Map<String, Value>, kind: Kind) -> Result<Vec<Item>, FileError> {
    let section = kind.section();
    let list = match top.get(section) {
        None => return Ok(vec![]),
        Some(Value::Array(l)) => l,
        Some(_) => return Err(FileError::new(section, "must be a list")),
    };
    let mut out: Vec<Item> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let path = format!("{section}[{i}]");
        let Value::Object(fields) = v else { return Err(FileError::new(path, "must be a table")) };
        let mut fields = fields.clone();
        let key = kind.key();
        let Some(Value::String(name)) = fields.remove(key) else {
            return Err(FileError::new(
                format!("{path}.{key}"),
                format!("is required: a {} is known by its {key}", kind.noun()),
            ));
        };
        if let Some(j) = out.iter().position(|o| o.name == name) {
            let msg =
                format!("\"{name}\" is also {section}[{j}]'s {key}; each {} needs a {key} of its own", kind.noun());
            return Err(FileError::new(format!("{path}.{key}"), msg));
        }
        let fields = match kind {
            Kind::Channel => channels::expand(&fields, &path)?,
            Kind::Monitor => monitors::expand(&fields, &path)?,
            Kind::StatusPage => pages::expand(&fields, &path)?,
            Kind::Window => windows::expand(&fields, &path)?,
        };
        out.push(Item { name, fields, ids: vec![] });
    }
    Ok(out)
}

/// The names an object refers to, with their paths and kinds.
pub fn references(kind: Kind, item: &Item, path: &str) -> Vec<(String, Kind, Value)> {
    match kind {
        Kind::Channel => vec![],
        Kind::Monitor => monitors::references(&item.fields, path),
        Kind::StatusPage => pages::references(&item.fields, path),
        Kind::Window => windows::references(&item.fields, path),
    }
}

/// Every reference names an object of the file (of the right kind).
fn check_references(org: &Org) -> Result<(), FileError> {
    let mut refs = org.alerting.as_ref().map(alerting::references).unwrap_or_default();
    for kind in Kind::ALL {
        for (i, item) in org.of(kind).iter().enumerate() {
            refs.extend(references(kind, item, &format!("{}[{i}]", kind.section())));
        }
    }
    for (path, kind, name) in refs {
        let found = name.as_str().is_some_and(|n| org.find(kind, n).is_some());
        if !found {
            let msg = format!(
                "no {} named {name} in the file; declare it under `{}` or fix the name",
                kind.noun(),
                kind.section()
            );
            return Err(FileError::new(path, msg));
        }
    }
    Ok(())
}

/// Replace each `${VAR}` in the string values of `v` (at `path`) with the variable's value;
/// `$${` writes a literal `${`. A variable that is not set is an error naming it and the field.
fn substitute(v: Value, path: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, FileError> {
    let at = |k: &str| if path.is_empty() { k.to_owned() } else { format!("{path}.{k}") };
    Ok(match v {
        Value::String(s) => Value::String(expand_vars(&s, path, env)?),
        Value::Array(a) => {
            let out: Result<Vec<Value>, FileError> =
                a.into_iter().enumerate().map(|(i, x)| substitute(x, &format!("{path}[{i}]"), env)).collect();
            Value::Array(out?)
        }
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let x = substitute(x, &at(&k), env)?;
                out.insert(k, x);
            }
            Value::Object(out)
        }
        other => other,
    })
}

fn expand_vars(s: &str, path: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, FileError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(t) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = t;
        } else if let Some(t) = tail.strip_prefix("${") {
            let end = t.find('}').ok_or_else(|| {
                FileError::new(path, "has `${` without a closing `}`; write `$${` for a literal `${`")
            })?;
            let name = &t[..end];
            let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(FileError::new(path, format!("`${{{name}}}` is not a variable name (letters, digits, _)")));
            }
            let value = env(name).ok_or_else(|| {
                FileError::new(path, format!("environment variable {name} is not set; set it (secrets come from the environment, never the file)"))
            })?;
            out.push_str(&value);
            rest = &t[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The organisation as a file: compacted, sorted by name, with a heading that lists the
/// environment variables its placeholders need.
pub fn write(org: &Org, format: Format) -> Result<String, String> {
    write_listing(org, format).map(|(text, _)| text)
}

/// [`write`], and the environment variables the file's heading lists.
pub fn write_listing(org: &Org, format: Format) -> Result<(String, Vec<String>), String> {
    let mut top = Map::new();
    if let Some(a) = org.alerting.as_ref().and_then(alerting::compact) {
        top.insert("alerting".into(), Value::Object(a));
    }
    for kind in Kind::ALL {
        let mut list: Vec<&Item> = org.of(kind).iter().collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        let out: Vec<Value> = list.into_iter().map(|i| Value::Object(compact_item(kind, i))).collect();
        if !out.is_empty() {
            top.insert(kind.section().into(), Value::Array(out));
        }
    }
    let mut top = Value::Object(top);
    let mut vars = Vec::new();
    placeholders(&mut top, &mut vars);
    vars.sort();
    vars.dedup();
    let ordered = KeyFirst(&top);
    let body = match format {
        Format::Yaml => serde_norway::to_string(&ordered).map_err(|e| e.to_string())?,
        Format::Toml => toml::to_string(&ordered).map_err(|e| e.to_string())?,
    };
    let mut head = String::from("# NetPulse monitors as code: `netpulse plan -f FILE`, `netpulse apply -f FILE`.\n");
    if !vars.is_empty() {
        head.push_str("# Secrets are not in this file; set these environment variables before applying it:\n");
        for v in &vars {
            head.push_str(&format!("#   {v}\n"));
        }
    }
    Ok((head + &body, vars))
}

/// One object as a file writes it: its key first, then the fields that are not defaults.
fn compact_item(kind: Kind, item: &Item) -> Map<String, Value> {
    let fields = match kind {
        Kind::Channel => channels::compact(&item.fields),
        Kind::Monitor => {
            let mut m = monitors::compact(&item.fields);
            monitors::conceal(&item.name, &mut m);
            m
        }
        Kind::StatusPage => pages::compact(&item.fields),
        Kind::Window => windows::compact(&item.fields),
    };
    let mut out = Map::new();
    out.insert(kind.key().into(), Value::from(item.name.clone()));
    out.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
    out
}

/// Write the string values of `v` as a file holds them: a `${` of the organisation's own
/// is escaped as `$${`, a placeholder ([`super::model::placeholder`]) becomes `${VAR}`, and its
/// variable is added to `vars`.
fn placeholders(v: &mut Value, vars: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            let escaped = s.replace("${", "$${");
            let mut parts = escaped.split(PLACEHOLDER);
            let mut out = parts.next().unwrap_or_default().to_owned();
            while let (Some(var), Some(after)) = (parts.next(), parts.next()) {
                vars.push(var.to_owned());
                out.push_str(&format!("${{{var}}}{after}"));
            }
            *s = out;
        }
        Value::Array(a) => a.iter_mut().for_each(|x| placeholders(x, vars)),
        Value::Object(m) => m.values_mut().for_each(|x| placeholders(x, vars)),
        _ => {}
    }
}

/// A value written with `name` (or `slug`) and `kind` first in every table, then the other
/// keys in order: files read top-down by what each object is called and is.
struct KeyFirst<'a>(&'a Value);

impl serde::Serialize for KeyFirst<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                const FIRST: [&str; 3] = ["name", "slug", "kind"];
                let first = FIRST.iter().filter_map(|k| m.get_key_value(*k));
                for (k, v) in first.chain(m.iter().filter(|(k, _)| !FIRST.contains(&k.as_str()))) {
                    map.serialize_entry(k, &KeyFirst(v))?;
                }
                map.end()
            }
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&KeyFirst(v))?;
                }
                seq.end()
            }
            other => serde::Serialize::serialize(other, s),
        }
    }
}
