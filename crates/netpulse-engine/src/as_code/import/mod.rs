//! `netpulse import gatus FILE`, `netpulse import kuma FILE`: another uptime monitor's
//! configuration (Gatus's config.yaml, Uptime Kuma's JSON backup) as a NetPulse file (YAML,
//! to stdout or `-o FILE`) to review and `apply`, and a report on stderr of what was
//! skipped or approximated and why, naming each source object. A pure conversion: no engine,
//! no network. The importer builds objects in the file's own form ([`super::model`]), each is
//! checked as `plan` would check it ([`super::monitors::expand`], [`super::channels::expand`])
//! and the file is written by the writer `export` uses ([`super::file::write_listing`]).

mod gatus;
mod gatus_alerting;
mod gatus_conditions;
mod kuma;

use super::file::{self, Format};
use super::model::{FileError, Item, Org, PLACEHOLDER};
use super::{channels, monitors, Outcome};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What to import.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Source {
    /// Gatus's config.yaml: endpoints (conditions as assertions) and alerting providers (as channels).
    Gatus(ImportArgs),
    /// Uptime Kuma's JSON backup: monitors (by type) and notifications (as channels).
    Kuma(ImportArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// The file to import.
    pub file: PathBuf,
    /// Write the NetPulse file here (.yaml, .yml or .toml) instead of to stdout.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

/// What could not be carried over exactly, and the variables the file's `${VAR}`s need.
#[derive(Debug, Default)]
pub struct Report {
    skipped: Vec<String>,
    approximated: Vec<String>,
    /// Variable → where its value is found in the source.
    variables: BTreeMap<String, String>,
}

impl Report {
    /// `what` (`endpoint \`api\``) was left out, because `why`.
    pub fn skip(&mut self, what: impl std::fmt::Display, why: impl std::fmt::Display) {
        self.skipped.push(format!("{what}: {why}"));
    }

    /// `what` was carried over, but not exactly: `how`.
    pub fn approximate(&mut self, what: impl std::fmt::Display, how: impl std::fmt::Display) {
        self.approximated.push(format!("{what}: {how}"));
    }

    /// A secret of the source at `source` (`alerting.slack.webhook-url`) as field `field` of
    /// channel `channel`: the source's own `${VAR}` when it is one, else a placeholder
    /// `${CHANNEL_FIELD}` (the file never holds the secret).
    pub fn secret(&mut self, channel: &str, field: &str, source: &str, value: &str) -> Value {
        if let Some(var) = whole_env_ref(value) {
            self.variables.insert(var.to_owned(), format!("(the source's own variable for {source})"));
            return Value::from(value);
        }
        let mark = super::model::placeholder(channel, field);
        self.variables.insert(mark.trim_matches(PLACEHOLDER).to_owned(), format!("the value of {source}"));
        Value::from(mark)
    }

    fn render(&self, monitors: usize, channels: usize, vars: &[String]) -> String {
        let mut out = format!("imported {monitors} monitors, {channels} channels\n");
        let mut section = |title: &str, lines: &[String]| {
            if !lines.is_empty() {
                out.push_str(&format!("{title}:\n"));
                lines.iter().for_each(|l| out.push_str(&format!("  {l}\n")));
            }
        };
        section("skipped", &self.skipped);
        section("approximated", &self.approximated);
        let vars: Vec<String> = vars
            .iter()
            .map(|v| match self.variables.get(v) {
                Some(from) => format!("{v}: {from}"),
                None => format!("{v}: a credential of a monitor's header or URL in the source"),
            })
            .collect();
        section("set these environment variables before `netpulse apply`", &vars);
        out
    }
}

/// The objects an importer made, in the file's form (`name` apart), before they are checked.
#[derive(Debug, Default)]
pub struct Draft {
    /// (name, fields, what the source calls it)
    pub channels: Vec<(String, Map<String, Value>, String)>,
    pub monitors: Vec<(String, Map<String, Value>, String)>,
}

/// One source's reader: its file's text into a draft (an error only for a file that is not of that source).
type Importer = fn(&str, &mut Report) -> Result<Draft, FileError>;

/// Run an import.
pub fn run(source: Source) -> Outcome {
    let (args, import): (ImportArgs, Importer) = match source {
        Source::Gatus(a) => (a, gatus::import),
        Source::Kuma(a) => (a, kuma::import),
    };
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => return Outcome::failed(format!("{}: cannot read it: {e}", args.file.display())),
    };
    let format = match args.out.as_deref().map(Format::of).transpose() {
        Ok(f) => f.unwrap_or(Format::Yaml),
        Err(e) => return Outcome::failed(e.replacen("-f ", "-o ", 1)),
    };
    let mut report = Report::default();
    let draft = match import(&text, &mut report) {
        Ok(d) => d,
        Err(e) => return Outcome::failed(format!("{}: {e}", args.file.display())),
    };
    let (org, counts) = check(draft, &mut report);
    let (written, vars) = match file::write_listing(&org, format) {
        Ok(w) => w,
        Err(e) => return Outcome::failed(format!("import: cannot write the file: {e}")),
    };
    let stderr = report.render(counts.0, counts.1, &vars);
    match args.out {
        None => Outcome { code: 0, stdout: written, stderr },
        Some(out) => match std::fs::write(&out, written) {
            Ok(()) => Outcome { code: 0, stdout: String::new(), stderr },
            Err(e) => Outcome::failed(format!("-o {}: cannot write it: {e}", out.display())),
        },
    }
}

/// The draft's objects that `plan` would accept, as an organisation; the others reported.
/// `${VAR}`s of the source are kept as variables of the file. Returns (monitors, channels) kept.
fn check(draft: Draft, report: &mut Report) -> (Org, (usize, usize)) {
    let mut org = Org::default();
    for (name, fields, origin) in draft.channels {
        let fields = keep_env_refs(fields);
        match channels::expand(&sample(&fields), "") {
            Ok(_) => org.channels.push(Item { name, fields, ids: vec![] }),
            Err(e) => report.skip(origin, refusal(e)),
        }
    }
    for (name, mut fields, origin) in draft.monitors {
        if let Some(Value::Array(names)) = fields.get_mut("channels") {
            names.retain(|n| n.as_str().is_some_and(|n| org.channels.iter().any(|c| c.name == n)));
        }
        let fields = keep_env_refs(fields);
        for var in variables(&Value::Object(fields.clone())) {
            report.variables.entry(var).or_insert_with(|| format!("(the source's own variable, in {origin})"));
        }
        let unique_name = unique(&name, &org.monitors.iter().map(|m| m.name.as_str()).collect::<Vec<_>>());
        if unique_name != name {
            report.approximate(&origin, format!("named `{unique_name}`: another monitor has the same name"));
        }
        let name = unique_name;
        match monitors::expand(&sample(&fields), "") {
            Ok(_) => org.monitors.push(Item { name, fields, ids: vec![] }),
            Err(e) => report.skip(origin, refusal(e)),
        }
    }
    let counts = (org.monitors.len(), org.channels.len());
    (org, counts)
}

/// `name`, or `name 2`, `name 3`, … when `taken` has it (names are unique within a kind).
pub fn unique(name: &str, taken: &[&str]) -> String {
    let mut n = 1;
    let mut out = name.to_owned();
    while taken.contains(&out.as_str()) {
        n += 1;
        out = format!("{name} {n}");
    }
    out
}

/// A refusal of the checks, its path (relative to the object) and message.
fn refusal(e: FileError) -> String {
    match e.path.trim_start_matches('.') {
        "" => format!("NetPulse would refuse it: {}", e.message),
        p => format!("NetPulse would refuse its {p}: {}", e.message),
    }
}

/// `${VAR}` in the source's strings as a variable of the written file (the writer escapes
/// any other `${`).
fn keep_env_refs(fields: Map<String, Value>) -> Map<String, Value> {
    fn walk(v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(env_refs_marked(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(walk).collect()),
            Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, walk(v))).collect()),
            other => other,
        }
    }
    fields.into_iter().map(|(k, v)| (k, walk(v))).collect()
}

