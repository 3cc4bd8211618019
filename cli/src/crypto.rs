//! The process-wide TLS crypto provider: ring, and only ring.

/// Installs ring as rustls' default provider; later calls (and a provider already installed by
/// this process) are fine.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
