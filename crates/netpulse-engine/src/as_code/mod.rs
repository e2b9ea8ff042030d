//! Monitors as code: `netpulse plan -f FILE`, `netpulse apply -f FILE` and `netpulse
//! export`, clients of the public API (so they work against a remote engine, with `--url`
//! and `--token` or `NETPULSE_URL` / `NETPULSE_TOKEN`). A file (YAML or TOML, one schema)
//! declares channels, monitors, status pages, maintenance windows and the alerting
//! defaults, each object known by its name within its kind; see docs/monitors-as-code.md.
//!
//! The flow: the file is read and checked ([`file`]) into the expanded form of [`model`];
//! the organisation is read through the API ([`current`]) into the same form; [`plan`] is
//! their difference field by field; [`apply`] carries it out through the API. `netpulse
//! import` ([`import`]) writes such a file from another monitor's configuration.

mod alerting;
pub mod apply;
mod channels;
pub mod client;
pub mod current;
pub mod file;
pub mod import;
pub mod model;
mod monitors;
mod pages;
pub mod plan;
mod policy;
mod windows;

use client::ApiClient;
use file::Format;
use std::path::PathBuf;

/// The engine to talk to.
#[derive(clap::Args, Debug, Clone)]
pub struct Remote {
    /// The engine's address, e.g. https://netpulse.example.com.
    #[arg(long, env = "NETPULSE_URL")]
    pub url: String,
    /// An API token of the organisation (write access to apply; an admin's for channels and alerting defaults).
    #[arg(long, env = "NETPULSE_TOKEN", hide_env_values = true)]
    pub token: String,
}

#[derive(clap::Args, Debug, Clone)]
pub struct FileArgs {
    /// The file: .yaml, .yml or .toml.
    #[arg(long, short)]
    pub file: PathBuf,
    /// Also delete what the organisation has and the file does not.
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub remote: Remote,
}

/// The monitors-as-code commands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Show what `apply` would change (exit 0: nothing, 2: changes pending, 1: error).
    Plan(FileArgs),
    /// Make the organisation what the file declares, through the API, printing the plan.
    Apply(FileArgs),
    /// Write the organisation as a file to stdout (secrets as ${VAR} placeholders).
    Export {
        #[arg(long, value_enum, default_value = "yaml")]
        format: Format,
        #[command(flatten)]
        remote: Remote,
    },
    /// Convert another monitor's configuration into a NetPulse file (stdout or -o), with a
    /// report on stderr of what could not be mapped and why.
    Import {
        #[command(subcommand)]
        source: import::Source,
    },
}

/// What a command printed and its exit code.
#[derive(Debug, Default)]
pub struct Outcome {
    pub code: u8,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    fn failed(stderr: String) -> Self {
        Outcome { code: 1, stdout: String::new(), stderr: stderr + "\n" }
    }
}

/// Run `cmd`, reading `${VAR}`s from `env`.
pub async fn run(cmd: Command, env: &dyn Fn(&str) -> Option<String>) -> Outcome {
    match cmd {
        Command::Plan(a) => plan_or_apply(a, false, env).await,
        Command::Apply(a) => plan_or_apply(a, true, env).await,
        Command::Export { format, remote } => export(format, &remote).await,
        Command::Import { source } => import::run(source),
    }
}

async fn export(format: Format, remote: &Remote) -> Outcome {
    let api = match ApiClient::new(&remote.url, &remote.token) {
        Ok(a) => a,
        Err(e) => return Outcome::failed(e),
    };
    let written = match current::read(&api).await {
        Ok((org, _)) => file::write(&org, format),
        Err(e) => return Outcome::failed(format!("export: {e}")),
    };
    match written {
        Ok(text) => Outcome { code: 0, stdout: text, stderr: String::new() },
        Err(e) => Outcome::failed(format!("export: cannot write the file: {e}")),
    }
}

async fn plan_or_apply(a: FileArgs, apply: bool, env: &dyn Fn(&str) -> Option<String>) -> Outcome {
    let desired = match read_file(&a, env) {
        Ok(d) => d,
        Err(e) => return Outcome::failed(e),
    };
    let api = match ApiClient::new(&a.remote.url, &a.remote.token) {
        Ok(api) => api,
        Err(e) => return Outcome::failed(e),
    };
    let (current, mut refs) = match current::read(&api).await {
        Ok(c) => c,
        Err(e) => return Outcome::failed(e),
    };
    let plan = match plan::plan(&current, &desired, a.prune) {
        Ok(p) => p,
        Err(e) => return Outcome::failed(format!("{}: {e}", a.file.display())),
    };
    let mut stdout = plan.render();
    if !apply {
        return Outcome { code: if plan.changes() { 2 } else { 0 }, stdout, stderr: String::new() };
    }
    match apply::apply(&api, &plan, &current, &desired, &mut refs).await {
        Ok(0) => Outcome { code: 0, stdout, stderr: String::new() },
        Ok(n) => {
            stdout.push_str(&format!("Applied: {n} step(s).\n"));
            Outcome { code: 0, stdout, stderr: String::new() }
        }
        Err((n, e)) => {
            let stderr = format!("apply stopped after {n} step(s): {e}\n");
            Outcome { code: 1, stdout, stderr }
        }
    }
}

fn read_file(a: &FileArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<model::Org, String> {
    let format = Format::of(&a.file)?;
    let text = std::fs::read_to_string(&a.file).map_err(|e| format!("-f {}: cannot read it: {e}", a.file.display()))?;
    file::read(&text, format, env).map_err(|e| format!("{}: {e}", a.file.display()))
}
