//! TLS settings: a rustls `ServerConfig` from PEM files or a fresh self-signed certificate.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// Whether and how a server speaks TLS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Tls {
    /// Plain TCP: HTTP/1.1 and h2c.
    #[default]
    Off,
    /// A certificate chain and its private key, both PEM files. The key may be PKCS#8, PKCS#1
    /// (RSA) or SEC1 (EC).
    Files {
        /// The certificate chain, leaf first.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
    /// A certificate made up at start-up, valid for these names (DNS names or IP addresses,
    /// e.g. `["localhost", "127.0.0.1"]`). No client trusts it unless told to; it exists for
    /// local testing. An empty list means `localhost`, `127.0.0.1` and `::1`.
    SelfSigned {
        /// The names the certificate is valid for.
        names: Vec<String>,
    },
}

/// TLS could not be set up. Each reads as one line naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read TLS {what} {}: {}", path.display(), describe(source))]
    Read {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A file is not PEM, or a PEM section in it is damaged.
    #[error("{} is not valid PEM: {reason}", path.display())]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate file holds no certificate.
    #[error("no certificate found in {}", .0.display())]
    NoCertificate(PathBuf),
    /// The key file holds no private key.
    #[error("no private key found in {}", .0.display())]
    NoKey(PathBuf),
    /// The private key is not the certificate's.
    #[error("certificate and key do not match ({} and {})", cert.display(), key.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the certificate or key (an unsupported key type, say).
    #[error("unusable TLS certificate or key: {0}")]
    Rejected(rustls::Error),
    /// The self-signed certificate could not be made (a name that is not a valid DNS name).
    #[error("cannot create a self-signed certificate: {0}")]
    SelfSigned(String),
}

/// The ALPN protocols offered, in order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Loads or creates the TLS configuration: `None` for [`Tls::Off`]. The configuration uses the
/// ring provider, rustls' safe default protocol versions, and ALPN `h2`, `http/1.1`.
pub fn tls_config(tls: &Tls) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    Ok(tls_config_with_cert(tls)?.map(|(config, _)| config))
}

/// Like [`tls_config`], also returning the certificate chain served (leaf first), so that a
/// client in the same process (a test, `switchboard up`) can trust a self-signed certificate.
#[allow(clippy::type_complexity)]
pub fn tls_config_with_cert(
    tls: &Tls,
) -> Result<Option<(Arc<ServerConfig>, Vec<CertificateDer<'static>>)>, TlsError> {
    let (chain, key, paths) = match tls {
        Tls::Off => return Ok(None),
        Tls::Files { cert, key } => (
            load_certs(cert)?,
            load_key(key)?,
            Some((cert.as_path(), key.as_path())),
        ),
        Tls::SelfSigned { names } => {
            let (cert, key) = self_signed(names)?;
            (vec![cert], key, None)
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rejected)?
        .with_no_client_auth()
        .with_single_cert(chain.clone(), key)
        .map_err(|e| match (e, paths) {
            (rustls::Error::InconsistentKeys(_), Some((cert, key))) => TlsError::Mismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
            },
            (e, _) => TlsError::Rejected(e),
        })?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Some((Arc::new(config), chain)))
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read("certificate", path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read("private key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey(path.to_owned()),
        e => bad_pem(path, e),
    })
}

fn self_signed(
    names: &[String],
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), TlsError> {
    let names = if names.is_empty() {
        vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
    } else {
        names.to_vec()
    };
    if let Some(bad) = names
        .iter()
        .find(|name| ServerName::try_from(name.as_str()).is_err())
    {
        return Err(TlsError::SelfSigned(format!(
            "'{bad}' is not a DNS name or an IP address"
        )));
    }
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
    let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
    Ok((certified.cert.der().clone(), key.into()))
}

fn bad_pem(path: &Path, e: pem::Error) -> TlsError {
    let reason = match e {
        pem::Error::MissingSectionEnd { end_marker } => {
            let label = String::from_utf8_lossy(&end_marker);
            format!(
                "missing \"-----END {}-----\"",
                label.trim().trim_matches('-')
            )
        }
        pem::Error::IllegalSectionStart { .. } => "malformed BEGIN line".into(),
        pem::Error::Base64Decode(e) => format!("bad base64 ({e})"),
        e => e.to_string(),
    };
    TlsError::BadPem {
        path: path.to_owned(),
        reason,
    }
}

/// The operating system's message without its " (os error N)" tail.
fn describe(e: &io::Error) -> String {
    let mut text = e.to_string();
    if let Some(at) = text.find(" (os error ") {
        text.truncate(at);
    }
    text
}