fn env_refs_marked(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        let tail = &rest[at + 2..];
        match tail.find('}').filter(|&end| is_var_name(&tail[..end])) {
            Some(end) => {
                out.push_str(&rest[..at]);
                out.push_str(&format!("{PLACEHOLDER}{}{PLACEHOLDER}", &tail[..end]));
                rest = &tail[end + 1..];
            }
            None => {
                out.push_str(&rest[..at + 2]);
                rest = tail;
            }
        }
    }
    out + rest
}

fn is_var_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The variable when `s` is exactly `${VAR}`.
fn whole_env_ref(s: &str) -> Option<&str> {
    s.strip_prefix("${").and_then(|r| r.strip_suffix('}')).filter(|v| is_var_name(v))
}

/// The variables (marked) in the strings of `v`.
fn variables(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s.split(PLACEHOLDER).skip(1).step_by(2).map(str::to_owned).collect(),
        Value::Array(a) => a.iter().flat_map(variables).collect(),
        Value::Object(m) => m.values().flat_map(variables).collect(),
        _ => vec![],
    }
}

/// `fields` with every variable replaced by a sample value, as `plan` would read them once set.
fn sample(fields: &Map<String, Value>) -> Map<String, Value> {
    fn walk(v: &Value) -> Value {
        match v {
            Value::String(s) => {
                let parts: Vec<&str> = s.split(PLACEHOLDER).collect();
                let text = parts.iter().enumerate().map(|(i, p)| if i % 2 == 1 { "sample" } else { p });
                Value::String(text.collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(walk).collect()),
            Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), walk(v))).collect()),
            other => other.clone(),
        }
    }
    fields.iter().map(|(k, v)| (k.clone(), walk(v))).collect()
}

