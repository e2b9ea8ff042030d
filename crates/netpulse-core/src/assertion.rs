//! Response assertions of an HTTP check: one condition per line, written the way a person
//! reads it — `$.status == "ok"`, `$.items.length > 0`, `header.content-type contains "json"`,
//! `body matches "^OK"`, `size < 65536`, `status == 204`.
//!
//! An [`Assertion`] is parsed once, when the monitor is saved (a bad one is refused naming
//! `assertions[i]`), and judged against each response through [`ResponseView`], so the
//! rules live here, pure, and the probe only supplies the response.
//!
//! Grammar: `SUBJECT OP VALUE`.
//! - SUBJECT: `$` followed by `.key`, `[index]` or `["any key"]` steps (a JSON path into the
//!   body; `.length` of an array or string is its length), `header.NAME`, `body`, `size` (bytes
//!   of the body read) or `status`.
//! - OP: `==`, `!=`, `<`, `<=`, `>`, `>=`, `contains`, `!contains`, `matches` (a regular
//!   expression; `body` and JSON strings and headers only).
//! - VALUE: a JSON literal — `"text"`, `12.5`, `true`, `false`, `null`; a quoted text that is
//!   not a valid JSON string (`"\d+ ms"`) is taken as written.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// At most this many assertions per monitor, each at most [`MAX_LEN`] characters.
pub const MAX_ASSERTIONS: usize = 20;
pub const MAX_LEN: usize = 512;

/// The parts of an HTTP response an assertion can look at.
pub trait ResponseView {
    fn status(&self) -> u16;
    /// The first value of the header `name` (matched case-insensitively), if present.
    fn header(&self, name: &str) -> Option<&str>;
    fn body(&self) -> &[u8];
}

/// One parsed condition. Equal when written the same.
#[derive(Clone, Debug)]
pub struct Assertion {
    text: String,
    subject: Subject,
    op: Op,
    expected: Value,
    regex: Option<regex::Regex>,
}

#[derive(Clone, Debug, PartialEq)]
enum Subject {
    Json(Vec<Step>),
    Header(String),
    Body,
    Size,
    Status,
}

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    NotContains,
    Matches,
}

const OPS: [(&str, Op); 9] = [
    ("==", Op::Eq),
    ("!=", Op::Ne),
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("<", Op::Lt),
    (">", Op::Gt),
    ("!contains", Op::NotContains),
    ("contains", Op::Contains),
    ("matches", Op::Matches),
];

impl PartialEq for Assertion {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for Assertion {}

impl fmt::Display for Assertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Assertion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Assertion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Assertion::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Assertion {
    /// Parse one condition; the error says what is wrong and how to write it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("is empty; write a condition such as `$.status == \"ok\"`".into());
        }
        if text.chars().count() > MAX_LEN {
            return Err(format!("is longer than {MAX_LEN} characters"));
        }
        let (subject, rest) = parse_subject(text)?;
        let (op, rest) = parse_op(rest.trim_start())?;
        let expected = parse_value(rest.trim())?;
        let regex = check_combination(&subject, op, &expected)?;
        Ok(Self { text: text.to_owned(), subject, op, expected, regex })
    }

    /// Judge a response; `json` is the body parsed once for every JSON-path assertion.
    fn judge(&self, response: &dyn ResponseView, json: &mut Option<Result<Value, String>>) -> Result<(), String> {
        let actual = match &self.subject {
            Subject::Status => Value::from(response.status()),
            Subject::Size => Value::from(response.body().len()),
            Subject::Body => Value::String(String::from_utf8_lossy(response.body()).into_owned()),
            Subject::Header(name) => match response.header(name) {
                Some(v) => Value::String(v.to_owned()),
                None => return Err(format!("`{self}` failed: the response has no `{name}` header")),
            },
            Subject::Json(steps) => {
                let body = json.get_or_insert_with(|| parse_body(response.body())).as_ref().map_err(Clone::clone)?;
                match walk(body, steps) {
                    Some(v) => v,
                    None => return Err(format!("`{self}` failed: the path is not in the response body")),
                }
            }
        };
        if self.holds(&actual) {
            Ok(())
        } else {
            Err(format!("`{self}` failed: got {}", shorten(&actual)))
        }
    }

    fn holds(&self, actual: &Value) -> bool {
        match self.op {
            Op::Eq => same(actual, &self.expected),
            Op::Ne => !same(actual, &self.expected),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => match (number(actual), self.expected.as_f64()) {
                (Some(a), Some(b)) => match self.op {
                    Op::Lt => a < b,
                    Op::Le => a <= b,
                    Op::Gt => a > b,
                    _ => a >= b,
                },
                _ => false,
            },
            Op::Contains => contains(actual, &self.expected),
            Op::NotContains => !contains(actual, &self.expected),
            Op::Matches => match (actual, &self.regex) {
                (Value::String(s), Some(re)) => re.is_match(s),
                _ => false,
            },
        }
    }
}

