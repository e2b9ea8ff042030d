//! The private certificate authority for regional workers (`netpulse ca …`).
//!
//! Lives in `<data_dir>/ca/`: `ca.key` (PKCS#8, mode 0600), `ca.pem`, and `issued.json`, the
//! registry of every certificate issued (serial, name, region, expiry, revoked flag). Keys are
//! ECDSA P-256 made by rcgen with ring. A worker certificate carries its identity as the
//! URI SAN `netpulse://region/<R>/worker/<N>` (CN = name, OU = region for humans); the gateway
//! trusts only that, and only for serials the registry knows and has not revoked.

use netpulse_core::wire::{valid_name, worker_uri};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Something the CA could not do, said so an operator can act.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("no CA in {0}; run `netpulse ca init` first")]
    Missing(PathBuf),
    #[error("a CA already exists in {0}; it was left untouched")]
    Exists(PathBuf),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("certificate error: {0}")]
    Cert(#[from] rcgen::Error),
}

/// One certificate the CA issued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// Lower-case hex of the certificate's serial number.
    pub serial: String,
    pub name: String,
    pub region: String,
    /// Unix seconds.
    pub not_after: i64,
    pub revoked: bool,
}

/// The CA directory.
pub struct Ca {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |source| CaError::Io { path: path.to_path_buf(), source }
}

/// The CA's own parameters; rebuilt identically to sign (same DN, key usages, key id).
fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "NetPulse");
    dn.push(DnType::CommonName, "NetPulse worker CA");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p
}

fn random_serial() -> Vec<u8> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("OS randomness");
    b[0] &= 0x7f; // positive
    b[0] |= 0x01; // no leading zero byte to strip: hex stays 32 digits
    b.to_vec()
}

/// Write `text` to `path`, readable by the owner only when `private`.
pub fn write_file(path: &Path, text: &str, private: bool) -> Result<(), CaError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(if private { 0o600 } else { 0o644 });
    let mut f = opts.open(path).map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))
}

impl Ca {
    pub fn at(data_dir: &Path) -> Self {
        Self { dir: data_dir.join("ca") }
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn exists(&self) -> bool {
        self.dir.join("ca.key").exists()
    }
    pub fn registry_path(&self) -> PathBuf {
        self.dir.join("issued.json")
    }
    pub fn cert_pem(&self) -> Result<String, CaError> {
        self.require()?;
        std::fs::read_to_string(self.dir.join("ca.pem")).map_err(io(&self.dir.join("ca.pem")))
    }

    fn require(&self) -> Result<(), CaError> {
        if self.exists() {
            Ok(())
        } else {
            Err(CaError::Missing(self.dir.clone()))
        }
    }

    /// Create the CA key and certificate (valid 10 years) and an empty registry.
    pub fn init(&self) -> Result<(), CaError> {
        if self.exists() {
            return Err(CaError::Exists(self.dir.clone()));
        }
        netpulse_store::create_private_dir(&self.dir).map_err(io(&self.dir))?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = ca_params();
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
        params.not_before = OffsetDateTime::now_utc() - time::Duration::hours(1);
        params.not_after = OffsetDateTime::now_utc() + time::Duration::days(3650);
        let cert = params.self_signed(&key)?;
        write_file(&self.dir.join("ca.key"), &key.serialize_pem(), true)?;
        write_file(&self.dir.join("ca.pem"), &cert.pem(), false)?;
        self.save(&[])
    }

    fn issuer(&self) -> Result<Issuer<'static, KeyPair>, CaError> {
        self.require()?;
        let path = self.dir.join("ca.key");
        let pem = std::fs::read_to_string(&path).map_err(io(&path))?;
        Ok(Issuer::new(ca_params(), KeyPair::from_pem(&pem)?))
    }

    /// Issue a worker certificate; returns (cert PEM, key PEM, registry entry).
    pub fn issue(&self, region: &str, name: &str, days: u32) -> Result<(String, String, Issued), CaError> {
        let mut one = self.issue_many(&[(region.to_owned(), name.to_owned())], days)?;
        Ok(one.remove(0))
    }