/// How a field of the source's notification settings is carried over to a channel.
#[derive(Clone, Copy, PartialEq)]
pub enum Field {
    Plain,
    /// Written as a `${VAR}` placeholder.
    Secret,
}

/// A source field → the channel's field, and how it is carried over.
pub type FieldMap = (&'static str, &'static str, Field);

/// Fill `out` with a `kind` channel's fields from the source's settings `p` by `table`;
/// secrets as placeholders of channel `channel`, URLs and recipient lists as the engine writes
/// them. Returns the keys of `p` the table does not name (empty values left out).
pub fn channel_fields(
    kind: &str,
    table: &[FieldMap],
    p: &Map<String, Value>,
    channel: &str,
    what: &str,
    out: &mut Map<String, Value>,
    report: &mut Report,
) -> Vec<String> {
    out.insert("kind".into(), Value::from(kind));
    let mut rest = Vec::new();
    for (key, v) in p {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        let value = match table.iter().find(|(k, _, _)| k == key) {
            _ if text.is_empty() && !v.is_object() && !v.is_array() => continue,
            Some((_, field, Field::Secret)) => (*field, report.secret(channel, field, &format!("{what}.{key}"), &text)),
            Some((_, "url", Field::Plain)) if kind == "email" => {
                let to: Vec<&str> = text.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
                ("url", Value::from(to.join(", "))) // as the engine writes a list
            }
            Some((_, "url", Field::Plain)) => ("url", Value::from(normal_url(&text))),
            Some((_, field, Field::Plain)) => (*field, Value::from(text)),
            None => {
                rest.push(key.clone());
                continue;
            }
        };
        out.insert(value.0.into(), value.1);
    }
    rest
}

/// A `tls` monitor `NAME certificate` beside an `https://` monitor `name` (its `fields`), down
/// within `days` of its certificate's expiry: NetPulse's `http` check has no such threshold.
pub fn certificate_monitor(
    name: &str,
    url: &str,
    days: u64,
    fields: &Map<String, Value>,
    what: &str,
    draft: &mut Draft,
    report: &mut Report,
) {
    let Some(u) = url::Url::parse(url).ok().filter(|u| u.scheme() == "https") else { return };
    let cert = format!("{name} certificate");
    let host = u.host_str().unwrap_or_default();
    let mut tls =
        serde_json::json!({ "kind": "tls", "host": host, "port": u.port().unwrap_or(443), "warn_days": days });
    for k in ["interval_s", "tags", "channels", "policy", "verify_tls", "paused"] {
        if let Some(v) = fields.get(k) {
            tls[k] = v.clone();
        }
    }
    report.approximate(what, format!("a `tls` monitor `{cert}` (down within {days} days of expiry) beside it"));
    let tls = tls.as_object().cloned().unwrap_or_default();
    draft.monitors.push((cert.clone(), tls, format!("{what} (as `{cert}`)")));
}

/// A source's value as a JSON literal of an assertion: numbers and booleans as they are, anything else as text.
pub fn literal(v: &str) -> String {
    match v {
        "true" | "false" | "null" => v.to_owned(),
        _ if v.parse::<f64>().is_ok() => v.to_owned(),
        _ => Value::from(v.trim_matches('"')).to_string(),
    }
}

/// A URL as the engine writes it back (`https://host` → `https://host/`), so a second `plan`
/// finds nothing to change; one holding a `${VAR}` is left as written.
pub fn normal_url(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(u) if !s.contains("${") => u.to_string(),
        _ => s.to_owned(),
    }
}

/// A Go duration (`30s`, `5m`, `1h30m`, `500ms`) in seconds; `None` when it is not one.
pub fn go_duration_s(s: &str) -> Option<f64> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        let unit_end =
            rest[num_end..].find(|c: char| c.is_ascii_digit() || c == '.').map_or(rest.len(), |i| num_end + i);
        let scale = match &rest[num_end..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(total)
}
