//! Analysts' SCRAM-SHA-256 verifiers, in a TOML file the data owner keeps
//! beside the catalog (`privagg passwd` writes it). A verifier is
//! PostgreSQL's `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
//! (RFC 5802, RFC 7677): the server checks a client's proof with it, and it
//! does not let anyone who reads the file log in (that needs the salted
//! password, which is not stored), nor recover the password short of
//! guessing it through 4,096 PBKDF2 iterations per guess.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pgwire::api::auth::sasl::scram::{ScramSecret, gen_salted_password};
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// PBKDF2 iterations of new verifiers (PostgreSQL's default).
pub const ITERATIONS: usize = 4096;

/// Why credentials could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file could not be read or written.
    #[error("credentials {path}: {detail}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        detail: String,
    },
    /// The file or a verifier in it does not parse.
    #[error("credentials {path}: {detail}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    /// Analyst name → verifier.
    #[serde(default)]
    analysts: BTreeMap<String, String>,
}

/// The verifiers of a credentials file.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    verifiers: BTreeMap<String, Verifier>,
}

/// One analyst's verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    iterations: usize,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(<redacted>)")
    }
}

impl Verifier {
    /// A new verifier for `password` with a fresh random salt (from the OS).
    ///
    /// # Errors
    /// The operating system's random source failed.
    pub fn new(password: &str) -> Result<Self, String> {
        let mut salt = vec![0u8; 16];
        rand::rngs::StdRng::try_from_os_rng()
            .map_err(|e| e.to_string())?
            .fill_bytes(&mut salt);
        let salted = gen_salted_password(password, &salt, ITERATIONS);
        match ScramSecret::verifier_from_salted_password(salt, salted, ITERATIONS) {
            ScramSecret::Verifier {
                salt,
                iterations,
                stored_key,
                server_key,
            } => Ok(Self {
                iterations,
                salt,
                stored_key,
                server_key,
            }),
            ScramSecret::SaltedPassword { .. } => Err("pgwire made no SCRAM verifier".into()),
        }
    }

    /// PostgreSQL's text form.
    pub fn to_text(&self) -> String {
        format!(
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(&self.stored_key),
            STANDARD.encode(&self.server_key)
        )
    }

    /// Parses PostgreSQL's text form.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let v = Self {
            iterations: iterations.parse().ok().filter(|i| *i >= 1)?,
            salt: STANDARD.decode(salt).ok()?,
            stored_key: STANDARD.decode(stored).ok()?,
            server_key: STANDARD.decode(server).ok()?,
        };
        (v.stored_key.len() == 32 && v.server_key.len() == 32 && !v.salt.is_empty()).then_some(v)
    }

    /// The secret pgwire's SCRAM exchange checks against.
    pub fn secret(&self) -> ScramSecret {
        ScramSecret::Verifier {
            salt: self.salt.clone(),
            iterations: self.iterations,
            stored_key: self.stored_key.clone(),
            server_key: self.server_key.clone(),
        }
    }
}

/// Where a catalog's credentials live by default: `privagg-credentials.toml`
/// beside it.
pub fn default_path(catalog: &Path) -> PathBuf {
    catalog
        .parent()
        .unwrap_or(Path::new("."))
        .join("privagg-credentials.toml")
}

impl Credentials {
    /// Reads a credentials file; a missing file has no analyst.
    ///
    /// # Errors
    /// [`CredentialsError`] for an unreadable file or a malformed verifier.
    pub fn load(path: &Path) -> Result<Self, CredentialsError> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(CredentialsError::Io {
                    path: shown,
                    detail: e.to_string(),
                });
            }
        };
        let file: File = toml::from_str(&text).map_err(|e| CredentialsError::Malformed {
            path: shown.clone(),
            detail: e.message().to_string(),
        })?;
        let mut verifiers = BTreeMap::new();
        for (name, text) in file.analysts {
            let v = Verifier::parse(&text).ok_or_else(|| CredentialsError::Malformed {
                path: shown.clone(),
                detail: format!(
                    "analysts.{name}: not a SCRAM-SHA-256 verifier (write it with `privagg passwd`)"
                ),
            })?;
            verifiers.insert(name, v);
        }
        Ok(Self { verifiers })
    }

    /// The verifier of an analyst.
    pub fn get(&self, analyst: &str) -> Option<&Verifier> {
        self.verifiers.get(analyst)
    }

    /// Sets (or replaces) an analyst's password and writes the file
    /// atomically, readable by its owner only.
    ///
    /// # Errors
    /// [`CredentialsError`] if the file cannot be read or written.
    pub fn set_password(
        path: &Path,
        analyst: &str,
        password: &str,
    ) -> Result<(), CredentialsError> {
        let mut creds = Self::load(path)?;
        let verifier = Verifier::new(password).map_err(|e| CredentialsError::Io {
            path: path.display().to_string(),
            detail: format!("no random salt: {e}"),
        })?;
        creds.verifiers.insert(analyst.to_string(), verifier);
        let file = File {
            analysts: creds
                .verifiers
                .iter()
                .map(|(k, v)| (k.clone(), v.to_text()))
                .collect(),
        };
        let io = |e: std::io::Error| CredentialsError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        let text = toml::to_string(&file).map_err(|e| CredentialsError::Malformed {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        let tmp = path.with_extension("toml.partial");
        std::fs::write(
            &tmp,
            format!("# privagg analysts' SCRAM-SHA-256 verifiers (privagg passwd)\n{text}"),
        )
        .map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_round_trip_and_never_hold_the_password() {
        let v = Verifier::new("correct horse").expect("salt");
        let text = v.to_text();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"), "{text}");
        assert!(!text.contains("correct horse"));
        assert_eq!(Verifier::parse(&text), Some(v.clone()));
        // A fresh salt every time: the same password gives another verifier.
        assert_ne!(Verifier::new("correct horse").expect("salt"), v);
        for bad in [
            "",
            "SCRAM-SHA-256$x:AA==$AA==:AA==",
            "MD5$abc",
            "SCRAM-SHA-256$4096:AA==",
        ] {
            assert_eq!(Verifier::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn set_password_writes_an_owner_only_file() {
        let dir = tempfile::tempdir().expect("ok");
        let path = dir.path().join("c.toml");
        Credentials::set_password(&path, "alice", "pw1").expect("ok");
        Credentials::set_password(&path, "bob", "pw2").expect("ok");
        let c = Credentials::load(&path).expect("ok");
        assert!(c.get("alice").is_some() && c.get("bob").is_some() && c.get("carol").is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600));
        }
        std::fs::write(&path, "[analysts]\nalice = \"plain\"\n").expect("ok");
        let err = Credentials::load(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("not a SCRAM-SHA-256 verifier"), "{err}");
    }
}