    /// Issue a certificate for each `(region, name)`, reading and writing the registry once
    /// (a fleet of thousands is issued in seconds); all or none: a name that already has a
    /// live certificate, or an invalid one, issues nothing.
    pub fn issue_many(
        &self,
        workers: &[(String, String)],
        days: u32,
    ) -> Result<Vec<(String, String, Issued)>, CaError> {
        for (region, name) in workers {
            for (what, v) in [("region", region), ("name", name)] {
                if !valid_name(v) {
                    return Err(CaError::Invalid(format!("--{what} `{v}`: use 1-63 of a-z, 0-9, - and _")));
                }
            }
        }
        let mut registry = self.list()?;
        let mut live: std::collections::HashSet<(String, String)> =
            registry.iter().filter(|e| !e.revoked).map(|e| (e.region.clone(), e.name.clone())).collect();
        for (region, name) in workers {
            if !live.insert((region.clone(), name.clone())) {
                return Err(CaError::Invalid(format!(
                    "worker `{name}` in `{region}` already has a live certificate; revoke it first (`netpulse ca revoke --name {name}`)"
                )));
            }
        }
        let issuer = self.issuer()?;
        let mut out = Vec::with_capacity(workers.len());
        for (region, name) in workers {
            let (cert, key, entry) = sign_worker(&issuer, region, name, days)?;
            registry.push(entry.clone());
            out.push((cert, key, entry));
        }
        self.save(&registry)?;
        Ok(out)
    }

    /// A server certificate for the gateway (kept in memory, made at every start).
    pub fn server_cert(&self, names: &[String]) -> Result<(String, String), CaError> {
        let issuer = self.issuer()?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut p = CertificateParams::new(names.to_vec())?;
        p.distinguished_name.push(DnType::CommonName, "NetPulse gateway");
        p.serial_number = Some(SerialNumber::from_slice(&random_serial()));
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::minutes(5);
        p.not_after = now + time::Duration::days(365);
        Ok((p.signed_by(&key, &issuer)?.pem(), key.serialize_pem()))
    }

    /// Revoke by serial or by worker name (every live certificate of that name).
    pub fn revoke(&self, serial: Option<&str>, name: Option<&str>) -> Result<Vec<Issued>, CaError> {
        let mut registry = self.list()?;
        let mut hit = Vec::new();
        for e in registry.iter_mut().filter(|e| !e.revoked) {
            if serial.is_some_and(|s| s.eq_ignore_ascii_case(&e.serial)) || name.is_some_and(|n| n == e.name) {
                e.revoked = true;
                hit.push(e.clone());
            }
        }
        if hit.is_empty() {
            return Err(CaError::Invalid("no live certificate matches; see `netpulse ca list`".into()));
        }
        self.save(&registry)?;
        Ok(hit)
    }

    /// Every certificate issued, oldest first.
    pub fn list(&self) -> Result<Vec<Issued>, CaError> {
        self.require()?;
        read_registry(&self.registry_path())
    }

    fn save(&self, registry: &[Issued]) -> Result<(), CaError> {
        let text = serde_json::to_string_pretty(registry).expect("registry serializes");
        let tmp = self.dir.join("issued.json.tmp");
        write_file(&tmp, &text, false)?;
        std::fs::rename(&tmp, self.registry_path()).map_err(io(&tmp))
    }
}

/// A worker certificate for `region`/`name` signed by `issuer`: (cert PEM, key PEM, entry).
fn sign_worker(
    issuer: &Issuer<'static, KeyPair>,
    region: &str,
    name: &str,
    days: u32,
) -> Result<(String, String, Issued), CaError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let serial = random_serial();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, name);
    p.distinguished_name.push(DnType::OrganizationalUnitName, region);
    p.subject_alt_names = vec![SanType::URI(worker_uri(region, name).try_into()?)];
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::minutes(5);
    p.not_after = now + time::Duration::days(i64::from(days.max(1)));
    let cert = p.signed_by(&key, issuer)?;
    let entry = Issued {
        serial: hex::encode(&serial),
        name: name.into(),
        region: region.into(),
        not_after: p.not_after.unix_timestamp(),
        revoked: false,
    };
    Ok((cert.pem(), key.serialize_pem(), entry))
}

/// Read a registry file (the gateway reloads it when it changes).
pub fn read_registry(path: &Path) -> Result<Vec<Issued>, CaError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| CaError::Invalid(format!("{}: {e}", path.display())))
}
