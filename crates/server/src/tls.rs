//! TLS for `privagg serve --tls-cert F --tls-key F`: a certificate chain and
//! a private key in PEM files, rustls with the ring provider (TLS 1.2 and
//! 1.3, rustls' safe defaults), ALPN `postgresql` as PostgreSQL 17 offers.

use std::path::Path;
use std::sync::Arc;

use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls::ServerConfig;
use pgwire::tokio::tokio_rustls::rustls::crypto::ring;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::serve::ServeError;

/// The acceptor for a certificate chain and its key.
///
/// # Errors
/// [`ServeError::Tls`] naming the file that cannot be read or used.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServeError> {
    let failed = |file: &Path, e: &dyn std::fmt::Display| {
        ServeError::Tls(format!("{}: {e}", file.display()))
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| failed(cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| failed(cert, &e))?;
    if chain.is_empty() {
        return Err(failed(cert, &"no certificate in the file"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| failed(key, &e))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| failed(key, &e))?;
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
