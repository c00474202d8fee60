//! The HTTP client every key fetch goes through (a repository, a JWKS document): redirects
//! never followed, connect and total timeouts, `https` only unless plain `http` to loopback is
//! allowed, and the trusted roots.

use std::time::Duration;

use crate::error::ConfigError;

/// How the client reaches the servers keys come from; checked and built once.
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    pub(crate) allow_insecure_loopback: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) roots_only: Option<String>,
    pub(crate) extra_roots: Vec<String>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            allow_insecure_loopback: false,
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            roots_only: None,
            extra_roots: Vec::new(),
        }
    }
}

impl ClientSettings {
    /// The client: no redirects (a redirect would hand the choice of key to whoever runs its
    /// target), no proxy from the environment (`HTTP_PROXY` would see, and could answer, a
    /// loopback `http` key request in clear), both timeouts, `https` only unless loopback
    /// `http` is allowed.
    pub(crate) fn build(&self) -> Result<reqwest::Client, ConfigError> {
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(ConfigError::Setting("timeouts must not be zero".to_owned()));
        }
        let certs = |pem: &str| {
            reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| ConfigError::Client(e.into()))
        };
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .https_only(!self.allow_insecure_loopback)
            .user_agent(concat!("asap-keys/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.roots_only {
            client = client.tls_certs_only(certs(pem)?);
        }
        for pem in &self.extra_roots {
            client = client.tls_certs_merge(certs(pem)?);
        }
        client.build().map_err(|e| ConfigError::Client(e.into()))
    }
}
