//! `netpulse ca init | issue | revoke | list`: the command line around [`Ca`].
//! `issue` writes a bundle directory a worker points at and prints the command to start it.

use clap::Subcommand;
use netpulse_pipeline::ca::{write_file, Ca, CaError};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the CA (ECDSA P-256) in <data_dir>/ca/.
    Init,
    /// Issue a worker certificate for a region; writes <out>/{worker.pem,worker.key,ca.pem}.
    Issue {
        #[arg(long)]
        region: String,
        #[arg(long)]
        name: String,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Bundle directory (default: <data_dir>/ca/workers/<region>-<name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Engine gateway address the printed worker command uses.
        #[arg(long, default_value = "127.0.0.1:8443")]
        engine: String,
    },
    /// Revoke a certificate by serial or every live one of a worker name.
    Revoke {
        #[arg(long, required_unless_present = "name")]
        serial: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// List issued certificates.
    List,
}

/// Run a CA command; returns what to print.
pub fn run(data_dir: &Path, cmd: CaCommand) -> Result<String, CaError> {
    let ca = Ca::at(data_dir);
    match cmd {
        CaCommand::Init => {
            ca.init()?;
            Ok(format!(
                "CA created in {}\nnext: netpulse ca issue --region eu --name eu-1, and set gateway.enabled = true",
                ca.dir().display()
            ))
        }
        CaCommand::Issue { region, name, days, out, engine } => {
            let (cert, key, entry) = ca.issue(&region, &name, days)?;
            let out = out.unwrap_or_else(|| ca.dir().join("workers").join(format!("{region}-{name}")));
            netpulse_store::create_private_dir(&out).map_err(|source| CaError::Io { path: out.clone(), source })?;
            write_file(&out.join("worker.pem"), &cert, false)?;
            write_file(&out.join("worker.key"), &key, true)?;
            write_file(&out.join("ca.pem"), &ca.cert_pem()?, false)?;
            Ok(format!(
                "issued serial {} to worker `{name}` in region `{region}` (expires {})\nbundle: {}\n\
                 the engine must list the region: gateway.regions = [\"{region}\"] (NETPULSE_GATEWAY__REGIONS='[\"{region}\"]')\n\
                 copy the bundle to the worker machine, then run:\n\n    \
                 netpulse-worker --engine {engine} --bundle {}\n",
                entry.serial,
                fmt_unix(entry.not_after),
                out.display(),
                out.display()
            ))
        }
        CaCommand::Revoke { serial, name } => {
            let hit = ca.revoke(serial.as_deref(), name.as_deref())?;
            let lines: Vec<String> =
                hit.iter().map(|e| format!("revoked {} ({} in {})", e.serial, e.name, e.region)).collect();
            Ok(format!("{}\nthe gateway refuses it within seconds, also on live connections", lines.join("\n")))
        }
        CaCommand::List => {
            let mut out = format!("{:<34} {:<20} {:<12} {:<22} status\n", "serial", "name", "region", "not after");
            for e in ca.list()? {
                let status = if e.revoked { "revoked" } else { "valid" };
                out += &format!(
                    "{:<34} {:<20} {:<12} {:<22} {status}\n",
                    e.serial,
                    e.name,
                    e.region,
                    fmt_unix(e.not_after)
                );
            }
            Ok(out)
        }
    }
}

fn fmt_unix(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}
