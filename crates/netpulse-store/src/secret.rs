//! Values that must never print: [`Secret`] (tokens, passwords, channel keys) and
//! [`DatabaseUrl`] (its password), the one way a secret is written to a file, and the data
//! directory that holds them ([`create_private_dir`]).

use serde::Deserialize;
use std::fmt;
use std::path::Path;

/// A secret value: `Debug` prints `[redacted]`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A database URL; `Debug` hides its password (`postgres://user:***@host/db`).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The URL without its password (`postgres://user@host/db`), for printing a configuration
    /// one may save; `None` when it cannot be parsed (nothing of it is printed then).
    pub fn without_password(&self) -> Option<String> {
        if self.0.is_empty() {
            return Some(String::new());
        }
        let mut u = url::Url::parse(&self.0).ok()?;
        let _ = u.set_password(None);
        Some(u.into())
    }
}

/// Serialized without its password (see [`DatabaseUrl::without_password`]).
impl serde::Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.without_password().unwrap_or_default())
    }
}
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                write!(f, "{:?}", u.as_str())
            }
            Ok(_) => write!(f, "{:?}", self.0),
            Err(_) if self.0.is_empty() => f.write_str("\"\""),
            Err(_) => f.write_str("[unparsable URL, redacted]"),
        }
    }
}

/// Write `secret` and a newline to `path`, readable by its owner only (mode 0600 on Unix).
pub fn write_secret_file(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let cannot = |e: std::io::Error| std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()));
    let mut f = opts.open(path).map_err(cannot)?;
    writeln!(f, "{secret}").map_err(cannot)
}

/// Create `dir` and its missing parents readable by their owner only (mode 0700 on Unix): the
/// data directory holds the database (channel secrets, monitor credentials), the admin token,
/// the badge key and the worker CA. A directory that exists already is left as the operator
/// set it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| std::io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display())))
}