/// Judge every assertion; the first that fails gives the check's error text.
pub fn judge_all(assertions: &[Assertion], response: &dyn ResponseView) -> Result<(), String> {
    let mut json = None;
    assertions.iter().try_for_each(|a| a.judge(response, &mut json))
}

fn parse_subject(text: &str) -> Result<(Subject, &str), String> {
    if let Some(rest) = text.strip_prefix('$') {
        let (steps, rest) = parse_path(rest)?;
        return Ok((Subject::Json(steps), rest));
    }
    let end = text.find(|c: char| c.is_whitespace() || "=!<>".contains(c)).unwrap_or(text.len());
    let (word, rest) = text.split_at(end);
    let subject = match word {
        "body" => Subject::Body,
        "size" => Subject::Size,
        "status" => Subject::Status,
        _ => match word.strip_prefix("header.") {
            Some(name) if valid_header_name(name) => Subject::Header(name.to_ascii_lowercase()),
            Some(name) => return Err(format!("`{name}` is not a header name")),
            None => {
                return Err(format!(
                "starts with `{word}`; start with a JSON path (`$.field`), `header.NAME`, `body`, `size` or `status`"
            ))
            }
        },
    };
    Ok((subject, rest))
}

fn valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
}

fn parse_path(mut rest: &str) -> Result<(Vec<Step>, &str), String> {
    let mut steps = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')).unwrap_or(after.len());
            if end == 0 {
                return Err("has an empty key after `.` in the path; use `[\"key\"]` for unusual keys".into());
            }
            steps.push(Step::Key(after[..end].to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']').ok_or("has a `[` without `]` in the path")?;
            let inner = after[..close].trim();
            let step = match inner.parse::<usize>() {
                Ok(i) => Step::Index(i),
                Err(_) => match serde_json::from_str::<String>(inner) {
                    Ok(key) => Step::Key(key),
                    Err(_) => return Err(format!("has `[{inner}]` in the path; use a number or a \"quoted key\"")),
                },
            };
            steps.push(step);
            rest = &after[close + 1..];
        } else {
            return Ok((steps, rest));
        }
    }
}

fn parse_op(rest: &str) -> Result<(Op, &str), String> {
    for (word, op) in OPS {
        if let Some(after) = rest.strip_prefix(word) {
            let is_word = word.starts_with(|c: char| c.is_alphabetic() || c == '!') && word.len() > 2;
            if is_word && !after.starts_with(char::is_whitespace) {
                continue;
            }
            return Ok((op, after));
        }
    }
    Err("needs an operator after the subject: ==, !=, <, <=, >, >=, contains, !contains or matches".into())
}

fn parse_value(rest: &str) -> Result<Value, String> {
    if rest.is_empty() {
        return Err("needs a value after the operator, e.g. \"ok\", 200 or true".into());
    }
    if let Ok(value) = serde_json::from_str::<Value>(rest) {
        return Ok(value);
    }
    // A quoted text that is not a JSON string (a regular expression's `\s`, `\d`) is taken as
    // written, so patterns need no second layer of escaping.
    match rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => Ok(Value::String(inner.to_owned())),
        None => Err(format!(
            "has `{rest}` as its value; write text in double quotes (\"{rest}\"), or a number, true, false or null"
        )),
    }
}

fn check_combination(subject: &Subject, op: Op, expected: &Value) -> Result<Option<regex::Regex>, String> {
    let numeric_subject = matches!(subject, Subject::Size | Subject::Status);
    match op {
        Op::Lt | Op::Le | Op::Gt | Op::Ge if !expected.is_number() => {
            Err("compares with <, <=, > or >= but the value is not a number".into())
        }
        Op::Contains | Op::NotContains | Op::Matches if numeric_subject => {
            Err("uses a text operator on a number; use ==, !=, <, <=, > or >=".into())
        }
        Op::Eq | Op::Ne if numeric_subject && !expected.is_number() => {
            Err("compares a number with a value that is not a number".into())
        }
        Op::Matches => {
            let Value::String(pattern) = expected else {
                return Err("uses `matches` with a value that is not a \"quoted\" regular expression".into());
            };
            let re = regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("has an invalid regular expression: {}", last_line(&e.to_string())))?;
            Ok(Some(re))
        }
        _ => Ok(None),
    }
}

/// The regex crate's error ends with its one-line reason, after the pattern drawn with a caret.
fn last_line(text: &str) -> String {
    text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(text).trim().to_owned()
}

fn parse_body(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("the response body is not JSON ({e})"))
}

fn walk(root: &Value, steps: &[Step]) -> Option<Value> {
    let mut current = root;
    let mut owned;
    for (i, step) in steps.iter().enumerate() {
        match (step, current) {
            (Step::Key(k), Value::Object(map)) => current = map.get(k)?,
            (Step::Index(n), Value::Array(items)) => current = items.get(*n)?,
            (Step::Key(k), Value::Array(items)) if k == "length" && i + 1 == steps.len() => {
                owned = Value::from(items.len());
                current = &owned;
            }
            (Step::Key(k), Value::String(s)) if k == "length" && i + 1 == steps.len() => {
                owned = Value::from(s.chars().count());
                current = &owned;
            }
            _ => return None,
        }
    }
    Some(current.clone())
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// JSON equality, with numbers equal by value (`1 == 1.0`) and a header's text equal to the
/// number it spells.
fn same(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(_) | Value::String(_), Value::Number(b)) => number(actual) == b.as_f64(),
        _ => actual == expected,
    }
}

fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::String(s), Value::String(part)) => s.contains(part.as_str()),
        (Value::Array(items), _) => items.iter().any(|item| same(item, expected)),
        (Value::Object(map), Value::String(key)) => map.contains_key(key),
        _ => false,
    }
}

/// A value as shown in an error text: at most 80 characters.
fn shorten(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Reply {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: &'static str,
    }

    impl ResponseView for Reply {
        fn status(&self) -> u16 {
            self.status
        }
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
        }
        fn body(&self) -> &[u8] {
            self.body.as_bytes()
        }
    }

    fn reply(body: &'static str) -> Reply {
        Reply { status: 200, headers: vec![("Content-Type", "application/json"), ("X-Count", "12")], body }
    }

    const BODY: &str =
        r#"{"status":"ok","items":[1,2,3],"db":{"latency_ms":12.5,"name":"main"},"tags":["eu","prod"],"odd key":true}"#;

    fn judge(text: &str, r: &Reply) -> Result<(), String> {
        judge_all(&[Assertion::parse(text).unwrap()], r)
    }

    #[test]
    fn conditions_that_hold_pass_and_ones_that_do_not_say_what_was_found() {
        let r = reply(BODY);
        for ok in [
            r#"$.status == "ok""#,
            "$.items.length > 0",
            "$.items.length == 3",
            "$.items[1] == 2",
            "$.db.latency_ms < 100",
            "$.db.latency_ms >= 12.5",
            r#"$.db.name != "replica""#,
            r#"$.tags contains "prod""#,
            r#"$.tags !contains "staging""#,
            r#"$["odd key"] == true"#,
            r#"$.status matches "^o""#,
            r#"header.content-type contains "json""#,
            "header.x-count > 10",
            "header.X-Count == 12",
            r#"body contains "items""#,
            r#"body matches "\"status\":\s*\"ok\"""#,
            "size < 1000",
            "status == 200",
        ] {
            assert_eq!(judge(ok, &r), Ok(()), "{ok}");
        }
        for (bad, says) in [
            (r#"$.status == "down""#, r#"got "ok""#),
            ("$.items.length > 5", "got 3"),
            ("$.missing.deeper == 1", "the path is not in the response body"),
            (r#"header.x-missing == "a""#, "has no `x-missing` header"),
            ("size > 5000", "got"),
            ("status == 204", "got 200"),
            (r#"$.tags contains "staging""#, r#"got ["eu","prod"]"#),
        ] {
            let err = judge(bad, &r).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(err.starts_with(&format!("`{bad}` failed")), "{err}");
        }
    }

    #[test]
    fn a_body_that_is_not_json_fails_json_paths_with_a_reason_but_not_text_conditions() {
        let r = reply("<html>maintenance</html>");
        let err = judge(r#"$.status == "ok""#, &r).unwrap_err();
        assert!(err.contains("not JSON"), "{err}");
        assert_eq!(judge(r#"body !contains "error""#, &r), Ok(()));
    }

    #[test]
    fn the_first_failing_assertion_gives_the_error() {
        let list: Vec<Assertion> = ["status == 200", "$.items.length == 9", r#"$.status == "x""#]
            .iter()
            .map(|t| Assertion::parse(t).unwrap())
            .collect();
        let err = judge_all(&list, &reply(BODY)).unwrap_err();
        assert!(err.contains("$.items.length == 9"), "{err}");
    }

    #[test]
    fn bad_conditions_are_refused_with_how_to_fix_them() {
        for (text, says) in [
            ("", "is empty"),
            ("$.status == ok", "double quotes"),
            ("$.status", "needs an operator"),
            ("$.status ==", "needs a value"),
            ("$.n > \"5\"", "not a number"),
            ("status contains \"2\"", "text operator on a number"),
            ("size == \"big\"", "not a number"),
            ("response == 1", "start with a JSON path"),
            ("header.bad name == 1", "needs an operator"),
            ("$.a[x] == 1", "use a number or a \"quoted key\""),
            ("$. == 1", "empty key"),
            ("body matches \"(\"", "invalid regular expression"),
            ("body matches 5", "not a \"quoted\" regular expression"),
        ] {
            let err = Assertion::parse(text).unwrap_err();
            assert!(err.contains(says), "{text:?}: {err}");
        }
        assert!(Assertion::parse(&format!("body contains \"{}\"", "x".repeat(600))).is_err());
    }

    #[test]
    fn an_assertion_round_trips_as_its_text() {
        let a: Assertion = serde_json::from_str(r#""  $.items.length > 0 ""#).unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), r#""$.items.length > 0""#);
        let err = serde_json::from_str::<Assertion>(r#""$.x = 1""#).unwrap_err().to_string();
        assert!(err.contains("operator"), "{err}");
    }
}
